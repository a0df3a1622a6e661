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
use orc_log_schemas::{Event, Kind};
use orc_log_server::{Appender, Delivery, Reconnecting, Runner};
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
///
/// A server restart does not end it: while no server answers, it keeps
/// recording into the spool beside the database (`DIR.hook-spool.ndjson`),
/// says so on stderr (then every 30 s), and appends the spool once a server
/// answers again. At start it reads what the log holds, so a restarted
/// recorder does not open sessions and windows again, store an unchanged
/// screen again or report a crash still on screen again.
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
    /// Do not detect agents' usage-limit banners (`rate_limited` panes).
    #[arg(long)]
    no_detect_limits: bool,
    /// Usage-limit banner patterns, one `name regex` per line (named groups
    /// `time`, `tz`, `epoch`), instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    limit_patterns: Option<PathBuf>,
    /// Store text as captured, without redacting secrets (see README).
    #[arg(long)]
    no_redact: bool,
    /// A pane program that ran at least this long and then exited back to
    /// the shell prompt counts as a crashed agent (`prompt-returned`);
    /// shorter commands typed at a prompt (builds, tests) do not.
    #[arg(long, default_value = "30s", value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    agent_min_runtime: Duration,
}

/// How often a recorder whose server is away says so again on stderr.
const OUTAGE_REMINDER: Duration = Duration::from_secs(30);

/// Appends each poll's events and shows the totals on a spinner; while the
/// server is away the events wait in the spool ([`Reconnecting`]) and this
/// says so on stderr, at the loss and then every 30 s.
struct ToLog {
    db_dir: PathBuf,
    appender: Reconnecting,
    progress: Option<indicatif::ProgressBar>,
    /// When the server went away and when that was last said.
    outage: Option<(Instant, Instant)>,
}

