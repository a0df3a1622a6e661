//! README.md never lies: every command in its `sh` blocks runs, in order,
//! in a sandbox (empty HOME, so the default database; private tmux servers
//! through TMUX_TMPDIR), and must exit 0; every statement of its `sql` (and `sql-agents`) blocks
//! runs through `orc-log query`; its `duckdb` block runs on the export with
//! the Python of `common::engines_python` (the `spark-sql` and `duckdb-sql`
//! blocks run in the cross-engine test, engines.rs).
//!
//! The set-up block is checked, not run: `.ci/run` runs this run (and
//! `cargo test --workspace` is its last step), and `orc-log demo` has its
//! own end-to-end test (demo.rs).

use crate::common::{BASH, bin_path, fixture_path};
use orc_log_tmux::{Server, Spawn, Tmux};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Fenced blocks of README.md: (language, lines).
fn blocks(readme: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in readme.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((fence.trim().to_owned(), Vec::new())),
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.to_owned());
        }
    }
    out
}

struct Sandbox {
    dir: tempfile::TempDir,
    path_var: String,
    background: Vec<Child>,
    /// Killed on drop, before `dir` (which holds their sockets) is removed.
    servers: Vec<Server>,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "tmux"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        std::os::unix::fs::symlink(repo.join("scripts"), dir.path().join("scripts")).unwrap();
        std::fs::copy(fixture_path(), dir.path().join("events.ndjson")).unwrap();
        let mut bad = std::fs::read_to_string(fixture_path()).unwrap();
        bad.push_str("{\"kind\": \"marker\"}\n");
        std::fs::write(dir.path().join("x.ndjson"), bad).unwrap();
        let bin_dir = bin_path().parent().unwrap().display().to_string();
        let path_var = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
        Self { dir, path_var, background: Vec::new(), servers: Vec::new() }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The environment of everything run in the sandbox: set, or removed
    /// (`None`).
    fn env(&self) -> Vec<(&'static str, Option<OsString>)> {
        let mut env = vec![
            ("HOME", Some(self.home().into())),
            ("TMUX_TMPDIR", Some(self.dir.path().join("tmux").into())),
            ("PATH", Some(self.path_var.clone().into())),
        ];
        env.extend(["ORC_LOG_DB", "XDG_DATA_HOME", "XDG_STATE_HOME", "TMUX", "RUST_LOG"].map(|k| (k, None)));
        env
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.dir.path()).stdin(Stdio::null());
        for (key, value) in self.env() {
            match value {
                Some(v) => c.env(key, v),
                None => c.env_remove(key),
            };
        }
        c
    }

    fn sh(&self, line: &str) -> Command {
        let mut c = self.command("bash");
        c.args(["-o", "pipefail", "-c", line]);
        c
    }

    /// The sandbox's tmux server (the default one when `socket` is None).
    fn tmux(&self, socket: Option<&str>) -> Tmux {
        let tmux = match socket {
            Some(name) => Tmux::named(name),
            None => Tmux::default_server(),
        };
        self.env().into_iter().fold(tmux.isolated(), |tmux, (key, value)| match value {
            Some(v) => tmux.env(key, v),
            None => tmux.env_remove(key),
        })
    }

    /// Starts a tmux server (the default one when `socket` is None) with
    /// session `proj`: windows 0 and 1 running bash.
    fn tmux_server(&mut self, socket: Option<&str>) {
        let bash = Spawn::command(BASH).in_dir(self.dir.path());
        let server = Server::start(self.tmux(socket), "proj", &bash.clone().size(100, 20)).unwrap();
        server.new_window("proj:1", &bash).unwrap();
        self.servers.push(server);
    }

    /// Runs one README line; returns its output.
    fn run_line(&mut self, line: &str) -> Option<Output> {
        let code = line.split(" #").next().unwrap().trim();
        if let Some(bg) = code.strip_suffix('&') {
            let child = self.sh(bg).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            self.background.push(child);
            if bg.contains("serve") {
                let sock = self.home().join(".local/share/orc-log/serve.sock");
                let start = Instant::now();
                while std::os::unix::net::UnixStream::connect(&sock).is_err() {
                    assert!(start.elapsed() < Duration::from_secs(30), "{line}: the server did not start");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            return None;
        }
        // Commands that run until stopped get 3 s, then SIGTERM (exit 124 or 0 is fine).
        let until_stopped = line.contains("Ctrl-C stops");
        // Output goes to files: a pipe nobody drains would block a chatty command.
        let out_path = self.dir.path().join(".readme-line.out");
        let err_path = self.dir.path().join(".readme-line.err");
        let mut child = self
            .sh(code)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let limit = if until_stopped { Duration::from_secs(3) } else { Duration::from_secs(120) };
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > limit {
                assert!(until_stopped, "README line ran longer than {limit:?}: {line}");
                let _ = rustix::process::kill_process(
                    rustix::process::Pid::from_child(&child),
                    rustix::process::Signal::TERM,
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = child.wait().unwrap();
        let out = Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        };
        eprintln!("README {:>6.2}s  {code}", start.elapsed().as_secs_f64());
        if !until_stopped {
            assert!(
                out.status.success(),
                "README line failed: {line}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(out)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for child in &mut self.background {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_child(child),
                rustix::process::Signal::TERM,
            );
            let _ = child.wait();
        }
        self.servers.clear();
    }
}

#[test]
fn every_readme_command_runs() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let blocks = blocks(&readme);
    let (lang, setup) = &blocks[0];
    assert_eq!(lang, "sh");
    let setup: Vec<&str> = setup.iter().map(|l| l.split(" #").next().unwrap().trim()).collect();
    assert_eq!(setup, ["cargo run -p orc-log -- demo", ".ci/run"], "the two set-up commands");
    // The second runs the workspace's tests after installing what they need.
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim_start().starts_with("cargo test --workspace")),
        ".ci/run runs every test"
    );
    assert!(
        ci.contains("unset ORC_LOG_SKIP_ENGINES ORC_LOG_SKIP_BROWSER"),
        ".ci/run never skips the Spark or browser test"
    );

    let python = crate::common::engines_python();
    let mut sandbox = Sandbox::new();
    sandbox.tmux_server(None);
    sandbox.tmux_server(Some("work"));
    let mut ran = 0;
    for (lang, lines) in &blocks[1..] {
        match lang.as_str() {
            "sh" => {
                for line in lines.iter().filter(|l| !l.trim().is_empty()) {
                    sandbox.run_line(line);
                    ran += 1;
                }
            }
            // `sql-agents`: queries over the agent tables, run here only (the
            // cross-engine data set in engines.rs has no agent events).
            "sql" | "sql-agents" => {
                let text: String = lines
                    .iter()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ");
                for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    let out =
                        sandbox.command(bin_path().to_str().unwrap()).args(["query", stmt]).output().unwrap();
                    assert!(
                        out.status.success(),
                        "README query failed: {stmt}\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    ran += 1;
                }
            }
            "duckdb" => {
                let Some(python) = &python else {
                    eprintln!("README duckdb block not run (ORC_LOG_SKIP_ENGINES=1)");
                    continue;
                };
                for stmt in lines.iter().filter(|l| !l.trim().is_empty()) {
                    let script = "import duckdb, sys; print(duckdb.sql(sys.argv[1]).fetchall())";
                    let out = sandbox
                        .command(python.to_str().unwrap())
                        .args(["-c", script, stmt])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{stmt}: {}", String::from_utf8_lossy(&out.stderr));
                    ran += 1;
                }
            }
            _ => {}
        }
    }
    assert!(ran >= 40, "ran {ran} README commands");
    // What the commands left behind is what README says they make.
    let d = sandbox.dir.path();
    for file in ["orc_log.prom", "pane.parquet", "eng.cast", "recent.ndjson", "export/events.parquet"] {
        assert!(d.join(file).is_file(), "{file}");
    }
    assert!(d.join("export-by-day/events/day=2026-11-20").is_dir());
    assert!(d.join("shared/events/host=a/day=2026-11-20").is_dir());
    assert!(d.join("shared/_orc_log_export/host=a.json").is_file());
    assert!(d.join("restored/segments").is_dir());
    assert!(d.join("other-db/segments").is_dir());
}
