//! Portable checkpoints: `orc-log checkpoint` prints a C2SP tlog-checkpoint
//! note (optionally Ed25519-signed), and `verify --trusted` proves the log
//! still extends it, failing with the reason on a tampered note, a rollback
//! to an older copy (with or without new appends: a fork) and a rewritten
//! body.

use crate::common::*;
use base64::Engine as _;
use std::path::Path;

/// A database holding the fixture, plus a signing key made by `checkpoint
/// --generate-key` (KEY and KEY.pub in the temp dir).
fn db_with_key() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (tmp, db) = temp_db();
    ingest_fixture(&db);
    let key = tmp.path().join("ck.key");
    let out = assert_success(
        run(&db, &["checkpoint", "--generate-key", "ops.example/orc-log", "--key", key.to_str().unwrap()]),
        "generate a key",
    );
    let public = stdout(&out);
    assert!(public.starts_with("ops.example/orc-log+"), "{public}");
    assert_eq!(std::fs::read_to_string(key.with_extension("key.pub")).unwrap().trim(), public.trim());
    // The key is never replaced.
    let again = run(&db, &["checkpoint", "--generate-key", "x", "--key", key.to_str().unwrap()]);
    assert_exit(&again, 1, "a second --generate-key on the same file");
    (tmp, db, key)
}

fn checkpoint(db: &Path, key: &Path, to: &Path) -> String {
    let note =
        stdout(&assert_success(run(db, &["checkpoint", "--key", key.to_str().unwrap()]), "checkpoint"));
    std::fs::write(to, &note).unwrap();
    note
}

fn verify_trusted(db: &Path, note: &Path, key: &Path) -> std::process::Output {
    let public = key.with_extension("key.pub");
    run(db, &["verify", "--trusted", note.to_str().unwrap(), "--public-key", public.to_str().unwrap()])
}

