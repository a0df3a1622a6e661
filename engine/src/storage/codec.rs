//! Event bodies <-> bytes. The only module that names `bincode`.
//!
//! A body holds an event's fields *except* those kept in the frame header
//! (kind, ts, and the scope: target or session). It is bincode 2 with the
//! `standard()` configuration (little-endian varint integers) of a per-kind
//! tuple, listed in `engine/FORMAT.md`. The first field of every tuple is the
//! producer `id` (`Option<String>`), so a body never starts with the zstd
//! dictionary magic.

use crate::error::{Error, Result};
use orc_log_schemas::{Event, EventBody, Kind, Target};

fn cfg() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn enc<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) -> Result<()> {
    bincode::serde::encode_into_std_write(v, out, cfg()).map(drop).map_err(|e| Error::Invalid(e.to_string()))
}

fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let (v, used): (T, usize) = bincode::serde::decode_from_slice(bytes, cfg()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes after the body", bytes.len() - used));
    }
    Ok(v)
}

/// Encodes the body of `event` (without kind, ts and scope) into `out`.
///
/// # Errors
/// [`Error::Invalid`] if serialization fails (it does not for valid events).
pub(crate) fn encode_body(event: &Event, out: &mut Vec<u8>) -> Result<()> {
    let id = &event.id;
    match &event.body {
        EventBody::Capture { content, width, height, cursor_x, cursor_y, .. } => {
            enc(&(id, width, height, cursor_x, cursor_y, content), out)
        }
        EventBody::Message { from, text, .. } => enc(&(id, from, text), out),
        EventBody::Schedule { note, due_ns, .. } => enc(&(id, note, due_ns), out),
        EventBody::ScheduleFired { note, .. } => enc(&(id, note), out),
        EventBody::Crash { reason, excerpt, detector, .. } => enc(&(id, reason, excerpt, detector), out),
        EventBody::Marker { label, .. } => enc(&(id, label), out),
        EventBody::SessionOpened { .. }
        | EventBody::SessionClosed { .. }
        | EventBody::WindowClosed { .. } => enc(&(id,), out),
        EventBody::WindowOpened { name, .. } | EventBody::WindowRenamed { name, .. } => enc(&(id, name), out),
        EventBody::AgentRegistered { role, name, .. } => enc(&(id, role, name), out),
        EventBody::AgentSession { agent_session_id, phase, reason, cwd, transcript_path, raw, .. } => {
            enc(&(id, agent_session_id, phase, reason, cwd, transcript_path, raw), out)
        }
        EventBody::Prompt { agent_session_id, text, raw, .. } => enc(&(id, agent_session_id, text, raw), out),
        EventBody::ToolCall { agent_session_id, phase, tool, tool_use_id, input, response, raw, .. } => {
            enc(&(id, agent_session_id, phase, tool, tool_use_id, input, response, raw), out)
        }
        EventBody::Notification { agent_session_id, message, notification_type, raw, .. } => {
            enc(&(id, agent_session_id, message, notification_type, raw), out)
        }
        EventBody::AgentStop { agent_session_id, agent_id, raw, .. } => {
            enc(&(id, agent_session_id, agent_id, raw), out)
        }
        EventBody::AgentHook { agent_session_id, event, raw, .. } => {
            enc(&(id, agent_session_id, event, raw), out)
        }
        EventBody::Alert { rule, incident, message, actions, .. } => {
            enc(&(id, rule, incident, message, actions), out)
        }
        EventBody::PaneState { cwd, command, cmdline, layout, .. } => {
            enc(&(id, cwd, command, cmdline, layout), out)
        }
        EventBody::Resurrected { targets, at, socket } => enc(&(id, targets, at, socket), out),
        EventBody::AgentUsage {
            agent,
            agent_session_id,
            source,
            event,
            model,
            prompt_id,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd,
            duration_ns,
            raw,
            ..
        } => enc(
            &(
                id,
                agent,
                agent_session_id,
                source,
                event,
                model,
                prompt_id,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_usd.map(|c| c.nanos),
                duration_ns,
                raw,
            ),
            out,
        ),
        EventBody::Redaction { bodies, note } => enc(&(id, bodies, note), out),
    }
}

/// The scope string kept in the frame header: the target for pane events
/// (`to` for messages), the session name for session events, none for an
/// untargeted marker.
pub(crate) fn scope_of(body: &EventBody) -> Option<String> {
    body.target().map(Target::to_string).or_else(|| body.session().map(str::to_owned))
}

