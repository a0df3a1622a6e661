//! `orc-log alerts`: check a rule file, or see what it would fire now.

use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_alerts::{Cutoff, Firing, Rules, Tracker, evaluate_all};
use orc_log_engine::SharedLog;
use orc_log_schemas::format_rfc3339;
use std::path::{Path, PathBuf};

/// The rule file's name in the database directory (the default `--rules`).
pub const RULES_FILE: &str = "alerts.toml";

/// The end of `alerts --help`: an example rule file, printed as written
/// (clap reflows doc comments, which made it invalid TOML). It runs to the
/// end of the help, so it can be copied from the heading down.
const EXAMPLE_HELP: &str = concat!(
    "Example rule file (valid TOML, check it with `orc-log alerts check --rules PATH`):\n\n",
    include_str!("alerts_example.toml")
);

/// Alert rules: check a rule file, or see what it would fire.
///
/// `orc-log serve` loads the rule file (`--alerts PATH`, else DIR/alerts.toml
/// next to the database when it exists), evaluates it as events commit and
/// every second, runs the actions of each firing on a worker thread and
/// appends one `alert` event per firing (rule, incident, target, message and
/// how the actions went). An incident fires once: incidents whose `alert` is
/// in the log are never fired again, also after a restart; and a (rule,
/// target) alerts at most once per `cooldown` (default 10m).
///
/// Conditions: crash (a crash signal, content unchanged since); idle
/// (`for`: no content change or agent activity for that long); overdue
/// (`by`: a schedule unfired that long after due); tool_failures (`count`
/// failures of one tool in one pane `within` a duration); no_capture (`for`,
/// optional `session` glob: an open session without captures). Message
/// placeholders: {rule} {target} {reason} {incident} {since} {tool} {count}
/// {note} {due} {session}. Commands get ORC_LOG_RULE, ORC_LOG_TARGET,
/// ORC_LOG_MESSAGE, ORC_LOG_INCIDENT, ORC_LOG_SEQ and ORC_LOG_TS.
///
/// Incidents that began before the server's start are not fired (it says
/// how many on stderr); `orc-log alerts test` lists them.
#[derive(Debug, clap::Args)]
#[command(after_long_help = EXAMPLE_HELP)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Check a rule file and list its rules; exit 1 (with the file, line,
    /// key and value) when it is not valid.
    Check {
        /// The rule file [default: DIR/alerts.toml next to the database].
        #[arg(long, value_name = "PATH")]
        rules: Option<PathBuf>,
    },
    /// Evaluate the rules against the log and print what would fire, and the
    /// incidents a cool-down holds with when they would fire, without running
    /// actions or appending anything.
    Test {
        /// The rule file [default: DIR/alerts.toml next to the database].
        #[arg(long, value_name = "PATH")]
        rules: Option<PathBuf>,
        /// Evaluate the log up to this time, at this time (RFC 3339, a duration before now such as 10m, or
        /// now) [default: the whole log, now].
        #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
        at: Option<i64>,
        /// Only incidents that began at or after this time (RFC 3339, a duration before now such as 10m, or
        /// now), as `serve` fires only those that began after its start [default: all].
        #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
        since: Option<i64>,
    },
}

impl Args {
    /// Whether this is `alerts check`, which needs no database.
    pub fn is_check(&self) -> bool {
        matches!(self.action, Action::Check { .. })
    }
}

/// The rule file to use: `flag` (relative to `cwd`), else `DIR/alerts.toml`.
pub fn rules_path(db_dir: &Path, flag: Option<&Path>, cwd: &Path) -> PathBuf {
    match flag {
        Some(p) if p.is_absolute() => p.to_owned(),
        Some(p) => cwd.join(p),
        None => db_dir.join(RULES_FILE),
    }
}

/// One line per rule, for `check` and `serve`.
pub fn describe(rules: &Rules) -> Vec<String> {
    use orc_log_alerts::config::Condition;
    rules
        .rules
        .iter()
        .map(|r| {
            let d =
                |ns: i64| humantime::format_duration(std::time::Duration::from_nanos(ns as u64)).to_string();
            let when = match &r.condition {
                Condition::Crash => "crash".to_owned(),
                Condition::Idle { for_ns } => format!("idle for {}", d(*for_ns)),
                Condition::Overdue { by_ns } => format!("overdue by {}", d(*by_ns)),
                Condition::ToolFailures { count, within_ns } => {
                    format!("{count} tool failures within {}", d(*within_ns))
                }
                Condition::NoCapture { session, for_ns } => format!(
                    "no capture from {} for {}",
                    session.as_ref().map_or("any session", |p| p.as_str()),
                    d(*for_ns)
                ),
                Condition::Cost { over_nanos, within_ns, team } => format!(
                    "{} cost over ${} within {}",
                    if *team { "team" } else { "agent" },
                    *over_nanos as f64 / 1e9,
                    d(*within_ns)
                ),
                Condition::RateLimited { grace_ns } => format!("rate limited (grace {})", d(*grace_ns)),
            };
            let mut actions = Vec::new();
            if let Some(t) = &r.action.tmux {
                actions.push(format!("tmux {t}"));
            }
            if r.action.command.is_some() {
                actions.push("command".to_owned());
            }
            if let Some(w) = &r.action.webhook {
                actions.push(format!("webhook {w}"));
            }
            if let Some(text) = &r.action.resume {
                actions.push(format!("resume {text:?}"));
            }
            let target = r.target.as_ref().map_or("*", |p| p.as_str());
            format!(
                "{}: {when} on {target} -> {} (cooldown {})",
                r.name,
                actions.join(", "),
                d(r.cooldown_ns)
            )
        })
        .collect()
}

