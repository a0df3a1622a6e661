//! What `orc-log session record` appends, in two parts:
//!
//! - [`Recorder`], pure: given each poll's panes and their captured text it
//!   returns the events to append: lifecycle events from the difference
//!   between two layouts (`session_opened/closed`,
//!   `window_opened/renamed/closed`), a `capture` only when a pane's
//!   (redacted) text or size changed, and `crash` events from the text
//!   ([`crate::detect`]) and from an agent program giving way to the shell
//!   prompt (`prompt-returned`), an `agent_hook` `RateLimited` when a
//!   usage-limit banner appears ([`crate::limits`], see [`limit_event`]), and a `pane_state` (working directory,
//!   foreground command, its command line, the window's layout) only when
//!   one of them changed. Unit tests drive it without tmux.
//! - [`record`], the thin polling loop: each interval one
//!   [`Tmux::list_panes`] and one [`Tmux::capture_panes`], the recorder's
//!   events handed to a [`Sink`] (the caller decides how they are stored).

use crate::detect::{Detector, Pattern, default_patterns};
use crate::driver::{Error, Pane, Tmux};
use crate::redact::redact;
use orc_log_schemas::{Event, EventBody, Target, now_ns};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// How a [`Recorder`] treats what it sees.
#[derive(Debug, Clone)]
pub struct Options {
    /// Replace secrets with `[REDACTED:kind]` before anything else sees the
    /// text (see [`crate::redact`]).
    pub redact: bool,
    /// Report `crash` events (text patterns and `prompt-returned`).
    pub detect_crashes: bool,
    /// The text patterns (see [`crate::detect`]).
    pub patterns: Vec<Pattern>,
    /// Report usage-limit banners (`agent_hook` `RateLimited` events).
    pub detect_limits: bool,
    /// The usage-limit patterns (see [`crate::limits`]).
    pub limit_patterns: Vec<crate::limits::LimitPattern>,
    /// Polls a program must hold a pane's foreground before its exit to the
    /// shell counts as a crashed agent (see [`polls_for`]); at least 1.
    pub agent_min_polls: u32,
    /// Record only these sessions; empty: all.
    pub sessions: BTreeSet<String>,
    /// Reads the command line of a pane's foreground process from its
    /// `#{pane_pid}` and `#{pane_current_command}` (see
    /// [`crate::proc::foreground_cmdline`]); called only when either changed.
    pub cmdline: fn(u32, &str) -> Option<String>,
}

impl Default for Options {
    /// Redaction and crash detection on with the built-in patterns, 30
    /// polls for an agent, every session.
    fn default() -> Self {
        Self {
            redact: true,
            detect_crashes: true,
            patterns: default_patterns(),
            detect_limits: true,
            limit_patterns: crate::limits::default_limit_patterns(),
            agent_min_polls: 30,
            sessions: BTreeSet::new(),
            cmdline: crate::proc::foreground_cmdline,
        }
    }
}

/// The number of polls every `interval` that cover `runtime` (rounded up,
/// at least 1): `--agent-min-runtime` as [`Options::agent_min_polls`].
pub fn polls_for(runtime: Duration, interval: Duration) -> u32 {
    let polls = runtime.as_nanos().div_ceil(interval.as_nanos().max(1)).max(1);
    u32::try_from(polls).unwrap_or(u32::MAX)
}

/// Running totals of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Polls observed.
    pub polls: u64,
    /// Panes seen at the last poll.
    pub panes: usize,
    /// Events returned, of every kind.
    pub events: u64,
    /// `capture` events returned.
    pub captures: u64,
    /// `crash` events returned.
    pub crashes: u64,
    /// Bytes of (redacted) text in the `capture` events returned.
    pub capture_bytes: u64,
}

/// Foreground commands that mean "a shell prompt is showing".
const SHELLS: &[&str] = &["bash", "zsh", "sh", "fish", "dash", "ksh", "tcsh", "csh", "nu"];

fn is_shell(command: &str) -> bool {
    SHELLS.contains(&command.trim_start_matches('-'))
}

/// Detects an agent whose program exited back to the shell prompt: the
/// pane's foreground command was a program for at least `min_polls` polls
/// (a command typed at the prompt is no agent) and is a shell at two polls
/// in a row. Reported once per exit.
#[derive(Debug)]
struct PromptWatch {
    min_polls: u32,
    /// Per pane: the program in the foreground, the polls it has been there,
    /// and the polls since a shell came back.
    panes: HashMap<Target, (Option<String>, u32, u32)>,
}

impl PromptWatch {
    fn new(min_polls: u32) -> Self {
        Self { min_polls: min_polls.max(1), panes: HashMap::new() }
    }

