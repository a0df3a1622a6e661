//! Reports: one pane around one moment as a self-contained HTML or
//! Markdown file to hand to someone (`orc-log report`, and the web view's
//! "Share" links, `/api/panes/{target}/report`).
//!
//! A report holds, in log order, every event of the time range that
//! concerns the pane: its screens (`capture`), messages into it and sent by
//! it, prompts, tool calls, agent sessions, notifications, crashes, alerts
//! and markers; and the seqs and chain hashes that bound the range, so a
//! reader can check it against the log (`orc-log verify`, `tail
//! --from-seq`). Text passes the redaction of `session record` again
//! ([`orc_log_tmux::redact`]) and the extra patterns on the way out. The
//! HTML has inline CSS only: no script, no external resource, no link;
//! terminal colours become spans and every other escape sequence is
//! dropped ([`orc_log_projections::ansi`]).

use orc_log_engine::{Filter, Snapshot};
use orc_log_projections::ansi;
use orc_log_schemas::{EventBody, Kind, Record, Target, TimeError, format_rfc3339, parse_time_spec};
use std::fmt::Write as _;
use std::time::Duration;

/// The moment a report is centred on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Around {
    /// The time of the event at this seq.
    Seq(u64),
    /// A time, UTC nanoseconds.
    Time(i64),
}

impl Around {
    /// Parses `--around` / `?around=`: all digits is a seq; anything else a
    /// time as [`parse_time_spec`] takes it (RFC 3339, a duration before
    /// `now_ns` such as `10m`, or `now`).
    ///
    /// # Errors
    /// The [`TimeError`] of text that is neither.
    pub fn parse(text: &str, now_ns: i64) -> Result<Around, TimeError> {
        let t = text.trim();
        match t.parse::<u64>() {
            Ok(seq) if t.bytes().all(|b| b.is_ascii_digit()) => Ok(Around::Seq(seq)),
            _ => parse_time_spec(t, now_ns).map(Around::Time),
        }
    }
}

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// One HTML file with inline CSS (`text/html`).
    #[default]
    Html,
    /// Markdown, screens as plain text in code blocks (`text/markdown`).
    Markdown,
}

impl ReportFormat {
    /// The file name extension: `html` or `md`.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
        }
    }

    /// The media type, with its charset.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

/// What to report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The pane.
    pub target: Target,
    /// The moment [`None`: the pane's last crash, else its last event].
    pub around: Option<Around>,
    /// How far before the moment the range starts.
    pub before: Duration,
    /// How far after the moment the range ends.
    pub after: Duration,
    /// The output format.
    pub format: ReportFormat,
    /// Regular expressions whose matches become `[REDACTED:pattern]`,
    /// after the built-in secret shapes.
    pub redact_patterns: Vec<String>,
}

/// A written report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The whole file.
    pub text: String,
    /// The moment it is centred on, UTC nanoseconds.
    pub moment_ns: i64,
    /// The first and last seq of the range it covers.
    pub seqs: (u64, u64),
}

