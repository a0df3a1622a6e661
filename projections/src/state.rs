//! The `state` projection: sessions, panes and schedules as they are now
//! (or were at a point in the log).
//!
//! `apply` only records facts (times, counts, flags). Time-dependent statuses
//! (`idle`, `overdue`) are derived in [`State::view`] against a reference time,
//! so the same log prefix always folds to the same state.
//!
//! The state is bounded by the size of the team, not the length of the log:
//! its maps grow with the sessions, windows, panes and sender names seen,
//! each pane keeps one value per fact (the latest message, prompt, crash,
//! capture content), and the schedules are the pending ones plus a few
//! recently fired or long-overdue ones per pane ([`crate::schedules`]); the
//! whole schedule history is in SQL (the `schedules` table and the
//! `schedule_fired` events).

use crate::content::ContentTracker;
use crate::projection::Projection;
use crate::schedules::Schedules;
use orc_log_engine::EventMeta;
use orc_log_schemas::{Event, EventBody, Target, format_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default idle threshold: no content change for this long, in seconds.
pub const DEFAULT_IDLE_SECS: u64 = 300;

/// A fact meaning "the latest": its value and the event time (UTC ns) that
/// set it. Only an event at least as new replaces it, so a back-dated event
/// (an import of an older session, `emit --ts` in the past, a writer whose
/// append raced another's) is counted but never moves it backwards; events
/// with equal times apply in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Latest<T> {
    ts: i64,
    value: T,
}

/// Not set yet: any event time replaces it.
impl<T: Default> Default for Latest<T> {
    fn default() -> Self {
        Self { ts: i64::MIN, value: T::default() }
    }
}

impl<T> Latest<T> {
    /// A fact set at `ts` (UTC ns).
    fn new(ts: i64, value: T) -> Self {
        Self { ts, value }
    }

    /// Sets the value when `ts` (UTC ns) is not older than the current one's;
    /// true when it did.
    fn set(&mut self, ts: i64, value: T) -> bool {
        if ts < self.ts {
            return false;
        }
        self.ts = ts;
        self.value = value;
        true
    }
}

impl<T> Latest<Option<T>> {
    /// The value as an option of a reference.
    fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }
}

/// Facts about one pane. Counters count every event; each fact meaning
/// "the latest" is a [`Latest`], ordered by event time, not log order.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PaneFacts {
    closed: Latest<bool>,
    /// A crash was signalled and the content has not changed since.
    crashed: Latest<bool>,
    captures: u64,
    crashes: u64,
    /// The newest crash: (ts, reason).
    last_crash: Latest<Option<(i64, String)>>,
    messages_in: u64,
    /// The newest message to the pane: (ts, from, text).
    last_message: Latest<Option<(i64, String, String)>>,
    last_capture_ts: Option<i64>,
    /// Newest time the content changed or the agent did something, or the
    /// pane was first seen.
    last_change_ts: i64,
    agent: Latest<Option<String>>,
    role: Latest<Option<String>>,
    /// The agent session seen last in the pane (Claude Code's `session_id`)
    /// and whether it is still running (no `agent_session` end since).
    agent_session: Latest<Option<(String, bool)>>,
    /// The tool call running now: (tool, ts of its "pre").
    current_tool: Latest<Option<(String, i64)>>,
    /// The last prompt: (ts, text).
    last_prompt: Latest<Option<(i64, String)>>,
    /// The agent finished responding and nothing happened since.
    stopped: Latest<bool>,
    /// The agent asked for permission and nothing happened since.
    waiting: Latest<bool>,
    tool_calls: u64,
    tool_failures: u64,
    /// The last `pane_state`: (cwd, command, cmdline). Absent from
    /// checkpoints written before the kind existed.
    #[serde(default)]
    restore: Latest<Option<Restore>>,
    /// Token usage and cost (`agent_usage`). Absent from checkpoints
    /// written before the kind existed.
    #[serde(default)]
    usage: crate::usage::PaneUsage,
    /// The usage limit the pane shows (an `agent_hook` `RateLimited`), until
    /// its agent acts again or a capture no longer shows the banner.
    #[serde(default)]
    limit: Latest<Option<Limit>>,
}

