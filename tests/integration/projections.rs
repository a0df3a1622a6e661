//! `state`, `metrics` and `replay` against the real binary, direct and through a server.

use crate::common::{assert_success, ingest_fixture, run, run_stdin, stdout, temp_db};
use crate::server::{signal, start_server, wait_exit};

#[test]
fn replay_gives_byte_identical_state_and_the_server_agrees() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let state =
        |db| stdout(&assert_success(run(db, &["state", "--until-seq", "166", "--format", "json"]), "state"));
    let metrics = |db| {
        stdout(&assert_success(
            run(db, &["metrics", "--until-seq", "166", "--format", "prometheus"]),
            "metrics",
        ))
    };
    let (s1, m1) = (state(&db), metrics(&db));
    let out = assert_success(run(&db, &["replay"]), "replay");
    assert!(stdout(&out).contains("state: replayed 166 events"), "{}", stdout(&out));
    assert!(stdout(&out).contains("events/s"), "{}", stdout(&out));
    assert_eq!(state(&db), s1, "state after replay is byte-identical");
    assert_eq!(metrics(&db), m1);
    let v: serde_json::Value = serde_json::from_str(&s1).unwrap();
    assert_eq!(v["seq"], 166);
    assert!(v["sessions"].as_array().unwrap().iter().all(|s| s["open"] == false));
    assert!(m1.contains("orc_log_events_total{kind=\"capture\"} 146"), "{m1}");
    // Through a server: same answers.
    let mut server = start_server(&db);
    assert_eq!(state(&db), s1);
    assert_eq!(metrics(&db), m1);
    let head_state = stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state at head"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&head_state).unwrap()["seq"], 166);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    // Bad points get clear errors.
    let out = run(&db, &["state", "--until-seq", "999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("past the end of the log"));
}

/// `state --at` on a log longer than the time-travel spacing (50,000
/// events): the first run folds from seq 1 and stores the time-travel
/// checkpoints it passes; the next ones start from the nearest of those
/// and answer the same.
#[test]
fn state_at_starts_from_a_time_travel_checkpoint() {
    use orc_log_engine::{Config, SharedLog};
    let (_dir, db) = temp_db();
    let t0 = orc_log_schemas::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let ts = |i: u64| orc_log_schemas::format_rfc3339(t0 + i as i64 * 100_000_000);
    let mut input = String::new();
    for i in 1..=120_000u64 {
        let target = format!("s:{}.0", i % 4);
        let line = match i % 8 {
            0 => serde_json::json!({"kind": "schedule", "target": target, "note": format!("n{i}"),
                "due": ts(i + 600), "ts": ts(i)}),
            4 => serde_json::json!({"kind": "schedule_fired", "target": target, "ts": ts(i)}),
            _ => {
                serde_json::json!({"kind": "marker", "label": format!("m{i}"), "target": target, "ts": ts(i)})
            }
        };
        input.push_str(&line.to_string());
        input.push('\n');
    }
    assert_success(run_stdin(&db, &["ingest", "-"], input), "ingest");
    let at = ts(110_000);
    let state_at =
        || stdout(&assert_success(run(&db, &["state", "--at", &at, "--format", "json"]), "state --at"));
    let from_scratch = state_at();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&from_scratch).unwrap()["seq"], 110_000);
    // It stored the checkpoints it passed.
    let log = SharedLog::open(&db, Config::default()).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&log.snapshot().checkpoint("state@index").unwrap().unwrap()).unwrap();
    assert_eq!(index["seqs"], serde_json::json!([50_000, 100_000]));
    // The next run starts from the one at 100,000: a session added to it shows.
    let original = log.snapshot().checkpoint("state@100000").unwrap().unwrap();
    let mut marked: serde_json::Value = serde_json::from_slice(&original).unwrap();
    marked["state"]["sessions"]["from-the-checkpoint"] = serde_json::json!({"ts": 0, "value": true});
    log.put_checkpoint("state@100000", &serde_json::to_vec(&marked).unwrap()).unwrap();
    drop(log);
    assert!(state_at().contains("from-the-checkpoint"), "state --at did not start from state@100000");
    let log = SharedLog::open(&db, Config::default()).unwrap();
    log.put_checkpoint("state@100000", &original).unwrap();
    drop(log);
    assert_eq!(state_at(), from_scratch, "from the checkpoint as from seq 1");
}
