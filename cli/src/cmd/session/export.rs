//! `orc-log session export`: a recorded pane as an asciicast v2 file, for
//! `asciinema play` or the asciinema web player.
//!
//! Format: <https://docs.asciinema.org/manual/asciicast/v2/>.

use super::replay::{Capture, capture_filter, capture_span, for_each_capture, no_captures};
use crate::cmd::Staged;
use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_schemas::{EventBody, Kind, Target};
use serde_json::json;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Pane size used when the first capture does not record one.
const DEFAULT_SIZE: (u32, u32) = (80, 24);

/// Export a recorded pane's captures as a file another player can show.
///
/// asciicast v2: a header line (`version` 2, `width` and `height` from the
/// first capture, else 80x24, `timestamp` of the first capture in Unix
/// seconds, `title`), then one output event `[t, "o", data]` per capture,
/// where `t` is the seconds since the first capture and `data` clears the
/// screen and draws the capture (newlines as CR LF). Markers (`marker`
/// events for this pane or for no pane, between the first and last exported
/// capture) become marker events `[t, "m", label]`.
///
/// Escape sequences other than SGR colours are removed unless --raw, as in
/// `session replay`. The file is written under a temporary name and renamed
/// into place when complete, so FILE is never left half written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pane (`session:window.pane`), as `orc-log session list` shows it.
    target: Target,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Asciicast)]
    format: Format,
    /// The file to write (replaced if it exists; relative to the current directory).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Only captures (and markers) at or after this time (RFC 3339).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only captures (and markers) at or before this time (RFC 3339).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Keep the captured text exactly as recorded, all escape sequences included.
    #[arg(long)]
    raw: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// asciicast v2 (NDJSON: a header, then `[time, code, data]` events).
    Asciicast,
}

/// Clear the screen and move home before each frame.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Seconds as the float asciicast expects, from nanoseconds (to the microsecond).
fn secs(t_ns: i64) -> f64 {
    t_ns.div_euclid(1000) as f64 / 1e6
}

/// The asciicast v2 header line (without the newline).
pub(crate) fn header_line(width: u32, height: u32, timestamp_secs: i64, title: &str) -> String {
    json!({"version": 2, "width": width, "height": height, "timestamp": timestamp_secs, "title": title})
        .to_string()
}

/// An event line `[t, code, data]` (without the newline); `t_ns` is the time
/// since the start of the recording.
pub(crate) fn event_line(t_ns: i64, code: &str, data: &str) -> String {
    json!([secs(t_ns), code, data]).to_string()
}

/// The output data of one capture: clear and home, then its text (escapes
/// filtered unless `raw`, trailing empty rows dropped so the screen does not
/// scroll) with `\n` as `\r\n`.
pub(crate) fn frame_data(content: &str, raw: bool) -> String {
    let text = super::replay::frame_text(content, raw);
    let mut data = String::with_capacity(CLEAR.len() + text.len() + text.len() / 16);
    data.push_str(CLEAR);
    data.push_str(&text.replace('\n', "\r\n"));
    data
}

/// Builds the event lines in time order; times never go backwards.
struct Cast<W: Write> {
    out: W,
    /// Time of the first capture, UTC ns (time 0).
    start_ns: Option<i64>,
    /// Time of the last event written, ns since start.
    last_t: i64,
    raw: bool,
    title: String,
    /// Markers not yet written, in time order (reversed: next one last).
    markers: Vec<(i64, String)>,
    frames: u64,
    markers_written: u64,
}

impl<W: Write> Cast<W> {
    /// Writes one event at absolute time `ts_ns`, clamped to be no earlier
    /// than the previous event.
    fn event(&mut self, ts_ns: i64, code: &str, data: &str) -> std::io::Result<()> {
        let start = self.start_ns.unwrap_or(ts_ns);
        let t = ts_ns.saturating_sub(start).max(self.last_t);
        self.last_t = t;
        writeln!(self.out, "{}", event_line(t, code, data))
    }

    /// Writes the markers at or before `ts_ns` (all of them for `None`).
    fn markers_until(&mut self, ts_ns: Option<i64>) -> std::io::Result<()> {
        while let Some((mts, _)) = self.markers.last() {
            if ts_ns.is_some_and(|t| *mts > t) {
                break;
            }
            let Some((mts, label)) = self.markers.pop() else { break };
            self.event(mts, "m", &label)?;
            self.markers_written += 1;
        }
        Ok(())
    }

    /// Writes the header (at the first capture), the markers up to this
    /// capture, and the capture.
    fn capture(&mut self, c: &Capture) -> std::io::Result<()> {
        if self.start_ns.is_none() {
            let (w, h) = match (c.width, c.height) {
                (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
                _ => DEFAULT_SIZE,
            };
            writeln!(self.out, "{}", header_line(w, h, c.ts_ns.div_euclid(1_000_000_000), &self.title))?;
            self.start_ns = Some(c.ts_ns);
        }
        self.markers_until(Some(c.ts_ns))?;
        self.event(c.ts_ns, "o", &frame_data(&c.content, self.raw))?;
        self.frames += 1;
        Ok(())
    }
}

/// The labels of markers for `target` or for no pane within [`from`, `to`],
/// in time order (ties in log order).
fn markers(db: &SharedLog, target: &Target, from: i64, to: i64, head: u64) -> Result<Vec<(i64, String)>> {
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(head),
        kinds: vec![Kind::Marker],
        since_ns: Some(from),
        until_ns: Some(to),
        ..Filter::default()
    };
    let mut found = Vec::new();
    db.snapshot().for_each_record(&filter, |r| {
        if let EventBody::Marker { label, target: t } = r.event.body
            && t.as_ref().is_none_or(|t| t == target)
        {
            found.push((r.event.ts_ns, label));
        }
        anyhow::Ok(true)
    })?;
    found.sort_by_key(|(ts, _)| *ts);
    Ok(found)
}

