//! Time flags: `--since`/`--until`/`--at` take RFC 3339, a duration before
//! now (`10m`) or `now`, and refuse anything else naming it.

use crate::common::*;

/// Ingests NDJSON `lines` from standard input.
fn ingest_lines(db: &std::path::Path, lines: &[String]) {
    assert_success(run_stdin(db, &["ingest"], ndjson(lines)), "ingest");
}

/// The labels of `tail --format json` with `args`.
fn tail_labels(db: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["tail", "--format", "json"];
    all.extend_from_slice(args);
    let out = assert_success(run(db, &all), "tail");
    parse_ndjson(&stdout(&out)).iter().map(|e| e["label"].as_str().unwrap().to_owned()).collect()
}

fn marker(label: &str, secs_ago: i64) -> String {
    format!(r#"{{"kind":"marker","label":"{label}","ts":"{}"}}"#, from_now(-secs_ago))
}

#[test]
fn tail_since_a_duration_shows_only_that_recent_past() {
    let (_dir, db) = temp_db();
    ingest_lines(
        &db,
        &[
            marker("two-hours", 7200),
            marker("eleven-min", 660),
            marker("nine-min", 540),
            marker("one-min", 60),
        ],
    );
    assert_eq!(tail_labels(&db, &["--since", "10m"]), ["nine-min", "one-min"]);
    assert_eq!(tail_labels(&db, &["--since", "3h"]).len(), 4);
    assert_eq!(tail_labels(&db, &["--since", "90s"]), ["one-min"]);
    assert!(tail_labels(&db, &["--since", "now"]).is_empty());
    // Through a server, too: the follow's command line carries the resolved time.
    let mut server = crate::server::start_server(&db);
    assert_eq!(tail_labels(&db, &["--since", "10m"]), ["nine-min", "one-min"]);
    crate::server::signal(&server, "TERM");
    assert!(crate::server::wait_exit(&mut server).success());
}

#[test]
fn search_since_and_until_take_durations() {
    let (_dir, db) = temp_db();
    let message = |text: &str, secs_ago: i64| {
        format!(
            r#"{{"kind":"message","from":"pm","to":"s:0.0","text":"{text}","ts":"{}"}}"#,
            from_now(-secs_ago)
        )
    };
    ingest_lines(&db, &[message("needle old", 3 * 3600), message("needle new", 600)]);
    let hits = |args: &[&str]| {
        let mut all = vec!["search", "needle", "--format", "json"];
        all.extend_from_slice(args);
        let out = run(&db, &all);
        assert_no_crash(&out, "search");
        parse_ndjson(&stdout(&out))
            .iter()
            .map(|h| h["snippet"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(hits(&["--since", "1h"]), ["needle new"]);
    assert_eq!(hits(&["--until", "1h"]), ["needle old"]);
    assert_eq!(hits(&["--since", "4h", "--until", "now"]).len(), 2);
}

#[test]
fn state_at_a_duration_is_the_log_as_of_then() {
    let (_dir, db) = temp_db();
    let opened = |session: &str, secs_ago: i64| {
        format!(r#"{{"kind":"session_opened","session":"{session}","ts":"{}"}}"#, from_now(-secs_ago))
    };
    ingest_lines(&db, &[opened("early", 600), opened("late", 60)]);
    let state = |at: &str| {
        let out = assert_success(run(&db, &["state", "--at", at, "--format", "json"]), "state --at");
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    let then = state("5m");
    assert_eq!(then["seq"], 1, "{then}");
    let names: Vec<&str> =
        then["sessions"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["early"], "{then}");
    assert_eq!(state("now")["seq"], 2);
}

#[test]
fn a_time_that_is_none_of_the_three_forms_is_refused_naming_it() {
    let (_dir, db) = temp_db();
    for (args, bad) in [
        (&["tail", "--since", "10"][..], "10"),
        (&["tail", "--since", "yesterday"][..], "yesterday"),
        (&["search", "x", "--until", "5 parsecs"][..], "5 parsecs"),
        (&["state", "--at", "2026-11-20 23:00"][..], "2026-11-20 23:00"),
        (&["metrics", "--at=-5m"][..], "-5m"),
    ] {
        let out = run(&db, args);
        assert_no_crash(&out, "a bad time");
        assert_exit(&out, 2, "a bad time");
        let err = stderr(&out);
        assert!(err.contains(&format!("{bad:?} is not a time")), "{args:?}: {err}");
        assert!(err.contains("RFC 3339") && err.contains("10m") && err.contains("now"), "{args:?}: {err}");
    }
}