impl Report {
    /// A file name for it: `orc-log-report-SESSION_W.P-SEQ.EXT`, with every
    /// character but ASCII letters, digits, `-` and `_` of the session
    /// replaced by `_`.
    pub fn file_name(&self, target: &Target, format: ReportFormat) -> String {
        let session: String = target
            .session
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        format!(
            "orc-log-report-{session}_{}.{}-{}.{}",
            target.window,
            target.pane,
            self.seqs.1,
            format.extension()
        )
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A redaction pattern that is not a regular expression.
    #[error("redaction pattern {pattern:?}: {source}")]
    Pattern {
        /// The pattern given.
        pattern: String,
        /// The regex crate's reason.
        source: regex::Error,
    },
    /// `--around SEQ` names no event.
    #[error("--around {0}: no such seq")]
    NoSuchSeq(u64),
    /// No moment given and the log holds nothing of the pane.
    #[error("the log holds no event of {0}")]
    NoEvents(Target),
    /// Nothing of the pane in the chosen range.
    #[error("no event of {target} between {from} and {until}")]
    EmptyRange {
        /// The pane.
        target: Target,
        /// The range's start, RFC 3339.
        from: String,
        /// The range's end, RFC 3339.
        until: String,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Engine(#[from] orc_log_engine::Error),
}

/// The most screens shown (the last ones of the range; the one at the moment always).
const MAX_SCREENS: usize = 20;

/// One entry of the report: seq, time, a kind label, a one-line summary,
/// and a longer body (a screen keeps its SGR colours).
struct Entry {
    seq: u64,
    ts_ns: i64,
    kind: Kind,
    summary: String,
    body: Option<String>,
    screen: bool,
    at_moment: bool,
}

/// Redacts with the built-in shapes and the extra patterns.
struct Redactor(Vec<regex::Regex>);

impl Redactor {
    fn apply(&self, text: &str) -> String {
        let mut out = orc_log_tmux::redact::redact(text).into_owned();
        for re in &self.0 {
            out = re.replace_all(&out, "[REDACTED:pattern]").into_owned();
        }
        out
    }
}

fn summarize(rec: &Record, target: &Target, r: &Redactor) -> Option<Entry> {
    let t = target.to_string();
    let opt = |v: &Option<String>| v.as_deref().map(|s| r.apply(s));
    let (summary, body, screen) = match &rec.event.body {
        EventBody::Capture { target: p, content, width, height, .. } if p == target => {
            let size = match (width, height) {
                (Some(w), Some(h)) => format!(" ({w}x{h})"),
                _ => String::new(),
            };
            (format!("screen{size}"), Some(r.apply(content)), true)
        }
        EventBody::Message { from, to, text } if to == target => {
            (format!("message from {}", r.apply(from)), Some(r.apply(text)), false)
        }
        EventBody::Message { from, to, text } if *from == t => {
            (format!("message to {to}"), Some(r.apply(text)), false)
        }
        EventBody::Crash { target: p, reason, excerpt, detector } if p == target => (
            format!("crash: {} ({})", r.apply(reason), detector.as_deref().unwrap_or("signalled")),
            opt(excerpt),
            false,
        ),
        EventBody::ToolCall { target: Some(p), phase, tool, input, response, .. } if p == target => {
            let body = [
                input.as_deref().map(|i| format!("input: {i}")),
                response.as_deref().map(|o| format!("response: {o}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
            (format!("tool call {tool} ({phase})"), (!body.is_empty()).then(|| r.apply(&body)), false)
        }
        EventBody::Prompt { target: Some(p), text, .. } if p == target => {
            ("prompt".to_owned(), Some(r.apply(text)), false)
        }
        EventBody::AgentSession { target: Some(p), agent_session_id, phase, reason, .. } if p == target => (
            format!(
                "agent session {phase}: {agent_session_id}{}",
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            None,
            false,
        ),
        EventBody::Notification { target: Some(p), message, .. } if p == target => {
            ("notification".to_owned(), Some(r.apply(message)), false)
        }
        EventBody::AgentStop { target: Some(p), agent_id, .. } if p == target => {
            (if agent_id.is_some() { "subagent stopped" } else { "agent stopped" }.to_owned(), None, false)
        }
        EventBody::Alert { rule, target: Some(p), message, .. } if p == target => {
            (format!("alert {}", r.apply(rule)), Some(r.apply(message)), false)
        }
        EventBody::Marker { label, target: Some(p) } if p == target => {
            (format!("marker: {}", r.apply(label)), None, false)
        }
        EventBody::WindowOpened { target: p, name } | EventBody::WindowRenamed { target: p, name }
            if p == target =>
        {
            (format!("window {}", r.apply(name.as_deref().unwrap_or(""))), None, false)
        }
        EventBody::PaneState { target: p, cwd, command, .. } if p == target => (
            format!(
                "pane in {} running {}",
                r.apply(cwd.as_deref().unwrap_or("?")),
                r.apply(command.as_deref().unwrap_or("?"))
            ),
            None,
            false,
        ),
        _ => return None,
    };
    Some(Entry {
        seq: rec.seq,
        ts_ns: rec.event.ts_ns,
        kind: rec.event.kind(),
        summary,
        body,
        screen,
        at_moment: false,
    })
}

/// Writes the report of `opts.target` from `snap`.
///
/// The range is `opts.before` before the moment to `opts.after` after it;
/// the screen shown at the moment is the pane's last capture at or before
/// it, even when older than the range; at most 20 screens are shown (the
/// last ones, and the one at the moment).
///
/// # Errors
/// [`ReportError`]: a bad pattern, an unknown seq, nothing of the pane in
/// the range, or a failed read.
pub fn write_report(snap: &Snapshot, opts: &ReportOptions) -> Result<Report, ReportError> {
    let redactor = Redactor(
        opts.redact_patterns
            .iter()
            .map(|p| {
                regex::Regex::new(p).map_err(|source| ReportError::Pattern { pattern: p.clone(), source })
            })
            .collect::<Result<_, _>>()?,
    );
    let target = opts.target.clone();
    let scope = Some(target.to_string());
    let last_of = |kinds: Vec<Kind>, until_ns: Option<i64>| -> Result<Option<Record>, ReportError> {
        let filter = Filter { kinds, scope: scope.clone(), until_ns, ..Filter::default() };
        let mut last = None;
        for rec in snap.scan(filter)? {
            last = Some(rec?);
        }
        Ok(last)
    };
    let moment_ns = match opts.around {
        Some(Around::Seq(seq)) => snap.get(seq)?.ok_or(ReportError::NoSuchSeq(seq))?.event.ts_ns,
        Some(Around::Time(ns)) => ns,
        None => match last_of(vec![Kind::Crash], None)? {
            Some(r) => r.event.ts_ns,
            None => {
                last_of(Vec::new(), None)?.ok_or_else(|| ReportError::NoEvents(target.clone()))?.event.ts_ns
            }
        },
    };
    let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let from_ns = moment_ns.saturating_sub(ns(opts.before));
    let until_ns = moment_ns.saturating_add(ns(opts.after));
    let filter = Filter { since_ns: Some(from_ns), until_ns: Some(until_ns), ..Filter::default() };
    let mut entries: Vec<Entry> = Vec::new();
    let (mut first_seq, mut last_seq) = (None::<u64>, None::<u64>);
    for rec in snap.scan(filter)? {
        let rec = rec?;
        first_seq.get_or_insert(rec.seq);
        last_seq = Some(rec.seq);
        if let Some(e) = summarize(&rec, &target, &redactor) {
            entries.push(e);
        }
    }
    // The screen at the moment: the last capture at or before it.
    if let Some(rec) = last_of(vec![Kind::Capture], Some(moment_ns))? {
        match entries.iter_mut().find(|e| e.seq == rec.seq) {
            Some(e) => e.at_moment = true,
            None => {
                if let Some(mut e) = summarize(&rec, &target, &redactor) {
                    e.at_moment = true;
                    entries.insert(0, e);
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(ReportError::EmptyRange {
            target,
            from: format_rfc3339(from_ns),
            until: format_rfc3339(until_ns),
        });
    }
    // At most MAX_SCREENS screens: the last ones and the one at the moment.
    let screens: Vec<u64> = entries.iter().filter(|e| e.screen && !e.at_moment).map(|e| e.seq).collect();
    let dropped: Vec<u64> = screens.iter().rev().skip(MAX_SCREENS - 1).copied().collect();
    entries.retain(|e| !dropped.contains(&e.seq));
    let first = first_seq.unwrap_or(entries[0].seq).min(entries[0].seq);
    let last = last_seq.unwrap_or(entries[entries.len() - 1].seq).max(entries[entries.len() - 1].seq);
    let hex = |h: [u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let chain_before = snap.chain_at_chunk_end(first - 1)?.map(hex).unwrap_or_default();
    let chain_after = snap.chain_at_chunk_end(last)?.map(hex).unwrap_or_default();
    let meta = Meta {
        target: target.to_string(),
        moment: format_rfc3339(moment_ns),
        from: format_rfc3339(from_ns),
        until: format_rfc3339(until_ns),
        first,
        last,
        chain_before,
        chain_after,
        dropped: dropped.len(),
    };
    let text = match opts.format {
        ReportFormat::Html => html(&meta, &entries),
        ReportFormat::Markdown => markdown(&meta, &entries),
    };
    Ok(Report { text, moment_ns, seqs: (first, last) })
}

/// What the report's header says.
struct Meta {
    target: String,
    moment: String,
    from: String,
    until: String,
    first: u64,
    last: u64,
    chain_before: String,
    chain_after: String,
    dropped: usize,
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;color:#222;background:#fff}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
code{font-family:monospace}\
pre{font-family:monospace;white-space:pre-wrap;margin:0.3em 0}\
pre.screen{background:#111;color:#e5e5e5;padding:0.5em;white-space:pre;overflow-x:auto}\
.entry{border-left:4px solid #ccc;padding-left:0.6em;margin:0.8em 0}\
.crash,.alert{border-left-color:#c00}.message{border-left-color:#06c}.tool_call{border-left-color:#690}\
.moment{outline:2px solid #c60}.head{color:#555;font-size:90%}";

fn html(m: &Meta, entries: &[Entry]) -> String {
    let e = ansi::html_escape;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>orc-log report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        e(&m.target)
    );
    let _ = writeln!(out, "<h1>Pane <code>{}</code> around {}</h1>", e(&m.target), e(&m.moment));
    out.push_str("<table>\n");
    for (k, v) in [
        ("range".to_owned(), format!("{} to {}", m.from, m.until)),
        ("seqs".to_owned(), format!("{} to {}", m.first, m.last)),
        (format!("chain hash after seq {}", m.first.saturating_sub(1)), m.chain_before.clone()),
        (format!("chain hash after seq {}", m.last), m.chain_after.clone()),
    ] {
        let _ = writeln!(out, "<tr><th>{}</th><td><code>{}</code></td></tr>", e(&k), e(&v));
    }
    out.push_str("</table>\n<p class=\"head\">Check against the log: <code>orc-log verify</code> gives the head's chain hash; <code>orc-log tail --from-seq N</code> shows the events. Secrets were redacted again when this report was written.");
    if m.dropped > 0 {
        let _ = write!(out, " {} older screens of the range are left out.", m.dropped);
    }
    out.push_str("</p>\n");
    for en in entries {
        let class = format!("entry {}{}", en.kind.as_str(), if en.at_moment { " moment" } else { "" });
        let _ = writeln!(
            out,
            "<div class=\"{}\">\n<div class=\"head\">seq {} &middot; {} &middot; <b>{}</b>{}</div>",
            e(&class),
            en.seq,
            e(&format_rfc3339(en.ts_ns)),
            e(&en.summary),
            if en.at_moment { " &middot; the screen at the moment" } else { "" }
        );
        if let Some(body) = &en.body {
            if en.screen {
                let _ = writeln!(out, "<pre class=\"screen\">{}</pre>", ansi::to_html(body));
            } else {
                let _ = writeln!(out, "<pre>{}</pre>", e(&ansi::plain(body)));
            }
        }
        out.push_str("</div>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A fence of backticks longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// One line of text for Markdown prose: HTML-escaped (renderers pass HTML
/// through) and with Markdown's special characters backslash-escaped.
fn md_inline(text: &str) -> String {
    let mut out = String::new();
    for c in ansi::plain(text).chars() {
        match c {
            '\n' | '\t' => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '!' | '(' | ')' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn markdown(m: &Meta, entries: &[Entry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Pane {} around {}\n", md_inline(&m.target), md_inline(&m.moment));
    let _ = writeln!(out, "- range: {} to {}", md_inline(&m.from), md_inline(&m.until));
    let _ = writeln!(out, "- seqs: {} to {}", m.first, m.last);
    let _ = writeln!(out, "- chain hash after seq {}: `{}`", m.first.saturating_sub(1), m.chain_before);
    let _ = writeln!(out, "- chain hash after seq {}: `{}`", m.last, m.chain_after);
    out.push_str(
        "- check against the log: `orc-log verify` (the head's chain hash), `orc-log tail --from-seq N`\n",
    );
    out.push_str("- secrets were redacted again when this report was written\n");
    if m.dropped > 0 {
        let _ = writeln!(out, "- {} older screens of the range are left out", m.dropped);
    }
    for en in entries {
        let _ = writeln!(
            out,
            "\n## seq {} · {} · {}{}\n",
            en.seq,
            md_inline(&format_rfc3339(en.ts_ns)),
            md_inline(&en.summary),
            if en.at_moment { " (the screen at the moment)" } else { "" }
        );
        if let Some(body) = &en.body {
            let text = ansi::plain(body);
            let f = fence(&text);
            let _ = writeln!(out, "{f}text\n{}\n{f}", text.trim_end_matches('\n'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn around_is_a_seq_or_a_time() {
        let now = 1_000_000_000_000;
        assert_eq!(Around::parse("42", now), Ok(Around::Seq(42)));
        assert_eq!(Around::parse(" now ", now), Ok(Around::Time(now)));
        assert_eq!(Around::parse("1s", now), Ok(Around::Time(now - 1_000_000_000)));
        assert_eq!(Around::parse("1970-01-01T00:00:01Z", now), Ok(Around::Time(1_000_000_000)));
        assert!(matches!(Around::parse("-3", now), Err(TimeError::Spec(_))));
    }

    #[test]
    fn file_names_are_safe() {
        let r = Report { text: String::new(), moment_ns: 0, seqs: (3, 9) };
        let t = Target::new("my/team\"é", 1, 2).unwrap();
        assert_eq!(r.file_name(&t, ReportFormat::Markdown), "orc-log-report-my_team___1.2-9.md");
    }

    #[test]
    fn markdown_escapes_and_fences() {
        assert_eq!(md_inline("<script>a*b</script>\x1b]0;t\x07"), "&lt;script&gt;a\\*b&lt;/script&gt;");
        assert_eq!(fence("a ``` b"), "````");
        assert_eq!(fence("plain"), "```");
    }

    #[test]
    fn extra_patterns_are_redacted_after_the_built_in_ones() {
        let r = Redactor(vec![regex::Regex::new("hunter[0-9]").unwrap()]);
        assert_eq!(
            r.apply("pw hunter2 key AKIAIOSFODNN7EXAMPLE"),
            "pw [REDACTED:pattern] key [REDACTED:aws-access-key-id]"
        );
    }
}
