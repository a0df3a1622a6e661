//! `orc-log hook install`: add `orc-log hook` to a Claude Code settings file.

use anyhow::{Context, Result, bail};
use orc_log_agents::settings;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Add `orc-log hook` to a Claude Code settings file for every hook event
/// (SessionStart, UserPromptSubmit, PreToolUse, PostToolUse,
/// PostToolUseFailure, Notification, Stop, SubagentStop, PreCompact,
/// SessionEnd), so Claude Code reports its sessions, prompts and tool calls
/// to orc-log.
///
/// With `--db DIR` (`orc-log --db DIR hook install`), the hook command names
/// that database (as an absolute path), so the hooks feed it rather than the
/// default one.
///
/// With `--otel`, also sets the `env` that makes Claude Code export its
/// usage (tokens, cost) over OpenTelemetry to `orc-log serve --otlp`:
/// CLAUDE_CODE_ENABLE_TELEMETRY=1, OTEL_LOGS_EXPORTER=otlp,
/// OTEL_METRICS_EXPORTER=otlp, OTEL_EXPORTER_OTLP_PROTOCOL=http/json and
/// OTEL_EXPORTER_OTLP_ENDPOINT (`--otel-endpoint`, default
/// http://127.0.0.1:4318).
///
/// Every other setting and hook is kept. Installing again changes nothing;
/// an entry `.../orc-log hook` from another path is updated to this one. The
/// file (and its directory) is created when missing and replaced atomically;
/// a file that is not JSON is refused, never overwritten.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Settings file to edit [default: ~/.claude/settings.json, or
    /// ./.claude/settings.json with --project].
    #[arg(long, value_name = "PATH", conflicts_with = "project")]
    settings: Option<PathBuf>,
    /// Edit this project's settings (./.claude/settings.json) instead of the user's.
    #[arg(long)]
    project: bool,
    /// Print the change as a unified diff; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The hook command to write [default: this binary's absolute path, then
    /// `--db DIR` when --db was given, then `hook`].
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
    /// Also set the OpenTelemetry `env` that exports Claude Code's usage to
    /// `orc-log serve --otlp`.
    #[arg(long)]
    otel: bool,
    /// The OTLP/HTTP endpoint `--otel` writes.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:4318", requires = "otel")]
    otel_endpoint: String,
}

fn settings_path(args: &InstallArgs) -> Result<PathBuf> {
    if let Some(p) = &args.settings {
        return Ok(p.clone());
    }
    if args.project {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        return Ok(cwd.join(".claude").join("settings.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set; give the settings file with --settings PATH")?;
    Ok(PathBuf::from(home).join(".claude").join("settings.json"))
}

/// `EXE [--db DIR] hook`, each path quoted for a POSIX shell when it needs
/// quoting (Claude Code runs hook commands through a shell); `db` is made
/// absolute (hooks run in the project's directory).
fn default_command(db: Option<&Path>) -> Result<String> {
    let exe = std::env::current_exe().context("cannot find the path of the running orc-log")?;
    let exe = exe.to_str().context("the path of the running orc-log is not UTF-8; give --command")?;
    let mut command = settings::shell_quote(exe);
    if let Some(db) = db {
        let db =
            std::path::absolute(db).with_context(|| format!("cannot make --db {} absolute", db.display()))?;
        let db =
            db.to_str().with_context(|| format!("--db {} is not UTF-8; give --command", db.display()))?;
        command.push_str(" --db ");
        command.push_str(&settings::shell_quote(db));
    }
    command.push_str(" hook");
    Ok(command)
}

/// The text of the configuration file at `path`, `None` when there is none.
///
/// # Errors
/// A file that exists but cannot be read.
pub fn read_if_exists(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// `--dry-run`: prints the unified diff from `old` (none: an empty file) to
/// `new` on standard output and says nothing was written.
///
/// # Errors
/// Standard output cannot be written.
pub fn print_dry_run(path: &Path, old: Option<&str>, new: &str) -> Result<()> {
    let shown = path.display();
    let diff = similar::TextDiff::from_lines(old.unwrap_or_default(), new);
    let mut out = std::io::stdout().lock();
    write!(out, "{}", diff.unified_diff().header(&format!("{shown}"), &format!("{shown} (new)")))?;
    out.flush()?;
    eprintln!("orc-log: dry run; {shown} not written");
    Ok(())
}

/// Writes `text` to `path` atomically: a temporary file beside it, fsync,
/// rename, fsync of the directory.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (staged, mut file) = crate::cmd::Staged::file(path)?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", staged.path.display()))?;
    drop(file);
    staged.commit(path)
}

/// Runs `orc-log hook install`; `db` is the global `--db`, written into the
/// hook command.
///
/// # Errors
/// A settings file that cannot be read, is not JSON or not of Claude Code's
/// shape (named with the field), or cannot be written.
pub fn run(args: InstallArgs, db: Option<&Path>) -> Result<()> {
    let path = settings_path(&args)?;
    let command = match &args.command {
        Some(c) if c.trim().is_empty() => bail!("--command is empty"),
        Some(c) => c.clone(),
        None => default_command(db)?,
    };
    let existing = read_if_exists(&path)?;
    let mut done = settings::install(existing.as_deref(), &command)
        .with_context(|| format!("{}: cannot add the hooks", path.display()))?;
    let mut env = None;
    if args.otel {
        let e = settings::install_otel(Some(&done.text), &args.otel_endpoint)
            .with_context(|| format!("{}: cannot set the OpenTelemetry env", path.display()))?;
        done.text = e.text.clone();
        env = Some(e);
    }
    let shown = path.display();
    if !done.changed() && !env.as_ref().is_some_and(settings::Installed::changed) {
        eprintln!("orc-log: {shown} already runs `{command}` for every hook event; nothing to do");
        return Ok(());
    }
    if args.dry_run {
        return print_dry_run(&path, existing.as_deref(), &done.text);
    }
    write_atomic(&path, &done.text)?;
    let mut what = Vec::new();
    if !done.added.is_empty() {
        what.push(format!("added `{command}` to {}", done.added.join(", ")));
    }
    if !done.updated.is_empty() {
        what.push(format!("updated the command in {}", done.updated.join(", ")));
    }
    if let Some(e) = env.filter(settings::Installed::changed) {
        let keys: Vec<&str> = e.added.iter().chain(&e.updated).copied().collect();
        what.push(format!("set env {}", keys.join(", ")));
    }
    eprintln!("orc-log: {shown}: {}", what.join("; "));
    Ok(())
}