/// A usage limit a pane showed: the `RateLimited` event's seq, its banner
/// line and reset time (UTC ns, when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Limit {
    seq: u64,
    banner: String,
    resets_at_ns: Option<i64>,
}

/// The `event` of the `agent_hook` that says a pane shows a usage-limit
/// banner (written by `session record` and `orc-log hook`; `raw` is
/// `{"banner", "detector", "resets_at"}`).
pub const RATE_LIMITED: &str = "RateLimited";

/// A pane's last `pane_state`: (cwd, command, cmdline).
type Restore = (Option<String>, Option<String>, Option<String>);

impl PaneFacts {
    /// A pane first seen at `ts` (UTC ns): its "latest" facts start there,
    /// so an event older than the pane's first sighting (an import of an
    /// older session into a pane already recorded) is history, not its present.
    fn first_seen(ts: i64) -> Self {
        Self {
            closed: Latest::new(ts, false),
            crashed: Latest::new(ts, false),
            last_crash: Latest::new(ts, None),
            last_message: Latest::new(ts, None),
            last_change_ts: ts,
            agent: Latest::new(ts, None),
            role: Latest::new(ts, None),
            agent_session: Latest::new(ts, None),
            current_tool: Latest::new(ts, None),
            last_prompt: Latest::new(ts, None),
            stopped: Latest::new(ts, false),
            waiting: Latest::new(ts, false),
            limit: Latest::new(ts, None),
            ..Self::default()
        }
    }

    /// The pane changed at `ts`: the newest change time moves forward only.
    fn changed_at(&mut self, ts: i64) {
        self.last_change_ts = self.last_change_ts.max(ts);
    }

    /// The agent did something (a prompt, a tool call, a session start) at
    /// `ts`: it runs, so it is neither stopped, waiting nor crashed (unless
    /// one of those is newer).
    fn agent_active(&mut self, ts: i64) {
        self.changed_at(ts);
        self.stopped.set(ts, false);
        self.waiting.set(ts, false);
        self.crashed.set(ts, false);
        self.limit.set(ts, None);
    }
}

/// Whether a notification asks a person for something: Claude Code's
/// `notification_type` "permission_prompt", or, from versions that send only
/// the text, a message asking for permission.
pub fn needs_a_person(notification_type: Option<&str>, message: &str) -> bool {
    match notification_type {
        Some(t) => t == "permission_prompt",
        None => message.to_ascii_lowercase().contains("permission"),
    }
}

/// The state projection's folded facts. Serialized as its checkpoint.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    seq: u64,
    last_ts: Option<i64>,
    /// Session name -> open.
    sessions: BTreeMap<String, Latest<bool>>,
    /// `session:window` -> window name.
    windows: BTreeMap<String, Latest<String>>,
    /// `session:window` -> its layout (`#{window_layout}`) from the last
    /// `pane_state` of one of its panes.
    #[serde(default)]
    layouts: BTreeMap<String, Latest<String>>,
    panes: BTreeMap<Target, PaneFacts>,
    /// Sender (agent name or target) -> messages sent.
    senders: BTreeMap<String, u64>,
    /// Pending schedules, and a few recently fired or overdue ones per pane
    /// (bounded: see [`crate::schedules`]).
    schedules: Schedules,
    content: ContentTracker,
    /// Agent sessions' panes, and usage held until its pane is known.
    #[serde(default)]
    usage: crate::usage::Join,
}

fn window_key(t: &Target) -> String {
    format!("{}:{}", t.session, t.window)
}

impl State {
    fn pane(&mut self, target: &Target, ts: i64) -> &mut PaneFacts {
        if !self.sessions.contains_key(&target.session) {
            self.sessions.insert(target.session.clone(), Latest::new(ts, true));
        }
        crate::maps::get_or_insert(&mut self.panes, target, || PaneFacts::first_seen(ts))
    }

