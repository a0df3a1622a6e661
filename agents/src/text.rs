//! Bounded, redacted text: what agent events keep of payloads that can be
//! megabytes long (a file an agent wrote, a command's whole output) and may
//! hold secrets.

use orc_log_schemas::ndjson::MAX_ID_BYTES;
use orc_log_tmux::redact::redact;
use serde_json::{Map, Value};

/// Most bytes kept of a tool call's input or response summary.
pub const MAX_SUMMARY_BYTES: usize = 2048;

/// Most bytes kept of a prompt or a notification message.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The marker appended where text was cut.
pub const CUT_MARKER: &str = "…[cut]";

/// `text` redacted, then cut to at most `max_bytes` bytes (on a character
/// boundary, with [`CUT_MARKER`] appended, which counts towards the bound).
pub fn bounded(text: &str, max_bytes: usize) -> String {
    let redacted = redact(text);
    if redacted.len() <= max_bytes {
        return redacted.into_owned();
    }
    let mut end = max_bytes.saturating_sub(CUT_MARKER.len());
    while end > 0 && !redacted.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &redacted[..end])
}

/// A JSON value as compact text for a summary: strings as they are (not
/// quoted), anything else as JSON; redacted and bounded to `max_bytes`.
pub fn summary(value: &Value, max_bytes: usize) -> String {
    match value {
        Value::String(s) => bounded(s, max_bytes),
        other => bounded(&other.to_string(), max_bytes),
    }
}

/// `id` cut to at most [`MAX_ID_BYTES`] bytes, on a character boundary.
pub fn bounded_id(id: String) -> String {
    if id.len() <= MAX_ID_BYTES {
        return id;
    }
    let mut end = MAX_ID_BYTES;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].to_owned()
}

/// The non-empty string at `key` of a JSON object, if any.
pub fn string_field(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_char_boundary_and_redacts() {
        let long = "é".repeat(100);
        let cut = bounded(&long, 51);
        assert!(cut.len() <= 51, "{}", cut.len());
        assert!(cut.ends_with(CUT_MARKER));
        assert_eq!(bounded("short", 10), "short");
        let secret = "token ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(bounded(secret, 100), "token [REDACTED:github-token]");
    }

    #[test]
    fn summary_keeps_strings_bare_and_objects_as_json() {
        assert_eq!(summary(&Value::from("ls -la"), 100), "ls -la");
        assert_eq!(summary(&serde_json::json!({"command": "ls"}), 100), r#"{"command":"ls"}"#);
    }
}
