//! `orc-log backup` and `orc-log restore` against the real binary.

use crate::common::{
    assert_success, describe, fixture_lines, ndjson, run, run_stdin, seqs, stderr, stdout, tail_json,
    tail_json_raw, temp_db,
};
use crate::server::{signal, start_server, wait_exit};
use std::path::Path;

fn restore(args: &[&str]) -> std::process::Output {
    // restore needs no database of its own; --db points nowhere useful on purpose.
    run(Path::new("/nonexistent-orc-log-db"), &[&["restore"], args].concat())
}

#[test]
fn incremental_backups_and_point_in_time_restores() {
    let (dir, db) = temp_db();
    let lines = fixture_lines();
    let bk = dir.path().join("bk");
    let bk_s = bk.to_str().unwrap();
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[..83])), "ingest half");
    assert_success(run(&db, &["backup", "create", bk_s]), "first backup");
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines[83..])), "ingest rest");
    let out = assert_success(run(&db, &["backup", "create", bk_s]), "second backup");
    assert!(stdout(&out).contains("seqs 84..=166"), "{}", stdout(&out));
    let out = assert_success(run(&db, &["backup", "create", bk_s]), "third backup, nothing new");
    assert!(stdout(&out).contains("nothing new"), "{}", stdout(&out));
    let list = stdout(&assert_success(run(&db, &["backup", "list", bk_s]), "list"));
    assert!(list.contains("│ 83 ") && list.contains("│ 166 "), "both restore points listed:\n{list}");
    assert!(list.contains("166 events in 2 segments"), "{list}");
    assert_success(run(&db, &["backup", "verify", bk_s]), "verify backup");
    let all = tail_json(&db);
    // by seq
    let to = dir.path().join("by-seq");
    let out = assert_success(
        restore(&[bk_s, "--to", to.to_str().unwrap(), "--until-seq", "100"]),
        "restore by seq",
    );
    assert!(stdout(&out).contains("restored 100 events"), "{}", stdout(&out));
    assert_eq!(tail_json(&to), all[..100]);
    assert_success(run(&to, &["verify"]), "verify restored");
    // by time: equals state --at of the original at the same time
    let t = all[60]["ts"].as_str().unwrap();
    let to = dir.path().join("by-time");
    assert_success(restore(&[bk_s, "--to", to.to_str().unwrap(), "--at", t]), "restore by time");
    let n = all.iter().take_while(|e| e["ts"].as_str().unwrap() <= t).count();
    assert_eq!(tail_json(&to), all[..n]);
    let original = stdout(&assert_success(run(&db, &["state", "--at", t, "--format", "json"]), "state --at"));
    let restored =
        stdout(&assert_success(run(&to, &["state", "--at", t, "--format", "json"]), "state of restored"));
    assert_eq!(original, restored, "state --at and restore --at agree");
    // appends continue the restored chain
    assert_success(run(&to, &["emit", "marker", "--label", "after restore"]), "emit into restored");
    assert_success(run(&to, &["verify"]), "verify after append");
    // an existing target is protected
    let out = restore(&[bk_s, "--to", to.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(tail_json(&to).len(), n + 1, "refused restore left the target alone");
    assert_success(restore(&[bk_s, "--to", to.to_str().unwrap(), "--force"]), "forced restore");
    assert_eq!(tail_json_raw(&to), tail_json_raw(&db));
    // a time before the first event gets a clear answer
    let out =
        restore(&[bk_s, "--to", dir.path().join("early").to_str().unwrap(), "--at", "2000-01-01T00:00:00Z"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("before the first event"), "{}", stderr(&out));
    assert!(!dir.path().join("early").exists());
}

#[test]
fn a_flipped_byte_in_any_backup_file_is_caught_and_refused() {
    let (dir, db) = temp_db();
    let bk = dir.path().join("bk");
    assert_success(run_stdin(&db, &["ingest"], ndjson(&fixture_lines())), "ingest");
    assert_success(run(&db, &["backup", "create", bk.to_str().unwrap()]), "backup");
    for entry in std::fs::read_dir(&bk).unwrap() {
        let file = entry.unwrap().path();
        let original = std::fs::read(&file).unwrap();
        let mut bad = original.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x01;
        std::fs::write(&file, &bad).unwrap();
        let out = run(&db, &["backup", "verify", bk.to_str().unwrap()]);
        assert!(!out.status.success(), "flip in {} not caught", file.display());
        let name = file.file_name().unwrap().to_str().unwrap();
        let err = stderr(&out);
        assert!(err.contains(name) || err.contains("MANIFEST"), "names the file: {err}");
        let to = dir.path().join("r");
        let out = restore(&[bk.to_str().unwrap(), "--to", to.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(!to.exists(), "nothing written for a damaged backup");
        std::fs::write(&file, &original).unwrap();
    }
}

#[test]
fn backup_during_writes_through_a_server_holds_every_acknowledged_event() {
    let (dir, db) = temp_db();
    let mut server = start_server(&db);
    let bk = dir.path().join("bk");
    let mut writers = Vec::new();
    for w in 0..4 {
        let db = db.clone();
        writers.push(std::thread::spawn(move || {
            for j in 0..40 {
                let id = format!("w{w}-{j}");
                assert_success(run(&db, &["emit", "marker", "--label", &id, "--id", &id]), "emit");
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Everything acknowledged before the backup began must be in it.
    let acked_before = tail_json(&db).len();
    assert_success(run(&db, &["backup", "create", bk.to_str().unwrap()]), "backup during writes");
    for w in writers {
        w.join().unwrap();
    }
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    let to = dir.path().join("restored");
    assert_success(restore(&[bk.to_str().unwrap(), "--to", to.to_str().unwrap()]), "restore");
    let restored = tail_json(&to);
    let all = tail_json(&db);
    assert!(restored.len() >= acked_before, "{} < {acked_before}", restored.len());
    assert_eq!(restored, all[..restored.len()], "an exact prefix of the log");
}

/// Every file in `dir` whose name starts with `prefix`.
fn entries_starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// `restore --to DIR --force` over a database that `serve` holds is refused
/// naming the server's pid, and nothing of DIR changes: the server goes on
/// appending into the same files the CLI reads. Once the server stops, the
/// same restore replaces the log and keeps the files in DIR that are not the
/// database's (`alerts.toml`, anything else).
#[test]
fn restore_over_a_served_database_is_refused_and_keeps_alerts_toml() {
    let (dir, db) = temp_db();
    assert_success(run_stdin(&db, &["ingest"], ndjson(&fixture_lines())), "ingest");
    let bk = dir.path().join("bk");
    assert_success(run(&db, &["backup", "create", bk.to_str().unwrap()]), "backup");
    let mut server = start_server(&db);
    let rules =
        "[[rule]]\nname = \"engineer-crashed\"\nwhen = \"crash\"\n[rule.action]\ncommand = \"true\"\n";
    std::fs::write(db.join("alerts.toml"), rules).unwrap();
    std::fs::write(db.join("notes.txt"), "mine\n").unwrap();
    let out = assert_success(run(&db, &["emit", "marker", "--label", "served"]), "emit through the server");
    assert_eq!(stdout(&out), "167\n");

    let to = db.to_str().unwrap();
    let out = restore(&[bk.to_str().unwrap(), "--to", to, "--force", "--until-seq", "5"]);
    assert_eq!(out.status.code(), Some(1), "restore over a served database must fail:\n{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("process {}", server.id())), "names the server's pid:\n{err}");
    assert!(err.contains("in use") && err.contains("nothing was changed"), "{err}");
    assert!(!stdout(&out).contains("restored"), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(db.join("alerts.toml")).unwrap(), rules);
    assert_eq!(seqs(&tail_json(&db)), (1..=167).collect::<Vec<_>>(), "the log is untouched");
    // The server still owns the same files: what it appends, the CLI reads.
    let out = assert_success(run(&db, &["emit", "marker", "--label", "after"]), "emit after the refusal");
    assert_eq!(stdout(&out), "168\n");
    assert_eq!(tail_json(&db).len(), 168);
    let parent = dir.path();
    assert!(entries_starting_with(parent, ".db.").is_empty(), "nothing left beside the database");

    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    let out = assert_success(
        restore(&[bk.to_str().unwrap(), "--to", to, "--force", "--until-seq", "5"]),
        "restore once the server stopped",
    );
    assert!(stdout(&out).contains("restored 5 events"), "{}", describe(&out));
    assert_eq!(seqs(&tail_json(&db)), (1..=5).collect::<Vec<_>>());
    assert_eq!(std::fs::read_to_string(db.join("alerts.toml")).unwrap(), rules, "alerts.toml kept");
    assert_eq!(std::fs::read_to_string(db.join("notes.txt")).unwrap(), "mine\n", "other files kept");
    assert!(entries_starting_with(parent, ".db.").is_empty(), "no temporary or replaced directory left");
    assert!(!db.join("RESTORING").exists(), "the restore marker is removed");
    let out = assert_success(run(&db, &["emit", "marker", "--label", "next"]), "emit into the restored log");
    assert_eq!(stdout(&out), "6\n");
}
