//! DataFusion `TableProvider`s over the log: projection, filters (seq and
//! time ranges, kind, target) and limit are pushed into the scan, batches
//! are streamed a page at a time (the log's lock is released between pages),
//! and capture bodies are decompressed only when a body column is selected.

use super::tables::{Rows, Table};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use orc_log_engine::{Filter, Snapshot};
use orc_log_schemas::Kind;
use std::sync::Arc;

/// Rows per batch (and per hold of the log's lock).
const BATCH_ROWS: usize = 8192;

/// A scan over at least this many seqs is read as two partitions.
const SPLIT_MIN_EVENTS: u64 = 200_000;

/// One table of the log for DataFusion.
#[derive(Debug)]
pub struct LogTable {
    table: Table,
    log: Snapshot,
    /// The head when the query started: every scan of this query stops
    /// there, so all tables see the same log prefix.
    until_seq: u64,
}

impl LogTable {
    /// A provider for `table`, reading events `1..=until_seq`.
    pub fn new(table: Table, log: Snapshot, until_seq: u64) -> Self {
        Self { table, log, until_seq }
    }
}

/// What a filter says about the scan, if anything usable.
fn column_literal(e: &Expr) -> Option<(&str, Operator, &ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else { return None };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => Some((c.name.as_str(), *op, v)),
        (Expr::Literal(v, _), Expr::Column(c)) => Some((c.name.as_str(), op.swap()?, v)),
        _ => None,
    }
}

fn as_ns(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampMicrosecond(Some(x), _) => x.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000_000),
        _ => None,
    }
}

fn as_u64(v: &ScalarValue) -> Option<u64> {
    match v {
        ScalarValue::UInt64(Some(x)) => Some(*x),
        ScalarValue::Int64(Some(x)) => u64::try_from(*x).ok(),
        ScalarValue::UInt32(Some(x)) => Some(u64::from(*x)),
        ScalarValue::Int32(Some(x)) => u64::try_from(*x).ok(),
        _ => None,
    }
}

fn as_str(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s)
        }
        _ => None,
    }
}

/// Narrows `filter` with one pushed-down expression; true when it was used.
fn narrow(table: Table, filter: &mut Filter, e: &Expr) -> bool {
    let Some((col, op, v)) = column_literal(e) else { return false };
    match (col, op) {
        ("seq", _) => {
            let Some(n) = as_u64(v) else { return false };
            match op {
                Operator::Eq => {
                    filter.from_seq = filter.from_seq.max(n);
                    filter.until_seq = Some(filter.until_seq.map_or(n, |u| u.min(n)));
                }
                Operator::Gt => filter.from_seq = filter.from_seq.max(n.saturating_add(1)),
                Operator::GtEq => filter.from_seq = filter.from_seq.max(n),
                Operator::Lt => {
                    let m = n.saturating_sub(1);
                    filter.until_seq = Some(filter.until_seq.map_or(m, |u| u.min(m)));
                }
                Operator::LtEq => filter.until_seq = Some(filter.until_seq.map_or(n, |u| u.min(n))),
                _ => return false,
            }
            true
        }
        ("ts", _) => {
            let Some(t) = as_ns(v) else { return false };
            match op {
                Operator::Gt | Operator::GtEq => {
                    filter.since_ns = Some(filter.since_ns.map_or(t, |s| s.max(t)));
                }
                Operator::Lt | Operator::LtEq => {
                    filter.until_ns = Some(filter.until_ns.map_or(t, |s| s.min(t)));
                }
                Operator::Eq => {
                    filter.since_ns = Some(filter.since_ns.map_or(t, |s| s.max(t)));
                    filter.until_ns = Some(filter.until_ns.map_or(t, |s| s.min(t)));
                }
                _ => return false,
            }
            true
        }
        ("kind", Operator::Eq) if table == Table::Events || table == Table::Lifecycle => {
            let Some(kind) = as_str(v).and_then(Kind::from_name) else { return false };
            // Keep only the asked kind (an impossible one makes the scan empty).
            let allowed = table.kinds();
            filter.kinds = if allowed.is_empty() || allowed.contains(&kind) { vec![kind] } else { vec![] };
            if filter.kinds.is_empty() {
                filter.until_seq = Some(0);
            }
            true
        }
        // agent_usage rows may take their target from their session's
        // start (not the event's scope): never narrowed by target.
        ("target", Operator::Eq) if table != Table::AgentUsage => {
            let Some(t) = as_str(v) else { return false };
            filter.scope = Some(t.to_owned());
            true
        }
        _ => false,
    }
}

