//! Damaged databases: flipped bytes, truncated files, zeroed 4 KiB pages and
//! deleted files, in the segment files (`DIR/segments/*.seg`, storage v2:
//! the source of truth) and in the sled store (`DIR/store/`: in v2 only
//! rebuildable indexes), a rolled-back store, a missing or wrong HEAD.
//!
//! The binary must never crash (panic, internal error, signal, hang): it
//! either reports the damage with a message, or — when the damage hit
//! unused bytes, or hit only the rebuildable store — gives back exactly the
//! original events. With the v2 layout, damage to the sled store must never
//! cost an event: `tail` gives back everything whatever `verify` says, and
//! a deleted or wrecked store is rebuilt from the segments.
//!
//! The segment tests need the v2 layout: on a v1 database they fail with
//! "no segment files under DIR/segments".

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A database holding the fixture, and the fixture as `tail` gives it back.
struct Original {
    _tmp: tempfile::TempDir,
    db: PathBuf,
    events: Vec<Value>,
}

fn original() -> Original {
    let (tmp, db) = temp_db();
    ingest_fixture(&db);
    let events = tail_json(&db);
    assert_eq!(events.len(), 166);
    assert_verify_ok(&db, FIXTURE_EVENTS);
    Original { _tmp: tmp, db, events }
}

/// Whether `db` has the storage v2 layout (a `segments` directory).
fn is_v2(db: &Path) -> bool {
    db.join("segments").is_dir()
}

/// Every file under `dir`, relative to `base`, sorted (recursively).
fn files_under(base: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries {
        let entry = entry.expect("directory entry");
        let ty = entry.file_type().expect("file type");
        if ty.is_dir() {
            files.extend(files_under(base, &entry.path()));
        } else if ty.is_file() {
            files.push(entry.path().strip_prefix(base).unwrap().to_owned());
        }
    }
    files.sort();
    files
}

/// The segment files `DIR/segments/*.seg`, relative to DIR; fails with a
/// clear message when there are none (a v1 database has no segments).
#[track_caller]
fn segment_files(db: &Path) -> Vec<PathBuf> {
    let segs: Vec<PathBuf> = files_under(db, &db.join("segments"))
        .into_iter()
        .filter(|p| p.parent() == Some(Path::new("segments")) && p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert!(
        !segs.is_empty(),
        "no segment files under {}/segments (the storage v2 layout); the database holds {:?}",
        db.display(),
        files_under(db, db)
    );
    segs
}

/// Every file of the sled store under `DIR/store/` (db, conf, snap.*,
/// blobs/...), relative to DIR.
#[track_caller]
fn store_files(db: &Path) -> Vec<PathBuf> {
    let files = files_under(db, &db.join("store"));
    assert!(files.iter().any(|f| f == Path::new("store/db")), "no store/db: {files:?}");
    files
}

/// One way to damage one file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// XOR 0xFF into the byte at this offset.
    Flip(u64),
    /// Cut the file to this length.
    Truncate(u64),
    /// Write zeros over 4 KiB page N (or what the file has of it).
    ZeroPage(u64),
    /// Every byte inverted.
    Invert,
    /// Remove the file.
    Delete,
}

/// The unit of [`Damage::ZeroPage`].
const PAGE: u64 = 4096;

/// Damages file `rel` (relative to `db`) as `damage` says.
fn apply(db: &Path, rel: &Path, damage: Damage) {
    let path = db.join(rel);
    match damage {
        Damage::Flip(at) => {
            let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
            bytes[at as usize] ^= 0xFF;
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
        }
        Damage::Truncate(to) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
            f.set_len(to).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
        }
        Damage::ZeroPage(n) => {
            let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
            let from = ((n * PAGE) as usize).min(bytes.len());
            let to = (((n + 1) * PAGE) as usize).min(bytes.len());
            bytes[from..to].fill(0);
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
        }
        Damage::Invert => {
            let bytes: Vec<u8> = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("damage {}: {e}", path.display()))
                .iter()
                .map(|b| b ^ 0xFF)
                .collect();
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()));
        }
        Damage::Delete => {
            std::fs::remove_file(&path).unwrap_or_else(|e| panic!("damage {}: {e}", path.display()))
        }
    }
}

