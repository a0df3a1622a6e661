//! Usage-limit banners of coding agents in pane text and notifications:
//! the patterns (in this one place), and the reset time a banner names.
//!
//! Claude Code prints, when an account reaches its usage limit, one of
//! (its changelog and the screens users report):
//!
//! - `Claude usage limit reached. Your limit will reset at 3pm (Europe/London).`
//! - `Claude AI usage limit reached|1735689600` (older versions: the reset
//!   time as Unix seconds),
//! - `5-hour limit reached ∙ resets 3pm`, `Weekly limit reached ∙ resets 3pm (UTC)`,
//! - `You've hit your limit · resets 3pm (UTC)`.
//!
//! A pattern may name the groups `time` (`3pm`, `3:30 pm`, `15:00`), `tz`
//! (an IANA zone such as `Europe/London`, or `UTC`) and `epoch` (Unix
//! seconds). [`resets_at`] turns them into a UTC time: the first moment at
//! or after the banner was seen at which the clock in that zone shows that
//! time (a banner without a zone is read in UTC), with the zone's daylight
//! saving rules (`chrono-tz`, the IANA database).
//!
//! Patterns can be replaced from a file (`session record
//! --limit-patterns FILE`): one `name regex` per line, `#` comments, as for
//! crash patterns ([`crate::detect::load_patterns`]).

use crate::detect::PatternError;
use chrono::{Duration as ChronoDuration, NaiveTime, TimeZone, Utc};
use regex::Regex;
use std::path::Path;

/// The `time` and `tz` parts shared by the built-in patterns.
macro_rules! time_tz {
    () => {
        r"(?P<time>\d{1,2}(?::\d{2})?\s*(?:[aApP]\.?[mM]\.?)?)(?:\s*\((?P<tz>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)\))?"
    };
}

/// Built-in patterns: `(name, regex)`.
pub const DEFAULT_LIMIT_PATTERNS: &[(&str, &str)] = &[
    (
        "claude-usage-limit",
        concat!(
            r"Claude (?:AI )?usage limit reached(?:\|(?P<epoch>\d{9,11})|[.!]?\s*Your limit will reset at\s+",
            time_tz!(),
            r")?"
        ),
    ),
    (
        "limit-reached-resets",
        concat!(
            r"(?i:5-hour|weekly|opus weekly|session|daily|usage) limit reached\s*[∙·•|\-–—]?\s*resets\s+(?:at\s+)?",
            time_tz!()
        ),
    ),
    (
        "hit-your-limit",
        concat!(r"You've hit your (?:usage )?limit\s*[∙·•|\-–—]?\s*resets\s+(?:at\s+)?", time_tz!()),
    ),
];

/// One limit pattern.
#[derive(Debug, Clone)]
pub struct LimitPattern {
    name: String,
    regex: Regex,
}

/// The built-in patterns.
pub fn default_limit_patterns() -> Vec<LimitPattern> {
    DEFAULT_LIMIT_PATTERNS
        .iter()
        .filter_map(|(n, p)| Regex::new(p).ok().map(|regex| LimitPattern { name: (*n).to_owned(), regex }))
        .collect()
}

/// Reads limit patterns from a file: one `name regex` per line, `#`
/// comments and blank lines ignored.
///
/// # Errors
/// The file cannot be read, or a line has no regex or a bad one (named by
/// line, from 1).
pub fn load_limit_patterns(path: &Path) -> Result<Vec<LimitPattern>, PatternError> {
    Ok(crate::detect::load_named_regexes(path)?
        .into_iter()
        .map(|(name, regex)| LimitPattern { name, regex })
        .collect())
}

/// A usage-limit banner found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The pattern's name.
    pub detector: String,
    /// The line holding the banner, trimmed (a capture that no longer
    /// contains it no longer shows the limit).
    pub line: String,
    /// When the limit resets, UTC ns; `None` when the banner names no time
    /// (or one that does not parse).
    pub resets_at_ns: Option<i64>,
}

