//! `orc-log mcp`: the MCP server agents ask the log through (stdio), and
//! `orc-log mcp install`, which adds it to Claude Code's configuration.

use crate::ctx::Io;
use crate::{db, render};
use anyhow::{Context, Result, bail};
use orc_log_engine::SharedLog;
use orc_log_mcp::config::{self, Change};
use orc_log_mcp::{Backend, ToolCall, ToolOutput};
use orc_log_server::Endpoint;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Serve orc-log's tools to agents over MCP (Model Context Protocol,
/// version 2025-11-25; older clients get the version they ask for) on
/// standard input and output: team_state, tail, search, pane_before,
/// capture_at and query. Every tool only reads, and its output is bounded;
/// text recorded from panes is fenced as untrusted data.
///
/// Each tool call reaches the database as other commands do: through a
/// running `orc-log serve`, else by opening it for that call only, so the
/// server never holds the database between calls. `orc-log serve --http`
/// also serves the same tools as Streamable HTTP at `/mcp`.
///
/// `orc-log mcp install --project` adds the server to a project's
/// `.mcp.json` for Claude Code.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Install(InstallArgs),
    /// Run one tool call (JSON `{"tool": NAME, "arguments": {...}}`) and
    /// print its result as JSON: how `orc-log mcp` asks a running server.
    #[command(hide = true)]
    Call {
        /// The call.
        json: String,
    },
}

/// Add `orc-log mcp` to Claude Code's MCP servers: the user's
/// (`~/.claude.json`), or with --project this project's `.mcp.json` (the
/// entry `{"mcpServers": {"orc-log": {"command": "orc-log", "args": ["mcp"]}}}`).
///
/// With `--db DIR` (`orc-log --db DIR mcp install`), the entry names that
/// database (as an absolute path). Every other key and server is kept.
/// Installing again changes nothing; an `orc-log` entry with another command
/// is updated. The file is created when missing and replaced atomically; a
/// file that is not JSON is refused, never overwritten.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Edit this project's `.mcp.json` (in the current directory) instead of `~/.claude.json`.
    #[arg(long)]
    project: bool,
    /// The configuration file to edit instead.
    #[arg(long, value_name = "PATH", conflicts_with = "project")]
    settings: Option<PathBuf>,
    /// Print the change as a unified diff; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The program Claude Code runs [default: `orc-log`, found on its PATH].
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
}

impl Args {
    /// Whether this is the hidden `mcp call` (run against a shared database).
    pub fn is_call(&self) -> bool {
        matches!(self.action, Some(Action::Call { .. }))
    }
}

/// Runs `orc-log mcp` (serving on stdio) or `orc-log mcp install`; `db_flag`
/// is the global `--db`.
///
/// # Errors
/// A database directory that cannot be resolved, the stdio session failing,
/// or install's errors.
pub fn run(db_flag: Option<PathBuf>, args: Args) -> Result<u8> {
    match args.action {
        Some(Action::Install(a)) => install(a, db_flag.as_deref()).map(|()| 0),
        Some(Action::Call { .. }) => bail!("internal: `mcp call` runs against a shared database"),
        None => {
            let dir = db::resolve(db_flag)?;
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            orc_log_mcp::serve_stdio(Arc::new(CliBackend { dir, cwd }))?;
            Ok(0)
        }
    }
}

/// Runs the hidden `orc-log mcp call JSON` against `db` (here or inside
/// the server): the tool's result as one JSON line.
///
/// # Errors
/// A call that is not JSON of a known tool, or a closed output.
pub fn run_call(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let Some(Action::Call { json }) = args.action else { bail!("internal: not `mcp call`") };
    let call: ToolCall = serde_json::from_str(&json).context("mcp call: not a tool call")?;
    let out = orc_log_mcp::tools::run(db, call);
    writeln!(io.out, "{}", serde_json::to_string(&out)?)?;
    Ok(0)
}

/// Tool calls of `orc-log mcp`: through the database's server when one
/// runs, else on the database opened for the call.
struct CliBackend {
    dir: PathBuf,
    cwd: PathBuf,
}

impl CliBackend {
    fn try_call(&self, call: ToolCall) -> Result<ToolOutput> {
        match db::connect(&self.dir)? {
            Endpoint::Direct(log) => Ok(orc_log_mcp::tools::run(&log, call)),
            Endpoint::Server(mut client) => {
                let args = vec!["mcp".to_owned(), "call".to_owned(), serde_json::to_string(&call)?];
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let code = client.exec(args, self.cwd.clone(), &mut out, &mut err)?;
                let line = out.split(|b| *b == b'\n').find(|l| !l.is_empty());
                match line {
                    Some(line) => Ok(serde_json::from_slice(line).context("the server's tool result")?),
                    None => bail!(
                        "the server answered with exit status {code}: {}",
                        String::from_utf8_lossy(&err).trim()
                    ),
                }
            }
        }
    }
}

impl Backend for CliBackend {
    fn call(&self, call: ToolCall) -> ToolOutput {
        self.try_call(call).unwrap_or_else(|e| ToolOutput::error(render::error_chain(&e)))
    }
}

fn config_path(args: &InstallArgs) -> Result<PathBuf> {
    if let Some(p) = &args.settings {
        return Ok(p.clone());
    }
    if args.project {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        return Ok(cwd.join(".mcp.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set; give the file with --settings PATH")?;
    Ok(PathBuf::from(home).join(".claude.json"))
}

/// Runs `orc-log mcp install`.
fn install(args: InstallArgs, db: Option<&Path>) -> Result<()> {
    let path = config_path(&args)?;
    let command = match &args.command {
        Some(c) if c.trim().is_empty() => bail!("--command is empty"),
        Some(c) => c.clone(),
        None => "orc-log".to_owned(),
    };
    let mut server_args = Vec::new();
    if let Some(db) = db {
        let db =
            std::path::absolute(db).with_context(|| format!("cannot make --db {} absolute", db.display()))?;
        let db = db.to_str().with_context(|| format!("--db {} is not UTF-8", db.display()))?;
        server_args.extend(["--db".to_owned(), db.to_owned()]);
    }
    server_args.push("mcp".to_owned());
    let existing = super::hook_install::read_if_exists(&path)?;
    let done = config::install(existing.as_deref(), &command, &server_args)
        .with_context(|| format!("{}: cannot add the MCP server", path.display()))?;
    let shown = path.display();
    let runs = format!("{command} {}", server_args.join(" "));
    if done.change == Change::None {
        eprintln!("orc-log: {shown} already has the MCP server `{runs}`; nothing to do");
        return Ok(());
    }
    if args.dry_run {
        return super::hook_install::print_dry_run(&path, existing.as_deref(), &done.text);
    }
    super::hook_install::write_atomic(&path, &done.text)?;
    let what = if done.change == Change::Added { "added" } else { "updated" };
    eprintln!("orc-log: {shown}: {what} the MCP server {} (`{runs}`)", config::SERVER_NAME);
    Ok(())
}
