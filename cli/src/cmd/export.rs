//! `orc-log export`: the log as NDJSON, or its SQL tables as Parquet files.

use crate::cmd::Staged;
use crate::ctx::Io;
use anyhow::{Context, Result, bail};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_projections::sql::{self, Table, export::ExportRange};
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
///
/// In Parquet, `ts` and `due` are TIMESTAMP(MICROS, UTC), which every engine
/// reads (Spark refuses nanoseconds), and each table has an extra `ts_ns`
/// column (BIGINT): `ts` exact, in nanoseconds since the Unix epoch.
///
/// `--append` (with `--partition-by day`) makes exports incremental: each
/// run adds the events after the last run's end (by seq) to DIR, which may
/// exist, as DIR/<table>/[host=NAME/]day=D/part-<first seq>-<n>.parquet, and
/// then records the new end in DIR/_orc_log_export/. A run with nothing new
/// writes nothing; a run interrupted before it records its end is redone in
/// full by the next, whose files replace it (same names), so no event is
/// exported twice. `--host NAME` keeps each database's files and end apart,
/// so several hosts can append into one shared directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write: a file for ndjson (`-` or none: standard output), a
    /// new directory for parquet (required).
    #[arg(long, short = 'o', value_name = "PATH")]
    output: Option<PathBuf>,
    /// Only events at or after this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only events before this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Parquet only: one Hive-style directory per UTC day of `ts`.
    #[arg(long, value_enum, value_name = "UNIT")]
    partition_by: Option<Partition>,
    /// Parquet with --partition-by day: add the events after the last
    /// --append run to DIR (created when missing).
    #[arg(long, conflicts_with_all = ["since", "until"])]
    append: bool,
    /// With --append: write under host=NAME/ inside each table (one
    /// database per NAME), so several hosts share one DIR.
    #[arg(long, value_name = "NAME", requires = "append")]
    host: Option<String>,
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
            if args.partition_by.is_some() || args.append {
                bail!("--partition-by and --append work with --format parquet only");
            }
            ndjson(db, &args, io)
        }
        Format::Parquet if args.append => append(db, &args, io),
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
    let dest = super::output_file(args.output.as_deref()).map(|p| io.resolve(p));
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
    let Some(output) = super::output_file(args.output.as_deref()) else {
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
    let range = ExportRange { since_ns: args.since, until_ns: args.until, after_seq: None };
    let by_day = args.partition_by == Some(Partition::Day);
    let exported = export_service(args)
        .export(&db.snapshot(), &staged.path, range, by_day)
        .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
    staged.commit(&dest)?;
    for e in &exported {
        let file =
            if by_day { format!("{}/", e.table.name()) } else { format!("{}.parquet", e.table.name()) };
        writeln!(io.out, "{:>10} rows  {}", e.rows, dest.join(file).display())?;
    }
    Ok(0)
}

/// The query service an export runs on: no time limit, `--memory-limit-mib`.
fn export_service(args: &Args) -> sql::Query {
    sql::Query {
        timeout: std::time::Duration::MAX,
        memory_limit_bytes: args.memory_limit_mib.saturating_mul(1 << 20),
        max_rows: None,
    }
}

/// Where `--append` records how far it got: DIR/_orc_log_export/FILE, outside
/// every table's directory (and `_`-prefixed, which Spark and Hive skip).
const STATE_DIR: &str = "_orc_log_export";

/// What `--append` records after each run.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AppendState {
    /// Events 1..=last_seq of the database are in DIR.
    last_seq: u64,
    /// The log's chain hash after `last_seq` (lowercase hex).
    chain_hash: String,
    /// When the run finished (RFC 3339).
    exported_at: String,
}

