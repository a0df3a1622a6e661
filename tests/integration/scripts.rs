//! The drop-in orchestrator scripts (`scripts/send-claude-message.sh`,
//! `scripts/schedule_with_note.sh`) against a private tmux server: the text
//! reaches the pane and the events reach the log.

use crate::common::*;
use orc_log_tmux::Tmux;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// How long to wait for something to show up in a pane or in the log.
const WAIT: Duration = Duration::from_secs(10);

/// Path of a script in `scripts/`.
fn script(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts")).join(name)
}

/// Runs `scripts/NAME ARGS...` against `server`, logging to `db`.
fn run_script(server: &Tmux, name: &str, db: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::new(script(name));
    cmd.args(args)
        .env("TMUX_SOCKET", socket_of(server))
        .env("ORC_LOG", bin_path())
        .env("ORC_LOG_DB", db)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("RUST_LOG")
        .timeout(TIMEOUT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.write_stdin(Vec::new()).output().unwrap_or_else(|e| panic!("running scripts/{name}: {e}"))
}

/// Whether process `pid` is still running (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => false,
            Ok(stat) => {
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start()).unwrap_or("");
                !(state.starts_with('Z') || state.starts_with('X'))
            }
        }
    } else {
        Command::new("kill").args(["-0", &pid.to_string()]).output().is_ok_and(|o| o.status.success())
    }
}

fn time(ev: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(ev[field].as_str().unwrap_or_else(|| panic!("no {field} in {ev}")))
        .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {ev}"))
        .to_utc()
}

#[test]
fn send_claude_message_types_into_the_pane_and_logs_a_message() {
    let server = tmux_server("t", 120, 30);
    let (_tmp, db) = temp_db();
    let out = run_script(
        &server,
        "send-claude-message.sh",
        &db,
        &[("ORC_LOG_FROM", Path::new("pm"))],
        &["t:0", "echo orc-script-ok"],
    );
    let out = assert_success(out, "send-claude-message.sh t:0 'echo orc-script-ok'");
    assert_eq!(stderr(&out), "", "the script wrote to stderr:\n{}", describe(&out));
    assert!(stdout(&out).contains("Message sent to t:0: echo orc-script-ok"), "{}", describe(&out));

    // The command ran: its output is a line of its own (the typed command line is not).
    wait_for_pane(&server, "t:0", "the output of `echo orc-script-ok`", |text| {
        text.lines().any(|l| l.trim_end() == "orc-script-ok")
    });

    let events = tail_json(&db);
    assert_eq!(events.len(), 1, "one event: {events:?}");
    let ev = &events[0];
    assert_eq!(ev["kind"], "message", "{ev}");
    assert_eq!(ev["from"], "pm", "{ev}");
    assert_eq!(ev["to"], "t:0.0", "{ev}");
    assert_eq!(ev["text"], "echo orc-script-ok", "{ev}");
}

#[test]
fn schedule_with_note_logs_the_schedule_then_fires_into_the_pane() {
    let server = tmux_server("t", 120, 30);
    let (tmp, db) = temp_db();
    let note_file = tmp.path().join("next_check_note.txt");

    let before = chrono::Utc::now();
    let out = run_script(
        &server,
        "schedule_with_note.sh",
        &db,
        &[("ORC_NOTE_FILE", &note_file)],
        &["0.02", "check-in", "t:0"],
    );
    let after = chrono::Utc::now();
    let out = assert_success(out, "schedule_with_note.sh 0.02 check-in t:0");
    assert_eq!(stderr(&out), "", "the script wrote to stderr:\n{}", describe(&out));
    let text = stdout(&out);
    let pid: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("SCHEDULED_PID:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no SCHEDULED_PID:<pid> line:\n{}", describe(&out)));
    let note = std::fs::read_to_string(&note_file).expect("the note file is written");
    assert!(note.lines().any(|l| l == "check-in"), "note file:\n{note}");

    // At once: the schedule, due 0.02 min = 1.2 s after it was logged.
    let events = tail_json(&db);
    assert_eq!(events.len(), 1, "only the schedule so far: {events:?}");
    let ev = &events[0];
    assert_eq!(ev["kind"], "schedule", "{ev}");
    assert_eq!(ev["target"], "t:0.0", "{ev}");
    assert_eq!(ev["note"], "check-in", "{ev}");
    let (ts, due) = (time(ev, "ts"), time(ev, "due"));
    assert!(before <= ts && ts <= after, "ts {ts} should be between {before} and {after}");
    let delay = (due - ts).num_milliseconds();
    assert!((1150..=1250).contains(&delay), "due should be 1.2 s after ts, is {delay} ms: {ev}");

    // Later: the reminder is typed into the pane and submitted ...
    let reminder = "Time for orchestrator check! Note: check-in";
    wait_for_pane(&server, "t:0", "the check-in reminder", |text| text.contains(reminder));
    // ... and, once the background job has logged it and exited, the log has it.
    let deadline = before + chrono::Duration::from_std(WAIT).unwrap();
    while alive(pid) {
        assert!(chrono::Utc::now() < deadline, "the background job (pid {pid}) still runs after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let job_log = std::fs::read_to_string(tmp.path().join("next_check_note.txt.log")).unwrap_or_default();
    assert_eq!(job_log, "", "the background job reported errors");
    let events = tail_json(&db);
    assert_eq!(events.len(), 2, "schedule then schedule_fired: {events:?}");
    let fired = &events[1];
    assert_eq!(fired["kind"], "schedule_fired", "{fired}");
    assert_eq!(fired["target"], "t:0.0", "{fired}");
    assert_eq!(fired["note"], "check-in", "{fired}");
    let late = (time(fired, "ts") - due).num_milliseconds();
    assert!(late >= 0, "schedule_fired at {} is before due {due}", fired["ts"]);
}

/// A pane tmux cannot reach (no such session, or no server on the socket)
/// fails both scripts with exit 1 and a message naming the target, before
/// anything is typed, scheduled or logged.
#[test]
fn scripts_exit_non_zero_when_tmux_cannot_reach_the_target() {
    let server = tmux_server("t", 80, 24);
    let (tmp, db) = temp_db();
    let note_file = tmp.path().join("note.txt");
    let cases: [(&str, &[&str]); 3] = [
        ("schedule_with_note.sh", &["0.05", "note", "nosuch:0"]),
        ("send-claude-message.sh", &["nosuch:0", "hello"]),
        ("send-claude-message.sh", &["t:7", "hello"]),
    ];
    for (name, args) in cases {
        let out = run_script(&server, name, &db, &[("ORC_NOTE_FILE", &note_file)], args);
        assert_exit(&out, 1, &format!("{name} {args:?}"));
        let target = if name.starts_with("send") { args[0] } else { args[2] };
        assert!(
            stderr(&out).contains(&format!("tmux cannot reach '{target}'")),
            "{name} should name {target}:\n{}",
            describe(&out)
        );
        assert!(!stdout(&out).contains("SCHEDULED_PID"), "nothing is scheduled:\n{}", describe(&out));
    }
    // No tmux server at all on the socket.
    let gone = Tmux::named(format!("orc-log-no-server-{}", std::process::id()));
    let out = run_script(&gone, "send-claude-message.sh", &db, &[], &["t:0", "hello"]);
    assert_exit(&out, 1, "send-claude-message.sh without a tmux server");
    assert!(stderr(&out).contains("tmux cannot reach 't:0'"), "{}", describe(&out));
    assert!(!note_file.exists(), "schedule_with_note.sh wrote its note for a missing pane");
    assert!(!db.exists() || tail_json(&db).is_empty(), "nothing is logged: {:?}", tail_json(&db));
}
