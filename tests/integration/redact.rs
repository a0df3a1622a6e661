//! `orc-log redact`: a secret planted in captures, messages and a tool
//! call's input is gone from every decoded body of the database, of a backup
//! and of the hook spool; `verify` passes and counts the redacted bodies;
//! exactly one `redaction` event; `--dry-run` changes nothing; and a
//! `kill -9` at any moment loses nothing.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

const SECRET: &str = "hunter2-Zq8xK";

/// The fixture with SECRET planted: in every 9th capture, every 4th
/// message, and a tool call's input and raw payload. Returns the NDJSON
/// lines and how many events hold it.
fn planted_lines() -> (Vec<String>, usize) {
    let mut planted = 0;
    let mut lines: Vec<String> = fixture_lines()
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let mut v: Value = serde_json::from_str(&line).unwrap();
            let field = match v["kind"].as_str() {
                Some("capture") if i % 9 == 0 => Some("content"),
                Some("message") if i % 4 == 0 => Some("text"),
                _ => None,
            };
            if let Some(f) = field {
                let text = v[f].as_str().unwrap().to_owned();
                v[f] = format!("{text}\nexport TOKEN={SECRET} # oops").into();
                planted += 1;
            }
            v.to_string()
        })
        .collect();
    lines.push(format!(
        r#"{{"kind":"tool_call","ts":"2026-11-20T23:10:00Z","target":"orch:0.0","agent_session_id":"s-9","phase":"pre","tool":"Bash","input":"{{\"command\":\"curl -H 'Authorization: {SECRET}'\"}}","raw":"{{\"tool_input\":\"{SECRET}\"}}"}}"#
    ));
    planted += 1;
    (lines, planted)
}

/// Every event of the log decoded (`tail --format json`), as text.
fn decoded(db: &Path) -> String {
    tail_json_raw(db)
}

fn secret_count(text: &str) -> usize {
    text.matches(SECRET).count()
}

#[test]
fn redact_removes_a_planted_secret_from_every_body_of_the_database_a_backup_and_the_spool() {
    let (tmp, db) = temp_db();
    let (lines, planted) = planted_lines();
    assert!(planted >= 5, "{planted}");
    assert_success(run_stdin(&db, &["ingest"], ndjson(&lines)), "ingest");
    let n = lines.len() as u64;
    let backup = tmp.path().join("bk");
    assert_success(run(&db, &["backup", "create", backup.to_str().unwrap()]), "backup");
    // The hook spool beside the database holds a spooled event with it too.
    let spool = tmp.path().join("db.hook-spool.ndjson");
    std::fs::write(&spool, format!("{{\"kind\":\"marker\",\"label\":\"pw {SECRET}\",\"id\":\"spool-1\"}}\n"))
        .unwrap();
    assert!(secret_count(&decoded(&db)) >= planted);
    let before = decoded(&db);

    // --dry-run lists and changes nothing.
    let seg_bytes = |db: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(db.join("segments"))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let segs_before = seg_bytes(&db);
    let manifest_before = std::fs::read(backup.join("MANIFEST.json")).unwrap();
    let out = assert_success(
        run(&db, &["redact", "--pattern", SECRET, "--dry-run", "--backups", backup.to_str().unwrap()]),
        "dry run",
    );
    let text = stdout(&out);
    assert!(text.contains(&format!("would redact {planted} bodies in the database")), "{text}");
    assert!(text.contains(&format!("would redact {planted} bodies in backup")), "{text}");
    assert!(text.contains("would redact 1 lines of the hook spool"), "{text}");
    assert!(!text.contains(SECRET), "the listing never shows the matched text");
    assert_eq!(seg_bytes(&db), segs_before, "a dry run writes nothing");
    assert_eq!(decoded(&db), before);
    assert_eq!(std::fs::read(backup.join("MANIFEST.json")).unwrap(), manifest_before);
    assert!(std::fs::read_to_string(&spool).unwrap().contains(SECRET));

    let out = assert_success(
        run(&db, &["redact", "--pattern", SECRET, "--backups", backup.to_str().unwrap()]),
        "redact",
    );
    let text = stdout(&out);
    assert!(text.contains(&format!("redacted {planted} bodies in the database")), "{text}");
    assert!(!text.contains(SECRET));
    // Every body of the database decoded: the secret is gone, the replacement there.
    let after = decoded(&db);
    assert_eq!(secret_count(&after), 0);
    assert_eq!(after.matches("[REDACTED:manual]").count(), secret_count(&before));
    // verify passes and counts the redacted bodies; the chain is unchanged.
    let v = stdout(&assert_success(run(&db, &["verify"]), "verify"));
    assert!(v.starts_with(&format!("ok: {} events", n + 1)), "{v}");
    assert!(v.contains(&format!("redacted: {planted} bodies")), "{v}");
    // Exactly one redaction event, listing the seqs and digests only.
    let events = tail_json(&db);
    let reds = of_kind(&events, "redaction");
    assert_eq!(reds.len(), 1);
    let listed = reds[0]["bodies"].as_str().unwrap();
    assert_eq!(listed.lines().count(), planted);
    for line in listed.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts[1].len() == 64 && parts[2].len() == 64 && parts[1] != parts[2], "{line}");
    }
    // Every other event is unchanged.
    let old: Vec<Value> = parse_ndjson(&before);
    for (a, b) in old.iter().zip(&events) {
        if !a.to_string().contains(SECRET) {
            assert_eq!(a, b);
        }
    }
    // The backup: verifies, and every body decoded (a restore) is clean.
    assert_success(run(&db, &["backup", "verify", backup.to_str().unwrap()]), "backup verify");
    let restored = tmp.path().join("restored");
    assert_success(
        run(&db, &["restore", backup.to_str().unwrap(), "--to", restored.to_str().unwrap()]),
        "restore the redacted backup",
    );
    let from_backup = decoded(&restored);
    assert_eq!(secret_count(&from_backup), 0);
    assert!(from_backup.contains("[REDACTED:manual]"));
    let rv = stdout(&assert_success(run(&restored, &["verify"]), "verify the restore"));
    assert!(rv.contains(&format!("redacted: {planted} bodies")), "{rv}");
    // The spool.
    let s = std::fs::read_to_string(&spool).unwrap();
    assert!(!s.contains(SECRET) && s.contains("[REDACTED:manual]"), "{s}");
    // Again: nothing left, no second event.
    let out = assert_success(run(&db, &["redact", "--pattern", SECRET]), "redact again");
    assert!(stdout(&out).contains("no redaction event appended"), "{}", describe(&out));
    assert_eq!(of_kind(&tail_json(&db), "redaction").len(), 1);
    // A bad pattern is refused, naming it.
    let out = run(&db, &["redact", "--pattern", "a("]);
    assert_exit(&out, 1, "a bad regex");
    assert!(stderr(&out).contains("--pattern"), "{}", describe(&out));
}

