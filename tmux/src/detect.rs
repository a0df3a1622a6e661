//! Crash detection in pane captures, as orchestrator monitors do it: a known
//! failure text (a Python traceback, `command not found`, `Segmentation
//! fault`, `Killed`, a Rust panic) seen in a pane.
//!
//! A finding is reported only when it is confirmed by two consecutive polls
//! of the pane, and at most once per incident: an incident is one more
//! occurrence of the pattern in the pane's text than was already reported.

use regex::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Built-in patterns: `(detector name, regex)`.
pub const DEFAULT_PATTERNS: &[(&str, &str)] = &[
    ("python-traceback", r"Traceback \(most recent call last\):"),
    ("command-not-found", r"command not found"),
    ("segfault", r"Segmentation fault"),
    ("killed", r"(?m)^Killed\b"),
    // Rust 1.88+ prints the thread id: `thread 'main' (1895) panicked at`.
    ("rust-panic", r"thread '[^']*'(?: \(\d+\))? panicked at"),
];

/// One pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    name: String,
    regex: Regex,
}

/// The built-in patterns.
pub fn default_patterns() -> Vec<Pattern> {
    DEFAULT_PATTERNS
        .iter()
        .filter_map(|(n, p)| Regex::new(p).ok().map(|regex| Pattern { name: (*n).to_owned(), regex }))
        .collect()
}

/// Why a crash-pattern file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `name regex`.
    #[error("{}: line {line}: expected `name regex`", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
    /// A line's regex does not compile.
    #[error("{}: line {line}: bad regex for {name}", path.display())]
    Regex {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The pattern's name.
        name: String,
        /// What the regex compiler said.
        #[source]
        source: regex::Error,
    },
}

/// Reads patterns from a file: one `name regex` per line (separated by
/// whitespace), `#` comments and blank lines ignored.
///
/// # Errors
/// The file cannot be read, or a line has no regex or a bad one (named by
/// line, from 1).
pub fn load_patterns(path: &Path) -> Result<Vec<Pattern>, PatternError> {
    Ok(load_named_regexes(path)?.into_iter().map(|(name, regex)| Pattern { name, regex }).collect())
}

/// The `name regex` lines of a pattern file, in order (the file format of
/// [`load_patterns`], also read by the usage-limit patterns).
///
/// # Errors
/// As [`load_patterns`].
pub(crate) fn load_named_regexes(path: &Path) -> Result<Vec<(String, Regex)>, PatternError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| PatternError::Read { path: path.to_owned(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, pat)) = line.split_once(char::is_whitespace) else {
            return Err(PatternError::Syntax { path: path.to_owned(), line: i + 1 });
        };
        let regex = Regex::new(pat.trim()).map_err(|source| PatternError::Regex {
            path: path.to_owned(),
            line: i + 1,
            name: name.to_owned(),
            source,
        })?;
        out.push((name.to_owned(), regex));
    }
    Ok(out)
}

/// A confirmed crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The detector (pattern) name.
    pub detector: String,
    /// A one-line reason.
    pub reason: String,
    /// The lines around the last occurrence (at most 12 lines, 2000 bytes).
    pub excerpt: String,
}

#[derive(Debug, Default)]
struct PaneState {
    /// Occurrences already reported, per pattern.
    reported: HashMap<String, usize>,
    /// Occurrences seen at the previous poll, per pattern.
    last_seen: HashMap<String, usize>,
}

/// Tracks every pane's findings across polls.
#[derive(Debug)]
pub struct Detector {
    patterns: Vec<Pattern>,
    panes: HashMap<String, PaneState>,
}

