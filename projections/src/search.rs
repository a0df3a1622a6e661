//! Full-text search over what the team saw and said: capture text (escape
//! sequences removed; `capture-pane -J` already joined wrapped lines) and
//! message texts, each hit with the pane and the time to replay from.
//!
//! A capture is a whole screen, so text stays visible across many captures;
//! a capture is a hit only where the pattern occurs more often than in the
//! pane's previous capture (it just appeared). Text planted once gives one hit.

use crate::ansi;
use orc_log_engine::{Filter, Snapshot};
use orc_log_schemas::{EventBody, Kind, Target};
use std::collections::HashMap;

/// Characters of context on each side of a match in a snippet.
pub const SNIPPET_CONTEXT: usize = 60;

/// What to search.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// The text to find (literal, not a regular expression), 1 to 1000 bytes.
    pub pattern: String,
    /// Match regardless of case.
    pub ignore_case: bool,
    /// Only this pane (captures of it, messages to it).
    pub target: Option<Target>,
    /// Only events at or after this time (UTC ns).
    pub since_ns: Option<i64>,
    /// Only events at or before this time (UTC ns).
    pub until_ns: Option<i64>,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The pattern is empty or longer than 1000 bytes.
    #[error("the search pattern must be 1 to 1000 bytes long (it is {0})")]
    Pattern(usize),
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] orc_log_engine::Error),
}

/// One place the pattern occurs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// Seq of the capture or message.
    pub seq: u64,
    /// Its time, UTC ns.
    #[serde(skip)]
    pub ts_ns: i64,
    /// `capture` or `message`.
    pub kind: &'static str,
    /// The pane: the captured pane, or the message's recipient.
    pub target: String,
    /// The matching line, cut to [`SNIPPET_CONTEXT`] characters around the match.
    pub snippet: String,
    /// Where a replay shows the hit from just before it: the pane's previous
    /// capture (or the hit itself when there is none), UTC ns.
    #[serde(skip)]
    pub replay_since_ns: i64,
}

impl Hit {
    /// The hit as `orc-log search --format json` and the MCP `search` tool
    /// show it: `{seq, ts, kind, target, snippet, replay_since}`, times in
    /// RFC 3339.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "ts": orc_log_schemas::format_rfc3339(self.ts_ns),
            "kind": self.kind,
            "target": self.target,
            "snippet": self.snippet,
            "replay_since": orc_log_schemas::format_rfc3339(self.replay_since_ns),
        })
    }
}

/// A literal matcher, optionally ignoring case.
struct Matcher {
    needle: String,
    ignore_case: bool,
}

impl Matcher {
    fn fold(&self, text: &str) -> String {
        if self.ignore_case { text.to_lowercase() } else { text.to_owned() }
    }

    /// Occurrences in `text` (already folded).
    fn count(&self, folded: &str) -> usize {
        folded.matches(self.needle.as_str()).count()
    }
}

/// The line of `text` holding the byte offset `at`, cut around it.
fn snippet(text: &str, at: usize, len: usize) -> String {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[start..end];
    let (before, rest) = line.split_at(at - start);
    let (hit, after) = rest.split_at(len.min(rest.len()));
    let before: String = {
        let n = before.chars().count();
        let cut: String = before.chars().skip(n.saturating_sub(SNIPPET_CONTEXT)).collect();
        if n > SNIPPET_CONTEXT { format!("…{}", cut.trim_start()) } else { cut.trim_start().to_owned() }
    };
    let after: String = {
        let cut: String = after.chars().take(SNIPPET_CONTEXT).collect();
        if after.chars().count() > SNIPPET_CONTEXT {
            format!("{}…", cut.trim_end())
        } else {
            cut.trim_end().to_owned()
        }
    };
    format!("{before}{hit}{after}")
}

