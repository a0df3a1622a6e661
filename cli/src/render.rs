//! Rendering for people: error chains and one-line event summaries.

use orc_log_projections::summary;
use orc_log_schemas::{Record, format_rfc3339};

/// `outer: cause: root cause`, skipping causes already contained in the previous message.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

/// `seq  ts  kind  scope  summary`, one line per event, for `tail --format text`.
pub fn text_line(r: &Record) -> String {
    let ev = &r.event;
    let scope = ev.body.target().map(ToString::to_string).or_else(|| ev.body.session().map(str::to_owned));
    let summary = summary::summary(&ev.body);
    let line = format!(
        "{:>6} {} {:<16} {:<12} {summary}",
        r.seq,
        format_rfc3339(ev.ts_ns),
        ev.kind().as_str(),
        scope.unwrap_or_else(|| "-".into())
    );
    line.trim_end().to_owned()
}
