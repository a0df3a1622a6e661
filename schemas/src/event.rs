//! The v1 event kinds and their fields (`schemas/event-v1.schema.json`).

use crate::target::Target;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of an event: the `kind` field of format v1.
///
/// The numeric code ([`Kind::code`]) is stored on disk and must never change
/// for an existing kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A `tmux capture-pane` snapshot of one pane.
    Capture,
    /// A message typed into a pane by a script.
    Message,
    /// A check-in scheduled for later.
    Schedule,
    /// A scheduled check-in that fired.
    ScheduleFired,
    /// A crash signal for a pane.
    Crash,
    /// A free-form marker.
    Marker,
    /// A tmux session appeared.
    SessionOpened,
    /// A tmux session went away.
    SessionClosed,
    /// A tmux window appeared.
    WindowOpened,
    /// A tmux window was renamed.
    WindowRenamed,
    /// A tmux window went away.
    WindowClosed,
    /// An agent (role, name) was registered for a pane.
    AgentRegistered,
    /// An agent (Claude Code) session started or ended in a pane.
    AgentSession,
    /// A prompt a person or script submitted to an agent.
    Prompt,
    /// One phase of an agent's tool call: before it, after it, or its failure.
    ToolCall,
    /// An agent's notification (a permission request, an idle prompt...).
    Notification,
    /// An agent (or one of its subagents) finished responding.
    AgentStop,
    /// Any other agent hook event, kept whole (its raw payload).
    AgentHook,
    /// An alert rule fired (see `orc-log alerts`).
    Alert,
    /// What a restore needs to know about a pane: its working directory,
    /// foreground command, command line and its window's layout.
    PaneState,
    /// `orc-log resurrect` rebuilt panes: the old and new targets.
    Resurrected,
    /// An agent's token usage and cost for one request (or one metric
    /// point), from OpenTelemetry or a transcript.
    AgentUsage,
    /// `orc-log redact` rewrote stored bodies: their seqs and old and new
    /// body digests (never the matched text). Code 23.
    Redaction,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 23] = [
        Kind::Capture,
        Kind::Message,
        Kind::Schedule,
        Kind::ScheduleFired,
        Kind::Crash,
        Kind::Marker,
        Kind::SessionOpened,
        Kind::SessionClosed,
        Kind::WindowOpened,
        Kind::WindowRenamed,
        Kind::WindowClosed,
        Kind::AgentRegistered,
        Kind::AgentSession,
        Kind::Prompt,
        Kind::ToolCall,
        Kind::Notification,
        Kind::AgentStop,
        Kind::AgentHook,
        Kind::Alert,
        Kind::PaneState,
        Kind::Resurrected,
        Kind::AgentUsage,
        Kind::Redaction,
    ];

    /// The `kind` string of format v1, e.g. `"schedule_fired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Capture => "capture",
            Kind::Message => "message",
            Kind::Schedule => "schedule",
            Kind::ScheduleFired => "schedule_fired",
            Kind::Crash => "crash",
            Kind::Marker => "marker",
            Kind::SessionOpened => "session_opened",
            Kind::SessionClosed => "session_closed",
            Kind::WindowOpened => "window_opened",
            Kind::WindowRenamed => "window_renamed",
            Kind::WindowClosed => "window_closed",
            Kind::AgentRegistered => "agent_registered",
            Kind::AgentSession => "agent_session",
            Kind::Prompt => "prompt",
            Kind::ToolCall => "tool_call",
            Kind::Notification => "notification",
            Kind::AgentStop => "agent_stop",
            Kind::AgentHook => "agent_hook",
            Kind::Alert => "alert",
            Kind::PaneState => "pane_state",
            Kind::Resurrected => "resurrected",
            Kind::AgentUsage => "agent_usage",
            Kind::Redaction => "redaction",
        }
    }

    /// Looks a kind up by its format v1 name; `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The on-disk code, 1..=23: the position in [`Kind::ALL`] plus one.
    pub fn code(self) -> u8 {
        // ALL is in code order; the position is the code minus one.
        Kind::ALL.iter().position(|k| *k == self).map_or(0, |i| i as u8 + 1)
    }

    /// The kind's position in [`Kind::ALL`], 0..`Kind::ALL.len()` (for
    /// per-kind arrays): its code minus one.
    pub fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The kind for an on-disk code; `None` for an unknown code.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as appended: time, optional producer id, and the kind's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Event time, UTC nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// Producer id (at most 128 bytes); an event whose id is already in the
    /// log is not appended again.
    pub id: Option<String>,
    /// The kind-specific fields.
    pub body: EventBody,
}