fn file_len(db: &Path, rel: &Path) -> u64 {
    std::fs::metadata(db.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display())).len()
}

/// Words one of which an error about a damaged database must contain.
const DAMAGE_WORDS: &[&str] = &[
    "corrupt",
    "store",
    "rolled back",
    "head record",
    "malformed",
    "damaged",
    "segment",
    "checksum",
    "truncated",
    "torn",
    "missing",
];

/// Whether stderr has an `orc-log: ...` line (the store may log lines of its own first).
fn has_message(out: &std::process::Output) -> bool {
    stderr(out).lines().any(|l| l.starts_with("orc-log: "))
}

/// What a damaged copy must do besides never crashing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// `verify` fails with a damage message, or passes and `tail` gives
    /// back exactly the original events.
    ReportedOrIntact,
    /// As [`Expect::ReportedOrIntact`], and in any case `tail` gives back
    /// exactly the original events: damage to a rebuildable store (v2)
    /// must never cost data.
    AlwaysIntact,
}

/// For damage to the sled store: [`Expect::AlwaysIntact`] when the
/// segments hold the data (v2), else [`Expect::ReportedOrIntact`] (v1,
/// where the store holds the events).
fn store_expectation(db: &Path) -> Expect {
    if is_v2(db) { Expect::AlwaysIntact } else { Expect::ReportedOrIntact }
}

/// Checks one damaged copy: `verify` and `tail` must not crash; `verify`
/// either fails with a message naming the damage, or passes and `tail`
/// returns exactly the original events (with [`Expect::AlwaysIntact`],
/// `tail` must return them in either case). Ok(true) when the damage was
/// reported, Ok(false) when harmless; Err describes a violation.
fn check_damaged(db: &Path, original: &[Value], expect: Expect) -> Result<bool, String> {
    let verify = run(db, &["verify"]);
    if let Some(why) = crash_reason(&verify) {
        return Err(format!("verify crashed: {why}\n{}", describe(&verify)));
    }
    let tail = run(db, &["tail", "--format", "json"]);
    if let Some(why) = crash_reason(&tail) {
        return Err(format!("tail crashed: {why}\n{}", describe(&tail)));
    }
    if !tail.status.success() && !has_message(&tail) {
        return Err(format!("tail failed without an orc-log message\n{}", describe(&tail)));
    }
    let intact = || -> Result<(), String> {
        if !tail.status.success() {
            return Err(format!("tail failed\n{}", describe(&tail)));
        }
        let events = parse_ndjson(&stdout(&tail));
        if events != original {
            let first = events.iter().zip(original).position(|(a, b)| a != b);
            return Err(format!(
                "tail gives back {} events that differ from the original {} (first difference at #{first:?})",
                events.len(),
                original.len()
            ));
        }
        Ok(())
    };
    if verify.status.success() {
        intact().map_err(|e| format!("verify passed but {e}"))?;
        return Ok(false);
    }
    let err = stderr(&verify);
    let lower = err.to_lowercase();
    if verify.status.code() != Some(1)
        || !has_message(&verify)
        || !DAMAGE_WORDS.iter().any(|w| lower.contains(w))
    {
        return Err(format!(
            "verify failed without a damage message (exit 1, {DAMAGE_WORDS:?})\n{}",
            describe(&verify)
        ));
    }
    if expect == Expect::AlwaysIntact {
        intact().map_err(|e| {
            format!(
                "damage to the rebuildable store cost data: verify reported it, but {e}\n{}",
                describe(&verify)
            )
        })?;
    }
    Ok(true)
}

