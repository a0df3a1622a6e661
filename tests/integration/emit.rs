//! `orc-log emit`: one event per run, seq on stdout; ids make retries safe.
//! Also `tail` into a closed pipe.

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;

const TS: &str = "2026-03-04T05:06:07.123456789Z";

/// Runs `emit --ts TS ARGS...` and asserts it printed `seq` and nothing on stderr.
#[track_caller]
fn emit_ok(db: &Path, args: &[&str], stdin: &str, seq: u64) {
    let mut all = vec!["emit", "--ts", TS];
    all.extend_from_slice(args);
    let out = assert_success(run_stdin(db, &all, stdin), &format!("emit {}", args.join(" ")));
    assert_eq!(stdout(&out), format!("{seq}\n"), "emit prints the new seq");
    assert_eq!(stderr(&out), "", "emit {args:?} wrote to stderr");
}

#[test]
fn each_emit_subcommand_appends_its_event() {
    let (tmp, db) = temp_db();
    let capture_file = tmp.path().join("pane.txt");
    std::fs::write(&capture_file, "line one\n\x1b[31mred\x1b[0m $ \n").unwrap();

    emit_ok(&db, &["message", "--from", "pm", "--to", "proj:1.0", "--text", "status?\nnow"], "", 1);
    emit_ok(
        &db,
        &["schedule", "--target", "proj:0.0", "--note", "check in", "--due", "2026-03-04T06:00:00+01:00"],
        "",
        2,
    );
    emit_ok(&db, &["schedule-fired", "--target", "proj:0.0", "--note", "check in"], "", 3);
    emit_ok(&db, &["schedule-fired", "--target", "proj:0.0"], "", 4);
    emit_ok(
        &db,
        &[
            "crash",
            "--target",
            "proj:2.0",
            "--reason",
            "exit 139",
            "--excerpt",
            "Segmentation fault",
            "--detector",
            "watchdog",
        ],
        "",
        5,
    );
    emit_ok(&db, &["crash", "--target", "proj:2.0", "--reason", "gone"], "", 6);
    emit_ok(&db, &["marker", "--label", "phase 2", "--target", "orch:0.0"], "", 7);
    emit_ok(&db, &["--id", "m-8", "marker", "--label", "plain"], "", 8);
    emit_ok(
        &db,
        &[
            "capture",
            "--target",
            "proj:1.0",
            "--file",
            capture_file.to_str().unwrap(),
            "--width",
            "120",
            "--height",
            "40",
            "--cursor-x",
            "3",
            "--cursor-y",
            "1",
        ],
        "",
        9,
    );
    emit_ok(&db, &["capture", "--target", "proj:1.0"], "from stdin ✓\n", 10);

    let want = vec![
        json!({"seq":1,"kind":"message","ts":TS,"from":"pm","to":"proj:1.0","text":"status?\nnow"}),
        json!({"seq":2,"kind":"schedule","ts":TS,"target":"proj:0.0","note":"check in","due":"2026-03-04T05:00:00Z"}),
        json!({"seq":3,"kind":"schedule_fired","ts":TS,"target":"proj:0.0","note":"check in"}),
        json!({"seq":4,"kind":"schedule_fired","ts":TS,"target":"proj:0.0"}),
        json!({"seq":5,"kind":"crash","ts":TS,"target":"proj:2.0","reason":"exit 139",
               "excerpt":"Segmentation fault","detector":"watchdog"}),
        json!({"seq":6,"kind":"crash","ts":TS,"target":"proj:2.0","reason":"gone"}),
        json!({"seq":7,"kind":"marker","ts":TS,"label":"phase 2","target":"orch:0.0"}),
        json!({"seq":8,"kind":"marker","ts":TS,"label":"plain","id":"m-8"}),
        json!({"seq":9,"kind":"capture","ts":TS,"target":"proj:1.0","width":120,"height":40,
               "cursor_x":3,"cursor_y":1,"content":"line one\n\x1b[31mred\x1b[0m $ \n"}),
        json!({"seq":10,"kind":"capture","ts":TS,"target":"proj:1.0","content":"from stdin ✓\n"}),
    ];
    let got = tail_json(&db);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    assert_verify_ok(&db, 10);
}

#[test]
fn emit_schedule_in_duration_is_due_after_now() {
    let (_tmp, db) = temp_db();
    let out = assert_success(
        run(&db, &["emit", "schedule", "--target", "s:0.0", "--note", "later", "--in", "15m"]),
        "emit schedule --in",
    );
    assert_eq!(stdout(&out), "1\n");
    let ev = &tail_json(&db)[0];
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(ev[field].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {ev}"))
    };
    let delta = time("due") - time("ts");
    assert!((899..=901).contains(&delta.num_seconds()), "due should be 15 min after ts, got {delta}: {ev}");
}

