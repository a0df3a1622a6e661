//! The `orc-log hook` entries of a Claude Code settings file
//! (`~/.claude/settings.json`, or a project's `.claude/settings.json`).
//!
//! Claude Code reads hooks from the settings file's `hooks` object: per hook
//! event, an array of matcher groups, each `{"matcher": PATTERN, "hooks":
//! [{"type": "command", "command": CMD}]}`. The matcher (a tool name
//! pattern; `*` is every tool) applies to the tool events only and is
//! omitted for the others — Claude Code's hooks reference,
//! <https://code.claude.com/docs/en/hooks>. [`install`] adds one group with
//! our command to every event of [`HOOK_EVENTS`]:
//!
//! ```json
//! {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/usr/local/bin/orc-log hook"}]}],
//!            "Stop": [{"hooks": [{"type": "command", "command": "/usr/local/bin/orc-log hook"}]}]}}
//! ```
//!
//! Every other key, event and hook is kept as it is, in its order.

use crate::hook::HOOK_EVENTS;
use serde_json::{Map, Value, json};

/// The hook events whose groups take a tool-name `matcher`.
pub const TOOL_EVENTS: [&str; 3] = ["PreToolUse", "PostToolUse", "PostToolUseFailure"];

/// Why a settings file cannot take the hooks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file is not JSON.
    #[error("not JSON ({0}); fix or move the file, orc-log does not overwrite it")]
    NotJson(String),
    /// The JSON is not of Claude Code's settings shape at `field`.
    #[error("field {field}: expected {expected}; fix the file, orc-log does not overwrite it")]
    Shape {
        /// Where, e.g. `hooks.PreToolUse[0].hooks`.
        field: String,
        /// What Claude Code expects there.
        expected: &'static str,
    },
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The new file text (pretty JSON, two-space indent, final newline); the
    /// old text unchanged when nothing changed.
    pub text: String,
    /// Events that got a new entry.
    pub added: Vec<&'static str>,
    /// Events whose orc-log entry had another command (an older path of
    /// the binary), now set to the new one.
    pub updated: Vec<&'static str>,
}

impl Installed {
    /// Whether the file needs writing.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.updated.is_empty()
    }
}

/// Whether `existing` is an orc-log hook command: exactly `command`, or a
/// program named `orc-log` (any path) run as `hook`, optionally with the
/// database before it (`orc-log --db DIR hook`, `--db=DIR`), words quoted
/// as a POSIX shell quotes them.
fn is_ours(existing: &str, command: &str) -> bool {
    if existing == command {
        return true;
    }
    let Some(words) = shell_words(existing) else { return false };
    let name = |w: &str| w.rsplit('/').next().unwrap_or(w).to_owned();
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [program, "hook"] | [program, "--db", _, "hook"] => name(program) == "orc-log",
        [program, db, "hook"] => name(program) == "orc-log" && db.starts_with("--db="),
        _ => false,
    }
}

/// `s` quoted for a POSIX shell when it needs quoting (Claude Code runs hook
/// commands through a shell): as it is when it has only safe characters,
/// else in single quotes.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@%=:,".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// The words of a simple shell command line (blanks between words, single
/// and double quotes, backslash escapes); `None` when a quote is not closed.
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

fn expect_object<'a>(v: &'a mut Value, field: &str) -> Result<&'a mut Map<String, Value>, SettingsError> {
    v.as_object_mut().ok_or_else(|| SettingsError::Shape { field: field.to_owned(), expected: "an object" })
}

