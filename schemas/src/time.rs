//! Timestamps: RFC 3339 text <-> UTC nanoseconds since the Unix epoch.
//!
//! Every `ts` in orc-log is an `i64` count of nanoseconds since
//! 1970-01-01T00:00:00Z (range 1677-09-21 to 2262-04-11). Input accepts any
//! RFC 3339 offset (RFC 3339 section 5.6); output is always UTC with `Z` and
//! as many fractional digits (0, 3, 6 or 9) as the value needs, so a value
//! written by orc-log parses back to the same nanosecond.

use chrono::{DateTime, SecondsFormat, Utc};

/// Why a timestamp was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not RFC 3339 (e.g. missing offset).
    #[error("{value:?} is not an RFC 3339 time with offset, e.g. 2026-11-20T23:03:57Z ({reason})")]
    Syntax {
        /// The text found.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// Valid RFC 3339 but outside the i64-nanosecond range.
    #[error("{0:?} is outside the supported range 1677-09-22 .. 2262-04-11")]
    Range(String),
    /// A time flag or parameter that is none of the forms
    /// [`parse_time_spec`] accepts.
    #[error(
        "{0:?} is not a time: give an RFC 3339 time (2026-11-20T23:03:57Z), a duration before now with a unit (90s, 10m, 2h, 1d) or now"
    )]
    Spec(String),
}

/// Parses an RFC 3339 timestamp (with offset) into UTC nanoseconds.
///
/// # Errors
/// [`TimeError::Syntax`] for text that is not RFC 3339, [`TimeError::Range`]
/// for a time that does not fit in `i64` nanoseconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, TimeError> {
    let dt = DateTime::parse_from_rfc3339(text)
        .map_err(|e| TimeError::Syntax { value: text.to_owned(), reason: e.to_string() })?;
    dt.timestamp_nanos_opt().ok_or_else(|| TimeError::Range(text.to_owned()))
}

/// Parses a time as the `--since`/`--until`/`--at` flags and the web API's
/// time parameters take it, into UTC nanoseconds: an RFC 3339 time with
/// offset, a duration with a unit meaning that long before `now_ns` (`90s`,
/// `10m`, `2h`, `1d`, `1h30m`: humantime syntax, as every duration flag), or
/// `now`. Surrounding whitespace is ignored.
///
/// # Errors
/// [`TimeError::Spec`] naming the text and the three accepted forms when it
/// is none of them (a bare number such as `10` has no unit and is refused),
/// [`TimeError::Range`] for an RFC 3339 time, or a duration reaching back,
/// outside the `i64` nanosecond range.
pub fn parse_time_spec(text: &str, now_ns: i64) -> Result<i64, TimeError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ns);
    }
    match parse_rfc3339(t) {
        Ok(ns) => return Ok(ns),
        Err(TimeError::Range(_)) => return Err(TimeError::Range(text.to_owned())),
        Err(_) => {}
    }
    let ago = humantime::parse_duration(t).map_err(|_| TimeError::Spec(text.to_owned()))?;
    i64::try_from(ago.as_nanos())
        .ok()
        .and_then(|ago| now_ns.checked_sub(ago))
        .ok_or_else(|| TimeError::Range(text.to_owned()))
}

/// Formats UTC nanoseconds as RFC 3339 with `Z`, e.g. `2026-11-20T23:03:57.500764Z`.
pub fn format_rfc3339(ts_ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ts_ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The current time in UTC nanoseconds.
///
/// A clock outside the `i64` range (after 2262) saturates to `i64::MAX`.
pub fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_offsets_to_utc() {
        let a = parse_rfc3339("2026-11-20T23:03:57.500764Z").unwrap();
        let b = parse_rfc3339("2026-11-21T00:03:57.500764+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_rfc3339(a), "2026-11-20T23:03:57.500764Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rejects_missing_offset_and_garbage() {
        assert!(matches!(parse_rfc3339("2026-11-20T23:03:57"), Err(TimeError::Syntax { .. })));
        assert!(matches!(parse_rfc3339("yesterday"), Err(TimeError::Syntax { .. })));
        assert!(matches!(parse_rfc3339("9999-01-01T00:00:00Z"), Err(TimeError::Range(_))));
    }

    #[test]
    fn time_specs_take_rfc3339_durations_before_now_and_now() {
        let now = parse_rfc3339("2026-11-20T23:00:00Z").unwrap();
        let at = |s: &str| parse_time_spec(s, now);
        assert_eq!(at("2026-11-20T22:00:00+01:00").unwrap(), parse_rfc3339("2026-11-20T21:00:00Z").unwrap());
        assert_eq!(at("now").unwrap(), now);
        assert_eq!(at(" NOW ").unwrap(), now);
        assert_eq!(at("10m").unwrap(), parse_rfc3339("2026-11-20T22:50:00Z").unwrap());
        assert_eq!(at("2h").unwrap(), parse_rfc3339("2026-11-20T21:00:00Z").unwrap());
        assert_eq!(at("1d").unwrap(), parse_rfc3339("2026-11-19T23:00:00Z").unwrap());
        assert_eq!(at("90s").unwrap(), parse_rfc3339("2026-11-20T22:58:30Z").unwrap());
        assert_eq!(at("1h30m").unwrap(), parse_rfc3339("2026-11-20T21:30:00Z").unwrap());
    }

    #[test]
    fn time_specs_refuse_bare_numbers_and_words_naming_them() {
        for bad in ["10", "yesterday", "", "-5m", "2026-11-20T23:03:57"] {
            let err = parse_time_spec(bad, 0).unwrap_err();
            assert_eq!(err, TimeError::Spec(bad.to_owned()));
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains("RFC 3339") && msg.contains("10m") && msg.contains("now"), "{msg}");
        }
        assert!(matches!(parse_time_spec("9999-01-01T00:00:00Z", 0), Err(TimeError::Range(_))));
        assert!(matches!(parse_time_spec("400y", 0), Err(TimeError::Range(_))));
    }

    proptest! {
        #[test]
        fn format_then_parse_is_exact(ns in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(ns)).unwrap(), ns);
        }
    }
}
