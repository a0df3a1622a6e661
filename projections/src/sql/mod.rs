//! SQL over the log with DataFusion. The only module that names `datafusion`.
//!
//! [`Query`] is the one query service every front end uses (`orc-log query`,
//! the web view's `/api/query`, the MCP `query` tool): a time limit, a
//! memory limit and a row limit, run on the one SQL runtime ([`runtime`]).
//! Under it, [`context`] builds a `SessionContext` where exactly orc-log's
//! tables are registered (`tables.rs`; README.md, "SQL"), and [`plan`] plans
//! one read-only statement: the statement is parsed first and anything but
//! a query is refused by its parsed type ([`SqlError::NotAQuery`]); the plan
//! is then checked again with DataFusion's `SQLOptions` (no DDL, DML or
//! statements). Errors are typed ([`SqlError`]) and carry their position in
//! the SQL.

mod error;
pub mod export;
mod provider;
mod service;
pub mod tables;

pub use datafusion::dataframe::DataFrame;
pub use error::{Position, SqlError};
pub use service::{Answer, Query, runtime};
pub use tables::Table;

use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use orc_log_engine::Snapshot;
use provider::LogTable;
use std::sync::Arc;

/// Runs `fut` on `rt` until it completes or `deadline` passes. Query
/// output is written between such calls, outside the runtime, so writers
/// that block (a server's client channel) may be used.
///
/// # Errors
/// [`SqlError::TimedOut`] when the deadline passes first.
pub fn run_until<F: std::future::Future>(
    rt: &tokio::runtime::Runtime,
    deadline: std::time::Instant,
    fut: F,
) -> Result<F::Output, SqlError> {
    rt.block_on(async move { tokio::time::timeout_at(deadline.into(), fut).await })
        .map_err(|_| SqlError::TimedOut)
}

/// A context with orc-log's tables over the events of `snapshot` (all
/// tables of every query see the same head, however many events are
/// appended meanwhile),
/// whose queries may use at most `memory_limit_bytes` of memory for their
/// operators (sorts, joins, aggregates spill or fail beyond it).
///
/// # Errors
/// [`SqlError`] if the runtime cannot be built.
pub fn context(snapshot: &Snapshot, memory_limit_bytes: usize) -> Result<SessionContext, SqlError> {
    let until_seq = snapshot.head().seq;
    let runtime = RuntimeEnvBuilder::new().with_memory_limit(memory_limit_bytes, 1.0).build_arc()?;
    let mut config = SessionConfig::new().with_target_partitions(2).with_information_schema(false);
    // Spans let DataFusion's diagnostics say where an unknown column is.
    config.options_mut().sql_parser.collect_spans = true;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    for table in Table::ALL {
        ctx.register_table(table.name(), Arc::new(LogTable::new(table, snapshot.clone(), until_seq)))?;
    }
    Ok(ctx)
}

/// Splits sqlparser's message into its text and the position it appends
/// (`" at Line: L, Column: C"`, the only form in which sqlparser's
/// `ParserError` carries a location).
fn split_location(message: &str) -> (String, Option<Position>) {
    let parsed = message.rsplit_once(" at Line: ").and_then(|(text, at)| {
        let (line, column) = at.split_once(", Column: ")?;
        let position = Position { line: line.trim().parse().ok()?, column: column.trim().parse().ok()? };
        Some((text.to_owned(), position))
    });
    match parsed {
        Some((text, position)) => (text, Some(position)),
        None => (message.to_owned(), None),
    }
}

/// The leading keywords of `statement` as SQL shows it (`DELETE`,
/// `CREATE TABLE`, `COPY`), for [`SqlError::NotAQuery`].
fn keywords(statement: &dyn std::fmt::Display) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() { "this statement".to_owned() } else { words.join(" ").to_uppercase() }
}

/// Whether a DataFusion statement only reads: a query (`SELECT`, `WITH`,
/// `VALUES`, set operations) or `EXPLAIN` of one. Everything else is named
/// for the error.
fn read_only(statement: &Statement) -> Result<(), SqlError> {
    match statement {
        Statement::Statement(s) => match &**s {
            ast::Statement::Query(_) => Ok(()),
            ast::Statement::Explain { statement, analyze: false, .. }
                if matches!(&**statement, ast::Statement::Query(_)) =>
            {
                Ok(())
            }
            other => Err(SqlError::NotAQuery { statement: keywords(other) }),
        },
        Statement::Explain(explain) if !explain.options.analyze => read_only(&explain.statement),
        other => Err(SqlError::NotAQuery { statement: keywords(other) }),
    }
}

