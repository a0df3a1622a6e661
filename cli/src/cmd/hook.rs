//! `orc-log hook`: the command Claude Code runs for each hook event.
//!
//! It reads the hook payload on stdin, maps it to an agent event
//! (`orc_log_agents::hook`), attaches the tmux pane it runs in, and appends
//! it durably, through the server when one runs. It never slows or breaks
//! the agent: it always exits 0, writes nothing on stdout (Claude Code reads
//! a hook's stdout and exit status as decisions), waits at most `--timeout`
//! for a busy database, and keeps an event it cannot append in the spool
//! (`orc_log_server::spool`), which the next `orc-log hook` that gets
//! through, or `orc-log serve` when it starts, appends first.

use crate::db;
use orc_log_schemas::{Event, Target, now_ns};
use orc_log_server::{Appender, OpenOptions, Spool, connect_or_open};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most bytes read from stdin; a payload beyond this is cut (its `raw` is
/// bounded much smaller anyway).
const MAX_PAYLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Record one Claude Code hook event (payload on stdin) in the log.
///
/// Put it in Claude Code's settings for every hook event (`orc-log hook
/// install` does). It always exits 0 and prints nothing on stdout, so it
/// never blocks or changes what the agent does. The pane comes from
/// `$TMUX_PANE` (resolved to `session:window.pane`), else `--target`.
/// When the database is busy past `--timeout`, missing or unreachable, the
/// event goes to the spool file (`$ORC_LOG_SPOOL`, default
/// `DIR.hook-spool.ndjson` beside the database directory) and is appended
/// by the next `orc-log hook` or `orc-log serve`.
///
/// `orc-log hook install` adds it to a Claude Code settings file.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// The pane the agent runs in, when `$TMUX_PANE` is not set.
    #[arg(long, value_name = "TARGET")]
    target: Option<Target>,
    /// How long to wait for a database another process holds before
    /// spooling the event instead. Humantime syntax: `250ms`, `1s`.
    #[arg(long, default_value = "250ms", value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    timeout: Duration,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Install(super::hook_install::InstallArgs),
}

/// Runs `orc-log hook install`, or the hook itself.
///
/// # Errors
/// Only `install`'s: the hook reports its problems on stderr (which Claude
/// Code shows only in its debug output) and always returns 0.
pub fn run(db_flag: Option<PathBuf>, args: Args) -> anyhow::Result<u8> {
    match args.action {
        Some(Action::Install(install)) => super::hook_install::run(install, db_flag.as_deref()).map(|()| 0),
        None => Ok(record(db_flag, args)),
    }
}

/// The hook: records stdin's payload, always returning 0.
fn record(db_flag: Option<PathBuf>, args: Args) -> u8 {
    let ts_ns = now_ns();
    let mut payload = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_PAYLOAD_BYTES).read_to_end(&mut payload) {
        eprintln!("orc-log hook: reading stdin: {e}");
    }
    let payload = String::from_utf8_lossy(&payload);
    let target = pane_target().or(args.target);
    let event = orc_log_agents::hook::to_event(&payload, target, ts_ns);
    // A notification showing a usage-limit banner also says the pane is limited.
    let limit = match &event.body {
        orc_log_schemas::EventBody::Notification { target: Some(t), message, .. } => {
            orc_log_tmux::limits::find(&orc_log_tmux::limits::default_limit_patterns(), message, ts_ns)
                .map(|b| orc_log_tmux::recorder::limit_event(t, &b, ts_ns))
        }
        _ => None,
    };
    let events: Vec<Event> = std::iter::once(event).chain(limit).collect();
    let dir = match db::resolve(db_flag) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("orc-log hook: {e}; the event is lost");
            return 0;
        }
    };
    let spool = Spool::for_db(&dir);
    if let Err(e) = append(&dir, &spool, events.clone(), args.timeout) {
        for event in &events {
            match spool.push(event) {
                Ok(()) => eprintln!("orc-log hook: {e}; spooled to {}", spool.path().display()),
                Err(s) => eprintln!("orc-log hook: {e}; spooling failed too ({s}); the event is lost"),
            }
        }
    }
    0
}

/// The pane this process runs in: `$TMUX_PANE` (a pane id like `%3`)
/// resolved by the tmux server in `$TMUX`.
fn pane_target() -> Option<Target> {
    let pane = std::env::var("TMUX_PANE").ok().filter(|p| !p.is_empty())?;
    match orc_log_tmux::Tmux::default_server().target_of_pane(&pane) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("orc-log hook: cannot resolve $TMUX_PANE {pane}: {e}");
            None
        }
    }
}

/// Appends the spooled events, then `events`, to an existing database.
fn append(dir: &Path, spool: &Spool, events: Vec<Event>, timeout: Duration) -> anyhow::Result<()> {
    let opts = OpenOptions {
        create: false,
        lock_timeout: timeout.min(db::lock_timeout()),
        ..OpenOptions::default()
    };
    let mut appender: Appender = connect_or_open(dir, &opts)?.into();
    if !spool.is_empty() {
        let report = spool.drain(&mut appender)?;
        if report.rejected > 0 {
            eprintln!(
                "orc-log hook: {} spooled lines were not valid events; kept in {}.rejected",
                report.rejected,
                spool.path().display()
            );
        }
    }
    appender.append(events)?;
    Ok(())
}
