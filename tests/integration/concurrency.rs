//! One database, many processes: commands wait instead of failing, a server
//! started in the background is usable at once, and every path into the log
//! applies the same rules.

use crate::common::{assert_success, orc, orc_process, run, run_stdin, stderr, stdout, tail_json, temp_db};
use crate::server::{frame, read_response, signal, wait_exit};
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `orc-log serve` in the background, as `orc-log serve &` starts it.
fn spawn_server(db: &Path) -> Child {
    orc_process(db)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for the `ready` line the server prints once its socket accepts.
fn wait_ready(server: &mut Child) {
    let out = server.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
}

/// The README's `orc-log serve & orc-log emit ...`, with no sleep between,
/// 20 times: the emit always lands and the server always keeps running.
#[test]
fn serve_in_the_background_then_emit_works_every_time() {
    for round in 0..20 {
        let (_dir, db) = temp_db();
        let mut server = spawn_server(&db);
        let label = format!("round {round}");
        let out = run(&db, &["emit", "marker", "--label", &label]);
        assert_success(out, &format!("emit right after serve & (round {round})"));
        assert!(server.try_wait().unwrap().is_none(), "round {round}: the server exited");
        wait_ready(&mut server);
        // The event is in the log the server owns.
        let events = tail_json(&db);
        assert_eq!(events.len(), 1, "round {round}");
        assert_eq!(events[0]["label"], label.as_str());
        signal(&server, "TERM");
        assert!(wait_exit(&mut server).success(), "round {round}: clean shutdown");
    }
}

/// Emits per writer in [`concurrent_writers_without_a_server_store_every_event_once`]
/// (`ORC_LOG_TEST_EMITS` raises it, e.g. to the issue's 200).
fn emits_per_writer() -> usize {
    std::env::var("ORC_LOG_TEST_EMITS").ok().and_then(|v| v.parse().ok()).unwrap_or(40)
}

/// Eight processes emitting at once with no server: each emit waits for the
/// database instead of failing, and every event is stored exactly once.
#[test]
fn concurrent_writers_without_a_server_store_every_event_once() {
    let (_dir, db) = temp_db();
    let per = emits_per_writer();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    let id = format!("w{w}-{i}");
                    let out = orc(&db)
                        .args([
                            "emit", "--id", &id, "message", "--from", "eng", "--to", "proj:1.0", "--text",
                            &id,
                        ])
                        .write_stdin(Vec::new())
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "emit {id} failed: {}", stderr(&out));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let events = tail_json(&db);
    assert_eq!(events.len(), 8 * per, "every emit stored");
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 8 * per, "each exactly once");
    assert_success(run(&db, &["verify"]), "verify");
}

/// A command holding the database (an `ingest` reading its stdin) makes a
/// second writer wait up to `--lock-timeout`, then fail naming the holder;
/// within the timeout it goes through as soon as the holder finishes.
#[test]
fn a_writer_waits_for_the_lock_then_names_the_holder() {
    let (_dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "first"]), "create");
    let mut holder = hold_database(&db);
    let start = Instant::now();
    let out = run(&db, &["--lock-timeout", "400ms", "emit", "marker", "--label", "second"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(400), "it waited");
    assert!(err.contains(&format!("in use by process {}", holder.id())), "{err}");
    assert!(err.contains("ingest"), "names the holder's command line: {err}");
    assert!(err.contains("waited 0.4 s"), "{err}");
    // With time to wait, the same emit lands once the holder lets go.
    let waiter = {
        let db = db.clone();
        std::thread::spawn(move || run(&db, &["emit", "marker", "--label", "third"]))
    };
    std::thread::sleep(Duration::from_millis(500));
    drop(holder.stdin.take());
    assert!(wait_exit(&mut holder).success());
    assert_success(waiter.join().unwrap(), "the waiting emit");
    let labels: Vec<Value> = tail_json(&db).iter().map(|e| e["label"].clone()).collect();
    assert_eq!(labels, ["first", "third"]);
}

