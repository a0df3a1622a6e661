//! `orc-log hook`: Claude Code hook payloads for every documented event,
//! inside a real tmux pane and outside tmux; Pre/Post pairing; redaction;
//! and the spool when the database is locked or missing.

use crate::common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// A payload shaped as Claude Code's hooks reference documents it, plus a
/// field no version sends (unknown fields must be kept, not rejected).
fn payload(event: &str, extra: Value) -> Value {
    let mut p = json!({
        "session_id": "sess-1234",
        "transcript_path": "/home/dev/.claude/projects/app/sess-1234.jsonl",
        "cwd": "/home/dev/app",
        "permission_mode": "default",
        "hook_event_name": event,
        "future_field": {"added_in": "a later Claude Code"},
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

const SECRET: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

/// Every hook event the issue names, in a realistic order.
fn all_payloads() -> Vec<Value> {
    vec![
        payload("SessionStart", json!({"source": "startup", "model": "claude-sonnet"})),
        payload("UserPromptSubmit", json!({"prompt": "Fix the failing parser test"})),
        payload(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_use_id": "toolu_A",
                   "tool_input": {"command": format!("GITHUB_TOKEN={SECRET} cargo test"), "description": "run tests"}}),
        ),
        payload(
            "PostToolUse",
            json!({"tool_name": "Bash", "tool_use_id": "toolu_A",
                   "tool_input": {"command": "cargo test"}, "tool_response": {"stdout": "ok", "stderr": ""}}),
        ),
        payload(
            "PreToolUse",
            json!({"tool_name": "Read", "tool_use_id": "toolu_B", "tool_input": {"file_path": "/x"}}),
        ),
        payload(
            "PostToolUseFailure",
            json!({"tool_name": "Read", "tool_use_id": "toolu_B", "tool_input": {"file_path": "/x"},
                   "error": "File does not exist.", "is_interrupt": false}),
        ),
        payload(
            "Notification",
            json!({"message": "Claude needs your permission to use Bash", "notification_type": "permission_prompt"}),
        ),
        payload(
            "SubagentStop",
            json!({"stop_hook_active": false, "agent_id": "agent-7", "agent_transcript_path": "/t"}),
        ),
        payload("Stop", json!({"stop_hook_active": false})),
        payload("PreCompact", json!({"trigger": "auto", "custom_instructions": ""})),
        payload("SessionEnd", json!({"reason": "logout"})),
    ]
}

/// Runs `orc-log hook ARGS` with `input` on stdin, outside tmux.
fn hook(db: &Path, args: &[&str], input: &str) -> Output {
    let out = orc(db)
        .arg("hook")
        .args(args)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("ORC_LOG_SPOOL")
        .write_stdin(input.as_bytes().to_vec())
        .output()
        .unwrap();
    assert_exit(&out, 0, "a hook always exits 0");
    assert!(out.stdout.is_empty(), "a hook prints nothing on stdout:\n{}", describe(&out));
    out
}

fn field<'a>(e: &'a Value, k: &str) -> &'a str {
    e[k].as_str().unwrap_or_default()
}