/// An event with the log position the engine gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Gapless log position, starting at 1.
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// The fields of each kind (`schemas/event-v1.schema.json`). Times are UTC nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the fields are the format v1 fields of the same name
pub enum EventBody {
    /// `tmux capture-pane -p -e -J` text (may hold ANSI SGR escapes), with the
    /// pane size and cursor position in cells.
    Capture {
        target: Target,
        content: String,
        width: Option<u32>,
        height: Option<u32>,
        cursor_x: Option<u32>,
        cursor_y: Option<u32>,
    },
    /// `from` is an agent name or target; `to` the pane the text was typed into.
    Message { from: String, to: Target, text: String },
    /// A check-in for `target`, due at `due_ns`.
    Schedule { target: Target, note: String, due_ns: i64 },
    /// A check-in that fired.
    ScheduleFired { target: Target, note: Option<String> },
    /// A crash signal and what detected it.
    Crash { target: Target, reason: String, excerpt: Option<String>, detector: Option<String> },
    /// A labelled point in the log.
    Marker { label: String, target: Option<Target> },
    /// A session appeared.
    SessionOpened { session: String },
    /// A session went away.
    SessionClosed { session: String },
    /// A window appeared (`target` is its pane 0 unless given).
    WindowOpened { target: Target, name: Option<String> },
    /// A window was renamed to `name`.
    WindowRenamed { target: Target, name: Option<String> },
    /// A window went away.
    WindowClosed { target: Target },
    /// An agent with `role` (orchestrator, project_manager, engineer, or any
    /// word) and optional `name` works in `target`.
    AgentRegistered { target: Target, role: String, name: Option<String> },
    /// An agent session (`agent_session_id`, Claude Code's `session_id`)
    /// started (`phase` "start", `reason` its `source`: startup, resume,
    /// clear, compact) or ended (`phase` "end", `reason` why). `raw` is the
    /// hook payload (redacted, at most [`crate::ndjson::MAX_RAW_BYTES`]).
    AgentSession {
        target: Option<Target>,
        agent_session_id: String,
        phase: String,
        reason: Option<String>,
        cwd: Option<String>,
        transcript_path: Option<String>,
        raw: Option<String>,
    },
    /// A prompt submitted to an agent.
    Prompt { target: Option<Target>, agent_session_id: String, text: String, raw: Option<String> },
    /// One phase of a tool call: `phase` "pre" (about to run), "post" (ran)
    /// or "failure" (ran and failed); `input` and `response` are bounded,
    /// redacted summaries. A "pre" and a later "post"/"failure" with the same
    /// `tool_use_id` are one call; their time difference is its duration.
    ToolCall {
        target: Option<Target>,
        agent_session_id: String,
        phase: String,
        tool: String,
        tool_use_id: Option<String>,
        input: Option<String>,
        response: Option<String>,
        raw: Option<String>,
    },
    /// A notification from an agent; `notification_type` "permission_prompt"
    /// (or a message asking for permission) means a person is needed.
    Notification {
        target: Option<Target>,
        agent_session_id: String,
        message: String,
        notification_type: Option<String>,
        raw: Option<String>,
    },
    /// An agent finished responding (`agent_id` set: one of its subagents).
    AgentStop {
        target: Option<Target>,
        agent_session_id: String,
        agent_id: Option<String>,
        raw: Option<String>,
    },
    /// Any other hook event (`event` is its name, e.g. "PreCompact").
    AgentHook { target: Option<Target>, agent_session_id: Option<String>, event: String, raw: Option<String> },
    /// Alert `rule` fired for `incident` (a key naming what it fired about,
    /// unique per incident); `actions` says what was done and how it went.
    Alert { rule: String, incident: String, target: Option<Target>, message: String, actions: Option<String> },
    /// What a restore needs about pane `target`, recorded when any of it
    /// changes: `cwd` its working directory (`#{pane_current_path}`),
    /// `command` its foreground command (`#{pane_current_command}`),
    /// `cmdline` the full command line of that process where readable
    /// (arguments joined by spaces, from `/proc/PID/cmdline`), `layout` its
    /// window's layout string (`#{window_layout}`, for `select-layout`).
    PaneState {
        target: Target,
        cwd: Option<String>,
        command: Option<String>,
        cmdline: Option<String>,
        layout: Option<String>,
    },
    /// `orc-log resurrect` rebuilt panes; `targets` holds one line per pane,
    /// `OLD NEW` (old target, new target), `at` the time restored
    /// (RFC 3339), `socket` the tmux socket name used.
    Resurrected { targets: String, at: Option<String>, socket: Option<String> },
    /// Token usage and cost of one model request by `agent` (`claude_code`,
    /// `codex`, `gemini_cli`), or one metric point, in agent session
    /// `agent_session_id`. `source` is `otel` (an OTLP log record or metric
    /// point; `event` its event or metric name, e.g.
    /// `claude_code.api_request`, `claude_code.cost.usage`) or `transcript`
    /// (an assistant message of a transcript; `event` is `message`). Token
    /// counts are per type (absent: 0); `cost_usd` is as reported, or from
    /// the price table (`agents/prices.toml`) when the record had none;
    /// `duration_ns` the request's duration. `raw` holds the record's other
    /// attributes (bounded, redacted, identities hashed).
    AgentUsage {
        target: Option<Target>,
        agent: String,
        agent_session_id: Option<String>,
        source: String,
        event: String,
        model: Option<String>,
        prompt_id: Option<String>,
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_creation_tokens: u64,
        cost_usd: Option<Usd>,
        duration_ns: Option<u64>,
        raw: Option<String>,
    },
    /// `orc-log redact` rewrote stored bodies; `bodies` holds one line per
    /// body, `SEQ OLD NEW` (its seq, and the blake3 digests of its old and
    /// new raw body, 64 hex digits each); `note` says where else it
    /// redacted (backups, spool). Never the matched text.
    Redaction { bodies: String, note: Option<String> },
}