    /// The last seq folded in.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The ts of the last event folded in (UTC ns), if any.
    pub fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    /// The state as users see it, with statuses derived at `as_of_ns` (UTC ns):
    /// a pane is `closed` once its session or window closed, `crashed` from a
    /// crash signal until its content changes, `idle` when its content has not
    /// changed for `idle_secs`, else `active`. A schedule is `fired`, or
    /// `overdue` once due, else `pending`.
    pub fn view(&self, as_of_ns: i64, idle_secs: u64) -> StateView {
        let idle_ns = i64::try_from(idle_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
        let mut sessions: Vec<SessionView> = self
            .sessions
            .iter()
            .map(|(name, open)| SessionView { name: name.clone(), open: open.value, panes: Vec::new() })
            .collect();
        for (target, p) in &self.panes {
            let status = if p.closed.value {
                "closed"
            } else if p.crashed.value {
                "crashed"
            } else if p.limit.value.is_some() {
                "rate_limited"
            } else if p.waiting.value {
                "waiting"
            } else if p.stopped.value || as_of_ns.saturating_sub(p.last_change_ts) >= idle_ns {
                "idle"
            } else {
                "active"
            };
            let t = target.to_string();
            let messages_out = self.senders.get(&t).copied().unwrap_or(0)
                + p.agent.get().and_then(|a| self.senders.get(a)).copied().unwrap_or(0);
            let view = PaneView {
                target: t,
                name: self.windows.get(&window_key(target)).map(|n| n.value.clone()),
                agent: p.agent.value.clone(),
                role: p.role.value.clone(),
                status: status.to_owned(),
                captures: p.captures,
                crashes: p.crashes,
                last_crash: p
                    .last_crash
                    .get()
                    .map(|(ts, reason)| CrashView { ts: format_rfc3339(*ts), reason: reason.clone() }),
                messages_in: p.messages_in,
                messages_out,
                last_message: p.last_message.get().map(|(ts, from, text)| MessageView {
                    ts: format_rfc3339(*ts),
                    from: from.clone(),
                    text: text.clone(),
                }),
                last_capture_ts: p.last_capture_ts.map(format_rfc3339),
                last_change: format_rfc3339(p.last_change_ts),
                agent_session: p
                    .agent_session
                    .get()
                    .map(|(id, running)| AgentSessionView { id: id.clone(), running: *running }),
                current_tool: p
                    .current_tool
                    .get()
                    .map(|(tool, since)| ToolView { tool: tool.clone(), since: format_rfc3339(*since) }),
                last_prompt: p
                    .last_prompt
                    .get()
                    .map(|(ts, text)| PromptView { ts: format_rfc3339(*ts), text: text.clone() }),
                tool_calls: p.tool_calls,
                tool_failures: p.tool_failures,
                cwd: p.restore.get().and_then(|r| r.0.clone()),
                command: p.restore.get().and_then(|r| r.1.clone()),
                cmdline: p.restore.get().and_then(|r| r.2.clone()),
                layout: self.layouts.get(&window_key(target)).map(|l| l.value.clone()),
                rate_limit: p.limit.get().map(|l| RateLimitView {
                    seq: l.seq,
                    since: format_rfc3339(p.limit.ts),
                    banner: l.banner.clone(),
                    resets_at: l.resets_at_ns.map(format_rfc3339),
                }),
                usage: (p.usage.records > 0).then(|| {
                    let (cost_today, tokens_today) = p.usage.today(as_of_ns);
                    UsageView {
                        cost_usd: Dollars(p.usage.cost_nanos),
                        cost_today_usd: Dollars(cost_today),
                        tokens: p.usage.tokens,
                        tokens_today,
                    }
                }),
            };
            if let Some(s) = sessions.iter_mut().find(|s| s.name == target.session) {
                s.panes.push(view);
            }
        }
        let schedules = self
            .schedules
            .kept()
            .into_iter()
            .map(|(target, s)| ScheduleView {
                seq: s.seq,
                target: target.to_string(),
                note: s.note.clone(),
                due: format_rfc3339(s.due_ns),
                status: match s.fired_ts {
                    Some(_) => "fired",
                    None if s.due_ns <= as_of_ns => "overdue",
                    None => "pending",
                }
                .to_owned(),
                fired: s.fired_ts.map(format_rfc3339),
            })
            .collect();
        StateView { seq: self.seq, sessions, schedules }
    }
}

impl Projection for State {
    const NAME: &'static str = "state";
    const HISTORY_EVERY: u64 = crate::history::EVERY;

    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        let ts = event.ts_ns;
        self.seq = meta.seq;
        self.last_ts = Some(ts);
        match &event.body {
            EventBody::SessionOpened { session } => {
                crate::maps::get_or_insert(&mut self.sessions, session, || Latest::new(ts, true))
                    .set(ts, true);
            }
            EventBody::SessionClosed { session } => {
                let open = crate::maps::get_or_insert(&mut self.sessions, session, || Latest::new(ts, false));
                if open.set(ts, false) {
                    for (t, p) in self.panes.iter_mut() {
                        if t.session == *session {
                            p.closed.set(ts, true);
                        }
                    }
                }
            }
            EventBody::WindowOpened { target, name } | EventBody::WindowRenamed { target, name } => {
                if let Some(n) = name {
                    let key = window_key(target);
                    self.windows.entry(key).or_insert_with(|| Latest::new(ts, n.clone())).set(ts, n.clone());
                }
                self.pane(target, ts).closed.set(ts, false);
            }
            EventBody::WindowClosed { target } => {
                for (t, p) in self.panes.iter_mut() {
                    if t.session == target.session && t.window == target.window {
                        p.closed.set(ts, true);
                    }
                }
            }
            EventBody::AgentRegistered { target, role, name } => {
                let p = self.pane(target, ts);
                p.role.set(ts, Some(role.clone()));
                p.agent.set(ts, name.clone());
            }
            EventBody::Capture { target, content, .. } => {
                let changed = self.content.changed(target, content, ts);
                let p = self.pane(target, ts);
                p.captures += 1;
                p.last_capture_ts = Some(p.last_capture_ts.map_or(ts, |l| l.max(ts)));
                p.closed.set(ts, false);
                if changed {
                    p.changed_at(ts);
                    p.crashed.set(ts, false);
                }
                if p.limit.get().is_some_and(|l| !content.contains(l.banner.as_str())) {
                    p.limit.set(ts, None);
                }
            }
            EventBody::Crash { target, reason, .. } => {
                let p = self.pane(target, ts);
                p.crashes += 1;
                p.crashed.set(ts, true);
                p.last_crash.set(ts, Some((ts, reason.clone())));
            }
            EventBody::Message { from, to, text } => {
                let p = self.pane(to, ts);
                p.messages_in += 1;
                p.last_message.set(ts, Some((ts, from.clone(), text.clone())));
                *crate::maps::get_or_insert(&mut self.senders, from, || 0) += 1;
            }
            EventBody::Schedule { target, note, due_ns } => {
                self.pane(target, ts);
                self.schedules.schedule(target, meta.seq, ts, note, *due_ns);
            }
            EventBody::ScheduleFired { target, note } => {
                // The earliest unfired schedule kept for the pane (with the same note when given).
                self.schedules.fire(target, ts, note.as_deref());
            }
            EventBody::AgentSession { target: Some(target), agent_session_id, phase, .. } => {
                if phase == "start" {
                    for held in self.usage.started(agent_session_id, target, ts) {
                        self.pane(target, ts).usage.add(held);
                    }
                }
                let p = self.pane(target, ts);
                let running = phase == "start";
                if !p.agent_session.set(ts, Some((agent_session_id.clone(), running))) {
                    // An older session's start or end: history, not the present.
                } else if running {
                    p.agent_active(ts);
                } else {
                    p.current_tool.set(ts, None);
                    p.stopped.set(ts, true);
                    p.waiting.set(ts, false);
                }
            }
            EventBody::Prompt { target: Some(target), text, .. } => {
                let p = self.pane(target, ts);
                p.agent_active(ts);
                p.last_prompt.set(ts, Some((ts, text.clone())));
            }
            EventBody::ToolCall { target: Some(target), phase, tool, .. } => {
                let p = self.pane(target, ts);
                p.agent_active(ts);
                if phase == "pre" {
                    p.current_tool.set(ts, Some((tool.clone(), ts)));
                } else {
                    p.current_tool.set(ts, None);
                    p.tool_calls += 1;
                    if phase == "failure" {
                        p.tool_failures += 1;
                    }
                }
            }
            EventBody::Notification { target: Some(target), message, notification_type, .. } => {
                if needs_a_person(notification_type.as_deref(), message) {
                    self.pane(target, ts).waiting.set(ts, true);
                }
            }
            EventBody::AgentStop { target: Some(target), agent_id: None, .. } => {
                let p = self.pane(target, ts);
                p.stopped.set(ts, true);
                p.current_tool.set(ts, None);
            }
            EventBody::PaneState { target, cwd, command, cmdline, layout } => {
                if let Some(l) = layout {
                    let key = window_key(target);
                    self.layouts.entry(key).or_insert_with(|| Latest::new(ts, l.clone())).set(ts, l.clone());
                }
                let p = self.pane(target, ts);
                p.restore.set(ts, Some((cwd.clone(), command.clone(), cmdline.clone())));
            }
            body @ EventBody::AgentUsage { target, agent_session_id, .. } => {
                let amount = crate::usage::Amount::of(ts, body).unwrap_or_default();
                if let Some(t) = self.usage.attribute(target.as_ref(), agent_session_id.as_deref(), amount) {
                    self.pane(&t, ts).usage.add(amount);
                }
            }
            EventBody::AgentHook { target: Some(target), event: name, raw, .. } if name == RATE_LIMITED => {
                let parsed: Option<serde_json::Value> =
                    raw.as_deref().and_then(|r| serde_json::from_str(r).ok());
                let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k)).and_then(|v| v.as_str());
                if let Some(banner) = field("banner") {
                    let limit = Limit {
                        seq: meta.seq,
                        banner: banner.to_owned(),
                        resets_at_ns: field("resets_at").and_then(|r| orc_log_schemas::parse_rfc3339(r).ok()),
                    };
                    self.pane(target, ts).limit.set(ts, Some(limit));
                }
            }
            // Untargeted agent events, subagent stops, other hook events,
            // alerts, markers and resurrections change no pane.
            EventBody::AgentSession { target: None, .. }
            | EventBody::Prompt { target: None, .. }
            | EventBody::ToolCall { target: None, .. }
            | EventBody::Notification { target: None, .. }
            | EventBody::AgentStop { .. }
            | EventBody::AgentHook { .. }
            | EventBody::Alert { .. }
            | EventBody::Resurrected { .. }
            | EventBody::Redaction { .. }
            | EventBody::Marker { .. } => {}
        }
        Ok(())
    }
}