/// The last (lowest on the screen) banner in `text` seen at `seen_ns` (UTC
/// ns), with its reset time; `None` when no pattern matches.
pub fn find(patterns: &[LimitPattern], text: &str, seen_ns: i64) -> Option<Banner> {
    let mut best: Option<(usize, &LimitPattern, regex::Captures<'_>)> = None;
    for p in patterns {
        if let Some(c) = p.regex.captures_iter(text).last() {
            let end = c.get(0).map_or(0, |m| m.end());
            if best.as_ref().is_none_or(|(e, _, _)| end > *e) {
                best = Some((end, p, c));
            }
        }
    }
    let (_, p, c) = best?;
    let m = c.get(0)?;
    let start = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
    let end = text[m.end()..].find('\n').map_or(text.len(), |i| m.end() + i);
    let resets_at_ns = match c.name("epoch") {
        Some(e) => e.as_str().parse::<i64>().ok().and_then(|s| s.checked_mul(1_000_000_000)),
        None => c.name("time").and_then(|t| resets_at(t.as_str(), c.name("tz").map(|z| z.as_str()), seen_ns)),
    };
    Some(Banner { detector: p.name.clone(), line: text[start..end].trim().to_owned(), resets_at_ns })
}

/// Parses `3pm`, `3:30 pm`, `11 a.m.`, `15:00` into a time of day.
fn time_of_day(s: &str) -> Option<NaiveTime> {
    let t = s.trim().to_ascii_lowercase().replace(['.', ' '], "");
    let (digits, pm) = match (t.strip_suffix("pm"), t.strip_suffix("am")) {
        (Some(d), _) => (d, Some(true)),
        (_, Some(d)) => (d, Some(false)),
        _ => (t.as_str(), None),
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (digits.parse::<u32>().ok()?, 0),
    };
    let h = match pm {
        Some(pm) if (1..=12).contains(&h) => (h % 12) + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => h,
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

/// The UTC time (ns) at which a banner seen at `seen_ns` that says the limit
/// resets at `time` in zone `tz` (IANA name; `UTC` when `None`) resets: the
/// first moment at or after `seen_ns` (less a minute, for a banner shown
/// just as the time came) at which the zone's clock shows `time`. A local
/// time the zone skips (a daylight saving gap) is taken an hour later.
/// `None` for a time or zone that does not parse.
pub fn resets_at(time: &str, tz: Option<&str>, seen_ns: i64) -> Option<i64> {
    let at = time_of_day(time)?;
    let zone: chrono_tz::Tz = match tz {
        Some(z) => z.parse().ok()?,
        None => chrono_tz::UTC,
    };
    let seen = Utc.timestamp_nanos(seen_ns).with_timezone(&zone);
    let floor = seen - ChronoDuration::minutes(1);
    let mut date = seen.date_naive();
    for _ in 0..3 {
        let local = date.and_time(at);
        let candidate = zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| zone.from_local_datetime(&(local + ChronoDuration::hours(1))).earliest())?;
        if candidate >= floor {
            return candidate.with_timezone(&Utc).timestamp_nanos_opt();
        }
        date = date.succ_opt()?;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use orc_log_schemas::{format_rfc3339, parse_rfc3339};

    fn at(text: &str, seen: &str) -> Option<Banner> {
        find(&default_limit_patterns(), text, parse_rfc3339(seen).unwrap())
    }

    fn reset(b: &Banner) -> String {
        format_rfc3339(b.resets_at_ns.unwrap())
    }

    #[test]
    fn the_banner_forms_give_their_reset_time_in_their_zone() {
        // London is on BST (UTC+1) in July: 3pm there is 14:00 UTC.
        let b = at(
            "> fix it\nClaude usage limit reached. Your limit will reset at 3pm (Europe/London).\n> ",
            "2026-07-01T10:00:00Z",
        )
        .unwrap();
        assert_eq!(b.detector, "claude-usage-limit");
        assert_eq!(b.line, "Claude usage limit reached. Your limit will reset at 3pm (Europe/London).");
        assert_eq!(reset(&b), "2026-07-01T14:00:00Z");
        // ... and on GMT in December: 15:00 UTC.
        let b = at(
            "Claude usage limit reached. Your limit will reset at 3pm (Europe/London).",
            "2026-12-01T10:00:00Z",
        )
        .unwrap();
        assert_eq!(reset(&b), "2026-12-01T15:00:00Z");
        // Seen after 3pm: tomorrow's 3pm.
        let b = at("5-hour limit reached ∙ resets 3pm", "2026-12-01T16:30:00Z").unwrap();
        assert_eq!(
            (b.detector.as_str(), reset(&b).as_str()),
            ("limit-reached-resets", "2026-12-02T15:00:00Z")
        );
        let b = at("  You've hit your limit · resets 3pm (UTC)  ", "2026-12-01T09:00:00Z").unwrap();
        assert_eq!(
            (b.line.as_str(), reset(&b).as_str()),
            ("You've hit your limit · resets 3pm (UTC)", "2026-12-01T15:00:00Z")
        );
        let b =
            at("Weekly limit reached ∙ resets 9:30am (America/New_York)", "2026-12-01T12:00:00Z").unwrap();
        assert_eq!(reset(&b), "2026-12-01T14:30:00Z");
        let b = at("Claude AI usage limit reached|1764694800", "2026-12-01T12:00:00Z").unwrap();
        assert_eq!(reset(&b), "2025-12-02T17:00:00Z");
        assert!(at("all good here", "2026-12-01T12:00:00Z").is_none());
        // The lowest banner on the screen wins.
        let b = at(
            "You've hit your limit · resets 1pm (UTC)\n...\n5-hour limit reached ∙ resets 4pm",
            "2026-12-01T09:00:00Z",
        )
        .unwrap();
        assert_eq!(reset(&b), "2026-12-01T16:00:00Z");
    }

    #[test]
    fn times_parse_in_twelve_and_twenty_four_hour_forms() {
        assert_eq!(time_of_day("3pm"), NaiveTime::from_hms_opt(15, 0, 0));
        assert_eq!(time_of_day("12am"), NaiveTime::from_hms_opt(0, 0, 0));
        assert_eq!(time_of_day("12 p.m."), NaiveTime::from_hms_opt(12, 0, 0));
        assert_eq!(time_of_day("3:45 PM"), NaiveTime::from_hms_opt(15, 45, 0));
        assert_eq!(time_of_day("15:00"), NaiveTime::from_hms_opt(15, 0, 0));
        assert_eq!(time_of_day("13pm"), None);
        assert_eq!(resets_at("3pm", Some("Not/AZone"), 0), None);
    }

    #[test]
    fn a_pattern_file_replaces_the_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("limits.txt");
        std::fs::write(
            &f,
            "# mine\nmy-limit  quota exhausted until (?P<time>\\d+(?:am|pm)) \\((?P<tz>[^)]+)\\)\n",
        )
        .unwrap();
        let p = load_limit_patterns(&f).unwrap();
        let b = find(
            &p,
            "quota exhausted until 5pm (Asia/Tokyo)",
            parse_rfc3339("2026-12-01T00:00:00Z").unwrap(),
        )
        .unwrap();
        assert_eq!((b.detector.as_str(), reset(&b).as_str()), ("my-limit", "2026-12-01T08:00:00Z"));
        std::fs::write(&f, "bad (\n").unwrap();
        assert!(load_limit_patterns(&f).is_err());
    }
}