/// Runs `damage` on a fresh copy of `orig` for every case, spread over a few
/// threads, and fails with every violation found. Returns how many copies
/// had their damage reported (the rest were harmless).
fn check_cases<C: Sync + std::fmt::Debug>(
    orig: &Original,
    cases: &[C],
    expect: Expect,
    damage: impl Fn(&Path, &C) + Sync,
) -> usize {
    let failures = Mutex::new(Vec::new());
    let reported = Mutex::new(0usize);
    let next = Mutex::new(0usize);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(case) = cases.get(i) else { break };
                    let tmp = tempfile::tempdir().unwrap();
                    let db = tmp.path().join("db");
                    copy_dir(&orig.db, &db);
                    damage(&db, case);
                    match check_damaged(&db, &orig.events, expect) {
                        Ok(true) => *reported.lock().unwrap() += 1,
                        Ok(false) => {}
                        Err(e) => failures.lock().unwrap().push(format!("case {case:?}: {e}")),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let reported = reported.into_inner().unwrap();
    eprintln!("{} damaged copies: {reported} reported, {} harmless", cases.len(), cases.len() - reported);
    assert!(
        failures.is_empty(),
        "{} of {} damaged copies were mishandled; first ones:\n\n{}",
        failures.len(),
        cases.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n")
    );
    reported
}

/// [`check_cases`] for `(file, damage)` cases.
fn check_file_damage(orig: &Original, cases: &[(PathBuf, Damage)], expect: Expect) -> usize {
    check_cases(orig, cases, expect, |db, (rel, damage)| apply(db, rel, *damage))
}

/// Length of `store/db` and how much of it is in use: the store grows the
/// file to a whole segment of zeros, and the data sits before the last
/// non-zero byte.
fn store_db_extent(db: &Path) -> (u64, u64) {
    let bytes = std::fs::read(db.join("store/db")).expect("store/db is readable");
    let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i as u64 + 1);
    (bytes.len() as u64, used)
}

/// About `n` points in `from..to`, an odd step apart (not block-aligned).
fn spread(from: u64, to: u64, n: u64) -> impl Iterator<Item = u64> {
    let step = ((to.saturating_sub(from)) / n).max(1) | 1;
    (from..to).step_by(step as usize)
}

/// About `n` of the 4 KiB pages of a file of `len` bytes (all when fewer),
/// always the first and the last.
fn pages(len: u64, n: u64) -> Vec<u64> {
    let count = len.div_ceil(PAGE);
    let mut p: Vec<u64> = (0..count).step_by((count / n).max(1) as usize).collect();
    if count > 0 {
        p.push(count - 1);
    }
    p.dedup();
    p
}

// ---- segment files (storage v2) ----

/// Every segment record is checksummed: a flipped byte anywhere in a
/// segment file is reported by `verify` or (in unused bytes) harmless;
/// never a crash, never wrong events read back. Some flips must be caught.
#[test]
fn flipped_byte_in_segments_is_reported_or_harmless() {
    let orig = original();
    let segs = segment_files(&orig.db);
    let per = (400 / segs.len() as u64).max(30);
    let cases: Vec<(PathBuf, Damage)> = segs
        .iter()
        .flat_map(|rel| spread(0, file_len(&orig.db, rel), per).map(|at| (rel.clone(), Damage::Flip(at))))
        .collect();
    let reported = check_file_damage(&orig, &cases, Expect::ReportedOrIntact);
    assert!(
        reported > 0,
        "none of {} flips in the segments was reported; did any hit a record?",
        cases.len()
    );
}

/// A segment cut short (to 0, inside a record, at the end of a record) is
/// reported or harmless. A cut that silently drops acknowledged events
/// (treating it as a torn tail while the store knows of more) is a
/// violation: `verify` passed but events are missing.
#[test]
fn truncated_segments_are_reported_or_harmless() {
    let orig = original();
    let mut cases = Vec::new();
    for rel in segment_files(&orig.db) {
        let len = file_len(&orig.db, &rel);
        let mut lengths: Vec<u64> = vec![0, 1, 7, 64, 511, 4096, len / 2, len.saturating_sub(1)];
        lengths.extend(spread(1, len, 40));
        lengths.retain(|&l| l < len);
        lengths.sort_unstable();
        lengths.dedup();
        cases.extend(lengths.into_iter().map(|l| (rel.clone(), Damage::Truncate(l))));
    }
    let reported = check_file_damage(&orig, &cases, Expect::ReportedOrIntact);
    assert!(reported > 0, "none of {} segment truncations was reported", cases.len());
}

