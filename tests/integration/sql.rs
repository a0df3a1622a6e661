//! `query` and `export` against the real binary: formats, files, refusals,
//! the timeout, a server, and exports that round-trip.

use crate::common::{
    assert_success, bin_path, describe, first_line_then_close, fixture_events, fixture_path, ingest_fixture,
    orc, orc_process, run, run_stdin, stderr, stdout, tail_json_raw, temp_db,
};
use crate::server::{signal, start_server, wait_exit};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

const BY_KIND: &str = "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind";

/// Events per kind, counted from the fixture's NDJSON.
fn fixture_kinds() -> BTreeMap<String, u64> {
    let mut want = BTreeMap::new();
    for e in fixture_events() {
        *want.entry(e["kind"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    want
}

fn csv_kinds(text: &str) -> BTreeMap<String, u64> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("kind,n"), "{text}");
    lines
        .map(|l| {
            let (k, n) = l.split_once(',').unwrap();
            (k.to_owned(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn query_formats_agree_with_the_ndjson() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let want = fixture_kinds();
    // Not a terminal: CSV by default.
    let csv = stdout(&assert_success(run(&db, &["query", BY_KIND]), "query csv"));
    assert_eq!(csv_kinds(&csv), want);
    let json = stdout(&assert_success(run(&db, &["query", BY_KIND, "--format", "json"]), "query json"));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let got: BTreeMap<String, u64> =
        rows.iter().map(|r| (r["kind"].as_str().unwrap().to_owned(), r["n"].as_u64().unwrap())).collect();
    assert_eq!(got, want);
    let nd = stdout(&assert_success(run(&db, &["query", BY_KIND, "--format", "ndjson"]), "query ndjson"));
    assert_eq!(nd.lines().count(), want.len());
    assert!(nd.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    let table = assert_success(
        run(
            &db,
            &["query", "SELECT seq, kind FROM events ORDER BY seq", "--format", "table", "--max-rows", "3"],
        ),
        "query table",
    );
    let text = stdout(&table);
    assert!(text.contains("| seq | kind") && text.contains("session_opened"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("| ")).count(), 4, "header + 3 rows: {text}");
    assert!(stderr(&table).contains("showing the first 3 rows"), "{}", stderr(&table));
    // Empty result: a header only.
    let none =
        stdout(&assert_success(run(&db, &["query", "SELECT seq FROM crashes WHERE seq > 1000"]), "empty"));
    assert!(none.lines().count() <= 1, "{none}");
}

#[test]
fn query_writes_files_atomically_and_parquet_needs_a_file() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let csv = dir.path().join("kinds.csv");
    let out =
        assert_success(run(&db, &["query", BY_KIND, "--output", csv.to_str().unwrap()]), "query --output");
    assert!(stderr(&out).contains(&format!("wrote {} rows", fixture_kinds().len())), "{}", stderr(&out));
    assert_eq!(csv_kinds(&std::fs::read_to_string(&csv).unwrap()), fixture_kinds());
    let pq = dir.path().join("captures.parquet");
    let out = assert_success(
        run(&db, &["query", "SELECT * FROM captures", "--format", "parquet", "-o", pq.to_str().unwrap()]),
        "query parquet",
    );
    assert!(stderr(&out).contains("wrote 146 rows"), "{}", stderr(&out));
    let bytes = std::fs::read(&pq).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "a Parquet file");
    let out = run(&db, &["query", BY_KIND, "--format", "parquet"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--format parquet needs --output"), "{}", stderr(&out));
    // A failing query leaves no file behind.
    let bad = dir.path().join("bad.csv");
    let out = run(&db, &["query", "SELECT nope FROM events", "-o", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!bad.exists() && names.iter().all(|n| !n.to_string_lossy().contains("tmp")), "{names:?}");
}

#[test]
fn query_refuses_anything_but_a_query_and_writes_nothing() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let file = dir.path().join("leak.csv");
    let f = file.to_str().unwrap();
    let before = tail_json_raw(&db);
    for sql in [
        "CREATE TABLE t AS SELECT * FROM events".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
        "DROP TABLE events".to_owned(),
        "INSERT INTO events SELECT * FROM events".to_owned(),
        "DELETE FROM events".to_owned(),
        "UPDATE events SET kind = 'x'".to_owned(),
        format!("COPY (SELECT * FROM events) TO '{f}'"),
        format!("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{f}'"),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "SELECT 1; SELECT 2".to_owned(),
        format!("SELECT * FROM '{f}'"),
        format!("SELECT * FROM read_csv('{f}')"),
    ] {
        let out = run(&db, &["query", &sql]);
        assert!(!out.status.success(), "{sql} is refused");
        let err = stderr(&out);
        assert!(err.contains("orc-log: ") && err.contains("query failed"), "{sql}: {err}");
        assert!(!err.contains("panicked"), "{sql}: {err}");
    }
    let out = run(&db, &["query", "DELETE FROM events"]);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert!(!file.exists(), "no file appears");
    assert_eq!(tail_json_raw(&db), before, "the log is unchanged");
    // A syntax error names the place.
    for (sql, column) in [
        ("SELECT kind FROM events WHERE kind = = 1", "column 38"),
        ("SELECT kind FROM events WHERE", "column 30"),
    ] {
        let out = run(&db, &["query", sql]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(&format!("(at line 1, {column})")), "{sql}: {}", stderr(&out));
    }
    let out = run(&db, &["query", "SELECT knd FROM events"]);
    assert!(stderr(&out).contains("Did you mean 'events.kind'"), "{}", stderr(&out));
}

#[test]
fn a_runaway_query_stops_at_the_timeout() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let sql = "SELECT count(*) FROM captures a, captures b, captures c \
               WHERE a.content || b.content || c.content LIKE '%no such text%'";
    let out = run(&db, &["query", sql, "--timeout", "300ms"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("stopped after --timeout 300ms"), "{}", stderr(&out));
}

#[test]
fn query_through_a_server_sees_every_committed_event() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let mut server = start_server(&db);
    assert_eq!(csv_kinds(&stdout(&assert_success(run(&db, &["query", BY_KIND]), "served"))), fixture_kinds());
    assert_success(run(&db, &["emit", "marker", "--label", "after"]), "emit");
    let out =
        stdout(&assert_success(run(&db, &["query", "SELECT label, seq FROM markers ORDER BY seq"]), "q"));
    assert!(out.contains("after,167"), "{out}");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

#[test]
fn export_ndjson_round_trips_and_keeps_the_time_range() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let all = stdout(&assert_success(run(&db, &["export", "--format", "ndjson"]), "export"));
    assert_eq!(all, tail_json_raw(&db), "the export is the log in NDJSON format v1");
    let (_dir2, other) = temp_db();
    assert_success(run_stdin(&other, &["ingest", "-"], all.clone()), "ingest the export");
    assert_eq!(tail_json_raw(&other), all);
    let (since, until) = ("2026-11-20T23:04:00Z", "2026-11-20T23:04:30Z");
    let part = dir.path().join("part.ndjson");
    let out = assert_success(
        run(
            &db,
            &[
                "export",
                "--format",
                "ndjson",
                "--since",
                since,
                "--until",
                until,
                "-o",
                part.to_str().unwrap(),
            ],
        ),
        "export range",
    );
    let since_ns = chrono::DateTime::parse_from_rfc3339(since).unwrap();
    let until_ns = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let want = fixture_events()
        .iter()
        .filter(|e| {
            let ts = chrono::DateTime::parse_from_rfc3339(e["ts"].as_str().unwrap()).unwrap();
            ts >= since_ns && ts < until_ns
        })
        .count();
    let text = std::fs::read_to_string(&part).unwrap();
    assert_eq!(text.lines().count(), want);
    assert!(stderr(&out).contains(&format!("exported {want} events")), "{}", stderr(&out));
    let out = run(&db, &["export", "--format", "ndjson", "--since", until, "--until", since]);
    assert!(!out.status.success() && stderr(&out).contains("--until must be after --since"));
}

#[test]
fn export_parquet_writes_one_file_per_table_or_day_partitions() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let out_dir = dir.path().join("pq");
    let out = assert_success(
        run(&db, &["export", "--format", "parquet", "--output", out_dir.to_str().unwrap()]),
        "export parquet",
    );
    let text = stdout(&out);
    for (table, rows) in [("events", 166), ("captures", 146), ("messages", 6), ("crashes", 1), ("markers", 1)]
    {
        let file = out_dir.join(format!("{table}.parquet"));
        let bytes = std::fs::read(&file).unwrap();
        assert!(bytes.starts_with(b"PAR1"), "{}", file.display());
        assert!(text.contains(&format!("{rows} rows  {}", file.display())), "{text}");
    }
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 14, "fourteen tables, no leftovers");
    let out = run(&db, &["export", "--format", "parquet", "--output", out_dir.to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = run(&db, &["export", "--format", "parquet"]);
    assert!(!out.status.success() && stderr(&out).contains("needs --output DIR"));
    let by_day = dir.path().join("by-day");
    assert_success(
        run(&db, &["export", "--format", "parquet", "--partition-by", "day", "-o", by_day.to_str().unwrap()]),
        "export by day",
    );
    let day = by_day.join("captures/day=2026-11-20");
    let files: Vec<_> = std::fs::read_dir(&day).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty() && files.iter().all(|f| f.extension().unwrap() == "parquet"), "{files:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_append_adds_only_new_events_and_refuses_what_it_cannot_append_to() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let shared = dir.path().join("shared");
    let s = shared.to_str().unwrap();
    let append = |db: &std::path::Path, host: &str| {
        run(
            db,
            &["export", "--format", "parquet", "--partition-by", "day", "--append", "--host", host, "-o", s],
        )
    };
    let out = assert_success(append(&db, "a"), "first append");
    assert!(stdout(&out).contains("166 rows"), "{}", stdout(&out));
    let file = shared.join("events/host=a/day=2026-11-20/part-000000000001-0.parquet");
    assert!(std::fs::read(&file).unwrap().starts_with(b"PAR1"), "{}", file.display());
    let state = std::fs::read_to_string(shared.join("_orc_log_export/host=a.json")).unwrap();
    assert!(state.contains("\"last_seq\": 166"), "{state}");
    let out = assert_success(append(&db, "a"), "append with nothing new");
    assert!(stderr(&out).contains("nothing to export"), "{}", stderr(&out));
    assert_success(run(&db, &["emit", "marker", "--label", "later"]), "emit");
    let out = assert_success(append(&db, "a"), "second append");
    assert!(stderr(&out).contains("appended events 167..=167"), "{}", stderr(&out));
    assert!(std::fs::read_dir(shared.join("markers/host=a")).unwrap().count() >= 1);
    // Another database under the same name, with fewer events: refused.
    let (_dir2, other) = temp_db();
    assert_success(run_stdin(&other, &["ingest", "-"], "{\"kind\":\"marker\",\"label\":\"x\"}\n"), "ingest");
    let out = append(&other, "a");
    assert!(!out.status.success() && stderr(&out).contains("a different database"), "{}", stderr(&out));
    assert_success(append(&other, "b"), "its own host name");
    for bad in [
        vec!["export", "--format", "parquet", "--append", "-o", s],
        vec!["export", "--format", "parquet", "--partition-by", "day", "--append", "--host", "a/b", "-o", s],
        vec!["export", "--format", "parquet", "--partition-by", "day", "--host", "a", "-o", s],
        vec![
            "export",
            "--format",
            "parquet",
            "--partition-by",
            "day",
            "--append",
            "--since",
            "2026-11-20T00:00:00Z",
            "-o",
            s,
        ],
        vec!["export", "--format", "ndjson", "--append"],
    ] {
        let out = run(&db, &bad);
        assert!(!out.status.success(), "{bad:?} should fail");
    }
    let leftovers: Vec<_> = std::fs::read_dir(shared.join("_orc_log_export"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers.len(), 2, "only the two hosts' states: {leftovers:?}");
}

/// `orc-log --db DB ARGS...` run under a pseudo-terminal (`script(1)`), as a
/// person types it: its output as the terminal shows it (CR LF as LF).
fn on_a_terminal(db: &Path, args: &[&str]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = format!("{} --db {}", quote(bin_path().to_str().unwrap()), quote(db.to_str().unwrap()));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("ORC_LOG_DB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs (util-linux)");
    assert!(out.status.success(), "{line} on a pty:\n{}", describe(&out));
    stdout(&out).replace("\r\n", "\n")
}

const FIRST_TWO: &str = "SELECT seq, kind FROM events ORDER BY seq LIMIT 2";
const NO_ROWS: &str = "SELECT seq, kind FROM events WHERE seq > 100000";
const TABLE_HEADER: &str = "| seq | kind ";

/// One rule with and without `orc-log serve`: a table on a terminal, CSV
/// into a pipe; 0 rows still show the table's header or the CSV header.
#[test]
fn query_prints_a_table_on_a_terminal_and_csv_otherwise_with_or_without_a_server() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let check = |how: &str| {
        let table = on_a_terminal(&db, &["query", FIRST_TWO]);
        assert!(table.contains(TABLE_HEADER) && table.contains("| 1   | session_opened |"), "{how}: {table}");
        let empty = on_a_terminal(&db, &["query", NO_ROWS]);
        assert!(empty.contains(TABLE_HEADER) && empty.contains("+-----+"), "{how}: 0 rows: {empty}");
        let csv = stdout(&assert_success(run(&db, &["query", FIRST_TWO]), how));
        assert_eq!(csv, "seq,kind\n1,session_opened\n2,window_opened\n", "{how}");
        let csv = stdout(&assert_success(run(&db, &["query", NO_ROWS]), how));
        assert_eq!(csv, "seq,kind\n", "{how}: 0 rows");
        // An explicit --format wins on a terminal too.
        let csv = on_a_terminal(&db, &["query", FIRST_TWO, "--format", "csv"]);
        assert!(csv.starts_with("seq,kind\n1,session_opened"), "{how}: {csv}");
    };
    check("without a server");
    let mut server = start_server(&db);
    check("through the server");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

#[test]
fn zero_rows_keep_their_header_in_every_text_format() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let q = |format: &str| stdout(&assert_success(run(&db, &["query", NO_ROWS, "--format", format]), format));
    assert_eq!(q("csv"), "seq,kind\n");
    let table = q("table");
    assert_eq!(
        table.lines().collect::<Vec<_>>(),
        ["+-----+------+", "| seq | kind |", "+-----+------+", "+-----+------+"]
    );
    assert_eq!(q("json"), "[]\n");
    assert_eq!(q("ndjson"), "");
}

/// `--output -` is standard output (no file named `-`) for `query` and
/// `export --format ndjson`; a Parquet export needs a real path.
#[test]
fn output_dash_means_stdout() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let in_dir = |args: &[&str]| orc(&db).current_dir(dir.path()).args(args).output().unwrap();
    let out = assert_success(in_dir(&["query", FIRST_TWO, "--output", "-"]), "query --output -");
    assert_eq!(stdout(&out), "seq,kind\n1,session_opened\n2,window_opened\n");
    let out = assert_success(in_dir(&["query", FIRST_TWO, "-o", "-", "--format", "json"]), "query -o - json");
    assert!(stdout(&out).starts_with("[\n{\"seq\":1"), "{}", describe(&out));
    let out = assert_success(in_dir(&["export", "--format", "ndjson", "--output", "-"]), "export -o -");
    assert_eq!(stdout(&out), tail_json_raw(&db));
    assert!(!dir.path().join("-").exists(), "a file named - was written");
    for args in [
        &["query", FIRST_TWO, "--format", "parquet", "-o", "-"][..],
        &["export", "--format", "parquet", "--output", "-"],
    ] {
        let out = in_dir(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).contains("needs --output"), "{args:?}: {}", describe(&out));
        assert!(!dir.path().join("-").exists(), "{args:?} wrote a file named -");
    }
}

/// `orc-log query ... | head -1`: the reader takes a line and goes away;
/// query ends quietly with exit 0, with and without a server.
#[test]
fn query_into_head_exits_0_quietly() {
    let (_dir, db) = temp_db();
    // Ten copies of the fixture: far more CSV than a pipe buffer holds.
    for _ in 0..10 {
        assert_success(run(&db, &["ingest", fixture_path().to_str().unwrap()]), "ingest");
    }
    let head_1 = |how: &str| {
        let first =
            first_line_then_close(&db, &["query", "SELECT seq, kind, target FROM events ORDER BY seq"]);
        assert_eq!(first, "seq,kind,target\n", "{how}");
    };
    head_1("without a server");
    let mut server = start_server(&db);
    head_1("through the server");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

/// Every command that writes to stdout, into a pipe already closed: each
/// ends quietly with exit 0 (a closed output is success, as for `tail`).
#[test]
fn every_read_command_into_a_closed_pipe_exits_0_quietly() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let commands: &[&[&str]] = &[
        &["tail"],
        &["tail", "--format", "json", "--kind", "capture,message"],
        &["stats"],
        &["state"],
        &["metrics"],
        &["verify"],
        &["replay"],
        &["query", "SELECT * FROM events"],
        &["query", "SELECT * FROM events", "--format", "table"],
        &["query", "SELECT * FROM events", "--format", "json"],
        &["search", "Traceback"],
        &["export", "--format", "ndjson"],
        &["session", "list"],
        &["session", "replay", "proj:1.0"],
        &["session", "export", "proj:1.0"],
    ];
    let run_all = |how: &str| {
        for args in commands {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let out = orc_process(&db)
                .args(*args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(writer)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{how}: {args:?} into a closed pipe:\n{}", describe(&out));
            assert_eq!(stderr(&out), "", "{how}: {args:?} into a closed pipe must be silent");
        }
    };
    run_all("without a server");
    let mut server = start_server(&db);
    run_all("through the server");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}
