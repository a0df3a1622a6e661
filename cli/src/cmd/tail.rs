//! `orc-log tail`: print events from the log.

use crate::{db, render};
use anyhow::Result;
use orc_log_engine::Filter;
use orc_log_schemas::{Kind, Record, Target, to_json_line};
use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

/// Print events, oldest first: the whole log from seq 1 unless --since,
/// --from-seq or -n narrow it.
///
/// `--format json` writes NDJSON format v1 with `seq`, so
/// `orc-log tail --format json | orc-log --db OTHER ingest` reproduces the events.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only events of this kind (repeatable), e.g. `capture`, `schedule_fired`.
    #[arg(long, value_parser = parse_kind, value_name = "KIND")]
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One readable line per event.
    Text,
    /// NDJSON format v1 with `seq`.
    Json,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {s:?}; kinds: {}", all.join(", "))
    })
}

/// Runs `orc-log tail`.
pub fn run(db_dir: &Path, args: Args) -> Result<ExitCode> {
    let log = db::open_existing(db_dir)?;
    let mut filter = Filter {
        from_seq: args.from_seq.unwrap_or(1),
        kinds: args.kind.clone(),
        scope: args.target.as_ref().map(ToString::to_string),
        since_ns: args.since,
        ..Filter::default()
    };
    let unfiltered = filter.kinds.is_empty() && filter.scope.is_none() && filter.since_ns.is_none();
    if let (Some(n), true) = (args.n, unfiltered) {
        // Every event matches: the last n are simply the last n seqs.
        filter.from_seq = filter.from_seq.max(log.head().seq.saturating_sub(n as u64) + 1);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let write = |out: &mut BufWriter<_>, r: &Record| -> std::io::Result<()> {
        match args.format {
            Format::Text => writeln!(out, "{}", render::text_line(r)),
            Format::Json => writeln!(out, "{}", to_json_line(r)),
        }
    };
    match args.n {
        Some(n) if !unfiltered => {
            let mut last: VecDeque<Record> = VecDeque::with_capacity(n.min(4096));
            for r in log.scan(filter)? {
                if n > 0 {
                    if last.len() == n {
                        last.pop_front();
                    }
                    last.push_back(r?);
                }
            }
            for r in &last {
                write(&mut out, r)?;
            }
        }
        _ => {
            for r in log.scan(filter)? {
                write(&mut out, &r?)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
