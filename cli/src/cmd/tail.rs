//! `orc-log tail`: print events from the log, and follow new ones.

use crate::ctx::Io;
use crate::render;
use anyhow::{Result, bail};
use orc_log_engine::Filter;
use orc_log_engine::SharedLog;
use orc_log_schemas::{Kind, Record, Target, to_json_line};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

/// Print events, oldest first: the whole log from seq 1 unless --since,
/// --from-seq or -n narrow it.
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
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    since: Option<i64>,
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
        ..Filter::default()
    };
    let unfiltered = filter.kinds.is_empty() && filter.scope.is_none() && filter.since_ns.is_none();
    if let (Some(n), true) = (args.n, unfiltered) {
        // Every event matches: the last n are simply the last n seqs.
        filter.from_seq = filter.from_seq.max(head.saturating_sub(n as u64) + 1);
    }
    let format = args.format;
    let write = |out: &mut dyn Write, r: &Record| -> std::io::Result<()> {
        match format {
            Format::Text => writeln!(out, "{}", render::text_line(r)),
            Format::Json => writeln!(out, "{}", to_json_line(r)),
        }
    };
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
    // Follow: after the head seen at the start, each newly committed range
    // [from, head] is read page by page; the lock is free between pages.
    filter.from_seq = head + 1;
    loop {
        let head_now = db.head().seq;
        if head_now >= filter.from_seq {
            filter.until_seq = Some(head_now);
            db.snapshot().for_each_record(&filter, |r| {
                write(io.out, &r)?;
                anyhow::Ok(true)
            })?;
            filter.from_seq = head_now + 1;
        }
        // A flush to a client that went away fails, which ends the follow.
        io.out.flush()?;
        if db.wait_for_head(head_now, Duration::from_secs(1)).is_none() {
            return Ok(0);
        }
    }
}
