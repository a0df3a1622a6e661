//! `orc-log session list`: the recorded panes, with their window and agent
//! names and how many captures each has.

use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_schemas::{EventBody, Kind, Target, format_rfc3339};
use serde_json::json;
use std::collections::BTreeMap;

/// List the recorded panes: every target with at least one capture.
///
/// For each pane: its window's name (the last name given by `window_opened`
/// or `window_renamed` for that session:window), the agent registered for it
/// (`agent_registered`: name and role), the times of its first and last
/// captures (RFC 3339) and the number of captures. Counting reads only frame
/// headers, so it is fast even for large logs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// A JSON array of `{"target", "window", "agent": {"name", "role"} or null,
    /// "first_capture", "last_capture", "captures"}`.
    Json,
}

/// Captures of one pane.
#[derive(Debug, Clone, Copy)]
struct Captures {
    count: u64,
    first_ns: i64,
    last_ns: i64,
}

/// The agent registered for a pane.
#[derive(Debug, Clone)]
struct Agent {
    role: String,
    name: Option<String>,
}

/// Names found in the lifecycle events.
#[derive(Debug, Default)]
struct Names {
    /// Window name by (session, window index).
    windows: BTreeMap<(String, u32), Option<String>>,
    /// Last registered agent by pane.
    agents: BTreeMap<Target, Agent>,
}

impl Names {
    fn apply(&mut self, body: EventBody) {
        match body {
            // A (re)opened window starts with the name it was opened with.
            EventBody::WindowOpened { target, name } => {
                self.windows.insert((target.session, target.window), name);
            }
            // A rename without a name keeps the previous one.
            EventBody::WindowRenamed { target, name: Some(name) } => {
                self.windows.insert((target.session, target.window), Some(name));
            }
            EventBody::AgentRegistered { target, role, name } => {
                self.agents.insert(target, Agent { role, name });
            }
            _ => {}
        }
    }
}

/// Capture counts and times per pane (scope), from headers only, in pages.
fn captures(db: &SharedLog, head: u64) -> Result<BTreeMap<String, Captures>> {
    let filter =
        Filter { from_seq: 1, until_seq: Some(head), kinds: vec![Kind::Capture], ..Filter::default() };
    let mut panes: BTreeMap<String, Captures> = BTreeMap::new();
    db.snapshot().for_each_meta(&filter, |m| {
        if let Some(scope) = m.scope {
            panes
                .entry(scope)
                .and_modify(|c| {
                    c.count += 1;
                    c.first_ns = c.first_ns.min(m.ts_ns);
                    c.last_ns = c.last_ns.max(m.ts_ns);
                })
                .or_insert(Captures { count: 1, first_ns: m.ts_ns, last_ns: m.ts_ns });
        }
        anyhow::Ok(true)
    })?;
    Ok(panes)
}

/// Window and agent names from the lifecycle events, in pages.
fn names(db: &SharedLog, head: u64) -> Result<Names> {
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(head),
        kinds: vec![Kind::WindowOpened, Kind::WindowRenamed, Kind::AgentRegistered],
        ..Filter::default()
    };
    let mut names = Names::default();
    db.snapshot().for_each_record(&filter, |r| {
        names.apply(r.event.body);
        anyhow::Ok(true)
    })?;
    Ok(names)
}

/// One row of the listing.
struct Row {
    target: String,
    window: Option<String>,
    agent: Option<Agent>,
    captures: Captures,
}

/// Joins capture counts with names, ordered by target (session, window, pane).
fn rows(captures: BTreeMap<String, Captures>, names: &Names) -> Vec<Row> {
    let mut rows: Vec<(Option<Target>, Row)> = captures
        .into_iter()
        .map(|(scope, captures)| {
            let target = scope.parse::<Target>().ok();
            let window = target
                .as_ref()
                .and_then(|t| names.windows.get(&(t.session.clone(), t.window)))
                .cloned()
                .flatten();
            let agent = target.as_ref().and_then(|t| names.agents.get(t)).cloned();
            (target, Row { target: scope, window, agent, captures })
        })
        .collect();
    rows.sort_by(|(a, ra), (b, rb)| a.cmp(b).then_with(|| ra.target.cmp(&rb.target)));
    rows.into_iter().map(|(_, r)| r).collect()
}

