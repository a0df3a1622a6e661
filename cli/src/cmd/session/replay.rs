//! `orc-log session replay`: redraw a recorded pane's captures, with their
//! original timing, in the terminal (or as plain text into a pipe).
//!
//! Reading one pane's captures and the escape-sequence filter are in
//! [`orc_log_projections::cast`], shared with `session export` and the web view.

use crate::ctx::Io;
use anyhow::{Context, Result, anyhow};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_projections::cast::{Capture, Span, capture_filter, capture_span, for_each_capture, frame_text};
use orc_log_schemas::{EventBody, Target, format_rfc3339};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Longest single sleep while waiting for the next frame, so an interrupt
/// (Ctrl-C) is noticed quickly.
const SLEEP_SLICE: Duration = Duration::from_millis(50);

/// Redraw a pane's recorded captures with their original timing.
///
/// On a terminal the frames are drawn on the alternate screen, one after the
/// other, with a status line at the bottom (capture time, position i/N,
/// speed); the screen is restored at the end or on Ctrl-C. The wait between
/// two captures is their recorded gap, first capped at --idle-limit and then
/// divided by --speed (as asciinema does).
///
/// Into a pipe or file (or through `orc-log serve`, whose output is a socket)
/// each frame is printed at once, preceded by a header line
/// `--- SEQ TIME TARGET i/N ---`, with trailing empty lines dropped.
///
/// Escape sequences other than SGR colours (`ESC [ ... m`) and control
/// characters other than newline and tab are removed unless --raw.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pane (`session:window.pane`), as `orc-log session list` shows it.
    target: Target,
    /// Only captures at or after this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only captures at or before this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = crate::cmd::parse_time, value_name = "TIME")]
    until: Option<i64>,
    /// Playback speed: 2 plays twice as fast, 0.5 at half speed.
    #[arg(long, value_parser = parse_speed, default_value = "1", value_name = "X")]
    speed: f64,
    /// Longest pause between two frames, in recorded time (before --speed
    /// applies), e.g. `2s`, `500ms`; `0s` shows the frames without pausing.
    #[arg(long, value_parser = crate::cmd::parse_duration, default_value = "2s", value_name = "DUR")]
    idle_limit: Duration,
    /// Write the captured text exactly as recorded, all escape sequences included.
    #[arg(long)]
    raw: bool,
}

/// clap value parser for --speed: a finite number above 0.
fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a speed (a number above 0, e.g. 1, 2 or 0.5)")),
    }
}

/// clap value parser for --idle-limit: a finite number of seconds, 0 or more.
/// How long to wait before showing a capture taken `gap_ns` after the
/// previous one: the gap (negative counts as 0) capped at `idle_limit_secs`,
/// then divided by `speed`.
///
/// `speed` must be above 0 and `idle_limit_secs` 0 or more (the argument
/// parsers ensure it); anything else gives no wait rather than a panic.
pub(crate) fn frame_delay(gap_ns: i64, speed: f64, idle_limit_secs: f64) -> Duration {
    let gap = (gap_ns.max(0) as f64 / 1e9).min(idle_limit_secs);
    Duration::try_from_secs_f64(gap / speed).unwrap_or(Duration::ZERO)
}

/// The error for a selection without captures.
pub(super) fn no_captures(target: &Target, since: Option<i64>, until: Option<i64>) -> anyhow::Error {
    let range = match (since, until) {
        (None, None) => String::new(),
        (Some(s), None) => format!(" since {}", format_rfc3339(s)),
        (None, Some(u)) => format!(" until {}", format_rfc3339(u)),
        (Some(s), Some(u)) => format!(" between {} and {}", format_rfc3339(s), format_rfc3339(u)),
    };
    anyhow!("no captures of {target}{range} in the log (`orc-log session list` shows the recorded panes)")
}

/// Runs `orc-log session replay`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let head = db.head().seq;
    let filter = capture_filter(&args.target, args.since, args.until, head);
    let snap = db.snapshot();
    let span = capture_span(&snap, &filter)
        .with_context(|| format!("reading the captures of {}", args.target))?
        .ok_or_else(|| no_captures(&args.target, args.since, args.until))?;
    // Inside the server the output is a client's socket, never a terminal.
    let terminal = !io.served && std::io::stdout().is_terminal();
    if terminal {
        play(&args, span.count, io, &mut |each| for_each_capture(&snap, &filter, each))
    } else {
        print_plain(&snap, &args, &filter, span, io)
    }
}

