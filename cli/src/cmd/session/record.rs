//! `orc-log session record`: the arguments, and the recorder of
//! `orc_log_tmux` wired to an [`Appender`].
//!
//! Each cycle runs two tmux commands (tmux(1), "list-panes" and
//! "capture-pane"): one `list-panes -a -F ...` for the layout, and one
//! invocation that captures every pane. Lifecycle events come from the
//! differences between layouts; a `capture` is appended only when a pane's
//! text (or size) changed. Secrets are redacted and crashes detected before
//! anything is stored (`orc_log_tmux::recorder`).

use anyhow::{Context, Result, bail};
use orc_log_schemas::Event;
use orc_log_server::Appender;
use orc_log_tmux::detect::{default_patterns, load_patterns};
use orc_log_tmux::{End, Options, Recorder, Schedule, Sink, Socket, Stats, Tmux};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Record a tmux server: sessions, windows and panes as lifecycle events, and
/// each pane's text as a `capture` whenever it changes.
///
/// Runs until the tmux server goes away, --duration passes, or
/// SIGINT/SIGTERM/SIGHUP. Sessions that appear later are picked up. Events go
/// through `orc-log serve` when one runs for the database.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// tmux socket name (`tmux -L NAME`) [default: the default server].
    #[arg(long, value_name = "NAME", conflicts_with = "tmux_socket_path")]
    tmux_socket: Option<String>,
    /// tmux socket path (`tmux -S PATH`).
    #[arg(long, value_name = "PATH")]
    tmux_socket_path: Option<PathBuf>,
    /// Only these sessions (repeatable) [default: all].
    #[arg(long = "session", value_name = "S")]
    sessions: Vec<String>,
    /// Time between polls, e.g. `1s`, `500ms`.
    #[arg(long, default_value = "1s", value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    interval: Duration,
    /// Stop after this long, e.g. `30s`, `2h` [default: until tmux goes away].
    #[arg(long, value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    duration: Option<Duration>,
    /// Do not detect crashes (Python tracebacks, `command not found`, ...).
    #[arg(long)]
    no_detect_crashes: bool,
    /// Crash patterns, one `name regex` per line, instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    crash_patterns: Option<PathBuf>,
    /// Store text as captured, without redacting secrets (see README).
    #[arg(long)]
    no_redact: bool,
    /// A pane program that ran at least this long and then exited back to
    /// the shell prompt counts as a crashed agent (`prompt-returned`);
    /// shorter commands typed at a prompt (builds, tests) do not.
    #[arg(long, default_value = "30s", value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    agent_min_runtime: Duration,
}

/// Appends each poll's events and shows the totals on a spinner.
struct ToLog {
    appender: Appender,
    progress: Option<indicatif::ProgressBar>,
}

impl Sink for ToLog {
    type Error = anyhow::Error;

    fn append(&mut self, events: Vec<Event>) -> Result<()> {
        self.appender.append(events).context("cannot append the recorded events")?;
        Ok(())
    }

    fn polled(&mut self, s: &Stats) {
        if let Some(bar) = &self.progress {
            bar.set_message(format!(
                "recording: {} panes, {} events, {} captures, {} crashes, {} bytes",
                s.panes, s.events, s.captures, s.crashes, s.capture_bytes
            ));
            bar.tick();
        }
    }
}

/// Runs `orc-log session record`.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    if args.interval < Duration::from_millis(50) {
        bail!("--interval must be at least 50ms");
    }
    let patterns = match &args.crash_patterns {
        Some(p) => load_patterns(p)?,
        None => default_patterns(),
    };
    let mut recorder = Recorder::new(Options {
        redact: !args.no_redact,
        detect_crashes: !args.no_detect_crashes,
        patterns,
        agent_min_polls: orc_log_tmux::polls_for(args.agent_min_runtime, args.interval),
        sessions: args.sessions.iter().cloned().collect(),
    });
    let tmux = Tmux::new(match (args.tmux_socket, args.tmux_socket_path) {
        (Some(name), _) => Socket::Name(name),
        (None, Some(path)) => Socket::Path(path),
        (None, None) => Socket::Default,
    });
    tmux.check_sessions(&args.sessions).context("nothing to record")?;
    let mut sink = ToLog {
        appender: crate::db::appender(db_dir)?,
        progress: std::io::stderr().is_terminal().then(indicatif::ProgressBar::new_spinner),
    };
    crate::cmd::catch_interrupts()?;
    let started = Instant::now();
    let schedule = Schedule { interval: args.interval, duration: args.duration };
    let end = orc_log_tmux::record(&tmux, &mut recorder, schedule, crate::cmd::interrupted, &mut sink)?;
    if let Some(bar) = sink.progress {
        bar.finish_and_clear();
    }
    let s = recorder.stats();
    let why = if end == End::ServerGone { "tmux server went away" } else { "stopped" };
    eprintln!(
        "orc-log: recorded {} events ({} captures, {} crashes, {} bytes of text) in {:.1} s; {why}",
        s.events,
        s.captures,
        s.crashes,
        s.capture_bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}
