//! `orc-log query`: read-only SQL over the log (DataFusion).

use crate::cmd::Staged;
use crate::ctx::Io;
use anyhow::{Result, bail};
use orc_log_engine::SharedLog;
use orc_log_projections::sql::{self, OutputFormat};
use std::path::PathBuf;
use std::time::Duration;

/// Run a read-only SQL query over the log.
///
/// Tables: events (seq, ts, kind, target, session, window, pane, stored_bytes,
/// raw_bytes), captures (seq, ts, target, session, window, pane, width, height,
/// content, lines), messages (seq, ts, sender, recipient, text, target, session,
/// window, pane), schedules (seq, ts, target, session, window, pane, note, due),
/// crashes (seq, ts, target, session, window, pane, reason, detector, excerpt),
/// markers (seq, ts, label, target, session, window, pane), lifecycle (seq, ts,
/// kind, target, session, window, pane, name, role). `ts` and `due` are
/// Timestamp(ns, UTC); `date_trunc`, `date_bin`, `now()` and intervals work as
/// DataFusion documents them. Only queries run: DDL, DML, COPY, SET and
/// multiple statements are refused. Every query sees the log as it was when
/// the query started.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL, e.g. "SELECT kind, count(*) FROM events GROUP BY kind".
    sql: String,
    /// Output format [default: table when standard output is a terminal
    /// and there is no --output FILE, csv otherwise; the same with or
    /// without `orc-log serve`].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the result to FILE instead of standard output (required for
    /// parquet); `-` is standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Stop after N rows [default for table: 1000, with a note when cut].
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,
    /// Stop a query that runs longer than this.
    #[arg(long, default_value = "60s", value_parser = super::parse_duration, value_name = "DUR")]
    timeout: Duration,
    /// Memory the query's operators may use, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    memory_limit_mib: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A text table.
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet (needs --output).
    Parquet,
}

/// Default row limit of `--format table`.
const TABLE_ROWS: u64 = 1000;

/// Runs `orc-log query`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let output = super::output_file(args.output.as_deref());
    let format = match args.format {
        Some(f) => f,
        None if io.terminal && output.is_none() => Format::Table,
        None => Format::Csv,
    };
    if format == Format::Parquet && output.is_none() {
        bail!("--format parquet needs --output FILE (a file, not standard output)");
    }
    let max_rows = args.max_rows.or((format == Format::Table).then_some(TABLE_ROWS));
    let service = sql::Query {
        timeout: args.timeout,
        memory_limit_bytes: args.memory_limit_mib.saturating_mul(1 << 20),
        max_rows,
    };
    let snapshot = db.snapshot();
    let target = output.map(|p| io.resolve(p));
    // Files are written under a temporary name and renamed when complete.
    let staged = match &target {
        Some(t) => Some(Staged::file(t)?),
        None => None,
    };
    let mut stdout = super::PipeWatch::new(&mut *io.out);
    let text_format = match format {
        Format::Table | Format::Parquet => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Ndjson => OutputFormat::Ndjson,
    };
    let result = match (&staged, format) {
        (Some((staged, _)), Format::Parquet) => service.run_to_parquet(&snapshot, &args.sql, &staged.path),
        (Some((_, file)), _) => {
            let mut out = std::io::BufWriter::new(file);
            service.run(&snapshot, &args.sql, text_format, &mut out).map(|a| a.written)
        }
        (None, _) => service.run(&snapshot, &args.sql, text_format, &mut stdout).map(|a| a.written),
    };
    let written = match result {
        Ok(w) => w,
        // `orc-log query ... | head -1`: the reader has what it wanted.
        Err(_) if stdout.closed() => return Err(super::closed_pipe()),
        Err(e) if e.is_timeout() => {
            bail!("query stopped after --timeout {}", humantime::format_duration(args.timeout))
        }
        Err(e @ sql::SqlError::ResourcesExhausted(_)) => {
            bail!("query failed: {e} (raise --memory-limit-mib, now {})", args.memory_limit_mib)
        }
        Err(e) => bail!("query failed: {e}"),
    };
    if let (Some((staged, _)), Some(target)) = (staged, &target) {
        staged.commit(target)?;
        writeln!(io.err, "orc-log: wrote {} rows to {}", written.rows, target.display())?;
    }
    if written.truncated {
        writeln!(
            io.err,
            "orc-log: showing the first {} rows; use --max-rows N or another --format for more",
            written.rows
        )?;
    }
    Ok(0)
}
