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

    proptest! {
        #[test]
        fn format_then_parse_is_exact(ns in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(ns)).unwrap(), ns);
        }
    }
}
