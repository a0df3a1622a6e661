//! `orc-log restore`: build a new database from a backup, up to a point in time.

use anyhow::{Context, Result};
use orc_log_engine::backup::{self, RestorePoint};
use orc_log_engine::{Config, SharedLog};
use orc_log_projections::metrics::Metrics;
use orc_log_projections::state::State;
use orc_log_schemas::format_rfc3339;
use std::path::PathBuf;

/// Restore a backup into a new database DIR, whole or up to a point.
///
/// `--at TIME` keeps the log prefix that ends just before the first event
/// whose ts is later than TIME (as `state --at` sees it); `--until-seq N`
/// keeps events 1..=N. The backup is verified completely before anything is
/// written; the database is built in a temporary directory beside DIR,
/// verified, given fresh projection checkpoints, and renamed into place. An
/// existing non-empty DIR is refused unless --force.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup directory (made by `orc-log backup create`).
    backup: PathBuf,
    /// The new database directory.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore the prefix up to this time (RFC 3339).
    #[arg(long, value_parser = super::parse_time, conflicts_with = "until_seq", value_name = "TIME")]
    at: Option<i64>,
    /// Restore events 1..=N.
    #[arg(long, value_name = "N")]
    until_seq: Option<u64>,
    /// Replace DIR if it exists and is not empty.
    #[arg(long)]
    force: bool,
    /// Verify and report what would be restored; write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `orc-log restore` (no database of its own: it reads BACKUP and writes DIR).
pub fn run(args: Args) -> Result<u8> {
    let point = match (args.at, args.until_seq) {
        (Some(t), _) => RestorePoint::At(t),
        (None, Some(n)) => RestorePoint::UntilSeq(n),
        (None, None) => RestorePoint::All,
    };
    let manifest = backup::Manifest::load(&args.backup)?
        .with_context(|| format!("{} holds no backup", args.backup.display()))?;
    let r = backup::restore(&args.backup, &args.to, point, args.force, args.dry_run)
        .with_context(|| format!("restore from {} refused", args.backup.display()))?;
    if let (RestorePoint::At(t), Some(last)) = (point, manifest.segments.last())
        && t >= last.last_ts_ns
    {
        println!(
            "note: {} is after the last backed-up event ({}): restoring everything",
            format_rfc3339(t),
            format_rfc3339(last.last_ts_ns)
        );
    }
    let verb = if args.dry_run { "would restore" } else { "restored" };
    let last_ts = r.last_ts_ns.map_or_else(|| "-".into(), format_rfc3339);
    println!(
        "{verb} {} events into {}: last seq {}, last ts {last_ts}, head chain {}",
        r.events,
        args.to.display(),
        r.last_seq,
        r.chain_hex
    );
    if !args.dry_run {
        let log = SharedLog::open(&args.to, Config::default())?;
        orc_log_projections::catch_up::<State>(&log).context("rebuilding the state projection")?;
        orc_log_projections::catch_up::<Metrics>(&log).context("rebuilding the metrics projection")?;
        println!("verified; projections rebuilt");
    }
    Ok(0)
}
