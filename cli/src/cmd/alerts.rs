//! `orc-log alerts`: check a rule file, or see what it would fire now.

use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_alerts::{Rules, Tracker, evaluate, fold};
use orc_log_engine::SharedLog;
use orc_log_schemas::format_rfc3339;
use std::path::{Path, PathBuf};

/// The rule file's name in the database directory (the default `--rules`).
pub const RULES_FILE: &str = "alerts.toml";

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
/// Example rule file:
///
///     tmux_socket = "orc"                 # optional: tmux -L NAME for tmux actions
///
///     [[rule]]
///     name = "engineer-crashed"
///     when = "crash"                      # crash | idle | overdue | tool_failures | no_capture
///     target = "team:*"                   # optional glob on the pane target
///     [rule.action]
///     tmux = "team:0.0"                   # type the message into this pane, then Enter
///     message = "{target} crashed: {reason}"
///
///     [[rule]]
///     name = "agent-idle"
///     when = "idle"
///     for = "10m"
///     cooldown = "30m"
///     [rule.action]
///     webhook = "http://127.0.0.1:9000/hook"   # POST the alert as JSON
///
///     [[rule]]
///     name = "check-in-overdue"
///     when = "overdue"
///     by = "5m"
///     [rule.action]
///     command = "notify-send \"$ORC_LOG_MESSAGE\""
///
/// Conditions: crash (a crash signal, content unchanged since); idle
/// (`for`: no content change or agent activity for that long); overdue
/// (`by`: a schedule unfired that long after due); tool_failures (`count`
/// failures of one tool in one pane `within` a duration); no_capture (`for`,
/// optional `session` glob: an open session without captures). Message
/// placeholders: {rule} {target} {reason} {incident} {since} {tool} {count}
/// {note} {due} {session}. Commands get ORC_LOG_RULE, ORC_LOG_TARGET,
/// ORC_LOG_MESSAGE, ORC_LOG_INCIDENT, ORC_LOG_SEQ and ORC_LOG_TS.
#[derive(Debug, clap::Args)]
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
    /// Evaluate the rules against the log and print what would fire, without
    /// running actions or appending anything.
    Test {
        /// The rule file [default: DIR/alerts.toml next to the database].
        #[arg(long, value_name = "PATH")]
        rules: Option<PathBuf>,
        /// Evaluate the log up to this time, at this time (RFC 3339)
        /// [default: the whole log, now].
        #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
        at: Option<i64>,
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

/// Runs `orc-log alerts` against an open database.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let (rules, at) = match args.action {
        Action::Check { .. } => return run_check(db.dir(), args, io),
        Action::Test { rules, at } => (rules, at),
    };
    let path = rules_path(db.dir(), rules.as_deref(), &io.cwd);
    let rules = load(&path)?;
    let snap = db.snapshot();
    let until = match at {
        Some(t) => Some(snap.seq_at_time(t).context("cannot find the log position at --at")?),
        None => None,
    };
    let mut tracker = Tracker::default();
    fold(&snap, &mut tracker, until, |_| {})?;
    let now = at.unwrap_or_else(orc_log_schemas::now_ns);
    let firings = evaluate(&rules, &tracker, now);
    writeln!(
        io.out,
        "{} rules from {}, log up to seq {}, evaluated at {}: {} would fire",
        rules.rules.len(),
        path.display(),
        tracker.seq(),
        format_rfc3339(now),
        firings.len()
    )?;
    if !firings.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["rule", "incident", "target", "seq", "message", "actions"]);
        for f in &firings {
            let rule = rules.rules.iter().find(|r| r.name == f.rule);
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
            }
            t.add_row([
                f.rule.clone(),
                f.incident.clone(),
                f.key(),
                f.seq.to_string(),
                f.message.clone(),
                actions.join(", "),
            ]);
        }
        writeln!(io.out, "{t}")?;
    }
    Ok(0)
}
