//! One pane's recorded captures as frames: reading them in seq order, and
//! writing them as an asciicast file (v2 or v3) for `session export`, the web
//! view's pane player and any asciinema player.
//!
//! Formats: <https://docs.asciinema.org/manual/asciicast/v2/> and
//! <https://docs.asciinema.org/manual/asciicast/v3/> (asciinema 3.x's default).
//! Nothing here writes to the log.

use crate::ansi;
use orc_log_engine::{Filter, Snapshot};
use orc_log_schemas::{EventBody, Kind, Target};
use serde_json::json;
use std::io::Write;

/// Pane size used when the first capture does not record one.
pub const DEFAULT_SIZE: (u32, u32) = (80, 24);

/// Clear the screen and move home before each frame.
pub const CLEAR: &str = "\x1b[H\x1b[2J";

/// Why a cast could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CastError {
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] orc_log_engine::Error),
    /// Writing the output failed.
    #[error("cannot write the cast: {0}")]
    Io(#[from] std::io::Error),
}

/// One decoded capture of the pane being replayed or exported.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Log position.
    pub seq: u64,
    /// Capture time, UTC ns.
    pub ts_ns: i64,
    /// The captured text.
    pub content: String,
    /// Pane width in cells, when recorded.
    pub width: Option<u32>,
    /// Pane height in cells, when recorded.
    pub height: Option<u32>,
}

/// Count and time span of the selected captures (from frame headers).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Number of captures.
    pub count: u64,
    /// Time of the first capture (in log order), UTC ns.
    pub first_ns: i64,
    /// Latest capture time, UTC ns.
    pub last_ns: i64,
}

/// The captures of `target` within [`since`, `until`] (UTC ns, inclusive),
/// up to `head` (so events appended meanwhile are not half seen).
pub fn capture_filter(target: &Target, since: Option<i64>, until: Option<i64>, head: u64) -> Filter {
    Filter {
        from_seq: 1,
        until_seq: Some(head),
        kinds: vec![Kind::Capture],
        scope: Some(target.to_string()),
        since_ns: since,
        until_ns: until,
    }
}

/// Counts the captures `filter` selects, reading headers only; `None` when
/// there are none.
///
/// # Errors
/// Log read errors.
pub fn capture_span(log: &Snapshot, filter: &Filter) -> Result<Option<Span>, orc_log_engine::Error> {
    let mut span: Option<Span> = None;
    log.for_each_meta(filter, |m| {
        let ts = m.ts_ns;
        span = Some(match span {
            None => Span { count: 1, first_ns: ts, last_ns: ts },
            Some(s) => Span { count: s.count + 1, first_ns: s.first_ns, last_ns: s.last_ns.max(ts) },
        });
        Ok::<_, orc_log_engine::Error>(true)
    })?;
    Ok(span)
}

/// Calls `each` with every capture `filter` selects, in seq order, decoding
/// them a page at a time (no lock is held while `each` runs). Stops early
/// when `each` returns `false`.
///
/// # Errors
/// Log read errors, or the first error `each` returns.
pub fn for_each_capture<E: From<orc_log_engine::Error>>(
    log: &Snapshot,
    filter: &Filter,
    mut each: impl FnMut(Capture) -> Result<bool, E>,
) -> Result<(), E> {
    log.for_each_record(filter, |r| {
        let ts_ns = r.event.ts_ns;
        match r.event.body {
            EventBody::Capture { content, width, height, .. } => {
                each(Capture { seq: r.seq, ts_ns, content, width, height })
            }
            _ => Ok(true),
        }
    })
}

/// A capture's text as shown: escapes filtered (unless `raw`) and trailing
/// newlines removed (empty rows at the bottom of the pane).
pub fn frame_text(content: &str, raw: bool) -> String {
    let mut text = if raw { content.to_owned() } else { ansi::strip(content) };
    let keep = text.trim_end_matches('\n').len();
    text.truncate(keep);
    text
}

/// Seconds as the float asciicast expects, from nanoseconds (to the microsecond).
fn secs(t_ns: i64) -> f64 {
    t_ns.div_euclid(1000) as f64 / 1e6
}

/// The asciicast v2 header line (without the newline).
pub fn header_line(width: u32, height: u32, timestamp_secs: i64, title: &str) -> String {
    json!({"version": 2, "width": width, "height": height, "timestamp": timestamp_secs, "title": title})
        .to_string()
}

