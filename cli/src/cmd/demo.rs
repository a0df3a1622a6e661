//! `orc-log demo`: the quickstart. A real orchestrator-shaped team on a
//! private tmux server, recorded into the log, then analysed.

use anyhow::{Context, Result, bail};
use orc_log_server::Client;
use orc_log_tmux::{Server, Spawn, Tmux};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Run the quickstart on a private tmux server and show what orc-log keeps.
///
/// Starts its own tmux server (`tmux -L orc-log-demo-PID`, never yours) with
/// an orchestrator (`orch:0`), a project manager (`proj:0`) and two
/// engineers: `proj:1` a shell that builds and tests a small Rust crate with
/// cargo, `proj:2` a monitor (`tail -f` of the build log). While
/// `session record` records every pane, the drop-in scripts
/// (`scripts/send-claude-message.sh`, `scripts/schedule_with_note.sh`) send
/// messages and schedule a check-in that fires, and the engineer starts a
/// program that panics with a backtrace, which the crash detector catches.
/// Then it prints the state, key metrics, three SQL queries, a backup and a
/// point-in-time restore to just before the crash, and the commands to
/// replay and export a pane.
///
/// Uses `orc-log serve` for the database (started for the demo and stopped
/// after, unless one already runs). The tmux server is killed at the end and
/// on Ctrl-C; the database and the demo's files (backup, restored copy,
/// asciicast) are kept. Needs tmux and cargo.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the tmux server running at the end (attach with the command shown).
    #[arg(long)]
    keep: bool,
    /// Record for at least this long.
    #[arg(long, default_value = "25s", value_parser = crate::cmd::parse_duration, value_name = "DUR")]
    duration: Duration,
    /// Where to put the backup, the restored copy and the asciicast
    /// [default: orc-log-demo-TIME beside the database].
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Start `orc-log serve` with its web view (`--http`, 127.0.0.1:8642) and
    /// keep both up at the end, until Ctrl-C; the address is printed.
    #[arg(long)]
    web: bool,
}

/// The drop-in scripts, written to a scratch directory for the demo.
const SCRIPTS: [(&str, &str); 3] = [
    ("orc-log-lib.sh", include_str!("../../../scripts/orc-log-lib.sh")),
    ("send-claude-message.sh", include_str!("../../../scripts/send-claude-message.sh")),
    ("schedule_with_note.sh", include_str!("../../../scripts/schedule_with_note.sh")),
];

/// The engineer's crate: a config loader with tests, whose binary panics
/// when its config file is missing.
const CRATE_MANIFEST: &str =
    "[package]\nname = \"agent-worker\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