/// Starts `orc-log ingest -` and waits until it holds the database lock.
fn hold_database(db: &Path) -> Child {
    let holder = orc_process(db)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let pid = holder.id().to_string();
    while std::fs::read_to_string(db.join("LOCK")).unwrap_or_default().lines().next() != Some(pid.as_str()) {
        assert!(start.elapsed() < Duration::from_secs(20), "the holder never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    holder
}

/// `serve` started while a short command holds the database waits for it,
/// then serves, and tells systemd and scripts when it is ready.
#[test]
fn serve_waits_for_a_holder_then_announces_ready() {
    let (dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "first"]), "create");
    let mut holder = hold_database(&db);
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let ready_file = dir.path().join("ready-fd.txt");
    // `--ready-fd 3` with fd 3 opened by the shell, as a script would.
    let mut server = std::process::Command::new("bash")
        .arg("-c")
        .arg("exec \"$0\" --db \"$1\" serve --ready-fd 3 3>\"$2\" 2>/dev/null")
        .arg(crate::common::bin_path())
        .arg(&db)
        .arg(&ready_file)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("ORC_LOG_DB")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(server.try_wait().unwrap().is_none(), "serve waits instead of failing");
    drop(holder.stdin.take());
    assert!(wait_exit(&mut holder).success());
    wait_ready(&mut server);
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    assert_eq!(std::fs::read_to_string(&ready_file).unwrap(), "ready\n");
    assert_success(run(&db, &["emit", "marker", "--label", "through the server"]), "emit");
    assert_eq!(tail_json(&db).len(), 2);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

/// Lines `ingest` rejects, each with the detail it must report.
fn rejected_lines() -> Vec<(String, &'static str)> {
    vec![
        (r#"{"kind":"marker","label":""}"#.into(), r#"bad value "label": must not be empty"#),
        (
            r#"{"kind":"crash","target":"a b:0.0","reason":"r"}"#.into(),
            r#"bad target "target": bad session name "a b""#,
        ),
        (
            format!(r#"{{"kind":"marker","label":"x","id":"{}"}}"#, "i".repeat(129)),
            r#"bad value "id": 129 bytes"#,
        ),
        (
            r#"{"kind":"message","from":"","to":"s:0.0","text":"t"}"#.into(),
            r#"bad value "from": must not be empty"#,
        ),
        (
            r#"{"kind":"session_opened","session":"x.y"}"#.into(),
            r#"bad value "session": bad session name "x.y""#,
        ),
        (r#"{"kind":"marker","label":"x","colour":"red"}"#.into(), r#"unknown field "colour""#),
    ]
}

/// An event `ingest` rejects is rejected with the same message on the
/// server's socket, through a server's `ingest`, and by `emit`; nothing is
/// stored and the server keeps serving.
#[test]
fn an_event_ingest_rejects_is_rejected_on_every_path() {
    let (_dir, db) = temp_db();
    // Without a server: ingest names the line and the rule.
    for (line, detail) in rejected_lines() {
        let out = run_stdin(&db, &["ingest", "-"], format!("{line}\n"));
        assert!(!out.status.success());
        assert!(stderr(&out).contains(&format!("line 1: {detail}")), "ingest {line}: {}", stderr(&out));
    }
    assert_success(run(&db, &["emit", "marker", "--label", "ok"]), "create");
    let mut server = spawn_server(&db);
    wait_ready(&mut server);
    // The socket, as a hostile or buggy client would use it.
    let mut s = UnixStream::connect(db.join("serve.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (line, detail) in rejected_lines() {
        let req = format!(r#"{{"v":1,"op":"append","events":[{{"kind":"marker","label":"fine"}},{line}]}}"#);
        s.write_all(&frame(req.as_bytes())).unwrap();
        let resp = read_response(&mut s).expect("a response");
        assert_eq!(resp["type"], "error", "{resp}");
        let msg = resp["message"].as_str().unwrap();
        assert!(msg.contains(&format!("event 2 of the batch is invalid: {detail}")), "socket {line}: {msg}");
    }
    // Events in serde's internal shape (not format v1) are refused too.
    let req = br#"{"v":1,"op":"append","events":[{"ts_ns":1,"id":null,"body":{"Marker":{"label":"x","target":null}}}]}"#;
    s.write_all(&frame(req)).unwrap();
    let resp = read_response(&mut s).expect("a response");
    assert!(resp["message"].as_str().unwrap().contains(r#"missing field "kind""#), "{resp}");
    // The connection still works, and a valid append through it lands.
    s.write_all(&frame(br#"{"v":1,"op":"append","events":[{"kind":"marker","label":"via socket"}]}"#))
        .unwrap();
    let resp = read_response(&mut s).expect("a response");
    assert_eq!(resp["type"], "appended", "{resp}");
    assert_eq!(resp["receipt"]["last_seq"], 2);
    // Through the server, ingest reports the same message as without one.
    for (line, detail) in rejected_lines() {
        let out = run_stdin(&db, &["ingest", "-"], format!("{line}\n"));
        assert!(
            stderr(&out).contains(&format!("line 1: {detail}")),
            "served ingest {line}: {}",
            stderr(&out)
        );
    }
    // emit's own flags apply the same rules, with the same words.
    let out = run(&db, &["emit", "marker", "--label", ""]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("must not be empty"), "{}", stderr(&out));
    let out = run(&db, &["emit", "crash", "--target", "a b:0.0", "--reason", "r"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(r#"bad session name "a b""#), "{}", stderr(&out));
    let labels: Vec<Value> = tail_json(&db).iter().map(|e| e["label"].clone()).collect();
    assert_eq!(labels, ["ok", "via socket"], "nothing invalid was stored");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    assert!(stdout(&run(&db, &["verify"])).contains("ok"));
}
