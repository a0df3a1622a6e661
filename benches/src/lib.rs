//! Shared setup for orc-log's benchmarks (`benches/log.rs`,
//! `benches/projections.rs`, `benches/server.rs`, `benches/backup.rs`).
//!
//! Everything here runs *outside* the timed loops: loading the tmux fixture,
//! generating message events, building large logs, and preparing the
//! key/value pairs of the raw-sled reference. The one exception is
//! [`backup_create`], the operation `benches/backup.rs` times. `BENCHMARKS.md` at the
//! workspace root records what the benchmarks measured.

use orc_log_engine::backup::{self, Segment, SegmentWriter};
use orc_log_engine::{Config, Log};
use orc_log_schemas::{Event, EventBody, Kind, Record, Target, parse_line, to_json_line};
use orc_log_server::wire;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Fixture repetitions for the large fixture log of the scan and projection
/// benchmarks: 1205 x 166 = 200,030 events.
pub const FIXTURE_REPS_200K: usize = 1205;

/// Fixture repetitions for the backup benchmark's log: 6025 x 166 =
/// 1,000,150 events (the smallest whole number of repetitions >= 1M).
pub const FIXTURE_REPS_1M: usize = 6025;

/// Chunks read per `Log::raw_chunks` call by [`backup_create`], as in
/// `orc-log backup create` (`PAGE_CHUNKS` in `cli/src/cmd/backup.rs`).
pub const BACKUP_PAGE_CHUNKS: usize = 64;