/// A 4 KiB page of zeros (a lost write-back) in a segment file is reported
/// or harmless.
#[test]
fn zeroed_pages_in_segments_are_reported_or_harmless() {
    let orig = original();
    let cases: Vec<(PathBuf, Damage)> = segment_files(&orig.db)
        .into_iter()
        .flat_map(|rel| {
            pages(file_len(&orig.db, &rel), 60).into_iter().map(move |p| (rel.clone(), Damage::ZeroPage(p)))
        })
        .collect();
    let reported = check_file_damage(&orig, &cases, Expect::ReportedOrIntact);
    assert!(reported > 0, "none of {} zeroed segment pages was reported", cases.len());
}

/// A deleted segment file, or every byte of it inverted, is reported (its
/// events are gone from the source of truth), and so is a database whose
/// whole `segments` directory is gone.
#[test]
fn deleted_or_inverted_segment_files_are_reported() {
    let orig = original();
    let segs = segment_files(&orig.db);
    let cases: Vec<(PathBuf, Damage)> =
        segs.iter().flat_map(|rel| [Damage::Delete, Damage::Invert].map(|d| (rel.clone(), d))).collect();
    let reported = check_file_damage(&orig, &cases, Expect::ReportedOrIntact);
    assert_eq!(reported, cases.len(), "every deleted or inverted segment file must be reported");
    let reported = check_cases(&orig, &["segments"], Expect::ReportedOrIntact, |db, dir| {
        std::fs::remove_dir_all(db.join(dir)).unwrap();
    });
    assert_eq!(reported, 1, "a database without its segments directory must be reported");
}

// ---- the sled store ----

/// A flipped byte in `store/db`: reported or harmless (v1, where the store
/// holds the events: some flips must be caught); with v2, every event
/// still reads back whatever the flip hit.
#[test]
fn flipped_byte_in_store_is_reported_or_harmless() {
    let orig = original();
    let (len, used) = store_db_extent(&orig.db);
    assert!(used > 100, "store/db has {used} bytes in use of {len}");
    // ~300 offsets across the bytes in use (where damage matters), plus
    // every 4999th byte of the rest of the file (zeros not written yet).
    let mut offsets: Vec<u64> = spread(0, used, 300).collect();
    offsets.extend((used..len).step_by(4999));
    let cases: Vec<(PathBuf, Damage)> =
        offsets.iter().map(|&o| ("store/db".into(), Damage::Flip(o))).collect();
    let reported = check_file_damage(&orig, &cases, store_expectation(&orig.db));
    if !is_v2(&orig.db) {
        // v1: the events are in store/db: some flips must land in them and be caught.
        assert!(reported > 0, "none of {} flips was reported; did any hit the data?", offsets.len());
    }
}

/// `store/db` cut short: reported or harmless (v1: some cuts must be
/// caught); with v2, every event still reads back.
#[test]
fn truncated_store_is_reported_or_harmless() {
    let orig = original();
    let (len, used) = store_db_extent(&orig.db);
    // ~40 lengths inside the data, and a few past it.
    let mut lengths: Vec<u64> = vec![0, 1, 7, 64, 511, 4096, used - 1, used, len / 2, len - 1];
    lengths.extend(spread(1, used, 40));
    lengths.retain(|&l| l < len);
    lengths.sort_unstable();
    lengths.dedup();
    let cases: Vec<(PathBuf, Damage)> =
        lengths.iter().map(|&l| ("store/db".into(), Damage::Truncate(l))).collect();
    let reported = check_file_damage(&orig, &cases, store_expectation(&orig.db));
    if !is_v2(&orig.db) {
        assert!(reported > 0, "none of {} truncations was reported", lengths.len());
    }
}

