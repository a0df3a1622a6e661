//! `orc-log report`: one pane around one moment, as a self-contained HTML
//! or Markdown file to hand to someone. The report itself is
//! [`orc_log_web::report`], which the web view's "Share" links serve too.

use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::SharedLog;
use orc_log_schemas::{Target, now_ns};
use orc_log_web::report::{Around, ReportFormat, ReportOptions, write_report};
use std::path::PathBuf;
use std::time::Duration;

/// Write a self-contained report of one pane around one moment: its screens,
/// the messages into and out of it, its agent's prompts and tool calls,
/// crashes and alerts, in order, with the seqs and chain hashes of the range.
///
/// The moment is --around (a seq, or a time: RFC 3339, a duration before
/// now such as 10m, or now) [default: the pane's last crash, else its last
/// event]; the range is --before it to --after it. The screen shown at the
/// moment is the pane's last capture at or before it, even when older than
/// the range. HTML (default) has inline CSS, no script and no external link;
/// Markdown puts screens in code blocks. Secrets are redacted again on the
/// way out (the built-in shapes of `session record`, plus --redact-pattern).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pane, `session:window.pane`.
    target: Target,
    /// The moment: a seq, or a time [default: the pane's last crash, else its last event].
    #[arg(long, value_name = "SEQ|TIME")]
    around: Option<String>,
    /// How far before the moment the report starts.
    #[arg(long, default_value = "10m", value_parser = super::parse_duration, value_name = "DUR")]
    before: Duration,
    /// How far after the moment the report ends.
    #[arg(long, default_value = "1m", value_parser = super::parse_duration, value_name = "DUR")]
    after: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Html)]
    format: Format,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also replace matches of this regular expression with `[REDACTED:pattern]` (repeatable).
    #[arg(long = "redact-pattern", value_name = "REGEX")]
    redact_patterns: Vec<String>,
}

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One HTML file with inline CSS.
    Html,
    /// Markdown (screens as plain text in code blocks).
    Md,
}

/// Runs `orc-log report`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let around = args
        .around
        .as_deref()
        .map(|s| Around::parse(s, now_ns()))
        .transpose()
        .context("--around takes a seq or a time")?;
    let format = match args.format {
        Format::Html => ReportFormat::Html,
        Format::Md => ReportFormat::Markdown,
    };
    let opts = ReportOptions {
        target: args.target,
        around,
        before: args.before,
        after: args.after,
        format,
        redact_patterns: args.redact_patterns,
    };
    let report = write_report(&db.snapshot(), &opts)?;
    match super::output_file(args.output.as_deref()) {
        Some(path) => {
            let path = io.cwd.join(path);
            std::fs::write(&path, &report.text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => io.out.write_all(report.text.as_bytes())?,
    }
    Ok(0)
}
