//! Criterion benchmarks of projection replay: `rebuild::<Metrics>` and
//! `rebuild::<State>` over a 200,030-event log (the tmux fixture repeated
//! 1,205 times), in events/s.
//!
//! Run with `cargo bench -p orc-log-benches --bench projections`; results are
//! in `BENCHMARKS.md`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use orc_log_benches::{FIXTURE_REPS_200K, build_fixture_log, scratch_in};
use orc_log_engine::SharedLog;
use orc_log_projections::metrics::Metrics;
use orc_log_projections::state::State;
use orc_log_projections::{Projection, rebuild};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// One full rebuild of `P` from seq 1 to the head; each call also stores the
/// projection's checkpoint durably (part of the timed work, as in
/// `orc-log state --rebuild`).
fn rebuild_all<P: Projection>(log: &SharedLog, n: u64) {
    let out = rebuild::<P>(log, None).unwrap_or_else(|e| panic!("rebuild {}: {e}", P::NAME));
    assert_eq!(out.applied, n);
    black_box(out.projection);
}

fn replay(c: &mut Criterion) {
    let dir = scratch_in(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let t = Instant::now();
    let log = SharedLog::from(build_fixture_log(&dir.path().join("fixture"), FIXTURE_REPS_200K, 10));
    let n = log.head().seq;
    println!(
        "projections setup: fixture x{FIXTURE_REPS_200K} = {n} events built in {:.1?}, {} bytes on disk",
        t.elapsed(),
        log.snapshot().disk_bytes().unwrap_or(0)
    );

    let mut g = c.benchmark_group("rebuild");
    g.throughput(Throughput::Elements(n));
    g.bench_function(BenchmarkId::new("metrics", "fixture_200k"), |b| {
        b.iter(|| rebuild_all::<Metrics>(&log, n));
    });
    g.bench_function(BenchmarkId::new("state", "fixture_200k"), |b| {
        b.iter(|| rebuild_all::<State>(&log, n));
    });
    g.finish();
    drop(log);
}

fn config() -> Criterion {
    orc_log_benches::criterion_config(4)
}

criterion_group! {
    name = benches;
    config = config();
    targets = replay
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
