//! `orc-log session record` on a real, private tmux server (`tmux -L`).

use crate::common::{
    BASH, assert_success, bin_path, of_kind, run, socket_of, spawn_recorder, stderr, tail_json, temp_db,
    tmux_server, wait_for_pane, wait_recorder,
};
use orc_log_tmux::Spawn;
use serde_json::Value;
use std::time::Duration;

#[test]
fn records_lifecycle_captures_one_crash_and_no_secrets() {
    let (_dir, db) = temp_db();
    let tmux = tmux_server("work", 100, 20);
    let mut rec = spawn_recorder(&db, &tmux);
    // The recorder owns the database (no server), so watch the pane, not the log.
    std::thread::sleep(Duration::from_millis(800));
    tmux.send_keys("work:0", "echo typed-into-pane-$((6*7)) AKIAIOSFODNN7EXAMPLE").unwrap();
    tmux.new_window("work", &Spawn::command(BASH).named("second")).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    tmux.run(["rename-window", "-t", "work:1", "renamed"]).unwrap();
    tmux.send_keys("work:0", "python3 -c 'import module_that_does_not_exist_42'").unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    // tmux going away ends the recording cleanly.
    tmux.kill_server().unwrap();
    let (status, err) = wait_recorder(&mut rec);
    assert!(status.success(), "recorder failed: {err}");
    assert!(err.contains("tmux server went away"), "{err}");
    let events = tail_json(&db);
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "a secret reached the log");
    assert!(text.contains("[REDACTED:aws-access-key-id]"));
    assert!(text.contains("typed-into-pane-42"), "typed output is in the captures");
    assert_eq!(of_kind(&events, "session_opened").len(), 1);
    assert_eq!(of_kind(&events, "session_closed").len(), 1);
    let opened: Vec<&str> =
        of_kind(&events, "window_opened").iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(opened, ["work:0.0", "work:1.0"]);
    let renamed = of_kind(&events, "window_renamed");
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0]["name"], "renamed");
    let crashes = of_kind(&events, "crash");
    assert_eq!(crashes.len(), 1, "exactly one crash for one traceback: {crashes:?}");
    assert_eq!(crashes[0]["target"], "work:0.0");
    assert_eq!(crashes[0]["detector"], "python-traceback");
    assert!(crashes[0]["excerpt"].as_str().unwrap().contains("module_that_does_not_exist_42"));
    // No capture is appended for an unchanged pane.
    for target in ["work:0.0", "work:1.0"] {
        let caps: Vec<&Value> =
            of_kind(&events, "capture").into_iter().filter(|e| e["target"] == target).collect();
        assert!(!caps.is_empty(), "{target} was captured");
        for pair in caps.windows(2) {
            assert_ne!(pair[0]["content"], pair[1]["content"], "{target}: an unchanged capture was appended");
        }
        assert_eq!(caps[0]["width"], 100);
    }
    assert_success(run(&db, &["verify"]), "verify");
}

#[test]
fn duration_and_session_filter_and_missing_server() {
    let (_dir, db) = temp_db();
    let tmux = tmux_server("keep", 100, 20);
    tmux.new_session("skip", &Spawn::command(BASH)).unwrap();
    let out = run(
        &db,
        &[
            "session",
            "record",
            "--tmux-socket",
            socket_of(&tmux),
            "--session",
            "keep",
            "--interval",
            "100ms",
            "--duration",
            "700ms",
        ],
    );
    assert_success(out, "record with --duration");
    let events = tail_json(&db);
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["session"] == "keep" || e["target"].as_str().is_some_and(|t| t.starts_with("keep:")))
    );
    assert!(of_kind(&events, "session_closed").is_empty(), "sessions still open at the end of --duration");
    // No tmux server at all (a mistyped socket): an error naming it, nothing appended.
    let (_dir2, db2) = temp_db();
    let out =
        run(&db2, &["session", "record", "--tmux-socket", "orc-log-no-such-server", "--interval", "100ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no tmux server answers") && err.contains("-L orc-log-no-such-server"), "{err}");
    assert!(!db2.exists(), "nothing recorded, no database created");
}