fn load(path: &Path) -> Result<Rules> {
    Ok(Rules::load(path)?)
}

/// Runs `orc-log alerts check` (no database needed).
pub fn run_check(db_dir: &Path, args: Args, io: &mut Io) -> Result<u8> {
    let Action::Check { rules } = args.action else { anyhow::bail!("internal: not alerts check") };
    let path = rules_path(db_dir, rules.as_deref(), &io.cwd);
    let rules = load(&path)?;
    writeln!(io.out, "ok: {} rules in {}", rules.rules.len(), path.display())?;
    for line in describe(&rules) {
        writeln!(io.out, "  {line}")?;
    }
    Ok(0)
}

/// Tells, on stderr, that `serve` does not fire the incidents in `skipped`,
/// which began before its start (`cutoff`), and how to list them.
pub fn say_skipped_at_start(cutoff: orc_log_alerts::Cutoff, skipped: &[orc_log_alerts::Firing]) {
    let Some(earliest) = skipped.iter().map(|f| f.began_ns).min() else { return };
    eprintln!(
        "orc-log: alerts: {} incident(s) began before this start ({}, seq {}) and are not fired; \
         list them with `orc-log alerts test --since {}`",
        skipped.len(),
        format_rfc3339(cutoff.ts_ns),
        cutoff.seq,
        format_rfc3339(earliest)
    );
}

/// The actions of `rule`, short (`tmux orc:0.0, command, webhook`).
fn actions_of(rule: Option<&orc_log_alerts::config::Rule>) -> String {
    let mut actions = Vec::new();
    if let Some(r) = rule {
        if let Some(p) = &r.action.tmux {
            actions.push(format!("tmux {p}"));
        }
        if r.action.command.is_some() {
            actions.push("command".into());
        }
        if r.action.webhook.is_some() {
            actions.push("webhook".into());
        }
        if r.action.resume.is_some() {
            actions.push("resume".into());
        }
    }
    actions.join(", ")
}

/// Runs `orc-log alerts` against an open database.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let (rules, at, since) = match args.action {
        Action::Check { .. } => return run_check(db.dir(), args, io),
        Action::Test { rules, at, since } => (rules, at, since),
    };
    let path = rules_path(db.dir(), rules.as_deref(), &io.cwd);
    let rules = load(&path)?;
    let snap = db.snapshot();
    let until = match at {
        Some(t) => Some(snap.seq_at_time(t).context("cannot find the log position at --at")?),
        None => None,
    };
    let tracker =
        orc_log_projections::view_at::<Tracker>(&snap, until.unwrap_or(snap.head().seq))?.projection;
    let now = at.unwrap_or_else(orc_log_schemas::now_ns);
    let cutoff = since.map(|ts_ns| Cutoff { ts_ns, seq: u64::MAX });
    let found = evaluate_all(&rules, &tracker, now, cutoff);
    writeln!(
        io.out,
        "{} rules from {}, log up to seq {}, evaluated at {}: {} would fire",
        rules.rules.len(),
        path.display(),
        tracker.seq(),
        format_rfc3339(now),
        found.firings.len()
    )?;
    let rule = |name: &str| rules.rules.iter().find(|r| r.name == name);
    if !found.firings.is_empty() {
        let mut t = firing_table("message", "actions");
        for f in &found.firings {
            t.add_row(firing_row(f, f.message.clone(), actions_of(rule(&f.rule))));
        }
        writeln!(io.out, "{t}")?;
    }
    if !found.held.is_empty() {
        writeln!(
            io.out,
            "{} held by a cool-down (their rule alerted the same target lately); each fires at the time shown if it still holds then:",
            found.held.len()
        )?;
        let mut t = firing_table("fires at", "message");
        for (f, at_ns) in &found.held {
            t.add_row(firing_row(f, format_rfc3339(*at_ns), f.message.clone()));
        }
        writeln!(io.out, "{t}")?;
    }
    if let (Some(since), false) = (since, found.before_cutoff.is_empty()) {
        writeln!(
            io.out,
            "{} began before --since {} (not listed)",
            found.before_cutoff.len(),
            format_rfc3339(since)
        )?;
    }
    Ok(0)
}

/// A table of incidents: rule, incident, target, seq, began, then the
/// columns `extra_a` and `extra_b`.
fn firing_table(extra_a: &str, extra_b: &str) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["rule", "incident", "target", "seq", "began", extra_a, extra_b]);
    t
}

/// One row of [`firing_table`].
fn firing_row(f: &Firing, extra_a: String, extra_b: String) -> [String; 7] {
    [
        f.rule.clone(),
        f.incident.clone(),
        f.key(),
        f.seq.to_string(),
        format_rfc3339(f.began_ns),
        extra_a,
        extra_b,
    ]
}