/// `N frame(s)`.
fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Runs `orc-log session export`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let Format::Asciicast = args.format;
    let head = db.head().seq;
    let filter = capture_filter(&args.target, args.since, args.until, head);
    let span = capture_span(db, &filter)
        .with_context(|| format!("reading the captures of {}", args.target))?
        .ok_or_else(|| no_captures(&args.target, args.since, args.until))?;
    let mut markers =
        markers(db, &args.target, span.first_ns, span.last_ns, head).context("reading markers")?;
    markers.reverse();

    let dest = io.resolve(&args.output);
    let (tmp, file) = Staged::file(&dest)?;
    let mut cast = Cast {
        out: BufWriter::new(file),
        start_ns: None,
        last_t: 0,
        raw: args.raw,
        title: format!("orc-log {}", args.target),
        markers,
        frames: 0,
        markers_written: 0,
    };
    let writing = || format!("writing {}", tmp.path.display());
    for_each_capture(db, &filter, |c| {
        cast.capture(&c).with_context(writing)?;
        anyhow::Ok(true)
    })
    .with_context(|| format!("reading the captures of {}", args.target))?;
    cast.markers_until(None).with_context(writing)?;
    let (frames, markers_written) = (cast.frames, cast.markers_written);
    cast.out.into_inner().map_err(|e| e.into_error()).with_context(writing)?;
    tmp.commit(&dest)?;
    let what = if markers_written > 0 {
        format!("{} and {}", plural(frames, "frame"), plural(markers_written, "marker"))
    } else {
        plural(frames, "frame")
    };
    writeln!(io.out, "wrote {what} to {}", args.output.display())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn header_is_asciicast_v2() {
        let h = parse(&header_line(160, 48, 1_795_734_237, "orc-log proj:0.0"));
        assert_eq!(h["version"], 2);
        assert_eq!(h["width"], 160);
        assert_eq!(h["height"], 48);
        assert_eq!(h["timestamp"], 1_795_734_237);
        assert_eq!(h["title"], "orc-log proj:0.0");
    }

    #[test]
    fn event_lines_are_time_code_data() {
        assert_eq!(event_line(0, "o", "x"), r#"[0.0,"o","x"]"#);
        assert_eq!(event_line(1_500_000_000, "m", "review"), r#"[1.5,"m","review"]"#);
        let v = parse(&event_line(2_000_123_999, "o", "a\u{1b}[1mb\r\n\"q\""));
        assert_eq!(v[0].as_f64(), Some(2.000123));
        assert_eq!(v[2], "a\u{1b}[1mb\r\n\"q\"");
    }

    #[test]
    fn frame_data_clears_converts_newlines_and_strips() {
        assert_eq!(frame_data("a\nb\n\n", false), "\x1b[H\x1b[2Ja\r\nb");
        assert_eq!(frame_data("\x1b[31ma\x1b[0m\x1b]0;t\x07\n", false), "\x1b[H\x1b[2J\x1b[31ma\x1b[0m");
        assert_eq!(frame_data("\x1b]0;t\x07a\nb", true), "\x1b[H\x1b[2J\x1b]0;t\x07a\r\nb");
    }

    fn cap(seq: u64, ts_ns: i64, content: &str, size: Option<(u32, u32)>) -> Capture {
        Capture { seq, ts_ns, content: content.into(), width: size.map(|s| s.0), height: size.map(|s| s.1) }
    }

    fn cast(markers: Vec<(i64, String)>) -> Cast<Vec<u8>> {
        let mut markers = markers;
        markers.reverse();
        Cast {
            out: Vec::new(),
            start_ns: None,
            last_t: 0,
            raw: false,
            title: "orc-log s:0.0".into(),
            markers,
            frames: 0,
            markers_written: 0,
        }
    }

    #[test]
    fn cast_interleaves_markers_and_never_goes_back_in_time() {
        let s = 1_000_000_000i64;
        let t0 = 1_795_734_237 * s + s / 2;
        let mut c = cast(vec![(t0, "start".into()), (t0 + 2 * s, "mid".into()), (t0 + 9 * s, "end".into())]);
        c.capture(&cap(1, t0, "one\n", None)).unwrap();
        c.capture(&cap(2, t0 + 3 * s, "two\n", Some((100, 30)))).unwrap();
        // Out of order in time: clamped to the previous event.
        c.capture(&cap(3, t0 + s, "three\n", None)).unwrap();
        c.markers_until(None).unwrap();
        assert_eq!((c.frames, c.markers_written), (3, 3));
        let text = String::from_utf8(c.out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(parse).collect();
        assert_eq!(lines[0]["width"], 80, "default size when the first capture has none");
        assert_eq!(lines[0]["height"], 24);
        assert_eq!(lines[0]["timestamp"], 1_795_734_237);
        let events: Vec<(f64, String, String)> = lines[1..]
            .iter()
            .map(|v| (v[0].as_f64().unwrap(), v[1].as_str().unwrap().into(), v[2].as_str().unwrap().into()))
            .collect();
        let codes: Vec<(f64, &str)> = events.iter().map(|(t, c, _)| (*t, c.as_str())).collect();
        assert_eq!(codes, [(0.0, "m"), (0.0, "o"), (2.0, "m"), (3.0, "o"), (3.0, "o"), (9.0, "m")]);
        assert_eq!(events[1].2, "\x1b[H\x1b[2Jone");
        assert_eq!(events[2].2, "mid");
    }

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "frame"), "1 frame");
        assert_eq!(plural(0, "marker"), "0 markers");
        assert_eq!(plural(117, "frame"), "117 frames");
    }
}
