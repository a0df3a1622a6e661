//! `orc-log import claude-transcript` and `orc-log hook install` against the
//! real binary.

use crate::common::*;
use serde_json::Value;
use std::path::PathBuf;

fn transcript(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/claude-transcripts")).join(name)
}

/// tool_use blocks, tool_result blocks, user text prompts and assistant
/// entries with usage in a fixture, counted from its JSON without orc-log.
fn fixture_counts(name: &str) -> (u64, u64, u64, u64) {
    let text = std::fs::read_to_string(transcript(name)).unwrap();
    let (mut uses, mut results, mut prompts, mut usage) = (0, 0, 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "assistant" && v.pointer("/message/usage").is_some() {
            usage += 1;
        }
        let Some(blocks) = v.pointer("/message/content").and_then(Value::as_array) else { continue };
        let of = |t: &str| blocks.iter().filter(|b| b["type"] == t).count() as u64;
        match v["type"].as_str() {
            Some("assistant") => uses += of("tool_use"),
            Some("user") if of("tool_result") > 0 => results += of("tool_result"),
            Some("user") if of("text") > 0 => prompts += 1,
            _ => {}
        }
    }
    (uses, results, prompts, usage)
}

fn count(db: &std::path::Path, sql: &str) -> u64 {
    let out = assert_success(run(db, &["query", sql, "--format", "ndjson"]), sql);
    let rows = parse_ndjson(&stdout(&out));
    rows[0].as_object().unwrap().values().next().unwrap().as_u64().unwrap()
}

