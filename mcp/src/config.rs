//! The `orc-log` entry of a Claude Code MCP configuration file: a project's
//! `.mcp.json`, or the user's `~/.claude.json`. Both keep servers in a
//! top-level `mcpServers` object, one entry per server name:
//!
//! ```json
//! {"mcpServers": {"orc-log": {"command": "orc-log", "args": ["mcp"]}}}
//! ```
//!
//! [`install`] adds or updates that one entry; every other key, server and
//! field of the entry (such as `env`) is kept, in its order.

use serde_json::{Map, Value};

/// The server's name in `mcpServers`.
pub const SERVER_NAME: &str = "orc-log";

/// Why a configuration file cannot take the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not JSON.
    #[error("not JSON ({0}); fix or move the file, orc-log does not overwrite it")]
    NotJson(String),
    /// The JSON is not of Claude Code's shape at `field`.
    #[error("field {field}: expected an object; fix the file, orc-log does not overwrite it")]
    Shape {
        /// Where, e.g. `mcpServers`.
        field: String,
    },
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The entry was already there, the same: nothing to write.
    None,
    /// There was no entry; one was added.
    Added,
    /// The entry ran another command or arguments; they were replaced.
    Updated,
}

/// The new file text (pretty JSON, two-space indent, final newline; the
/// old text itself when nothing changed) and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The text to write.
    pub text: String,
    /// What changed.
    pub change: Change,
}

/// Sets `mcpServers.orc-log` in the configuration text `existing` (`None`
/// or blank for a missing or empty file) to run `command` with `args` over
/// stdio. Running it again with the same command changes nothing.
///
/// # Errors
/// [`ConfigError::NotJson`] when `existing` is not JSON;
/// [`ConfigError::Shape`] when it, `mcpServers` or the entry is not an object.
pub fn install(existing: Option<&str>, command: &str, args: &[String]) -> Result<Installed, ConfigError> {
    let old = existing.filter(|t| !t.trim().is_empty());
    let mut root = match old {
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| ConfigError::NotJson(e.to_string()))?,
        None => Value::Object(Map::new()),
    };
    let shape = |field: &str| ConfigError::Shape { field: field.to_owned() };
    let servers = root
        .as_object_mut()
        .ok_or_else(|| shape("(top level)"))?
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| shape("mcpServers"))?;
    let want_args = Value::from(args.to_vec());
    let change = match servers.get_mut(SERVER_NAME) {
        None => {
            let mut entry = Map::new();
            entry.insert("command".to_owned(), Value::from(command));
            entry.insert("args".to_owned(), want_args);
            servers.insert(SERVER_NAME.to_owned(), Value::Object(entry));
            Change::Added
        }
        Some(entry) => {
            let entry = entry.as_object_mut().ok_or_else(|| shape(&format!("mcpServers.{SERVER_NAME}")))?;
            let same = entry.get("command").and_then(Value::as_str) == Some(command)
                && entry.get("args") == Some(&want_args)
                && entry.get("type").is_none_or(|t| t == "stdio");
            if same {
                Change::None
            } else {
                entry.insert("command".to_owned(), Value::from(command));
                entry.insert("args".to_owned(), want_args);
                if entry.get("type").is_some() {
                    entry.insert("type".to_owned(), Value::from("stdio"));
                }
                entry.remove("url");
                Change::Updated
            }
        }
    };
    let text = if change == Change::None {
        existing.unwrap_or_default().to_owned()
    } else {
        let mut t = serde_json::to_string_pretty(&root).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        t.push('\n');
        t
    };
    Ok(Installed { text, change })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args() -> Vec<String> {
        vec!["mcp".to_owned()]
    }

    #[test]
    fn adds_once_and_keeps_everything_else() {
        let old = r#"{"theme": "dark", "mcpServers": {"other": {"command": "x"}}}"#;
        let first = install(Some(old), "orc-log", &args()).unwrap();
        assert_eq!(first.change, Change::Added);
        let v: Value = serde_json::from_str(&first.text).unwrap();
        assert_eq!(v["theme"], "dark");
        assert_eq!(v["mcpServers"]["other"]["command"], "x");
        assert_eq!(v["mcpServers"]["orc-log"], serde_json::json!({"command": "orc-log", "args": ["mcp"]}));
        let again = install(Some(&first.text), "orc-log", &args()).unwrap();
        assert_eq!(again.change, Change::None);
        assert_eq!(again.text, first.text);
    }

    #[test]
    fn updates_another_command_and_keeps_env() {
        let old =
            r#"{"mcpServers": {"orc-log": {"command": "/old/orc-log", "args": ["mcp"], "env": {"A": "1"}}}}"#;
        let done = install(Some(old), "orc-log", &args()).unwrap();
        assert_eq!(done.change, Change::Updated);
        let v: Value = serde_json::from_str(&done.text).unwrap();
        assert_eq!(v["mcpServers"]["orc-log"]["command"], "orc-log");
        assert_eq!(v["mcpServers"]["orc-log"]["env"]["A"], "1");
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        assert!(matches!(install(Some("{nope"), "orc-log", &args()), Err(ConfigError::NotJson(_))));
        assert!(matches!(install(Some("[]"), "orc-log", &args()), Err(ConfigError::Shape { .. })));
        assert!(matches!(
            install(Some(r#"{"mcpServers": 1}"#), "orc-log", &args()),
            Err(ConfigError::Shape { .. })
        ));
        assert_eq!(install(None, "orc-log", &args()).unwrap().change, Change::Added);
    }
}
