//! `orc-log session record`: poll a tmux server and append what changes.
//!
//! Each cycle runs two tmux commands (tmux(1), "list-panes" and
//! "capture-pane"): one `list-panes -a -F ...` for the layout, and one
//! invocation that captures every pane (`capture-pane -p -e -J` per pane,
//! separated by `display-message` markers, chained with `;`). Lifecycle events
//! come from the differences between layouts; a `capture` is appended only
//! when a pane's text (or size) changed. Secrets are redacted and crashes
//! detected before anything is stored.

use crate::detect::{Detector, default_patterns, load_patterns};
use crate::redact::redact;
use anyhow::{Context, Result, bail};
use orc_log_schemas::{Event, EventBody, Target, now_ns};
use orc_log_server::Appender;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Record a tmux server: sessions, windows and panes as lifecycle events, and
/// each pane's text as a `capture` whenever it changes.
///
/// Runs until the tmux server goes away, --duration passes, or SIGINT/SIGTERM
/// (after a final flush). Sessions that appear later are picked up. Events go
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
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DUR")]
    interval: Duration,
    /// Stop after this long, e.g. `30s`, `2h` [default: until tmux goes away].
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DUR")]
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
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DUR")]
    agent_min_runtime: Duration,
}

/// One pane as `list-panes` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pane {
    target: Target,
    id: String,
    window_name: String,
    width: u32,
    height: u32,
    cursor_x: u32,
    cursor_y: u32,
    /// The pane's foreground command (`#{pane_current_command}`).
    command: String,
}

// The window name is last: it may hold tabs.
const LIST_FORMAT: &str = "#{session_name}\t#{window_index}\t#{pane_index}\t#{pane_id}\t#{pane_width}\t#{pane_height}\t#{cursor_x}\t#{cursor_y}\t#{pane_current_command}\t#{window_name}";

/// Foreground commands that mean "a shell prompt is showing".
const SHELLS: &[&str] = &["bash", "zsh", "sh", "fish", "dash", "ksh", "tcsh", "csh", "nu"];

fn is_shell(command: &str) -> bool {
    SHELLS.contains(&command.trim_start_matches('-'))
}

/// Detects an agent whose program exited back to the shell prompt: the
/// pane's foreground command was a program for at least `min_polls` polls
/// (`--agent-min-runtime` over `--interval`; a command typed at the prompt
/// is no agent) and is a shell at two polls in a row. Reported once per exit.
struct PromptWatch {
    min_polls: u32,
    /// Per pane: the program in the foreground, the polls it has been there,
    /// and the polls since a shell came back.
    panes: HashMap<Target, (Option<String>, u32, u32)>,
}

impl PromptWatch {
    /// A watch that counts a program as an agent after `min_runtime` of polls
    /// every `interval` (at least one poll).
    fn new(min_runtime: Duration, interval: Duration) -> Self {
        let polls = min_runtime.as_nanos().div_ceil(interval.as_nanos().max(1)).max(1);
        Self { min_polls: u32::try_from(polls).unwrap_or(u32::MAX), panes: HashMap::new() }
    }

    fn observe(&mut self, target: &Target, command: &str) -> Option<String> {
        let min_polls = self.min_polls;
        let (program, program_polls, shell_polls) = self.panes.entry(target.clone()).or_insert((None, 0, 0));
        if !is_shell(command) {
            if program.as_deref() != Some(command) {
                *program = Some(command.to_owned());
                *program_polls = 0;
            }
            *program_polls += 1;
            *shell_polls = 0;
            return None;
        }
        *shell_polls += 1;
        if *shell_polls < 2 {
            return None;
        }
        let ran_long = *program_polls >= min_polls;
        *program_polls = 0;
        let exited = program.take();
        if ran_long { exited } else { None }
    }
}

fn parse_panes(text: &str) -> Vec<Pane> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(10, '\t').collect();
            if f.len() != 10 {
                return None;
            }
            let n = |s: &str| s.parse::<u32>().ok();
            Some(Pane {
                target: Target::new(f[0], n(f[1])?, n(f[2])?).ok()?,
                id: f[3].to_owned(),
                width: n(f[4])?,
                height: n(f[5])?,
                cursor_x: n(f[6])?,
                cursor_y: n(f[7])?,
                command: f[8].to_owned(),
                window_name: f[9].to_owned(),
            })
        })
        .collect()
}

