//! Claude Code hook payloads -> orc-log events.
//!
//! Claude Code runs a hook command for each hook event with one JSON object
//! on stdin: common fields `session_id`, `transcript_path`, `cwd`,
//! `hook_event_name`, and per event `source` (SessionStart), `reason`
//! (SessionEnd), `prompt` (UserPromptSubmit), `tool_name`, `tool_input`,
//! `tool_use_id`, `tool_response` (PreToolUse, PostToolUse), `error`
//! (PostToolUseFailure), `message`, `notification_type` (Notification),
//! `agent_id` (SubagentStop), `trigger` (PreCompact) — Claude Code's hooks
//! reference, <https://code.claude.com/docs/en/hooks>. [`to_event`] maps one
//! payload to one event:
//!
//! | hook event | kind |
//! |---|---|
//! | SessionStart / SessionEnd | `agent_session` (phase start / end) |
//! | UserPromptSubmit | `prompt` |
//! | PreToolUse / PostToolUse / PostToolUseFailure | `tool_call` (phase pre / post / failure) |
//! | Notification | `notification` |
//! | Stop / SubagentStop | `agent_stop` (`agent_id` set for a subagent) |
//! | anything else (PreCompact, new events) | `agent_hook` |
//!
//! Unknown events and fields are kept, never rejected (Claude Code adds them
//! often): every event carries the payload, minus the fields it keeps in its
//! own columns, redacted and bounded, as `raw`. Input that is not a JSON
//! object becomes an `agent_hook` with event `invalid-payload`.

use crate::text::{MAX_SUMMARY_BYTES, MAX_TEXT_BYTES, bounded, bounded_id, string_field as string, summary};
use orc_log_schemas::ndjson::MAX_RAW_BYTES;
use orc_log_schemas::{Event, EventBody, Target};
use serde_json::{Map, Value};

/// The `agent_session_id` given to a payload without `session_id`.
pub const UNKNOWN_SESSION: &str = "unknown";

/// The hook event names [`to_event`] maps to a dedicated kind (all others
/// become `agent_hook`), in Claude Code's order.
pub const HOOK_EVENTS: [&str; 10] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
];

/// The producer id of a hook event: the tool call's own id for tool calls
/// (`cc-tool:ID:PHASE`, the same id `import claude-transcript` gives, so a
/// call seen both ways is stored once), else session, event name and time.
/// At most [`orc_log_schemas::ndjson::MAX_ID_BYTES`] bytes.
fn event_id(session: &str, event: &str, ts_ns: i64, tool: Option<(&str, &str)>) -> String {
    let id = match tool {
        Some((tool_use_id, phase)) => format!("cc-tool:{tool_use_id}:{phase}"),
        None => format!("cc-hook:{session}:{event}:{ts_ns}"),
    };
    bounded_id(id)
}

/// The id `import claude-transcript` and hooks both give one phase
/// ("pre", "post", "failure") of tool call `tool_use_id`.
pub fn tool_event_id(tool_use_id: &str, phase: &str) -> String {
    event_id("", "", 0, Some((tool_use_id, phase)))
}

