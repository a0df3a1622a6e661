//! Helpers shared by every integration test: running `orc-log` against a
//! database directory, reading the log back as JSON, the fixture, copying a
//! database, and private tmux servers.

use assert_cmd::Command;
use orc_log_tmux::{Server, Spawn, Tmux};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Any single `orc-log` run taking longer than this is a hang (a bug).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// RFC 3339 time `secs` seconds from now (negative: ago).
pub fn from_now(secs: i64) -> String {
    orc_log_schemas::format_rfc3339(orc_log_schemas::now_ns() + secs * 1_000_000_000)
}

/// The `orc-log` binary under test (for `std::process::Command::spawn`).
pub fn bin_path() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orc-log"))
}

/// `orc-log --db DB` with a hang timeout, ready for more arguments.
pub fn orc(db: &Path) -> Command {
    let mut cmd = Command::cargo_bin("orc-log").expect("the orc-log binary is built");
    cmd.arg("--db").arg(db).timeout(TIMEOUT);
    // A test must not pick up the caller's database or log filter.
    cmd.env_remove("ORC_LOG_DB").env_remove("RUST_LOG");
    cmd
}

/// `orc-log --db DB` as a plain process, for tests that spawn it and watch
/// it run (`orc` is for runs awaited to the end). The caller's database and
/// log filter are removed, as in `orc`.
pub fn orc_process(db: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin_path());
    cmd.arg("--db").arg(db).env_remove("ORC_LOG_DB").env_remove("RUST_LOG");
    cmd
}

/// The events of `kind`, in log order.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// Runs `orc-log --db DB ARGS...` with empty stdin and returns its output.
pub fn run(db: &Path, args: &[&str]) -> Output {
    orc(db).args(args).write_stdin(Vec::new()).output().expect("orc-log runs")
}

/// Runs `orc-log --db DB ARGS...` with `input` on stdin.
pub fn run_stdin(db: &Path, args: &[&str], input: impl Into<Vec<u8>>) -> Output {
    orc(db).args(args).write_stdin(input.into()).output().expect("orc-log runs")
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One-line description of a run for assertion messages.
pub fn describe(out: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}\n--- stderr\n{}", out.status, stdout(out), stderr(out))
}

/// Asserts the run exited 0; returns its output for more checks.
#[track_caller]
pub fn assert_success(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what} should succeed:\n{}", describe(&out));
    out
}

/// Asserts the run exited with exactly `code`.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}: wrong exit status:\n{}", describe(out));
}

/// Why a run counts as a crash rather than a handled error: killed by a
/// signal (abort, segfault, timeout), a Rust panic (101, or "panicked" on
/// stderr) or the binary's own internal-error code (70). `None` when it
/// ended normally.
pub fn crash_reason(out: &Output) -> Option<String> {
    let err = stderr(out);
    match out.status.code() {
        None => Some(format!("killed by a signal or timed out ({:?})", out.status)),
        Some(101) => Some("exit 101 (Rust panic)".into()),
        Some(70) => Some("exit 70 (internal error: a caught panic)".into()),
        _ if err.contains("panicked") => Some("stderr mentions a panic".into()),
        _ => None,
    }
}

/// Asserts the run ended normally (see [`crash_reason`]).
#[track_caller]
pub fn assert_no_crash(out: &Output, what: &str) {
    if let Some(why) = crash_reason(out) {
        panic!("{what}: {why}:\n{}", describe(out));
    }
}

/// Parses NDJSON text into JSON values, one per non-empty line.
#[track_caller]
pub fn parse_ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// `orc-log tail --format json`, asserted successful with empty stderr; the raw output.
#[track_caller]
pub fn tail_json_raw(db: &Path) -> String {
    let out = assert_success(run(db, &["tail", "--format", "json"]), "tail --format json");
    assert_eq!(stderr(&out), "", "tail --format json wrote to stderr");
    stdout(&out)
}

/// The whole log as JSON objects (`tail --format json`).
#[track_caller]
pub fn tail_json(db: &Path) -> Vec<Value> {
    parse_ndjson(&tail_json_raw(db))
}

/// The `seq` of each event.
#[track_caller]
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {e}"))).collect()
}