/// An amount of US dollars, held exactly as whole nano-dollars (10^-9 USD)
/// so that events compare and sum exactly; format v1 writes it as a JSON
/// number of dollars (`cost_usd`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Usd {
    /// Nano-dollars.
    pub nanos: u64,
}

impl Usd {
    /// The amount nearest to `dollars`; `None` for a negative, NaN or
    /// infinite value, or one above 18 billion dollars.
    pub fn from_dollars(dollars: f64) -> Option<Usd> {
        let nanos = (dollars * 1e9).round();
        (dollars.is_finite() && dollars >= 0.0 && nanos < 1.8e19).then_some(Usd { nanos: nanos as u64 })
    }

    /// The amount in dollars (as a float, for display and SQL).
    pub fn dollars(self) -> f64 {
        self.nanos as f64 / 1e9
    }
}

/// What an expired body's stub holds in a field format v1 requires to be
/// non-empty ([`EventBody::expired_stub`]).
pub const EXPIRED_TEXT: &str = "expired";

impl EventBody {
    /// The stub an expired body leaves (`engine/FORMAT.md`, "Retention and
    /// compaction"): the same kind with its target (`to` of a message, the
    /// session of a session event) and nothing else: every text emptied
    /// (a field format v1 requires non-empty holds [`EXPIRED_TEXT`]; a
    /// field with a fixed set of values, a phase or a usage source, keeps
    /// its value), every optional field `None`, every number 0. A stub is a
    /// valid event, so it exports, restores and re-ingests; stubs of the
    /// same kind and target are equal, so the stored stub costs a few bytes.
    pub fn expired_stub(&self) -> EventBody {
        let t = || String::new();
        let x = || EXPIRED_TEXT.to_owned();
        match self {
            EventBody::Capture { target, .. } => EventBody::Capture {
                target: target.clone(),
                content: t(),
                width: None,
                height: None,
                cursor_x: None,
                cursor_y: None,
            },
            EventBody::Message { to, .. } => EventBody::Message { from: x(), to: to.clone(), text: t() },
            EventBody::Schedule { target, .. } => {
                EventBody::Schedule { target: target.clone(), note: t(), due_ns: 0 }
            }
            EventBody::ScheduleFired { target, .. } => {
                EventBody::ScheduleFired { target: target.clone(), note: None }
            }
            EventBody::Crash { target, .. } => {
                EventBody::Crash { target: target.clone(), reason: x(), excerpt: None, detector: None }
            }
            EventBody::Marker { target, .. } => EventBody::Marker { label: x(), target: target.clone() },
            EventBody::SessionOpened { session } => EventBody::SessionOpened { session: session.clone() },
            EventBody::SessionClosed { session } => EventBody::SessionClosed { session: session.clone() },
            EventBody::WindowOpened { target, .. } => {
                EventBody::WindowOpened { target: target.clone(), name: None }
            }
            EventBody::WindowRenamed { target, .. } => {
                EventBody::WindowRenamed { target: target.clone(), name: None }
            }
            EventBody::WindowClosed { target } => EventBody::WindowClosed { target: target.clone() },
            EventBody::AgentRegistered { target, .. } => {
                EventBody::AgentRegistered { target: target.clone(), role: x(), name: None }
            }
            EventBody::AgentSession { target, phase, .. } => EventBody::AgentSession {
                target: target.clone(),
                agent_session_id: x(),
                phase: phase.clone(),
                reason: None,
                cwd: None,
                transcript_path: None,
                raw: None,
            },
            EventBody::Prompt { target, .. } => {
                EventBody::Prompt { target: target.clone(), agent_session_id: x(), text: t(), raw: None }
            }
            EventBody::ToolCall { target, phase, .. } => EventBody::ToolCall {
                target: target.clone(),
                agent_session_id: x(),
                phase: phase.clone(),
                tool: x(),
                tool_use_id: None,
                input: None,
                response: None,
                raw: None,
            },
            EventBody::Notification { target, .. } => EventBody::Notification {
                target: target.clone(),
                agent_session_id: x(),
                message: t(),
                notification_type: None,
                raw: None,
            },
            EventBody::AgentStop { target, .. } => EventBody::AgentStop {
                target: target.clone(),
                agent_session_id: x(),
                agent_id: None,
                raw: None,
            },
            EventBody::AgentHook { target, .. } => {
                EventBody::AgentHook { target: target.clone(), agent_session_id: None, event: x(), raw: None }
            }
            EventBody::Alert { target, .. } => EventBody::Alert {
                rule: x(),
                incident: x(),
                target: target.clone(),
                message: t(),
                actions: None,
            },
            EventBody::PaneState { target, .. } => EventBody::PaneState {
                target: target.clone(),
                cwd: None,
                command: None,
                cmdline: None,
                layout: None,
            },
            EventBody::Resurrected { .. } => EventBody::Resurrected { targets: t(), at: None, socket: None },
            EventBody::AgentUsage { target, source, .. } => EventBody::AgentUsage {
                target: target.clone(),
                agent: x(),
                agent_session_id: None,
                source: source.clone(),
                event: x(),
                model: None,
                prompt_id: None,
                input_tokens: 0,
                output_tokens: 0,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
                cost_usd: None,
                duration_ns: None,
                raw: None,
            },
            EventBody::Redaction { .. } => EventBody::Redaction { bodies: t(), note: None },
        }
    }

