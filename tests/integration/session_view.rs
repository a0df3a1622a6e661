//! `session list`, `session replay` and `session export` against the fixture,
//! direct and through a server.

use crate::common::{
    assert_success, describe, fixture_events, ingest_fixture, orc, run, run_stdin, stderr, stdout, temp_db,
};
use crate::server::{signal, start_server, wait_exit};
use orc_log_schemas::parse_rfc3339;
use serde_json::Value;
use std::collections::BTreeMap;

/// Per target: (number of captures, first ts, last ts) from the fixture itself.
fn fixture_captures() -> BTreeMap<String, (u64, i64, i64)> {
    let mut panes: BTreeMap<String, (u64, i64, i64)> = BTreeMap::new();
    for e in fixture_events().iter().filter(|e| e["kind"] == "capture") {
        let target = e["target"].as_str().unwrap().to_owned();
        let ts = parse_rfc3339(e["ts"].as_str().unwrap()).unwrap();
        let p = panes.entry(target).or_insert((0, ts, ts));
        p.0 += 1;
        p.1 = p.1.min(ts);
        p.2 = p.2.max(ts);
    }
    panes
}

/// The contents of the fixture's captures of `target`, in order.
fn fixture_contents(target: &str) -> Vec<String> {
    fixture_events()
        .iter()
        .filter(|e| e["kind"] == "capture" && e["target"] == target)
        .map(|e| e["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The `--- SEQ TS TARGET i/N ---` header lines of plain replay output.
fn headers(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("--- ") && l.ends_with(" ---"))
        .map(|l| {
            l.trim_start_matches("--- ").trim_end_matches(" ---").split(' ').map(str::to_owned).collect()
        })
        .collect()
}

#[test]
fn list_shows_recorded_panes_with_counts_and_names() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let expected = fixture_captures();
    assert_eq!(expected.len(), 4);
    assert_eq!(expected.values().map(|p| p.0).sum::<u64>(), 146);

    let out =
        assert_success(run(&db, &["session", "list", "--format", "json"]), "session list --format json");
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let list = list.as_array().unwrap();
    let targets: Vec<&str> = list.iter().map(|p| p["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["orch:0.0", "proj:0.0", "proj:1.0", "proj:2.0"]);
    let mut total = 0;
    for p in list {
        let target = p["target"].as_str().unwrap();
        let (count, first, last) = expected[target];
        assert_eq!(p["captures"], count, "{target}");
        total += p["captures"].as_u64().unwrap();
        assert_eq!(parse_rfc3339(p["first_capture"].as_str().unwrap()).unwrap(), first, "{target}");
        assert_eq!(parse_rfc3339(p["last_capture"].as_str().unwrap()).unwrap(), last, "{target}");
    }
    assert_eq!(total, 146);
    let by_target: BTreeMap<&str, &Value> = list.iter().map(|p| (p["target"].as_str().unwrap(), p)).collect();
    assert_eq!(by_target["orch:0.0"]["window"], "orchestrator");
    assert_eq!(by_target["proj:0.0"]["window"], "pm");
    assert_eq!(by_target["proj:1.0"]["window"], "eng");
    assert_eq!(by_target["proj:2.0"]["window"], "server");
    assert_eq!(by_target["proj:1.0"]["agent"]["name"], "proj-eng");
    assert_eq!(by_target["proj:1.0"]["agent"]["role"], "engineer");
    assert_eq!(by_target["proj:0.0"]["agent"]["role"], "project_manager");
    assert_eq!(by_target["proj:2.0"]["agent"], Value::Null);

    let out = assert_success(run(&db, &["session", "list"]), "session list");
    let table = stdout(&out);
    for needle in ["proj:0.0", "pm", "proj-pm (project_manager)", "117", "orchestrator", "server", "16"] {
        assert!(table.contains(needle), "table lacks {needle:?}:\n{table}");
    }
    let row = table.lines().find(|l| l.contains("proj:1.0")).unwrap();
    assert!(row.contains("eng") && row.contains("16"), "{row}");
}

#[test]
fn list_of_an_empty_log_is_empty() {
    let (_dir, db) = temp_db();
    assert_success(run_stdin(&db, &["ingest"], "{\"kind\":\"marker\",\"label\":\"x\"}\n"), "ingest");
    let out = assert_success(run(&db, &["session", "list", "--format", "json"]), "list json");
    assert_eq!(stdout(&out).trim(), "[]");
    let out = assert_success(run(&db, &["session", "list"]), "list");
    assert!(stdout(&out).contains("no recorded panes"), "{}", describe(&out));
}

#[test]
fn replay_into_a_pipe_prints_every_frame_in_order() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let n = fixture_captures()["proj:1.0"].0;
    let out = assert_success(run(&db, &["session", "replay", "proj:1.0"]), "session replay");
    let text = stdout(&out);
    let hs = headers(&text);
    assert_eq!(hs.len() as u64, n, "one header per capture:\n{text}");
    let mut last_seq = 0;
    for (i, h) in hs.iter().enumerate() {
        assert_eq!(h.len(), 4, "{h:?}");
        let seq: u64 = h[0].parse().unwrap();
        assert!(seq > last_seq, "seqs increase: {hs:?}");
        last_seq = seq;
        parse_rfc3339(&h[1]).unwrap();
        assert_eq!(h[2], "proj:1.0");
        assert_eq!(h[3], format!("{}/{n}", i + 1));
    }
    // Text from the fixture's captures of this pane, in the same order.
    let contents = fixture_contents("proj:1.0");
    assert!(contents.iter().any(|c| c.contains("missing_agent_module")));
    assert!(text.contains("ModuleNotFoundError: No module named 'missing_agent_module'"), "{text}");
    let a = text.find("ls -la /usr/bin | head -n 40").unwrap();
    let b = text.find("ModuleNotFoundError").unwrap();
    assert!(a < b, "frames in capture order");
    // Into a pipe nothing waits: --speed and --idle-limit are accepted and ignored.
    let fast = assert_success(
        run(&db, &["session", "replay", "proj:1.0", "--speed", "0.01", "--idle-limit", "60s"]),
        "slow replay into a pipe",
    );
    assert_eq!(stdout(&fast), text);

    // A time range narrows the frames.
    let since = &hs[4][1];
    let until = &hs[9][1];
    let out = assert_success(
        run(&db, &["session", "replay", "proj:1.0", "--since", since, "--until", until]),
        "replay with a time range",
    );
    let ranged = headers(&stdout(&out));
    assert_eq!(ranged.len(), 6);
    assert_eq!(ranged[0][0], hs[4][0]);
    assert_eq!(ranged[0][3], "1/6");
    assert_eq!(ranged[5][0], hs[9][0]);
}

#[test]
fn replay_strips_escapes_unless_raw() {
    let (_dir, db) = temp_db();
    let line = serde_json::json!({
        "kind": "capture", "target": "esc:0.0", "ts": "2026-11-20T23:00:00Z",
        "content": "\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[1;31mred\u{1b}[0m plain\r\n\u{1b}[?25lnext\n",
    });
    assert_success(run_stdin(&db, &["ingest"], format!("{line}\n")), "ingest");
    let out = assert_success(run(&db, &["session", "replay", "esc:0.0"]), "replay");
    let text = stdout(&out);
    assert!(text.ends_with("\u{1b}[1;31mred\u{1b}[0m plain\nnext\n"), "{text:?}");
    assert!(!text.contains("title") && !text.contains("\u{1b}[2J") && !text.contains('\r'), "{text:?}");
    let out = assert_success(run(&db, &["session", "replay", "esc:0.0", "--raw"]), "replay --raw");
    assert!(stdout(&out).contains("\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[1;31mred"), "{}", stdout(&out));
}

#[test]
fn replay_of_an_unknown_pane_or_range_is_an_error() {
    let (_dir, db) = temp_db();
    ingest_fixture(&db);
    let out = run(&db, &["session", "replay", "nope:0.0"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("no captures of nope:0.0"), "{}", describe(&out));
    assert_eq!(stdout(&out), "");
    let out = run(&db, &["session", "replay", "proj:1.0", "--since", "2030-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("no captures of proj:1.0 since 2030-01-01T00:00:00Z"),
        "{}",
        describe(&out)
    );
    // Bad arguments are usage errors.
    for args in [
        &["session", "replay", "not-a-target"][..],
        &["session", "replay", "proj:1.0", "--speed", "0"],
        &["session", "replay", "proj:1.0", "--idle-limit", "-1s"],
        &["session", "replay", "proj:1.0", "--idle-limit", "2"],
        &["session", "replay", "proj:1.0", "--since", "yesterday"],
    ] {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    }
}

/// Checks `text` is asciicast v2; returns the header and the events.
#[track_caller]
fn parse_cast(text: &str) -> (Value, Vec<(f64, String, String)>) {
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("a header line")).unwrap();
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().unwrap() > 0);
    assert!(header["height"].as_u64().unwrap() > 0);
    assert!(header["timestamp"].is_i64() || header["timestamp"].is_u64(), "{header}");
    let mut events = Vec::new();
    let mut last = 0.0;
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let a = v.as_array().unwrap_or_else(|| panic!("not an array: {line}"));
        assert_eq!(a.len(), 3, "{line}");
        let t = a[0].as_f64().unwrap_or_else(|| panic!("no time: {line}"));
        assert!(t >= last, "times never decrease: {t} after {last}");
        last = t;
        let code = a[1].as_str().unwrap().to_owned();
        assert!(code == "o" || code == "m", "{line}");
        events.push((t, code, a[2].as_str().unwrap().to_owned()));
    }
    (header, events)
}

#[test]
fn export_writes_asciicast_v2() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let (n, first, last) = fixture_captures()["proj:0.0"];
    // A relative --output is taken from the working directory.
    let out = orc(&db)
        .current_dir(dir.path())
        .args(["session", "export", "proj:0.0", "--format", "asciicast", "--output", "pm.cast"])
        .output()
        .unwrap();
    let out = assert_success(out, "session export");
    assert_eq!(stdout(&out).trim(), format!("wrote {n} frames and 1 marker to pm.cast"));
    let text = std::fs::read_to_string(dir.path().join("pm.cast")).unwrap();
    let (header, events) = parse_cast(&text);
    assert_eq!(header["width"], 160);
    assert_eq!(header["height"], 48);
    assert_eq!(header["timestamp"], first.div_euclid(1_000_000_000));
    assert_eq!(header["title"], "orc-log proj:0.0");
    let frames: Vec<_> = events.iter().filter(|e| e.1 == "o").collect();
    assert_eq!(frames.len() as u64, n);
    assert_eq!(frames[0].0, 0.0);
    let span = (last - first) as f64 / 1e9;
    assert!((frames.last().unwrap().0 - span).abs() < 1e-5, "{} vs {span}", frames.last().unwrap().0);
    assert!(frames.iter().all(|f| f.2.starts_with("\u{1b}[H\u{1b}[2J")));
    assert!(frames.iter().all(|f| !f.2.replace("\r\n", "").contains('\n')), "newlines are CR LF");
    assert!(frames.iter().any(|f| f.2.contains("Every 0.5s: date -u")), "the pane's text is there");
    let markers: Vec<_> = events.iter().filter(|e| e.1 == "m").collect();
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].2, "review point");
    assert!(
        !dir.path().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp"))
    );

    // A pane with no markers, a time range.
    let f = dir.path().join("eng.cast");
    let out = assert_success(
        run(
            &db,
            &[
                "session",
                "export",
                "proj:1.0",
                "--output",
                f.to_str().unwrap(),
                "--until",
                "2026-11-20T23:04:05Z",
            ],
        ),
        "export with --until",
    );
    let (_, events) = parse_cast(&std::fs::read_to_string(&f).unwrap());
    let expected = fixture_events()
        .iter()
        .filter(|e| e["kind"] == "capture" && e["target"] == "proj:1.0")
        .filter(|e| {
            parse_rfc3339(e["ts"].as_str().unwrap()).unwrap()
                <= parse_rfc3339("2026-11-20T23:04:05Z").unwrap()
        })
        .count();
    assert_eq!(events.len(), expected, "{}", describe(&out));
    assert!(stdout(&out).contains(&format!("wrote {expected} frames to ")), "{}", describe(&out));
}

