//! The rule file (TOML), checked on load.
//!
//! ```toml
//! tmux_socket = "orc"            # optional: tmux -L NAME for tmux actions (default server if absent)
//!
//! [[rule]]
//! name = "engineer-crashed"      # unique; letters, digits, '-', '_', '.'
//! when = "crash"                 # crash | idle | overdue | tool_failures | no_capture | cost | rate_limited
//! target = "team:*"              # optional glob on the pane target (session for no_capture)
//! cooldown = "10m"               # optional, default 10m: at most one alert per (rule, target) in this time
//! [rule.action]
//! tmux = "team:0.0"              # type the message into this pane (then Enter)
//! command = "notify-send orc"    # run with `sh -c`; ORC_LOG_* variables in its environment
//! webhook = "http://127.0.0.1:9000/hook"   # POST the alert as JSON (http:// only)
//! message = "{target} crashed: {reason}"   # optional template
//! ```
//!
//! Condition keys: `idle`: `for = "10m"`; `overdue`: `by = "5m"`;
//! `tool_failures`: `count = 3`, `within = "10m"`; `no_capture`: `for = "5m"`
//! and optional `session = "team"` (a glob); `cost`: `over = 5.0` (US
//! dollars), `within = "1h"` (at most 7 days) and optional `per = "agent"`
//! (each pane, the default) or `"team"` (every agent together);
//! `rate_limited`: optional `grace = "2m"` (default 1 minute), the wait
//! after the reset time before the action `resume`.
//!
//! The action `resume = "continue"` (or `resume = true`, which types
//! `continue`) applies to `rate_limited` rules only: at the limit's reset
//! time plus `grace`, if the pane still shows that same limit, the text is
//! typed into the limited pane (then Enter) once, logged as a `message`
//! and an `alert` (incident `resume:TARGET:SEQ`); its other actions run
//! when the limit is first seen (incident `rate_limited:TARGET:SEQ`). Durations use humantime syntax
//! (`30s`, `10m`, `1h 30m`). Unknown keys, a key that does not belong to the
//! rule's condition, a bad duration or glob, an unknown placeholder in
//! `message`, an empty action and duplicate rule names are errors naming the
//! file, the line and the value.

use glob::Pattern;
use orc_log_schemas::Target;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Default cool-down per (rule, target).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(600);

/// Placeholders a `message` template may use (`{name}`).
pub const PLACEHOLDERS: [&str; 12] = [
    "rule",
    "target",
    "reason",
    "incident",
    "since",
    "tool",
    "count",
    "note",
    "due",
    "session",
    "cost",
    "resets_at",
];

/// The text a `resume = true` action types.
pub const DEFAULT_RESUME_TEXT: &str = "continue";

/// The default `grace` of a `rate_limited` rule.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// The longest `within` of a `cost` rule (what the evaluation keeps of the usage).
pub const MAX_COST_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A rule file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// What is wrong, naming the key and the value.
    pub message: String,
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A pane is crashed (a crash signal, its content unchanged since).
    Crash,
    /// A live pane's content and agent have not changed for `for_ns`
    /// (nanoseconds), or its agent stopped that long ago.
    Idle {
        /// Threshold, ns.
        for_ns: i64,
    },
    /// A schedule is unfired `by_ns` (ns) after it was due. The state keeps
    /// every unfired schedule for ten minutes past due, then only the newest
    /// four per pane (`orc_log_projections::schedules`): a `by` longer than
    /// ten minutes may miss older ones on a pane with more overdue.
    Overdue {
        /// Threshold, ns.
        by_ns: i64,
    },
    /// A pane's tool (same tool name) failed `count` times within `within_ns` (ns).
    ToolFailures {
        /// Failures needed.
        count: u32,
        /// Window, ns.
        within_ns: i64,
    },
    /// An open session had no capture for `for_ns` (ns).
    NoCapture {
        /// Only sessions matching this glob (all when `None`).
        session: Option<Pattern>,
        /// Threshold, ns.
        for_ns: i64,
    },
    /// An agent's (a pane's) or the team's cost within the last `within_ns`
    /// (ns) is over `over_nanos` (nano-dollars).
    Cost {
        /// Threshold, nano-dollars.
        over_nanos: u64,
        /// Window, ns.
        within_ns: i64,
        /// Every agent together (`per = "team"`) instead of each pane.
        team: bool,
    },
    /// A pane shows a usage-limit banner (status `rate_limited`).
    RateLimited {
        /// Wait after the reset time before `resume`, ns.
        grace_ns: i64,
    },
}