#[async_trait]
impl TableProvider for LogTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: DataFusion still applies every filter, the scan only
        // skips what cannot match.
        Ok(filters
            .iter()
            .map(|e| {
                let mut probe = Filter::default();
                if narrow(self.table, &mut probe, e) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let mut filter =
            Filter { kinds: self.table.kinds(), until_seq: Some(self.until_seq), ..Filter::default() };
        for e in filters {
            narrow(self.table, &mut filter, e);
        }
        let needs_body = self.table.needs_body(projection.map(Vec::as_slice));
        // Two seq ranges read on two threads when the scan is large and rows
        // stand alone (tool_calls pairs each end with its start: one pass).
        let from = filter.from_seq.max(1);
        let until = filter.until_seq.unwrap_or(self.until_seq);
        let ranges = if self.table != Table::ToolCalls && until > from && until - from >= SPLIT_MIN_EVENTS {
            let mid = from + (until - from) / 2;
            vec![(from, mid), (mid + 1, until)]
        } else {
            vec![(filter.from_seq, until)]
        };
        let partitions: Vec<Arc<dyn PartitionStream>> = ranges
            .into_iter()
            .map(|(a, b)| {
                Arc::new(LogPartition {
                    table: self.table,
                    schema: self.table.schema(),
                    log: self.log.clone(),
                    filter: Filter { from_seq: a, until_seq: Some(b), ..filter.clone() },
                    needs_body,
                    join_until: self.until_seq,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec =
            StreamingTableExec::try_new(self.table.schema(), partitions, projection, [], false, limit)?;
        Ok(Arc::new(exec))
    }
}

/// The single partition of a table scan.
#[derive(Debug)]
struct LogPartition {
    table: Table,
    schema: SchemaRef,
    log: Snapshot,
    filter: Filter,
    needs_body: bool,
    /// `agent_usage`: agent sessions are joined from the log up to this seq.
    join_until: u64,
}

impl PartitionStream for LogPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let join = (self.table == Table::AgentUsage).then_some(self.join_until);
        let pages =
            Pages::start(Rows::new(self.table), self.log.clone(), self.filter.clone(), self.needs_body, join);
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), futures::stream::iter(pages)))
    }
}

/// The batches of one table scan, built on a thread of their own: the log
/// is read, decompressed and decoded there, a couple of batches ahead of the
/// query, in one pass (one set of builders for the whole scan, so that rows
/// can pair with earlier rows: a tool call's end with its start). Dropping
/// the stream (a LIMIT reached) stops the thread at its next batch.
struct Pages {
    rx: std::sync::mpsc::Receiver<Result<RecordBatch, DataFusionError>>,
}

fn df(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

impl Pages {
    /// `join`: for `agent_usage`, the seq up to which agent sessions'
    /// panes are read first (see [`Rows::join_sessions`]).
    fn start(mut rows: Rows, log: Snapshot, filter: Filter, needs_body: bool, join: Option<u64>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        if filter.until_seq == Some(0) {
            return Self { rx };
        }
        std::thread::spawn(move || {
            let mut n = 0usize;
            let send = |rows: &mut Rows| tx.send(rows.finish().map_err(df)).is_ok();
            let scanned = (|| -> Result<bool, DataFusionError> {
                if let Some(until) = join {
                    rows.join_sessions(session_panes(&log, until)?);
                }
                if needs_body {
                    for item in log.scan_with_meta(filter).map_err(df)? {
                        let (meta, record) = item.map_err(df)?;
                        rows.push(&meta, Some(&record.event));
                        n += 1;
                        if n.is_multiple_of(BATCH_ROWS) && !send(&mut rows) {
                            return Ok(false);
                        }
                    }
                } else {
                    for item in log.scan_meta(filter).map_err(df)? {
                        rows.push(&item.map_err(df)?, None);
                        n += 1;
                        if n.is_multiple_of(BATCH_ROWS) && !send(&mut rows) {
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
            })();
            match scanned {
                Ok(true) if !n.is_multiple_of(BATCH_ROWS) => {
                    send(&mut rows);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        Self { rx }
    }
}

/// Agent session id -> the pane of its latest `agent_session` start with a
/// target, over seqs `1..=until`.
fn session_panes(
    log: &Snapshot,
    until: u64,
) -> Result<std::collections::HashMap<String, orc_log_schemas::Target>, DataFusionError> {
    let filter = Filter { kinds: vec![Kind::AgentSession], until_seq: Some(until), ..Filter::default() };
    let mut panes = std::collections::HashMap::new();
    for item in log.scan(filter).map_err(df)? {
        if let orc_log_schemas::EventBody::AgentSession { target: Some(t), agent_session_id, .. } =
            item.map_err(df)?.event.body
        {
            panes.insert(agent_session_id, t);
        }
    }
    Ok(panes)
}

impl Iterator for Pages {
    type Item = Result<RecordBatch, DataFusionError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}
