//! `orc-log retention` and `orc-log compact` on a log spanning 3 hours:
//! captures older than an hour lose their bodies and their bytes, every
//! other event and the present state stay, `verify` and `verify --trusted`
//! pass, time travel before the cutoff is refused; rules are validated; and
//! a `kill -9` at any moment of `compact` loses nothing no rule expired.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A team's last 3 hours: `panes` panes captured every 15 s (a scrolling
/// build log, a few new lines each time), a message now and then, a crash
/// and a schedule, ending a few seconds ago.
fn three_hours(panes: u32) -> Vec<String> {
    let now = orc_log_schemas::now_ns();
    let start = now - 3 * 3600 * 1_000_000_000;
    let at = |ns: i64| orc_log_schemas::format_rfc3339(ns);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut lines = vec![format!(r#"{{"kind":"session_opened","ts":"{}","session":"team"}}"#, at(start))];
    let targets: Vec<String> = (0..panes).map(|p| format!("team:0.{p}")).collect();
    for t in &targets {
        lines.push(format!(
            r#"{{"kind":"agent_registered","ts":"{}","target":"{t}","role":"engineer","name":"eng-{}"}}"#,
            at(start),
            &t[7..]
        ));
    }
    let mut screens: Vec<Vec<String>> = targets.iter().map(|_| Vec::new()).collect();
    let mut ts = start + 1_000_000_000;
    let mut tick = 0u64;
    while ts < now - 5_000_000_000 {
        for (p, t) in targets.iter().enumerate() {
            for _ in 0..1 + next() % 3 {
                let n = next();
                screens[p].push(format!(
                    "[{tick:05}] cargo build -p crate_{} ... ok in {}.{:03}s (sha {:012x})",
                    n % 97,
                    n % 9,
                    n % 1000,
                    n >> 16
                ));
            }
            let keep = screens[p].len().saturating_sub(38);
            screens[p].drain(..keep);
            let content = serde_json::to_string(&screens[p].join("\n")).unwrap();
            lines.push(format!(
                r#"{{"kind":"capture","ts":"{}","target":"{t}","content":{content},"width":120,"height":40}}"#,
                at(ts + p as i64 * 1_000_000)
            ));
        }
        if tick % 7 == 3 {
            lines.push(format!(
                r#"{{"kind":"message","ts":"{}","from":"orch","to":"{}","text":"check-in {tick}: report progress"}}"#,
                at(ts + 500_000_000),
                targets[(tick as usize) % targets.len()]
            ));
        }
        if tick == 400 {
            lines.push(format!(
                r#"{{"kind":"crash","ts":"{}","target":"{}","reason":"exit 1","excerpt":"panicked at src/main.rs"}}"#,
                at(ts + 600_000_000),
                targets[0]
            ));
        }
        ts += 15_000_000_000;
        tick += 1;
    }
    lines.push(format!(
        r#"{{"kind":"schedule","ts":"{}","target":"{}","note":"check the build","due":"{}"}}"#,
        at(now - 4_000_000_000),
        targets[0],
        at(now + 3600 * 1_000_000_000)
    ));
    lines
}

/// Ingests `lines` in commits of 200 events.
fn ingest(db: &Path, lines: &[String]) {
    for part in lines.chunks(200) {
        assert_success(run_stdin(db, &["ingest"], ndjson(part)), "ingest");
    }
}

/// `du -sb DIR`.
fn du(dir: &Path) -> u64 {
    let out = std::process::Command::new("du").arg("-sb").arg(dir).output().unwrap();
    assert!(out.status.success(), "du failed");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
}

/// The rows of a query as JSON objects.
fn query(db: &Path, sql: &str) -> Vec<Value> {
    let out = assert_success(run(db, &["query", "--format", "json", sql]), sql);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// seq -> stored bytes of every event.
fn stored_bytes(db: &Path) -> BTreeMap<u64, u64> {
    query(db, "SELECT seq, stored_bytes FROM events")
        .iter()
        .map(|r| (r["seq"].as_u64().unwrap(), r["stored_bytes"].as_u64().unwrap()))
        .collect()
}

/// Whether `now` is `was` or the stub an expiry leaves of it: the same
/// seq, kind, ts and target, the capture's content empty.
fn same_or_stub(was: &Value, now: &Value) -> bool {
    if was == now {
        return true;
    }
    let same = |k: &str| was[k] == now[k];
    same("seq")
        && same("kind")
        && same("ts")
        && same("target")
        && was["kind"] == "capture"
        && now["content"] == ""
}

#[test]
fn compact_frees_the_expired_captures_and_keeps_the_present() {
    let (tmp, db) = temp_db();
    let lines = three_hours(4);
    ingest(&db, &lines);
    let n = lines.len() as u64;
    let events = tail_json(&db);
    assert_eq!(events.len() as u64, n);
    let note = tmp.path().join("before.note");
    let cp = assert_success(run(&db, &["checkpoint"]), "checkpoint");
    std::fs::write(&note, stdout(&cp)).unwrap();
    let state = stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state"));
    // Sealed first (as `serve` keeps it), so the bytes freed are the expiry's alone.
    assert_success(run(&db, &["seal"]), "seal");
    let bytes_before = stored_bytes(&db);

    // Rules are validated, the value named.
    let bad = run(&db, &["retention", "set", "--kind", "captur", "--max-age", "1h"]);
    assert_exit(&bad, 2, "unknown kind");
    assert!(stderr(&bad).contains("\"captur\""), "{}", describe(&bad));
    let bad = run(&db, &["retention", "set", "--kind", "capture", "--max-age", "10"]);
    assert_exit(&bad, 2, "a duration without a unit");
    let bad = run(&db, &["retention", "set", "--max-bytes", "12"]);
    assert!(stderr(&bad).contains("max_bytes = 12"), "{}", describe(&bad));
    let bad = run(&db, &["compact"]);
    assert!(stderr(&bad).contains("no retention rules"), "{}", describe(&bad));

    let set = assert_success(run(&db, &["retention", "set", "--kind", "capture", "--max-age", "1h"]), "set");
    assert!(stdout(&set).contains("capture          max-age 1h"), "{}", describe(&set));
    let du_before = du(&db);
    let segments = du(&db.join("segments"));
    let dry = assert_success(run(&db, &["compact", "--dry-run"]), "compact --dry-run");
    assert!(stdout(&dry).contains("dry run: nothing was changed"), "{}", describe(&dry));
    assert_eq!(du(&db.join("segments")), segments, "--dry-run changes nothing");
    let before_compact = orc_log_schemas::now_ns();
    let out = assert_success(run(&db, &["compact"]), "compact");
    let after_compact = orc_log_schemas::now_ns();
    assert!(stdout(&out).contains("cutoff: "), "{}", describe(&out));

    // No capture older than the cutoff has content; every other event is unchanged.
    let hour_ns = 3600 * 1_000_000_000;
    let before_cutoff = orc_log_schemas::format_rfc3339(before_compact - hour_ns);
    let left = query(
        &db,
        &format!(
            "SELECT count(*) AS n FROM captures WHERE ts < TIMESTAMP '{before_cutoff}' AND content IS NOT NULL"
        ),
    );
    assert_eq!(left[0]["n"], 0, "captures older than the cutoff keep no content");
    let expired: Vec<u64> = query(&db, "SELECT seq FROM captures WHERE expired AND content IS NULL")
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert!(expired.len() > 1500, "{} expired", expired.len());
    let now = tail_json(&db);
    assert_eq!(now.len(), events.len());
    let latest_expirable = after_compact - hour_ns;
    for (was, is) in events.iter().zip(&now) {
        let seq = was["seq"].as_u64().unwrap();
        if expired.contains(&seq) {
            assert!(same_or_stub(was, is) && was != is, "seq {seq}: {was} became {is}");
            let ts = orc_log_schemas::parse_rfc3339(was["ts"].as_str().unwrap()).unwrap();
            assert!(ts < latest_expirable, "seq {seq} was not older than an hour");
        } else {
            assert_eq!(was, is, "seq {seq} is unchanged");
        }
    }
    // Verified, also against the checkpoint taken before; the present state is the same.
    let v = assert_success(run(&db, &["verify"]), "verify");
    assert!(stdout(&v).contains(&format!("expired: {} bodies", expired.len())), "{}", describe(&v));
    assert_success(run(&db, &["verify", "--trusted", note.to_str().unwrap()]), "verify --trusted");
    let state_after = stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state"));
    assert_eq!(state_after, state, "state --format json for the present is unchanged");

    // The disk space: du drops by the expired captures' bytes, less what
    // their stubs (seq, ts, kind, target) and the time-travel checkpoints
    // kept at the cutoff take.
    let du_after = du(&db);
    let bytes_after = stored_bytes(&db);
    let freed: u64 = expired.iter().map(|s| bytes_before[s]).sum();
    let stubs: u64 = expired.iter().map(|s| bytes_after[s]).sum();
    let kept: u64 = std::fs::read_dir(db.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains('@'))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let total: u64 = bytes_before.values().sum();
    eprintln!(
        "du {du_before} -> {du_after} bytes; expired captures {freed} of {total} stored bytes ({:.1}%), stubs {stubs}, checkpoints kept {kept}",
        freed as f64 * 100.0 / total as f64
    );
    assert!(stubs * 10 < freed, "stubs take {stubs} bytes of {freed}");
    assert!(
        du_before - du_after >= freed - stubs - kept,
        "du dropped {} bytes; the expired captures took {freed}, their stubs take {stubs}, checkpoints {kept}",
        du_before - du_after
    );

    // Time travel: after the cutoff as before; before it refused, naming it.
    let late = orc_log_schemas::format_rfc3339(after_compact - 30 * 60 * 1_000_000_000);
    assert_success(run(&db, &["state", "--at", &late]), "state --at after the cutoff");
    let early = orc_log_schemas::format_rfc3339(before_compact - 2 * hour_ns);
    let refused = run(&db, &["state", "--at", &early]);
    assert_exit(&refused, 1, "state --at before the cutoff");
    assert!(stderr(&refused).contains("before the retention cutoff"), "{}", describe(&refused));
    let show = assert_success(run(&db, &["retention", "show"]), "retention show");
    assert!(stdout(&show).contains("cutoff: "), "{}", describe(&show));
    let stats = assert_success(run(&db, &["stats"]), "stats");
    assert!(stdout(&stats).contains(&format!("expired: {} bodies", expired.len())), "{}", describe(&stats));
    // A second run finds nothing more to do (or only what aged since).
    assert_success(run(&db, &["compact"]), "compact again");
    assert_success(run(&db, &["verify", "--trusted", note.to_str().unwrap()]), "verify --trusted again");
}

/// Backups and `export --append` pin what they have not copied; `retention
/// show` says so; `retention unpin` drops a pin; `clear` removes the rules.
#[test]
fn backups_pin_what_they_have_not_copied() {
    let (tmp, db) = temp_db();
    let lines = three_hours(1);
    let (old, new) = lines.split_at(lines.len() / 2);
    ingest(&db, old);
    let bk = tmp.path().join("bk");
    assert_success(run(&db, &["backup", "create", bk.to_str().unwrap()]), "backup");
    let pinned_at = tail_json(&db).len() as u64;
    ingest(&db, new);
    assert_success(run(&db, &["retention", "set", "--kind", "all", "--max-age", "1m"]), "set");
    let show = stdout(&assert_success(run(&db, &["retention", "show"]), "show"));
    assert!(show.contains(&format!("seq {pinned_at}")) && show.contains("backup in "), "{show}");
    assert!(show.contains(&format!("held back after seq {pinned_at}")), "{show}");
    assert_success(run(&db, &["compact"]), "compact");
    let expired: Vec<u64> = query(&db, "SELECT seq FROM events WHERE expired")
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert!(!expired.is_empty() && expired.iter().all(|s| *s < pinned_at), "{expired:?}");
    // The next backup moves the pin; then the rest expires.
    assert_success(run(&db, &["backup", "create", bk.to_str().unwrap()]), "backup again");
    let name = show
        .lines()
        .find(|l| l.contains("backup in "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_success(run(&db, &["retention", "unpin", &name]), "unpin");
    assert_exit(&run(&db, &["retention", "unpin", &name]), 1, "unpin twice");
    assert_success(run(&db, &["compact"]), "compact after unpin");
    let n = query(&db, "SELECT count(*) AS n FROM events WHERE NOT expired AND kind <> 'redaction'");
    assert!(n[0]["n"].as_u64().unwrap() < 12, "only the last minute is kept: {n:?}");
    assert_success(run(&db, &["verify"]), "verify");
    // The backup's first part was made before the compaction: a restore
    // from it to a point before the cutoff has every body.
    let to = tmp.path().join("restored");
    let out = run(&db, &["restore", bk.to_str().unwrap(), "--to", to.to_str().unwrap(), "--until-seq", "10"]);
    assert_success(out, "restore --until-seq from a backup made before the compaction");
    let restored = query(&to, "SELECT count(*) AS n FROM captures WHERE content IS NOT NULL");
    assert!(restored[0]["n"].as_u64().unwrap() >= 5, "{restored:?}");
    assert_success(run(&db, &["retention", "clear"]), "clear");
    let show = stdout(&assert_success(run(&db, &["retention", "show"]), "show"));
    assert!(show.contains("rules: none"), "{show}");
}

/// `kill -9` at any moment of `compact`: the database opens, verifies and
/// holds every event exactly once, each with its body or its stub (only
/// captures older than an hour); a rerun finishes the job.
#[test]
fn killed_compact_loses_nothing_and_a_rerun_finishes_it() {
    let (tmp, template) = temp_db();
    let lines = three_hours(2);
    ingest(&template, &lines);
    let note = tmp.path().join("note");
    std::fs::write(&note, stdout(&assert_success(run(&template, &["checkpoint"]), "checkpoint"))).unwrap();
    let state = stdout(&assert_success(run(&template, &["state", "--format", "json"]), "state"));
    assert_success(run(&template, &["retention", "set", "--kind", "capture", "--max-age", "1h"]), "set");
    let original = tail_json(&template);
    let rounds = std::env::var("ORC_LOG_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50u64);
    let whole_us = shortest_run_us(&template, tmp.path(), &["compact"]);
    let mut killed = 0;
    for round in 0..rounds {
        let db = tmp.path().join(format!("r{round}"));
        copy_dir(&template, &db);
        killed += u64::from(kill_during(&db, &["compact"], round, whole_us));
        let v = assert_success(run(&db, &["verify"]), "verify after the kill");
        assert!(stdout(&v).starts_with("ok: "), "round {round}: {}", describe(&v));
        let now = tail_json(&db);
        assert_eq!(now.len(), original.len(), "round {round}");
        for (was, is) in original.iter().zip(&now) {
            assert!(same_or_stub(was, is), "round {round}: {was} became {is}");
        }
        // A rerun finishes it; the present state and the checkpoint hold.
        let rerun_at = orc_log_schemas::now_ns();
        assert_success(run(&db, &["compact"]), "rerun");
        let old = orc_log_schemas::format_rfc3339(rerun_at - 3600 * 1_000_000_000);
        let left = query(
            &db,
            &format!(
                "SELECT count(*) AS n FROM captures WHERE ts < TIMESTAMP '{old}' AND content IS NOT NULL"
            ),
        );
        assert_eq!(left[0]["n"], 0, "round {round}");
        assert_success(run(&db, &["verify", "--trusted", note.to_str().unwrap()]), "verify --trusted");
        let after = stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state"));
        assert_eq!(after, state, "round {round}: the present state");
        std::fs::remove_dir_all(&db).unwrap();
    }
    assert!(
        killed > rounds / 2,
        "only {killed} of {rounds} runs were killed before they ended ({whole_us} us a run)"
    );
}

/// `serve --compact-every` applies the rules in the background (read afresh,
/// no restart), and a client's follower pins what it has not read.
#[test]
fn serve_compacts_in_the_background() {
    use std::io::BufRead;
    let (_tmp, db) = temp_db();
    ingest(&db, &three_hours(1));
    let mut server = orc_process(&db)
        .args(["serve", "--compact-every", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // Set through the server; the next tick applies it.
    assert_success(run(&db, &["retention", "set", "--kind", "capture", "--max-age", "1h"]), "set");
    let start = Instant::now();
    let expired = loop {
        let n = query(&db, "SELECT count(*) AS n FROM events WHERE expired")[0]["n"].as_u64().unwrap();
        if n > 0 {
            break n;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "serve never compacted");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(expired > 400, "{expired}");
    let show = stdout(&assert_success(run(&db, &["retention", "show"]), "show"));
    assert!(show.contains("cutoff: ") && !show.contains("cutoff: none"), "{show}");
    assert_success(run(&db, &["verify"]), "verify through the server");
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&server),
        rustix::process::Signal::TERM,
    );
    assert!(server.wait().unwrap().success(), "serve stops cleanly");
}