    /// The program that just exited to the prompt, if it ran long enough.
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

/// The pure part of `session record`: remembers the previous layout and
/// each pane's last stored capture, and turns each poll into events. See
/// the module documentation.
#[derive(Debug)]
pub struct Recorder {
    redact: bool,
    detect_crashes: bool,
    only: BTreeSet<String>,
    detector: Detector,
    prompts: PromptWatch,
    /// Sessions of the previous poll.
    sessions: BTreeSet<String>,
    /// Windows of the previous poll: (session, index) -> (lowest pane, name).
    windows: BTreeMap<(String, u32), (Target, String)>,
    /// Per pane: blake3 of the last stored content and the size it had.
    last: HashMap<Target, ([u8; 32], u32, u32)>,
    /// Per pane: the crashes the log holds (detector -> excerpt), checked
    /// against the pane's first poll ([`Recorder::resume`]).
    logged_crashes: HashMap<Target, BTreeMap<String, String>>,
    /// Usage-limit detection, when on: the patterns, and per pane the
    /// banner line last reported (reported again only once it went away).
    limits: Option<(Vec<crate::limits::LimitPattern>, HashMap<Target, String>)>,
    /// Per pane: the last `pane_state` recorded.
    states: HashMap<Target, PaneState>,
    /// Per pane: the pid and command its command line was last read for,
    /// and what was read.
    cmdlines: HashMap<Target, (u32, String, Option<String>)>,
    read_cmdline: fn(u32, &str) -> Option<String>,
    stats: Stats,
}

/// The fields of a `pane_state` event (see [`EventBody::PaneState`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PaneState {
    cwd: Option<String>,
    command: Option<String>,
    cmdline: Option<String>,
    layout: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl Recorder {
    /// A recorder that has seen nothing yet.
    pub fn new(options: Options) -> Self {
        Self {
            redact: options.redact,
            detect_crashes: options.detect_crashes,
            only: options.sessions,
            detector: Detector::new(options.patterns),
            prompts: PromptWatch::new(options.agent_min_polls),
            sessions: BTreeSet::new(),
            windows: BTreeMap::new(),
            last: HashMap::new(),
            logged_crashes: HashMap::new(),
            limits: options.detect_limits.then(|| (options.limit_patterns, HashMap::new())),
            states: HashMap::new(),
            cmdlines: HashMap::new(),
            read_cmdline: options.cmdline,
            stats: Stats::default(),
        }
    }

    /// Takes up where an earlier recording left off: `history` is what the
    /// log holds, in log order (at least every lifecycle event, the last
    /// capture of each pane and the crashes; other kinds are ignored).
    /// Afterwards the open sessions and windows are not opened again (ones
    /// that tmux no longer has are closed at the first poll), a pane whose
    /// text is the same as its last capture is not captured again, a pane
    /// whose `pane_state` is unchanged gets none, and a
    /// crash whose incident is still on screen (same pane, detector and
    /// excerpt) is not reported again. Only sessions this recorder
    /// [wants](Recorder::wants) are taken.
    pub fn resume(&mut self, history: impl IntoIterator<Item = Event>) {
        let wanted = |s: &str| self.only.is_empty() || self.only.contains(s);
        let mut sessions = BTreeSet::new();
        let mut windows: BTreeMap<(String, u32), (Target, String)> = BTreeMap::new();
        let mut last = HashMap::new();
        let mut crashes: HashMap<Target, BTreeMap<String, String>> = HashMap::new();
        let mut states = HashMap::new();
        let mut limit_lines = HashMap::new();
        for ev in history {
            match ev.body {
                EventBody::SessionOpened { session } if wanted(&session) => {
                    sessions.insert(session);
                }
                EventBody::SessionClosed { session } => {
                    windows.retain(|(s, _), _| *s != session);
                    sessions.remove(&session);
                }
                EventBody::WindowOpened { target, name } | EventBody::WindowRenamed { target, name }
                    if wanted(&target.session) =>
                {
                    let key = (target.session.clone(), target.window);
                    windows.insert(key, (target, name.unwrap_or_default()));
                }
                EventBody::WindowClosed { target } => {
                    windows.remove(&(target.session, target.window));
                }
                EventBody::Capture { target, content, width, height, .. } if wanted(&target.session) => {
                    let hash = *blake3::hash(content.as_bytes()).as_bytes();
                    last.insert(target, (hash, width.unwrap_or(0), height.unwrap_or(0)));
                }
                EventBody::Crash { target, excerpt: Some(excerpt), detector: Some(detector), .. }
                    if wanted(&target.session) =>
                {
                    crashes.entry(target).or_default().insert(detector, excerpt);
                }
                EventBody::AgentHook { target: Some(target), event, raw: Some(raw), .. }
                    if event == RATE_LIMITED && wanted(&target.session) =>
                {
                    if let Some(line) = limit_line(&raw) {
                        limit_lines.insert(target, line);
                    }
                }
                EventBody::PaneState { target, cwd, command, cmdline, layout } if wanted(&target.session) => {
                    states.insert(target, PaneState { cwd, command, cmdline, layout });
                }
                _ => {}
            }
        }
        self.sessions = sessions;
        self.windows = windows;
        self.last = last;
        self.logged_crashes = crashes;
        self.states = states;
        if let Some((_, seen)) = &mut self.limits {
            *seen = limit_lines;
        }
    }

    /// Whether `pane` is recorded ([`Options::sessions`]): the polling loop
    /// captures and observes only these.
    pub fn wants(&self, pane: &Pane) -> bool {
        self.only.is_empty() || self.only.contains(&pane.target.session)
    }

    /// The totals so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// One poll: `panes` is the whole (wanted) layout, `captures[i]` the
    /// text of `panes[i]` (`None`: not captured this time; missing entries
    /// count as `None`), `ts_ns` the time of the poll (UTC ns), given to
    /// every event. Returns the events to append, lifecycle events first
    /// (opened, renamed, closed), then the changed `pane_state`s, then per
    /// pane its crashes and capture.
    pub fn observe(&mut self, panes: &[Pane], captures: &[Option<String>], ts_ns: i64) -> Vec<Event> {
        let mut events = self.layout(panes, ts_ns);
        self.last.retain(|t, _| panes.iter().any(|p| p.target == *t));
        self.states.retain(|t, _| panes.iter().any(|p| p.target == *t));
        self.cmdlines.retain(|t, _| panes.iter().any(|p| p.target == *t));
        for pane in panes {
            self.pane_state(pane, ts_ns, &mut events);
        }
        for (i, pane) in panes.iter().enumerate() {
            let Some(Some(text)) = captures.get(i) else { continue };
            self.pane(pane, text, ts_ns, &mut events);
        }
        self.stats.polls += 1;
        self.stats.panes = panes.len();
        self.stats.events += events.len() as u64;
        events
    }

    /// The server went away: `session_closed` for every session of the
    /// last poll (which are then forgotten).
    pub fn server_gone(&mut self, ts_ns: i64) -> Vec<Event> {
        let events: Vec<Event> = std::mem::take(&mut self.sessions)
            .into_iter()
            .map(|session| event(ts_ns, EventBody::SessionClosed { session }))
            .collect();
        self.windows.clear();
        self.stats.events += events.len() as u64;
        events
    }

    /// Lifecycle events from the difference between the previous layout
    /// and `panes`, which becomes the previous layout.
    fn layout(&mut self, panes: &[Pane], ts_ns: i64) -> Vec<Event> {
        let mut events = Vec::new();
        let sessions: BTreeSet<String> = panes.iter().map(|p| p.target.session.clone()).collect();
        for s in sessions.difference(&self.sessions) {
            events.push(event(ts_ns, EventBody::SessionOpened { session: s.clone() }));
        }
        let mut windows: BTreeMap<(String, u32), (Target, String)> = BTreeMap::new();
        for p in panes {
            let key = (p.target.session.clone(), p.target.window);
            let entry = windows.entry(key).or_insert_with(|| (p.target.clone(), p.window_name.clone()));
            if p.target.pane < entry.0.pane {
                entry.0 = p.target.clone();
            }
        }
        for (key, (target, name)) in &windows {
            let body = match self.windows.get(key) {
                None => EventBody::WindowOpened { target: target.clone(), name: Some(name.clone()) },
                Some((_, old)) if old != name => {
                    EventBody::WindowRenamed { target: target.clone(), name: Some(name.clone()) }
                }
                Some(_) => continue,
            };
            events.push(event(ts_ns, body));
        }
        for (key, (target, _)) in &self.windows {
            if !windows.contains_key(key) && sessions.contains(&key.0) {
                events.push(event(ts_ns, EventBody::WindowClosed { target: target.clone() }));
            }
        }
        for s in self.sessions.difference(&sessions) {
            events.push(event(ts_ns, EventBody::SessionClosed { session: s.clone() }));
        }
        self.sessions = sessions;
        self.windows = windows;
        events
    }

    /// A `pane_state` for `p` when its directory, command, command line or
    /// window layout differs from the last one recorded.
    fn pane_state(&mut self, p: &Pane, ts_ns: i64, events: &mut Vec<Event>) {
        let read = self.read_cmdline;
        let seen = self.cmdlines.get(&p.target);
        let cmdline = match seen {
            Some((pid, command, line)) if *pid == p.pid && *command == p.command => line.clone(),
            _ => {
                let line = read(p.pid, &p.command);
                self.cmdlines.insert(p.target.clone(), (p.pid, p.command.clone(), line.clone()));
                line
            }
        };
        let cmdline = match cmdline {
            Some(line) if self.redact => Some(redact(&line).into_owned()),
            other => other,
        };
        let state = PaneState {
            cwd: non_empty(&p.cwd),
            command: non_empty(&p.command),
            cmdline,
            layout: non_empty(&p.layout),
        };
        if self.states.get(&p.target) == Some(&state) {
            return;
        }
        self.states.insert(p.target.clone(), state.clone());
        let PaneState { cwd, command, cmdline, layout } = state;
        events.push(event(
            ts_ns,
            EventBody::PaneState { target: p.target.clone(), cwd, command, cmdline, layout },
        ));
    }

    /// One pane's crashes and (changed) capture.
    fn pane(&mut self, p: &Pane, text: &str, ts_ns: i64, events: &mut Vec<Event>) {
        let content = if self.redact { redact(text).into_owned() } else { text.to_owned() };
        if let Some(logged) = self.logged_crashes.remove(&p.target) {
            for (detector, excerpt) in logged {
                self.detector.acknowledge(&p.target.to_string(), &content, &detector, &excerpt);
            }
        }
        if self.detect_crashes {
            if let Some(program) = self.prompts.observe(&p.target, &p.command) {
                let tail: Vec<&str> = content.trim_end().lines().rev().take(8).collect();
                let excerpt = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                let reason = format!("{program} exited and the shell prompt returned");
                events.push(self.crash(p, ts_ns, reason, excerpt, "prompt-returned".into()));
            }
            for f in self.detector.observe(&p.target.to_string(), &content) {
                events.push(self.crash(p, ts_ns, f.reason, f.excerpt, f.detector));
            }
        }
        if let Some((patterns, seen)) = &mut self.limits {
            match crate::limits::find(patterns, &content, ts_ns) {
                Some(b) if seen.get(&p.target) != Some(&b.line) => {
                    seen.insert(p.target.clone(), b.line.clone());
                    events.push(limit_event(&p.target, &b, ts_ns));
                }
                Some(_) => {}
                None => {
                    seen.remove(&p.target);
                }
            }
        }
        let hash = *blake3::hash(content.as_bytes()).as_bytes();
        if self.last.get(&p.target) == Some(&(hash, p.width, p.height)) {
            return;
        }
        self.last.insert(p.target.clone(), (hash, p.width, p.height));
        self.stats.captures += 1;
        self.stats.capture_bytes += content.len() as u64;
        events.push(event(
            ts_ns,
            EventBody::Capture {
                target: p.target.clone(),
                content,
                width: Some(p.width),
                height: Some(p.height),
                cursor_x: Some(p.cursor_x),
                cursor_y: Some(p.cursor_y),
            },
        ));
    }

    fn crash(&mut self, p: &Pane, ts_ns: i64, reason: String, excerpt: String, detector: String) -> Event {
        self.stats.crashes += 1;
        event(
            ts_ns,
            EventBody::Crash {
                target: p.target.clone(),
                reason,
                excerpt: Some(excerpt),
                detector: Some(detector),
            },
        )
    }
}

fn event(ts_ns: i64, body: EventBody) -> Event {
    Event { ts_ns, id: None, body }
}

/// The `event` of the `agent_hook` that says a pane shows a usage-limit banner.
pub const RATE_LIMITED: &str = "RateLimited";

/// The `agent_hook` event saying `target` shows usage-limit banner `b`
/// (seen at `ts_ns`): `event` [`RATE_LIMITED`], `raw` the JSON object
/// `{"banner": LINE, "detector": NAME, "resets_at": RFC 3339 or absent}`,
/// id `limit:TARGET:HASH:RESET` (BLAKE3 of the line; the reset time in
/// ns, 0 when unknown), so the same banner for the same reset is stored once
/// whoever sees it (the recorder after a restart, the hook's notification).
pub fn limit_event(target: &Target, b: &crate::limits::Banner, ts_ns: i64) -> Event {
    let mut raw = serde_json::Map::new();
    raw.insert("banner".into(), b.line.clone().into());
    raw.insert("detector".into(), b.detector.clone().into());
    if let Some(r) = b.resets_at_ns {
        raw.insert("resets_at".into(), orc_log_schemas::format_rfc3339(r).into());
    }
    let hash = blake3::hash(b.line.as_bytes()).to_hex();
    Event {
        ts_ns,
        id: Some(format!("limit:{target}:{}:{}", &hash[..16], b.resets_at_ns.unwrap_or(0))),
        body: EventBody::AgentHook {
            target: Some(target.clone()),
            agent_session_id: None,
            event: RATE_LIMITED.to_owned(),
            raw: Some(serde_json::Value::Object(raw).to_string()),
        },
    }
}

/// The banner line of a [`limit_event`]'s `raw`.
fn limit_line(raw: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(raw).ok()?.get("banner")?.as_str().map(str::to_owned)
}

/// When the polling loop polls and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between polls (the first poll is at once). A late poll delays
    /// the next ones; missed polls are not made up.
    pub interval: Duration,
    /// Stop after this long; `None`: until the server goes away or the
    /// caller stops the loop.
    pub duration: Option<Duration>,
}