/// A fresh scratch directory under `base`, creating `base` first. The
/// benchmarks pass cargo's per-target tmp dir (`env!("CARGO_TARGET_TMPDIR")`,
/// on the same disk as the workspace, never tmpfs), so fsync costs are real.
///
/// # Panics
/// When the directory cannot be created.
pub fn scratch_in(base: &Path) -> TempDir {
    std::fs::create_dir_all(base).unwrap_or_else(|e| panic!("mkdir {}: {e}", base.display()));
    tempfile::tempdir_in(base).unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// The recorded tmux session `tests/fixtures/tmux-session-a.ndjson`: 166
/// format v1 lines, 146 of them pane captures of four panes.
pub const FIXTURE: &str = include_str!("../../tests/fixtures/tmux-session-a.ndjson");

/// The fixture parsed into events, in file order.
///
/// # Panics
/// If a line does not parse (the schemas crate's tests keep the fixture valid).
pub fn fixture_events() -> Vec<Event> {
    FIXTURE
        .lines()
        .enumerate()
        .map(|(i, line)| parse_line(line, 0).unwrap_or_else(|e| panic!("fixture line {}: {e}", i + 1)))
        .collect()
}

/// The fixture's capture events only, in file order (146 events).
pub fn fixture_captures() -> Vec<Event> {
    fixture_events().into_iter().filter(|e| e.kind() == Kind::Capture).collect()
}

/// The `content` of every capture in `events`, in order (other kinds are skipped).
pub fn capture_contents(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Capture { content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect()
}

/// Total bytes of capture `content` in `events`.
pub fn capture_content_bytes(events: &[Event]) -> u64 {
    capture_contents(events).iter().map(|c| c.len() as u64).sum()
}

/// `n` message events shaped like the fixture's messages (an agent typing a
/// shell command into a pane, 25-60 bytes of text), 1 ms apart, cycling over
/// four target panes. With `with_ids` each carries a unique producer id
/// (`bench-msg-<i>`), so the append also checks and writes the id index.
pub fn message_events(n: usize, with_ids: bool) -> Vec<Event> {
    const TEXTS: [&str; 4] = [
        "ls -la /usr/bin | head -n ",
        "grep -rn 'TODO' src/ | wc -l # pass ",
        "cargo test -p orc-log-engine -- --nocapture scan_",
        "curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:18777/job/",
    ];
    let panes: Vec<Target> = ["proj:0.0", "proj:1.0", "proj:2.0", "orch:0.0"]
        .iter()
        .map(|t| t.parse().unwrap_or_else(|e| panic!("target {t}: {e}")))
        .collect();
    let t0 = 1_795_000_000_000_000_000_i64; // 2026-11-18, the fixture's era
    (0..n)
        .map(|i| Event {
            ts_ns: t0 + i as i64 * 1_000_000,
            id: with_ids.then(|| format!("bench-msg-{i}")),
            body: EventBody::Message {
                from: panes[(i + 3) % 4].to_string(),
                to: panes[i % 4].clone(),
                text: format!("{}{i}", TEXTS[i % 4]),
            },
        })
        .collect()
}

/// Nanoseconds from the fixture's first event to one second past its last:
/// the timestamp shift between two repetitions in [`shifted_fixture`].
pub fn fixture_period_ns(events: &[Event]) -> i64 {
    let lo = events.iter().map(|e| e.ts_ns).min().unwrap_or(0);
    let hi = events.iter().map(|e| e.ts_ns).max().unwrap_or(0);
    hi - lo + 1_000_000_000
}

/// Repetition `rep` (0-based) of the fixture `events`: the same events with
/// every timestamp moved `rep` periods later, so repeating the fixture gives
/// a log whose time keeps increasing.
pub fn shifted_fixture(events: &[Event], rep: usize) -> Vec<Event> {
    let shift = fixture_period_ns(events) * rep as i64;
    events.iter().map(|e| Event { ts_ns: e.ts_ns + shift, ..e.clone() }).collect()
}

/// Opens a fresh log in `dir` and appends the fixture `reps` times (shifted
/// timestamps, see [`shifted_fixture`]), `reps_per_append` repetitions per
/// `Log::append` call. Returns the open log; its head seq is
/// `reps * 166`.
///
/// # Panics
/// On any engine error (benchmark setup).
pub fn build_fixture_log(dir: &Path, reps: usize, reps_per_append: usize) -> Log {
    let base = fixture_events();
    let mut log = open_log(dir);
    let mut rep = 0;
    while rep < reps {
        let end = (rep + reps_per_append.max(1)).min(reps);
        let batch: Vec<Event> = (rep..end).flat_map(|r| shifted_fixture(&base, r)).collect();
        log.append(&batch).unwrap_or_else(|e| panic!("append: {e}"));
        rep = end;
    }
    log
}

/// Opens a fresh log in `dir` holding `n` message events (see
/// [`message_events`], no ids), appended `per_append` per call.
///
/// # Panics
/// On any engine error (benchmark setup).
pub fn build_message_log(dir: &Path, n: usize, per_append: usize) -> Log {
    let events = message_events(n, false);
    let mut log = open_log(dir);
    for batch in events.chunks(per_append.max(1)) {
        log.append(batch).unwrap_or_else(|e| panic!("append: {e}"));
    }
    log
}

/// `Log::open(dir, Config::default())`, panicking on error.
pub fn open_log(dir: &Path) -> Log {
    Log::open(dir, Config::default()).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

/// Opens a sled database in `dir` with the engine's settings
/// (`Mode::HighThroughput`, one default tree): the raw-sled reference.
///
/// # Panics
/// When sled cannot open the directory.
pub fn open_sled(dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .open()
        .unwrap_or_else(|e| panic!("sled open {}: {e}", dir.display()))
}

/// Key/value pairs for the raw-sled reference: key = seq (from 1) as 8
/// big-endian bytes, value = the event's NDJSON line (uncompressed, so each
/// value is a bit larger than the engine's compressed body). One sled entry
/// per event, no hash chain, no indexes.
pub fn sled_pairs(events: &[Event]) -> Vec<([u8; 8], Vec<u8>)> {
    events
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            let seq = i as u64 + 1;
            let line = to_json_line(&Record { seq, event: ev.clone() });
            (seq.to_be_bytes(), line.into_bytes())
        })
        .collect()
}

/// The raw-sled reference append: one `apply_batch` of `pairs`, then
/// `flush()`; with `fdatasync` also `fdatasync(2)` of sled's `db` file, as
/// the engine does (sled 0.34's flush uses `sync_file_range(2)` only, which
/// does not flush the disk cache or metadata).
///
/// # Panics
/// On any sled or I/O error.
pub fn sled_append(db: &sled::Db, dir: &Path, pairs: Vec<([u8; 8], Vec<u8>)>, fdatasync: bool) {
    let mut batch = sled::Batch::default();
    for (k, v) in pairs {
        batch.insert(&k[..], v);
    }
    db.apply_batch(batch).unwrap_or_else(|e| panic!("sled apply_batch: {e}"));
    db.flush().unwrap_or_else(|e| panic!("sled flush: {e}"));
    if fdatasync {
        let path = dir.join("db");
        std::fs::File::open(&path)
            .and_then(|f| f.sync_data())
            .unwrap_or_else(|e| panic!("fdatasync {}: {e}", path.display()));
    }
}

/// Backs up everything in `log` after the backup's head into `dest`, as
/// `orc-log backup create` does without the server in between
/// (`cli/src/cmd/backup.rs`): open or start the backup, check that the log's
/// chain at the backup's head matches the manifest, copy the stored chunks
/// into one new segment ([`BACKUP_PAGE_CHUNKS`] per `raw_chunks` call), make
/// it durable and commit it to the manifest. Returns the new segment.
///
/// # Panics
/// On any engine error, when `dest` holds a backup of another log, or when
/// there is nothing new to back up.
pub fn backup_create(log: &Log, dest: &Path) -> Segment {
    let mut manifest = backup::open_backup(dest).unwrap_or_else(|e| panic!("open backup: {e}"));
    let until = log.head().seq;
    let chain = log
        .chain_at_chunk_end(manifest.head_seq)
        .unwrap_or_else(|e| panic!("chain_at_chunk_end: {e}"))
        .unwrap_or_else(|| panic!("seq {} does not end a chunk of this log", manifest.head_seq));
    let at_head = orc_log_engine::Head { seq: manifest.head_seq, chain_hash: chain, max_ts_ns: 0 };
    assert_eq!(at_head.chain_hex(), manifest.head_chain, "{} backs up another log", dest.display());
    let mut writer =
        SegmentWriter::create(dest, manifest.head_seq).unwrap_or_else(|e| panic!("segment create: {e}"));
    let mut after = manifest.head_seq;
    while after < until {
        let chunks =
            log.raw_chunks(after, until, BACKUP_PAGE_CHUNKS).unwrap_or_else(|e| panic!("raw_chunks: {e}"));
        let Some(last) = chunks.last() else { break };
        after = last.last_seq;
        for c in &chunks {
            writer.push(c).unwrap_or_else(|e| panic!("segment push: {e}"));
        }
    }
    let seg = writer.finish().unwrap_or_else(|e| panic!("segment finish: {e}"));
    backup::commit_segment(dest, &mut manifest, seg.clone()).unwrap_or_else(|e| panic!("commit: {e}"));
    seg
}

/// The criterion settings every bench here uses: 10 samples, 1 s warm-up and
/// `measurement_secs` of measurement (these are slow, I/O-bound operations on
/// a 2-core machine).
pub fn criterion_config(measurement_secs: u64) -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(measurement_secs))
}