/// A zeroed 4 KiB page in any sled file (every page of `store/db` in use, a
/// few past it, the first page of each other file): reported or harmless;
/// with v2, every event still reads back.
#[test]
fn zeroed_pages_in_store_are_reported_or_harmless() {
    let orig = original();
    let mut cases: Vec<(PathBuf, Damage)> = Vec::new();
    for rel in store_files(&orig.db) {
        let len = file_len(&orig.db, &rel);
        let pages = if rel == Path::new("store/db") {
            let (_, used) = store_db_extent(&orig.db);
            let mut p: Vec<u64> = (0..used.div_ceil(PAGE)).collect();
            p.extend(pages(len, 8));
            p.sort_unstable();
            p.dedup();
            p
        } else {
            pages(len, 2)
        };
        cases.extend(pages.into_iter().map(|p| (rel.clone(), Damage::ZeroPage(p))));
    }
    let reported = check_file_damage(&orig, &cases, store_expectation(&orig.db));
    if !is_v2(&orig.db) {
        assert!(reported > 0, "none of {} zeroed store pages was reported", cases.len());
    }
}

/// Each sled file (`db`, `conf`, snapshots, blobs) deleted, emptied or with
/// every byte inverted: reported or harmless; with v2, every event still
/// reads back (the store is rebuilt).
#[test]
fn store_files_deleted_emptied_or_inverted_are_reported_or_harmless() {
    let orig = original();
    let files = store_files(&orig.db);
    assert!(files.iter().any(|n| n == Path::new("store/conf")), "store files: {files:?}");
    let cases: Vec<(PathBuf, Damage)> = files
        .iter()
        .flat_map(|n| [Damage::Delete, Damage::Truncate(0), Damage::Invert].map(|d| (n.clone(), d)))
        .collect();
    check_file_damage(&orig, &cases, store_expectation(&orig.db));
}

/// Reads the whole log (`tail --format json`) of a database whose store was
/// damaged: it must work and give back `events`. Returns its stderr.
#[track_caller]
fn assert_reads_back(db: &Path, events: &[Value], when: &str) -> String {
    let out = run(db, &["tail", "--format", "json"]);
    assert_no_crash(&out, &format!("tail {when}"));
    assert!(out.status.success(), "tail {when} must work:\n{}", describe(&out));
    let back = parse_ndjson(&stdout(&out));
    assert_eq!(back.len(), events.len(), "tail {when}: {} events instead of {}", back.len(), events.len());
    if let Some(k) = back.iter().zip(events).position(|(a, b)| a != b) {
        panic!("tail {when}: event #{k} differs:\n  got      {}\n  expected {}", back[k], events[k]);
    }
    stderr(&out)
}

/// Storage v2: the sled store holds only rebuildable indexes. With
/// `DIR/store` deleted, the first command rebuilds it from the segments
/// and says so on stderr; every event reads back, `verify` passes, the
/// next command does not rebuild again, and an append continues at seq 167.
#[test]
fn deleting_the_whole_sled_store_loses_nothing() {
    let orig = original();
    std::fs::remove_dir_all(orig.db.join("store")).unwrap();
    let err = assert_reads_back(&orig.db, &orig.events, "after rm -rf DIR/store");
    assert!(
        err.to_lowercase().contains("rebuil"),
        "the first command after rm -rf DIR/store should say on stderr that it rebuilds the index; stderr:\n{err}"
    );
    assert_verify_ok(&orig.db, FIXTURE_EVENTS);
    let err = assert_reads_back(&orig.db, &orig.events, "a second time after the rebuild");
    assert!(!err.to_lowercase().contains("rebuil"), "the rebuilt store is rebuilt again:\n{err}");
    let out =
        assert_success(run(&orig.db, &["emit", "marker", "--label", "after"]), "emit after the rebuild");
    assert_eq!(stdout(&out), "167\n", "the append after the rebuild continues the log");
    assert_verify_ok(&orig.db, FIXTURE_EVENTS + 1);
}

