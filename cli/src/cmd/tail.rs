//! `orc-log tail`: print events from the log, and follow new ones.

use crate::ctx::Io;
use crate::render;
use anyhow::{Context, Result, bail};
use orc_log_engine::{Batch, Filter, SharedLog};
use orc_log_schemas::{Kind, Record, Target, to_json_line};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// Print events, oldest first: the whole log from seq 1 unless --since,
/// --until, --from-seq or -n narrow it.
///
/// `--format json` writes NDJSON format v1 with `seq`, so
/// `orc-log tail --format json | orc-log --db OTHER ingest` reproduces the events.
/// `--follow` (with `orc-log serve` running) then streams new events as they
/// are committed, in order, without gaps or duplicates.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only events of these kinds: a comma list or repeated, e.g. `capture`, `message,schedule`.
    #[arg(long, value_parser = super::parse_kind, value_delimiter = ',', value_name = "KIND")]
    kind: Vec<Kind>,
    /// Only events about this pane (`session:window.pane`; messages by recipient).
    #[arg(long)]
    target: Option<Target>,
    /// Only events at or after this time (RFC 3339, a duration before now such as 10m, or now).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
    /// Only events at or before this time (same forms as --since).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME", conflicts_with = "follow")]
    until: Option<i64>,
    /// Start at this seq.
    #[arg(long, value_name = "N")]
    from_seq: Option<u64>,
    /// Only the last N matching events.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    n: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// After the existing events, wait for new ones (needs `orc-log serve`).
    /// When the server stops, wait up to --lock-timeout for it to come back
    /// and go on after the last event shown; exit 1 if it does not.
    #[arg(long, short = 'f')]
    follow: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One readable line per event.
    Text,
    /// NDJSON format v1 with `seq`.
    Json,
}

/// Runs `orc-log tail`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    if args.follow && !io.served {
        bail!(
            "--follow needs a running server: start `orc-log serve` for this database (without one, no other process can write to it)"
        );
    }
    let head = db.head().seq;
    let mut filter = Filter {
        from_seq: args.from_seq.unwrap_or(1).max(1),
        kinds: args.kind.clone(),
        scope: args.target.as_ref().map(ToString::to_string),
        since_ns: args.since,
        until_ns: args.until,
        ..Filter::default()
    };
    let unfiltered = filter.kinds.is_empty()
        && filter.scope.is_none()
        && filter.since_ns.is_none()
        && filter.until_ns.is_none();
    if let (Some(n), true) = (args.n, unfiltered) {
        // Every event matches: the last n are simply the last n seqs.
        filter.from_seq = filter.from_seq.max(head.saturating_sub(n as u64) + 1);
    }
    let format = args.format;
    let write = |out: &mut dyn Write, r: &Record| write_record(format, out, r);
    // Existing events up to the head seen at the start.
    filter.until_seq = Some(head);
    let mut last: Option<VecDeque<Record>> = match args.n {
        Some(n) if !unfiltered => Some(VecDeque::with_capacity(n.min(4096))),
        _ => None,
    };
    db.snapshot().for_each_record(&filter, |r| {
        match (&mut last, args.n) {
            (Some(ring), Some(n)) => {
                if n > 0 {
                    if ring.len() == n {
                        ring.pop_front();
                    }
                    ring.push_back(r);
                }
            }
            _ => write(io.out, &r)?,
        }
        anyhow::Ok(true)
    })?;
    if let Some(ring) = last {
        for r in &ring {
            write(io.out, r)?;
        }
    }
    io.out.flush()?;
    if !args.follow {
        return Ok(0);
    }
    // Follow: after the head seen at the start, every event committed
    // since, a batch at a time from a fresh snapshot (no lock is held between
    // batches), until the server stops its followers.
    filter.from_seq = head + 1;
    filter.until_seq = None;
    let mut follower = db.follow(filter);
    loop {
        let batch = follower.next_batch(Duration::from_secs(1), FOLLOW_BATCH)?;
        if let Batch::Events(events) = &batch {
            for (_, r) in events {
                write(io.out, r)?;
            }
        }
        // A flush to a client that went away fails, which ends the follow.
        io.out.flush()?;
        if let Batch::Closed = batch {
            // The server is stopping: its client (`follow_via_server`)
            // waits for the next one and resumes after the last seq shown.
            return Ok(SERVER_STOPPED);
        }
    }
}

/// Events read at most at once by `tail --follow`.
const FOLLOW_BATCH: usize = 1024;

/// The exit status of `tail --follow` run inside a server that stops
/// (EX_TEMPFAIL): [`follow_via_server`] waits for the server to come back.
pub const SERVER_STOPPED: u8 = 75;

/// Writes one event in `format`.
fn write_record(format: Format, out: &mut dyn Write, r: &Record) -> std::io::Result<()> {
    match format {
        Format::Text => writeln!(out, "{}", render::text_line(r)),
        Format::Json => writeln!(out, "{}", to_json_line(r)),
    }
}

impl Args {
    /// Whether this is `tail --follow`.
    pub fn follows(&self) -> bool {
        self.follow
    }