/// Searches the captures and messages of `log` (up to its head) for
/// `opts.pattern`, calling `each` with every hit in seq order until it
/// returns `false`. Returns the number of events examined.
///
/// # Errors
/// [`SearchError::Pattern`] for an empty or over-long pattern; log read errors.
pub fn search(
    log: &Snapshot,
    opts: &SearchOptions,
    mut each: impl FnMut(Hit) -> bool,
) -> Result<u64, SearchError> {
    if opts.pattern.is_empty() || opts.pattern.len() > 1000 {
        return Err(SearchError::Pattern(opts.pattern.len()));
    }
    let m = Matcher {
        needle: if opts.ignore_case { opts.pattern.to_lowercase() } else { opts.pattern.clone() },
        ignore_case: opts.ignore_case,
    };
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(log.head().seq),
        kinds: vec![Kind::Capture, Kind::Message],
        scope: opts.target.as_ref().map(ToString::to_string),
        since_ns: opts.since_ns,
        until_ns: opts.until_ns,
    };
    // Per pane: occurrences in its previous capture, and that capture's time.
    let mut previous: HashMap<Target, (usize, i64)> = HashMap::new();
    let mut examined = 0u64;
    let first_char = |s: &str| s.chars().next().map_or(0, char::len_utf8);
    log.for_each_record(&filter, |r| {
        examined += 1;
        let ts = r.event.ts_ns;
        let hit = match r.event.body {
            EventBody::Capture { target, content, .. } => {
                let text = ansi::plain(&content);
                let folded = m.fold(&text);
                let n = m.count(&folded);
                let (before, prev_ts) = previous.insert(target.clone(), (n, ts)).unwrap_or((0, ts));
                if n > before && folded.len() == text.len() {
                    // The last occurrence: new text usually appears at the bottom.
                    let at = folded.rfind(m.needle.as_str()).unwrap_or(0);
                    Some(Hit {
                        seq: r.seq,
                        ts_ns: ts,
                        kind: "capture",
                        target: target.to_string(),
                        snippet: snippet(&text, at, m.needle.len()),
                        replay_since_ns: prev_ts,
                    })
                } else if n > before {
                    // Case folding changed byte lengths: the snippet starts at the line's start.
                    let line = text.lines().find(|l| m.count(&m.fold(l)) > 0).unwrap_or("");
                    Some(Hit {
                        seq: r.seq,
                        ts_ns: ts,
                        kind: "capture",
                        target: target.to_string(),
                        snippet: snippet(line, 0, first_char(line)),
                        replay_since_ns: prev_ts,
                    })
                } else {
                    None
                }
            }
            EventBody::Message { to, text, .. } => {
                let folded = m.fold(&text);
                folded.find(m.needle.as_str()).map(|at| {
                    let (at, len) = if folded.len() == text.len() { (at, m.needle.len()) } else { (0, 0) };
                    Hit {
                        seq: r.seq,
                        ts_ns: ts,
                        kind: "message",
                        target: to.to_string(),
                        snippet: snippet(&text, at, len),
                        replay_since_ns: previous.get(&to).map_or(ts, |(_, t)| *t),
                    }
                })
            }
            _ => None,
        };
        Ok::<_, SearchError>(hit.is_none_or(&mut each))
    })?;
    Ok(examined)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snippets_cut_around_the_match() {
        let text = format!("first\n{}NEEDLE{}\nlast", "a".repeat(100), "b".repeat(100));
        let at = text.find("NEEDLE").unwrap();
        let s = snippet(&text, at, 6);
        assert_eq!(s, format!("…{}NEEDLE{}…", "a".repeat(60), "b".repeat(60)));
        assert_eq!(snippet("x NEEDLE y", 2, 6), "x NEEDLE y");
    }

    #[test]
    fn matcher_counts_literally_and_folds_case() {
        let m = Matcher { needle: "a.b".into(), ignore_case: false };
        assert_eq!(m.count("a.b axb a.b"), 2);
        let m = Matcher { needle: "needle".into(), ignore_case: true };
        assert_eq!(m.count(&m.fold("NEEDLE and Needle")), 2);
    }
}