/// The events with `seq` removed (what was put in).
pub fn without_seq(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(m) = e.as_object_mut() {
                m.remove("seq");
            }
            e
        })
        .collect()
}

/// `orc-log verify`, asserted to exit 0 with an `ok:` line naming `events` events.
#[track_caller]
pub fn assert_verify_ok(db: &Path, events: u64) {
    let out = assert_success(run(db, &["verify"]), "verify");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("ok: {events} events in "))
            && text.contains(&format!("head seq {events},")),
        "verify should report {events} events:\n{}",
        describe(&out)
    );
}

/// Path of the tmux session fixture (166 events, no ids).
pub fn fixture_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tmux-session-a.ndjson"))
}

/// The fixture's lines (without newlines).
pub fn fixture_lines() -> Vec<String> {
    let text = std::fs::read_to_string(fixture_path()).expect("fixture is readable");
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// The fixture's events as JSON objects.
pub fn fixture_events() -> Vec<Value> {
    parse_ndjson(&fixture_lines().join("\n"))
}

/// Number of events in the fixture.
pub const FIXTURE_EVENTS: u64 = 166;

/// Joins lines into NDJSON text (newline after each line).
pub fn ndjson<S: AsRef<str>>(lines: &[S]) -> String {
    lines.iter().map(|l| format!("{}\n", l.as_ref())).collect()
}

/// Ingests the whole fixture file into `db`, asserting success.
#[track_caller]
pub fn ingest_fixture(db: &Path) {
    let fixture = fixture_path();
    let out = assert_success(run(db, &["ingest", fixture.to_str().expect("UTF-8 path")]), "ingest fixture");
    assert!(stderr(&out).contains("appended 166 events"), "ingest summary:\n{}", describe(&out));
}

/// A database path inside a fresh temporary directory (not created yet).
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("db");
    (tmp, db)
}

/// How long `orc-log ARGS` takes on a copy of `template`, in microseconds:
/// the shortest of three runs (a test that kills runs at moments spread
/// over this length must not spread them over a run slowed by other tests).
pub fn shortest_run_us(template: &Path, scratch: &Path, args: &[&str]) -> u64 {
    (0..3)
        .map(|i| {
            let db = scratch.join(format!("probe-{i}"));
            copy_dir(template, &db);
            let start = Instant::now();
            assert_success(run(&db, args), "an uninterrupted run");
            let us = start.elapsed().as_micros() as u64;
            std::fs::remove_dir_all(&db).unwrap_or_else(|e| panic!("remove {}: {e}", db.display()));
            us
        })
        .min()
        .unwrap_or(1)
}

/// Runs `orc-log ARGS` on `db` and sends it SIGKILL after `delay` unless it
/// ended first; whether it was killed. Round `round` of a test that
/// spreads its kills over a run of `whole_us` microseconds waits
/// `(round * 7919) % whole_us`: a deterministic sequence of moments.
pub fn kill_during(db: &Path, args: &[&str], round: u64, whole_us: u64) -> bool {
    let mut child = orc_process(db)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("orc-log starts");
    let delay = Duration::from_micros((round * 7_919) % whole_us.max(1));
    let start = Instant::now();
    while start.elapsed() < delay && child.try_wait().expect("wait").is_none() {
        std::thread::sleep(Duration::from_micros(300));
    }
    let killed = child.try_wait().expect("wait").is_none();
    if killed {
        child.kill().expect("kill");
    }
    child.wait().expect("wait");
    killed
}

/// Copies directory `src` to `dst` (created), recursively, files and subdirectories only.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("list {}: {e}", src.display())) {
        let entry = entry.expect("directory entry");
        let ty = entry.file_type().expect("file type");
        let to = dst.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &to);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &to)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// The shell every test pane runs.
pub const BASH: &str = "bash --norc --noprofile";