/// Adds an entry running `command` to every event of [`HOOK_EVENTS`] in the
/// settings file text `existing` (`None` or blank for a missing or empty
/// file). An event that already has an orc-log entry (`command` itself, or
/// `.../orc-log hook` from another path, then updated to `command`) gets no
/// second one, so installing twice changes nothing.
///
/// # Errors
/// [`SettingsError::NotJson`] when `existing` is not JSON;
/// [`SettingsError::Shape`] when it is not an object, or `hooks`, an event's
/// list, a group or its `hooks` list is not of the shape above.
pub fn install(existing: Option<&str>, command: &str) -> Result<Installed, SettingsError> {
    let mut root = parse_root(existing)?;
    let root_map = expect_object(&mut root, "(top level)")?;
    let hooks = root_map.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let hooks = expect_object(hooks, "hooks")?;
    let mut added = Vec::new();
    let mut updated = Vec::new();
    for event in HOOK_EVENTS {
        let field = format!("hooks.{event}");
        let groups = hooks.entry(event).or_insert_with(|| Value::Array(Vec::new()));
        let groups = groups.as_array_mut().ok_or_else(|| SettingsError::Shape {
            field: field.clone(),
            expected: "an array of matcher groups",
        })?;
        let mut found = false;
        for (gi, group) in groups.iter_mut().enumerate() {
            let gfield = format!("{field}[{gi}]");
            let group = expect_object(group, &gfield)?;
            let Some(list) = group.get_mut("hooks") else { continue };
            let list = list.as_array_mut().ok_or_else(|| SettingsError::Shape {
                field: format!("{gfield}.hooks"),
                expected: "an array of hooks",
            })?;
            for h in list.iter_mut() {
                let Some(h) = h.as_object_mut() else { continue };
                let Some(existing) = h.get("command").and_then(Value::as_str) else { continue };
                if !is_ours(existing, command) {
                    continue;
                }
                if !found && existing != command {
                    h.insert("command".to_owned(), Value::from(command));
                    updated.push(event);
                }
                found = true;
            }
        }
        if !found {
            let entry = json!({"type": "command", "command": command});
            let group = if TOOL_EVENTS.contains(&event) {
                json!({"matcher": "*", "hooks": [entry]})
            } else {
                json!({"hooks": [entry]})
            };
            groups.push(group);
            added.push(event);
        }
    }
    let text = if added.is_empty() && updated.is_empty() {
        existing.unwrap_or_default().to_owned()
    } else {
        let mut t = serde_json::to_string_pretty(&root).map_err(|e| SettingsError::NotJson(e.to_string()))?;
        t.push('\n');
        t
    };
    Ok(Installed { text, added, updated })
}