/// `state --format json`: `{"seq", "sessions": [...], "schedules": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateView {
    /// Last seq folded in.
    pub seq: u64,
    /// Sessions by name.
    pub sessions: Vec<SessionView>,
    /// The schedules kept (pending, overdue up to an hour past due and a
    /// few older, the last few fired, per pane: see
    /// [`crate::schedules`]), in log order.
    pub schedules: Vec<ScheduleView>,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    /// Session name.
    pub name: String,
    /// Whether it is open.
    pub open: bool,
    /// Its panes by target.
    pub panes: Vec<PaneView>,
}

/// One pane. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaneView {
    /// `session:window.pane`.
    pub target: String,
    /// Window name.
    pub name: Option<String>,
    /// Agent name from `agent_registered`.
    pub agent: Option<String>,
    /// Agent role from `agent_registered`.
    pub role: Option<String>,
    /// `active`, `idle`, `waiting` (the agent asked for permission: a
    /// person is needed), `rate_limited` (it shows a usage-limit banner),
    /// `crashed` or `closed`.
    pub status: String,
    /// Captures recorded.
    pub captures: u64,
    /// Crash signals.
    pub crashes: u64,
    /// Last crash signal.
    pub last_crash: Option<CrashView>,
    /// Messages sent to the pane.
    pub messages_in: u64,
    /// Messages sent by the pane (by target or agent name).
    pub messages_out: u64,
    /// Last message sent to the pane.
    pub last_message: Option<MessageView>,
    /// Time of the last capture.
    pub last_capture_ts: Option<String>,
    /// Last time the pane's content changed or its agent did something
    /// (first seen, if never).
    pub last_change: String,
    /// The agent session last seen in the pane (from hook events).
    pub agent_session: Option<AgentSessionView>,
    /// The tool call running now.
    pub current_tool: Option<ToolView>,
    /// The last prompt submitted to the pane's agent.
    pub last_prompt: Option<PromptView>,
    /// Tool calls finished (post or failure).
    pub tool_calls: u64,
    /// Tool calls that failed.
    pub tool_failures: u64,
    /// Working directory (`#{pane_current_path}`) from the last `pane_state`.
    pub cwd: Option<String>,
    /// Foreground command (`#{pane_current_command}`) from the last `pane_state`.
    pub command: Option<String>,
    /// Full command line of the foreground process from the last `pane_state`.
    pub cmdline: Option<String>,
    /// The window's layout string (`#{window_layout}`) from the last
    /// `pane_state` of any of its panes.
    pub layout: Option<String>,
    /// The usage limit the pane shows (status `rate_limited`).
    pub rate_limit: Option<RateLimitView>,
    /// Token usage and cost of the pane's agents (`agent_usage`), when any.
    pub usage: Option<UsageView>,
}

