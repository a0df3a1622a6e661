//! One-line summaries of events for people: the last column of `orc-log
//! tail --format text` and the web view's Timeline, written once here.

use crate::ansi;
use orc_log_schemas::{EventBody, format_rfc3339};

/// At most `max` characters of `s` on one line: newlines shown as `⏎`,
/// other control characters as `·`, a cut marked with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| {
            if c == '\n' {
                '⏎'
            } else if c.is_control() {
                '·'
            } else {
                c
            }
        })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The last non-blank line of a capture as a person reads it (escape
/// sequences removed), trimmed.
fn last_line(content: &str) -> String {
    let text = ansi::plain(content);
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
}

/// What an event says, on one line of at most a few hundred characters:
/// a capture's size, line count and last line; a message's sender,
/// recipient and text; a tool call's phase, tool and input (or response);
/// a crash's reason and detector; an alert's rule and message; and so on
/// for every kind. Empty only for the lifecycle events that carry nothing
/// but their target (`session_opened`, `session_closed`, `window_closed`).
pub fn summary(body: &EventBody) -> String {
    let text = match body {
        EventBody::Capture { content, width, height, .. } => {
            let size = match (width, height) {
                (Some(w), Some(h)) => format!("{w}x{h} "),
                _ => String::new(),
            };
            format!("{size}{} lines | {}", content.lines().count(), one_line(&last_line(content), 80))
        }
        EventBody::Message { from, to, text } => format!("{from} -> {to}: {}", one_line(text, 100)),
        EventBody::Schedule { note, due_ns, .. } => {
            format!("due {}: {}", format_rfc3339(*due_ns), one_line(note, 80))
        }
        EventBody::ScheduleFired { note, .. } => one_line(note.as_deref().unwrap_or(""), 100),
        EventBody::Crash { reason, detector, .. } => match detector {
            Some(d) => format!("{} [{d}]", one_line(reason, 100)),
            None => one_line(reason, 100),
        },
        EventBody::Marker { label, .. } => one_line(label, 100),
        EventBody::SessionOpened { .. }
        | EventBody::SessionClosed { .. }
        | EventBody::WindowClosed { .. } => String::new(),
        EventBody::WindowOpened { name, .. } | EventBody::WindowRenamed { name, .. } => {
            name.as_deref().map(|n| format!("name {}", one_line(n, 60))).unwrap_or_default()
        }
        EventBody::AgentRegistered { role, name, .. } => match name {
            Some(n) => format!("{role} {}", one_line(n, 60)),
            None => role.clone(),
        },
        EventBody::AgentSession { phase, reason, .. } => match reason {
            Some(r) => format!("{phase} ({})", one_line(r, 60)),
            None => phase.clone(),
        },
        EventBody::Prompt { text, .. } => one_line(text, 100),
        EventBody::ToolCall { phase, tool, input, response, .. } => {
            let detail = if phase == "pre" { input } else { response };
            format!("{phase} {tool} {}", one_line(detail.as_deref().unwrap_or(""), 80))
        }
        EventBody::Notification { message, .. } => one_line(message, 100),
        EventBody::AgentStop { agent_session_id, agent_id, .. } => match agent_id {
            Some(a) => format!("subagent {} finished", one_line(a, 60)),
            None => format!("finished responding (session {})", one_line(agent_session_id, 60)),
        },
        EventBody::AgentHook { event, .. } => one_line(event, 60),
        EventBody::Alert { rule, message, .. } => {
            format!("[{}] {}", one_line(rule, 40), one_line(message, 100))
        }
        EventBody::PaneState { cwd, command, layout, .. } => format!(
            "in {} running {}{}",
            one_line(cwd.as_deref().unwrap_or("?"), 80),
            one_line(command.as_deref().unwrap_or("?"), 40),
            layout.as_deref().map(|l| format!(" layout {}", one_line(l, 60))).unwrap_or_default()
        ),
        EventBody::AgentUsage {
            agent,
            event,
            model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd,
            ..
        } => format!(
            "{} {}{} in {} out {} cache {}+{}{}",
            one_line(agent, 20),
            one_line(event, 40),
            model.as_deref().map(|m| format!(" {}", one_line(m, 40))).unwrap_or_default(),
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd.map(|c| format!(" ${:.4}", c.dollars())).unwrap_or_default()
        ),
        EventBody::Resurrected { targets, .. } => {
            let n = targets.lines().count();
            format!("{n} pane{} | {}", if n == 1 { "" } else { "s" }, one_line(targets, 100))
        }
        EventBody::Redaction { bodies, note } => {
            let n = bodies.lines().count();
            format!(
                "{n} bod{} redacted{}",
                if n == 1 { "y" } else { "ies" },
                note.as_deref().map(|t| format!(" | {}", one_line(t, 80))).unwrap_or_default()
            )
        }
    };
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use orc_log_schemas::parse_line;

    #[test]
    fn one_line_truncates_and_flattens() {
        assert_eq!(one_line("a\nb", 10), "a⏎b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }

    #[test]
    fn every_agent_kind_has_a_summary() {
        let text = include_str!("../../tests/fixtures/agent-events.ndjson");
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let ev = parse_line(line, 0).unwrap();
            let s = summary(&ev.body);
            assert!(!s.is_empty(), "no summary for {line}");
            seen.insert(ev.body.kind().as_str());
        }
        for kind in
            ["agent_session", "prompt", "tool_call", "notification", "agent_stop", "agent_hook", "alert"]
        {
            assert!(seen.contains(kind), "the fixture has no {kind}");
        }
    }

    #[test]
    fn a_capture_is_summarised_as_it_reads_on_screen() {
        let ev = parse_line(
            r#"{"kind":"capture","target":"p:1.0","content":"$ make\n\u001b[31mError\u001b[0m: boom\n\n","width":80,"height":24}"#,
            0,
        )
        .unwrap();
        assert_eq!(summary(&ev.body), "80x24 3 lines | Error: boom");
    }
}
