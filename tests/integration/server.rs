//! `orc-log serve`: concurrent clients, follow, group commit, SIGKILL, bad frames.

use crate::common::{assert_success, orc_process, run, run_stdin, stderr, tail_json, temp_db};
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts `orc-log serve` and waits until its socket answers.
pub fn start_server(db: &Path) -> Child {
    let child = orc_process(db)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = db.join("serve.sock");
    let start = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().filter_map(|e| e["id"].as_str().map(str::to_owned)).collect()
}

#[test]
fn concurrent_clients_follow_and_clean_shutdown() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    // A follower from seq 1: it must see every event, in order, once.
    let mut follower = orc_process(&db)
        .args(["--lock-timeout", "1s", "tail", "--follow", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
    let reader = {
        let seen = seen.clone();
        let out = follower.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                seen.lock().unwrap().push(serde_json::from_str(&line).unwrap());
            }
        })
    };
    let mut workers = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        workers.push(std::thread::spawn(move || {
            for j in 0..15 {
                let id = format!("emit-{w}-{j}");
                let out = run(&db, &["emit", "marker", "--label", &id, "--id", &id]);
                assert_success(out, "emit through the server");
            }
        }));
    }
    for k in 0..2 {
        let db = db.clone();
        workers.push(std::thread::spawn(move || {
            let lines: String = (0..400)
                .map(|n| format!("{{\"kind\":\"message\",\"from\":\"pm\",\"to\":\"p:{k}.0\",\"text\":\"t{n}\",\"id\":\"ingest-{k}-{n}\"}}\n"))
                .collect();
            let out = run_stdin(&db, &["ingest", "--batch-events", "50"], lines);
            assert_success(out, "ingest through the server");
        }));
    }
    for w in workers {
        w.join().unwrap();
    }
    let total = 8 * 15 + 2 * 400;
    let events = tail_json(&db);
    assert_eq!(events.len(), total);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>(), "gapless seqs");
    let unique: HashSet<String> = ids(&events).into_iter().collect();
    assert_eq!(unique.len(), total, "every acknowledged event stored exactly once");
    // Per client, the order of its own events is kept.
    for k in 0..2 {
        let texts: Vec<&str> = events
            .iter()
            .filter(|e| e["to"] == format!("p:{k}.0"))
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, (0..400).map(|n| format!("t{n}")).collect::<Vec<_>>());
    }
    // Re-sending an ingest whose events carry ids adds nothing.
    let again: String = (0..400)
        .map(|n| format!("{{\"kind\":\"message\",\"from\":\"pm\",\"to\":\"p:0.0\",\"text\":\"t{n}\",\"id\":\"ingest-0-{n}\"}}\n"))
        .collect();
    let out = assert_success(run_stdin(&db, &["ingest"], again), "re-ingest");
    assert!(stderr(&out).contains("appended 0 events"), "{}", stderr(&out));
    assert_eq!(tail_json(&db).len(), total);
    // The follower saw everything, in order.
    let start = Instant::now();
    while seen.lock().unwrap().len() < total {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "follower saw only {}",
            seen.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let followed: Vec<u64> = seen.lock().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(followed, (1..=total as u64).collect::<Vec<_>>());
    // A second server fails at once, naming the first.
    let second = run(&db, &["serve"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains(&format!("process {} is already serving", server.id())),
        "{}",
        stderr(&second)
    );
    // SIGTERM: clean exit, socket removed; followers wait --lock-timeout
    // for a server to come back, then fail.
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    assert!(!db.join("serve.sock").exists(), "socket removed on shutdown");
    assert_eq!(wait_exit(&mut follower).code(), Some(1));
    reader.join().unwrap();
    assert_success(run(&db, &["verify"]), "verify after shutdown");
}

#[test]
fn acknowledged_events_survive_a_server_sigkill() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
        workers.push(std::thread::spawn(move || {
            let mut j = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("k-{w}-{j}");
                let out = run(&db, &["emit", "marker", "--label", "x", "--id", &id]);
                if out.status.success() {
                    acked.lock().unwrap().push(id);
                }
                j += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.kill().unwrap(); // SIGKILL
    wait_exit(&mut server);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let mut server = start_server(&db);
    let events = tail_json(&db);
    let stored: Vec<String> = ids(&events);
    let stored_set: HashSet<&String> = stored.iter().collect();
    assert_eq!(stored_set.len(), stored.len(), "no event stored twice");
    let acked = acked.lock().unwrap();
    assert!(acked.len() > 10, "the writers made progress ({} acknowledged)", acked.len());
    for id in acked.iter() {
        assert!(stored_set.contains(id), "acknowledged event {id} was lost");
    }
    signal(&server, "INT");
    assert!(wait_exit(&mut server).success());
    assert_success(run(&db, &["verify"]), "verify after restart");
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// Reads one response frame, or `None` when the server closed the connection.
pub fn read_response(s: &mut UnixStream) -> Option<Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(serde_json::from_slice(&buf).unwrap())
}

#[test]
fn malformed_and_oversized_frames_never_crash_the_server() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    let sock = db.join("serve.sock");
    let connect = || {
        let s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Oversized: a length far over the limit gets an error reply or a close.
    let mut s = connect();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    if let Some(resp) = read_response(&mut s) {
        assert_eq!(resp["type"], "error", "{resp}");
    }
    // Not JSON, and JSON of the wrong shape: error replies, connection usable.
    let mut s = connect();
    s.write_all(&frame(b"\xff\x00 not json")).unwrap();
    assert_eq!(read_response(&mut s).unwrap()["type"], "error");
    s.write_all(&frame(br#"{"v":1,"op":"launch_rockets"}"#)).unwrap();
    assert_eq!(read_response(&mut s).unwrap()["type"], "error");
    s.write_all(&frame(br#"{"v":1,"op":"ping"}"#)).unwrap();
    assert_eq!(read_response(&mut s).unwrap()["type"], "pong");
    // Another protocol version: error, then closed.
    let mut s = connect();
    s.write_all(&frame(br#"{"v":99,"op":"ping"}"#)).unwrap();
    let resp = read_response(&mut s).unwrap();
    assert!(resp["message"].as_str().unwrap().contains("protocol 99"), "{resp}");
    // A truncated frame, then hang up.
    let mut s = connect();
    s.write_all(&[0, 0, 0, 50, b'{']).unwrap();
    drop(s);
    // The server still serves everyone else.
    assert_success(run(&db, &["emit", "marker", "--label", "still here"]), "emit after bad clients");
    assert_eq!(tail_json(&db).len(), 1);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_follower_that_goes_away_is_stopped_in_the_server() {
    let (_dir, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "one"]), "emit");
    let mut server = start_server(&db);
    std::thread::sleep(Duration::from_millis(300));
    let baseline = open_fds(server.id());
    let mut follower = orc_process(&db).args(["tail", "--follow"]).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while open_fds(server.id()) <= baseline {
        assert!(start.elapsed() < Duration::from_secs(20), "the follower did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    // The server notices the closed connection, stops the silent follow and
    // closes its end: its descriptors return to what they were.
    let start = Instant::now();
    while open_fds(server.id()) > baseline {
        assert!(start.elapsed() < Duration::from_secs(10), "the server still serves a client that went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

/// Lines of a child's stdout, collected by a thread.
fn collect_lines(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    seen
}

#[track_caller]
fn wait_lines(seen: &Mutex<Vec<String>>, n: usize) {
    let start = Instant::now();
    while seen.lock().unwrap().len() < n {
        assert!(start.elapsed() < Duration::from_secs(20), "saw only {:?}", seen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `tail --follow -n N` waiting up to 8 s for a restarted server, with the
/// lines it prints collected as they come (its stderr piped for the caller).
fn follow(db: &Path, n: &str) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut follower = orc_process(db)
        .args(["--lock-timeout", "8s", "tail", "--follow", "-n", n])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = collect_lines(&mut follower);
    (follower, seen)
}

#[test]
fn tail_follow_outlives_a_server_restart_and_fails_when_none_comes_back() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    let emit = |label: &str| assert_success(run(&db, &["emit", "marker", "--label", label]), "emit");
    emit("m1");
    emit("m2");
    let (mut follower, seen) = follow(&db, "1");
    wait_lines(&seen, 1);
    emit("m3");
    wait_lines(&seen, 2);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    // Appended while no server runs (the database is free): shown after the restart.
    emit("m4");
    let mut server = start_server(&db);
    emit("m5");
    wait_lines(&seen, 4);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    // No server comes back within --lock-timeout: a message and a failure.
    let status = wait_exit(&mut follower);
    let mut err = String::new();
    follower.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("stopped (shown through seq 3); waiting up to 8.0 s"), "{err}");
    assert!(err.contains("is back"), "{err}");
    assert!(err.contains("stopped and did not come back within 8.0 s (shown through seq 5)"), "{err}");
    let lines = seen.lock().unwrap().clone();
    assert_eq!(lines.len(), 4, "every event once: {lines:?}");
    for (line, label) in lines.iter().zip(["m2", "m3", "m4", "m5"]) {
        assert!(line.contains(label), "{label} expected in {line:?}: {lines:?}");
    }
}

/// `tail -f -n 0` that has shown nothing when the server stops resumes after
/// the head it started at: events appended during the outage are shown.
#[test]
fn tail_follow_from_nothing_shown_keeps_what_was_appended_during_a_restart() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    let emit = |label: &str| assert_success(run(&db, &["emit", "marker", "--label", label]), "emit");
    emit("old");
    let (mut follower, seen) = follow(&db, "0");
    // Let the follow start before the server stops.
    std::thread::sleep(Duration::from_millis(500));
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    emit("during");
    server = start_server(&db);
    emit("after");
    wait_lines(&seen, 2);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    wait_exit(&mut follower);
    let lines = seen.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("during") && lines[1].contains("after"), "{lines:?}");
}

/// One connection running commands back to back (as `session record` reads
/// the log at start): a request sent right after the previous command's
/// exit is the next command, never taken for the client going away.
#[test]
fn one_connection_runs_many_commands_back_to_back() {
    let (_dir, db) = temp_db();
    let mut server = start_server(&db);
    assert_success(run(&db, &["emit", "marker", "--label", "m"]), "emit");
    let mut client = orc_log_server::Client::connect(&db).unwrap().expect("the server answers");
    let cwd = std::env::current_dir().unwrap();
    for round in 0..300 {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args = ["tail", "--format", "json", "-n", "1"].map(str::to_owned).to_vec();
        let code = client
            .exec(args, cwd.clone(), &mut out, &mut err)
            .unwrap_or_else(|e| panic!("command {round} on one connection: {e}"));
        assert_eq!(code, 0, "round {round}: {}", String::from_utf8_lossy(&err));
        assert_eq!(String::from_utf8_lossy(&out).lines().count(), 1, "round {round}");
    }
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}
