//! SIGKILL at arbitrary moments: whatever was acknowledged survives exactly
//! once, the log verifies, and a killed run can simply be retried.
//!
//! Kill moments are a fixed sequence of delays (deterministic inputs; the
//! OS scheduling is not, which is the point of a crash test).

use crate::common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Spawns `orc-log --db DB ARGS` with the given stdin, output to pipes.
fn spawn(db: &Path, args: &[&str], stdin: Stdio) -> Child {
    orc_process(db)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc-log")
}

/// Waits `delay`, then SIGKILLs `child` unless it already exited. Returns
/// the child's stdout when it exited 0 on its own (acknowledged), else None.
fn kill_after(mut child: Child, delay: Duration) -> Option<String> {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let exited = child.try_wait().expect("try_wait");
    if exited.is_none() {
        // Child::kill sends SIGKILL on Unix.
        child.kill().expect("SIGKILL");
    }
    let out = child.wait_with_output().expect("wait");
    match exited {
        Some(status) if status.success() => Some(stdout(&out)),
        Some(_) => {
            assert_no_crash(&out, "an emit that ended on its own");
            None
        }
        None => None,
    }
}

/// The deterministic kill delay for iteration `i`: 0..15 ms, well spread.
fn delay(i: u64, step_us: u64) -> Duration {
    Duration::from_micros((i * step_us) % 15_500)
}

/// Creates an empty database (an ingest of nothing), so that kills below
/// hit appends to an existing log.
fn create_empty(db: &Path) {
    let out = assert_success(run_stdin(db, &["ingest"], ""), "create an empty database");
    assert!(stderr(&out).contains("appended 0 events"), "{}", describe(&out));
    assert_verify_ok(db, 0);
}

/// The events carrying `id`.
fn with_id<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["id"] == id).collect()
}

#[test]
fn killed_emits_keep_every_acknowledged_event_exactly_once() {
    let (_tmp, db) = temp_db();
    create_empty(&db);
    let mut acked: Vec<(String, u64)> = Vec::new();
    let mut killed = 0;
    for i in 0..30u64 {
        let id = format!("m{i}");
        let args = ["emit", "--id", &id, "marker", "--label", &format!("label {i}")];
        match kill_after(spawn(&db, &args, Stdio::null()), delay(i, 1_300)) {
            Some(out) => {
                let seq = out.trim().parse().unwrap_or_else(|_| panic!("emit printed {out:?}"));
                acked.push((id.clone(), seq));
            }
            None => killed += 1,
        }

        assert_verify_ok_any(&db, &format!("after iteration {i}"));
        let events = tail_json(&db);
        assert_eq!(seqs(&events), (1..=events.len() as u64).collect::<Vec<_>>(), "gapless seqs");
        for (ack_id, seq) in &acked {
            let found = with_id(&events, ack_id);
            assert_eq!(found.len(), 1, "acknowledged {ack_id} must be in the log exactly once: {found:?}");
            assert_eq!(found[0]["seq"], *seq, "acknowledged {ack_id} keeps the seq emit printed");
        }
        for e in &events {
            let eid = e["id"].as_str().expect("every event has an id");
            let n: u64 = eid[1..].parse().unwrap();
            assert!(n <= i, "event from a future iteration: {e}");
            assert_eq!(e["label"], format!("label {n}"), "event body matches its id: {e}");
            assert_eq!(with_id(&events, eid).len(), 1, "id {eid} appears once");
        }

        // Retrying the killed emit is safe: afterwards the id is there once.
        let out = assert_success(run(&db, &args), &format!("retry of {id}"));
        let seq: u64 = stdout(&out).trim().parse().unwrap();
        let events = tail_json(&db);
        let found = with_id(&events, &id);
        assert_eq!(found.len(), 1, "{id} once after the retry");
        assert_eq!(found[0]["seq"], seq, "the retry prints {id}'s seq");
    }
    // The delays must actually have interrupted some emits, or this tested nothing.
    assert!(killed > 0, "no emit was killed; delays too long for this machine?");
    assert_verify_ok(&db, 30);
}

