//! `orc-log session export`: a recorded pane as an asciicast file, for
//! `asciinema play` or the asciinema web player. The writer is
//! [`orc_log_projections::cast`], shared with the web view.

use super::replay::no_captures;
use crate::cmd::Staged;
use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::SharedLog;
use orc_log_projections::cast::{CastFormat, CastOptions, CastSummary, write_cast};
use orc_log_schemas::Target;
use std::io::BufWriter;
use std::path::PathBuf;

/// Export a recorded pane's captures as a file another player can show.
///
/// asciicast v2 (`--format asciicast`): a header line (`version` 2, `width`
/// and `height` from the first capture, else 80x24, `timestamp` of the first
/// capture in Unix seconds, `title`), then one output event `[t, "o", data]`
/// per capture, where `t` is the seconds since the first capture and `data`
/// clears the screen and draws the capture (newlines as CR LF). Markers
/// (`marker` events for this pane or for no pane, between the first and last
/// exported capture) become marker events `[t, "m", label]`.
///
/// asciicast v3 (`--format asciicast-v3`, what asciinema 3.x writes): the
/// header has `version` 3 and a `term` object (`cols`, `rows`, `type`
/// xterm-256color) instead of width and height; each event's time is the
/// interval since the previous event; a capture whose pane size changed is
/// preceded by a resize event `[i, "r", "COLSxROWS"]`; and the file ends
/// with an exit event `[0.0, "x", "0"]` marking the end of the exported
/// range.
///
/// Escape sequences other than SGR colours are removed unless --raw, as in
/// `session replay`. The cast goes to standard output unless --output FILE;
/// a file is written under a temporary name and renamed into place when
/// complete, so FILE is never left half written. What was written is
/// summed up on stdout (on stderr when the cast itself goes to stdout).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pane (`session:window.pane`), as `orc-log session list` shows it.
    target: Target,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Asciicast)]
    format: Format,
    /// The file to write (replaced if it exists; relative to the current
    /// directory) [default: standard output, also `-`].
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only captures (and markers) at or after this time (RFC 3339, a duration before now such as 10m, or
    /// now).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only captures (and markers) at or before this time (RFC 3339, a duration before now such as 10m, or
    /// now).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Keep the captured text exactly as recorded, all escape sequences included.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// asciicast v2 (NDJSON: a header, then `[time, code, data]` events).
    #[value(alias = "asciicast-v2")]
    Asciicast,
    /// asciicast v3 (asciinema 3.x: `term` header, relative times, exit event).
    AsciicastV3,
}

/// `N frame(s)`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Runs `orc-log session export`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let opts = CastOptions {
        format: match args.format {
            Format::Asciicast => CastFormat::V2,
            Format::AsciicastV3 => CastFormat::V3,
        },
        since: args.since,
        until: args.until,
        raw: args.raw,
    };
    let Some(output) = crate::cmd::output_file(args.output.as_deref()) else {
        let written = write_cast(&db.snapshot(), &args.target, &opts, &mut *io.out)
            .with_context(|| format!("exporting the captures of {} to standard output", args.target))?;
        let summary = written.ok_or_else(|| no_captures(&args.target, args.since, args.until))?;
        io.out.flush()?;
        writeln!(io.err, "orc-log: wrote {} to standard output", summary_text(&summary))?;
        return Ok(0);
    };
    let dest = io.resolve(output);
    let (tmp, file) = Staged::file(&dest)?;
    let mut out = BufWriter::new(file);
    let written = write_cast(&db.snapshot(), &args.target, &opts, &mut out)
        .with_context(|| format!("exporting the captures of {} to {}", args.target, tmp.path.display()))?;
    let Some(summary) = written else {
        return Err(no_captures(&args.target, args.since, args.until));
    };
    out.into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", tmp.path.display()))?;
    tmp.commit(&dest)?;
    writeln!(io.out, "wrote {} to {}", summary_text(&summary), output.display())?;
    Ok(0)
}

/// `N frames[ and M markers]`.
fn summary_text(summary: &CastSummary) -> String {
    if summary.markers > 0 {
        format!("{} and {}", plural(summary.frames, "frame"), plural(summary.markers, "marker"))
    } else {
        plural(summary.frames, "frame")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "frame"), "1 frame");
        assert_eq!(plural(0, "marker"), "0 markers");
        assert_eq!(plural(117, "frame"), "117 frames");
    }
}