/// Plays on this terminal while a server owns the database: the frames are
/// fetched with the server's `tail --format json` (the server's output is a
/// socket, so it cannot drive this terminal itself), then played here.
pub fn run_via_server(args: Args, client: &mut orc_log_server::Client, io: &mut Io) -> Result<u8> {
    let mut tail =
        vec!["tail".to_owned(), "--format".into(), "json".into(), "--kind".into(), "capture".into()];
    tail.extend(["--target".to_owned(), args.target.to_string()]);
    if let Some(since) = args.since {
        tail.extend(["--since".to_owned(), format_rfc3339(since)]);
    }
    let mut json = Vec::new();
    let code = client.exec(tail, io.cwd.clone(), &mut json, &mut *io.err)?;
    if code != 0 {
        return Ok(code);
    }
    let mut frames = Vec::new();
    for line in String::from_utf8_lossy(&json).lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).context("the server sent a line that is not JSON")?;
        let ev =
            orc_log_schemas::parse_line(line, 0).map_err(|e| anyhow!("the server sent a bad event: {e}"))?;
        let seq = record["seq"].as_u64().unwrap_or(0);
        if args.until.is_some_and(|u| ev.ts_ns > u) {
            continue;
        }
        if let EventBody::Capture { content, width, height, .. } = ev.body {
            frames.push(Capture { seq, ts_ns: ev.ts_ns, content, width, height });
        }
    }
    if frames.is_empty() {
        return Err(no_captures(&args.target, args.since, args.until));
    }
    let count = frames.len() as u64;
    let mut frames = frames.into_iter();
    play(&args, count, io, &mut |each| {
        for c in frames.by_ref() {
            if !each(c)? {
                break;
            }
        }
        Ok(())
    })
}

/// Prints every frame at once, each after a `--- SEQ TIME TARGET i/N ---` line.
fn print_plain(
    db: &orc_log_engine::Snapshot,
    args: &Args,
    filter: &Filter,
    span: Span,
    io: &mut Io,
) -> Result<u8> {
    let mut i = 0u64;
    for_each_capture(db, filter, |c| {
        i += 1;
        writeln!(io.out, "{}", plain_header(c.seq, c.ts_ns, &args.target, i, span.count))?;
        let text = frame_text(&c.content, args.raw);
        if text.is_empty() {
            anyhow::Ok(true)
        } else {
            writeln!(io.out, "{text}")?;
            anyhow::Ok(true)
        }
    })
    .with_context(|| format!("reading the captures of {}", args.target))?;
    io.out.flush()?;
    Ok(0)
}

/// The line before each frame in plain output.
pub(crate) fn plain_header(seq: u64, ts_ns: i64, target: &Target, i: u64, n: u64) -> String {
    format!("--- {seq} {} {target} {i}/{n} ---", format_rfc3339(ts_ns))
}

/// The status line under each frame on a terminal.
pub(crate) fn status_line(ts_ns: i64, target: &Target, i: u64, n: u64, speed: f64) -> String {
    format!(" {target}  {}  {i}/{n}  speed {speed}x ", format_rfc3339(ts_ns))
}

/// One frame for a terminal: clear and home, each row of `text` at its own
/// line (so the screen never scrolls, with autowrap off; rows past the bottom
/// are covered by the status line), then `status` in reverse video on the
/// last line.
pub(crate) fn terminal_frame(text: &str, status: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("\x1b[0m\x1b[H\x1b[2J");
    for (row, line) in text.split('\n').enumerate() {
        out.push_str(&format!("\x1b[{};1H{line}\x1b[0m", row + 1));
    }
    // Row 999 is clamped to the last row of the terminal.
    out.push_str(&format!("\x1b[999;1H\x1b[2K\x1b[7m{status}\x1b[0m"));
    out
}

/// Enter the alternate screen, hide the cursor, turn autowrap off.
const SCREEN_ENTER: &str = "\x1b[?1049h\x1b[?25l\x1b[?7l";
/// Reset colours, autowrap and cursor, leave the alternate screen.
const SCREEN_LEAVE: &str = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l";

/// The alternate screen, left again when dropped (also after an error).
struct AltScreen<'w> {
    out: &'w mut dyn Write,
}

impl<'w> AltScreen<'w> {
    fn enter(out: &'w mut dyn Write) -> Result<Self> {
        out.write_all(SCREEN_ENTER.as_bytes())?;
        out.flush()?;
        Ok(Self { out })
    }
}

impl Drop for AltScreen<'_> {
    fn drop(&mut self) {
        // Best effort: the terminal may already be gone.
        let _ = self.out.write_all(SCREEN_LEAVE.as_bytes());
        let _ = self.out.flush();
    }
}

/// SIGINT, SIGTERM and SIGHUP during a terminal replay, caught so the
/// screen is restored before the process exits.
struct Interrupt;

impl Interrupt {
    /// `None` when the signals cannot be caught (the replay then runs with
    /// the default signal handling).
    fn install() -> Option<Self> {
        crate::cmd::catch_interrupts().ok().map(|()| Interrupt)
    }

    fn fired(&self) -> bool {
        crate::cmd::interrupted()
    }
}

/// Sleeps until `deadline`; `false` when interrupted first.
fn sleep_until(deadline: Instant, interrupt: Option<&Interrupt>) -> bool {
    loop {
        if interrupt.is_some_and(Interrupt::fired) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(SLEEP_SLICE));
    }
}