/// Rebuilds an event from its header fields and body bytes.
///
/// # Errors
/// A string describing why the bytes do not decode (the caller adds the seq).
pub(crate) fn decode_body(
    kind: Kind,
    ts_ns: i64,
    scope: Option<&str>,
    bytes: &[u8],
) -> std::result::Result<Event, String> {
    let target = || -> std::result::Result<Target, String> {
        let s = scope.ok_or("missing target in header")?;
        s.parse().map_err(|e| format!("bad target in header: {e}"))
    };
    let session = || -> std::result::Result<String, String> {
        scope.map(str::to_owned).ok_or_else(|| "missing session in header".to_owned())
    };
    let opt_target = || scope.map(|_| target()).transpose();
    type Id = Option<String>;
    let (id, body): (Id, EventBody) = match kind {
        Kind::Capture => {
            let (id, width, height, cursor_x, cursor_y, content) = dec(bytes)?;
            (id, EventBody::Capture { target: target()?, content, width, height, cursor_x, cursor_y })
        }
        Kind::Message => {
            let (id, from, text) = dec(bytes)?;
            (id, EventBody::Message { from, to: target()?, text })
        }
        Kind::Schedule => {
            let (id, note, due_ns) = dec(bytes)?;
            (id, EventBody::Schedule { target: target()?, note, due_ns })
        }
        Kind::ScheduleFired => {
            let (id, note) = dec(bytes)?;
            (id, EventBody::ScheduleFired { target: target()?, note })
        }
        Kind::Crash => {
            let (id, reason, excerpt, detector) = dec(bytes)?;
            (id, EventBody::Crash { target: target()?, reason, excerpt, detector })
        }
        Kind::Marker => {
            let (id, label) = dec(bytes)?;
            (id, EventBody::Marker { label, target: opt_target()? })
        }
        Kind::SessionOpened => {
            let (id,) = dec::<(Id,)>(bytes)?;
            (id, EventBody::SessionOpened { session: session()? })
        }
        Kind::SessionClosed => {
            let (id,) = dec::<(Id,)>(bytes)?;
            (id, EventBody::SessionClosed { session: session()? })
        }
        Kind::WindowOpened => {
            let (id, name) = dec(bytes)?;
            (id, EventBody::WindowOpened { target: target()?, name })
        }
        Kind::WindowRenamed => {
            let (id, name) = dec(bytes)?;
            (id, EventBody::WindowRenamed { target: target()?, name })
        }
        Kind::WindowClosed => {
            let (id,) = dec::<(Id,)>(bytes)?;
            (id, EventBody::WindowClosed { target: target()? })
        }
        Kind::AgentRegistered => {
            let (id, role, name) = dec(bytes)?;
            (id, EventBody::AgentRegistered { target: target()?, role, name })
        }
        // The agent and alert kinds: the target is optional (absent scope).
        Kind::AgentSession => {
            let (id, agent_session_id, phase, reason, cwd, transcript_path, raw) = dec(bytes)?;
            let target = opt_target()?;
            (
                id,
                EventBody::AgentSession {
                    target,
                    agent_session_id,
                    phase,
                    reason,
                    cwd,
                    transcript_path,
                    raw,
                },
            )
        }
        Kind::Prompt => {
            let (id, agent_session_id, text, raw) = dec(bytes)?;
            (id, EventBody::Prompt { target: opt_target()?, agent_session_id, text, raw })
        }
        Kind::ToolCall => {
            let (id, agent_session_id, phase, tool, tool_use_id, input, response, raw) = dec(bytes)?;
            let target = opt_target()?;
            (
                id,
                EventBody::ToolCall {
                    target,
                    agent_session_id,
                    phase,
                    tool,
                    tool_use_id,
                    input,
                    response,
                    raw,
                },
            )
        }
        Kind::Notification => {
            let (id, agent_session_id, message, notification_type, raw) = dec(bytes)?;
            let target = opt_target()?;
            (id, EventBody::Notification { target, agent_session_id, message, notification_type, raw })
        }
        Kind::AgentStop => {
            let (id, agent_session_id, agent_id, raw) = dec(bytes)?;
            (id, EventBody::AgentStop { target: opt_target()?, agent_session_id, agent_id, raw })
        }
        Kind::AgentHook => {
            let (id, agent_session_id, event, raw) = dec(bytes)?;
            (id, EventBody::AgentHook { target: opt_target()?, agent_session_id, event, raw })
        }
        Kind::Alert => {
            let (id, rule, incident, message, actions) = dec(bytes)?;
            (id, EventBody::Alert { rule, incident, target: opt_target()?, message, actions })
        }
        Kind::PaneState => {
            let (id, cwd, command, cmdline, layout) = dec(bytes)?;
            (id, EventBody::PaneState { target: target()?, cwd, command, cmdline, layout })
        }
        Kind::Resurrected => {
            let (id, targets, at, socket) = dec(bytes)?;
            (id, EventBody::Resurrected { targets, at, socket })
        }
        Kind::AgentUsage => {
            type Body = (
                Id,
                String,
                Option<String>,
                String,
                String,
                Option<String>,
                Option<String>,
                u64,
                u64,
                u64,
                u64,
                Option<u64>,
                Option<u64>,
                Option<String>,
            );
            let (
                id,
                agent,
                agent_session_id,
                source,
                event,
                model,
                prompt_id,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_nanos,
                duration_ns,
                raw,
            ) = dec::<Body>(bytes)?;
            let body = EventBody::AgentUsage {
                target: opt_target()?,
                agent,
                agent_session_id,
                source,
                event,
                model,
                prompt_id,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_usd: cost_nanos.map(|nanos| orc_log_schemas::Usd { nanos }),
                duration_ns,
                raw,
            };
            (id, body)
        }
        Kind::Redaction => {
            let (id, bodies, note) = dec(bytes)?;
            (id, EventBody::Redaction { bodies, note })
        }
    };
    Ok(Event { ts_ns, id, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_log_schemas::parse_line;

    #[test]
    fn every_fixture_event_round_trips() {
        let text = [
            include_str!("../../../tests/fixtures/tmux-session-a.ndjson"),
            include_str!("../../../tests/fixtures/agent-events.ndjson"),
        ];
        for line in text.iter().flat_map(|t| t.lines()) {
            let mut ev = parse_line(line, 0).unwrap();
            ev.id = Some("producer-1".into());
            let mut buf = Vec::new();
            encode_body(&ev, &mut buf).unwrap();
            assert_ne!(buf.first(), Some(&0x37), "a body must not look like a zstd dictionary");
            let scope = scope_of(&ev.body);
            let back = decode_body(ev.kind(), ev.ts_ns, scope.as_deref(), &buf).unwrap();
            assert_eq!(back, ev);
        }
    }

    #[test]
    fn pane_state_and_resurrected_round_trip() {
        let lines = [
            r#"{"kind":"pane_state","target":"s:1.2","cwd":"/w/a b","command":"claude","cmdline":"claude --resume x","layout":"b25d,80x24,0,0,0"}"#,
            r#"{"kind":"pane_state","target":"s:1.2"}"#,
            r#"{"kind":"resurrected","targets":"s:0.0 s:0.0\ns:0.1 s:0.1","at":"2026-11-20T10:00:00Z","socket":"work"}"#,
            r#"{"kind":"resurrected","targets":""}"#,
            r#"{"kind":"redaction","bodies":"7 00ff 11ee","note":"backups: 1"}"#,
        ];
        for line in lines {
            let ev = parse_line(line, 5).unwrap();
            let mut buf = Vec::new();
            encode_body(&ev, &mut buf).unwrap();
            let scope = scope_of(&ev.body);
            assert_eq!(scope.is_none(), matches!(ev.kind(), Kind::Resurrected | Kind::Redaction), "{line}");
            assert_eq!(decode_body(ev.kind(), ev.ts_ns, scope.as_deref(), &buf).unwrap(), ev, "{line}");
        }
    }

    #[test]
    fn agent_usage_round_trips() {
        let lines = [
            r#"{"kind":"agent_usage","target":"s:1.2","agent":"claude_code","agent_session_id":"abc","source":"otel","event":"claude_code.api_request","model":"claude-sonnet-4-5","prompt_id":"p1","input_tokens":12,"output_tokens":340,"cache_read_tokens":1000,"cache_creation_tokens":5,"cost_usd":0.012345678,"duration_ns":1500000000,"raw":"{}"}"#,
            r#"{"kind":"agent_usage","agent":"codex","source":"transcript","event":"message"}"#,
        ];
        for line in lines {
            let ev = parse_line(line, 5).unwrap();
            let mut buf = Vec::new();
            encode_body(&ev, &mut buf).unwrap();
            let scope = scope_of(&ev.body);
            assert_eq!(decode_body(ev.kind(), ev.ts_ns, scope.as_deref(), &buf).unwrap(), ev, "{line}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for kind in Kind::ALL {
            assert!(decode_body(kind, 0, Some("s:0.0"), &[0xff, 0xff, 0xff]).is_err());
            assert!(decode_body(kind, 0, Some("s:0.0"), &[]).is_err());
        }
    }
}