impl Detector {
    /// A detector for these patterns.
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self { patterns, panes: HashMap::new() }
    }

    /// Treats the incident of `detector` now on `pane`'s screen (`content`)
    /// as reported already when its excerpt is `excerpt` (or begins with it,
    /// as lines printed below the incident since lengthen it): for a recorder
    /// that restarts while a crash it logged is still on screen. Returns
    /// whether it matched (a different or missing incident is left to
    /// [`Detector::observe`]).
    pub fn acknowledge(&mut self, pane: &str, content: &str, detector: &str, excerpt_text: &str) -> bool {
        let Some(p) = self.patterns.iter().find(|p| p.name == detector) else { return false };
        let matches: Vec<_> = p.regex.find_iter(content).collect();
        let Some(last) = matches.last() else { return false };
        // The excerpt runs to 10 lines after the match: output printed
        // below since then lengthens it, the incident is the same.
        if !excerpt(content, last.start()).starts_with(excerpt_text) {
            return false;
        }
        let state = self.panes.entry(pane.to_owned()).or_default();
        state.reported.insert(p.name.clone(), matches.len());
        state.last_seen.insert(p.name.clone(), matches.len());
        true
    }

    /// Looks at one poll of a pane (`pane` names it, e.g. `s:0.0`; `content`
    /// is its text); returns newly confirmed incidents.
    pub fn observe(&mut self, pane: &str, content: &str) -> Vec<Finding> {
        let state = self.panes.entry(pane.to_owned()).or_default();
        let mut found = Vec::new();
        for p in &self.patterns {
            let matches: Vec<_> = p.regex.find_iter(content).collect();
            let count = matches.len();
            let previous = state.last_seen.insert(p.name.clone(), count).unwrap_or(0);
            let reported = state.reported.entry(p.name.clone()).or_insert(0);
            if count < *reported {
                // Scrolled away or cleared: later occurrences are new incidents.
                *reported = count;
            }
            // Confirmed: at least one occurrence more than reported, seen at two polls in a row.
            if count > *reported && previous >= count {
                *reported = count;
                if let Some(m) = matches.last() {
                    found.push(Finding {
                        detector: p.name.clone(),
                        reason: format!("{} in pane", p.name.replace('-', " ")),
                        excerpt: excerpt(content, m.start()),
                    });
                }
            }
        }
        found
    }
}

fn excerpt(content: &str, at: usize) -> String {
    let line_start = content[..at].rfind('\n').map_or(0, |i| i + 1);
    let before: Vec<&str> = content[..line_start].lines().rev().take(2).collect();
    let mut lines: Vec<&str> = before.into_iter().rev().collect();
    lines.extend(content[line_start..].lines().take(10));
    let mut text = lines.join("\n").trim_end().to_owned();
    if text.len() > 2000 {
        let mut cut = 2000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TB: &str =
        "$ python3 x.py\nTraceback (most recent call last):\n  File \"x.py\", line 1\nImportError: no\n$ ";

    #[test]
    fn needs_two_polls_and_reports_once_per_incident() {
        let mut d = Detector::new(default_patterns());
        assert!(d.observe("p:0.0", "$ ").is_empty());
        assert!(d.observe("p:0.0", TB).is_empty(), "not yet confirmed");
        let f = d.observe("p:0.0", TB);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].detector, "python-traceback");
        assert!(f[0].excerpt.contains("ImportError"), "{}", f[0].excerpt);
        assert!(d.observe("p:0.0", TB).is_empty(), "same incident");
        assert!(d.observe("p:0.0", &format!("{TB} ls\n")).is_empty(), "still the same incident");
        let two = format!("{TB}\n{TB}");
        assert!(d.observe("p:0.0", &two).is_empty());
        assert_eq!(d.observe("p:0.0", &two).len(), 1, "a second traceback is a new incident");
        // Other panes are independent.
        assert!(d.observe("p:1.0", TB).is_empty());
    }

    #[test]
    fn rust_panics_with_and_without_a_thread_id() {
        for text in [
            "thread 'main' panicked at src/main.rs:13:65:\nboom\n",
            "thread 'main' (1895) panicked at src/main.rs:13:65:\nboom\n",
            "thread 'tokio-runtime-worker' (7) panicked at src/lib.rs:1:1:\nboom\n",
        ] {
            let mut d = Detector::new(default_patterns());
            assert!(d.observe("p:0.0", text).is_empty());
            let f = d.observe("p:0.0", text);
            assert_eq!(f.len(), 1, "{text}");
            assert_eq!(f[0].detector, "rust-panic");
        }
    }

    #[test]
    fn a_flash_that_vanishes_is_not_reported() {
        let mut d = Detector::new(default_patterns());
        assert!(d.observe("p:0.0", "bash: foo: command not found").is_empty());
        assert!(d.observe("p:0.0", "$ clear").is_empty());
    }

    #[test]
    fn pattern_files_parse_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, "# mine\noom   out of memory\n\n").unwrap();
        let pats = load_patterns(&path).unwrap();
        assert_eq!(pats.len(), 1);
        std::fs::write(&path, "ok fine\nbad (unclosed\n").unwrap();
        let err = load_patterns(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
