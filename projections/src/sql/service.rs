//! The one query service: `orc-log query`, `/api/query` and the MCP `query`
//! tool all run SQL through [`Query`] on the one runtime of [`runtime`].

use super::{OutputFormat, SqlError, Written, context, plan, run_until, write_results};
use orc_log_engine::Snapshot;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The tokio runtime all SQL work runs on, built once per process: two
/// workers (the machine's cores are shared with the writer), named
/// `orc-log-sql`.
///
/// # Errors
/// [`SqlError::Execution`] when the runtime cannot be started (no threads).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, SqlError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orc-log-sql")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| SqlError::Execution(format!("cannot start the query runtime: {e}")))
}

/// The limits of one query; [`Query::run`] runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Longest the query may run, planning and output included.
    pub timeout: Duration,
    /// Memory its operators may use (sorts, joins and aggregates fail
    /// beyond it), in bytes.
    pub memory_limit_bytes: usize,
    /// Rows written at most; more rows are cut with
    /// [`Written::truncated`] set. `None`: every row.
    pub max_rows: Option<u64>,
}

impl Default for Query {
    /// 60 s, 1 GiB, every row: `orc-log query`'s defaults.
    fn default() -> Self {
        Query { timeout: Duration::from_secs(60), memory_limit_bytes: 1 << 30, max_rows: None }
    }
}

/// What [`Query::run`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The result's column names, in order (also when no row was written).
    pub columns: Vec<String>,
    /// Rows written and whether the row limit cut them.
    pub written: Written,
}

impl Query {
    /// When work started now must stop; a timeout too long to add (such as
    /// `Duration::MAX`) means about a century.
    fn deadline(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(self.timeout).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
    }

    /// `sql` planned over `snapshot` within this query's limits, with the
    /// runtime to run it on and the deadline its output must meet.
    fn planned(
        &self,
        snapshot: &Snapshot,
        sql: &str,
    ) -> Result<(&'static tokio::runtime::Runtime, Instant, super::DataFrame), SqlError> {
        let rt = runtime()?;
        let deadline = self.deadline();
        let ctx = context(snapshot, self.memory_limit_bytes)?;
        let df = run_until(rt, deadline, plan(&ctx, sql))??;
        Ok((rt, deadline, df))
    }

    /// Runs one read-only statement over `snapshot` (every table sees its
    /// head) and streams the rows to `out` in `format` (see
    /// [`write_results`]).
    ///
    /// # Errors
    /// Every [`SqlError`]: the user's mistakes (with their position),
    /// [`SqlError::TimedOut`], [`SqlError::ResourcesExhausted`], and
    /// [`SqlError::Output`] when `out` fails.
    pub fn run(
        &self,
        snapshot: &Snapshot,
        sql: &str,
        format: OutputFormat,
        out: &mut dyn std::io::Write,
    ) -> Result<Answer, SqlError> {
        let (rt, deadline, df) = self.planned(snapshot, sql)?;
        let columns = df.schema().fields().iter().map(|f| f.name().clone()).collect();
        let written = write_results(rt, deadline, df, format, self.max_rows, out)?;
        Ok(Answer { columns, written })
    }

    /// Runs one read-only statement over `snapshot` and writes its rows
    /// (at most `max_rows`) to one zstd Parquet file at `path`. The file
    /// may be left half-written on failure: give a temporary name and
    /// rename it.
    ///
    /// # Errors
    /// As [`Query::run`].
    pub fn run_to_parquet(&self, snapshot: &Snapshot, sql: &str, path: &Path) -> Result<Written, SqlError> {
        let (rt, deadline, df) = self.planned(snapshot, sql)?;
        let df = match self.max_rows {
            Some(n) => df.limit(0, Some(usize::try_from(n).unwrap_or(usize::MAX)))?,
            None => df,
        };
        let rows = run_until(rt, deadline, super::export::write_parquet_file(df, path))??;
        Ok(Written { rows, truncated: false })
    }

    /// Exports every table of `snapshot` as Parquet into `dir` (see
    /// [`super::export::export_parquet`]), within this query's memory and
    /// time limits.
    ///
    /// # Errors
    /// As [`super::export::export_parquet`]; [`SqlError::TimedOut`].
    pub fn export(
        &self,
        snapshot: &Snapshot,
        dir: &Path,
        range: super::export::ExportRange,
        partition_by_day: bool,
    ) -> Result<Vec<super::export::Exported>, SqlError> {
        let rt = runtime()?;
        let deadline = self.deadline();
        let ctx = context(snapshot, self.memory_limit_bytes)?;
        run_until(rt, deadline, super::export::export_parquet(&ctx, dir, range, partition_by_day))?
    }
}
