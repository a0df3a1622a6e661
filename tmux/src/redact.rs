//! Secret redaction: well-known token shapes become `[REDACTED:kind]` before
//! anything is stored. The patterns are listed in README.md ("Secret redaction").

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// `(kind, pattern)` of every redacted token shape.
pub const PATTERNS: &[(&str, &str)] = &[
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
    ),
    ("aws-access-key-id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("api-key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),
    ("bearer-token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    PATTERNS.iter().filter_map(|(kind, pat)| Regex::new(pat).ok().map(|r| (*kind, r))).collect()
});

/// `text` with every secret replaced by `[REDACTED:kind]`; borrowed when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (kind, re) in COMPILED.iter() {
        if re.is_match(&out) {
            let replaced = re.replace_all(&out, format!("[REDACTED:{kind}]").as_str()).into_owned();
            out = Cow::Owned(replaced);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }

    #[test]
    fn redacts_known_shapes_and_leaves_the_rest() {
        let text = "key AKIAIOSFODNN7EXAMPLE and ghp_0123456789abcdefghijABCDEFGHIJ012345 \
                    sk-abcdefghijklmnopqrstuvwx Authorization: Bearer abcdefghijklmnop.qrs\n\
                    -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nok";
        let r = redact(text);
        for secret in ["AKIAIOSFODNN7EXAMPLE", "ghp_0123", "sk-abcdef", "abcdefghijklmnop.qrs", "MIIEow"] {
            assert!(!r.contains(secret), "{secret} left in {r}");
        }
        for kind in ["aws-access-key-id", "github-token", "api-key", "bearer-token", "private-key"] {
            assert!(r.contains(&format!("[REDACTED:{kind}]")), "{kind} missing in {r}");
        }
        assert!(r.ends_with("ok"));
        assert!(matches!(redact("nothing secret here"), Cow::Borrowed(_)));
    }
}
