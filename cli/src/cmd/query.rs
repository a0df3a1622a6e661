//! `orc-log query`: read-only SQL over the log (DataFusion).

use crate::ctx::{Db, Io};
use anyhow::{Context, Result, bail};
use orc_log_projections::sql::{self, OutputFormat};
use std::io::IsTerminal;
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
    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the result to FILE instead of standard output (required for parquet).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Stop after N rows [default for table: 1000, with a note when cut].
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,
    /// Stop a query that runs longer than this.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DUR")]
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
pub fn run(db: &Db, args: Args, io: &mut Io) -> Result<u8> {
    let terminal = !io.served && std::io::stdout().is_terminal();
    let format = match args.format {
        Some(f) => f,
        None if terminal && args.output.is_none() => Format::Table,
        None => Format::Csv,
    };
    if format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    let max_rows = args.max_rows.or((format == Format::Table).then_some(TABLE_ROWS));
    let out_format = match format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Ndjson => OutputFormat::Ndjson,
        Format::Parquet => OutputFormat::Parquet,
    };
    let until = db.read(|log| log.head().seq);
    let ctx = sql::context(db.shared_log(), until, args.memory_limit_mib.saturating_mul(1 << 20))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the query runtime")?;
    let target = args.output.as_ref().map(|p| io.resolve(p));
    let tmp = target.as_ref().map(|t| t.with_extension("orc-log-tmp"));
    let mut file_out: Option<std::io::BufWriter<std::fs::File>> = match &tmp {
        Some(t) => Some(std::io::BufWriter::new(
            std::fs::File::create(t).with_context(|| format!("cannot create {}", t.display()))?,
        )),
        None => None,
    };
    let result = rt.block_on(async {
        let run = async {
            let df = sql::plan(&ctx, &args.sql).await?;
            match file_out.as_mut() {
                Some(f) => sql::write_results(df, out_format, max_rows, f).await,
                None => sql::write_results(df, out_format, max_rows, &mut *io.out).await,
            }
        };
        tokio::time::timeout(args.timeout, run).await
    });
    let written = match result {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            if let Some(t) = &tmp {
                let _ = std::fs::remove_file(t);
            }
            bail!("query failed: {e}")
        }
        Err(_) => {
            if let Some(t) = &tmp {
                let _ = std::fs::remove_file(t);
            }
            bail!("query stopped after --timeout {}", humantime::format_duration(args.timeout))
        }
    };
    if let (Some(f), Some(tmp), Some(target)) = (file_out, &tmp, &target) {
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all().with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(tmp, target).with_context(|| format!("cannot write {}", target.display()))?;
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