#[test]
fn every_hook_event_lands_with_its_kind_target_and_fields() {
    let (_dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "start"]), "create the database");
    for p in all_payloads() {
        hook(&db, &["--target", "team:1.0"], &p.to_string());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Not JSON at all: kept, not lost, still exit 0.
    hook(&db, &["--target", "team:1.0"], "this is not json");
    let events = tail_json(&db);
    let kinds: Vec<&str> = events.iter().skip(1).map(|e| field(e, "kind")).collect();
    assert_eq!(
        kinds,
        [
            "agent_session",
            "prompt",
            "tool_call",
            "tool_call",
            "tool_call",
            "tool_call",
            "notification",
            "agent_stop",
            "agent_stop",
            "agent_hook",
            "agent_session",
            "agent_hook"
        ]
    );
    for e in events.iter().skip(1) {
        assert_eq!(field(e, "target"), "team:1.0", "{e}");
    }
    for e in events.iter().skip(1).take(11) {
        assert!(field(e, "raw").contains("future_field"), "unknown fields are kept: {e}");
    }
    let start = &events[1];
    assert_eq!((field(start, "phase"), field(start, "reason")), ("start", "startup"));
    assert_eq!(field(start, "agent_session_id"), "sess-1234");
    assert_eq!(field(start, "cwd"), "/home/dev/app");
    assert_eq!(field(&events[2], "text"), "Fix the failing parser test");
    let pre = &events[3];
    assert_eq!(
        (field(pre, "phase"), field(pre, "tool"), field(pre, "tool_use_id")),
        ("pre", "Bash", "toolu_A")
    );
    assert!(field(pre, "input").contains("[REDACTED:github-token] cargo test"), "{pre}");
    assert!(!tail_json_raw(&db).contains(SECRET), "the token is stored nowhere");
    assert_eq!(field(&events[4], "phase"), "post");
    assert!(field(&events[4], "response").contains("\"stdout\":\"ok\""));
    assert_eq!(
        (field(&events[6], "phase"), field(&events[6], "response")),
        ("failure", "File does not exist.")
    );
    assert_eq!(field(&events[7], "notification_type"), "permission_prompt");
    assert_eq!(field(&events[8], "agent_id"), "agent-7");
    assert!(events[9].get("agent_id").is_none());
    assert_eq!(field(&events[10], "event"), "PreCompact");
    assert_eq!((field(&events[11], "phase"), field(&events[11], "reason")), ("end", "logout"));
    assert_eq!(field(&events[12], "event"), "invalid-payload");

    // Pre/Post pairs give durations: the difference of the two events' times.
    let out = assert_success(
        run(
            &db,
            &[
                "query",
                "--format",
                "csv",
                "SELECT tool, phase, duration_ns FROM tool_calls WHERE phase <> 'pre' ORDER BY seq",
            ],
        ),
        "query tool_calls",
    );
    let ns = |e: &Value| orc_log_schemas::parse_rfc3339(field(e, "ts")).unwrap();
    let rows: Vec<String> = stdout(&out).lines().skip(1).map(str::to_owned).collect();
    assert_eq!(
        rows,
        [
            format!("Bash,post,{}", ns(&events[4]) - ns(&events[3])),
            format!("Read,failure,{}", ns(&events[6]) - ns(&events[5]))
        ]
    );
    let metrics = stdout(&assert_success(run(&db, &["metrics", "--format", "prometheus"]), "metrics"));
    assert!(
        metrics.contains(r#"orc_log_tool_calls_total{target="team:1.0",tool="Bash",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"orc_log_tool_calls_total{target="team:1.0",tool="Read",outcome="failure"} 1"#)
    );
    assert!(metrics.contains(r#"orc_log_tool_call_duration_seconds_count{tool="Bash"} 1"#));

    // The same hook delivered twice (a retried tool call) is stored once.
    let before = tail_json(&db).len();
    hook(&db, &["--target", "team:1.0"], &all_payloads()[2].to_string());
    assert_eq!(tail_json(&db).len(), before);
}

#[test]
fn a_permission_request_marks_the_pane_waiting_and_a_stop_makes_it_idle() {
    let (_dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "start"]), "create the database");
    let status = || -> String {
        let out = assert_success(run(&db, &["state", "--format", "json"]), "state");
        let state: Value = serde_json::from_slice(&out.stdout).unwrap();
        let pane = &state["sessions"][0]["panes"][0];
        format!("{} {}", field(pane, "status"), pane["current_tool"]["tool"].as_str().unwrap_or("-"))
    };
    let p = all_payloads();
    hook(&db, &["--target", "team:1.0"], &p[1].to_string());
    assert_eq!(status(), "active -");
    hook(&db, &["--target", "team:1.0"], &p[2].to_string());
    assert_eq!(status(), "active Bash");
    hook(&db, &["--target", "team:1.0"], &p[6].to_string());
    assert_eq!(status(), "waiting Bash");
    hook(&db, &["--target", "team:1.0"], &p[3].to_string());
    assert_eq!(status(), "active -");
    hook(&db, &["--target", "team:1.0"], &p[8].to_string());
    assert_eq!(status(), "idle -");
}

#[test]
fn inside_a_tmux_pane_the_hook_finds_its_own_target() {
    let (dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "start"]), "create the database");
    let tmux = tmux_server("agents", 100, 30);
    tmux.run(["new-window", "-d", "-t", "agents:3", BASH]).unwrap();
    wait_for_pane(&tmux, "agents:3", "the prompt", |t| !t.trim().is_empty());
    let file = dir.path().join("payload.json");
    std::fs::write(&file, all_payloads()[1].to_string()).unwrap();
    let command = format!(
        "ORC_LOG_DB={} {} hook < {}; echo hook-exit=$?",
        db.display(),
        bin_path().display(),
        file.display()
    );
    tmux.send_keys("agents:3.0", &command).unwrap();
    wait_for_pane(&tmux, "agents:3.0", "the hook's exit status", |t| t.contains("hook-exit=0"));
    let events = tail_json(&db);
    let prompt = of_kind(&events, "prompt");
    assert_eq!(prompt.len(), 1, "{events:?}");
    assert_eq!(field(prompt[0], "target"), "agents:3.0");
}