/// Token usage from a transcript and its subagent's: each request
/// (`message.id` + `requestId`) counted once, `<synthetic>` skipped; the
/// SQL totals equal a count made here from the JSON; a second import adds
/// nothing.
#[test]
fn transcript_usage_counts_each_request_once_with_subagents() {
    use std::collections::HashSet;
    let (_tmp, db) = temp_db();
    let main = transcript("usage/usage-session.jsonl");
    let sub = transcript("usage/usage-session/subagents/agent-a1.jsonl");
    let (mut seen, mut want, mut requests) = (HashSet::new(), [0u64; 4], 0u64);
    for f in [&main, &sub] {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let Some(u) = v.pointer("/message/usage") else { continue };
            if v["message"]["model"] == "<synthetic>" {
                continue;
            }
            if let (Some(m), Some(r)) = (v["message"]["id"].as_str(), v["requestId"].as_str())
                && !seen.insert((m.to_owned(), r.to_owned()))
            {
                continue;
            }
            requests += 1;
            let keys =
                ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"];
            for (w, k) in want.iter_mut().zip(keys) {
                *w += u[k].as_u64().unwrap();
            }
        }
    }
    let out = assert_success(
        run(&db, &["import", "claude-transcript", main.to_str().unwrap(), "--target", "team:2.0"]),
        "import",
    );
    assert!(stderr(&out).contains("read from 2 file(s)"), "{}", describe(&out));
    assert_eq!(count(&db, "SELECT count(*) FROM agent_usage"), requests);
    let sums = [
        "SELECT sum(input_tokens) FROM agent_usage",
        "SELECT sum(output_tokens) FROM agent_usage",
        "SELECT sum(cache_read_tokens) FROM agent_usage",
        "SELECT sum(cache_creation_tokens) FROM agent_usage",
    ];
    for (sql, w) in sums.iter().zip(want) {
        assert_eq!(count(&db, sql), w, "{sql}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM agent_usage WHERE cost_usd IS NULL OR target <> 'team:2.0'"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM agent_usage WHERE cost_usd = 0.5"), 1, "costUSD is kept");
    // The pane's state carries the cost; a second import adds nothing.
    let again = assert_success(run(&db, &["import", "claude-transcript", main.to_str().unwrap()]), "again");
    assert!(stderr(&again).contains(" 0 appended"), "{}", describe(&again));
    assert_eq!(count(&db, "SELECT count(*) FROM agent_usage"), requests);
    let state: Value =
        serde_json::from_str(&stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state")))
            .unwrap();
    let pane = state["sessions"][0]["panes"][0].clone();
    assert_eq!(pane["target"], "team:2.0");
    assert_eq!(pane["usage"]["tokens"].as_u64(), Some(want.iter().sum::<u64>()));
    assert!(pane["usage"]["cost_usd"].as_f64().unwrap() > 0.5);
}

#[test]
fn importing_a_transcript_twice_appends_it_once() {
    let (_tmp, db) = temp_db();
    let name = "representative_messages.jsonl";
    let file = transcript(name);
    let file = file.to_str().unwrap();
    let (uses, results, prompts, usage) = fixture_counts(name);
    assert!(uses > 0 && results > 0 && prompts > 0 && usage > 0);
    let total = uses + results + prompts + usage + 1; // + the session start
    let first = assert_success(
        run(&db, &["import", "claude-transcript", file, "--target", "team:1.0"]),
        "first import",
    );
    assert!(
        stderr(&first).contains(&format!("{total} events read from 1 file(s), {total} appended, 0 already")),
        "{}",
        describe(&first)
    );
    let second = assert_success(run(&db, &["import", "claude-transcript", file]), "second import");
    assert!(
        stderr(&second).contains(&format!("{total} events read from 1 file(s), 0 appended, {total} already")),
        "{}",
        describe(&second)
    );
    assert_eq!(count(&db, "SELECT count(*) FROM tool_calls"), uses + results);
    assert_eq!(count(&db, "SELECT count(*) FROM tool_calls WHERE phase = 'pre'"), uses);
    assert_eq!(count(&db, "SELECT count(*) FROM prompts"), prompts);
    assert_eq!(count(&db, "SELECT count(*) FROM agent_usage"), usage);
    let events = tail_json(&db);
    assert_eq!(events.len() as u64, total);
    let start = of_kind(&events, "agent_session");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["target"], "team:1.0");
    assert_eq!(start[0]["transcript_path"], file);
}

#[test]
fn a_bad_line_fails_naming_file_and_line_and_appends_nothing_unless_skipped() {
    let (_tmp, db) = temp_db();
    let file = transcript("edge_cases.jsonl");
    let file = file.to_str().unwrap();
    let out = run(&db, &["import", "claude-transcript", file]);
    assert_exit(&out, 1, "bad line");
    let err = stderr(&out);
    assert!(err.contains("edge_cases.jsonl:13:") && err.contains("--skip-bad-lines"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = assert_success(run(&db, &["import", "claude-transcript", "--skip-bad-lines", file]), "skip");
    assert!(stderr(&out).contains("3 bad lines skipped"), "{}", describe(&out));
    assert_eq!(count(&db, "SELECT count(*) FROM tool_calls WHERE phase = 'failure'"), 1);
    let missing = run(&db, &["import", "claude-transcript", "/nonexistent/x.jsonl"]);
    assert_exit(&missing, 1, "missing file");
    assert!(stderr(&missing).contains("/nonexistent/x.jsonl"), "{}", describe(&missing));
}

#[test]
fn hook_install_writes_once_keeps_other_settings_and_dry_run_writes_nothing() {
    let (tmp, db) = temp_db();
    let settings = tmp.path().join("home/.claude/settings.json");
    let s = settings.to_str().unwrap();
    // Dry run on a missing file: a diff, no file.
    let out = assert_success(run(&db, &["hook", "install", "--settings", s, "--dry-run"]), "dry run");
    let added = |needle: &str| stdout(&out).lines().any(|l| l.starts_with('+') && l.contains(needle));
    assert!(added(r#""matcher": "*""#), "{}", describe(&out));
    assert!(stdout(&out).contains(" hook\""), "{}", describe(&out));
    assert!(!settings.exists(), "--dry-run wrote the file");
    // Install into a file with other settings; the default command is this binary.
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(
        &settings,
        r#"{"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}}"#,
    )
    .unwrap();
    assert_success(run(&db, &["hook", "install", "--settings", s]), "install");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    // `run` passes --db: the hooks feed that database.
    let ours = format!("{} --db {} hook", bin_path().display(), db.display());
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
    assert_eq!(v["hooks"]["Stop"][1]["hooks"][0]["command"], ours.as_str());
    assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], "*");
    assert_eq!(v["hooks"].as_object().unwrap().len(), 10);
    let before = std::fs::read(&settings).unwrap();
    let again = assert_success(run(&db, &["hook", "install", "--settings", s]), "second install");
    assert!(stderr(&again).contains("nothing to do"), "{}", describe(&again));
    assert_eq!(std::fs::read(&settings).unwrap(), before);
    // Not JSON: refused, untouched.
    std::fs::write(&settings, "model = opus\n").unwrap();
    let bad = run(&db, &["hook", "install", "--settings", s]);
    assert_exit(&bad, 1, "not JSON");
    assert!(stderr(&bad).contains("not JSON") && stderr(&bad).contains(s), "{}", describe(&bad));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "model = opus\n");
}

/// The present of a `state --format json` pane: everything but its counters.
fn present(state: &Value, target: &str) -> Value {
    let mut pane = state["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["panes"].as_array().unwrap())
        .find(|p| p["target"] == target)
        .unwrap_or_else(|| panic!("no pane {target} in {state:#}"))
        .clone();
    // Counters (and usage totals) count history too.
    for counter in
        ["captures", "crashes", "messages_in", "messages_out", "tool_calls", "tool_failures", "usage"]
    {
        pane.as_object_mut().unwrap().remove(counter);
    }
    pane
}

/// An import of an older session (and an `emit` with an old `ts`) into a
/// pane recorded now is stored and queryable, but leaves the pane's present
/// (status, last change, agent session, prompt, tool) as it was, and no
/// idle alert would fire because of it.
#[test]
fn an_older_session_imported_into_a_live_pane_leaves_its_present_unchanged() {
    let (tmp, db) = temp_db();
    for screen in ["$ cargo test\n", "$ cargo test\nok\n"] {
        assert_success(run_stdin(&db, &["emit", "capture", "--target", "proj:1.0"], screen), "emit capture");
    }
    let state = |db| -> Value {
        serde_json::from_str(&stdout(&assert_success(run(db, &["state", "--format", "json"]), "state")))
            .unwrap()
    };
    let before = state(&db);
    assert_eq!(present(&before, "proj:1.0")["status"], "active", "{before:#}");

    let name = "representative_messages.jsonl";
    let (uses, results, prompts, _usage) = fixture_counts(name);
    let file = transcript(name);
    assert_success(
        run(&db, &["import", "claude-transcript", file.to_str().unwrap(), "--target", "proj:1.0"]),
        "import of a 2025 session",
    );
    assert_success(
        run_stdin(
            &db,
            &["emit", "--ts", "2025-06-14T09:00:00Z", "capture", "--target", "proj:1.0"],
            "an old screen\n",
        ),
        "emit of an old capture",
    );
    let after = state(&db);
    assert_eq!(present(&after, "proj:1.0"), present(&before, "proj:1.0"), "after: {after:#}");
    assert_eq!(after["sessions"][0]["open"], before["sessions"][0]["open"]);

    // Stored all the same: in tail and SQL.
    assert_eq!(count(&db, "SELECT count(*) FROM tool_calls WHERE target = 'proj:1.0'"), uses + results);
    assert_eq!(count(&db, "SELECT count(*) FROM prompts WHERE target = 'proj:1.0'"), prompts);
    assert_eq!(count(&db, "SELECT count(*) FROM captures WHERE target = 'proj:1.0'"), 3);
    let events = tail_json(&db);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "capture" && e["ts"].as_str().unwrap().starts_with("2025-06-14T09:00")),
        "the old capture is in tail"
    );

    // No idle alert because of the old events: the pane changed seconds ago.
    let rules = tmp.path().join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"idle\"\nwhen = \"idle\"\nfor = \"10m\"\n[rule.action]\ncommand = \"true\"\n",
    )
    .unwrap();
    let out =
        assert_success(run(&db, &["alerts", "test", "--rules", rules.to_str().unwrap()]), "alerts test");
    assert!(stdout(&out).contains(": 0 would fire"), "{}", describe(&out));
}