#[test]
fn an_agent_exiting_to_the_shell_prompt_is_one_crash() {
    let (_dir, db) = temp_db();
    let tmux = tmux_server("agents", 100, 20);
    // A long-running "agent" that exits after ~1.5 s.
    tmux.send_keys("agents:0", "sleep 1.5").unwrap();
    let out = run(
        &db,
        &[
            "session",
            "record",
            "--tmux-socket",
            socket_of(&tmux),
            "--interval",
            "100ms",
            "--duration",
            "3s",
            "--agent-min-runtime",
            "1s",
        ],
    );
    assert_success(out, "record");
    let events = tail_json(&db);
    let crashes = of_kind(&events, "crash");
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    assert_eq!(crashes[0]["detector"], "prompt-returned");
    assert!(crashes[0]["reason"].as_str().unwrap().contains("sleep exited"), "{}", crashes[0]);
}

#[test]
fn emit_redacts_secrets_in_messages_and_captures() {
    let (_dir, db) = temp_db();
    let out = run(
        &db,
        &["emit", "message", "--from", "pm", "--to", "p:1", "--text", "use AKIAIOSFODNN7EXAMPLE now"],
    );
    assert_success(out, "emit message");
    let text = serde_json::to_string(&tail_json(&db)).unwrap();
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"));
    assert!(text.contains("use [REDACTED:aws-access-key-id] now"), "{text}");
    let out = run(
        &db,
        &["emit", "--no-redact", "message", "--from", "pm", "--to", "p:1", "--text", "AKIAIOSFODNN7EXAMPLE"],
    );
    assert_success(out, "emit --no-redact");
    assert!(serde_json::to_string(&tail_json(&db)).unwrap().contains("AKIAIOSFODNN7EXAMPLE"));
}