const CRATE_MAIN: &str = r##"//! Reads `name = role` lines and starts the agents.
use std::collections::BTreeMap;

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn main() {
    let path = "agents.toml";
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    for (name, role) in parse(&text) {
        println!("starting {name} as {role}");
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_names_and_roles() {
        let agents = parse("pm = project_manager\neng-1 = engineer\n");
        assert_eq!(agents["eng-1"], "engineer");
        assert_eq!(agents.len(), 2);
    }

    #[test]
    fn skips_lines_without_a_role() {
        assert!(parse("# a comment\n").is_empty());
    }
}
"##;

/// An agent that reads messages typed into its pane and acknowledges them.
fn agent_loop(role: &str) -> String {
    format!(
        "printf '%s ready, waiting for messages\\n' {role}; \
         while IFS= read -r line; do printf '[%s] {role} got: %s\\n' \"$(date +%T)\" \"$line\"; done"
    )
}

/// The demo was interrupted.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

fn check_interrupted() -> Result<()> {
    if super::interrupted() { Err(Interrupted.into()) } else { Ok(()) }
}

/// Sleeps `d`, waking early (with an error) on Ctrl-C.
fn pause(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupted()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Calls `probe` every `every` until it gives a value, for at most
/// `timeout`; then fails with `what` (waking early, with an error, on Ctrl-C).
fn wait_until<T>(
    timeout: Duration,
    every: Duration,
    what: impl FnOnce() -> String,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe()? {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            bail!("{}", what());
        }
        pause(every)?;
    }
}

/// Waits until pane `target` of `tmux` shows `needle` (in its last 200
/// lines of history too).
fn wait_for_pane(tmux: &Tmux, target: &str, needle: &str, timeout: Duration) -> Result<()> {
    wait_until(
        timeout,
        Duration::from_millis(250),
        || format!("{target} did not show {needle:?} within {}s", timeout.as_secs()),
        || Ok(tmux.capture_pane(target, 200)?.contains(needle).then_some(())),
    )
}

/// A child process stopped (SIGTERM, then waited for) when dropped.
struct Guarded(Option<Child>);

impl Guarded {
    /// Sends SIGTERM and waits up to 10 s for the exit, then kills.
    fn stop(&mut self) {
        let Some(mut child) = self.0.take() else { return };
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `orc-log` commands against the demo's database.
struct Orc {
    bin: PathBuf,
    db: PathBuf,
}

impl Orc {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--db").arg(&self.db).args(args).stdin(Stdio::null());
        c
    }

    /// Runs a command; its stdout, or an error with its stderr.
    fn output(&self, args: &[&str]) -> Result<String> {
        let out =
            self.cmd(args).output().with_context(|| format!("cannot run orc-log {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("orc-log {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Events of `kind` after seq `after`, as NDJSON objects.
    fn events(&self, kind: &str, after: u64) -> Result<Vec<serde_json::Value>> {
        let from = (after + 1).to_string();
        let text = self.output(&["tail", "--kind", kind, "--from-seq", &from, "--format", "json"])?;
        text.lines().map(|l| serde_json::from_str(l).context("bad JSON from tail")).collect()
    }

    /// Waits until an event of `kind` after `after` is in the log.
    fn wait_event(&self, kind: &str, after: u64, timeout: Duration) -> Result<serde_json::Value> {
        wait_until(
            timeout,
            Duration::from_millis(250),
            || format!("no {kind} event within {}s", timeout.as_secs()),
            || Ok(self.events(kind, after)?.into_iter().next()),
        )
    }
}

/// Runs `orc-log demo`.
pub fn run(db_dir: &Path, args: Args) -> Result<u8> {
    if matches!(orc_log_tmux::version(), Err(orc_log_tmux::Error::Spawn { .. })) {
        bail!(
            "the demo needs tmux, which is not installed: `sudo apt-get install tmux` (Debian, Ubuntu), `sudo dnf install tmux` (Fedora) or `brew install tmux` (macOS)"
        );
    }
    if Command::new("cargo").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        bail!("the demo needs cargo (the engineers build a Rust crate): install Rust from https://rustup.rs");
    }
    super::catch_interrupts()?;
    match demo(db_dir, &args) {
        Ok(()) => Ok(0),
        Err(e) if e.is::<Interrupted>() || super::interrupted() => {
            eprintln!(
                "orc-log demo: interrupted; the tmux server is stopped, the database kept at {}",
                db_dir.display()
            );
            Ok(130)
        }
        Err(e) => Err(e),
    }
}

/// Step counter and spinner on stderr.
struct Progress {
    bar: indicatif::ProgressBar,
}

const STEPS: u64 = 12;

impl Progress {
    fn new() -> Self {
        let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressBar::new(STEPS)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed:>3}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    fn step(&self, what: &str) {
        self.bar.inc(1);
        self.bar.set_message(what.to_owned());
        if self.bar.is_hidden() {
            eprintln!("demo: {what}");
        }
    }
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn demo(db_dir: &Path, args: &Args) -> Result<()> {
    let bin = std::env::current_exe().context("cannot find the orc-log binary")?;
    let orc = Orc { bin, db: db_dir.to_owned() };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let out_dir = match &args.output {
        Some(d) => d.clone(),
        None => {
            let parent = db_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            parent.join(format!("orc-log-demo-{stamp}"))
        }
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let work =
        tempfile::Builder::new().prefix("orc-log-demo-").tempdir().context("cannot make a scratch dir")?;
    let progress = Progress::new();

    progress.step("starting orc-log serve");
    let mut server = Guarded(None);
    let serving = Client::connect(db_dir)?.is_some();
    if serving && args.web {
        bail!(
            "--web starts its own `orc-log serve --http`, but a server already serves {}: stop it first",
            db_dir.display()
        );
    }
    if !serving {
        let log = std::fs::File::create(out_dir.join("serve.log"))?;
        let serve_args: &[&str] =
            if args.web { &["serve", "--http", orc_log_web::DEFAULT_ADDR] } else { &["serve"] };
        let child =
            orc.cmd(serve_args).stdout(Stdio::null()).stderr(log).spawn().context("cannot start serve")?;
        server.0 = Some(child);
        wait_until(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || format!("orc-log serve did not start; see {}", out_dir.join("serve.log").display()),
            || Ok(Client::connect(db_dir)?.map(drop)),
        )?;
    }
    let start_seq = orc.output(&["tail", "-n", "1", "--format", "json"])?;
    let start_seq = start_seq
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["seq"].as_u64())
        .unwrap_or(0);

    progress.step("starting a private tmux server with four agents");
    let scripts = work.path().join("scripts");
    std::fs::create_dir_all(&scripts)?;
    for (name, text) in SCRIPTS {
        let path = scripts.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let krate = work.path().join("agent-worker");
    std::fs::create_dir_all(krate.join("src"))?;
    std::fs::write(krate.join("Cargo.toml"), CRATE_MANIFEST)?;
    std::fs::write(krate.join("src/main.rs"), CRATE_MAIN)?;
    let build_log = work.path().join("build.log");
    std::fs::write(&build_log, "")?;
    let socket = format!("orc-log-demo-{}", std::process::id());
    let agent = |role: &str| Spawn::command(agent_loop(role)).named(role).size(160, 48);
    let mut tmux = Server::start(Tmux::private(&socket), "orch", &agent("orchestrator"))?;
    tmux.keep(args.keep);
    // Windows keep the names given here (tmux would rename them after their commands).
    tmux.run(["set-option", "-g", "automatic-rename", "off"])?;
    tmux.run(["set-window-option", "-t", "orch:0", "automatic-rename", "off"])?;
    tmux.new_session("proj", &agent("pm"))?;
    tmux.new_window("proj:1", &Spawn::command("bash --norc --noprofile").named("eng-1").in_dir(&krate))?;
    let monitor = format!("tail -n +1 -f {}", build_log.display());
    tmux.new_window("proj:2", &Spawn::command(monitor).named("eng-2"))?;

    progress.step("recording every pane with `session record`");
    let record_log = std::fs::File::create(out_dir.join("record.log"))?;
    let recorder = orc
        .cmd(&["session", "record", "--tmux-socket", &socket, "--interval", "500ms"])
        .stdout(Stdio::null())
        .stderr(record_log)
        .spawn()
        .context("cannot start session record")?;
    let mut recorder = Guarded(Some(recorder));
    let recording = Instant::now();
    for (target, role, name) in [
        ("orch:0.0", "orchestrator", "orchestrator"),
        ("proj:0.0", "project_manager", "pm"),
        ("proj:1.0", "engineer", "eng-1"),
        ("proj:2.0", "engineer", "eng-2"),
    ] {
        orc.output(&["emit", "agent", "--target", target, "--role", role, "--name", name])?;
    }
    orc.output(&["emit", "marker", "--label", "demo: team started"])?;

    let script = |name: &str, from: &str, args: &[&str]| -> Result<String> {
        let out = Command::new(scripts.join(name))
            .args(args)
            .env("ORC_LOG", &orc.bin)
            .env("ORC_LOG_DB", &orc.db)
            .env("ORC_LOG_FROM", from)
            .env("TMUX_SOCKET", &socket)
            .env("ORC_NOTE_FILE", work.path().join("next_check_note.txt"))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {name}"))?;
        if !out.status.success() {
            bail!("{name} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };

    progress.step("orchestrator briefs the PM; a check-in is scheduled");
    wait_for_pane(&tmux, "proj:0", "waiting for messages", Duration::from_secs(10))?;
    script(
        "send-claude-message.sh",
        "orchestrator",
        &["proj:0", "Sprint 1: ship the agent-worker crate; tests first"],
    )?;
    script("schedule_with_note.sh", "orchestrator", &["0.25", "check on the engineers' test run", "orch:0"])?;

    progress.step("eng-1 runs the tests (cargo test)");
    script("send-claude-message.sh", "pm", &["proj:1", "# pm: please run the test suite"])?;
    tmux.send_keys("proj:1", "cargo test --offline 2>&1 | tee -a ../build.log")?;
    wait_for_pane(&tmux, "proj:1", "test result:", Duration::from_secs(180))?;
    script("send-claude-message.sh", "eng-1", &["proj:0", "eng-1: tests pass (2 passed)"])?;

    progress.step("eng-1 starts the worker, which panics");
    script("send-claude-message.sh", "pm", &["proj:1", "# pm: now start the worker"])?;
    tmux.send_keys("proj:1", "clear; RUST_BACKTRACE=1 cargo run --offline")?;
    wait_for_pane(&tmux, "proj:1", "panicked at", Duration::from_secs(180))?;
    let crash = orc.wait_event("crash", start_seq, Duration::from_secs(30))?;
    script("send-claude-message.sh", "pm", &["orch:0", "eng-1's worker crashed at start; looking into it"])?;

    progress.step("waiting for the scheduled check-in to fire");
    orc.wait_event("schedule_fired", start_seq, Duration::from_secs(120))?;
    pause(args.duration.saturating_sub(recording.elapsed()))?;

    progress.step("closing the project session");
    orc.output(&["emit", "marker", "--label", "demo: finished"])?;
    if !args.keep {
        tmux.run(["kill-session", "-t", "proj"])?;
        orc.wait_event("session_closed", start_seq, Duration::from_secs(10))?;
    }
    recorder.stop();
    let recorded_secs = recording.elapsed().as_secs_f64();
    if !args.keep {
        drop(tmux);
    }
    check_interrupted()?;

    progress.step("state, metrics and queries");
    let run_scope = format!("seq > {start_seq}");
    let state = orc.output(&["state"])?;
    // Key metrics: the Prometheus series without histogram buckets and comments.
    let metrics: String = orc
        .output(&["metrics", "--format", "prometheus"])?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
        .map(|l| format!("{l}\n"))
        .collect();
    let queries = [
        (
            "events by kind",
            format!(
                "SELECT kind, count(*) AS events FROM events WHERE {run_scope} GROUP BY kind ORDER BY events DESC, kind"
            ),
        ),
        (
            "busiest panes",
            format!(
                "SELECT target, count(*) AS captures, sum(length(content)) AS chars FROM captures WHERE {run_scope} GROUP BY target ORDER BY captures DESC, target"
            ),
        ),
        (
            "crashes",
            format!("SELECT seq, ts, target, detector, reason FROM crashes WHERE {run_scope} ORDER BY seq"),
        ),
    ];
    let mut answers = Vec::new();
    for (_, sql) in &queries {
        answers.push(orc.output(&["query", sql, "--format", "table"])?);
    }

    progress.step("backup and point-in-time restore");
    let backup = out_dir.join("backup");
    let backup_out = orc.output(&["backup", "create", &backup.display().to_string()])?;
    let crash_ts = crash["ts"].as_str().context("the crash has no ts")?;
    let crash_ns = orc_log_schemas::parse_rfc3339(crash_ts).map_err(|e| anyhow::anyhow!(e))?;
    let before = orc_log_schemas::format_rfc3339(crash_ns - 1);
    let restored = out_dir.join("before-crash");
    let restore_out = orc.output(&[
        "restore",
        &backup.display().to_string(),
        "--to",
        &restored.display().to_string(),
        "--at",
        &before,
        "--force",
    ])?;
    let restored_orc = Orc { bin: orc.bin.clone(), db: restored.clone() };
    let restored_state = restored_orc.output(&["state"])?;

    progress.step("exporting eng-1's pane as asciicast");
    let cast = out_dir.join("eng-1.cast");
    let cast_out = orc.output(&[
        "session",
        "export",
        "proj:1.0",
        "--format",
        "asciicast",
        "--output",
        &cast.display().to_string(),
    ])?;
    let verify = orc.output(&["verify"])?;
    if !args.web {
        server.stop();
    }
    progress.step("done");
    progress.bar.finish_and_clear();

    let db = db_dir.display();
    // `--db DIR` in the commands shown, unless the database is the default one.
    let db_flag = if crate::db::resolve(None).ok().as_deref() == Some(db_dir) {
        String::new()
    } else {
        format!(" --db {db}")
    };
    println!("orc-log demo: recorded a private tmux team for {recorded_secs:.0} s into {db}");
    section("state (`orc-log state`)");
    print!("{state}");
    section("key metrics (`orc-log metrics --format prometheus`, without histogram buckets)");
    print!("{metrics}");
    for ((title, sql), answer) in queries.iter().zip(&answers) {
        section(&format!("query: {title}"));
        println!("$ orc-log{db_flag} query \"{sql}\"");
        print!("{answer}");
    }
    section("backup and point-in-time restore to just before the crash");
    println!("$ orc-log{db_flag} backup create {}", backup.display());
    print!("{backup_out}");
    println!("$ orc-log restore {} --to {} --at {before}", backup.display(), restored.display());
    print!("{restore_out}");
    println!("$ orc-log --db {} state", restored.display());
    print!("{restored_state}");
    section("replay and export a pane");
    println!(
        "$ orc-log{db_flag} session replay proj:1.0 --speed 4      # plays eng-1's pane in this terminal"
    );
    println!("$ orc-log{db_flag} session export proj:1.0 --format asciicast --output {}", cast.display());
    print!("{cast_out}");
    println!("  (play it with `asciinema play {}`)", cast.display());
    section("verify");
    print!("{verify}");
    if args.keep {
        println!(
            "\nThe tmux server is still running: `tmux -L {socket} attach`; stop it with `tmux -L {socket} kill-server`."
        );
    }
    println!(
        "\nExplore further: orc-log tail, orc-log query \"SELECT ...\", orc-log session list (README.md has a tour)."
    );
    if args.web {
        println!(
            "\nweb view: http://{}/  (orc-log serve keeps running; Ctrl-C stops it)",
            orc_log_web::DEFAULT_ADDR
        );
        let _ = std::io::Write::flush(&mut std::io::stdout());
        while !super::interrupted() {
            if let Some(child) = server.0.as_mut()
                && !matches!(child.try_wait(), Ok(None))
            {
                bail!("orc-log serve stopped; see {}", out_dir.join("serve.log").display());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        server.stop();
    }
    Ok(())
}