/// The asciicast v3 header line (without the newline).
pub fn header_line_v3(cols: u32, rows: u32, timestamp_secs: i64, title: &str) -> String {
    json!({
        "version": 3,
        "term": {"cols": cols, "rows": rows, "type": "xterm-256color"},
        "timestamp": timestamp_secs,
        "title": title
    })
    .to_string()
}

/// An event line `[t, code, data]` (without the newline); `t_ns` is the time
/// since the start of the recording (v2) or since the previous event (v3).
pub fn event_line(t_ns: i64, code: &str, data: &str) -> String {
    json!([secs(t_ns), code, data]).to_string()
}

/// The output data of one capture: clear and home, then its text (escapes
/// filtered unless `raw`, trailing empty rows dropped so the screen does not
/// scroll) with `\n` as `\r\n`.
pub fn frame_data(content: &str, raw: bool) -> String {
    let text = frame_text(content, raw);
    let mut data = String::with_capacity(CLEAR.len() + text.len() + text.len() / 16);
    data.push_str(CLEAR);
    data.push_str(&text.replace('\n', "\r\n"));
    data
}

/// Which asciicast version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CastFormat {
    /// asciicast v2: `width`/`height` header, times since the start.
    #[default]
    V2,
    /// asciicast v3: `term` header, times since the previous event, resize
    /// and exit events.
    V3,
}

/// What to export of a pane.
#[derive(Debug, Clone, Default)]
pub struct CastOptions {
    /// File format.
    pub format: CastFormat,
    /// Only captures (and markers) at or after this time (UTC ns).
    pub since: Option<i64>,
    /// Only captures (and markers) at or before this time (UTC ns).
    pub until: Option<i64>,
    /// Keep every escape sequence as recorded (else only SGR colours).
    pub raw: bool,
}

/// What [`write_cast`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CastSummary {
    /// Output events from captures.
    pub frames: u64,
    /// Marker events.
    pub markers: u64,
    /// Time of the first capture (time 0 of the cast), UTC ns.
    pub start_ns: i64,
}

/// Writes `target`'s captures in `log` as an asciicast to `out`.
///
/// v2: a header line (`version` 2, `width` and `height` from the first
/// capture, else 80x24, `timestamp` of the first capture in Unix seconds,
/// `title` `orc-log TARGET`), then one output event `[t, "o", data]` per
/// capture, `t` in seconds since the first capture and `data` clearing the
/// screen and drawing the capture ([`frame_data`]). Markers for this pane or
/// for no pane, between the first and last capture, become `[t, "m", label]`.
/// v3 differs as [`CastFormat::V3`] says. Times never go backwards.
///
/// Returns `None` (and writes nothing) when no capture is selected.
///
/// # Errors
/// [`CastError::Log`] on read errors, [`CastError::Io`] when `out` fails.
pub fn write_cast(
    log: &Snapshot,
    target: &Target,
    opts: &CastOptions,
    out: &mut dyn Write,
) -> Result<Option<CastSummary>, CastError> {
    let head = log.head().seq;
    let filter = capture_filter(target, opts.since, opts.until, head);
    let Some(span) = capture_span(log, &filter)? else { return Ok(None) };
    let mut markers = markers(log, target, span.first_ns, span.last_ns, head)?;
    markers.reverse();
    let mut cast = Cast {
        out,
        start_ns: None,
        last_t: 0,
        raw: opts.raw,
        title: format!("orc-log {target}"),
        v3: opts.format == CastFormat::V3,
        size: DEFAULT_SIZE,
        markers,
        frames: 0,
        markers_written: 0,
    };
    for_each_capture(log, &filter, |c| {
        cast.capture(&c)?;
        Ok::<_, CastError>(true)
    })?;
    cast.finish()?;
    Ok(Some(CastSummary { frames: cast.frames, markers: cast.markers_written, start_ns: span.first_ns }))
}

