//! `orc-log session record` on a real, private tmux server (`tmux -L`).

use crate::common::{assert_success, bin_path, of_kind, orc_process, run, stderr, tail_json, temp_db};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private tmux server, killed on drop.
pub struct TmuxServer {
    /// Its socket name (`tmux -L`).
    pub socket: String,
}

impl TmuxServer {
    /// Starts a server with session `name` running a plain bash.
    pub fn start(name: &str) -> Self {
        let socket = format!("orc-log-test-{}-{name}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "100",
                "-y",
                "20",
            ])
            .arg("bash --norc --noprofile")
            .status()
            .expect("tmux must be installed for these tests (apt-get install tmux)");
        assert!(ok.success(), "tmux new-session failed");
        let server = Self { socket };
        // Window names change only when the test renames them (tmux would
        // otherwise rename a window after its running command).
        server.tmux(&["set-option", "-g", "automatic-rename", "off"]);
        server.tmux(&["set-window-option", "-t", &format!("{name}:0"), "automatic-rename", "off"]);
        server
    }

    /// Runs `tmux -L SOCKET ARGS...` and asserts it succeeded.
    pub fn tmux(&self, args: &[&str]) {
        let ok = Command::new("tmux").args(["-L", &self.socket]).args(args).status().unwrap();
        assert!(ok.success(), "tmux {args:?} failed");
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).stderr(Stdio::null()).status();
    }
}

#[test]
fn records_lifecycle_captures_one_crash_and_no_secrets() {
    let (_dir, db) = temp_db();
    let tmux = TmuxServer::start("work");
    let mut rec = orc_process(&db)
        .args(["session", "record", "--tmux-socket", &tmux.socket, "--interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The recorder owns the database (no server), so watch the pane, not the log.
    std::thread::sleep(Duration::from_millis(800));
    tmux.tmux(&["send-keys", "-t", "work:0", "echo typed-into-pane-$((6*7)) AKIAIOSFODNN7EXAMPLE", "Enter"]);
    tmux.tmux(&["new-window", "-t", "work", "-n", "second", "bash --norc --noprofile"]);
    std::thread::sleep(Duration::from_millis(600));
    tmux.tmux(&["rename-window", "-t", "work:1", "renamed"]);
    tmux.tmux(&["send-keys", "-t", "work:0", "python3 -c 'import module_that_does_not_exist_42'", "Enter"]);
    std::thread::sleep(Duration::from_millis(2000));
    // tmux going away ends the recording cleanly.
    tmux.tmux(&["kill-server"]);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = rec.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "recorder did not stop after tmux went away");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(rec.stderr.as_mut().unwrap(), &mut err).unwrap();
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
    let tmux = TmuxServer::start("keep");
    tmux.tmux(&["new-session", "-d", "-s", "skip", "bash --norc --noprofile"]);
    let out = run(
        &db,
        &[
            "session",
            "record",
            "--tmux-socket",
            &tmux.socket,
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
    // No tmux server at all: a clean stop, nothing appended.
    let (_dir2, db2) = temp_db();
    let out =
        run(&db2, &["session", "record", "--tmux-socket", "orc-log-no-such-server", "--interval", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("tmux server went away"));
}

#[test]
fn an_agent_exiting_to_the_shell_prompt_is_one_crash() {
    let (_dir, db) = temp_db();
    let tmux = TmuxServer::start("agents");
    // A long-running "agent" that exits after ~1.5 s.
    tmux.tmux(&["send-keys", "-t", "agents:0", "sleep 1.5", "Enter"]);
    let out = run(
        &db,
        &[
            "session",
            "record",
            "--tmux-socket",
            &tmux.socket,
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
        "{} --db {} session replay proj:1.0 --speed 50 --idle-limit 0.1; echo EXIT=$?; sleep 30",
        bin_path().display(),
        db.display()
    );
    let tmux = TmuxServer::start("viewer");
    tmux.tmux(&["respawn-pane", "-k", "-t", "viewer:0", &cmd]);
    let start = Instant::now();
    let screen = loop {
        let out = Command::new("tmux")
            .args(["-L", &tmux.socket, "capture-pane", "-p", "-t", "viewer:0"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("EXIT=") {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "replay did not finish:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
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
    let tmux = TmuxServer::start("cloc");
    tmux.tmux(&["send-keys", "-t", "cloc:0", "echo héllo-$((6*7))", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    let out = crate::common::orc(&db)
        .args(["session", "record", "--tmux-socket", &tmux.socket, "--interval", "200ms", "--duration", "1s"])
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