/// The payload minus `kept` fields, as redacted JSON text of at most
/// [`MAX_RAW_BYTES`] bytes (cut text is no longer valid JSON, and says so
/// with the cut marker).
fn raw(m: &Map<String, Value>, kept: &[&str]) -> Option<String> {
    let rest: Map<String, Value> =
        m.iter().filter(|(k, _)| !kept.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    if rest.is_empty() {
        return None;
    }
    Some(bounded(&Value::Object(rest).to_string(), MAX_RAW_BYTES))
}

/// Maps one hook payload (stdin, as text) to an event at `ts_ns` (UTC ns)
/// for pane `target` (where the hook ran; `None` outside tmux). Never fails:
/// input that is not a JSON object is kept as an `agent_hook`.
pub fn to_event(payload: &str, target: Option<Target>, ts_ns: i64) -> Event {
    let m = match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(m)) => m,
        _ => {
            let event = "invalid-payload".to_owned();
            return Event {
                ts_ns,
                id: Some(event_id(UNKNOWN_SESSION, &event, ts_ns, None)),
                body: EventBody::AgentHook {
                    target,
                    agent_session_id: None,
                    raw: Some(bounded(payload, MAX_RAW_BYTES)),
                    event,
                },
            };
        }
    };
    let event = string(&m, "hook_event_name").unwrap_or_else(|| "unknown".to_owned());
    let session = string(&m, "session_id");
    let agent_session_id = session.clone().unwrap_or_else(|| UNKNOWN_SESSION.to_owned());
    let common = ["session_id", "hook_event_name"];
    let kept = |more: &[&'static str]| -> Vec<&'static str> { common.iter().chain(more).copied().collect() };
    let mut tool_id = None;
    let body = match event.as_str() {
        "SessionStart" | "SessionEnd" => {
            let (phase, reason_key) =
                if event == "SessionStart" { ("start", "source") } else { ("end", "reason") };
            EventBody::AgentSession {
                target,
                agent_session_id: agent_session_id.clone(),
                phase: phase.to_owned(),
                reason: string(&m, reason_key),
                cwd: string(&m, "cwd"),
                transcript_path: string(&m, "transcript_path"),
                raw: raw(&m, &kept(&[reason_key, "cwd", "transcript_path"])),
            }
        }
        "UserPromptSubmit" => EventBody::Prompt {
            target,
            agent_session_id: agent_session_id.clone(),
            text: m.get("prompt").map(|p| summary(p, MAX_TEXT_BYTES)).unwrap_or_default(),
            raw: raw(&m, &kept(&["prompt"])),
        },
        "PreToolUse" | "PostToolUse" | "PostToolUseFailure" => {
            let phase = match event.as_str() {
                "PreToolUse" => "pre",
                "PostToolUse" => "post",
                _ => "failure",
            };
            let tool_use_id = string(&m, "tool_use_id");
            tool_id = tool_use_id.clone().map(|id| (id, phase));
            let response = m.get("tool_response").or_else(|| m.get("error"));
            EventBody::ToolCall {
                target,
                agent_session_id: agent_session_id.clone(),
                phase: phase.to_owned(),
                tool: string(&m, "tool_name").unwrap_or_else(|| "unknown".to_owned()),
                tool_use_id,
                input: m.get("tool_input").map(|v| summary(v, MAX_SUMMARY_BYTES)),
                response: response.map(|v| summary(v, MAX_SUMMARY_BYTES)),
                raw: raw(&m, &kept(&["tool_name", "tool_use_id", "tool_input", "tool_response", "error"])),
            }
        }
        "Notification" => EventBody::Notification {
            target,
            agent_session_id: agent_session_id.clone(),
            message: m.get("message").map(|v| summary(v, MAX_TEXT_BYTES)).unwrap_or_default(),
            notification_type: string(&m, "notification_type"),
            raw: raw(&m, &kept(&["message", "notification_type"])),
        },
        "Stop" | "SubagentStop" => EventBody::AgentStop {
            target,
            agent_session_id: agent_session_id.clone(),
            agent_id: if event == "SubagentStop" {
                Some(string(&m, "agent_id").unwrap_or_else(|| "subagent".to_owned()))
            } else {
                None
            },
            raw: raw(&m, &kept(&["agent_id"])),
        },
        _ => EventBody::AgentHook {
            target,
            agent_session_id: session,
            event: event.clone(),
            raw: raw(&m, &common),
        },
    };
    let id = match &tool_id {
        Some((tool_use_id, phase)) => tool_event_id(tool_use_id, phase),
        None => event_id(&agent_session_id, &event, ts_ns, None),
    };
    Event { ts_ns, id: Some(id), body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> Option<Target> {
        Some("team:1.0".parse().unwrap())
    }

    #[test]
    fn every_documented_event_maps_to_its_kind_and_validates() {
        let kinds = [
            ("SessionStart", "agent_session"),
            ("UserPromptSubmit", "prompt"),
            ("PreToolUse", "tool_call"),
            ("PostToolUse", "tool_call"),
            ("PostToolUseFailure", "tool_call"),
            ("Notification", "notification"),
            ("Stop", "agent_stop"),
            ("SubagentStop", "agent_stop"),
            ("PreCompact", "agent_hook"),
            ("SessionEnd", "agent_session"),
        ];
        for (name, kind) in kinds {
            let payload =
                json!({"session_id": "s1", "hook_event_name": name, "cwd": "/w", "brand_new_field": 7});
            let ev = to_event(&payload.to_string(), t(), 5);
            assert_eq!(ev.kind().as_str(), kind, "{name}");
            ev.validate().unwrap();
            assert_eq!(ev.body.target(), t().as_ref());
            let raw = orc_log_schemas::event_to_json_value(&ev)["raw"].as_str().unwrap_or("").to_owned();
            assert!(raw.contains("brand_new_field"), "{name}: unknown fields are kept: {raw}");
        }
    }

    #[test]
    fn tool_calls_keep_bounded_redacted_summaries_and_pair_by_id() {
        let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let pre = json!({"session_id": "s1", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_use_id": "toolu_1", "tool_input": {"command": format!("echo {secret}"), "big": "x".repeat(100_000)}});
        let ev = to_event(&pre.to_string(), None, 1);
        let EventBody::ToolCall { phase, tool, input, tool_use_id, .. } = &ev.body else { panic!() };
        assert_eq!((phase.as_str(), tool.as_str(), tool_use_id.as_deref()), ("pre", "Bash", Some("toolu_1")));
        let input = input.as_deref().unwrap();
        assert!(input.len() <= MAX_SUMMARY_BYTES && !input.contains(secret), "{input}");
        assert_eq!(ev.id.as_deref(), Some("cc-tool:toolu_1:pre"));
        let fail = json!({"session_id": "s1", "hook_event_name": "PostToolUseFailure", "tool_name": "Bash",
            "tool_use_id": "toolu_1", "error": "exit 1"});
        let ev = to_event(&fail.to_string(), None, 2);
        let EventBody::ToolCall { phase, response, .. } = &ev.body else { panic!() };
        assert_eq!((phase.as_str(), response.as_deref()), ("failure", Some("exit 1")));
    }

    #[test]
    fn garbage_and_missing_fields_are_kept_not_rejected() {
        for input in ["", "not json", "[1,2]", "{\"hook_event_name\": 3}"] {
            let ev = to_event(input, None, 9);
            ev.validate().unwrap();
            assert!(
                matches!(ev.body, EventBody::AgentHook { .. } | EventBody::AgentSession { .. }),
                "{input}"
            );
        }
        let ev = to_event(r#"{"hook_event_name":"UserPromptSubmit"}"#, None, 9);
        assert!(
            matches!(&ev.body, EventBody::Prompt { agent_session_id, .. } if agent_session_id == UNKNOWN_SESSION)
        );
    }
}