/// Why [`record`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The caller's `stop` said so.
    Stopped,
    /// [`Schedule::duration`] passed.
    Elapsed,
    /// The tmux server went away (or never ran); the sessions it had were
    /// closed with `session_closed` events.
    ServerGone,
}

/// Where [`record`] hands the events. Any `FnMut(Vec<Event>) -> Result<(),
/// E>` is a sink.
pub trait Sink {
    /// The sink's error; tmux errors become it too.
    type Error: From<Error>;

    /// Stores one poll's events (never empty), in order.
    ///
    /// # Errors
    /// Whatever storing them failed with; it ends the loop.
    fn append(&mut self, events: Vec<Event>) -> Result<(), Self::Error>;

    /// Called after every poll with the totals so far (e.g. for a progress
    /// line); does nothing by default.
    fn polled(&mut self, _stats: &Stats) {}
}

impl<F, E> Sink for F
where
    F: FnMut(Vec<Event>) -> Result<(), E>,
    E: From<Error>,
{
    type Error = E;

    fn append(&mut self, events: Vec<Event>) -> Result<(), E> {
        self(events)
    }
}

/// How often [`record`] checks `stop` while it waits.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// The polling loop: every [`Schedule::interval`] it lists `tmux`'s panes,
/// keeps the ones the recorder [wants](Recorder::wants), captures them in
/// one batch, and hands [`Recorder::observe`]'s events to `sink`. Blocks
/// the calling thread; `stop` is checked at least every 50 ms and between
/// tmux calls.
///
/// When the server goes away the sessions seen last are closed
/// ([`Recorder::server_gone`]) and the loop ends with [`End::ServerGone`].
///
/// # Errors
/// Any other tmux failure (converted into the sink's error), unless `stop`
/// became true meanwhile (then [`End::Stopped`]: an interrupt kills tmux
/// clients too), or the sink's error. Events of a poll whose append failed
/// are not retried.
pub fn record<S: Sink>(
    tmux: &Tmux,
    recorder: &mut Recorder,
    schedule: Schedule,
    stop: impl Fn() -> bool,
    sink: &mut S,
) -> Result<End, S::Error> {
    let started = Instant::now();
    let mut next = started;
    loop {
        loop {
            if stop() {
                return Ok(End::Stopped);
            }
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(STOP_CHECK));
        }
        if schedule.duration.is_some_and(|d| started.elapsed() >= d) {
            return Ok(End::Elapsed);
        }
        let polled = tmux.list_panes().and_then(|panes| {
            let panes: Vec<Pane> = panes.into_iter().filter(|p| recorder.wants(p)).collect();
            let captures = tmux.capture_panes(&panes)?;
            Ok((panes, captures))
        });
        let (panes, captures) = match polled {
            Ok(p) => p,
            Err(e) if e.is_no_server() => {
                let closing = recorder.server_gone(now_ns());
                if !closing.is_empty() {
                    sink.append(closing)?;
                }
                return Ok(End::ServerGone);
            }
            Err(_) if stop() => return Ok(End::Stopped),
            Err(e) => return Err(e.into()),
        };
        let events = recorder.observe(&panes, &captures, now_ns());
        if !events.is_empty() {
            sink.append(events)?;
        }
        sink.polled(recorder.stats());
        next = (next + schedule.interval).max(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_log_schemas::Kind;

    fn pane(target: &str, window_name: &str, command: &str) -> Pane {
        Pane {
            target: target.parse().unwrap(),
            id: format!("%{target}"),
            window_name: window_name.to_owned(),
            width: 80,
            height: 24,
            cursor_x: 0,
            cursor_y: 0,
            command: command.to_owned(),
            pid: 0,
            cwd: String::new(),
            layout: String::new(),
        }
    }

    fn texts(texts: &[&str]) -> Vec<Option<String>> {
        texts.iter().map(|t| Some((*t).to_owned())).collect()
    }

    /// A usage-limit banner is reported once while it stays on screen, again
    /// after it went away and came back, and not again by a recorder that
    /// resumes from the log.
    #[test]
    fn a_usage_limit_banner_is_reported_once_while_on_screen() {
        let panes = [pane("t:0.0", "w", "claude")];
        let banner = "> go on\nYou've hit your limit · resets 3pm (UTC)\n";
        let limits = |events: &[Event]| -> Vec<Event> {
            events
                .iter()
                .filter(|e| matches!(&e.body, EventBody::AgentHook { event, .. } if event == RATE_LIMITED))
                .cloned()
                .collect()
        };
        let day = orc_log_schemas::parse_rfc3339("2026-12-01T09:00:00Z").unwrap();
        let mut r = Recorder::new(Options::default());
        let first = limits(&r.observe(&panes, &texts(&[banner]), day));
        assert_eq!(first.len(), 1);
        let EventBody::AgentHook { raw: Some(raw), target, .. } = &first[0].body else { panic!() };
        assert_eq!(target.as_ref().map(ToString::to_string).as_deref(), Some("t:0.0"));
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(v["resets_at"], "2026-12-01T15:00:00Z");
        assert_eq!(v["banner"], "You've hit your limit · resets 3pm (UTC)");
        assert!(limits(&r.observe(&panes, &texts(&[&format!("{banner}more")]), day + 1)).is_empty());
        let mut resumed = Recorder::new(Options::default());
        resumed.resume(first.clone());
        assert!(limits(&resumed.observe(&panes, &texts(&[banner]), day + 2)).is_empty());
        assert!(limits(&r.observe(&panes, &texts(&["working again"]), day + 3)).is_empty());
        assert_eq!(limits(&r.observe(&panes, &texts(&[banner]), day + 4)).len(), 1);
        let off = Recorder::new(Options { detect_limits: false, ..Options::default() }).observe(
            &panes,
            &texts(&[banner]),
            day,
        );
        assert!(limits(&off).is_empty());
    }

    /// The kinds of the events other than `pane_state` (which
    /// `pane_states_are_recorded_when_they_change` checks).
    fn kinds(events: &[Event]) -> Vec<Kind> {
        events.iter().map(Event::kind).filter(|k| *k != Kind::PaneState).collect()
    }

    /// `(kind, target or session)` of each event but `pane_state`, for layout checks.
    fn summary(events: &[Event]) -> Vec<(Kind, String)> {
        events
            .iter()
            .filter(|e| e.kind() != Kind::PaneState)
            .map(|e| {
                let what = match &e.body {
                    EventBody::SessionOpened { session } | EventBody::SessionClosed { session } => {
                        session.clone()
                    }
                    EventBody::WindowOpened { target, name } | EventBody::WindowRenamed { target, name } => {
                        format!("{target} {}", name.as_deref().unwrap_or(""))
                    }
                    EventBody::WindowClosed { target }
                    | EventBody::Capture { target, .. }
                    | EventBody::Crash { target, .. } => target.to_string(),
                    other => format!("{other:?}"),
                };
                (e.kind(), what)
            })
            .collect()
    }

    #[test]
    fn layout_changes_become_lifecycle_events() {
        let mut r = Recorder::new(Options::default());
        let a = [pane("s:0.1", "main", "bash"), pane("s:0.0", "main", "bash"), pane("s:1.0", "logs", "bash")];
        let events = r.observe(&a, &[], 7);
        assert!(events.iter().all(|e| e.ts_ns == 7));
        assert_eq!(
            summary(&events),
            [
                (Kind::SessionOpened, "s".into()),
                (Kind::WindowOpened, "s:0.0 main".into()),
                (Kind::WindowOpened, "s:1.0 logs".into()),
            ]
        );
        assert_eq!(events.iter().filter(|e| e.kind() == Kind::PaneState).count(), 3, "one per new pane");
        assert!(r.observe(&a, &[], 8).is_empty(), "an unchanged layout says nothing");
        let b = [pane("s:0.0", "renamed", "bash"), pane("t:0.0", "w", "bash")];
        assert_eq!(
            summary(&r.observe(&b, &[], 9)),
            [
                (Kind::SessionOpened, "t".into()),
                (Kind::WindowRenamed, "s:0.0 renamed".into()),
                (Kind::WindowOpened, "t:0.0 w".into()),
                (Kind::WindowClosed, "s:1.0".into()),
            ]
        );
        // A closed session closes its windows implicitly: no window_closed.
        assert_eq!(summary(&r.observe(&b[1..], &[], 10)), [(Kind::SessionClosed, "s".into())]);
        assert_eq!(summary(&r.server_gone(11)), [(Kind::SessionClosed, "t".into())]);
        assert!(r.server_gone(12).is_empty());
        // 9 lifecycle events and 4 pane_states (3 panes, then t:0.0).
        assert_eq!(r.stats().events, 13);
    }

    #[test]
    fn captures_only_when_text_or_size_changes() {
        let mut r = Recorder::new(Options::default());
        let mut p = [pane("s:0.0", "w", "bash")];
        assert_eq!(
            kinds(&r.observe(&p, &texts(&["$ "]), 1)),
            [Kind::SessionOpened, Kind::WindowOpened, Kind::Capture]
        );
        assert!(r.observe(&p, &texts(&["$ "]), 2).is_empty());
        assert!(r.observe(&p, &[None], 3).is_empty(), "not captured this time");
        assert_eq!(kinds(&r.observe(&p, &texts(&["$ ls"]), 4)), [Kind::Capture]);
        p[0].width = 100;
        let events = r.observe(&p, &texts(&["$ ls"]), 5);
        match &events[..] {
            [Event { body: EventBody::Capture { content, width, .. }, .. }] => {
                assert_eq!((content.as_str(), *width), ("$ ls", Some(100)));
            }
            other => panic!("{other:?}"),
        }
        // A pane that closes and reopens is captured again.
        r.observe(&[], &[], 6);
        assert_eq!(kinds(&r.observe(&p, &texts(&["$ ls"]), 7)).last(), Some(&Kind::Capture));
        assert_eq!(r.stats().captures, 4);
        assert_eq!(r.stats().capture_bytes, 2 + 4 * 3);
        assert_eq!(r.stats().polls, 7);
    }

    #[test]
    fn secrets_are_redacted_unless_turned_off() {
        let p = [pane("s:0.0", "w", "bash")];
        let text = texts(&["key AKIAIOSFODNN7EXAMPLE"]);
        let content = |events: Vec<Event>| match events.into_iter().last().map(|e| e.body) {
            Some(EventBody::Capture { content, .. }) => content,
            other => panic!("{other:?}"),
        };
        let mut r = Recorder::new(Options::default());
        assert_eq!(content(r.observe(&p, &text, 1)), "key [REDACTED:aws-access-key-id]");
        let mut r = Recorder::new(Options { redact: false, ..Options::default() });
        assert_eq!(content(r.observe(&p, &text, 1)), "key AKIAIOSFODNN7EXAMPLE");
    }

    #[test]
    fn a_traceback_seen_twice_is_one_crash() {
        let tb = "$ python3 x.py\nTraceback (most recent call last):\n  File \"x.py\"\nImportError: no\n$ ";
        let p = [pane("s:0.0", "w", "bash")];
        let mut r = Recorder::new(Options::default());
        assert!(!kinds(&r.observe(&p, &texts(&[tb]), 1)).contains(&Kind::Crash), "not yet confirmed");
        let events = r.observe(&p, &texts(&[tb]), 2);
        match &events[..] {
            [Event { body: EventBody::Crash { target, detector, excerpt, .. }, .. }] => {
                assert_eq!(target.to_string(), "s:0.0");
                assert_eq!(detector.as_deref(), Some("python-traceback"));
                assert!(excerpt.as_deref().is_some_and(|e| e.contains("ImportError")));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.observe(&p, &texts(&[tb]), 3).is_empty(), "once per incident");
        assert_eq!(r.stats().crashes, 1);
        let mut off = Recorder::new(Options { detect_crashes: false, ..Options::default() });
        for ts in 0..3 {
            assert!(!kinds(&off.observe(&p, &texts(&[tb]), ts)).contains(&Kind::Crash));
        }
    }

    #[test]
    fn a_resumed_recorder_logs_nothing_the_log_already_has() {
        let tb = "$ python3 x.py\nTraceback (most recent call last):\n  File \"x.py\"\nImportError: no\n$ ";
        let p = [pane("s:0.0", "w", "bash"), pane("s:1.0", "x", "bash"), pane("t:0.0", "y", "bash")];
        let text = texts(&[tb, "$ ", "$ top"]);
        let mut first = Recorder::new(Options::default());
        let mut history = first.observe(&p, &text, 1);
        history.extend(first.observe(&p, &text, 2));
        assert_eq!(kinds(&history).iter().filter(|k| **k == Kind::Crash).count(), 1);
        // A restarted recorder sees the same screens: nothing new happened.
        let mut again = Recorder::new(Options::default());
        again.resume(history.clone());
        for ts in 3..6 {
            assert_eq!(kinds(&again.observe(&p, &text, ts)), [], "poll at {ts}");
        }
        // A new traceback below the old one is a new incident; a changed
        // screen is captured; a session gone meanwhile is closed.
        let two = format!("{tb}python3 x.py\nTraceback (most recent call last):\nImportError: no\n$ ");
        let mut third = Recorder::new(Options::default());
        third.resume(history);
        let q = [pane("s:0.0", "w", "bash"), pane("s:1.0", "x", "bash")];
        assert_eq!(kinds(&third.observe(&q, &texts(&[&two, "$ "]), 3)), [Kind::SessionClosed, Kind::Capture]);
        assert_eq!(kinds(&third.observe(&q, &texts(&[&two, "$ "]), 4)), [Kind::Crash]);
    }

    #[test]
    fn an_agent_exiting_to_the_prompt_is_one_crash() {
        let mut r = Recorder::new(Options { agent_min_polls: 3, ..Options::default() });
        let mut crashes = Vec::new();
        let commands = ["bash", "bash", "claude", "claude", "claude", "bash", "bash", "bash"];
        for (ts, command) in commands.into_iter().enumerate() {
            let p = [pane("s:0.0", "w", command)];
            let events = r.observe(&p, &texts(&["last line"]), ts as i64);
            crashes.extend(events.into_iter().filter(|e| e.kind() == Kind::Crash).map(|e| (e.ts_ns, e.body)));
        }
        match &crashes[..] {
            [(6, EventBody::Crash { reason, detector, excerpt, .. })] => {
                assert_eq!(reason, "claude exited and the shell prompt returned");
                assert_eq!(detector.as_deref(), Some("prompt-returned"));
                assert_eq!(excerpt.as_deref(), Some("last line"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_program_exiting_to_the_prompt_is_reported_once_after_two_polls() {
        let t: Target = "s:0.0".parse().unwrap();
        let mut w = PromptWatch::new(polls_for(Duration::from_secs(3), Duration::from_secs(1)));
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

    fn fake_cmdline(pid: u32, command: &str) -> Option<String> {
        (pid != 0).then(|| format!("{command} --pid {pid} --token AKIAIOSFODNN7EXAMPLE"))
    }

    fn states(events: &[Event]) -> Vec<(String, EventBody)> {
        events
            .iter()
            .filter(|e| e.kind() == Kind::PaneState)
            .map(|e| (e.body.target().unwrap().to_string(), e.body.clone()))
            .collect()
    }

    #[test]
    fn pane_states_are_recorded_when_they_change() {
        let mut r = Recorder::new(Options { cmdline: fake_cmdline, ..Options::default() });
        let mut p = [pane("s:0.0", "w", "bash"), pane("s:0.1", "w", "claude")];
        for (i, q) in p.iter_mut().enumerate() {
            q.pid = 100 + i as u32;
            q.cwd = format!("/work/{i}");
            q.layout = "aa,80x24,0,0{40x24,0,0,1,39x24,41,0,2}".into();
        }
        let first = states(&r.observe(&p, &[], 1));
        assert_eq!(first.len(), 2);
        match &first[1] {
            (t, EventBody::PaneState { cwd, command, cmdline, layout, .. }) => {
                assert_eq!(t, "s:0.1");
                assert_eq!(cwd.as_deref(), Some("/work/1"));
                assert_eq!(command.as_deref(), Some("claude"));
                // The command line is redacted like a capture.
                assert_eq!(cmdline.as_deref(), Some("claude --pid 101 --token [REDACTED:aws-access-key-id]"));
                assert_eq!(layout.as_deref(), Some("aa,80x24,0,0{40x24,0,0,1,39x24,41,0,2}"));
            }
            other => panic!("{other:?}"),
        }
        assert!(states(&r.observe(&p, &[], 2)).is_empty(), "nothing changed, nothing recorded");
        // A directory change is one event for that pane; a layout change one per pane of the window.
        p[0].cwd = "/elsewhere".into();
        let moved = states(&r.observe(&p, &[], 3));
        assert_eq!(moved.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["s:0.0"]);
        for q in &mut p {
            q.layout = "bb,80x24,0,0[80x12,0,0,1,80x11,0,13,2]".into();
        }
        assert_eq!(states(&r.observe(&p, &[], 4)).len(), 2);
        // A resumed recorder does not record the same states again.
        let history =
            Recorder::new(Options { cmdline: fake_cmdline, ..Options::default() }).observe(&p, &[], 6);
        let mut again = Recorder::new(Options { cmdline: fake_cmdline, ..Options::default() });
        again.resume(history);
        assert!(states(&again.observe(&p, &[], 7)).is_empty());
        p[1].command = "bash".into();
        match &states(&again.observe(&p, &[], 8))[..] {
            [(t, EventBody::PaneState { command, cmdline, .. })] => {
                assert_eq!(t, "s:0.1");
                assert_eq!(command.as_deref(), Some("bash"));
                assert!(cmdline.as_deref().is_some_and(|c| c.starts_with("bash --pid 101")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn polls_for_rounds_up_and_is_at_least_one() {
        assert_eq!(polls_for(Duration::from_secs(30), Duration::from_secs(1)), 30);
        assert_eq!(polls_for(Duration::from_millis(1000), Duration::from_millis(300)), 4);
        assert_eq!(polls_for(Duration::ZERO, Duration::from_secs(1)), 1);
    }

    #[test]
    fn the_session_filter_selects_panes() {
        let r = Recorder::new(Options { sessions: ["keep".to_owned()].into(), ..Options::default() });
        assert!(r.wants(&pane("keep:0.0", "w", "bash")));
        assert!(!r.wants(&pane("skip:0.0", "w", "bash")));
        assert!(Recorder::new(Options::default()).wants(&pane("any:0.0", "w", "bash")));
    }
}