impl Condition {
    /// The `when` word.
    pub fn name(&self) -> &'static str {
        match self {
            Condition::Crash => "crash",
            Condition::Idle { .. } => "idle",
            Condition::Overdue { .. } => "overdue",
            Condition::ToolFailures { .. } => "tool_failures",
            Condition::NoCapture { .. } => "no_capture",
            Condition::Cost { .. } => "cost",
            Condition::RateLimited { .. } => "rate_limited",
        }
    }
}

/// What a firing does (any of the three, in this order: tmux, command, webhook).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Action {
    /// Pane to type the message into.
    pub tmux: Option<Target>,
    /// Shell command (`sh -c`).
    pub command: Option<String>,
    /// URL to POST the alert (JSON) to.
    pub webhook: Option<String>,
    /// Message template (the condition's default when `None`).
    pub message: Option<String>,
    /// `rate_limited` only: the text typed into the limited pane once the
    /// limit reset (see the module docs).
    pub resume: Option<String>,
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Unique name (the `rule` of its `alert` events).
    pub name: String,
    /// What it watches.
    pub condition: Condition,
    /// Glob on the pane target (`session:window.pane`; the session for
    /// `no_capture`); all when `None`.
    pub target: Option<Pattern>,
    /// Cool-down per (rule, target), ns.
    pub cooldown_ns: i64,
    /// What to do.
    pub action: Action,
}

/// A checked rule file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rules {
    /// tmux socket name (`tmux -L NAME`) for tmux actions; the default server when `None`.
    pub tmux_socket: Option<String>,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tmux_socket: Option<Spanned<String>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    when: Spanned<String>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    by: Option<Spanned<String>>,
    count: Option<Spanned<i64>>,
    within: Option<Spanned<String>>,
    session: Option<Spanned<String>>,
    over: Option<Spanned<f64>>,
    per: Option<Spanned<String>>,
    grace: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    cooldown: Option<Spanned<String>>,
    action: Spanned<RawAction>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawResume {
    On(bool),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    tmux: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    resume: Option<Spanned<RawResume>>,
}

/// Turns byte offsets into line numbers and errors.
struct Src<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Src<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text.get(..offset).map_or(1, |t| t.matches('\n').count() + 1)
    }

    fn err<T>(&self, span: std::ops::Range<usize>, message: String) -> Result<T, ConfigError> {
        Err(ConfigError { path: self.path.to_owned(), line: Some(self.line(span.start)), message })
    }

    fn duration(&self, rule: &str, key: &str, v: &Spanned<String>) -> Result<i64, ConfigError> {
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Ok(_) => {
                self.err(v.span(), format!("rule {rule:?}: `{key}` = {:?} must be more than 0", v.get_ref()))
            }
            Err(e) => self.err(
                v.span(),
                format!(
                    "rule {rule:?}: `{key}` = {:?} is not a duration like \"30s\" or \"10m\" ({e})",
                    v.get_ref()
                ),
            ),
        }
    }

    fn glob(&self, rule: &str, key: &str, v: &Spanned<String>) -> Result<Pattern, ConfigError> {
        Pattern::new(v.get_ref()).or_else(|e| {
            self.err(v.span(), format!("rule {rule:?}: `{key}` = {:?} is not a glob ({e})", v.get_ref()))
        })
    }
}

/// Checks a template's `{placeholders}`.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { return Err("has a `{` without `}`".into()) };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("uses unknown placeholder {{{name}}} (known: {})", PLACEHOLDERS.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

