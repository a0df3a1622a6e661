//! `orc-log ingest`: append NDJSON format v1 events from a file or stdin.

use crate::lines::{Line, read_line};
use anyhow::{Context, Result, bail};
use orc_log_engine::AppendReceipt;
use orc_log_schemas::{Event, LineError, MAX_LINE_BYTES, now_ns, parse_line};
use orc_log_server::Appender;
use std::io::{BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Append events from NDJSON (format v1, one JSON object per line).
///
/// By default ingest stops at the first bad line with a non-zero exit: every
/// line before it is durably appended, nothing after it. Events whose `id` is
/// already in the log are skipped, so a retried ingest adds nothing twice.
/// Blank lines are ignored. See schemas/event-v1.schema.json for the format.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file, or `-` for standard input.
    #[arg(default_value = "-", value_name = "FILE|-")]
    input: PathBuf,
    /// Report each bad line on stderr and go on with the next.
    #[arg(long)]
    skip_invalid: bool,
    /// Events per commit (group commit); each commit is durable before the next starts.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000), value_name = "N")]
    batch_events: u64,
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total_bytes: Option<u64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = match total_bytes {
            Some(n) => indicatif::ProgressBar::new(n).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            None => indicatif::ProgressBar::new_spinner(),
        };
        Self { bar: Some(bar) }
    }
}

/// Counts across the whole input.
#[derive(Default)]
struct Totals {
    appended: u64,
    duplicates: u64,
    invalid: u64,
    first_seq: u64,
    last_seq: u64,
}

impl Totals {
    fn add(&mut self, r: AppendReceipt) {
        self.appended += r.appended;
        self.duplicates += r.duplicates;
        if self.first_seq == 0 {
            self.first_seq = r.first_seq;
        }
        if r.appended > 0 {
            self.last_seq = r.last_seq;
        }
    }

    fn summary(&self) -> String {
        let range = if self.appended > 0 {
            format!(" (seq {}..={})", self.first_seq, self.last_seq)
        } else {
            String::new()
        };
        let mut s = format!("appended {} events{range}", self.appended);
        if self.duplicates > 0 {
            s.push_str(&format!(", skipped {} already in the log (same id)", self.duplicates));
        }
        if self.invalid > 0 {
            s.push_str(&format!(", skipped {} invalid lines", self.invalid));
        }
        s
    }
}

/// Largest batch sent in one request, in bytes of input (below the protocol's frame limit).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Appends the batches it is sent, in order, on its own thread, so that
/// parsing the next batch overlaps compressing, hashing and syncing this one
/// (two cores: parse on one, append on the other). The channel holds one
/// batch, so at most three batches are in memory.
struct Pipeline {
    tx: Option<std::sync::mpsc::SyncSender<Vec<Event>>>,
    worker: Option<std::thread::JoinHandle<(Totals, Result<()>)>>,
    /// Appended so far (for the progress bar).
    appended: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Pipeline {
    fn start(mut appender: Appender) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(1);
        let appended = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&appended);
        let worker = std::thread::spawn(move || {
            let mut totals = Totals::default();
            for events in rx {
                match appender.append(events) {
                    Ok(receipt) => {
                        totals.add(receipt);
                        counter.store(totals.appended, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        let e = anyhow::Error::from(e).context(
                            "append failed; events after the last acknowledged commit were not stored",
                        );
                        return (totals, Err(e));
                    }
                }
            }
            (totals, Ok(()))
        });
        Self { tx: Some(tx), worker: Some(worker), appended }
    }

    /// Queues `batch` (emptied). Err when the appender has stopped on an
    /// error, which [`Pipeline::finish`] returns.
    fn send(&mut self, batch: &mut Vec<Event>) -> std::result::Result<(), ()> {
        if batch.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(batch);
        match &self.tx {
            Some(tx) => tx.send(events).map_err(|_| ()),
            None => Err(()),
        }
    }

    /// Waits for every queued batch; the totals, or the appender's error
    /// with the totals of what it did acknowledge.
    fn finish(&mut self) -> (Totals, Result<()>) {
        self.tx = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => (Totals::default(), Err(anyhow::anyhow!("the append thread panicked"))),
            None => (Totals::default(), Ok(())),
        }
    }
}

/// Runs `orc-log ingest`.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    let (reader, total): (Box<dyn Read>, Option<u64>) = if args.input.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let progress = Progress::new(total);
    let reader: Box<dyn Read> = match &progress.bar {
        Some(bar) => Box::new(bar.wrap_read(reader)),
        None => reader,
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut pipeline = Pipeline::start(crate::db::appender(db_dir)?);
    let mut batch_bytes = 0usize;
    let name =
        if args.input.as_os_str() == "-" { "stdin".to_owned() } else { args.input.display().to_string() };
    let mut invalid = 0u64;
    let mut batch: Vec<Event> = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        let status = read_line(&mut reader, &mut buf, MAX_LINE_BYTES)
            .with_context(|| format!("cannot read {name}"))?;
        line_no += 1;
        let parsed = match status {
            Line::Eof => break,
            Line::TooLong(len) => Err(LineError::too_long(len)),
            Line::Ok if buf.iter().all(u8::is_ascii_whitespace) => continue,
            Line::Ok => match std::str::from_utf8(&buf) {
                Ok(text) => parse_line(text, now_ns()),
                Err(e) => Err(LineError {
                    kind: orc_log_schemas::LineErrorKind::InvalidJson,
                    field: None,
                    detail: format!("not UTF-8 ({e})"),
                }),
            },
        };
        match parsed {
            Ok(ev) => {
                batch.push(ev);
                batch_bytes += buf.len();
                if batch.len() as u64 >= args.batch_events || batch_bytes >= MAX_BATCH_BYTES {
                    batch_bytes = 0;
                    if pipeline.send(&mut batch).is_err() {
                        break; // the appender stopped: finish() below has its error
                    }
                    if let Some(bar) = &progress.bar {
                        let n = pipeline.appended.load(std::sync::atomic::Ordering::Relaxed);
                        bar.set_message(format!("{n} events"));
                    }
                }
            }
            Err(e) if args.skip_invalid => {
                invalid += 1;
                if let Some(bar) = &progress.bar {
                    bar.suspend(|| eprintln!("orc-log: {name}: line {line_no}: {e} (skipped)"));
                } else {
                    eprintln!("orc-log: {name}: line {line_no}: {e} (skipped)");
                }
            }
            Err(e) => {
                let _ = pipeline.send(&mut batch);
                let (mut totals, appended) = pipeline.finish();
                totals.invalid = invalid;
                if let Some(bar) = &progress.bar {
                    bar.finish_and_clear();
                }
                appended?;
                eprintln!("orc-log: {}; nothing from line {line_no} on was appended", totals.summary());
                bail!("{name}: line {line_no}: {e}");
            }
        }
    }
    let _ = pipeline.send(&mut batch);
    let (mut totals, appended) = pipeline.finish();
    totals.invalid = invalid;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    if let Err(e) = appended {
        eprintln!("orc-log: {}", totals.summary());
        return Err(e);
    }
    eprintln!("orc-log: {}", totals.summary());
    Ok(0)
}