fn append(db: &SharedLog, args: &Args, io: &mut Io) -> Result<u8> {
    let Some(output) = super::output_file(args.output.as_deref()) else {
        bail!("--append needs --output DIR (a directory, not standard output)");
    };
    if args.partition_by != Some(Partition::Day) {
        bail!("--append needs --partition-by day");
    }
    let host = match &args.host {
        Some(h) if h.is_empty() || !h.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) => {
            bail!("--host {h:?}: use letters, digits, '.', '_' and '-'")
        }
        Some(h) => Some(h.as_str()),
        None => None,
    };
    let dest = io.resolve(output);
    let state_dir = dest.join(STATE_DIR);
    let state_path = state_dir.join(match host {
        Some(h) => format!("host={h}.json"),
        None => "state.json".to_owned(),
    });
    // Where this database's files of `table` go.
    let table_dir = |table: &str| match host {
        Some(h) => dest.join(table).join(format!("host={h}")),
        None => dest.join(table),
    };
    let after = match std::fs::read(&state_path) {
        Ok(bytes) => {
            let state: AppendState = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not an export state", state_path.display()))?;
            state.last_seq
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(t) = Table::ALL.iter().map(|t| table_dir(t.name())).find(|d| d.exists()) {
                bail!(
                    "{} holds files that --append did not record ({} is missing); append into a new directory",
                    t.display(),
                    state_path.display()
                );
            }
            0
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", state_path.display())),
    };
    let snapshot = db.snapshot();
    let head = snapshot.head();
    if head.seq < after {
        bail!(
            "{} already holds events up to seq {after}, but this log ends at {}: a different database? (use --host)",
            dest.display(),
            head.seq
        );
    }
    if head.seq == after {
        writeln!(io.err, "orc-log: nothing to export: events 1..={after} are already in {}", dest.display())?;
        return Ok(0);
    }
    std::fs::create_dir_all(&state_dir).with_context(|| format!("cannot create {}", state_dir.display()))?;
    if after == 0 {
        // Claim the host's place first, so a rerun after an interrupted first
        // run finds the state and replaces that run's files.
        write_state(
            &state_path,
            &AppendState { last_seq: 0, chain_hash: String::new(), exported_at: String::new() },
        )?;
    }
    let first = after + 1;
    let staged = Staged::dir(&state_dir.join(format!("run-{first}")))?;
    let range = ExportRange { after_seq: Some(after), ..ExportRange::default() };
    let exported = export_service(args)
        .export(&snapshot, &staged.path, range, true)
        .map_err(|e| anyhow::anyhow!("export failed: {e}"))?;
    // Move each file into place under a name fixed by the run's first seq:
    // a rerun after an interrupted run covers a superset of its rows and
    // replaces its files instead of adding duplicates.
    let mut dirs = std::collections::BTreeSet::new();
    for table in Table::ALL {
        let src_root = staged.path.join(table.name());
        let Ok(days) = std::fs::read_dir(&src_root) else { continue };
        let mut days: Vec<_> = days.collect::<std::io::Result<_>>()?;
        days.sort_by_key(std::fs::DirEntry::file_name);
        for day in days {
            let mut files: Vec<_> = std::fs::read_dir(day.path())?.collect::<std::io::Result<_>>()?;
            files.sort_by_key(std::fs::DirEntry::file_name);
            let to_dir = table_dir(table.name()).join(day.file_name());
            std::fs::create_dir_all(&to_dir)
                .with_context(|| format!("cannot create {}", to_dir.display()))?;
            for (n, file) in files.iter().enumerate() {
                std::fs::File::open(file.path()).and_then(|f| f.sync_all())?;
                let to = to_dir.join(format!("part-{first:012}-{n}.parquet"));
                std::fs::rename(file.path(), &to)
                    .with_context(|| format!("cannot move {} to {}", file.path().display(), to.display()))?;
            }
            dirs.insert(to_dir);
        }
    }
    for dir in &dirs {
        std::fs::File::open(dir).and_then(|f| f.sync_all()).ok();
    }
    drop(staged);
    let state = AppendState {
        last_seq: head.seq,
        chain_hash: head.chain_hex(),
        exported_at: orc_log_schemas::format_rfc3339(orc_log_schemas::now_ns()),
    };
    write_state(&state_path, &state)?;
    // Compaction keeps what the next --append run has not exported yet.
    let what = format!("{}{}", dest.display(), host.map(|h| format!(" (host={h})")).unwrap_or_default());
    orc_log_engine::retention::Pin::of("export", &what, format!("export --append to {what}"), head.seq)
        .store(db.dir())
        .context("pinning the exported seq for retention")?;
    for e in &exported {
        writeln!(io.out, "{:>10} rows  {}/", e.rows, table_dir(e.table.name()).display())?;
    }
    writeln!(io.err, "orc-log: appended events {first}..={} to {}", head.seq, dest.display())?;
    Ok(0)
}

/// Writes `state` to `path` atomically (staged, synced, renamed).
fn write_state(path: &std::path::Path, state: &AppendState) -> Result<()> {
    let (staged, mut file) = Staged::file(path)?;
    file.write_all(serde_json::to_string_pretty(state)?.as_bytes())?;
    file.write_all(b"\n")?;
    drop(file);
    staged.commit(path)
}
