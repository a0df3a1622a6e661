//! Bad NDJSON lines: ingest stops at the first one (everything before it is
//! stored, nothing after), or with `--skip-invalid` reports it and goes on.
//!
//! Every case feeds 3 good lines, the bad line (line 4), then 2 good lines
//! (the duplicate-key case: 2, the bad line 3, then 3).
//!
//! Then bad arguments: duration flags without a unit, a tmux socket or
//! session that does not exist, and `serve --http` with host names.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// The five good lines: 3 before the bad one, 2 after.
fn good_lines() -> Vec<String> {
    (1..=5)
        .map(|i| {
            format!(
                r#"{{"kind":"marker","label":"good-{i}","target":"s:0.{i}","ts":"2026-01-01T00:00:0{i}Z"}}"#
            )
        })
        .collect()
}

fn good_values() -> Vec<Value> {
    good_lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `before` good lines, `bad`, the other good lines, as bytes.
fn input_with(bad: &[u8], before: usize) -> Vec<u8> {
    let good = good_lines();
    let mut input = Vec::new();
    for l in &good[..before] {
        input.extend_from_slice(l.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(bad);
    input.push(b'\n');
    for l in &good[before..] {
        input.extend_from_slice(l.as_bytes());
        input.push(b'\n');
    }
    input
}

/// Ingests `input_with(bad, 3)` from a file, strictly and with `--skip-invalid`,
/// and checks exit status, messages and log contents. `expect` are the
/// pieces the line-4 error must contain (kind of problem, field, reason).
fn check_bad_line(bad: &[u8], expect: &[&str]) {
    check_bad_line_at(4, bad, expect);
}

/// [`check_bad_line`] with the bad line at line `at` (2..=6).
fn check_bad_line_at(at: usize, bad: &[u8], expect: &[&str]) {
    let before = at - 1;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("input.ndjson");
    std::fs::write(&file, input_with(bad, before)).unwrap();
    let name = file.to_str().unwrap();

    // Strict: fail at the bad line, keep the lines before it.
    let strict = tmp.path().join("strict-db");
    let out = run(&strict, &["ingest", name]);
    assert_no_crash(&out, "strict ingest");
    assert_exit(&out, 1, "strict ingest of a bad line");
    let err = stderr(&out);
    let line_at = format!("orc-log: {name}: line {at}: ");
    assert!(err.contains(&line_at), "stderr should name {line_at:?}:\n{err}");
    let reported = err.lines().find(|l| l.starts_with(&line_at)).unwrap();
    for piece in expect {
        assert!(reported.contains(piece), "the line {at} error should contain {piece:?}:\n{reported}");
    }
    let kept = format!("appended {before} events (seq 1..={before}); nothing from line {at} on was appended");
    assert!(err.contains(&kept), "stderr should say what was kept:\n{err}");
    assert_eq!(stdout(&out), "");
    assert_log_is(&strict, &good_values()[..before]);
    assert_verify_ok(&strict, before as u64);

    // --skip-invalid: report the bad line, keep the other five.
    let lenient = tmp.path().join("lenient-db");
    let out = run(&lenient, &["ingest", "--skip-invalid", name]);
    assert_no_crash(&out, "ingest --skip-invalid");
    let out = assert_success(out, "ingest --skip-invalid");
    let err = stderr(&out);
    let reported = err
        .lines()
        .find(|l| l.starts_with(&line_at))
        .unwrap_or_else(|| panic!("stderr should report {line_at:?}:\n{err}"));
    assert!(reported.ends_with("(skipped)"), "{reported}");
    for piece in expect {
        assert!(reported.contains(piece), "the line {at} report should contain {piece:?}:\n{reported}");
    }
    let reports = err.lines().filter(|l| l.starts_with(&format!("orc-log: {name}: line "))).count();
    assert_eq!(reports, 1, "only line {at} is reported:\n{err}");
    assert!(
        err.contains("appended 5 events (seq 1..=5), skipped 1 invalid lines"),
        "summary should count the skip:\n{err}"
    );
    assert_log_is(&lenient, &good_values());
    assert_verify_ok(&lenient, 5);
}

/// The log holds exactly `want` (seqs 1..), field for field.
#[track_caller]
fn assert_log_is(db: &Path, want: &[Value]) {
    let back = tail_json(db);
    assert_eq!(seqs(&back), (1..=want.len() as u64).collect::<Vec<_>>());
    assert_eq!(without_seq(&back), want);
}

#[test]
fn invalid_json() {
    check_bad_line(br#"{"kind":"marker","label":"x""#, &["invalid JSON: ", "EOF while parsing"]);
}

#[test]
fn json_that_is_not_an_object() {
    check_bad_line(b"[1,2]", &["invalid JSON: expected a JSON object, found array"]);
}

#[test]
fn duplicate_key_on_line_3() {
    check_bad_line_at(
        3,
        br#"{"kind":"marker","label":"a","label":"b"}"#,
        &[r#"duplicate key "label": given twice, first "a" then "b""#],
    );
}

#[test]
fn duplicate_key_in_a_nested_object() {
    check_bad_line(
        br#"{"kind":"marker","label":"x","extra":{"k":1,"k":2}}"#,
        &[r#"duplicate key "k": given twice, first 1 then 2"#],
    );
}

#[test]
fn unknown_kind() {
    check_bad_line(
        br#"{"kind":"pane_exploded","target":"s:0.0"}"#,
        &[r#"unknown kind "kind": "pane_exploded" is not one of capture, message"#],
    );
}

#[test]
fn unknown_field() {
    check_bad_line(
        br#"{"kind":"marker","label":"x","colour":"red"}"#,
        &[r#"unknown field "colour": kind marker has no such field (its fields: label, target)"#],
    );
}

#[test]
fn missing_field() {
    check_bad_line(
        br#"{"kind":"message","from":"pm","to":"s:1.0"}"#,
        &[r#"missing field "text": required for kind message"#],
    );
}

#[test]
fn missing_kind() {
    check_bad_line(br#"{"label":"x"}"#, &[r#"missing field "kind": required"#]);
}

#[test]
fn wrong_type() {
    check_bad_line(
        br#"{"kind":"capture","target":"s:1.0","content":"x","width":"80"}"#,
        &[r#"wrong type "width": expected an integer 0..=4294967295, found string "80""#],
    );
}

#[test]
fn bad_target() {
    check_bad_line(br#"{"kind":"crash","target":"nocolon","reason":"r"}"#, &[r#"bad target "target": "#]);
}

#[test]
fn bad_time() {
    check_bad_line(br#"{"kind":"marker","label":"x","ts":"2026-01-01 00:00"}"#, &[r#"bad time "ts": "#]);
}

#[test]
fn line_over_the_size_limit() {
    // A well-formed event of 9 MiB: only its length is wrong.
    let head = br#"{"kind":"marker","label":""#;
    let tail = br#""}"#;
    let len = 9 * 1024 * 1024;
    let mut bad = Vec::with_capacity(len);
    bad.extend_from_slice(head);
    bad.resize(len - tail.len(), b'x');
    bad.extend_from_slice(tail);
    assert_eq!(bad.len(), len);
    check_bad_line(&bad, &[&format!("line too long: {len} bytes, the limit is 8388608 bytes")]);
}

#[test]
fn non_utf8_bytes() {
    check_bad_line(b"{\"kind\":\"marker\",\"label\":\"caf\xe9 \xff\xfe\"}", &["invalid JSON: not UTF-8"]);
}

#[test]
fn bad_line_on_stdin_is_named_stdin() {
    let (_tmp, db) = temp_db();
    let out = run_stdin(&db, &["ingest"], input_with(br#"{"kind":"marker","label":"x","colour":1}"#, 3));
    assert_exit(&out, 1, "ingest from stdin");
    assert!(stderr(&out).contains(r#"orc-log: stdin: line 4: unknown field "colour""#), "{}", describe(&out));
    assert_log_is(&db, &good_values()[..3]);
}

#[test]
fn bad_line_with_batches_of_one_keeps_exactly_the_lines_before_it() {
    let (tmp, db) = temp_db();
    let file = tmp.path().join("in.ndjson");
    std::fs::write(&file, input_with(br#"{"kind":"marker"}"#, 3)).unwrap();
    let out = run(&db, &["ingest", "--batch-events", "1", file.to_str().unwrap()]);
    assert_exit(&out, 1, "ingest --batch-events 1");
    assert!(stderr(&out).contains(r#"line 4: missing field "label""#), "{}", describe(&out));
    assert_log_is(&db, &good_values()[..3]);
    assert_verify_ok(&db, 3);
}

/// Every duration flag takes the same syntax and demands a unit: a bare
/// number is a usage error naming the value, with an example.
#[test]
fn duration_flags_demand_a_unit_and_name_the_value() {
    let (_tmp, db) = temp_db();
    let cases: &[(&[&str], &str)] = &[
        (&["emit", "schedule", "--target", "s:0.0", "--note", "n", "--in", "10"], "'10' for '--in"),
        (&["--lock-timeout", "5", "stats"], "'5' for '--lock-timeout"),
        (&["query", "SELECT 1", "--timeout", "60"], "'60' for '--timeout"),
        (&["session", "record", "--interval", "1"], "'1' for '--interval"),
        (&["session", "record", "--duration", "30"], "'30' for '--duration"),
        (&["session", "replay", "s:0.0", "--idle-limit", "2"], "'2' for '--idle-limit"),
        (&["hook", "--timeout", "250"], "'250' for '--timeout"),
        (&["demo", "--duration", "25"], "'25' for '--duration"),
    ];
    for (args, names) in cases {
        let out = run(&db, args);
        assert_exit(&out, 2, &format!("{args:?}"));
        let err = stderr(&out);
        assert!(err.contains(names), "{args:?}: should name the value ({names}):\n{err}");
        assert!(err.contains("a duration needs a unit, e.g. 500ms, 90s"), "{args:?}: an example:\n{err}");
    }
    assert!(!db.exists(), "a usage error must not create the database");
    // With a unit, fractions included, the same flags work.
    let out = assert_success(
        run(&db, &["emit", "schedule", "--target", "s:0.0", "--note", "n", "--in", "1.5m"]),
        "emit schedule --in 1.5m",
    );
    assert_eq!(stdout(&out), "1\n");
    let ev = &tail_json(&db)[0];
    let at = |f: &str| chrono::DateTime::parse_from_rfc3339(ev[f].as_str().unwrap()).unwrap();
    assert_eq!((at("due") - at("ts")).num_seconds(), 90, "{ev}");
}

/// `session record` on a tmux socket nobody serves (a typo), or for a
/// session the server does not have, fails naming it, records nothing and
/// creates no database.
#[test]
fn recording_a_missing_tmux_socket_or_session_is_an_error() {
    let (_tmp, db) = temp_db();
    let typo = format!("orc-log-typo-{}", std::process::id());
    let out = run(&db, &["session", "record", "--tmux-socket", &typo, "--duration", "5s"]);
    assert_exit(&out, 1, "session record --tmux-socket typo");
    let err = stderr(&out);
    assert!(err.contains("no tmux server") && err.contains(&format!("-L {typo}")), "{err}");
    assert!(!err.contains("recorded 0 events"), "{err}");

    let server = tmux_server("team", 80, 24);
    let sock = socket_of(&server);
    let out = run(
        &db,
        &[
            "session",
            "record",
            "--tmux-socket",
            sock,
            "--session",
            "team",
            "--session",
            "nosuch",
            "--duration",
            "5s",
        ],
    );
    assert_exit(&out, 1, "session record --session nosuch");
    let err = stderr(&out);
    assert!(err.contains(r#"no tmux session named "nosuch""#) && err.contains("its sessions: team"), "{err}");
    assert!(!db.exists(), "nothing was recorded, no database created");
    // The session that exists records as before.
    let out =
        run(&db, &["session", "record", "--tmux-socket", sock, "--session", "team", "--duration", "300ms"]);
    assert_success(out, "session record --session team");
    assert!(tail_json(&db).iter().any(|e| e["kind"] == "capture"), "{:?}", tail_json(&db));
}

/// `serve --http` takes a host name (`localhost:PORT`), not only an IP
/// address; one that does not resolve is a usage error naming it.
#[test]
fn serve_http_takes_host_names() {
    use std::io::BufRead;
    let (_tmp, db) = temp_db();
    for (addr, piece) in
        [("localhost:http", "\"localhost:http\""), ("no-such-host.invalid:8642", "no-such-host.invalid")]
    {
        let out = run(&db, &["serve", "--http", addr]);
        assert_exit(&out, 2, &format!("serve --http {addr}"));
        assert!(
            stderr(&out).contains(piece) && stderr(&out).contains("e.g. 127.0.0.1:8642"),
            "{}",
            describe(&out)
        );
    }
    let mut child = orc_process(&db)
        .args(["serve", "--http", "localhost:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("orc-log: web view on ").map(str::to_owned))
        .expect("serve --http localhost:0 prints its address");
    let (status, _, body) = crate::web::get(&format!("{}api/state", url));
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert!(url.starts_with("http://127.0.0.1:"), "localhost resolves to loopback: {url}");
    assert_eq!(status, 200, "{body}");
}
