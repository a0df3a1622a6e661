//! Damaged databases: flipped bytes, truncated store files, a rolled-back
//! store, a missing or wrong HEAD. The binary must never crash (panic,
//! internal error, signal, hang): it either reports the damage with a
//! message, or — when the damage hit unused bytes — gives back exactly the
//! original events.

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

/// Words one of which an error about a damaged database must contain.
const DAMAGE_WORDS: &[&str] = &["corrupt", "store", "rolled back", "head record", "malformed", "damaged"];

/// Whether stderr has an `orc-log: ...` line (the store may log lines of its own first).
fn has_message(out: &std::process::Output) -> bool {
    stderr(out).lines().any(|l| l.starts_with("orc-log: "))
}

/// Checks one damaged copy: `verify` and `tail` must not crash; `verify`
/// either fails with a message naming the damage, or passes and `tail`
/// returns exactly the original events. Ok(true) when the damage was
/// reported, Ok(false) when harmless; Err describes a violation.
fn check_damaged(db: &Path, original: &[Value]) -> Result<bool, String> {
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
    if verify.status.success() {
        if !tail.status.success() {
            return Err(format!("verify passed but tail failed\n{}", describe(&tail)));
        }
        let events = parse_ndjson(&stdout(&tail));
        if events != original {
            return Err(format!(
                "verify passed but tail gives back {} events that differ from the original {}",
                events.len(),
                original.len()
            ));
        }
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
    Ok(true)
}

/// Runs `damage` on a fresh copy of `orig` for every case, spread over a few
/// threads, and fails with every violation found. Returns how many copies
/// had their damage reported (the rest were harmless).
fn check_cases<C: Sync + std::fmt::Debug>(
    orig: &Original,
    cases: &[C],
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
                    match check_damaged(&db, &orig.events) {
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

#[test]
fn flipped_byte_in_store_is_reported_or_harmless() {
    let orig = original();
    let (len, used) = store_db_extent(&orig.db);
    assert!(used > 1000, "store/db has {used} bytes in use of {len}");
    // ~300 offsets across the bytes in use (where damage matters), plus
    // every 4999th byte of the rest of the file (zeros not written yet).
    let mut offsets: Vec<u64> = spread(0, used, 300).collect();
    offsets.extend((used..len).step_by(4999));
    let reported = check_cases(&orig, &offsets, |db, &offset| {
        let path = db.join("store/db");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[offset as usize] ^= 0xFF;
        std::fs::write(&path, bytes).unwrap();
    });
    // The events are in store/db: some flips must land in them and be caught.
    assert!(reported > 0, "none of {} flips was reported; did any hit the data?", offsets.len());
}

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
    let reported = check_cases(&orig, &lengths, |db, &to| {
        let f = std::fs::OpenOptions::new().write(true).open(db.join("store/db")).unwrap();
        f.set_len(to).unwrap();
    });
    assert!(reported > 0, "none of {} truncations was reported", lengths.len());
}

#[test]
fn other_store_files_damaged_are_reported_or_harmless() {
    let orig = original();
    let mut names: Vec<String> = std::fs::read_dir(orig.db.join("store"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != "db")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "conf"), "store files: {names:?}");
    // Each file: deleted, emptied, and with every byte flipped.
    let cases: Vec<(String, &str)> =
        names.iter().flat_map(|n| ["delete", "empty", "flip"].map(|how| (n.clone(), how))).collect();
    check_cases(&orig, &cases, |db, (name, how)| {
        let path = db.join("store").join(name);
        match *how {
            "delete" => std::fs::remove_file(&path).unwrap(),
            "empty" => std::fs::write(&path, b"").unwrap(),
            _ => {
                let bytes: Vec<u8> = std::fs::read(&path).unwrap().iter().map(|b| b ^ 0xFF).collect();
                std::fs::write(&path, bytes).unwrap();
            }
        }
    });
}

#[test]
fn rolled_back_store_is_detected_and_refuses_appends() {
    let (tmp, db) = temp_db();
    let lines = fixture_lines();
    let (first, rest) = lines.split_at(83);
    assert_success(run_stdin(&db, &["ingest"], ndjson(first)), "ingest first half");
    let saved = tmp.path().join("saved-store");
    copy_dir(&db.join("store"), &saved);
    assert_success(run_stdin(&db, &["ingest"], ndjson(rest)), "ingest second half");
    assert_verify_ok(&db, FIXTURE_EVENTS);

    std::fs::remove_dir_all(db.join("store")).unwrap();
    copy_dir(&saved, &db.join("store"));

    let out = run(&db, &["verify"]);
    assert_no_crash(&out, "verify");
    assert_exit(&out, 1, "verify of a rolled-back store");
    let err = stderr(&out);
    assert!(err.contains("rolled back"), "{err}");
    assert!(err.contains("the store ends at seq 83 but the head record says seq 166"), "{err}");
    assert_eq!(stdout(&out), "", "no ok line");

    let out = run(&db, &["emit", "marker", "--label", "x"]);
    assert_no_crash(&out, "emit");
    assert_exit(&out, 1, "emit into a rolled-back store");
    let err = stderr(&out);
    assert!(err.contains("appends are refused") && err.contains("rolled back"), "{err}");
    assert_eq!(stdout(&out), "", "no seq printed");

    let out = run_stdin(&db, &["ingest"], ndjson(rest));
    assert_exit(&out, 1, "ingest into a rolled-back store");
    assert!(stderr(&out).contains("appends are refused"), "{}", describe(&out));

    // Reads still work and show what the old store holds; nothing was added.
    let back = tail_json(&db);
    assert_eq!(seqs(&back), (1..=83).collect::<Vec<_>>());
    assert_eq!(without_seq(&back), fixture_events()[..83]);
    let out = run(&db, &["verify"]);
    assert_exit(&out, 1, "verify still fails after the refused appends");
    assert!(stderr(&out).contains("rolled back"), "{}", describe(&out));
}

#[test]
fn missing_head_record_fails_verify_and_appends() {
    let orig = original();
    std::fs::remove_file(orig.db.join("HEAD")).unwrap();
    let out = run(&orig.db, &["verify"]);
    assert_no_crash(&out, "verify");
    assert_exit(&out, 1, "verify without HEAD");
    assert!(
        stderr(&out).contains("verify failed: corrupt: the head record file HEAD is missing"),
        "{}",
        describe(&out)
    );
    let out = run(&orig.db, &["emit", "marker", "--label", "x"]);
    assert_exit(&out, 1, "emit without HEAD");
    assert!(
        stderr(&out).contains("appends are refused: the head record file HEAD is missing"),
        "{}",
        describe(&out)
    );
    assert!(!orig.db.join("HEAD").exists(), "a refused append must not invent a HEAD");
    assert_eq!(tail_json(&orig.db), orig.events, "reads still work");
}

#[test]
fn malformed_head_record_is_an_error() {
    let orig = original();
    std::fs::write(orig.db.join("HEAD"), "orc-log head v1\nseq many\n").unwrap();
    for args in [&["verify"][..], &["tail"], &["emit", "marker", "--label", "x"]] {
        let out = run(&orig.db, args);
        assert_no_crash(&out, &format!("{args:?}"));
        assert_exit(&out, 1, &format!("{args:?} with a garbage HEAD"));
        assert!(
            stderr(&out).contains("head record") && stderr(&out).contains("is malformed"),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn head_record_with_another_chain_is_detected() {
    let orig = original();
    let head = std::fs::read_to_string(orig.db.join("HEAD")).unwrap();
    assert!(head.starts_with("orc-log head v1\nseq 166\nchain "), "{head}");
    let other = format!("orc-log head v1\nseq 166\nchain {}\n", "ab".repeat(32));
    std::fs::write(orig.db.join("HEAD"), other).unwrap();

    let out = run(&orig.db, &["verify"]);
    assert_no_crash(&out, "verify");
    assert_exit(&out, 1, "verify with a foreign chain in HEAD");
    assert!(stderr(&out).contains("the chain hash differs from the head record's"), "{}", describe(&out));

    let out = run(&orig.db, &["emit", "marker", "--label", "x"]);
    assert_exit(&out, 1, "emit with a foreign chain in HEAD");
    assert!(stderr(&out).contains("appends are refused"), "{}", describe(&out));
}

#[test]
fn head_record_behind_the_store_is_caught_up() {
    // A crash between a commit and the HEAD update leaves HEAD behind: harmless.
    let (tmp, db) = temp_db();
    let lines = fixture_lines();
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[..83])), "first half");
    let old_head = tmp.path().join("HEAD.old");
    std::fs::copy(db.join("HEAD"), &old_head).unwrap();
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[83..])), "second half");
    std::fs::copy(&old_head, db.join("HEAD")).unwrap();

    assert_verify_ok(&db, FIXTURE_EVENTS);
    let out = assert_success(run(&db, &["emit", "marker", "--label", "after"]), "emit");
    assert_eq!(stdout(&out), "167\n");
    assert_verify_ok(&db, 167);
    let head = std::fs::read_to_string(db.join("HEAD")).unwrap();
    assert!(head.contains("\nseq 167\n"), "HEAD is current again: {head}");
}