    /// The arguments of this `tail` as the server runs it for
    /// [`follow_via_server`]: the same filter, NDJSON out (so the client
    /// learns each event's seq), starting at `from_seq`, the last `n`.
    fn server_args(&self, from_seq: Option<u64>, n: Option<usize>) -> Vec<String> {
        let mut args: Vec<String> = ["tail", "--format", "json", "--follow"].map(str::to_owned).into();
        for kind in &self.kind {
            args.extend(["--kind".to_owned(), kind.as_str().to_owned()]);
        }
        if let Some(target) = &self.target {
            args.extend(["--target".to_owned(), target.to_string()]);
        }
        if let Some(since) = self.since {
            args.extend(["--since".to_owned(), orc_log_schemas::format_rfc3339(since)]);
        }
        if let Some(seq) = from_seq {
            args.extend(["--from-seq".to_owned(), seq.to_string()]);
        }
        if let Some(n) = n {
            args.extend(["-n".to_owned(), n.to_string()]);
        }
        args
    }
}

/// What [`follow_via_server`] gets from the server: NDJSON lines, shown in
/// the user's format, remembering the last seq shown.
struct Relay<'a> {
    out: &'a mut dyn Write,
    format: Format,
    buf: Vec<u8>,
    last_seq: Option<u64>,
}

impl Relay<'_> {
    fn show(&mut self, line: &[u8]) -> std::io::Result<()> {
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        let seq = value["seq"].as_u64().ok_or_else(|| bad("the server sent an event without seq".into()))?;
        match self.format {
            Format::Json => {
                self.out.write_all(line)?;
                self.out.write_all(b"\n")?;
            }
            Format::Text => {
                let event = orc_log_schemas::parse_value(value, 0)
                    .map_err(|e| bad(format!("the server sent a bad event: {e}")))?;
                write_record(self.format, self.out, &Record { seq, event })?;
            }
        }
        self.last_seq = Some(seq);
        Ok(())
    }
}

impl Write for Relay<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') else { return Ok(()) };
        let rest = self.buf.split_off(end + 1);
        let lines = std::mem::replace(&mut self.buf, rest);
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.show(line)?;
        }
        self.out.flush()
    }
}

/// Runs `orc-log tail --follow` through the server of `db_dir`, here, so
/// that it outlives a server restart: when the server stops (or the
/// connection breaks) it says so on stderr, waits for a server to answer
/// again (up to `--lock-timeout`, polling as for a busy database), and
/// resumes after the last seq it printed, so no event is missed or shown
/// twice.
///
/// # Errors
/// When no server answers within the wait (naming the last seq shown), and
/// the server's or the output's errors.
pub fn follow_via_server(
    db_dir: &std::path::Path,
    args: Args,
    mut client: orc_log_server::Client,
    io: &mut Io,
) -> Result<u8> {
    let (mut from_seq, mut n) = (args.from_seq, args.n);
    // Where a follow that has shown nothing yet resumes after a restart: the
    // head when it started (events appended during the outage are new).
    let head_at_start = match from_seq {
        Some(_) => None,
        None => head_seq(&mut client, io)?,
    };
    let mut last_seq = None;
    loop {
        let mut relay = Relay { out: &mut *io.out, format: args.format, buf: Vec::new(), last_seq };
        let ran = client.exec(args.server_args(from_seq, n), io.cwd.clone(), &mut relay, &mut *io.err);
        last_seq = relay.last_seq;
        match ran {
            Ok(SERVER_STOPPED) | Err(orc_log_server::Error::Disconnected(_)) => {}
            Ok(code) => return Ok(code),
            Err(e) => return Err(e.into()),
        }
        // Resume after what was shown; every later event is new, so all of
        // them (not the last n) are shown.
        if let Some(seq) = last_seq.or(head_at_start) {
            from_seq = Some(seq + 1);
        } else if from_seq.is_none() {
            from_seq = Some(1);
        }
        n = None;
        let shown =
            last_seq.map_or_else(|| "no event shown yet".to_owned(), |s| format!("shown through seq {s}"));
        let wait = crate::db::lock_timeout();
        writeln!(
            io.err,
            "orc-log: the server of {} stopped ({shown}); waiting up to {:.1} s for it to come back (--lock-timeout)",
            db_dir.display(),
            wait.as_secs_f64()
        )?;
        io.err.flush()?;
        client = match orc_log_server::Client::wait_for(db_dir, wait)? {
            Some(client) => client,
            None => bail!(
                "the server of {} stopped and did not come back within {:.1} s ({shown}); restart `orc-log serve` and follow again with --from-seq {}",
                db_dir.display(),
                wait.as_secs_f64(),
                last_seq.map_or(from_seq.unwrap_or(1), |s| s + 1)
            ),
        };
        writeln!(io.err, "orc-log: the server of {} is back; following on", db_dir.display())?;
    }
}

/// The log's head seq as the server sees it (`None` for an empty log), from
/// its last event.
///
/// # Errors
/// The server's connection, or a reply that is not an event line.
fn head_seq(client: &mut orc_log_server::Client, io: &mut Io) -> Result<Option<u64>> {
    let args = ["tail", "--format", "json", "-n", "1"].map(str::to_owned).into();
    let mut out = Vec::new();
    let code = client.exec(args, io.cwd.clone(), &mut out, &mut *io.err)?;
    if code != 0 {
        bail!("cannot read the log's head through its server (exit status {code})");
    }
    let Some(line) = out.split(|b| *b == b'\n').rfind(|l| !l.is_empty()) else { return Ok(None) };
    let event: serde_json::Value = serde_json::from_slice(line).context("the server's last event line")?;
    event["seq"].as_u64().map(Some).context("the server's last event line has no seq")
}