/// How to run tmux for the recorded server.
struct Tmux {
    base: Vec<String>,
}

enum TmuxOutput {
    Ok(String),
    /// The server is gone (or was never there).
    NoServer(String),
}

impl Tmux {
    async fn run(&self, args: &[String]) -> Result<TmuxOutput> {
        let out = tokio::process::Command::new("tmux")
            .args(&self.base)
            .args(args)
            .kill_on_drop(true)
            .output()
            .await
            .context("cannot run tmux (is it installed? apt-get install tmux)")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(TmuxOutput::Ok(stdout));
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if err.contains("no server running")
            || err.contains("error connecting")
            || err.contains("No such file")
        {
            return Ok(TmuxOutput::NoServer(err));
        }
        // A pane that vanished mid-batch fails the rest; keep what was printed.
        Ok(TmuxOutput::Ok(stdout + &format!("\n{}", marker_line("error", &err))))
    }
}

fn marker(nonce: &str, i: usize) -> String {
    format!("@@orc-log-capture-{nonce}-{i}@@")
}

fn marker_line(kind: &str, text: &str) -> String {
    format!("@@orc-log-{kind}@@ {text}")
}

/// Splits batched capture output into each pane's text, by marker.
fn split_captures(out: &str, nonce: &str, count: usize) -> Vec<Option<String>> {
    let mut result = vec![None; count];
    let mut positions: Vec<(usize, usize, usize)> = Vec::new();
    for i in 0..count {
        let m = format!("{}\n", marker(nonce, i));
        if let Some(at) = out.find(&m) {
            positions.push((at, at + m.len(), i));
        }
    }
    positions.sort_unstable();
    for (k, (_, start, i)) in positions.iter().enumerate() {
        let end = positions.get(k + 1).map_or(out.len(), |p| p.0);
        let mut text = out[*start..end].to_owned();
        if let Some(err_at) = text.find("\n@@orc-log-error@@") {
            text.truncate(err_at + 1);
        }
        result[*i] = Some(text);
    }
    result
}

struct Counters {
    events: u64,
    captures: u64,
    crashes: u64,
    bytes: u64,
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
    let appender = crate::db::appender(db_dir)?;
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start tokio")?;
    rt.block_on(record(args, appender, Detector::new(patterns)))
}