/// The labels of markers for `target` or for no pane within [`from`, `to`],
/// in time order (ties in log order).
fn markers(
    log: &Snapshot,
    target: &Target,
    from: i64,
    to: i64,
    head: u64,
) -> Result<Vec<(i64, String)>, orc_log_engine::Error> {
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(head),
        kinds: vec![Kind::Marker],
        since_ns: Some(from),
        until_ns: Some(to),
        ..Filter::default()
    };
    let mut found = Vec::new();
    log.for_each_record(&filter, |r| {
        if let EventBody::Marker { label, target: t } = r.event.body
            && t.as_ref().is_none_or(|t| t == target)
        {
            found.push((r.event.ts_ns, label));
        }
        Ok::<_, orc_log_engine::Error>(true)
    })?;
    found.sort_by_key(|(ts, _)| *ts);
    Ok(found)
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
    /// asciicast v3 (relative times, resize and exit events) rather than v2.
    v3: bool,
    /// The pane size of the last frame (v3 writes a resize when it changes).
    size: (u32, u32),
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
        let written = if self.v3 { t - self.last_t } else { t };
        self.last_t = t;
        writeln!(self.out, "{}", event_line(written, code, data))
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

    /// Ends the file: the markers left, and for v3 the exit event.
    fn finish(&mut self) -> std::io::Result<()> {
        self.markers_until(None)?;
        if self.v3 && self.start_ns.is_some() {
            writeln!(self.out, "{}", event_line(0, "x", "0"))?;
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
            let timestamp = c.ts_ns.div_euclid(1_000_000_000);
            let header = if self.v3 {
                header_line_v3(w, h, timestamp, &self.title)
            } else {
                header_line(w, h, timestamp, &self.title)
            };
            writeln!(self.out, "{header}")?;
            self.start_ns = Some(c.ts_ns);
            self.size = (w, h);
        }
        self.markers_until(Some(c.ts_ns))?;
        if let (true, Some(w), Some(h)) = (self.v3, c.width, c.height)
            && w > 0
            && h > 0
            && (w, h) != self.size
        {
            self.size = (w, h);
            self.event(c.ts_ns, "r", &format!("{w}x{h}"))?;
        }
        self.event(c.ts_ns, "o", &frame_data(&c.content, self.raw))?;
        self.frames += 1;
        Ok(())
    }
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
            v3: false,
            size: DEFAULT_SIZE,
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

    /// v3 (docs.asciinema.org/manual/asciicast/v3): `term` header, each
    /// time relative to the previous event, resizes, and a final exit event.
    #[test]
    fn v3_has_a_term_header_relative_times_resizes_and_an_exit() {
        let s = 1_000_000_000i64;
        let t0 = 1_795_734_237 * s;
        let mut c = cast(vec![(t0 + 2 * s, "mid".into())]);
        c.v3 = true;
        c.capture(&cap(1, t0, "one\n", Some((100, 30)))).unwrap();
        c.capture(&cap(2, t0 + 3 * s, "two\n", Some((100, 30)))).unwrap();
        c.capture(&cap(3, t0 + 4 * s + s / 2, "three\n", Some((120, 40)))).unwrap();
        c.finish().unwrap();
        let text = String::from_utf8(c.out).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(parse).collect();
        assert_eq!(lines[0]["version"], 3);
        assert_eq!(lines[0]["term"]["cols"], 100);
        assert_eq!(lines[0]["term"]["rows"], 30);
        assert_eq!(lines[0]["term"]["type"], "xterm-256color");
        assert_eq!(lines[0]["timestamp"], 1_795_734_237);
        assert!(lines[0].get("width").is_none());
        let events: Vec<(f64, &str, &str)> = lines[1..]
            .iter()
            .map(|v| (v[0].as_f64().unwrap(), v[1].as_str().unwrap(), v[2].as_str().unwrap()))
            .collect();
        let codes: Vec<(f64, &str)> = events.iter().map(|(t, c, _)| (*t, *c)).collect();
        assert_eq!(codes, [(0.0, "o"), (2.0, "m"), (1.0, "o"), (1.5, "r"), (0.0, "o"), (0.0, "x")]);
        assert_eq!(events[3].2, "120x40");
        assert_eq!(events[5].2, "0");
    }

    #[test]
    fn frame_text_strips_and_trims_trailing_rows() {
        assert_eq!(frame_text("a\x1b[2J\nb\n\n\n", false), "a\nb");
        assert_eq!(frame_text("a\x1b[2J\n\n", true), "a\x1b[2J");
        assert_eq!(frame_text("\n\n", false), "");
    }
}