#[test]
fn emit_with_the_same_id_twice_appends_once() {
    let (_tmp, db) = temp_db();
    let args = ["emit", "--id", "retry-1", "marker", "--label", "once"];
    let out = assert_success(run(&db, &args), "first emit");
    assert_eq!(stdout(&out), "1\n");
    assert_eq!(stderr(&out), "");

    let out = assert_success(run(&db, &args), "second emit with the same id");
    assert_eq!(stdout(&out), "1\n", "the retry prints the seq the id already has");
    assert!(
        stderr(&out).contains(r#"id "retry-1" is already in the log at seq 1; nothing appended"#),
        "{}",
        describe(&out)
    );

    // Even with a different body: the id decides.
    let out = assert_success(run(&db, &["emit", "--id", "retry-1", "marker", "--label", "other"]), "third");
    assert_eq!(stdout(&out), "1\n");

    let back = tail_json(&db);
    assert_eq!(back.len(), 1, "one event: {back:?}");
    assert_eq!(back[0]["label"], "once");
    assert_eq!(back[0]["id"], "retry-1");
    assert_verify_ok(&db, 1);
}

#[test]
fn emit_with_a_bad_target_is_a_usage_error() {
    let (_tmp, db) = temp_db();
    let out = run(&db, &["emit", "message", "--from", "pm", "--to", "nocolon", "--text", "hi"]);
    assert_exit(&out, 2, "emit --to nocolon");
    let err = stderr(&out);
    assert!(err.contains("invalid value 'nocolon' for '--to <TO>'"), "{err}");
    assert!(err.contains("expected session:window.pane"), "{err}");
    assert_eq!(stdout(&out), "");
    assert!(!db.exists(), "a usage error must not create the database");
}

#[test]
fn emit_usage_errors_exit_2_and_append_nothing() {
    let (_tmp, db) = temp_db();
    assert_success(run(&db, &["emit", "marker", "--label", "first"]), "first emit");
    let cases: &[(&[&str], &str)] = &[
        (&["emit", "marker", "--label", ""], "must not be empty"),
        (&["emit", "--ts", "yesterday", "marker", "--label", "x"], "--ts"),
        (&["emit", "--id", "", "marker", "--label", "x"], "must be 1 to 128 bytes"),
        (&["emit", "crash", "--target", "s:0.0"], "--reason"),
        (&["emit", "schedule", "--target", "s:0.0", "--note", "n"], "--due"),
        (&["emit", "schedule", "--target", "s:0.0", "--note", "n", "--in", "soon"], "--in"),
        (&["emit", "schedule", "--target", "s:0.0", "--note", "n", "--in", "10"], "a duration needs a unit"),
        (&["emit", "marker", "--label", "x", "--target", "s:x.0"], "--target"),
    ];
    for (args, piece) in cases {
        let out = run(&db, args);
        assert_exit(&out, 2, &format!("{args:?}"));
        assert!(
            stderr(&out).contains(piece),
            "{args:?}: stderr should mention {piece:?}:\n{}",
            describe(&out)
        );
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    let back = tail_json(&db);
    assert_eq!(back.len(), 1, "only the first marker: {back:?}");
}

#[test]
fn tail_into_a_closed_pipe_exits_0_silently() {
    let (_tmp, db) = temp_db();
    // Ten copies of the fixture: several MB of JSON, far more than a pipe
    // buffer, so tail is still writing when the reader goes away.
    let fixture = fixture_path();
    for _ in 0..10 {
        assert_success(run(&db, &["ingest", fixture.to_str().unwrap()]), "ingest");
    }
    let first = first_line_then_close(&db, &["tail", "--format", "json"]);
    let ev: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(ev["seq"], 1);
    assert_eq!(ev["kind"], "session_opened");

    let first = first_line_then_close(&db, &["tail"]);
    assert!(first.trim_start().starts_with("1 "), "text line for seq 1: {first:?}");

    // The log is intact afterwards.
    assert_verify_ok(&db, 1660);
}

#[test]
fn tail_on_a_missing_database_says_so() {
    let (_tmp, db) = temp_db();
    let out = run(&db, &["tail"]);
    assert_exit(&out, 1, "tail on a missing database");
    assert!(stderr(&out).contains("no database at"), "{}", describe(&out));
    assert!(!db.exists(), "tail must not create a database");
}

/// `--kind` takes a comma list (as `/api/events?kind=` does), the same as
/// the flag repeated; an unknown name in the list is a usage error naming it.
#[test]
fn tail_kind_takes_a_comma_list() {
    let (_tmp, db) = temp_db();
    ingest_fixture(&db);
    let json = |args: &[&str]| {
        let mut all = vec!["tail", "--format", "json"];
        all.extend_from_slice(args);
        parse_ndjson(&stdout(&assert_success(run(&db, &all), &format!("{args:?}"))))
    };
    let listed = json(&["--kind", "message,schedule"]);
    let want: Vec<Value> =
        tail_json(&db).into_iter().filter(|e| e["kind"] == "message" || e["kind"] == "schedule").collect();
    assert!(want.iter().any(|e| e["kind"] == "message") && want.iter().any(|e| e["kind"] == "schedule"));
    assert_eq!(listed, want);
    assert_eq!(json(&["--kind", "message", "--kind", "schedule"]), want);
    assert_eq!(json(&["--kind=schedule,message", "-n", "1"]), want[want.len() - 1..]);
    let out = run(&db, &["tail", "--kind", "message,nope"]);
    assert_exit(&out, 2, "--kind message,nope");
    assert!(stderr(&out).contains("unknown kind \"nope\""), "{}", describe(&out));
}