/// A usage limit a pane shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitView {
    /// Seq of the `agent_hook` `RateLimited` event.
    pub seq: u64,
    /// When it was seen.
    pub since: String,
    /// The banner line.
    pub banner: String,
    /// When the limit resets (UTC), when the banner says.
    pub resets_at: Option<String>,
}

/// A pane's token usage and cost. "Today" is the UTC day of the view's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageView {
    /// Total cost, US dollars.
    pub cost_usd: Dollars,
    /// Cost today, US dollars.
    pub cost_today_usd: Dollars,
    /// Tokens of every type, in total.
    pub tokens: u64,
    /// Tokens today.
    pub tokens_today: u64,
}

/// US dollars held as nano-dollars; serialized as a JSON number of dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dollars(pub u64);

impl Dollars {
    /// The amount in dollars.
    pub fn dollars(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Serialize for Dollars {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.dollars())
    }
}

/// An agent session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSessionView {
    /// Its id (Claude Code's `session_id`).
    pub id: String,
    /// No end seen yet.
    pub running: bool,
}

/// A running tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolView {
    /// Tool name.
    pub tool: String,
    /// When it started.
    pub since: String,
}

/// A prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptView {
    /// When.
    pub ts: String,
    /// Text.
    pub text: String,
}

/// A crash signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrashView {
    /// When.
    pub ts: String,
    /// Why.
    pub reason: String,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// When.
    pub ts: String,
    /// Sender.
    pub from: String,
    /// Text.
    pub text: String,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleView {
    /// Seq of the `schedule` event.
    pub seq: u64,
    /// The pane.
    pub target: String,
    /// Its note.
    pub note: String,
    /// When due.
    pub due: String,
    /// `pending`, `fired` or `overdue`.
    pub status: String,
    /// When it fired.
    pub fired: Option<String>,
}
