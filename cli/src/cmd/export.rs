//! `orc-log export`: the log as NDJSON, or its SQL tables as Parquet files.

use crate::cmd::Staged;
use crate::ctx::Io;
use anyhow::{Result, bail};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_projections::sql::{self, export::ExportRange};
use orc_log_schemas::to_json_line;
use std::io::Write;
use std::path::PathBuf;

/// Export the log for other tools.
///
/// `--format ndjson` writes NDJSON format v1 with `seq` (the format `ingest`
/// reads), to standard output or --output FILE. `--format parquet` writes one
/// Parquet file per SQL table (events.parquet, captures.parquet,
/// messages.parquet, schedules.parquet, crashes.parquet, markers.parquet,
/// lifecycle.parquet; zstd, with column statistics) into the new directory
/// --output DIR, which DuckDB, Spark, pandas/pyarrow and DataFusion Ballista
/// read as they are. `--partition-by day` writes Hive-style directories
/// instead: DIR/events/day=2026-11-20/....parquet. `--since`/`--until`
/// select the half-open time range [since, until). Every export is one
/// consistent snapshot of the log, and appears complete or not at all.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write: a file for ndjson [default: standard output], a new
    /// directory for parquet (required).
    #[arg(long, short = 'o', value_name = "PATH")]
    output: Option<PathBuf>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Parquet only: one Hive-style directory per UTC day of `ts`.
    #[arg(long, value_enum, value_name = "UNIT")]
    partition_by: Option<Partition>,
    /// Memory the export's operators may use, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    memory_limit_mib: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// NDJSON format v1 with `seq`, one event per line.
    Ndjson,
    /// One Apache Parquet file per SQL table.
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Partition {
    /// `day=YYYY-MM-DD` (UTC) directories.
    Day,
}

/// Runs `orc-log export`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && until <= since
    {
        bail!("--until must be after --since (the range is [since, until))");
    }
    match args.format {
        Format::Ndjson => {
            if args.partition_by.is_some() {
                bail!("--partition-by works with --format parquet only");
            }
            ndjson(db, &args, io)
        }
        Format::Parquet => parquet(db, &args, io),
    }
}

fn ndjson(db: &SharedLog, args: &Args, io: &mut Io) -> Result<u8> {
    let head = db.head().seq;
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(head),
        since_ns: args.since,
        until_ns: args.until.map(|u| u.saturating_sub(1)),
        ..Filter::default()
    };
    let dest = args.output.as_ref().map(|p| io.resolve(p));
    let mut staged = match &dest {
        Some(d) => {
            let (staged, file) = Staged::file(d)?;
            Some((staged, std::io::BufWriter::new(file)))
        }
        None => None,
    };
    let mut events = 0u64;
    db.snapshot().for_each_record(&filter, |r| {
        match &mut staged {
            Some((_, out)) => writeln!(out, "{}", to_json_line(&r))?,
            None => writeln!(io.out, "{}", to_json_line(&r))?,
        }
        events += 1;
        anyhow::Ok(true)
    })?;
    match (staged, &dest) {
        (Some((staged, out)), Some(dest)) => {
            out.into_inner().map_err(|e| e.into_error())?;
            staged.commit(dest)?;
            writeln!(io.err, "orc-log: exported {events} events to {}", dest.display())?;
        }
        _ => io.out.flush()?,
    }
    Ok(0)
}

fn parquet(db: &SharedLog, args: &Args, io: &mut Io) -> Result<u8> {
    let Some(output) = &args.output else {
        bail!("--format parquet needs --output DIR (a new directory, one .parquet file per table)");
    };
    let dest = io.resolve(output);
    if dest.exists() {
        let empty_dir = dest.is_dir() && std::fs::read_dir(&dest)?.next().is_none();
        if !empty_dir {
            bail!("{} already exists; give a new directory for the export", dest.display());
        }
        std::fs::remove_dir(&dest)?;
    }
    let staged = Staged::dir(&dest)?;
    let ctx = sql::context(&db.snapshot(), args.memory_limit_mib.saturating_mul(1 << 20))?;
    let range = ExportRange { since_ns: args.since, until_ns: args.until };
    let by_day = args.partition_by == Some(Partition::Day);
    let exported = super::query_runtime()?
        .block_on(sql::export::export_parquet(&ctx, &staged.path, range, by_day))
        .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
    staged.commit(&dest)?;
    for e in &exported {
        let file =
            if by_day { format!("{}/", e.table.name()) } else { format!("{}.parquet", e.table.name()) };
        writeln!(io.out, "{:>10} rows  {}", e.rows, dest.join(file).display())?;
    }
    Ok(0)
}
