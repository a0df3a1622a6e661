//! The tmux pane target `session:window.pane`.
//!
//! Follows the target syntax of tmux(1) ("COMMANDS", target-pane) restricted
//! to the fully qualified numeric form orc-log records: a session name, a
//! window index and a pane index. `session:window` means pane 0. tmux itself
//! never allows `:` or `.` in session names, so the split is unambiguous.

use std::fmt;
use std::str::FromStr;

/// A tmux pane: `session:window.pane`, e.g. `proj:1.0`.
///
/// Ordering is by session name, then window index, then pane index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// Session name: non-empty, at most [`Target::MAX_SESSION_BYTES`] bytes,
    /// no `:`, `.`, whitespace or control characters.
    pub session: String,
    /// Window index within the session.
    pub window: u32,
    /// Pane index within the window.
    pub pane: u32,
}

/// Why a string is not a valid [`Target`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No `:` between session and window.
    #[error("expected session:window.pane, found {0:?}")]
    Shape(String),
    /// The session name is empty, too long, or has a forbidden character.
    #[error(
        "bad session name {0:?} (non-empty, at most 256 bytes, no ':', '.', spaces or control characters)"
    )]
    Session(String),
    /// The window or pane index is not a decimal `u32`.
    #[error("bad {what} index {value:?} in target (expected a number)")]
    Index {
        /// `"window"` or `"pane"`.
        what: &'static str,
        /// The text found.
        value: String,
    },
}

impl Target {
    /// Longest session name accepted, in bytes.
    pub const MAX_SESSION_BYTES: usize = 256;

    /// Builds a target after checking the session name.
    ///
    /// # Errors
    /// [`TargetError::Session`] when the name is empty, longer than
    /// [`Target::MAX_SESSION_BYTES`] or holds `:`, `.`, whitespace or a
    /// control character.
    pub fn new(session: impl Into<String>, window: u32, pane: u32) -> Result<Self, TargetError> {
        let session = session.into();
        validate_session(&session)?;
        Ok(Self { session, window, pane })
    }
}

/// Checks a tmux session name as orc-log accepts it (see [`Target::session`]).
///
/// # Errors
/// [`TargetError::Session`] naming the rejected value.
pub fn validate_session(name: &str) -> Result<(), TargetError> {
    let bad = name.is_empty()
        || name.len() > Target::MAX_SESSION_BYTES
        || name.chars().any(|c| c == ':' || c == '.' || c.is_whitespace() || c.is_control());
    if bad { Err(TargetError::Session(name.to_owned())) } else { Ok(()) }
}

fn parse_index(what: &'static str, value: &str) -> Result<u32, TargetError> {
    // `u32::from_str` accepts a leading '+', tmux does not.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::Index { what, value: value.to_owned() });
    }
    value.parse().map_err(|_| TargetError::Index { what, value: value.to_owned() })
}

impl FromStr for Target {
    type Err = TargetError;

    /// Parses `session:window.pane` or `session:window` (pane 0).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (session, rest) = s.split_once(':').ok_or_else(|| TargetError::Shape(s.to_owned()))?;
        let (window, pane) = match rest.split_once('.') {
            Some((w, p)) => (parse_index("window", w)?, parse_index("pane", p)?),
            None => (parse_index("window", rest)?, 0),
        };
        Self::new(session, window, pane)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}.{}", self.session, self.window, self.pane)
    }
}

/// Serialized as its `session:window.pane` string.
impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_full_and_short_forms() {
        assert_eq!("proj:1.2".parse::<Target>().unwrap(), Target::new("proj", 1, 2).unwrap());
        assert_eq!("proj:3".parse::<Target>().unwrap(), Target::new("proj", 3, 0).unwrap());
        assert_eq!(Target::new("a-b_c", 10, 4).unwrap().to_string(), "a-b_c:10.4");
    }

    #[test]
    fn rejects_bad_targets_with_a_reason() {
        assert!(matches!("proj".parse::<Target>(), Err(TargetError::Shape(_))));
        assert!(matches!(":1.0".parse::<Target>(), Err(TargetError::Session(_))));
        assert!(matches!("a b:1.0".parse::<Target>(), Err(TargetError::Session(_))));
        assert!(matches!("p:x.0".parse::<Target>(), Err(TargetError::Index { what: "window", .. })));
        assert!(matches!("p:1.".parse::<Target>(), Err(TargetError::Index { what: "pane", .. })));
        assert!(matches!("p:+1.0".parse::<Target>(), Err(TargetError::Index { .. })));
        assert!(matches!("p:1.0.0".parse::<Target>(), Err(TargetError::Index { .. })));
        assert!(matches!("p:99999999999.0".parse::<Target>(), Err(TargetError::Index { .. })));
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(s in "[a-zA-Z0-9_-]{1,20}", w: u32, p: u32) {
            let t = Target::new(s, w, p).unwrap();
            prop_assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
        }
    }
}