/// One way to wreck the index: its name and what it does to a database directory.
type Wreck = (&'static str, fn(&Path));

/// Storage v2: a wrecked sled store (`store/db` all zeros, or replaced by
/// garbage of the same length, or every store file inverted) is rebuilt
/// from the segments: every event reads back, `verify` passes and an append
/// continues at seq 167.
#[test]
fn damaged_sled_store_is_rebuilt_and_loses_nothing() {
    let orig = original();
    let wrecks: [Wreck; 3] = [
        ("store/db zeroed", |db| {
            let len = std::fs::metadata(db.join("store/db")).unwrap().len();
            std::fs::write(db.join("store/db"), vec![0u8; len as usize]).unwrap();
        }),
        ("store/db replaced by garbage", |db| {
            let len = std::fs::metadata(db.join("store/db")).unwrap().len() as usize;
            // A fixed xorshift stream: deterministic garbage.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            std::fs::write(db.join("store/db"), garbage).unwrap();
        }),
        ("every store file inverted", |db| {
            for rel in files_under(db, &db.join("store")) {
                apply(db, &rel, Damage::Invert);
            }
        }),
    ];
    for (what, wreck) in wrecks {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("db");
        copy_dir(&orig.db, &db);
        wreck(&db);
        let err = assert_reads_back(&db, &orig.events, &format!("with {what}"));
        if !err.to_lowercase().contains("rebuil") {
            eprintln!("note: with {what}, the first tail did not mention a rebuild; stderr:\n{err}");
        }
        let out = run(&db, &["verify"]);
        assert_no_crash(&out, &format!("verify with {what}"));
        assert!(
            out.status.success(),
            "verify with {what} (after the first tail) must pass:\n{}",
            describe(&out)
        );
        assert!(
            stdout(&out).starts_with("ok: 166 events in "),
            "verify with {what} counts the 166 events:\n{}",
            describe(&out)
        );
        let out = run(&db, &["emit", "marker", "--label", "after"]);
        assert_no_crash(&out, &format!("emit with {what}"));
        let out = assert_success(out, &format!("emit with {what}"));
        assert_eq!(stdout(&out), "167\n", "with {what}: the append continues the log");
    }
}

#[test]
fn rolled_back_segments_are_detected_and_refuse_appends() {
    // Segment files replaced by an older copy: the index still knows the
    // acknowledged events they lost.
    let (tmp, db) = temp_db();
    let lines = fixture_lines();
    let (first, rest) = lines.split_at(83);
    assert_success(run_stdin(&db, &["ingest"], ndjson(first)), "ingest first half");
    let saved = tmp.path().join("saved-segments");
    copy_dir(&db.join("segments"), &saved);
    assert_success(run_stdin(&db, &["ingest"], ndjson(rest)), "ingest second half");
    assert_verify_ok(&db, FIXTURE_EVENTS);

    std::fs::remove_dir_all(db.join("segments")).unwrap();
    copy_dir(&saved, &db.join("segments"));

    let out = run(&db, &["verify"]);
    assert_no_crash(&out, "verify");
    assert_exit(&out, 1, "verify of rolled-back segments");
    let err = stderr(&out);
    assert!(err.contains("rolled back"), "{err}");
    assert!(err.contains("the store ends at seq 83 but the head record says seq 166"), "{err}");
    assert_eq!(stdout(&out), "", "no ok line");

    let out = run(&db, &["emit", "marker", "--label", "x"]);
    assert_no_crash(&out, "emit");
    assert_exit(&out, 1, "emit into rolled-back segments");
    let err = stderr(&out);
    assert!(err.contains("appends are refused") && err.contains("rolled back"), "{err}");
    assert_eq!(stdout(&out), "", "no seq printed");

    let out = run_stdin(&db, &["ingest"], ndjson(rest));
    assert_exit(&out, 1, "ingest into rolled-back segments");
    assert!(stderr(&out).contains("appends are refused"), "{}", describe(&out));

    // Reads show what the old segments hold, then fail saying the log is
    // damaged; nothing was added.
    let out = run(&db, &["tail", "--format", "json"]);
    assert_damage_reported(&out, 84, "tail of rolled-back segments");
    assert!(stderr(&out).contains("rolled back"), "{}", describe(&out));
    let back = parse_ndjson(&stdout(&out));
    assert_eq!(seqs(&back), (1..=83).collect::<Vec<_>>());
    assert_eq!(without_seq(&back), fixture_events()[..83]);
    let out = run(&db, &["verify"]);
    assert_exit(&out, 1, "verify still fails after the refused appends");
    assert!(stderr(&out).contains("rolled back"), "{}", describe(&out));
}

#[test]
fn an_older_copy_of_the_index_is_caught_up() {
    // The index (sled) replaced by an older copy: it is a prefix of the
    // segments, so opening catches it up and nothing is lost or refused.
    let (tmp, db) = temp_db();
    let lines = fixture_lines();
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[..83])), "first half");
    let saved = tmp.path().join("saved-store");
    copy_dir(&db.join("store"), &saved);
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[83..])), "second half");
    std::fs::remove_dir_all(db.join("store")).unwrap();
    copy_dir(&saved, &db.join("store"));

    assert_verify_ok(&db, FIXTURE_EVENTS);
    assert_eq!(without_seq(&tail_json(&db)), fixture_events());
    let out = assert_success(run(&db, &["emit", "marker", "--label", "after"]), "emit");
    assert_eq!(stdout(&out), "167\n");
    assert_verify_ok(&db, 167);
}