#[test]
fn a_locked_or_missing_database_spools_and_nothing_is_lost() {
    let (dir, db) = temp_db();
    let spool = dir.path().join("db.hook-spool.ndjson");
    let p = all_payloads();
    // Missing database: spooled beside it, and the database is not created.
    let out = hook(&db, &[], &p[0].to_string());
    assert!(stderr(&out).contains("spooled"), "{}", describe(&out));
    assert!(!db.exists(), "a hook does not create a database");
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 1);

    // Locked: an `ingest` reading a stdin that stays open holds the database.
    assert_success(run(&db, &["emit", "marker", "--label", "created"]), "create the database");
    let mut holder =
        orc_process(&db).arg("ingest").stdin(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut holder_in = holder.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for payload in &p[1..4] {
        let started = Instant::now();
        let out = hook(&db, &["--timeout", "100ms"], &payload.to_string());
        assert!(stderr(&out).contains("spooled"), "{}", describe(&out));
        assert!(started.elapsed() < Duration::from_secs(5), "a busy database does not hold the agent up");
    }
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 4);
    writeln!(holder_in, r#"{{"kind":"marker","label":"from the holder"}}"#).unwrap();
    drop(holder_in);
    assert!(holder.wait().unwrap().success());

    // The next hook appends the spool first, then its own event; once each.
    hook(&db, &[], &p[4].to_string());
    assert_eq!(std::fs::read_to_string(&spool).unwrap(), "", "the spool is empty");
    let events = tail_json(&db);
    let kinds: Vec<&str> = events.iter().map(|e| field(e, "kind")).collect();
    assert_eq!(kinds, ["marker", "marker", "agent_session", "prompt", "tool_call", "tool_call", "tool_call"]);

    // `serve` appends what was spooled while it was down, when it starts.
    std::fs::remove_dir_all(&db).unwrap();
    hook(&db, &[], &p[5].to_string());
    assert_success(run(&db, &["emit", "marker", "--label", "recreated"]), "recreate");
    let mut server =
        orc_process(&db).arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    let events = tail_json(&db);
    assert_eq!(of_kind(&events, "tool_call").len(), 1, "{events:?}");
    let _ = std::process::Command::new("kill").arg(server.id().to_string()).status();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// `orc-log --db DIR hook install` writes `--db` (made absolute) into the
/// hook command, so the hooks Claude Code runs (in another directory,
/// without $ORC_LOG_DB) feed that database; installing again without --db
/// recognises the entry as orc-log's and points it back at the default.
#[test]
fn hook_install_with_db_writes_the_database_into_the_hook_command() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = tmp.path().join("settings.json");
    let install = |db: Option<&str>| {
        let mut cmd = assert_cmd::Command::new(bin_path());
        cmd.current_dir(tmp.path()).env_remove("ORC_LOG_DB").timeout(TIMEOUT);
        if let Some(db) = db {
            cmd.args(["--db", db]);
        }
        cmd.args(["hook", "install", "--settings"]).arg(&settings).output().unwrap()
    };
    let commands = || -> Vec<String> {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
        v["hooks"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|groups| groups.as_array().unwrap().clone())
            .flat_map(|g| g["hooks"].as_array().unwrap().clone())
            .map(|h| h["command"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_success(install(Some("team-db")), "hook install with a relative --db");
    let db = tmp.path().join("team-db");
    let want = format!("{} --db {} hook", bin_path().display(), db.display());
    let cmds = commands();
    assert_eq!(cmds.len(), 10, "{cmds:?}");
    assert!(cmds.iter().all(|c| *c == want), "every hook runs `{want}`: {cmds:?}");

    assert_success(run(&db, &["emit", "marker", "--label", "start"]), "create the database");
    // The hook as Claude Code runs it: through a shell, elsewhere, no $ORC_LOG_DB.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new("sh")
        .args(["-c", &format!("{want} --target proj:1.0")])
        .current_dir(elsewhere.path())
        .env_remove("ORC_LOG_DB")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("ORC_LOG_SPOOL")
        .write_stdin(payload("UserPromptSubmit", json!({"prompt": "hello"})).to_string())
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_success(out, "the installed hook command");
    let events = tail_json(&db);
    assert_eq!(events.len(), 2, "the hook fed --db {}: {events:?}", db.display());
    assert_eq!(events[1]["kind"], "prompt", "{}", events[1]);

    // Installing again without --db updates the same entries (no duplicates).
    let out = assert_success(install(None), "hook install without --db");
    assert!(stderr(&out).contains("updated the command"), "{}", describe(&out));
    let plain = format!("{} hook", bin_path().display());
    let cmds = commands();
    assert!(cmds.len() == 10 && cmds.iter().all(|c| *c == plain), "{cmds:?}");
}