async fn record(args: Args, mut appender: Appender, mut detector: Detector) -> Result<u8> {
    // `-u`: UTF-8 output whatever the locale; without it, under LANG=C tmux
    // prints the list-panes tabs (and any non-ASCII text) as `_`.
    let mut base = vec!["-u".to_owned()];
    if let Some(name) = &args.tmux_socket {
        base.extend(["-L".to_owned(), name.clone()]);
    }
    if let Some(path) = &args.tmux_socket_path {
        base.extend(["-S".to_owned(), path.display().to_string()]);
    }
    let tmux = Tmux { base };
    let only: BTreeSet<&str> = args.sessions.iter().map(String::as_str).collect();
    let nonce = format!("{:x}", now_ns() ^ i64::from(std::process::id()));
    let progress = std::io::stderr().is_terminal().then(indicatif::ProgressBar::new_spinner);
    let started = Instant::now();
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticker = tokio::time::interval(args.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Layout of the previous cycle.
    let mut sessions: BTreeSet<String> = BTreeSet::new();
    let mut windows: BTreeMap<(String, u32), (Target, String)> = BTreeMap::new();
    // Per pane: blake3 of the last stored content and the size it had.
    let mut last: HashMap<Target, ([u8; 32], u32, u32)> = HashMap::new();
    let mut counters = Counters { events: 0, captures: 0, crashes: 0, bytes: 0 };
    let mut prompts = PromptWatch::new(args.agent_min_runtime, args.interval);
    let mut ended_by_tmux = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
        if args.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let list = ["list-panes".to_owned(), "-a".to_owned(), "-F".to_owned(), LIST_FORMAT.to_owned()];
        let panes = match tmux.run(&list).await? {
            TmuxOutput::Ok(text) => parse_panes(&text),
            TmuxOutput::NoServer(why) => {
                tracing::info!(reason = %why, "tmux server is gone");
                ended_by_tmux = true;
                break;
            }
        };
        let panes: Vec<Pane> = panes
            .into_iter()
            .filter(|p| only.is_empty() || only.contains(p.target.session.as_str()))
            .collect();
        let mut events: Vec<Event> = Vec::new();
        let ts = now_ns();
        let ev = |body| Event { ts_ns: ts, id: None, body };
        // Lifecycle from the layout difference.
        let now_sessions: BTreeSet<String> = panes.iter().map(|p| p.target.session.clone()).collect();
        for s in now_sessions.difference(&sessions) {
            events.push(ev(EventBody::SessionOpened { session: s.clone() }));
        }
        let mut now_windows: BTreeMap<(String, u32), (Target, String)> = BTreeMap::new();
        for p in &panes {
            let key = (p.target.session.clone(), p.target.window);
            let entry = now_windows.entry(key).or_insert_with(|| (p.target.clone(), p.window_name.clone()));
            if p.target.pane < entry.0.pane {
                entry.0 = p.target.clone();
            }
        }
        for (key, (target, name)) in &now_windows {
            match windows.get(key) {
                None => events
                    .push(ev(EventBody::WindowOpened { target: target.clone(), name: Some(name.clone()) })),
                Some((_, old)) if old != name => events
                    .push(ev(EventBody::WindowRenamed { target: target.clone(), name: Some(name.clone()) })),
                Some(_) => {}
            }
        }
        for (key, (target, _)) in &windows {
            if !now_windows.contains_key(key) && now_sessions.contains(&key.0) {
                events.push(ev(EventBody::WindowClosed { target: target.clone() }));
            }
        }
        for s in sessions.difference(&now_sessions) {
            events.push(ev(EventBody::SessionClosed { session: s.clone() }));
        }
        sessions = now_sessions;
        windows = now_windows;
        last.retain(|t, _| panes.iter().any(|p| p.target == *t));
        // One tmux invocation captures every pane.
        if !panes.is_empty() {
            let mut cmd = Vec::new();
            for (i, p) in panes.iter().enumerate() {
                if i > 0 {
                    cmd.push(";".to_owned());
                }
                cmd.extend(["display-message", "-p", "-t", &p.id, &marker(&nonce, i)].map(str::to_owned));
                cmd.push(";".to_owned());
                cmd.extend(["capture-pane", "-p", "-e", "-J", "-t", &p.id].map(str::to_owned));
            }
            let out = match tmux.run(&cmd).await? {
                TmuxOutput::Ok(text) => text,
                TmuxOutput::NoServer(_) => {
                    ended_by_tmux = true;
                    break;
                }
            };
            let ts = now_ns();
            for (p, text) in panes.iter().zip(split_captures(&out, &nonce, panes.len())) {
                let Some(text) = text else { continue };
                let content = if args.no_redact { text } else { redact(&text).into_owned() };
                if !args.no_detect_crashes
                    && let Some(program) = prompts.observe(&p.target, &p.command)
                {
                    counters.crashes += 1;
                    let tail: Vec<&str> = content.trim_end().lines().rev().take(8).collect();
                    let excerpt = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                    events.push(Event {
                        ts_ns: ts,
                        id: None,
                        body: EventBody::Crash {
                            target: p.target.clone(),
                            reason: format!("{program} exited and the shell prompt returned"),
                            excerpt: Some(excerpt),
                            detector: Some("prompt-returned".into()),
                        },
                    });
                }
                if !args.no_detect_crashes {
                    for f in detector.observe(&p.target.to_string(), &content) {
                        counters.crashes += 1;
                        events.push(Event {
                            ts_ns: ts,
                            id: None,
                            body: EventBody::Crash {
                                target: p.target.clone(),
                                reason: f.reason,
                                excerpt: Some(f.excerpt),
                                detector: Some(f.detector),
                            },
                        });
                    }
                }
                let hash = *blake3::hash(content.as_bytes()).as_bytes();
                if last.get(&p.target) == Some(&(hash, p.width, p.height)) {
                    continue;
                }
                last.insert(p.target.clone(), (hash, p.width, p.height));
                counters.captures += 1;
                counters.bytes += content.len() as u64;
                events.push(Event {
                    ts_ns: ts,
                    id: None,
                    body: EventBody::Capture {
                        target: p.target.clone(),
                        content,
                        width: Some(p.width),
                        height: Some(p.height),
                        cursor_x: Some(p.cursor_x),
                        cursor_y: Some(p.cursor_y),
                    },
                });
            }
        }
        if !events.is_empty() {
            counters.events += events.len() as u64;
            appender.append(events).context("cannot append the recorded events")?;
        }
        if let Some(bar) = &progress {
            bar.set_message(format!(
                "recording: {} panes, {} events, {} captures, {} crashes, {} bytes",
                panes.len(),
                counters.events,
                counters.captures,
                counters.crashes,
                counters.bytes
            ));
            bar.tick();
        }
    }
    if ended_by_tmux && !sessions.is_empty() {
        let ts = now_ns();
        let closing: Vec<Event> = sessions
            .iter()
            .map(|s| Event { ts_ns: ts, id: None, body: EventBody::SessionClosed { session: s.clone() } })
            .collect();
        counters.events += closing.len() as u64;
        appender.append(closing).context("cannot append the final session_closed events")?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let why = if ended_by_tmux { "tmux server went away" } else { "stopped" };
    eprintln!(
        "orc-log: recorded {} events ({} captures, {} crashes, {} bytes of text) in {:.1} s; {why}",
        counters.events,
        counters.captures,
        counters.crashes,
        counters.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_panes_lines() {
        let panes = parse_panes("proj\t1\t0\t%3\t160\t48\t10\t2\tbash\teng\tx\nbad line\n");
        assert_eq!(panes.len(), 1);
        assert_eq!(panes[0].target.to_string(), "proj:1.0");
        assert_eq!(panes[0].window_name, "eng\tx");
        assert_eq!((panes[0].width, panes[0].height, panes[0].cursor_x, panes[0].cursor_y), (160, 48, 10, 2));
        assert_eq!(panes[0].command, "bash");
    }

    #[test]
    fn a_program_exiting_to_the_prompt_is_reported_once_after_two_polls() {
        let t: Target = "s:0.0".parse().unwrap();
        let mut w = PromptWatch::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(w.observe(&t, "bash"), None, "a shell from the start is no crash");
        assert_eq!(w.observe(&t, "bash"), None);
        for _ in 0..3 {
            assert_eq!(w.observe(&t, "claude"), None);
        }
        assert_eq!(w.observe(&t, "bash"), None, "not yet confirmed");
        assert_eq!(w.observe(&t, "bash").as_deref(), Some("claude"));
        assert_eq!(w.observe(&t, "bash"), None, "once per exit");
        // A quick command seen at one poll is not an agent.
        assert_eq!(w.observe(&t, "ls"), None);
        assert_eq!(w.observe(&t, "bash"), None);
        assert_eq!(w.observe(&t, "bash"), None);
        for _ in 0..3 {
            assert_eq!(w.observe(&t, "python3"), None);
        }
        assert_eq!(w.observe(&t, "-bash"), None);
        assert_eq!(w.observe(&t, "zsh").as_deref(), Some("python3"));
    }

    #[test]
    fn splits_batched_captures_by_marker() {
        let out = format!(
            "{}\nline a\n\n{}\nline b\n{}\nhalf\n@@orc-log-error@@ can't find pane\n",
            marker("n", 0),
            marker("n", 1),
            marker("n", 2)
        );
        let parts = split_captures(&out, "n", 4);
        assert_eq!(parts[0].as_deref(), Some("line a\n\n"));
        assert_eq!(parts[1].as_deref(), Some("line b\n"));
        assert_eq!(parts[2].as_deref(), Some("half\n"));
        assert_eq!(parts[3], None);
    }
}