impl Rules {
    /// Reads and checks the rule file at `path`.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read or is not a valid rule file.
    pub fn load(path: &Path) -> Result<Rules, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the rule file: {e}"),
        })?;
        Rules::parse(path, &text)
    }

    /// Checks rule-file text; `path` only names it in errors.
    ///
    /// # Errors
    /// [`ConfigError`] with the line and key for any problem (see the module docs).
    pub fn parse(path: &Path, text: &str) -> Result<Rules, ConfigError> {
        let src = Src { path, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: e.span().map(|s| src.line(s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let mut rules: Vec<Rule> = Vec::new();
        for spanned in &raw.rule {
            let r = spanned.get_ref();
            let name = r.name.get_ref().clone();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return src.err(
                    r.name.span(),
                    format!("rule name {name:?} must be non-empty letters, digits, '-', '_' or '.'"),
                );
            }
            if rules.iter().any(|x| x.name == name) {
                return src.err(r.name.span(), format!("rule name {name:?} is used twice"));
            }
            let when = r.when.get_ref().as_str();
            // Which condition keys this `when` takes.
            let allowed: &[&str] = match when {
                "crash" => &[],
                "idle" => &["for"],
                "overdue" => &["by"],
                "tool_failures" => &["count", "within"],
                "no_capture" => &["for", "session"],
                "cost" => &["over", "within", "per"],
                "rate_limited" => &["grace"],
                other => {
                    return src.err(
                        r.when.span(),
                        format!(
                            "rule {name:?}: unknown condition `when` = {other:?} (expected crash, idle, overdue, tool_failures, no_capture, cost or rate_limited)"
                        ),
                    );
                }
            };
            let present = [
                ("for", r.for_.as_ref().map(Spanned::span)),
                ("by", r.by.as_ref().map(Spanned::span)),
                ("count", r.count.as_ref().map(Spanned::span)),
                ("within", r.within.as_ref().map(Spanned::span)),
                ("session", r.session.as_ref().map(Spanned::span)),
                ("over", r.over.as_ref().map(Spanned::span)),
                ("per", r.per.as_ref().map(Spanned::span)),
                ("grace", r.grace.as_ref().map(Spanned::span)),
            ];
            for (key, span) in present {
                if let Some(span) = span
                    && !allowed.contains(&key)
                {
                    return src
                        .err(span, format!("rule {name:?}: `{key}` does not apply to when = {when:?}"));
                }
            }
            let need = |key: &str, v: Option<&Spanned<String>>| -> Result<i64, ConfigError> {
                match v {
                    Some(v) => src.duration(&name, key, v),
                    None => src.err(
                        r.when.span(),
                        format!("rule {name:?}: when = {when:?} needs `{key}` (a duration such as \"10m\")"),
                    ),
                }
            };
            let condition = match when {
                "crash" => Condition::Crash,
                "idle" => Condition::Idle { for_ns: need("for", r.for_.as_ref())? },
                "overdue" => Condition::Overdue { by_ns: need("by", r.by.as_ref())? },
                "tool_failures" => {
                    let count = match &r.count {
                        Some(c) if (1..=10_000).contains(c.get_ref()) => *c.get_ref() as u32,
                        Some(c) => {
                            return src.err(
                                c.span(),
                                format!("rule {name:?}: `count` = {} must be 1 to 10000", c.get_ref()),
                            );
                        }
                        None => {
                            return src.err(
                                r.when.span(),
                                format!("rule {name:?}: when = \"tool_failures\" needs `count` (e.g. 3)"),
                            );
                        }
                    };
                    Condition::ToolFailures { count, within_ns: need("within", r.within.as_ref())? }
                }
                "cost" => {
                    let over_nanos = match &r.over {
                        Some(o) => {
                            match orc_log_schemas::Usd::from_dollars(*o.get_ref()) {
                                Some(u) if u.nanos > 0 => u.nanos,
                                _ => {
                                    return src.err(
                                    o.span(),
                                    format!("rule {name:?}: `over` = {} must be a positive number of US dollars", o.get_ref()),
                                );
                                }
                            }
                        }
                        None => {
                            return src.err(
                                r.when.span(),
                                format!("rule {name:?}: when = \"cost\" needs `over` (US dollars, e.g. 5.0)"),
                            );
                        }
                    };
                    let within_ns = need("within", r.within.as_ref())?;
                    if within_ns > MAX_COST_WINDOW.as_nanos() as i64
                        && let Some(w) = &r.within
                    {
                        return src.err(
                            w.span(),
                            format!("rule {name:?}: `within` = {:?} is over 7 days", w.get_ref()),
                        );
                    }
                    let team = match r.per.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
                        None | Some(("agent", _)) => false,
                        Some(("team", _)) => true,
                        Some((other, span)) => {
                            return src.err(
                                span,
                                format!("rule {name:?}: `per` = {other:?} must be \"agent\" or \"team\""),
                            );
                        }
                    };
                    Condition::Cost { over_nanos, within_ns, team }
                }
                "rate_limited" => Condition::RateLimited {
                    grace_ns: match &r.grace {
                        Some(g) => src.duration(&name, "grace", g)?,
                        None => DEFAULT_GRACE.as_nanos() as i64,
                    },
                },
                _ => Condition::NoCapture {
                    session: r.session.as_ref().map(|s| src.glob(&name, "session", s)).transpose()?,
                    for_ns: need("for", r.for_.as_ref())?,
                },
            };
            let target = r.target.as_ref().map(|t| src.glob(&name, "target", t)).transpose()?;
            let cooldown_ns = match &r.cooldown {
                Some(c) => src.duration(&name, "cooldown", c)?,
                None => DEFAULT_COOLDOWN.as_nanos() as i64,
            };
            let a = r.action.get_ref();
            let tmux = match &a.tmux {
                Some(t) => Some(t.get_ref().parse::<Target>().or_else(|e| {
                    src.err(
                        t.span(),
                        format!(
                            "rule {name:?}: action `tmux` = {:?} is not a pane target ({e})",
                            t.get_ref()
                        ),
                    )
                })?),
                None => None,
            };
            if let Some(c) = &a.command
                && c.get_ref().trim().is_empty()
            {
                return src.err(c.span(), format!("rule {name:?}: action `command` is empty"));
            }
            if let Some(w) = &a.webhook
                && !w.get_ref().starts_with("http://")
            {
                return src.err(
                    w.span(),
                    format!("rule {name:?}: action `webhook` = {:?} must be an http:// URL", w.get_ref()),
                );
            }
            if let Some(m) = &a.message
                && let Err(why) = check_template(m.get_ref())
            {
                return src.err(m.span(), format!("rule {name:?}: `message` = {:?} {why}", m.get_ref()));
            }
            let resume = match &a.resume {
                None => None,
                Some(res) if when != "rate_limited" => {
                    return src.err(
                        res.span(),
                        format!("rule {name:?}: action `resume` applies to when = \"rate_limited\" only"),
                    );
                }
                Some(res) => match res.get_ref() {
                    RawResume::On(true) => Some(DEFAULT_RESUME_TEXT.to_owned()),
                    RawResume::On(false) => None,
                    RawResume::Text(t) if t.trim().is_empty() || t.contains(['\n', '\r']) => {
                        return src.err(
                            res.span(),
                            format!("rule {name:?}: action `resume` = {t:?} must be one non-empty line"),
                        );
                    }
                    RawResume::Text(t) => Some(t.clone()),
                },
            };
            if tmux.is_none() && a.command.is_none() && a.webhook.is_none() && resume.is_none() {
                return src.err(
                    r.action.span(),
                    format!(
                        "rule {name:?}: [rule.action] needs at least one of `tmux`, `command`, `webhook`{}",
                        if when == "rate_limited" { ", `resume`" } else { "" }
                    ),
                );
            }
            rules.push(Rule {
                name,
                condition,
                target,
                cooldown_ns,
                action: Action {
                    tmux,
                    command: a.command.as_ref().map(|c| c.get_ref().clone()),
                    webhook: a.webhook.as_ref().map(|w| w.get_ref().clone()),
                    message: a.message.as_ref().map(|m| m.get_ref().clone()),
                    resume,
                },
            });
        }
        Ok(Rules { tmux_socket: raw.tmux_socket.map(Spanned::into_inner), rules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Rules, ConfigError> {
        Rules::parse(Path::new("alerts.toml"), text)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(r) => panic!("should be refused: {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    const CRASH: &str = "[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ntmux = \"team:0.0\"\n";

    #[test]
    fn parses_every_condition() {
        let text = r#"
tmux_socket = "orc"
[[rule]]
name = "crash"
when = "crash"
target = "team:*"
[rule.action]
tmux = "team:0"
message = "{target} crashed: {reason}"

[[rule]]
name = "idle"
when = "idle"
for = "10m"
cooldown = "1h"
[rule.action]
webhook = "http://127.0.0.1:9/hook"

[[rule]]
name = "late"
when = "overdue"
by = "5m"
[rule.action]
command = "true"

[[rule]]
name = "tools"
when = "tool_failures"
count = 3
within = "10m"
[rule.action]
command = "true"

[[rule]]
name = "silent"
when = "no_capture"
session = "team"
for = "5m"
[rule.action]
command = "true"
"#;
        let r = parse(text).unwrap();
        assert_eq!(r.tmux_socket.as_deref(), Some("orc"));
        let names: Vec<_> = r.rules.iter().map(|r| r.condition.name()).collect();
        assert_eq!(names, ["crash", "idle", "overdue", "tool_failures", "no_capture"]);
        assert_eq!(r.rules[0].action.tmux.as_ref().map(ToString::to_string).as_deref(), Some("team:0.0"));
        assert_eq!(r.rules[0].cooldown_ns, 600_000_000_000);
        assert_eq!(r.rules[1].condition, Condition::Idle { for_ns: 600_000_000_000 });
        assert_eq!(r.rules[1].cooldown_ns, 3_600_000_000_000);
        assert_eq!(r.rules[3].condition, Condition::ToolFailures { count: 3, within_ns: 600_000_000_000 });
        assert!(
            matches!(&r.rules[4].condition, Condition::NoCapture { session: Some(p), .. } if p.matches("team"))
        );
        assert!(r.rules[0].target.as_ref().unwrap().matches("team:3.1"));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let e = err(&format!("{CRASH}colour = \"red\"\n"));
        assert!(e.starts_with("alerts.toml:6:") && e.contains("colour"), "{e}");
        let e =
            err("[[rule]]\nname = \"c\"\nwhen = \"crash\"\nfrequency = 1\n[rule.action]\ntmux = \"a:0\"\n");
        assert!(e.starts_with("alerts.toml:4:") && e.contains("frequency"), "{e}");
    }

    #[test]
    fn bad_durations_unknown_conditions_and_misplaced_keys_are_refused() {
        let e = err(
            "[[rule]]\nname = \"i\"\nwhen = \"idle\"\nfor = \"ten minutes\"\n[rule.action]\ncommand = \"x\"\n",
        );
        assert!(e.starts_with("alerts.toml:4:") && e.contains("`for` = \"ten minutes\""), "{e}");
        let e = err("[[rule]]\nname = \"i\"\nwhen = \"sleepy\"\n[rule.action]\ncommand = \"x\"\n");
        assert!(e.starts_with("alerts.toml:3:") && e.contains("\"sleepy\""), "{e}");
        let e =
            err("[[rule]]\nname = \"i\"\nwhen = \"crash\"\nby = \"5m\"\n[rule.action]\ncommand = \"x\"\n");
        assert!(e.contains("`by` does not apply"), "{e}");
        let e = err("[[rule]]\nname = \"i\"\nwhen = \"idle\"\n[rule.action]\ncommand = \"x\"\n");
        assert!(e.contains("needs `for`"), "{e}");
        let e =
            err("[[rule]]\nname = \"i\"\nwhen = \"idle\"\nfor = \"0s\"\n[rule.action]\ncommand = \"x\"\n");
        assert!(e.contains("more than 0"), "{e}");
        let e = err(
            "[[rule]]\nname = \"t\"\nwhen = \"tool_failures\"\ncount = 0\nwithin = \"1m\"\n[rule.action]\ncommand = \"x\"\n",
        );
        assert!(e.starts_with("alerts.toml:4:") && e.contains("`count` = 0"), "{e}");
    }

    #[test]
    fn bad_actions_templates_and_duplicates_are_refused() {
        let e = err("[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\nmessage = \"hi\"\n");
        assert!(e.contains("needs at least one of"), "{e}");
        let e = err("[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ntmux = \"no target\"\n");
        assert!(e.starts_with("alerts.toml:5:") && e.contains("not a pane target"), "{e}");
        let e = err("[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\nwebhook = \"https://x\"\n");
        assert!(e.contains("http://"), "{e}");
        let e = err(&format!("{CRASH}message = \"{{who}} died\"\n"));
        assert!(e.starts_with("alerts.toml:6:") && e.contains("{who}"), "{e}");
        let e = err(&format!("{CRASH}{CRASH}"));
        assert!(e.starts_with("alerts.toml:7:") && e.contains("used twice"), "{e}");
        let e = err("[[rule]]\nname = \"c\"\nwhen = \"crash\"\n");
        assert!(e.contains("action"), "{e}");
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let e = Rules::load(Path::new("/nonexistent/alerts.toml")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/alerts.toml: cannot read"), "{e}");
    }
}