/// Calls its argument with each capture in order until it returns `false`.
type FrameSource<'a> = &'a mut dyn FnMut(&mut dyn FnMut(Capture) -> Result<bool>) -> Result<()>;

/// Plays the frames on the terminal with their timing; exit status 130 when
/// interrupted.
/// The frames come from `source`, which calls its argument with each capture
/// in order until it returns `false`.
fn play(args: &Args, count: u64, io: &mut Io, source: FrameSource<'_>) -> Result<u8> {
    let interrupt = Interrupt::install();
    let screen = AltScreen::enter(&mut *io.out)?;
    let mut i = 0u64;
    let mut prev_ts: Option<i64> = None;
    let mut deadline = Instant::now();
    let mut interrupted = false;
    source(&mut |c| {
        if let Some(prev) = prev_ts {
            deadline += frame_delay(c.ts_ns.saturating_sub(prev), args.speed, args.idle_limit.as_secs_f64());
            if !sleep_until(deadline, interrupt.as_ref()) {
                interrupted = true;
                return Ok(false);
            }
        }
        // A slow page read or terminal must not make later frames rush.
        deadline = deadline.max(Instant::now());
        prev_ts = Some(c.ts_ns);
        i += 1;
        let status = status_line(c.ts_ns, &args.target, i, count, args.speed);
        let frame = terminal_frame(&frame_text(&c.content, args.raw), &status);
        screen.out.write_all(frame.as_bytes())?;
        screen.out.flush()?;
        Ok(!interrupt.as_ref().is_some_and(Interrupt::fired))
    })
    .with_context(|| format!("reading the captures of {}", args.target))?;
    // Leave the last frame up for a moment, like a player reaching the end.
    if !interrupted && !interrupt.as_ref().is_some_and(Interrupt::fired) {
        sleep_until(
            Instant::now() + frame_delay(i64::MAX, args.speed, args.idle_limit.as_secs_f64()),
            interrupt.as_ref(),
        );
    }
    let interrupted = interrupted || interrupt.as_ref().is_some_and(Interrupt::fired);
    drop(screen);
    if interrupted {
        writeln!(io.err, "replay interrupted")?;
        return Ok(130);
    }
    writeln!(io.out, "replayed {i} frames of {}", args.target)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_gap_capped_then_divided_by_speed() {
        let s = 1_000_000_000;
        assert_eq!(frame_delay(s / 2, 1.0, 2.0), Duration::from_millis(500));
        assert_eq!(frame_delay(s / 2, 2.0, 2.0), Duration::from_millis(250));
        assert_eq!(frame_delay(s / 2, 0.5, 2.0), Duration::from_secs(1));
        // Long gaps are capped at the idle limit, in recorded time.
        assert_eq!(frame_delay(60 * s, 1.0, 2.0), Duration::from_secs(2));
        assert_eq!(frame_delay(60 * s, 4.0, 2.0), Duration::from_millis(500));
        assert_eq!(frame_delay(i64::MAX, 1.0, 2.0), Duration::from_secs(2));
        // Out-of-order or equal times and a zero limit: no wait.
        assert_eq!(frame_delay(-s, 1.0, 2.0), Duration::ZERO);
        assert_eq!(frame_delay(0, 1.0, 2.0), Duration::ZERO);
        assert_eq!(frame_delay(3 * s, 1.0, 0.0), Duration::ZERO);
        // Values the parsers reject do not panic.
        assert_eq!(frame_delay(s, 0.0, 2.0), Duration::ZERO);
        assert_eq!(frame_delay(s, f64::NAN, 2.0), Duration::ZERO);
    }

    #[test]
    fn speed_and_duration_parsers() {
        assert_eq!(parse_speed("2"), Ok(2.0));
        assert_eq!(parse_speed("0.25"), Ok(0.25));
        for bad in ["0", "-1", "nan", "inf", "fast", ""] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
        assert_eq!(crate::cmd::parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["2", "-1s", "x"] {
            assert!(crate::cmd::parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_and_frames() {
        let t: Target = "proj:1.0".parse().unwrap();
        let ts = orc_log_schemas::parse_rfc3339("2026-11-20T23:03:57.5Z").unwrap();
        assert_eq!(plain_header(12, ts, &t, 3, 16), "--- 12 2026-11-20T23:03:57.500Z proj:1.0 3/16 ---");
        let status = status_line(ts, &t, 3, 16, 2.0);
        assert!(
            status.contains("2026-11-20T23:03:57.500Z") && status.contains("3/16") && status.contains("2x")
        );
        let frame = terminal_frame("one\ntwo", "S");
        assert!(frame.starts_with("\x1b[0m\x1b[H\x1b[2J"));
        assert!(frame.contains("\x1b[1;1Hone\x1b[0m\x1b[2;1Htwo\x1b[0m"));
        assert!(frame.ends_with("\x1b[999;1H\x1b[2K\x1b[7mS\x1b[0m"));
        assert!(!frame.contains('\n'), "rows are positioned, never scrolled");
    }
}