#[test]
fn checkpoint_prints_a_signed_c2sp_note_that_a_longer_log_extends() {
    let (tmp, db, key) = db_with_key();
    let note_path = tmp.path().join("yesterday.note");
    let note = checkpoint(&db, &key, &note_path);
    let lines: Vec<&str> = note.lines().collect();
    assert!(lines[0].starts_with("orc-log/") && lines[0].len() == "orc-log/".len() + 32, "{note}");
    assert_eq!(lines[1], FIXTURE_EVENTS.to_string());
    let verify = stdout(&assert_success(run(&db, &["verify"]), "verify"));
    let chain_hex = verify.split("chain ").nth(1).unwrap().trim();
    let root = base64::engine::general_purpose::STANDARD.decode(lines[2]).unwrap();
    assert_eq!(
        root.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        chain_hex,
        "root = chain at head"
    );
    assert_eq!(lines[3], "", "an empty line before the signatures");
    assert!(lines[4].starts_with("\u{2014} ops.example/orc-log "), "{note}");
    assert_eq!(lines.len(), 5);
    // An unsigned note is the three lines alone.
    let plain = stdout(&assert_success(run(&db, &["checkpoint"]), "unsigned checkpoint"));
    assert_eq!(plain, lines[..3].iter().map(|l| format!("{l}\n")).collect::<String>());

    // The log grows; it still extends the note, signed or not.
    assert_success(run_stdin(&db, &["ingest"], r#"{"kind":"marker","label":"later"}"#), "append");
    let out = assert_success(verify_trusted(&db, &note_path, &key), "verify --trusted");
    let text = stdout(&out);
    assert!(text.contains("extends the trusted checkpoint") && text.contains("at seq 166"), "{text}");
    assert!(text.contains("signature by ops.example/orc-log verified"), "{text}");
    let out = assert_success(run(&db, &["verify", "--trusted", note_path.to_str().unwrap()]), "no key");
    assert!(stdout(&out).contains("signature not checked"), "{}", describe(&out));
}

#[test]
fn a_flipped_byte_in_the_note_fails_verify_trusted() {
    let (tmp, db, key) = db_with_key();
    let note_path = tmp.path().join("cp.note");
    let note = checkpoint(&db, &key, &note_path);
    let bytes = note.as_bytes();
    // One flip in each part: origin, size, root, the signature.
    let sig_at = note.find('\u{2014}').unwrap() + "\u{2014} ops.example/orc-log ".len() + 10;
    let spots = [3, note.find('\n').unwrap() + 1, note.find('\n').unwrap() + 6, sig_at];
    for at in spots {
        let mut b = bytes.to_vec();
        b[at] ^= 0x02;
        let bad = tmp.path().join(format!("bad-{at}.note"));
        std::fs::write(&bad, &b).unwrap();
        let out = verify_trusted(&db, &bad, &key);
        assert_exit(&out, 1, &format!("a note with byte {at} flipped"));
        let err = stderr(&out);
        assert!(
            err.contains("tampered") || err.contains("malformed"),
            "byte {at}: the reason names the tampering:\n{}",
            describe(&out)
        );
    }
    // Unsigned checks still catch a changed root or size, by the log itself.
    let mut b = bytes.to_vec();
    let root_at = note.find('\n').unwrap() + 6;
    b[root_at] = if b[root_at] == b'A' { b'B' } else { b'A' };
    let bad = tmp.path().join("bad-root.note");
    std::fs::write(&bad, &b).unwrap();
    let out = run(&db, &["verify", "--trusted", bad.to_str().unwrap()]);
    assert_exit(&out, 1, "an unsigned check of a changed root");
    assert!(
        stderr(&out).contains("rewritten or forked") || stderr(&out).contains("malformed"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_rollback_to_an_older_copy_with_new_appends_fails_verify_trusted() {
    let (tmp, db, key) = db_with_key();
    let old_copy = tmp.path().join("old-copy");
    copy_dir(&db, &old_copy);
    assert_success(
        run_stdin(
            &db,
            &["ingest"],
            "{\"kind\":\"marker\",\"label\":\"a\"}\n{\"kind\":\"marker\",\"label\":\"b\"}\n",
        ),
        "append two",
    );
    let note_path = tmp.path().join("cp.note");
    checkpoint(&db, &key, &note_path);
    // Plain rollback: the older copy is shorter than the checkpoint.
    let rolled = tmp.path().join("rolled");
    copy_dir(&old_copy, &rolled);
    assert_verify_ok(&rolled, FIXTURE_EVENTS);
    let out = verify_trusted(&rolled, &note_path, &key);
    assert_exit(&out, 1, "verify --trusted of a rolled-back copy");
    assert!(stderr(&out).contains("rolled back"), "{}", describe(&out));
    // Fork: the older copy plus other appends reaches the checkpoint's seq.
    let forked = tmp.path().join("forked");
    copy_dir(&old_copy, &forked);
    assert_success(
        run_stdin(
            &forked,
            &["ingest"],
            "{\"kind\":\"marker\",\"label\":\"x\"}\n{\"kind\":\"marker\",\"label\":\"y\"}\n{\"kind\":\"marker\",\"label\":\"z\"}\n",
        ),
        "append to the old copy",
    );
    assert_verify_ok(&forked, FIXTURE_EVENTS + 3);
    let out = verify_trusted(&forked, &note_path, &key);
    assert_exit(&out, 1, "verify --trusted of a fork");
    assert!(
        stderr(&out).contains("rewritten or forked") && stderr(&out).contains("seq 168"),
        "{}",
        describe(&out)
    );
    // The real log still passes.
    assert_success(verify_trusted(&db, &note_path, &key), "the log the checkpoint was taken of");
}

#[test]
fn a_rewritten_body_fails_verify_trusted() {
    let (tmp, db, key) = db_with_key();
    let note_path = tmp.path().join("cp.note");
    checkpoint(&db, &key, &note_path);
    // A whole history rewritten consistently (every chain hash recomputed):
    // the same events but one message's text. `verify` alone cannot see it.
    let lines = fixture_lines();
    let i = lines.iter().position(|l| l.contains("\"kind\": \"message\"")).unwrap();
    let mut changed = lines.clone();
    changed[i] = changed[i].replace("ls -la", "rm -rf");
    assert_ne!(changed[i], lines[i]);
    let rewritten = tmp.path().join("rewritten");
    assert_success(run_stdin(&rewritten, &["ingest"], ndjson(&changed)), "ingest the rewritten history");
    assert_verify_ok(&rewritten, FIXTURE_EVENTS);
    let out = verify_trusted(&rewritten, &note_path, &key);
    assert_exit(&out, 1, "verify --trusted of a rewritten history");
    assert!(stderr(&out).contains("rewritten or forked"), "{}", describe(&out));
    // A body changed in place (no chain recomputed): verify itself fails.
    let seg = db.join("segments/00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let out = verify_trusted(&db, &note_path, &key);
    assert_exit(&out, 1, "verify --trusted of a log with a changed byte");
    assert!(stderr(&out).contains("verify failed"), "{}", describe(&out));
}