/// `name (role)`, or the role alone.
fn agent_text(agent: Option<&Agent>) -> String {
    match agent {
        Some(Agent { role, name: Some(name) }) => format!("{name} ({role})"),
        Some(Agent { role, name: None }) => role.clone(),
        None => "-".into(),
    }
}

/// Runs `orc-log session list`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    // Both passes stop at the head seen now, so they agree with each other.
    let head = db.head().seq;
    let captures = captures(db, head).context("counting captures")?;
    let names = names(db, head).context("reading window and agent names")?;
    let rows = rows(captures, &names);
    match args.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "target": r.target,
                        "window": r.window,
                        "agent": r.agent.as_ref().map(|a| json!({"name": a.name, "role": a.role})),
                        "first_capture": format_rfc3339(r.captures.first_ns),
                        "last_capture": format_rfc3339(r.captures.last_ns),
                        "captures": r.captures.count,
                    })
                })
                .collect();
            writeln!(io.out, "{}", serde_json::Value::Array(list))?;
        }
        Format::Table if rows.is_empty() => {
            writeln!(io.out, "no recorded panes (`orc-log session record` records a tmux server)")?;
        }
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["target", "window", "agent", "first capture", "last capture", "captures"]);
            for r in &rows {
                t.add_row([
                    r.target.clone(),
                    r.window.clone().unwrap_or_else(|| "-".into()),
                    agent_text(r.agent.as_ref()),
                    format_rfc3339(r.captures.first_ns),
                    format_rfc3339(r.captures.last_ns),
                    r.captures.count.to_string(),
                ]);
            }
            writeln!(io.out, "{t}")?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn names_follow_opens_renames_and_registrations() {
        let mut n = Names::default();
        n.apply(EventBody::WindowOpened { target: t("s:1.0"), name: Some("eng".into()) });
        n.apply(EventBody::WindowRenamed { target: t("s:1.0"), name: Some("build".into()) });
        n.apply(EventBody::WindowRenamed { target: t("s:1.0"), name: None });
        n.apply(EventBody::WindowOpened { target: t("s:2.0"), name: Some("old".into()) });
        n.apply(EventBody::WindowOpened { target: t("s:2.0"), name: None });
        n.apply(EventBody::AgentRegistered { target: t("s:1.1"), role: "engineer".into(), name: None });
        n.apply(EventBody::AgentRegistered {
            target: t("s:1.1"),
            role: "engineer".into(),
            name: Some("e1".into()),
        });
        assert_eq!(n.windows.get(&("s".into(), 1)), Some(&Some("build".into())));
        assert_eq!(n.windows.get(&("s".into(), 2)), Some(&None));

        let caps = |count| Captures { count, first_ns: 1, last_ns: 2 };
        let captures: BTreeMap<String, Captures> =
            [("s:10.0".into(), caps(1)), ("s:1.1".into(), caps(2)), ("s:2.0".into(), caps(3))].into();
        let rows = rows(captures, &n);
        let order: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(order, ["s:1.1", "s:2.0", "s:10.0"], "numeric window order");
        assert_eq!(rows[0].window.as_deref(), Some("build"), "a pane takes its window's name");
        assert_eq!(agent_text(rows[0].agent.as_ref()), "e1 (engineer)");
        assert_eq!(rows[1].window, None);
        assert_eq!(agent_text(rows[1].agent.as_ref()), "-");
        assert_eq!(agent_text(Some(&Agent { role: "pm".into(), name: None })), "pm");
    }
}