#[test]
fn replay_plays_on_a_terminal_also_through_a_server() {
    let (_dir, db) = temp_db();
    crate::common::ingest_fixture(&db);
    let mut server = crate::server::start_server(&db);
    // A tmux pane is the terminal the replay plays on.
    let cmd = format!(
        "{} --db {} session replay proj:1.0 --speed 50 --idle-limit 100ms; echo EXIT=$?; sleep 30",
        bin_path().display(),
        db.display()
    );
    let tmux = tmux_server("viewer", 100, 20);
    tmux.run(["respawn-pane", "-k", "-t", "viewer:0", &cmd]).unwrap();
    let screen = wait_for_pane(&tmux, "viewer:0", "the replay's exit", |text| text.contains("EXIT="));
    assert!(screen.contains("replayed 16 frames of proj:1.0"), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    crate::server::signal(&server, "TERM");
    assert!(crate::server::wait_exit(&mut server).success());
}

#[test]
fn records_without_a_utf8_locale() {
    // Under LANG=C tmux prints tabs and non-ASCII text as `_` unless asked
    // for UTF-8 (`tmux -u`): cron jobs and services often run so.
    let (_dir, db) = temp_db();
    let tmux = tmux_server("cloc", 100, 20);
    tmux.send_keys("cloc:0", "echo héllo-$((6*7))").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = crate::common::orc(&db)
        .args([
            "session",
            "record",
            "--tmux-socket",
            socket_of(&tmux),
            "--interval",
            "200ms",
            "--duration",
            "1s",
        ])
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .env("LANG", "C")
        .output()
        .unwrap();
    assert_success(out, "record under LANG=C");
    let events = tail_json(&db);
    let captures = of_kind(&events, "capture");
    assert!(!captures.is_empty(), "panes are listed and captured: {events:?}");
    assert_eq!(captures[0]["target"], "cloc:0.0");
    assert!(captures.iter().any(|c| c["content"].as_str().unwrap().contains("héllo-42")), "{captures:?}");
}

/// Polls the log (through its server) until `ok` holds for its events, for
/// at most 20 s; returns them.
#[track_caller]
fn wait_for_log(db: &std::path::Path, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = std::time::Instant::now();
    loop {
        let events = tail_json(db);
        if ok(&events) {
            return events;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what} did not reach the log: {events:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn captures_with<'a>(events: &'a [Value], text: &str) -> Vec<&'a Value> {
    of_kind(events, "capture").into_iter().filter(|e| e["content"].as_str().unwrap().contains(text)).collect()
}

#[test]
fn a_recording_outlives_a_server_restart_and_a_recorder_restart() {
    use crate::server::{signal, start_server, wait_exit};
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    let tmux = tmux_server("work", 100, 20);
    let mut rec = spawn_recorder(&db, &tmux);
    tmux.send_keys("work:0", "echo before-$((1+1))").unwrap();
    wait_for_log(&db, "the first capture", |ev| !captures_with(ev, "before-2").is_empty());
    tmux.send_keys("work:0", "python3 -c 'import module_gone_across_restarts_77'").unwrap();
    wait_for_log(&db, "the crash", |ev| of_kind(ev, "crash").len() == 1);
    // The server stops: the recorder goes on, and what it sees waits.
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    tmux.send_keys("work:0", "echo during-$((2+2))").unwrap();
    wait_for_pane(&tmux, "work:0", "the output typed while no server runs", |t| t.contains("during-4"));
    std::thread::sleep(Duration::from_millis(800));
    assert!(rec.try_wait().unwrap().is_none(), "the recorder ended with its server");
    let mut server = start_server(&db);
    tmux.send_keys("work:0", "echo after-$((3+3))").unwrap();
    wait_for_log(&db, "the capture after the restart", |ev| !captures_with(ev, "after-6").is_empty());
    // The recorder restarts with the traceback still on screen.
    signal(&rec, "INT");
    let (status, first_err) = wait_recorder(&mut rec);
    assert!(status.success(), "first recorder: {first_err}");
    assert!(first_err.contains("lost the server of"), "{first_err}");
    assert!(first_err.contains("answers again"), "{first_err}");
    let before_restart = tail_json(&db).len();
    let mut rec = spawn_recorder(&db, &tmux);
    std::thread::sleep(Duration::from_millis(1500));
    let logged = tail_json(&db);
    assert_eq!(
        logged.len(),
        before_restart,
        "a restarted recorder logged again: {:?}",
        &logged[before_restart..]
    );
    tmux.send_keys("work:0", "echo last-$((4+4))").unwrap();
    let shown = wait_for_pane(&tmux, "work:0", "the last output", |t| t.contains("last-8"));
    wait_for_log(&db, "the last capture", |ev| !captures_with(ev, "last-8").is_empty());
    tmux.kill_server().unwrap();
    let (status, err) = wait_recorder(&mut rec);
    assert!(status.success(), "second recorder: {err}");
    let events = tail_json(&db);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());

    assert_eq!(of_kind(&events, "session_opened").len(), 1, "{events:?}");
    assert_eq!(of_kind(&events, "window_opened").len(), 1, "{events:?}");
    assert_eq!(of_kind(&events, "session_closed").len(), 1, "{events:?}");
    let crashes = of_kind(&events, "crash");
    assert_eq!(crashes.len(), 1, "one traceback on screen across both restarts: {crashes:?}");
    assert!(crashes[0]["excerpt"].as_str().unwrap().contains("module_gone_across_restarts_77"));
    // Nothing was lost while the server was away, nothing stored twice.
    for text in ["before-2", "during-4", "after-6", "last-8"] {
        assert!(!captures_with(&events, text).is_empty(), "no capture shows {text}");
    }
    let captures = of_kind(&events, "capture");
    for pair in captures.windows(2) {
        assert_ne!(pair[0]["content"], pair[1]["content"], "an unchanged screen was stored twice");
    }
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "an event was appended twice");
    // The last capture is what tmux showed.
    let last = captures.last().unwrap()["content"].as_str().unwrap();
    assert_eq!(last.trim_end(), shown.trim_end());
}