    /// This event's kind.
    pub fn kind(&self) -> Kind {
        match self {
            EventBody::Capture { .. } => Kind::Capture,
            EventBody::Message { .. } => Kind::Message,
            EventBody::Schedule { .. } => Kind::Schedule,
            EventBody::ScheduleFired { .. } => Kind::ScheduleFired,
            EventBody::Crash { .. } => Kind::Crash,
            EventBody::Marker { .. } => Kind::Marker,
            EventBody::SessionOpened { .. } => Kind::SessionOpened,
            EventBody::SessionClosed { .. } => Kind::SessionClosed,
            EventBody::WindowOpened { .. } => Kind::WindowOpened,
            EventBody::WindowRenamed { .. } => Kind::WindowRenamed,
            EventBody::WindowClosed { .. } => Kind::WindowClosed,
            EventBody::AgentRegistered { .. } => Kind::AgentRegistered,
            EventBody::AgentSession { .. } => Kind::AgentSession,
            EventBody::Prompt { .. } => Kind::Prompt,
            EventBody::ToolCall { .. } => Kind::ToolCall,
            EventBody::Notification { .. } => Kind::Notification,
            EventBody::AgentStop { .. } => Kind::AgentStop,
            EventBody::AgentHook { .. } => Kind::AgentHook,
            EventBody::Alert { .. } => Kind::Alert,
            EventBody::PaneState { .. } => Kind::PaneState,
            EventBody::Resurrected { .. } => Kind::Resurrected,
            EventBody::AgentUsage { .. } => Kind::AgentUsage,
            EventBody::Redaction { .. } => Kind::Redaction,
        }
    }