/// Parses `sql` into exactly one read-only statement.
///
/// # Errors
/// [`SqlError::Syntax`] with the position where the tokenizer or parser
/// stopped (the end of the text when the statement is unfinished),
/// [`SqlError::MultipleStatements`], [`SqlError::NotAQuery`].
pub fn parse(sql: &str) -> Result<Statement, SqlError> {
    let tokens =
        Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location().map_err(|e| SqlError::Syntax {
            message: e.message.clone(),
            position: Some(Position { line: e.location.line, column: e.location.column }),
        })?;
    let mut parser = DFParserBuilder::new(tokens).build()?;
    let mut statements = match parser.parse_statements() {
        Ok(s) => s,
        Err(e) => {
            let (message, position) = match e.find_root() {
                datafusion::error::DataFusionError::SQL(p, _) => split_location(&p.to_string()),
                root => (root.to_string(), None),
            };
            // sqlparser gives no position at the end of the input: name it.
            let at_end = parser.parser.peek_token().token == Token::EOF;
            let position = position.or_else(|| at_end.then(|| Position::end_of(sql)));
            return Err(SqlError::Syntax { message, position });
        }
    };
    if statements.len() != 1 {
        return Err(SqlError::MultipleStatements { count: statements.len() });
    }
    let statement = statements.pop_front().ok_or(SqlError::MultipleStatements { count: 0 })?;
    read_only(&statement)?;
    Ok(statement)
}

/// Plans one read-only SQL statement ([`parse`]), checked once more by
/// DataFusion's `SQLOptions` (no DDL, DML or statements).
///
/// # Errors
/// The errors of [`parse`]; [`SqlError::Plan`] (with DataFusion's
/// diagnostic position) for an unknown table, column or function.
pub async fn plan(ctx: &SessionContext, sql: &str) -> Result<DataFrame, SqlError> {
    let statement = parse(sql)?;
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let state = ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    Ok(DataFrame::new(state, plan))
}

/// Output formats of [`write_results`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A text table (arrow's pretty printer).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// What [`write_results`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// Whether `max_rows` cut the result short (more rows existed).
    pub truncated: bool,
}

