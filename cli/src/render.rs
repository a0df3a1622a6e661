//! Rendering for people: error chains and one-line event summaries.

use orc_log_schemas::{EventBody, Record, format_rfc3339};

/// `outer: cause: root cause`, skipping causes already contained in the previous message.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

/// At most `max` characters of `s` on one line (newlines shown as `⏎`).
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

/// The last non-blank line of a capture (escape sequences removed).
fn last_line(content: &str) -> &str {
    content.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// `seq  ts  kind  scope  summary`, one line per event, for `tail --format text`.
pub fn text_line(r: &Record) -> String {
    let ev = &r.event;
    let scope = ev.body.target().map(ToString::to_string).or_else(|| ev.body.session().map(str::to_owned));
    let summary = match &ev.body {
        EventBody::Capture { content, width, height, .. } => {
            let size = match (width, height) {
                (Some(w), Some(h)) => format!("{w}x{h} "),
                _ => String::new(),
            };
            format!("{size}{} lines | {}", content.lines().count(), one_line(last_line(content), 80))
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
        EventBody::AgentStop { agent_id, .. } => match agent_id {
            Some(a) => format!("subagent {}", one_line(a, 60)),
            None => String::new(),
        },
        EventBody::AgentHook { event, .. } => one_line(event, 60),
        EventBody::Alert { rule, message, .. } => {
            format!("[{}] {}", one_line(rule, 40), one_line(message, 100))
        }
    };
    let line = format!(
        "{:>6} {} {:<16} {:<12} {summary}",
        r.seq,
        format_rfc3339(ev.ts_ns),
        ev.kind().as_str(),
        scope.unwrap_or_else(|| "-".into())
    );
    line.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_truncates_and_flattens() {
        assert_eq!(one_line("a\nb", 10), "a⏎b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
