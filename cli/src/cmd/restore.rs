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
/// verified, given fresh projection checkpoints, and put into place. An
/// existing non-empty DIR is refused unless --force; an existing DIR that a
/// server, recorder or other command holds is refused, naming the process
/// (stop it first). Into an existing DIR only the database's storage
/// (`segments`, `store`) is replaced: `alerts.toml` and every other file
/// there stay.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup directory (made by `orc-log backup create`).
    backup: PathBuf,
    /// The new database directory.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore the prefix up to this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, conflicts_with = "until_seq", value_name = "TIME")]
    at: Option<i64>,
    /// Restore events 1..=N.
    #[arg(long, value_name = "N")]
    until_seq: Option<u64>,
    /// Replace the database in DIR if DIR exists and is not empty (only its
    /// storage: other files in DIR, such as alerts.toml, stay).
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
    refuse_if_served(&args.to)?;
    let staged = backup::stage_restore(
        &args.backup,
        &args.to,
        point,
        args.force,
        args.dry_run,
        crate::db::lock_timeout(),
    )
    .with_context(|| format!("restore from {} refused", args.backup.display()))?;
    if let Some(built) = staged.path() {
        // Projections are rebuilt before the database is put in place, so
        // the first reader of DIR finds them ready.
        let log = SharedLog::open(built, Config::default())?;
        orc_log_projections::catch_up::<State>(&log).context("rebuilding the state projection")?;
        orc_log_projections::catch_up::<Metrics>(&log).context("rebuilding the metrics projection")?;
        drop(log);
    }
    let r = staged
        .commit()
        .with_context(|| format!("cannot put the restored database in {}", args.to.display()))?;
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
        println!("verified; projections rebuilt");
    }
    Ok(0)
}

/// Fails at once, naming the server's pid, when `orc-log serve` runs on
/// `dir` (the lock taken next would only say so after `--lock-timeout`).
fn refuse_if_served(dir: &std::path::Path) -> Result<()> {
    if let Ok(Some(mut client)) = orc_log_server::Client::connect(dir) {
        let who = client
            .ping()
            .map_or_else(|_| "a server".to_owned(), |(pid, _)| format!("process {pid} (orc-log serve)"));
        anyhow::bail!(
            "restore refused: {} is in use by {who}: stop it before restoring over it (nothing was changed)",
            dir.display()
        );
    }
    Ok(())
}