/// `kill -9` of `orc-log redact` at spread moments, 50 rounds: the database
/// opens and verifies, holds every event exactly once (original or
/// redacted), and a rerun finishes with exactly one redaction event and no
/// secret left.
#[test]
fn killed_redact_loses_nothing_and_a_rerun_finishes_it() {
    let (tmp, template) = temp_db();
    let (lines, _) = planted_lines();
    let n = lines.len();
    // Many small commits: several segments, delta-compressed captures.
    for part in lines.chunks(20) {
        assert_success(run_stdin(&template, &["ingest"], ndjson(part)), "ingest part");
    }
    let original = parse_ndjson(&decoded(&template));
    assert_eq!(original.len(), n);
    let rounds = std::env::var("ORC_LOG_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50u64);
    // How long a whole run takes here: the kills are spread over it.
    let whole_us = shortest_run_us(&template, tmp.path(), &["redact", "--pattern", SECRET]);
    let mut killed = 0;
    for round in 0..rounds {
        let db = tmp.path().join(format!("r{round}"));
        copy_dir(&template, &db);
        killed += u64::from(kill_during(&db, &["redact", "--pattern", SECRET], round, whole_us));
        // Opens and verifies; every event exactly once, original or redacted.
        let v = assert_success(run(&db, &["verify"]), "verify after the kill");
        assert!(stdout(&v).starts_with("ok: "), "{}", describe(&v));
        let now = parse_ndjson(&decoded(&db));
        assert!(now.len() == n || now.len() == n + 1, "round {round}: {} events", now.len());
        for (a, b) in original.iter().zip(&now) {
            let (a, b) = (a.to_string(), b.to_string());
            assert!(a == b || a.replace(SECRET, "[REDACTED:manual]") == b, "round {round}: {a} became {b}");
        }
        // A rerun finishes it.
        assert_success(run(&db, &["redact", "--pattern", SECRET]), "rerun");
        let done = decoded(&db);
        assert_eq!(secret_count(&done), 0, "round {round}");
        assert_eq!(of_kind(&parse_ndjson(&done), "redaction").len(), 1, "round {round}");
        assert_success(run(&db, &["verify"]), "verify after the rerun");
        std::fs::remove_dir_all(&db).unwrap();
    }
    assert!(
        killed > rounds / 2,
        "only {killed} of {rounds} runs were killed before they ended ({whole_us} us a run)"
    );
}
