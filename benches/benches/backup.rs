//! Criterion benchmarks of backups on a 1,000,150-event log (the tmux
//! fixture repeated 6,025 times with shifted timestamps): `backup create`
//! into a fresh directory, `backup::verify_backup`, and `backup::restore`
//! into a fresh directory, of everything and up to seq 500,000.
//!
//! Run with `cargo bench -p orc-log-benches --bench backup`; results are in
//! `BENCHMARKS.md` ("Backup and restore"). Each operation takes seconds, so
//! the group uses flat sampling (10 samples of one iteration each when an
//! iteration is longer than half a second) and `iter_custom`, which times only
//! the operation: the fresh scratch directory is made before the clock starts
//! and removed after it stops. Under `cargo test --benches` (no `--bench`
//! argument) the bench is skipped: building the log alone takes a while.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use orc_log_benches::{FIXTURE_REPS_1M, backup_create, build_fixture_log, scratch_in};
use orc_log_engine::backup::{self, RestorePoint};
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Fixture repetitions per `Log::append` while building the log (16,600 events).
const REPS_PER_APPEND: usize = 100;
/// The partial restore's point, `RestorePoint::UntilSeq`.
const UNTIL_SEQ: u64 = 500_000;

/// A fresh scratch directory under cargo's per-target tmp dir (same disk as
/// the workspace, never tmpfs), so fsync costs are real.
fn scratch() -> TempDir {
    scratch_in(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// Runs `op` `iters` times, each with a fresh scratch directory, and returns
/// the time spent in `op` alone (making and removing the directory is untimed).
fn timed_in_fresh_dirs(iters: u64, mut op: impl FnMut(&Path)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let dir = scratch();
        let t = Instant::now();
        op(dir.path());
        total += t.elapsed();
        drop(dir);
    }
    total
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn backup_restore(c: &mut Criterion) {
    let dir = scratch();
    let t = Instant::now();
    let log = build_fixture_log(&dir.path().join("db"), FIXTURE_REPS_1M, REPS_PER_APPEND);
    let n = log.head().seq;
    let chain = log.head().chain_hex();
    let disk = log.disk_bytes().unwrap_or_else(|e| panic!("disk_bytes: {e}"));
    println!(
        "backup setup: fixture x{FIXTURE_REPS_1M} = {n} events ({REPS_PER_APPEND} reps per append) built in {:.1?}, \
         log on disk {disk} bytes ({:.1} MB)",
        t.elapsed(),
        mb(disk)
    );

    // The backup that verify and restore read, taken once before timing.
    let dest = dir.path().join("backup");
    let t = Instant::now();
    let seg = backup_create(&log, &dest);
    assert_eq!((seg.first_seq, seg.last_seq), (1, n));
    println!(
        "backup setup: segment {} {} bytes ({:.1} MB, {:.1} bytes/event, {:.0}% of the log's disk size), first backup {:.1?}",
        seg.file,
        seg.bytes,
        mb(seg.bytes),
        seg.bytes as f64 / n as f64,
        100.0 * seg.bytes as f64 / disk as f64,
        t.elapsed()
    );
    let report = backup::verify_backup(&dest).unwrap_or_else(|e| panic!("verify: {e}"));
    assert_eq!((report.events, report.bytes, report.chain_hex.as_str()), (n, seg.bytes, chain.as_str()));

    let mut g = c.benchmark_group("backup");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::ElementsAndBytes { elements: n, bytes: seg.bytes });
    g.bench_function(BenchmarkId::new("create", "fixture_1m"), |b| {
        b.iter_custom(|iters| {
            timed_in_fresh_dirs(iters, |scratch| {
                let s = backup_create(&log, &scratch.join("backup"));
                assert_eq!((s.last_seq, s.bytes), (n, seg.bytes));
            })
        });
    });
    g.bench_function(BenchmarkId::new("verify", "fixture_1m"), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let r = backup::verify_backup(&dest).unwrap_or_else(|e| panic!("verify: {e}"));
                assert_eq!(r.events, n);
            }
            t.elapsed()
        });
    });
    g.bench_function(BenchmarkId::new("restore_all", "fixture_1m"), |b| {
        b.iter_custom(|iters| {
            timed_in_fresh_dirs(iters, |scratch| {
                let r = backup::restore(&dest, &scratch.join("restored"), RestorePoint::All, false, false)
                    .unwrap_or_else(|e| panic!("restore: {e}"));
                assert_eq!((r.last_seq, r.chain_hex.as_str()), (n, chain.as_str()));
            })
        });
    });
    // Elements: the events restored. Bytes: the whole segment, which restore
    // reads and verifies in full before it writes the prefix. (All benchmarks
    // of a group need the same throughput kind: criterion's summary plot
    // panics on a mix.)
    g.throughput(Throughput::ElementsAndBytes { elements: UNTIL_SEQ, bytes: seg.bytes });
    g.bench_function(BenchmarkId::new("restore_until_seq_500k", "fixture_1m"), |b| {
        b.iter_custom(|iters| {
            timed_in_fresh_dirs(iters, |scratch| {
                let to = scratch.join("restored");
                let r = backup::restore(&dest, &to, RestorePoint::UntilSeq(UNTIL_SEQ), false, false)
                    .unwrap_or_else(|e| panic!("restore: {e}"));
                assert_eq!(r.last_seq, UNTIL_SEQ);
            })
        });
    });
    g.finish();
    drop(log);
}

fn config() -> Criterion {
    orc_log_benches::criterion_config(5)
}

criterion_group! {
    name = benches;
    config = config();
    targets = backup_restore
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // building a 1M-event log in a test profile has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("backup bench: skipped (run it with `cargo bench -p orc-log-benches --bench backup`)");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
