//! `state`, `metrics` and `replay` against the real binary, direct and through a server.

use crate::common::{assert_success, ingest_fixture, run, stdout, temp_db};
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