impl ToLog {
    /// One line on stderr, above the spinner.
    fn say(&self, line: &str) {
        match &self.progress {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Sink for ToLog {
    type Error = anyhow::Error;

    fn append(&mut self, events: Vec<Event>) -> Result<()> {
        let delivery = self.appender.append(events).context("cannot append the recorded events")?;
        let db = self.db_dir.display();
        match delivery {
            Delivery::Appended(_) => {}
            Delivery::Resumed { drained, .. } => {
                let down = self.outage.take().map_or(0.0, |(since, _)| since.elapsed().as_secs_f64());
                self.say(&format!(
                    "orc-log: the server of {db} answers again after {down:.1} s; appended the {} events that waited ({} were in the log already)",
                    drained.appended, drained.duplicates
                ));
            }
            Delivery::Spooled { lost, waiting } => {
                let spool = self.appender.spool().path().display().to_string();
                let now = Instant::now();
                match (lost, self.outage) {
                    (lost, outage) if lost.is_some() || outage.is_none() => {
                        let why = lost.map_or_else(String::new, |e| format!(" ({e})"));
                        self.say(&format!(
                            "orc-log: lost the server of {db}{why}; recording goes on, events wait in {spool} until a server answers again (`orc-log serve` appends them when it starts)"
                        ));
                        self.outage = Some((self.outage.map_or(now, |(since, _)| since), now));
                    }
                    (_, Some((since, said))) if now.duration_since(said) >= OUTAGE_REMINDER => {
                        self.say(&format!(
                            "orc-log: still no server for {db} after {:.0} s; {waiting} events wait in {spool}",
                            now.duration_since(since).as_secs_f64()
                        ));
                        self.outage = Some((since, now));
                    }
                    _ => {}
                }
            }
        }
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

/// The kinds [`Recorder::resume`] needs besides each pane's last capture.
const RESUME_KINDS: &[Kind] = &[
    Kind::SessionOpened,
    Kind::SessionClosed,
    Kind::WindowOpened,
    Kind::WindowRenamed,
    Kind::WindowClosed,
    Kind::Crash,
    Kind::PaneState,
    // The usage-limit banners reported (`agent_hook` RateLimited).
    Kind::AgentHook,
];

/// The standard output of `orc-log ARGS` run through the server or in the
/// database opened here (the same command either way), for a command that
/// runs in its own process and needs to read the log.
///
/// # Errors
/// The command failed (its stderr) or the server connection broke.
pub(crate) fn log_output(appender: &mut Appender, args: Vec<String>) -> Result<String> {
    let cwd = std::env::current_dir()?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = match appender {
        Appender::Remote(client) => client.exec(args, cwd, &mut out, &mut err)?,
        Appender::Direct(log) => crate::app::CommandRunner.run(log, args, cwd, &mut out, &mut err),
    };
    if code != 0 {
        bail!("cannot read the log: {}", String::from_utf8_lossy(&err).trim());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Events of the log read with `tail --format json` and these arguments,
/// through the server or in the database opened here.
pub(crate) fn read_log(appender: &mut Appender, filter: Vec<String>) -> Result<Vec<Event>> {
    let args: Vec<String> =
        ["tail", "--format", "json"].into_iter().map(str::to_owned).chain(filter).collect();
    log_output(appender, args)?
        .lines()
        .map(|line| {
            orc_log_schemas::parse_line(line, 0).map_err(|e| anyhow::anyhow!("the log sent a bad event: {e}"))
        })
        .collect()
}

/// What the log holds of the panes tmux shows now, for
/// [`Recorder::resume`]: the lifecycle events, the crashes, and each
/// wanted pane's last capture.
fn history(appender: &mut Appender, tmux: &Tmux, recorder: &Recorder) -> Result<Vec<Event>> {
    let kinds = RESUME_KINDS.iter().flat_map(|k| ["--kind".to_owned(), k.as_str().to_owned()]).collect();
    let mut events = read_log(appender, kinds)?;
    // No tmux server yet: the recording loop reports it.
    let panes = tmux.list_panes().unwrap_or_default();
    for pane in panes.iter().filter(|p| recorder.wants(p)) {
        let last = ["--kind", "capture", "-n", "1", "--target"].into_iter().map(str::to_owned);
        events.extend(read_log(appender, last.chain([pane.target.to_string()]).collect())?);
    }
    Ok(events)
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
    let limit_patterns = match &args.limit_patterns {
        Some(p) => orc_log_tmux::limits::load_limit_patterns(p)?,
        None => orc_log_tmux::limits::default_limit_patterns(),
    };
    let mut recorder = Recorder::new(Options {
        redact: !args.no_redact,
        detect_crashes: !args.no_detect_crashes,
        patterns,
        detect_limits: !args.no_detect_limits,
        limit_patterns,
        agent_min_polls: orc_log_tmux::polls_for(args.agent_min_runtime, args.interval),
        sessions: args.sessions.iter().cloned().collect(),
        cmdline: orc_log_tmux::proc::foreground_cmdline,
    });
    let tmux = Tmux::new(match (args.tmux_socket, args.tmux_socket_path) {
        (Some(name), _) => Socket::Name(name),
        (None, Some(path)) => Socket::Path(path),
        (None, None) => Socket::Default,
    });
    tmux.check_sessions(&args.sessions).context("nothing to record")?;
    let mut appender = crate::db::appender(db_dir)?;
    recorder.resume(history(&mut appender, &tmux, &recorder).context("cannot read what the log holds")?);
    let mut sink = ToLog {
        db_dir: db_dir.to_owned(),
        appender: Reconnecting::new(appender, db_dir, "rec"),
        progress: std::io::stderr().is_terminal().then(indicatif::ProgressBar::new_spinner),
        outage: None,
    };
    crate::cmd::catch_interrupts()?;
    let started = Instant::now();
    let schedule = Schedule { interval: args.interval, duration: args.duration };
    let end = orc_log_tmux::record(&tmux, &mut recorder, schedule, crate::cmd::interrupted, &mut sink)?;
    if let Some(bar) = &sink.progress {
        bar.finish_and_clear();
    }
    let spool = sink.appender.spool().path().to_owned();
    match sink.appender.finish(crate::db::lock_timeout()) {
        Ok(None) => {}
        Ok(Some(drained)) => eprintln!(
            "orc-log: appended the {} events that waited in {}",
            drained.appended + drained.duplicates,
            spool.display()
        ),
        Err(e) => eprintln!(
            "orc-log: events of this recording still wait in {} ({e}); the next `orc-log serve` or writer of {} appends them",
            spool.display(),
            db_dir.display()
        ),
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