#[test]
fn export_of_an_unknown_pane_is_an_error_and_writes_nothing() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let f = dir.path().join("none.cast");
    let out = run(
        &db,
        &["session", "export", "nope:3.1", "--format", "asciicast", "--output", f.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("no captures of nope:3.1"), "{}", describe(&out));
    assert!(!f.exists());
    let out =
        run(&db, &["session", "export", "proj:0.0", "--format", "gif", "--output", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = run(&db, &["session", "export", "proj:0.0", "--output", "/nonexistent-dir/x.cast"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("/nonexistent-dir/"), "{}", describe(&out));
}

#[test]
fn the_server_gives_the_same_answers() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let list = stdout(&assert_success(run(&db, &["session", "list", "--format", "json"]), "list"));
    let replay = stdout(&assert_success(run(&db, &["session", "replay", "proj:2.0"]), "replay"));
    let mut server = start_server(&db);
    assert_eq!(stdout(&assert_success(run(&db, &["session", "list", "--format", "json"]), "list")), list);
    assert_eq!(stdout(&assert_success(run(&db, &["session", "replay", "proj:2.0"]), "replay")), replay);
    let out = orc(&db)
        .current_dir(dir.path())
        .args(["session", "export", "proj:2.0", "-o", "srv.cast"])
        .output()
        .unwrap();
    assert_success(out, "export through the server");
    let (_, events) = parse_cast(&std::fs::read_to_string(dir.path().join("srv.cast")).unwrap());
    assert_eq!(events.iter().filter(|e| e.1 == "o").count() as u64, fixture_captures()["proj:2.0"].0);
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
}

/// `session export` writes to standard output without --output, and with
/// `--output -` (no file named `-`), the same cast as into a file, with or
/// without a server; the summary then goes to stderr.
#[test]
fn export_writes_to_stdout_by_default_and_for_dash() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    let in_dir = |args: &[&str]| orc(&db).current_dir(dir.path()).args(args).output().unwrap();
    assert_success(in_dir(&["session", "export", "proj:0.0", "-o", "file.cast"]), "export to a file");
    let file = std::fs::read_to_string(dir.path().join("file.cast")).unwrap();
    let frames = fixture_captures()["proj:0.0"].0;
    let check = |args: &[&str], what: &str| {
        let out = assert_success(in_dir(args), what);
        assert_eq!(stdout(&out), file, "{what}: the cast on stdout");
        assert!(
            stderr(&out).contains(&format!("wrote {frames} frames and 1 marker to standard output")),
            "{what}: {}",
            describe(&out)
        );
    };
    check(&["session", "export", "proj:0.0"], "export without --output");
    check(&["session", "export", "proj:0.0", "--output", "-"], "export --output -");
    let mut server = start_server(&db);
    check(&["session", "export", "proj:0.0", "-o", "-"], "export -o - through the server");
    signal(&server, "TERM");
    assert!(wait_exit(&mut server).success());
    assert!(!dir.path().join("-").exists(), "a file named - was written");
    // Nothing to export: an error, and nothing on stdout.
    let out = in_dir(&["session", "export", "nope:3.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(stdout(&out), "");
}

/// asciicast v3 of a pane is the v2 export with relative times, a `term`
/// header and an exit event: the same frames at the same instants.
#[test]
fn export_writes_asciicast_v3_with_the_same_frames_as_v2() {
    let (dir, db) = temp_db();
    ingest_fixture(&db);
    for (format, file) in [("asciicast", "v2.cast"), ("asciicast-v3", "v3.cast")] {
        let f = dir.path().join(file);
        let args = ["session", "export", "proj:0.0", "--format", format, "--output", f.to_str().unwrap()];
        assert_success(run(&db, &args), format);
    }
    let v2 = std::fs::read_to_string(dir.path().join("v2.cast")).unwrap();
    let v3 = std::fs::read_to_string(dir.path().join("v3.cast")).unwrap();
    let (h2, e2) = parse_cast(&v2);
    let mut lines = v3.lines();
    let h3: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(h3["version"], 3);
    assert_eq!((&h3["term"]["cols"], &h3["term"]["rows"]), (&h2["width"], &h2["height"]));
    assert_eq!(h3["term"]["type"], "xterm-256color");
    assert_eq!((&h3["timestamp"], &h3["title"]), (&h2["timestamp"], &h2["title"]));
    // Relative intervals, summed, give v2's absolute times.
    let mut t = 0.0;
    let mut e3 = Vec::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let interval = v[0].as_f64().unwrap();
        assert!(interval >= 0.0, "{line}");
        t += interval;
        e3.push((t, v[1].as_str().unwrap().to_owned(), v[2].as_str().unwrap().to_owned()));
    }
    let (last, rest) = e3.split_last().unwrap();
    assert_eq!((last.1.as_str(), last.2.as_str()), ("x", "0"), "ends with an exit event");
    let same_codes: Vec<_> = rest.iter().filter(|e| e.1 != "r").collect();
    assert_eq!(same_codes.len(), e2.len());
    for (a, b) in same_codes.iter().zip(&e2) {
        assert!((a.0 - b.0).abs() < 1e-5, "{} vs {}", a.0, b.0);
        assert_eq!((&a.1, &a.2), (&b.1, &b.2));
    }
}
