//! Round trips: NDJSON in, the same NDJSON out; ids make re-ingest idempotent.

use crate::common::*;
use serde_json::Value;

/// The fixture with a producer id added to every line.
fn fixture_with_ids() -> Vec<String> {
    fixture_events()
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.as_object_mut().unwrap().insert("id".into(), Value::from(format!("fixture-{i}")));
            e.to_string()
        })
        .collect()
}

#[test]
fn fixture_round_trips_field_for_field() {
    let (_tmp, db) = temp_db();
    let fixture = fixture_path();
    let out = assert_success(run(&db, &["ingest", fixture.to_str().unwrap()]), "ingest");
    assert_eq!(stdout(&out), "", "ingest prints nothing on stdout");
    assert!(
        stderr(&out).contains("appended 166 events (seq 1..=166)"),
        "ingest summary:\n{}",
        describe(&out)
    );

    let back = tail_json(&db);
    assert_eq!(seqs(&back), (1..=FIXTURE_EVENTS).collect::<Vec<_>>(), "seqs are 1..=166 in order");
    let want = fixture_events();
    let got = without_seq(&back);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "fixture line {} differs after the round trip", i + 1);
    }
    assert_verify_ok(&db, FIXTURE_EVENTS);
}

#[test]
fn fixture_round_trips_through_stdin() {
    let (_tmp, db) = temp_db();
    let out = assert_success(run_stdin(&db, &["ingest", "-"], ndjson(&fixture_lines())), "ingest from stdin");
    assert!(stderr(&out).contains("appended 166 events (seq 1..=166)"), "{}", describe(&out));
    assert_eq!(without_seq(&tail_json(&db)), fixture_events());
    assert_verify_ok(&db, FIXTURE_EVENTS);
}

#[test]
fn tail_json_piped_into_ingest_rebuilds_an_identical_log() {
    let (_tmp_a, a) = temp_db();
    let (_tmp_b, b) = temp_db();
    ingest_fixture(&a);
    let dump = tail_json_raw(&a);
    assert_eq!(dump.lines().count(), 166);

    let out = assert_success(run_stdin(&b, &["ingest"], dump.clone()), "ingest of tail output");
    assert!(stderr(&out).contains("appended 166 events (seq 1..=166)"), "{}", describe(&out));
    assert_eq!(tail_json_raw(&b), dump, "the copy's tail --format json is byte-identical");
    assert_verify_ok(&b, FIXTURE_EVENTS);

    // Same events, same seqs: the same hash chain.
    let chain = |db| {
        let out = assert_success(run(db, &["verify"]), "verify");
        stdout(&out).split("chain ").nth(1).map(|s| s.trim().to_owned()).expect("verify prints the chain")
    };
    assert_eq!(chain(&a), chain(&b), "both logs end with the same chain hash");
}

#[test]
fn reingesting_lines_without_ids_appends_them_again() {
    let (_tmp, db) = temp_db();
    ingest_fixture(&db);
    let fixture = fixture_path();
    let out = assert_success(run(&db, &["ingest", fixture.to_str().unwrap()]), "second ingest");
    assert!(
        stderr(&out).contains("appended 166 events (seq 167..=332)"),
        "no ids, so every line is appended again:\n{}",
        describe(&out)
    );
    let back = tail_json(&db);
    assert_eq!(seqs(&back), (1..=332).collect::<Vec<_>>());
    let want = fixture_events();
    let got = without_seq(&back);
    assert_eq!(got[..166], want[..], "first copy");
    assert_eq!(got[166..], want[..], "second copy");
    assert_verify_ok(&db, 332);
}

#[test]
fn reingesting_lines_with_ids_appends_nothing() {
    let (tmp, db) = temp_db();
    let lines = fixture_with_ids();
    let file = tmp.path().join("with-ids.ndjson");
    std::fs::write(&file, ndjson(&lines)).unwrap();
    let file = file.to_str().unwrap();

    let out = assert_success(run(&db, &["ingest", file]), "first ingest");
    assert!(stderr(&out).contains("appended 166 events (seq 1..=166)"), "{}", describe(&out));
    let first = tail_json_raw(&db);

    let out = assert_success(run(&db, &["ingest", file]), "second ingest of the same file");
    assert!(
        stderr(&out).contains("appended 0 events, skipped 166 already in the log (same id)"),
        "second ingest must skip every line:\n{}",
        describe(&out)
    );
    assert_eq!(tail_json_raw(&db), first, "the log is unchanged");

    // tail's own output (seq + id) fed back in is also a no-op.
    let out = assert_success(run_stdin(&db, &["ingest"], first.clone()), "ingest of own tail");
    assert!(stderr(&out).contains("appended 0 events, skipped 166"), "{}", describe(&out));
    assert_eq!(tail_json_raw(&db), first, "the log is unchanged");

    let back = tail_json(&db);
    assert_eq!(seqs(&back), (1..=FIXTURE_EVENTS).collect::<Vec<_>>());
    let want: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(without_seq(&back), want, "ids are kept field-for-field");
    assert_verify_ok(&db, FIXTURE_EVENTS);
}

#[test]
fn repeated_id_within_one_input_is_appended_once() {
    let (_tmp, db) = temp_db();
    let input = ndjson(&[
        r#"{"kind":"marker","label":"first","id":"dup","ts":"2026-01-01T00:00:00Z"}"#,
        r#"{"kind":"marker","label":"second","id":"dup","ts":"2026-01-01T00:00:01Z"}"#,
        r#"{"kind":"marker","label":"third","ts":"2026-01-01T00:00:02Z"}"#,
    ]);
    let out = assert_success(run_stdin(&db, &["ingest"], input), "ingest");
    assert!(
        stderr(&out).contains("appended 2 events (seq 1..=2), skipped 1 already in the log (same id)"),
        "{}",
        describe(&out)
    );
    let back = tail_json(&db);
    let labels: Vec<&str> = back.iter().map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["first", "third"], "the first line with an id wins");
    assert_verify_ok(&db, 2);
}
