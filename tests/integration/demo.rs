//! `orc-log demo` end to end on a real private tmux server.

use crate::common::{assert_verify_ok, of_kind, orc_process, stderr, stdout, tail_json, temp_db};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a tmux server answers on socket `name`.
fn tmux_alive(name: &str) -> bool {
    orc_log_tmux::Tmux::named(name).is_running()
}

#[test]
fn the_demo_records_a_team_a_schedule_and_exactly_one_crash() {
    let (dir, db) = temp_db();
    let out_dir = dir.path().join("demo-out");
    let child = orc_process(&db)
        .args(["demo", "--duration", "20s", "--output"])
        .arg(&out_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = format!("orc-log-demo-{}", child.id());
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "demo failed:\n{text}\n{}", stderr(&out));
    for section in [
        "== state",
        "== key metrics",
        "== query: events by kind",
        "== query: busiest panes",
        "== query: crashes",
        "== backup and point-in-time restore",
        "== replay and export a pane",
        "session replay proj:1.0",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
    assert!(!tmux_alive(&socket), "the demo's tmux server is gone");

    let events = tail_json(&db);
    let captured: BTreeSet<&str> =
        of_kind(&events, "capture").iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert!(captured.len() >= 3, "captures from at least 3 panes: {captured:?}");
    let messages = of_kind(&events, "message");
    assert!(messages.len() >= 4, "{messages:?}");
    assert!(messages.iter().any(|m| m["from"] == "orchestrator" && m["to"] == "proj:0.0"), "{messages:?}");
    let schedules = of_kind(&events, "schedule");
    let fired = of_kind(&events, "schedule_fired");
    assert_eq!(schedules.len(), 1, "{schedules:?}");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["target"], schedules[0]["target"]);
    let crashes = of_kind(&events, "crash");
    assert_eq!(crashes.len(), 1, "exactly one crash: {crashes:?}");
    assert_eq!(crashes[0]["target"], "proj:1.0");
    assert_eq!(crashes[0]["detector"], "rust-panic");
    assert!(crashes[0]["excerpt"].as_str().unwrap().contains("agents.toml"), "{}", crashes[0]);
    for k in ["session_opened", "window_opened", "agent_registered", "session_closed"] {
        assert!(!of_kind(&events, k).is_empty(), "a {k} event");
    }
    assert_eq!(of_kind(&events, "agent_registered").len(), 4);
    assert_verify_ok(&db, events.len() as u64);

    // The point-in-time copy ends just before the crash.
    let restored = tail_json(&out_dir.join("before-crash"));
    assert!(of_kind(&restored, "crash").is_empty());
    // It holds exactly the events before the crash's time (the recorder's
    // pane_state of the same poll shares the crash's ts, so it is left out too).
    let ts = |e: &serde_json::Value| orc_log_schemas::parse_rfc3339(e["ts"].as_str().unwrap()).unwrap();
    let crash_ns = ts(crashes[0]);
    let want: Vec<u64> =
        events.iter().filter(|e| ts(e) < crash_ns).map(|e| e["seq"].as_u64().unwrap()).collect();
    let got: Vec<u64> = restored.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(got, want);
    assert!(got.last().unwrap() < &crashes[0]["seq"].as_u64().unwrap());
    let cast = std::fs::read_to_string(out_dir.join("eng-1.cast")).unwrap();
    assert!(cast.starts_with("{\"version\":2"), "{}", &cast[..cast.len().min(200)]);
}

#[test]
fn ctrl_c_stops_the_demo_and_its_tmux_server() {
    let (dir, db) = temp_db();
    let mut child = orc_process(&db)
        .args(["demo", "--output"])
        .arg(dir.path().join("out"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = format!("orc-log-demo-{}", child.id());
    let start = Instant::now();
    while !tmux_alive(&socket) {
        assert!(start.elapsed() < Duration::from_secs(60), "the demo did not start tmux");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!tmux_alive(&socket), "tmux server killed on Ctrl-C");
    // What was recorded stays, intact.
    let events = tail_json(&db);
    assert!(!events.is_empty());
    assert_verify_ok(&db, events.len() as u64);
}

#[test]
fn without_tmux_the_demo_says_how_to_install_it() {
    let (_dir, db) = temp_db();
    let out = orc_process(&db).arg("demo").env("PATH", "/nonexistent").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("needs tmux") && err.contains("apt-get install tmux"), "{err}");
    assert!(!db.exists(), "nothing created");
}
