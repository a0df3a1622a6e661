//! Criterion benchmarks of the orc-log engine: durable group-commit appends
//! (with a raw-sled reference), capture appends, full scans, and a printed
//! storage report (bytes per capture vs whole-stream zstd -19).
//!
//! Run with `cargo bench -p orc-log-benches`; results are in `BENCHMARKS.md`.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group};
use orc_log_benches::{
    FIXTURE_REPS_200K, build_fixture_log, build_message_log, capture_content_bytes, capture_contents,
    fixture_captures, fixture_events, message_events, open_log, open_sled, scratch_in, sled_append,
    sled_pairs,
};
use orc_log_engine::{Filter, Log};
use orc_log_schemas::Kind;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use tempfile::TempDir;

/// Scratch directories go under cargo's per-target tmp dir (on the same disk
/// as the workspace, never tmpfs), so fsync costs are real.
fn scratch() -> TempDir {
    scratch_in(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// A fresh empty log in a fresh directory (untimed setup for appends).
fn fresh_log() -> (Log, TempDir) {
    let dir = scratch();
    let log = open_log(&dir.path().join("db"));
    (log, dir)
}

/// Fixture repetitions for the scan log: 1205 x 166 = 200,030 events.
const SCAN_REPS: usize = FIXTURE_REPS_200K;
/// Message events in the messages-only scan log.
const SCAN_MESSAGES: usize = 200_000;

fn append_messages(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_messages");
    for &n in &[1_000usize, 10_000] {
        g.throughput(Throughput::Elements(n as u64));
        let plain = message_events(n, false);
        let with_ids = message_events(n, true);
        for (name, events) in [("log_append", &plain), ("log_append_with_ids", &with_ids)] {
            g.bench_with_input(BenchmarkId::new(name, n), events, |b, evs| {
                b.iter_batched(
                    fresh_log,
                    |(mut log, dir)| {
                        let r = log.append(evs).unwrap_or_else(|e| panic!("append: {e}"));
                        assert_eq!(r.appended, evs.len() as u64);
                        (log, dir)
                    },
                    BatchSize::PerIteration,
                );
            });
        }
        let pairs = sled_pairs(&plain);
        for (name, sync) in [("sled_batch_flush", false), ("sled_batch_flush_fdatasync", true)] {
            g.bench_with_input(BenchmarkId::new(name, n), &pairs, |b, pairs| {
                b.iter_batched(
                    || {
                        let dir = scratch();
                        let db = open_sled(&dir.path().join("db"));
                        (db, dir, pairs.clone())
                    },
                    |(db, dir, pairs)| {
                        sled_append(&db, &dir.path().join("db"), pairs, sync);
                        (db, dir)
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    g.finish();
}

fn append_captures(c: &mut Criterion) {
    let caps = fixture_captures();
    let bytes = capture_content_bytes(&caps);
    let mut g = c.benchmark_group("append_captures");
    g.throughput(Throughput::ElementsAndBytes { elements: caps.len() as u64, bytes });
    g.bench_function("fixture_146_one_append", |b| {
        b.iter_batched(
            fresh_log,
            |(mut log, dir)| {
                let r = log.append(&caps).unwrap_or_else(|e| panic!("append: {e}"));
                assert_eq!(r.appended, caps.len() as u64);
                (log, dir)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("fixture_146_append_each", |b| {
        b.iter_batched(
            fresh_log,
            |(mut log, dir)| {
                for ev in &caps {
                    log.append(std::slice::from_ref(ev)).unwrap_or_else(|e| panic!("append: {e}"));
                }
                (log, dir)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn count_scan(log: &Log, filter: Filter) -> u64 {
    let mut n = 0;
    for r in log.scan(filter).unwrap_or_else(|e| panic!("scan: {e}")) {
        black_box(r.unwrap_or_else(|e| panic!("scan item: {e}")));
        n += 1;
    }
    n
}

fn count_scan_meta(log: &Log, filter: Filter) -> u64 {
    let mut n = 0;
    for r in log.scan_meta(filter).unwrap_or_else(|e| panic!("scan_meta: {e}")) {
        black_box(r.unwrap_or_else(|e| panic!("scan_meta item: {e}")));
        n += 1;
    }
    n
}

fn scan(c: &mut Criterion) {
    let dir = scratch();
    let t = Instant::now();
    let fixture_log = build_fixture_log(&dir.path().join("fixture"), SCAN_REPS, 10);
    println!(
        "scan setup: fixture x{SCAN_REPS} = {} events ({} captures each rep) built in {:.1?}, {} bytes on disk",
        fixture_log.head().seq,
        fixture_captures().len(),
        t.elapsed(),
        fixture_log.disk_bytes().unwrap_or(0)
    );
    let t = Instant::now();
    let msg_log = build_message_log(&dir.path().join("messages"), SCAN_MESSAGES, 10_000);
    println!(
        "scan setup: {} message events built in {:.1?}, {} bytes on disk",
        msg_log.head().seq,
        t.elapsed(),
        msg_log.disk_bytes().unwrap_or(0)
    );

    let mut g = c.benchmark_group("scan");
    for (name, log) in [("fixture_200k", &fixture_log), ("messages_200k", &msg_log)] {
        let n = log.head().seq;
        g.throughput(Throughput::Elements(n));
        g.bench_function(BenchmarkId::new("scan_full", name), |b| {
            b.iter(|| assert_eq!(count_scan(log, Filter::default()), n));
        });
        g.bench_function(BenchmarkId::new("scan_meta", name), |b| {
            b.iter(|| assert_eq!(count_scan_meta(log, Filter::default()), n));
        });
    }
    g.finish();
    drop(fixture_log);
    drop(msg_log);
}

/// Not a timing: the fixture appended the way a recorder commits it (one
/// event per commit) into a fresh log with default settings, then sealed
/// (`Log::seal`); the bytes its captures take (sum of `stored_bytes`: their
/// share of chunk headers, blocks and bodies) before and after sealing,
/// against one whole-stream `zstd::bulk::compress` at level 19 of all
/// capture contents concatenated. The target applies to the sealed log.
fn storage_report() {
    let events = fixture_events();
    let contents = capture_contents(&events);
    let raw: u64 = contents.iter().map(|c| c.len() as u64).sum();
    let whole: Vec<u8> = contents.concat().into_bytes();
    let zstd19 = zstd::bulk::compress(&whole, 19).unwrap_or_else(|e| panic!("zstd: {e}")).len() as u64;

    let (mut log, _dir) = fresh_log();
    for e in &events {
        log.append(std::slice::from_ref(e)).unwrap_or_else(|e| panic!("append: {e}"));
    }
    let captures = |log: &Log| {
        let filter = Filter { kinds: vec![Kind::Capture], ..Filter::default() };
        let (mut n, mut stored) = (0u64, 0u64);
        for m in log.scan_meta(filter).unwrap_or_else(|e| panic!("scan_meta: {e}")) {
            let m = m.unwrap_or_else(|e| panic!("scan_meta item: {e}"));
            n += 1;
            stored += m.stored_bytes;
        }
        (n, stored)
    };
    let (n, live) = captures(&log);
    let live_disk = log.segment_bytes().unwrap_or(0);
    let report = log.seal(true).unwrap_or_else(|e| panic!("seal: {e}"));
    let (_, sealed) = captures(&log);
    let ratio = sealed as f64 / zstd19 as f64;
    println!(
        "storage: fixture tests/fixtures/tmux-session-a.ndjson, {} events (one per commit), {n} captures",
        events.len()
    );
    println!("storage: capture content, raw                      {raw:>9} bytes");
    println!(
        "storage: captures as committed (one chunk each)    {live:>9} bytes ({:.2}x zstd -19); segments {live_disk} bytes",
        live as f64 / zstd19 as f64
    );
    println!(
        "storage: captures after sealing                    {sealed:>9} bytes ({:.1} bytes/capture); {} chunks into {}",
        sealed as f64 / n as f64,
        report.chunks_before,
        report.chunks_after
    );
    println!(
        "storage: whole-stream zstd -19 of contents         {zstd19:>9} bytes ({:.1} bytes/capture, {:.2}% of raw)",
        zstd19 as f64 / n as f64,
        100.0 * zstd19 as f64 / raw as f64
    );
    println!(
        "storage: ratio sealed / zstd-19 = {ratio:.3} (target <= 1.5: {})",
        if ratio <= 1.5 { "MET" } else { "NOT MET" }
    );
    println!(
        "storage: whole log on disk (segments + sled index + LOCK) {} bytes",
        log.disk_bytes().unwrap_or(0)
    );
}

fn config() -> Criterion {
    orc_log_benches::criterion_config(4)
}

criterion_group! {
    name = benches;
    config = config();
    targets = append_messages, append_captures, scan
}

fn main() {
    storage_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