// ---- a damaged log never looks empty ----

/// The fixture ingested in commits of 10 events: one segment record per
/// commit (seqs 1..=10, 11..=20, ...).
fn original_in_commits() -> Original {
    let (tmp, db) = temp_db();
    for part in fixture_lines().chunks(10) {
        assert_success(run_stdin(&db, &["ingest"], ndjson(part)), "ingest 10 events");
    }
    let events = tail_json(&db);
    assert_eq!(events.len(), 166);
    Original { _tmp: tmp, db, events }
}

/// Flips a byte in the middle of the chunk of the segment record whose
/// first seq is `first_seq` (the segment layout of engine/FORMAT.md: magic, then
/// `len u32, first_seq u64, flags u8, crc u32, chunk`).
fn flip_in_record(db: &Path, first_seq: u64) {
    let rel = segment_files(db).into_iter().next().unwrap();
    let bytes = std::fs::read(db.join(&rel)).unwrap();
    let mut at = 8usize;
    while at + 17 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let first = u64::from_be_bytes(bytes[at + 4..at + 12].try_into().unwrap());
        if first == first_seq {
            apply(db, &rel, Damage::Flip((at + 17 + len / 2) as u64));
            return;
        }
        at += 17 + len;
    }
    panic!("no record of {} starts at seq {first_seq}", rel.display());
}

/// Asserts that `out` failed (exit 1) saying the log is damaged and that
/// reading stops at `stop_seq`.
#[track_caller]
fn assert_damage_reported(out: &std::process::Output, stop_seq: u64, what: &str) {
    assert_no_crash(out, what);
    assert_exit(out, 1, what);
    let err = stderr(out);
    assert!(
        err.contains("the log is damaged") && err.contains(&format!("reading stops at seq {stop_seq}")),
        "{what}: stderr must say the log is damaged and reading stops at seq {stop_seq}:\n{err}"
    );
}

