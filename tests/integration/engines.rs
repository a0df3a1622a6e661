//! The Parquet export on Apache Spark (local mode) and DuckDB: the same SQL,
//! the same rows as `orc-log query`, including incremental exports from two
//! hosts into one directory. The comparisons are in
//! tests/engines/cross_engine.py; this test makes the logs and the exports
//! (running docs/SCALING.md's `sh` lines as written) and runs it.

use crate::common::{assert_success, bin_path, engines_python, orc_process, run, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A deterministic multi-day log of every event kind (benches/sql/make_large_ndjson.py).
fn make_log(python: &Path, out: &Path, events: u32, seed: u32) -> Vec<String> {
    let script = repo().join("benches/sql/make_large_ndjson.py");
    let ok = Command::new(python)
        .arg(&script)
        .args(["--events", &events.to_string(), "--hours", "60", "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "make_large_ndjson.py");
    std::fs::read_to_string(out).unwrap().lines().map(str::to_owned).collect()
}

fn ingest(db: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    let out = crate::common::run_stdin(db, &["ingest", "-"], text);
    assert_success(out, "ingest");
}

fn append(db: &Path, dir: &Path, host: Option<&str>) -> std::process::Output {
    let mut args = vec!["export", "--format", "parquet", "--partition-by", "day", "--append", "--output"];
    args.push(dir.to_str().unwrap());
    if let Some(h) = host {
        args.extend(["--host", h]);
    }
    assert_success(run(db, &args), "export --append")
}

/// The lines of `sh` blocks in a Markdown file, comments removed.
fn sh_lines(markdown: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(markdown).unwrap();
    let mut lines = Vec::new();
    let mut in_sh = None;
    for line in text.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            in_sh = match in_sh {
                None => Some(fence.trim() == "sh"),
                Some(_) => None,
            };
        } else if in_sh == Some(true) {
            let code = line.split(" #").next().unwrap().trim();
            if !code.is_empty() {
                lines.push(code.to_owned());
            }
        }
    }
    lines
}

#[test]
fn spark_and_duckdb_answer_the_readme_queries_like_orc_log() {
    let Some(python) = engines_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    // Host a: every event kind over three UTC days, plus one event whose
    // time has nanoseconds below the microsecond.
    let mut log_a = make_log(&python, &w.join("a.ndjson"), 3000, 1);
    log_a.push(r#"{"kind":"marker","label":"ns","ts":"2026-11-21T10:00:00.123456789Z"}"#.to_owned());
    let log_b = make_log(&python, &w.join("b.ndjson"), 1200, 2);
    let team = w.join("team");
    ingest(&team, &log_a);
    ingest(&w.join("other-db"), &log_b);

    // The plain and partitioned exports, as README writes them.
    for args in [
        vec!["export", "--format", "parquet", "--output", "export"],
        vec!["export", "--format", "parquet", "--partition-by", "day", "--output", "export-by-day"],
    ] {
        let out = orc_process(&team).args(&args).current_dir(w).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // A copy whose first and last days are garbage: a pruned read never opens them.
    let garbled = w.join("garbled");
    crate::common::copy_dir(&w.join("export-by-day"), &garbled);
    let mut days: Vec<_> =
        std::fs::read_dir(garbled.join("events")).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    assert!(days.len() >= 3, "{days:?}");
    for day in [&days[0], &days[days.len() - 1]] {
        for f in std::fs::read_dir(day).unwrap() {
            std::fs::write(f.unwrap().path(), b"not parquet").unwrap();
        }
    }

    // Incremental: a log grown in three steps, appended after each, equals
    // one full export. Between them: a run with nothing new, and a run
    // interrupted before it recorded its end (its state put back), redone.
    let grown = w.join("grown");
    let inc = w.join("inc");
    let third = log_a.len() / 3;
    ingest(&grown, &log_a[..third]);
    append(&grown, &inc, None);
    let state = inc.join("_orc_log_export/state.json");
    let after_first = std::fs::read(&state).unwrap();
    let out = append(&grown, &inc, None);
    assert!(stderr(&out).contains("nothing to export"), "{}", stderr(&out));
    ingest(&grown, &log_a[third..2 * third]);
    append(&grown, &inc, None);
    std::fs::write(&state, &after_first).unwrap();
    let out = append(&grown, &inc, None);
    assert!(stderr(&out).contains(&format!("appended events {}..=", third + 1)), "{}", stderr(&out));
    ingest(&grown, &log_a[2 * third..]);
    let out = append(&grown, &inc, None);
    assert!(stdout(&out).contains("rows"), "{}", stdout(&out));
    let inc_full = w.join("inc-full");
    assert_success(
        run(
            &grown,
            &["export", "--format", "parquet", "--partition-by", "day", "-o", inc_full.to_str().unwrap()],
        ),
        "full export",
    );
    // An export --append did not make is refused, not duplicated.
    let out = run(
        &team,
        &["export", "--format", "parquet", "--partition-by", "day", "--append", "-o"]
            .into_iter()
            .chain([w.join("export-by-day").to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(!out.status.success() && stderr(&out).contains("did not record"), "{}", stderr(&out));

    // docs/SCALING.md's commands, as written: two hosts append into `shared`.
    let path_var =
        format!("{}:{}", bin_path().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let scaling = repo().join("docs/SCALING.md");
    let lines = sh_lines(&scaling);
    assert!(lines.iter().any(|l| l.contains("--host b")), "{lines:?}");
    for line in &lines {
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", line])
            .current_dir(w)
            .env("PATH", &path_var)
            .env("ORC_LOG_DB", &team)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "docs/SCALING.md: {line}\n{}", String::from_utf8_lossy(&out.stderr));
    }

    let config = serde_json::json!({
        "bin": bin_path(),
        "db": team,
        "plain": w.join("export"),
        "by_day": w.join("export-by-day"),
        "by_day_garbled": garbled,
        "inc_db": grown,
        "incremental": inc,
        "inc_full": inc_full,
        "shared": w.join("shared"),
        "hosts": {"a": team, "b": w.join("other-db")},
        "readme": repo().join("README.md"),
        "scaling": scaling,
        "workdir": w,
    });
    let out = Command::new(&python)
        .arg(repo().join("tests/engines/cross_engine.py"))
        .arg(config.to_string())
        .current_dir(w)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(
        out.status.success() && report.contains(" 0 failed"),
        "cross-engine checks failed:\n{report}\n--- stderr (tail)\n{}",
        String::from_utf8_lossy(&out.stderr).lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
}