/// The `env` settings that make Claude Code export its usage to an OTLP/HTTP
/// receiver (Claude Code's monitoring documentation,
/// <https://docs.claude.com/en/docs/claude-code/monitoring-usage>), with the
/// endpoint last.
pub const OTEL_ENV: [(&str, &str); 4] = [
    ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
    ("OTEL_LOGS_EXPORTER", "otlp"),
    ("OTEL_METRICS_EXPORTER", "otlp"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
];

/// The `env` key naming the receiver's address.
pub const OTEL_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Sets [`OTEL_ENV`] and `OTEL_EXPORTER_OTLP_ENDPOINT` = `endpoint` in the
/// settings file's `env` object (created when missing), keeping every other
/// key. `added` lists the keys that were missing, `updated` those that had
/// another value; installing twice changes nothing.
///
/// # Errors
/// [`SettingsError::NotJson`], or [`SettingsError::Shape`] when the file or
/// its `env` is not an object or a value there is not a string.
pub fn install_otel(existing: Option<&str>, endpoint: &str) -> Result<Installed, SettingsError> {
    let mut root = parse_root(existing)?;
    let root_map = expect_object(&mut root, "(top level)")?;
    let env = expect_object(root_map.entry("env").or_insert_with(|| Value::Object(Map::new())), "env")?;
    let (mut added, mut updated) = (Vec::new(), Vec::new());
    for (key, value) in OTEL_ENV.into_iter().chain([(OTEL_ENDPOINT_ENV, endpoint)]) {
        match env.get(key) {
            None => added.push(key),
            Some(Value::String(v)) if v == value => continue,
            Some(Value::String(_)) => updated.push(key),
            Some(_) => {
                return Err(SettingsError::Shape { field: format!("env.{key}"), expected: "a string" });
            }
        }
        env.insert(key.to_owned(), Value::from(value));
    }
    let text = if added.is_empty() && updated.is_empty() {
        existing.unwrap_or_default().to_owned()
    } else {
        let mut t = serde_json::to_string_pretty(&root).map_err(|e| SettingsError::NotJson(e.to_string()))?;
        t.push('\n');
        t
    };
    Ok(Installed { text, added, updated })
}

/// The settings file's JSON (an empty object for no file, or an empty or
/// blank one).
fn parse_root(existing: Option<&str>) -> Result<Value, SettingsError> {
    match existing.filter(|t| !t.trim().is_empty()) {
        Some(text) => serde_json::from_str(text).map_err(|e| SettingsError::NotJson(e.to_string())),
        None => Ok(Value::Object(Map::new())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn otel_env_is_set_once_keeping_other_keys() {
        let first =
            super::install_otel(Some(r#"{"env": {"FOO": "bar"}, "model": "opus"}"#), "http://127.0.0.1:4318")
                .unwrap();
        assert_eq!(first.added.len(), 5);
        let v: serde_json::Value = serde_json::from_str(&first.text).unwrap();
        assert_eq!(v["env"]["FOO"], "bar");
        assert_eq!(v["model"], "opus");
        assert_eq!(v["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:4318");
        assert_eq!(v["env"]["CLAUDE_CODE_ENABLE_TELEMETRY"], "1");
        let again = super::install_otel(Some(&first.text), "http://127.0.0.1:4318").unwrap();
        assert!(!again.changed());
        let moved = super::install_otel(Some(&first.text), "http://127.0.0.1:9999").unwrap();
        assert_eq!(moved.updated, ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        assert!(super::install_otel(Some(r#"{"env": []}"#), "x").is_err());
    }

    use super::*;

    const CMD: &str = "/opt/bin/orc-log hook";

    fn commands(v: &Value, event: &str) -> Vec<String> {
        v["hooks"][event]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["hooks"].as_array().unwrap().iter())
            .map(|h| h["command"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn empty_or_missing_file_gets_every_event_with_matchers_on_tool_events() {
        for existing in [None, Some(""), Some("  \n"), Some("{}")] {
            let done = install(existing, CMD).unwrap();
            assert_eq!(done.added, HOOK_EVENTS.to_vec());
            let v: Value = serde_json::from_str(&done.text).unwrap();
            for event in HOOK_EVENTS {
                let groups = v["hooks"][event].as_array().unwrap();
                assert_eq!(groups.len(), 1, "{event}");
                assert_eq!(groups[0]["hooks"], json!([{"type": "command", "command": CMD}]));
                let matcher = groups[0].get("matcher").cloned();
                assert_eq!(matcher, TOOL_EVENTS.contains(&event).then(|| Value::from("*")), "{event}");
            }
        }
    }

    #[test]
    fn existing_keys_and_hooks_are_kept_in_order_and_install_is_idempotent() {
        let existing = r#"{
  "model": "opus",
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh", "timeout": 5}]}],
    "Custom": [{"hooks": [{"type": "command", "command": "x"}]}]
  },
  "permissions": {"allow": ["Bash(ls)"]}
}"#;
        let first = install(Some(existing), CMD).unwrap();
        let v: Value = serde_json::from_str(&first.text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["model", "hooks", "permissions"]);
        assert_eq!(v["permissions"], json!({"allow": ["Bash(ls)"]}));
        assert_eq!(commands(&v, "PreToolUse"), ["guard.sh", CMD]);
        assert_eq!(v["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"], 5);
        assert_eq!(v["hooks"]["Custom"], json!([{"hooks": [{"type": "command", "command": "x"}]}]));
        let second = install(Some(&first.text), CMD).unwrap();
        assert!(!second.changed());
        assert_eq!(second.text, first.text);
        // The binary moved: the entry is updated, not doubled.
        let moved = install(Some(&first.text), "/new/orc-log hook").unwrap();
        assert!(moved.added.is_empty());
        assert_eq!(moved.updated, HOOK_EVENTS.to_vec());
        let v: Value = serde_json::from_str(&moved.text).unwrap();
        assert_eq!(commands(&v, "PreToolUse"), ["guard.sh", "/new/orc-log hook"]);
    }

    #[test]
    fn non_json_and_wrong_shapes_are_refused_naming_the_field() {
        assert!(matches!(install(Some("model = opus"), CMD), Err(SettingsError::NotJson(_))));
        let cases = [
            ("[1]", "(top level)"),
            (r#"{"hooks": []}"#, "hooks"),
            (r#"{"hooks": {"Stop": {}}}"#, "hooks.Stop"),
            (r#"{"hooks": {"Stop": [3]}}"#, "hooks.Stop[0]"),
            (r#"{"hooks": {"Stop": [{"hooks": "x"}]}}"#, "hooks.Stop[0].hooks"),
        ];
        for (text, want) in cases {
            match install(Some(text), CMD) {
                Err(SettingsError::Shape { field, .. }) => assert_eq!(field, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_orc_log_hook_commands_count_as_ours() {
        assert!(is_ours("orc-log hook", CMD));
        assert!(is_ours("/usr/bin/orc-log hook", CMD));
        assert!(is_ours(CMD, CMD));
        assert!(!is_ours("orc-log hook --debug", CMD));
        assert!(!is_ours("my-orc-log hook", CMD));
        assert!(!is_ours("orc-log emit", CMD));
        assert!(is_ours("/usr/bin/orc-log --db /data/log hook", CMD));
        assert!(is_ours("orc-log --db='/my dir/log' hook", CMD));
        assert!(is_ours("'/opt/my bin/orc-log' --db \"/my dir\" hook", CMD));
        assert!(!is_ours("orc-log --db /data/log hook --debug", CMD));
        assert!(!is_ours("orc-log --verbose hook", CMD));
        assert!(!is_ours("orc-log 'hook", CMD));
    }

    #[test]
    fn shell_quote_quotes_only_what_needs_it() {
        assert_eq!(shell_quote("/usr/bin/orc-log"), "/usr/bin/orc-log");
        assert_eq!(shell_quote("/my dir/it's"), "'/my dir/it'\\''s'");
        assert_eq!(shell_words(&shell_quote("/my dir/it's")), Some(vec!["/my dir/it's".to_owned()]));
        assert_eq!(shell_quote(""), "''");
    }
}