/// Runs `df` on `rt` and streams its rows to `out` in `format`, stopping
/// after `max_rows` rows when given. A result of 0 rows still has its
/// header (CSV's header line, the table's header row). Memory stays bounded by one batch for
/// every format but `Table` (which holds the rows it prints). `out` is
/// written outside the runtime, between batches.
///
/// # Errors
/// [`SqlError`] for query or output failures, [`SqlError::TimedOut`] when
/// `deadline` passes first.
pub fn write_results(
    rt: &tokio::runtime::Runtime,
    deadline: std::time::Instant,
    df: DataFrame,
    format: OutputFormat,
    max_rows: Option<u64>,
    out: &mut dyn std::io::Write,
) -> Result<Written, SqlError> {
    use futures::StreamExt;
    let mut stream = run_until(rt, deadline, df.execute_stream())??;
    let schema = stream.schema();
    let io = SqlError::from;
    let arrow = |e: arrow::error::ArrowError| SqlError::Output(e.to_string());
    let mut rows = 0u64;
    let mut truncated = false;
    let mut table: Vec<arrow::record_batch::RecordBatch> = Vec::new();
    // JSON: whether a row was written; CSV: whether the header was.
    let mut json_started = false;
    while let Some(batch) = run_until(rt, deadline, stream.next())? {
        let mut batch = batch?;
        if let Some(max) = max_rows {
            if rows >= max {
                truncated = true;
                break;
            }
            let room = (max - rows) as usize;
            if batch.num_rows() > room {
                batch = batch.slice(0, room);
                truncated = true;
            }
        }
        rows += batch.num_rows() as u64;
        match format {
            OutputFormat::Table => table.push(batch),
            OutputFormat::Csv => {
                // The header goes before the first batch only.
                let mut buf = Vec::new();
                arrow::csv::WriterBuilder::new()
                    .with_header(!json_started)
                    .build(&mut buf)
                    .write(&batch)
                    .map_err(arrow)?;
                json_started = true;
                out.write_all(&buf).map_err(io)?;
            }
            OutputFormat::Json | OutputFormat::Ndjson => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                    w.write(&batch).map_err(arrow)?;
                    w.finish().map_err(arrow)?;
                }
                if format == OutputFormat::Json {
                    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        out.write_all(if json_started { b",\n" } else { b"[\n" }).map_err(io)?;
                        out.write_all(line).map_err(io)?;
                        json_started = true;
                    }
                } else {
                    out.write_all(&buf).map_err(io)?;
                }
            }
        }
        if truncated {
            break;
        }
    }
    // No rows: an empty batch gives CSV its header line and the table its header.
    let empty = || arrow::record_batch::RecordBatch::new_empty(schema.clone());
    match format {
        OutputFormat::Csv if !json_started => {
            let mut buf = Vec::new();
            arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut buf)
                .write(&empty())
                .map_err(arrow)?;
            out.write_all(&buf).map_err(io)?;
        }
        OutputFormat::Table if table.is_empty() => table.push(empty()),
        _ => {}
    }
    match format {
        OutputFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(&table).map_err(arrow)?;
            writeln!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Json => out.write_all(if json_started { b"\n]\n" } else { b"[]\n" }).map_err(io)?,
        OutputFormat::Csv | OutputFormat::Ndjson => {}
    }
    out.flush().map_err(io)?;
    Ok(Written { rows, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_log_engine::{Config, Log};
    use orc_log_schemas::{Event, EventBody, parse_line};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn fixture() -> Vec<Event> {
        include_str!("../../../tests/fixtures/tmux-session-a.ndjson")
            .lines()
            .map(|l| parse_line(l, 0).unwrap())
            .collect()
    }

    struct Db {
        _dir: tempfile::TempDir,
        log: Log,
    }

    fn db() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), Config::default()).unwrap();
        log.append(&fixture()).unwrap();
        Db { _dir: dir, log }
    }

    /// Every row of `batches` as strings (arrow's display of each value).
    fn strings(batches: &[arrow::record_batch::RecordBatch]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                out.push(
                    b.columns()
                        .iter()
                        .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                        .collect(),
                );
            }
        }
        out
    }

    /// Every row of `sql` as strings (arrow's display of each value).
    fn rows(db: &Db, sql: &str) -> Result<Vec<Vec<String>>, SqlError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ctx = context(&db.log, 256 << 20)?;
            Ok(strings(&plan(&ctx, sql).await?.collect().await?))
        })
    }

    #[test]
    fn counts_by_kind_match_the_ndjson() {
        let db = db();
        let mut want: BTreeMap<String, usize> = BTreeMap::new();
        for e in fixture() {
            *want.entry(e.kind().as_str().to_owned()).or_default() += 1;
        }
        let got = rows(&db, "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind").unwrap();
        let got: BTreeMap<String, usize> =
            got.into_iter().map(|r| (r[0].clone(), r[1].parse().unwrap())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn captures_per_target_with_content_length() {
        let db = db();
        let mut want: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for e in fixture() {
            if let EventBody::Capture { target, content, .. } = &e.body {
                let w = want.entry(target.to_string()).or_default();
                w.0 += 1;
                w.1 += content.chars().count();
            }
        }
        let got = rows(
            &db,
            "SELECT target, count(*), sum(length(content)) FROM captures GROUP BY target ORDER BY target",
        )
        .unwrap();
        let got: BTreeMap<String, (usize, usize)> =
            got.into_iter().map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].parse().unwrap()))).collect();
        assert_eq!(got, want);
        // Header-only columns need no bodies and give the same counts.
        let n = rows(&db, "SELECT count(*) FROM captures WHERE target = 'proj:0.0'").unwrap();
        assert_eq!(n[0][0], want["proj:0.0"].0.to_string());
    }

    #[test]
    fn messages_crashes_like_and_seq_ranges() {
        let db = db();
        let ev = fixture();
        let mut want: BTreeMap<(String, String), usize> = BTreeMap::new();
        for e in &ev {
            if let EventBody::Message { from, to, .. } = &e.body {
                *want.entry((from.clone(), to.to_string())).or_default() += 1;
            }
        }
        let got =
            rows(&db, "SELECT sender, recipient, count(*) FROM messages GROUP BY sender, recipient").unwrap();
        let got: BTreeMap<(String, String), usize> =
            got.into_iter().map(|r| ((r[0].clone(), r[1].clone()), r[2].parse().unwrap())).collect();
        assert_eq!(got, want);
        let crashes = rows(&db, "SELECT seq, target, reason, detector FROM crashes ORDER BY seq").unwrap();
        assert_eq!(crashes.len(), 1);
        assert_eq!(crashes[0][1], "proj:1.0");
        let like = rows(&db, "SELECT count(*) FROM captures WHERE content LIKE '%Traceback%'").unwrap();
        let want_like = ev
            .iter()
            .filter(
                |e| matches!(&e.body, EventBody::Capture { content, .. } if content.contains("Traceback")),
            )
            .count();
        assert_eq!(like[0][0], want_like.to_string());
        let range = rows(&db, "SELECT min(seq), max(seq), count(*) FROM events WHERE seq >= 10 AND seq < 20")
            .unwrap();
        assert_eq!(range[0], ["10", "19", "10"]);
        let one = rows(&db, "SELECT kind FROM events WHERE seq = 1").unwrap();
        assert_eq!(one, [["session_opened"]]);
    }

    #[test]
    fn date_bin_buckets_match() {
        let db = db();
        let mut want: BTreeMap<i64, usize> = BTreeMap::new();
        for e in fixture() {
            *want.entry(e.ts_ns.div_euclid(10_000_000_000)).or_default() += 1;
        }
        let got = rows(
            &db,
            "SELECT date_bin(INTERVAL '10 seconds', ts, TIMESTAMP '1970-01-01T00:00:00Z') AS b, count(*) FROM events GROUP BY b ORDER BY b",
        )
        .unwrap();
        assert_eq!(got.len(), want.len());
        let counts: Vec<usize> = got.iter().map(|r| r[1].parse().unwrap()).collect();
        assert_eq!(counts, want.values().copied().collect::<Vec<_>>());
        let since =
            rows(&db, "SELECT count(*) FROM events WHERE ts >= TIMESTAMP '2026-11-20T23:04:30Z'").unwrap();
        let t = orc_log_schemas::parse_rfc3339("2026-11-20T23:04:30Z").unwrap();
        assert_eq!(since[0][0], fixture().iter().filter(|e| e.ts_ns >= t).count().to_string());
    }

    #[test]
    fn anything_but_a_query_is_refused_by_its_type_and_writes_nothing() {
        let db = db();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.csv");
        let f = file.display();
        for (sql, statement) in [
            ("CREATE TABLE t AS SELECT * FROM events".to_owned(), "CREATE TABLE T"),
            ("DROP TABLE events".to_owned(), "DROP TABLE EVENTS"),
            ("DELETE FROM events".to_owned(), "DELETE FROM EVENTS"),
            ("INSERT INTO events VALUES (1)".to_owned(), "INSERT INTO EVENTS"),
            (format!("COPY (SELECT * FROM events) TO '{f}'"), "COPY"),
            (format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{f}'"), "CREATE EXTERNAL TABLE"),
            ("SET datafusion.execution.batch_size = 1".to_owned(), "SET"),
            ("EXPLAIN ANALYZE SELECT 1".to_owned(), "EXPLAIN ANALYZE SELECT"),
        ] {
            match rows(&db, &sql) {
                Err(SqlError::NotAQuery { statement: got }) => {
                    assert!(got.starts_with(statement), "{sql}: {got}")
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
        assert!(matches!(rows(&db, "SELECT 1; SELECT 2"), Err(SqlError::MultipleStatements { count: 2 })));
        assert!(matches!(rows(&db, "  ;  "), Err(SqlError::MultipleStatements { count: 0 })));
        // A file path is not a table (no URL tables are registered).
        assert!(matches!(rows(&db, &format!("SELECT * FROM '{f}'")), Err(SqlError::Plan { .. })));
        assert!(!file.exists(), "no file appears");
        // Queries, and EXPLAIN of them, run.
        assert_eq!(rows(&db, "WITH t AS (SELECT 1 AS x) SELECT x FROM t").unwrap(), [["1"]]);
        assert!(!rows(&db, "EXPLAIN SELECT count(*) FROM events").unwrap().is_empty());
    }

    #[test]
    fn mistakes_carry_their_position_in_the_sql() {
        let db = db();
        let at = |line, column| Some(Position { line, column });
        let err = rows(&db, "SELEC kind FROM events").unwrap_err();
        assert!(matches!(err, SqlError::Syntax { .. }), "{err:?}");
        assert_eq!(err.position(), at(1, 1), "{err}");
        assert!(err.to_string().contains("SELEC"), "{err}");
        // Unfinished: the end of the text, on its last line.
        let err = rows(&db, "SELECT kind\nFROM").unwrap_err();
        assert_eq!(err.position(), at(2, 5), "{err}");
        // An unterminated string: the tokenizer's position.
        let err = rows(&db, "SELECT 'abc").unwrap_err();
        assert!(matches!(err, SqlError::Syntax { position: Some(_), .. }), "{err:?}");
        // An unknown column: DataFusion's diagnostic span.
        let err = rows(&db, "SELECT kind,\n  nope FROM events").unwrap_err();
        assert!(matches!(err, SqlError::Plan { .. }), "{err:?}");
        assert_eq!(err.position(), at(2, 3), "{err}");
        assert!(err.is_user_error());
        assert!(!SqlError::TimedOut.is_user_error() && SqlError::TimedOut.is_timeout());
    }

    #[test]
    fn the_query_service_limits_rows_time_and_memory() {
        let db = db();
        let snap: &Snapshot = &db.log;
        let mut out = Vec::new();
        let q = Query { max_rows: Some(3), ..Query::default() };
        let answer =
            q.run(snap, "SELECT seq, kind FROM events ORDER BY seq", OutputFormat::Ndjson, &mut out).unwrap();
        assert_eq!(answer.columns, ["seq", "kind"]);
        assert_eq!(answer.written, Written { rows: 3, truncated: true });
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
        // Columns are known without rows.
        let mut out = Vec::new();
        let answer = Query::default()
            .run(snap, "SELECT seq AS s FROM events WHERE false", OutputFormat::Json, &mut out)
            .unwrap();
        assert_eq!((answer.columns, answer.written.rows), (vec!["s".to_owned()], 0));
        assert_eq!(out, b"[]\n");
        // A cross join of tens of millions of rows against a millisecond.
        let q = Query { timeout: Duration::from_millis(1), ..Query::default() };
        let sql = "SELECT count(*) FROM events a, events b, events c";
        let err = q.run(snap, sql, OutputFormat::Csv, &mut Vec::new()).unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        // Too little memory for a sort of every capture.
        let q = Query { memory_limit_bytes: 1024, ..Query::default() };
        let err = q
            .run(snap, "SELECT content FROM captures ORDER BY content", OutputFormat::Csv, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, SqlError::ResourcesExhausted(_)), "{err:?}");
        // One runtime for every query.
        assert!(std::ptr::eq(runtime().unwrap(), runtime().unwrap()));
    }

    /// Rows of `sql` over a context where each table is read from the Parquet
    /// export in `dir` (partitioned by day or not).
    fn parquet_rows(dir: &std::path::Path, partitioned: bool, sql: &str) -> Vec<Vec<String>> {
        use datafusion::prelude::ParquetReadOptions;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            for table in Table::ALL {
                if partitioned {
                    let path = dir.join(table.name());
                    // A table with no rows has no day directories to read.
                    if std::fs::read_dir(&path).unwrap().next().is_none() {
                        continue;
                    }
                    let options = ParquetReadOptions::default()
                        .table_partition_cols(vec![("day".to_owned(), arrow::datatypes::DataType::Utf8)]);
                    ctx.register_parquet(table.name(), path.to_str().unwrap(), options).await.unwrap();
                } else {
                    let path = dir.join(format!("{}.parquet", table.name()));
                    assert!(path.is_file(), "{} exists", path.display());
                    ctx.register_parquet(table.name(), path.to_str().unwrap(), ParquetReadOptions::default())
                        .await
                        .unwrap();
                }
            }
            strings(&ctx.sql(sql).await.unwrap().collect().await.unwrap())
        })
    }

    fn export_to(db: &Db, dir: &std::path::Path, range: export::ExportRange, partitioned: bool) -> Vec<u64> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ctx = context(&db.log, 256 << 20).unwrap();
            let done = export::export_parquet(&ctx, dir, range, partitioned).await.unwrap();
            done.iter().map(|e| e.rows).collect()
        })
    }

    #[test]
    fn the_parquet_export_reads_back_with_the_same_answers() {
        let db = db();
        let ev = fixture();
        for partitioned in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let rows_written = export_to(&db, dir.path(), export::ExportRange::default(), partitioned);
            assert_eq!(rows_written[0], ev.len() as u64, "events rows");
            let markers = rows_written[Table::ALL.iter().position(|t| *t == Table::Markers).unwrap()];
            assert_eq!(markers, 1);
            let mut want: BTreeMap<String, usize> = BTreeMap::new();
            for e in &ev {
                *want.entry(e.kind().as_str().to_owned()).or_default() += 1;
            }
            let got =
                parquet_rows(dir.path(), partitioned, "SELECT kind, count(*) FROM events GROUP BY kind");
            let got: BTreeMap<String, usize> =
                got.into_iter().map(|r| (r[0].clone(), r[1].parse().unwrap())).collect();
            assert_eq!(got, want, "partitioned: {partitioned}");
            let mut queries = vec![
                "SELECT target, count(*), sum(length(content)) FROM captures GROUP BY target ORDER BY target",
                "SELECT sender, recipient, text, seq FROM messages ORDER BY seq",
                "SELECT seq, ts, target, reason, detector, excerpt FROM crashes ORDER BY seq",
                "SELECT seq, ts, target, note, due FROM schedules ORDER BY seq",
                "SELECT seq, ts, kind, target, session, window, pane, name, role FROM lifecycle ORDER BY seq",
                "SELECT date_bin(INTERVAL '10 seconds', ts) AS b, count(*) FROM events GROUP BY b ORDER BY b",
            ];
            queries.extend(README_QUERIES.iter().filter(|q| !q.contains("now()")));
            for sql in queries {
                assert_eq!(parquet_rows(dir.path(), partitioned, sql), rows(&db, sql).unwrap(), "{sql}");
            }
            if partitioned {
                assert!(dir.path().join("events/day=2026-11-20").is_dir());
            }
        }
    }

    #[test]
    fn the_export_keeps_the_half_open_time_range() {
        let db = db();
        let ev = fixture();
        let since = orc_log_schemas::parse_rfc3339("2026-11-20T23:04:00Z").unwrap();
        let until = orc_log_schemas::parse_rfc3339("2026-11-20T23:04:30Z").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let range =
            export::ExportRange { since_ns: Some(since), until_ns: Some(until), ..Default::default() };
        let written = export_to(&db, dir.path(), range, false);
        let want = ev.iter().filter(|e| e.ts_ns >= since && e.ts_ns < until).count();
        assert!(want > 0 && want < ev.len());
        assert_eq!(written[0], want as u64);
        let got = parquet_rows(dir.path(), false, "SELECT count(*), min(seq) > 1 FROM events");
        assert_eq!(got, [[want.to_string(), "true".to_owned()]]);
        // A table with no rows in the range still gets a (empty) file.
        let crashes = parquet_rows(dir.path(), false, "SELECT count(*) FROM crashes");
        assert_eq!(crashes.len(), 1);
    }

    #[test]
    fn the_export_has_microsecond_timestamps_signed_integers_and_exact_ts_ns() {
        use arrow::datatypes::{DataType, TimeUnit};
        use datafusion::prelude::ParquetReadOptions;
        let db = db();
        let dir = tempfile::tempdir().unwrap();
        export_to(&db, dir.path(), export::ExportRange::default(), false);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (schema, rows) = rt.block_on(async {
            let ctx = SessionContext::new();
            let path = dir.path().join("schedules.parquet");
            ctx.register_parquet("s", path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
            let df = ctx.sql("SELECT * FROM s").await.unwrap();
            let schema = df.schema().as_arrow().clone();
            let check = "SELECT count(*) FROM s WHERE ts_ns <> arrow_cast(ts, 'Int64') * 1000";
            (schema, strings(&ctx.sql(check).await.unwrap().collect().await.unwrap()))
        });
        let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(schema.field_with_name("ts").unwrap().data_type(), &micros);
        assert_eq!(schema.field_with_name("due").unwrap().data_type(), &micros);
        assert_eq!(schema.field_with_name("seq").unwrap().data_type(), &DataType::Int64);
        assert_eq!(schema.field_with_name("window").unwrap().data_type(), &DataType::Int32);
        let last = schema.fields().last().unwrap();
        assert_eq!((last.name().as_str(), last.data_type()), (export::TS_NS_COLUMN, &DataType::Int64));
        assert_eq!(rows, [["0"]], "ts_ns is ts in nanoseconds (the fixture's times are whole microseconds)");
    }

    /// The five queries README.md shows.
    pub(crate) const README_QUERIES: [&str; 5] = [
        "SELECT date_trunc('hour', c.ts) AS hour, coalesce(l.name, c.target) AS agent, count(*) AS crashes \
         FROM crashes c LEFT JOIN (SELECT target, name FROM lifecycle WHERE kind = 'agent_registered') l \
         ON c.target = l.target GROUP BY 1, 2 ORDER BY 1, 3 DESC",
        "SELECT target, count(*) AS captures, sum(length(content)) AS chars FROM captures \
         GROUP BY target ORDER BY captures DESC, target LIMIT 10",
        "SELECT m.seq, m.recipient, m.text, min(c.ts) - m.ts AS response FROM messages m \
         JOIN captures c ON c.target = m.recipient AND c.ts > m.ts GROUP BY m.seq, m.recipient, m.text, m.ts ORDER BY m.seq",
        "SELECT s.seq, s.target, s.note, s.due FROM schedules s WHERE s.due < now() AND NOT EXISTS \
         (SELECT 1 FROM events e WHERE e.kind = 'schedule_fired' AND e.target = s.target AND e.ts >= s.ts)",
        "SELECT seq, ts, target FROM captures WHERE content LIKE '%Traceback%' ORDER BY seq",
    ];

    /// `agent_usage` rows: every column, and a row recorded before its
    /// session's pane was known takes the pane of the session's start.
    #[test]
    fn agent_usage_rows_join_their_session_pane() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), Config::default()).unwrap();
        let lines = [
            r#"{"kind":"agent_usage","agent":"claude_code","agent_session_id":"s1","source":"otel","event":"claude_code.api_request","model":"opus","input_tokens":3,"output_tokens":4,"cost_usd":0.5,"duration_ns":7}"#,
            r#"{"kind":"agent_session","target":"w:1.2","agent_session_id":"s1","phase":"start"}"#,
            r#"{"kind":"agent_usage","target":"w:0.0","agent":"codex","source":"transcript","event":"message","cache_read_tokens":9}"#,
        ];
        let events: Vec<Event> = lines.iter().map(|l| parse_line(l, 1).unwrap()).collect();
        log.append(&events).unwrap();
        let db = Db { _dir: dir, log };
        let got = rows(
            &db,
            "SELECT target, window, pane, agent, agent_session_id, source, model, input_tokens, output_tokens, \
             cache_read_tokens, cost_usd, duration_ns FROM agent_usage ORDER BY seq",
        )
        .unwrap();
        assert_eq!(
            got[0],
            ["w:1.2", "1", "2", "claude_code", "s1", "otel", "opus", "3", "4", "0", "0.5", "7"]
        );
        assert_eq!(got[1], ["w:0.0", "0", "0", "codex", "", "transcript", "", "0", "0", "9", "", ""]);
        let by_target = rows(&db, "SELECT count(*) FROM agent_usage WHERE target = 'w:1.2'").unwrap();
        assert_eq!(by_target, [["1"]], "a joined row is found by its joined target");
    }

    #[test]
    fn the_readme_queries_run_and_answer() {
        let db = db();
        let crashes = rows(&db, README_QUERIES[0]).unwrap();
        assert_eq!(crashes.len(), 1);
        assert_eq!(crashes[0][1], "proj-eng");
        assert_eq!(crashes[0][2], "1");
        let busiest = rows(&db, README_QUERIES[1]).unwrap();
        assert_eq!(busiest[0][0], "proj:0.0");
        assert_eq!(busiest[0][1], "117");
        let latency = rows(&db, README_QUERIES[2]).unwrap();
        assert!(!latency.is_empty());
        let unfired = rows(&db, README_QUERIES[3]).unwrap();
        assert_eq!(unfired.len(), 1, "the fixture's schedule never fired");
        let tracebacks = rows(&db, README_QUERIES[4]).unwrap();
        assert!(!tracebacks.is_empty());
    }
}
