//! `orc-log resurrect` on private tmux servers: a recorded team of 2
//! sessions, 3 windows and 5 panes in different directories is rebuilt
//! after its server is killed, with a fake `claude` first on `PATH`.

use crate::common::{BASH, assert_success, run, spawn_recorder, stdout, tail_json, temp_db, wait_recorder};
use orc_log_tmux::{Server, Spawn, Tmux};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Kills a tmux server `resurrect` started, also when the test fails.
struct Kill(Tmux);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill_server();
    }
}

/// Stops an `orc-log serve` (SIGTERM), also when the test fails.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        crate::server::signal(&self.0, "TERM");
        crate::server::wait_exit(&mut self.0);
    }
}

/// Per pane, sorted: `target name geometry dir` (geometry: left,top,WxH).
fn panes(tmux: &Tmux) -> Vec<String> {
    let f = "#{session_name}:#{window_index}.#{pane_index} #{window_name} #{pane_left},#{pane_top},#{pane_width}x#{pane_height} #{pane_current_path}";
    let mut v: Vec<String> =
        tmux.run(["list-panes", "-a", "-F", f]).unwrap().lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// Waits up to 20 s for `ok`.
#[track_caller]
fn wait(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what} did not happen within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The environment the rebuilt panes run in: a fake `claude` first on
/// `PATH` (also after the login shell's /etc/profile, through the
/// `.bash_profile` of a private `HOME`) that appends `CWD ARGS` to `calls`.
struct Env {
    home: PathBuf,
    path: String,
    calls: PathBuf,
}

impl Env {
    fn new(root: &Path) -> Env {
        let bin = root.join("bin");
        let home = root.join("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let calls = root.join("claude-calls");
        let claude = bin.join("claude");
        std::fs::write(&claude, format!("#!/bin/sh\necho \"$(pwd) $*\" >> '{}'\n", calls.display())).unwrap();
        std::fs::set_permissions(&claude, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        std::fs::write(home.join(".bash_profile"), format!("export PATH='{path}'\nexport HISTFILE=\n"))
            .unwrap();
        Env { home, path, calls }
    }

    fn apply(&self, cmd: &mut std::process::Command) {
        cmd.env("PATH", &self.path).env("HOME", &self.home).env("SHELL", "/bin/bash").env_remove("TMUX");
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

/// Whether pane alpha:1.0 shows the recorded `SCREEN-MARK-42` output line.
fn shows_mark(tmux: &Tmux) -> bool {
    tmux.run(["capture-pane", "-p", "-t", "alpha:1.0"])
        .is_ok_and(|screen| screen.lines().any(|l| l.trim_end() == "SCREEN-MARK-42"))
}

fn resurrect(db: &Path, env: &Env, args: &[&str]) -> Output {
    let mut cmd = crate::common::orc_process(db);
    cmd.arg("resurrect").args(args);
    env.apply(&mut cmd);
    cmd.stdin(std::process::Stdio::null()).output().unwrap()
}

#[test]
fn resurrect_rebuilds_the_team_and_resumes_the_latest_agent_session() {
    let (_dir, db) = temp_db();
    // The recorder, the reads and `resurrect` share the database through a server.
    let _serve = Serve(crate::server::start_server(&db));
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..5).map(|i| root.path().join(format!("d{i} x"))).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let dir = |i: usize| dirs[i].to_str().unwrap().to_owned();
    let env = Env::new(root.path());
    let socket = format!("orc-log-test-resurrect-{}", std::process::id());
    let tmux = Tmux::private(&socket).env("HISTFILE", "");
    let server =
        Server::start(tmux.clone(), "alpha", &Spawn::command(BASH).in_dir(&dirs[0]).size(80, 24)).unwrap();
    let _kill = Kill(tmux.clone());
    server.run(["set-option", "-g", "automatic-rename", "off"]).unwrap();
    server.run(["rename-window", "-t", "alpha:0", "lead"]).unwrap();
    server.run(["split-window", "-d", "-h", "-t", "alpha:0.0", "-c", &dir(1), BASH]).unwrap();
    server.run(["new-window", "-d", "-t", "alpha:1", "-n", "eng", "-c", &dir(2), BASH]).unwrap();
    server
        .run(["new-session", "-d", "-s", "beta", "-n", "ops", "-x", "80", "-y", "24", "-c", &dir(3), BASH])
        .unwrap();
    server.run(["split-window", "-d", "-v", "-t", "beta:0.0", "-c", &dir(4), BASH]).unwrap();
    let before = panes(&tmux);
    assert_eq!(before.len(), 5, "{before:?}");

    let mut rec = spawn_recorder(&db, &tmux);
    wait("a pane_state with its directory for every pane", || {
        let states: Vec<Value> = tail_json(&db).into_iter().filter(|e| e["kind"] == "pane_state").collect();
        (0..5).all(|i| states.iter().any(|s| s["cwd"] == dir(i).as_str()))
    });
    // A screen to show again in a pane without an agent.
    server.run(["send-keys", "-t", "alpha:1.0", "-l", "echo SCREEN-MARK-$((6*7))"]).unwrap();
    server.run(["send-keys", "-t", "alpha:1.0", "Enter"]).unwrap();
    wait("a capture of the mark", || {
        tail_json(&db).iter().any(|e| {
            e["kind"] == "capture"
                && e["target"] == "alpha:1.0"
                && e["content"].as_str().is_some_and(|c| c.contains("SCREEN-MARK-42"))
        })
    });
    // Agents: alpha:0.1 started, then resumed (a new session id); beta:0.0
    // started but its transcript is gone.
    let transcripts = root.path().join("transcripts");
    std::fs::create_dir_all(&transcripts).unwrap();
    for id in ["sess-old", "sess-new"] {
        std::fs::write(transcripts.join(format!("{id}.jsonl")), "{}\n").unwrap();
    }
    let start = |target: &str, id: &str, reason: &str| {
        json!({"kind": "agent_session", "target": target, "agent_session_id": id, "phase": "start",
               "reason": reason, "transcript_path": transcripts.join(format!("{id}.jsonl"))})
        .to_string()
    };
    let ingest = |lines: &[String]| {
        assert_success(crate::common::run_stdin(&db, &["ingest"], lines.join("\n") + "\n"), "ingest");
    };
    ingest(&[start("alpha:0.1", "sess-old", "startup"), start("beta:0.0", "sess-beta", "startup")]);
    std::thread::sleep(Duration::from_millis(300));
    let between = orc_log_schemas::format_rfc3339(orc_log_schemas::now_ns());
    std::thread::sleep(Duration::from_millis(300));
    ingest(&[start("alpha:0.1", "sess-new", "resume")]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.kill_server().unwrap();
    let (status, err) = wait_recorder(&mut rec);
    assert!(status.success(), "recorder: {err}");

    // The state at the point before the kill shows what a restore needs.
    let state = stdout(&run(&db, &["state", "--format", "json", "--at", &between]));
    let state: Value = serde_json::from_str(&state).unwrap();
    let alpha = &state["sessions"][0];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(alpha["panes"][1]["cwd"], dir(1).as_str());
    assert_eq!(alpha["panes"][1]["command"], "bash");
    assert!(alpha["panes"][0]["layout"].as_str().is_some_and(|l| l.contains("80x24")), "{alpha}");

    // The run.
    let out = resurrect(&db, &env, &["--tmux-socket", &socket]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("pane beta:0.0")
            && text.contains("no agent started")
            && text.contains("sess-beta.jsonl does not exist"),
        "{text}"
    );
    assert_eq!(panes(&tmux), before, "same sessions, windows, names, layouts and directories");
    wait("the last screen shown in a pane without an agent", || shows_mark(&tmux));
    wait("the fake claude ran", || !env.calls().is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.calls(),
        [format!("{} --resume sess-new", dir(1))],
        "once, in its directory, the later id"
    );
    let resurrected: Vec<Value> = tail_json(&db).into_iter().filter(|e| e["kind"] == "resurrected").collect();
    assert_eq!(resurrected.len(), 1);
    let targets = resurrected[0]["targets"].as_str().unwrap();
    assert_eq!(targets.lines().count(), 5, "{targets}");
    assert!(targets.lines().any(|l| l == "alpha:0.1 alpha:0.1"), "{targets}");

    // A second run creates nothing: refused as it is, nothing to do with --merge.
    let again = resurrect(&db, &env, &["--tmux-socket", &socket]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exist already"), "{again:?}");
    let merged = resurrect(&db, &env, &["--tmux-socket", &socket, "--merge"]);
    assert!(merged.status.success(), "{merged:?}");
    assert!(String::from_utf8_lossy(&merged.stdout).contains("nothing to create"), "{merged:?}");
    assert_eq!(panes(&tmux), before);
    assert_eq!(env.calls().len(), 1, "no agent started again");

    // --at before the resume picks the earlier session id.
    tmux.kill_server().unwrap();
    let out = resurrect(&db, &env, &["--tmux-socket", &socket, "--at", &between]);
    assert!(out.status.success(), "{out:?}");
    wait("the fake claude ran again", || env.calls().len() == 2);
    assert_eq!(env.calls()[1], format!("{} --resume sess-old", dir(1)));
    assert_eq!(panes(&tmux), before);

    // The dry run's shell script does the same.
    tmux.kill_server().unwrap();
    let plan = resurrect(&db, &env, &["--tmux-socket", &socket, "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("start agent: claude --resume sess-new"),
        "{plan:?}"
    );
    assert!(!tmux.is_running(), "a dry run touches no tmux");
    let script = resurrect(&db, &env, &["--tmux-socket", &socket, "--dry-run", "--format", "sh"]);
    assert!(script.status.success(), "{script:?}");
    let path = root.path().join("resurrect.sh");
    std::fs::write(&path, &script.stdout).unwrap();
    let mut sh = std::process::Command::new("sh");
    sh.arg(&path);
    env.apply(&mut sh);
    let ran = sh.output().unwrap();
    assert!(ran.status.success(), "{ran:?}\n{}", String::from_utf8_lossy(&script.stdout));
    assert_eq!(panes(&tmux), before, "the script gives the same result");
    wait("the script shows the last screen too", || shows_mark(&tmux));
    wait("the script's claude ran", || env.calls().len() == 3);
    assert_eq!(env.calls()[2], format!("{} --resume sess-new", dir(1)));
}