/// A private tmux server (`tmux -L orc-log-test-PID-N`, no config, no
/// trace of an enclosing tmux) with session `session` of `width` x `height`
/// cells running [`BASH`] (without history: the test's commands stay out of
/// ~/.bash_history); window names stay as given (no automatic rename). The
/// first prompt is showing. Killed on drop, also when the test fails.
#[track_caller]
pub fn tmux_server(session: &str, width: u32, height: u32) -> Server {
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, Ordering::SeqCst);
    let tmux = Tmux::private(format!("orc-log-test-{}-{n}", std::process::id())).env("HISTFILE", "");
    let server = Server::start(tmux, session, &Spawn::command(BASH).size(width, height))
        .unwrap_or_else(|e| panic!("{e}: these tests need a working tmux (e.g. `apt-get install tmux`)"));
    server.run(["set-option", "-g", "automatic-rename", "off"]).unwrap();
    server.run(["set-window-option", "-t", &format!("{session}:0"), "automatic-rename", "off"]).unwrap();
    wait_for_pane(&server, &format!("{session}:0"), "the shell prompt", |text| !text.trim().is_empty());
    server
}

/// The socket name of a server from [`tmux_server`] (for `--tmux-socket`).
pub fn socket_of(tmux: &Tmux) -> &str {
    tmux.socket_name().expect("a named tmux server")
}

/// Polls pane `target` (its screen, wrapped lines joined) until `ok` holds
/// for its text, for at most 20 s; returns the text.
#[track_caller]
pub fn wait_for_pane(tmux: &Tmux, target: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let wait = Duration::from_secs(20);
    let deadline = Instant::now() + wait;
    loop {
        let text = tmux.capture_pane(target, 0).unwrap_or_else(|e| panic!("{e}"));
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{what} did not appear in pane {target} within {wait:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Python with pyspark and duckdb for the cross-engine tests:
/// `$ORC_LOG_PYTHON`, else `.ci/venv/bin/python` (made by `.ci/setup-engines`,
/// which `.ci/run` calls), else `python3`. None when that Python lacks
/// either package and `ORC_LOG_SKIP_ENGINES=1` says to skip; a panic when
/// it lacks them and nothing says so, so CI cannot pass without Spark and DuckDB.
pub fn engines_python() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let venv = repo.join(".ci/venv/bin/python");
    let python = match std::env::var_os("ORC_LOG_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.is_file() => venv,
        None => PathBuf::from("python3"),
    };
    let ok = std::process::Command::new(&python)
        .args(["-c", "import pyspark, duckdb, pytz"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    if std::env::var("ORC_LOG_SKIP_ENGINES").is_ok_and(|v| v == "1") {
        eprintln!(
            "cross-engine checks skipped (ORC_LOG_SKIP_ENGINES=1): {} lacks pyspark/duckdb",
            python.display()
        );
        return None;
    }
    panic!(
        "{} cannot import pyspark, duckdb and pytz: run .ci/setup-engines (Java 17 + a venv in .ci/venv), \
         set ORC_LOG_PYTHON, or ORC_LOG_SKIP_ENGINES=1 to skip the Spark/DuckDB checks",
        python.display()
    );
}

/// `orc-log session record` of `tmux` every 200 ms into `db`, running (its
/// stderr piped); it ends when the tmux server goes away.
pub fn spawn_recorder(db: &Path, tmux: &Tmux) -> std::process::Child {
    orc_process(db)
        .args(["session", "record", "--tmux-socket", socket_of(tmux), "--interval", "200ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("orc-log session record starts")
}

/// Waits up to 20 s for a recorder whose tmux server was killed to stop;
/// returns its exit status and stderr.
#[track_caller]
pub fn wait_recorder(rec: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = rec.try_wait().expect("recorder status") {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "recorder did not stop after tmux went away");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(e) = rec.stderr.as_mut() {
        let _ = std::io::Read::read_to_string(e, &mut err);
    }
    (status, err)
}

/// Spawns `orc-log ARGS` on `db`, reads its first line of output, then closes
/// the pipe (as `| head -n 1` does). The process must exit 0 with nothing on
/// stderr: a closed stdout is success. Returns the first line.
pub fn first_line_then_close(db: &Path, args: &[&str]) -> String {
    use std::io::{BufRead, BufReader};
    let what = format!("orc-log {} into a closed pipe", args.join(" "));
    let mut child = orc_process(db)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert_no_crash(&out, &what);
    assert_eq!(out.status.code(), Some(0), "{what} must exit 0:\n{}", describe(&out));
    assert_eq!(stderr(&out), "", "{what} must be silent");
    first
}