/// `verify` exits 0 (any event count).
#[track_caller]
fn assert_verify_ok_any(db: &Path, when: &str) {
    let out = run(db, &["verify"]);
    assert_no_crash(&out, "verify");
    assert!(out.status.success(), "verify must pass {when}:\n{}", describe(&out));
    assert!(stdout(&out).starts_with("ok: "), "{}", describe(&out));
}

#[test]
fn killed_ingest_leaves_a_verified_prefix_and_can_be_retried() {
    let fixture = fixture_events();
    for j in 0..8u64 {
        let (_tmp, db) = temp_db();
        create_empty(&db);
        // Lines with ids, so the retry below can complete the input.
        let lines: Vec<String> = fixture
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().insert("id".into(), format!("ing-{k}").into());
                e.to_string()
            })
            .collect();
        let send = 6 + 5 * j as usize;
        let mut child = spawn(&db, &["ingest", "--batch-events", "1", "-"], Stdio::piped());
        let mut stdin = child.stdin.take().unwrap();
        for line in &lines[..send] {
            // The process reads and commits as lines arrive; we read nothing back.
            if stdin.write_all(format!("{line}\n").as_bytes()).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_micros(300));
        }
        std::thread::sleep(delay(j, 700));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        assert!(still_running, "ingest ended before the kill:\n{}", describe(&out));

        assert_verify_ok_any(&db, &format!("after killed ingest {j}"));
        let back = tail_json(&db);
        let n = back.len();
        assert!(n <= send, "more events ({n}) than lines sent ({send})");
        assert_eq!(seqs(&back), (1..=n as u64).collect::<Vec<_>>());
        let sent: Vec<Value> = lines[..n].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(without_seq(&back), sent, "iteration {j}: the log is a prefix of what was sent");

        // Re-running the whole input appends exactly what is missing.
        let out = assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[..send])), "retry ingest");
        assert!(
            stderr(&out).contains(&format!("appended {} events", send - n)),
            "retry appends the {} missing lines:\n{}",
            send - n,
            describe(&out)
        );
        let sent: Vec<Value> = lines[..send].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(without_seq(&tail_json(&db)), sent);
        assert_verify_ok(&db, send as u64);
    }
}

/// How long a first `emit` (which creates the database) takes here: the
/// median of a few runs, so the kill sweep below covers the whole creation
/// whatever the machine's speed.
fn creation_time() -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let (_tmp, db) = temp_db();
            let start = Instant::now();
            let child = spawn(&db, &["emit", "marker", "--label", "calibrate"], Stdio::null());
            let out = child.wait_with_output().unwrap();
            let took = start.elapsed();
            assert!(out.status.success(), "{}", describe(&out));
            took
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

#[test]
fn kill_during_database_creation_leaves_a_usable_database() {
    // A kill while the very first command creates the database must not make
    // it unusable: the next command works and verify passes afterwards.
    // Kill moments sweep 0..120% of a normal creation in 60 steps.
    const STEPS: u32 = 60;
    let full = creation_time();
    let mut failures = Vec::new();
    for i in 0..STEPS {
        let at = full * 6 * i / (5 * STEPS);
        let (_tmp, db) = temp_db();
        let first = kill_after(
            spawn(&db, &["emit", "--id", "first", "marker", "--label", "first"], Stdio::null()),
            at,
        );
        let out = run(&db, &["emit", "--id", "after", "marker", "--label", "after"]);
        assert_no_crash(&out, "emit after a killed creation");
        if !out.status.success() {
            let files: Vec<String> = std::fs::read_dir(&db)
                .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            failures.push(format!(
                "kill after {at:?} (creation takes {full:?}): next emit failed; files {files:?}; {}",
                stderr(&out).trim()
            ));
            continue;
        }
        assert_verify_ok_any(&db, &format!("after kill at {at:?}"));
        let events = tail_json(&db);
        assert_eq!(with_id(&events, "after").len(), 1);
        if first.is_some() {
            assert_eq!(with_id(&events, "first").len(), 1, "acknowledged first emit is kept");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {STEPS} kills during creation left a database that refuses appends:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