/// Checks `tail`, `stats` and `state` on a log whose events from `stop_seq`
/// on do not read back: each shows the intact prefix `1..stop_seq`, then
/// fails naming `stop_seq`.
fn check_intact_prefix_and_failure(orig: &Original, stop_seq: u64) {
    let db = &orig.db;
    let intact = (stop_seq - 1) as usize;
    let out = run(db, &["tail", "-n", "1000", "--format", "json"]);
    assert_damage_reported(&out, stop_seq, "tail -n 1000");
    assert_eq!(parse_ndjson(&stdout(&out)), orig.events[..intact], "tail shows the intact prefix");

    let out = run(db, &["stats", "--format", "json"]);
    assert_damage_reported(&out, stop_seq, "stats");
    let stats: Value = serde_json::from_str(stdout(&out).trim()).expect("stats prints its JSON");
    assert_eq!(stats["head_seq"], intact as u64, "stats: {stats}");
    assert_eq!(stats["events"], intact as u64, "stats: {stats}");

    let out = run(db, &["state", "--format", "json"]);
    assert_damage_reported(&out, stop_seq, "state");
    let state: Value = serde_json::from_str(stdout(&out).trim()).expect("state prints its JSON");
    assert_eq!(state["seq"], intact as u64, "state: {state}");
    assert!(state["sessions"].as_array().is_some_and(|s| !s.is_empty()), "state shows sessions: {state}");

    let out = run(db, &["verify"]);
    assert_exit(&out, 1, "verify of the damaged log");
}

/// One flipped byte in a middle record (seqs 71..=80) of a log of 17
/// commits: `tail` prints events 1..=70 and fails naming seq 71; `stats`
/// and `state` show the log up to seq 70 and fail the same way. Never an
/// empty log with exit 0.
#[test]
fn a_flipped_byte_in_a_middle_record_shows_the_intact_prefix_and_fails() {
    let orig = original_in_commits();
    flip_in_record(&orig.db, 71);
    check_intact_prefix_and_failure(&orig, 71);
}

/// The damage in the last record (seqs 161..=166), which the index names as
/// the head: found when the log opens. Reads stop at seq 161 and say so,
/// and with the damage in the only record of a log, every read says that
/// nothing reads back instead of showing an empty log with exit 0.
#[test]
fn damage_in_the_last_record_is_reported_by_every_read() {
    let orig = original_in_commits();
    flip_in_record(&orig.db, 161);
    check_intact_prefix_and_failure(&orig, 161);
    // Through a server too: the commands run inside it report the same.
    let mut server = crate::server::start_server(&orig.db);
    let out = run(&orig.db, &["tail", "-n", "1000", "--format", "json"]);
    assert_damage_reported(&out, 161, "tail through the server");
    assert_eq!(parse_ndjson(&stdout(&out)), orig.events[..160]);
    crate::server::signal(&server, "TERM");
    crate::server::wait_exit(&mut server);

    let (_tmp, db) = temp_db();
    ingest_fixture(&db);
    flip_in_record(&db, 1);
    for args in
        [&["tail", "--format", "json"][..], &["stats"], &["state"], &["metrics"], &["session", "list"]]
    {
        let out = run(&db, args);
        assert_damage_reported(&out, 1, &args.join(" "));
    }
}

/// A flipped byte in a middle record while the index is gone (rebuilt from
/// the segments): the whole commits after the bad record prove it was
/// acknowledged, so it is damage, not a torn tail: nothing is cut, reads
/// show events 1..=70 and fail naming seq 71, appends are refused.
#[test]
fn damage_met_while_rebuilding_the_index_is_not_cut_as_a_torn_tail() {
    let orig = original_in_commits();
    let seg = orig.db.join(&segment_files(&orig.db)[0]);
    let len = std::fs::metadata(&seg).unwrap().len();
    flip_in_record(&orig.db, 71);
    std::fs::remove_dir_all(orig.db.join("store")).unwrap();
    check_intact_prefix_and_failure(&orig, 71);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len, "the segment was cut");
    let out = run(&orig.db, &["emit", "marker", "--label", "x"]);
    assert_exit(&out, 1, "emit into a damaged log");
    assert!(stderr(&out).contains("appends are refused"), "{}", describe(&out));
}