/// The `orc-log` binary that external-process benches run: `$ORC_LOG_BIN`,
/// else `target/release/orc-log` under the workspace root (build it with
/// `cargo build --release -p orc-log`).
pub fn orc_log_binary() -> PathBuf {
    match std::env::var_os("ORC_LOG_BIN").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target/release/orc-log")
        }
    }
}

/// One `append` request frame of the server's wire protocol
/// (docs/PROTOCOL.md), encoded by the server crate's own codec.
pub fn request_frame(events: &[Event]) -> Vec<u8> {
    let request = wire::Request::Append { events: wire::events_to_wire(events) };
    wire::encode_frame(request).unwrap_or_else(|e| panic!("encode request: {e}"))
}

/// Reads one reply frame from the server with the server crate's codec
/// (the envelope and its version checked) as JSON.
pub fn read_reply(stream: &mut impl std::io::Read) -> serde_json::Value {
    wire::read_frame::<serde_json::Value>(stream)
        .unwrap_or_else(|e| panic!("read reply: {e}"))
        .unwrap_or_else(|| panic!("the server closed the connection"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_shape() {
        let ev = fixture_events();
        assert_eq!(ev.len(), 166);
        assert_eq!(fixture_captures().len(), 146);
        let a = shifted_fixture(&ev, 1);
        assert!(a.iter().map(|e| e.ts_ns).min() > ev.iter().map(|e| e.ts_ns).max());
    }

    #[test]
    fn small_logs_build() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = build_fixture_log(&dir.path().join("f"), 3, 2);
        assert_eq!(log.head().seq, 3 * 166);
        let log = build_message_log(&dir.path().join("m"), 2500, 1000);
        assert_eq!(log.head().seq, 2500);
    }

    #[test]
    fn backup_create_round_trips() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = build_fixture_log(&dir.path().join("db"), 40, 10);
        let n = log.head().seq;
        let dest = dir.path().join("backup");
        let seg = backup_create(&log, &dest);
        assert_eq!((seg.first_seq, seg.last_seq), (1, n));
        let report = backup::verify_backup(&dest).unwrap_or_else(|e| panic!("verify: {e}"));
        assert_eq!((report.events, report.bytes), (n, seg.bytes));
        let to = dir.path().join("restored");
        let r = backup::restore(&dest, &to, backup::RestorePoint::All, false, false)
            .unwrap_or_else(|e| panic!("restore: {e}"));
        assert_eq!((r.last_seq, r.chain_hex), (n, log.head().chain_hex()));
        let to = dir.path().join("half");
        let r = backup::restore(&dest, &to, backup::RestorePoint::UntilSeq(n / 2), false, false)
            .unwrap_or_else(|e| panic!("restore: {e}"));
        assert_eq!(r.last_seq, n / 2);
        assert_eq!(open_log(&to).head().seq, n / 2);
    }
}