    /// The pane this event is about: `target`, or `to` for a message.
    pub fn target(&self) -> Option<&Target> {
        match self {
            EventBody::Capture { target, .. }
            | EventBody::Schedule { target, .. }
            | EventBody::ScheduleFired { target, .. }
            | EventBody::Crash { target, .. }
            | EventBody::WindowOpened { target, .. }
            | EventBody::WindowRenamed { target, .. }
            | EventBody::WindowClosed { target }
            | EventBody::AgentRegistered { target, .. }
            | EventBody::PaneState { target, .. } => Some(target),
            EventBody::Message { to, .. } => Some(to),
            EventBody::Marker { target, .. }
            | EventBody::AgentSession { target, .. }
            | EventBody::Prompt { target, .. }
            | EventBody::ToolCall { target, .. }
            | EventBody::Notification { target, .. }
            | EventBody::AgentStop { target, .. }
            | EventBody::AgentHook { target, .. }
            | EventBody::Alert { target, .. }
            | EventBody::AgentUsage { target, .. } => target.as_ref(),
            EventBody::SessionOpened { .. }
            | EventBody::SessionClosed { .. }
            | EventBody::Resurrected { .. }
            | EventBody::Redaction { .. } => None,
        }
    }

    /// The session this event is about: the target's session, or `session`.
    pub fn session(&self) -> Option<&str> {
        match self {
            EventBody::SessionOpened { session } | EventBody::SessionClosed { session } => Some(session),
            other => other.target().map(|t| t.session.as_str()),
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stub_is_a_valid_event_of_its_kind_and_target() {
        let lines = [
            r#"{"kind":"message","ts":"2026-11-20T23:00:00Z","from":"pm","to":"a:0.0","text":"hi"}"#,
            r#"{"kind":"crash","ts":"2026-11-20T23:00:00Z","target":"a:0.0","reason":"exit 1","detector":"x"}"#,
            r#"{"kind":"marker","ts":"2026-11-20T23:00:00Z","label":"deploy"}"#,
            r#"{"kind":"agent_registered","ts":"2026-11-20T23:00:00Z","target":"a:0.1","role":"pm"}"#,
            r#"{"kind":"agent_session","ts":"2026-11-20T23:00:00Z","agent_session_id":"s","phase":"end","reason":"bye"}"#,
            r#"{"kind":"tool_call","ts":"2026-11-20T23:00:00Z","agent_session_id":"s","phase":"post","tool":"Bash","tool_use_id":"t","input":"ls"}"#,
            r#"{"kind":"notification","ts":"2026-11-20T23:00:00Z","agent_session_id":"s","message":"m","notification_type":"idle"}"#,
            r#"{"kind":"agent_stop","ts":"2026-11-20T23:00:00Z","agent_session_id":"s","agent_id":"a"}"#,
            r#"{"kind":"agent_hook","ts":"2026-11-20T23:00:00Z","agent_session_id":"s","event":"PreCompact"}"#,
            r#"{"kind":"alert","ts":"2026-11-20T23:00:00Z","rule":"r","incident":"i","message":"m"}"#,
            r#"{"kind":"agent_usage","ts":"2026-11-20T23:00:00Z","agent":"claude","source":"otel","event":"api_request","model":"m","input_tokens":5}"#,
        ];
        for line in lines {
            let e = crate::parse_line(line, 0).unwrap();
            let stub = Event { body: e.body.expired_stub(), ..e.clone() };
            stub.validate().unwrap_or_else(|err| panic!("{line}: {err}"));
            assert_eq!((stub.kind(), stub.body.target()), (e.kind(), e.body.target()));
            assert_ne!(stub, e, "{line}");
        }
    }

    #[test]
    fn kind_codes_and_names_round_trip() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k.code(), i as u8 + 1);
            assert_eq!(k.index(), i);
            assert_eq!(Kind::from_code(k.code()), Some(k));
            assert_eq!(Kind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(22), Some(Kind::AgentUsage));
        assert_eq!(Kind::from_code(23), Some(Kind::Redaction));
        assert_eq!(Kind::from_code(24), None);
        assert_eq!(Kind::from_name("Capture"), None);
    }

    #[test]
    fn usd_is_exact_nano_dollars() {
        assert_eq!(Usd::from_dollars(0.123456789), Some(Usd { nanos: 123_456_789 }));
        assert_eq!(Usd::from_dollars(1.5).map(Usd::dollars), Some(1.5));
        assert_eq!(Usd::from_dollars(-0.01), None);
        assert_eq!(Usd::from_dollars(f64::NAN), None);
        assert_eq!(Usd::from_dollars(f64::INFINITY), None);
        assert_eq!(Usd::from_dollars(1e11), None);
    }
}
