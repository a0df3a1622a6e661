//! The command line: arguments (clap), dispatch to one module per
//! subcommand, and the [`Runner`] the server uses to run commands for its
//! clients with the same definitions.

use crate::ctx::Io;
use crate::{cmd, db, render};
use clap::{Parser, Subcommand};
use orc_log_engine::SharedLog;
use orc_log_server::{Endpoint, Runner};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// orc-log: an event-sourced, append-only log for tmux-based multi-agent orchestrators.
///
/// Every pane capture, message, schedule, crash signal, marker and lifecycle
/// change is appended as a compressed, hash-chained event. Events are NDJSON
/// format v1 on the way in (`ingest`, `emit`) and out (`tail --format json`).
#[derive(Debug, Parser)]
#[command(name = "orc-log", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Database directory [default: $ORC_LOG_DB, else $XDG_DATA_HOME/orc-log,
    /// else ~/.local/share/orc-log].
    #[arg(long, global = true, value_name = "DIR")]
    db: Option<PathBuf>,

    /// How long to wait for a database another orc-log process holds (a
    /// command that opened it directly, or a server still starting) before
    /// failing; `0` fails at once. A duration with a unit: `10s`, `500ms`, `1m`.
    #[arg(
        long,
        global = true,
        env = "ORC_LOG_LOCK_TIMEOUT",
        default_value = "10s",
        value_parser = cmd::parse_duration,
        value_name = "DUR"
    )]
    lock_timeout: Duration,

    /// Set by a client on the command line it sends to `orc-log serve`:
    /// its standard output is a terminal (the server's is not).
    #[arg(long = "stdout-terminal", global = true, hide = true)]
    stdout_terminal: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Serve(cmd::serve::Args),
    Ingest(cmd::ingest::Args),
    Emit(cmd::emit::Args),
    Tail(cmd::tail::Args),
    Stats(cmd::stats::Args),
    Verify(cmd::verify::Args),
    Checkpoint(cmd::checkpoint::Args),
    Seal(cmd::seal::Args),
    Redact(cmd::redact::Args),
    Retention(cmd::retention::Args),
    Compact(cmd::compact::Args),
    Replay(cmd::replay::Args),
    State(cmd::state::Args),
    Metrics(cmd::metrics::Args),
    Backup(cmd::backup::Args),
    Restore(cmd::restore::Args),
    Resurrect(cmd::resurrect::Args),
    Session(cmd::session::Args),
    Query(cmd::query::Args),
    Search(cmd::search::Args),
    Export(cmd::export::Args),
    Report(cmd::report::Args),
    Demo(cmd::demo::Args),
    Hook(cmd::hook::Args),
    Import(cmd::import::Args),
    Alerts(cmd::alerts::Args),
    Mcp(cmd::mcp::Args),
}

/// Parses the process's arguments (exits with clap's message on bad ones).
pub fn parse() -> Cli {
    Cli::parse()
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    db::set_lock_timeout(cli.lock_timeout);
    let terminal = stdout_is_terminal();
    // A hook never fails: it resolves the database and reports problems itself.
    let command = match cli.command {
        Command::Hook(a) => return Ok(ExitCode::from(cmd::hook::run(cli.db, a)?)),
        // The MCP server connects for each tool call; install edits a file.
        Command::Mcp(a) if !a.is_call() => return Ok(ExitCode::from(cmd::mcp::run(cli.db, a)?)),
        other => other,
    };
    let db_dir = db::resolve(cli.db)?;
    let code = match command {
        Command::Hook(a) => cmd::hook::run(Some(db_dir), a)?,
        Command::Ingest(a) => cmd::ingest::run(&db_dir, a)?,
        Command::Emit(a) => cmd::emit::run(&db_dir, a)?,
        Command::Serve(a) => cmd::serve::run(&db_dir, a, std::sync::Arc::new(CommandRunner))?,
        Command::Restore(a) => cmd::restore::run(a)?,
        Command::Resurrect(a) => cmd::resurrect::run(&db_dir, a)?,
        Command::Demo(a) => cmd::demo::run(&db_dir, a)?,
        Command::Import(a) => cmd::import::run(&db_dir, a)?,
        Command::Session(a) if a.is_record() => cmd::session::run_record(&db_dir, a)?,
        Command::Alerts(a) if a.is_check() => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut err = std::io::stderr();
            let cwd = std::env::current_dir()?;
            let mut io = Io { out: &mut out, err: &mut err, cwd, served: false, terminal };
            let code = cmd::alerts::run_check(&db_dir, a, &mut io)?;
            out.flush()?;
            code
        }
        Command::Backup(a) if !a.needs_db() => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut err = std::io::stderr();
            let cwd = std::env::current_dir()?;
            let mut io = Io { out: &mut out, err: &mut err, cwd, served: false, terminal };
            let code = cmd::backup::run(None, a, &mut io)?;
            out.flush()?;
            code
        }
        command => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut err = std::io::stderr();
            let cwd = std::env::current_dir()?;
            let code = match db::connect(&db_dir)? {
                // Replay plays on this terminal, with frames from the server.
                Endpoint::Server(mut client) if is_terminal_replay(&command) => {
                    let Command::Session(a) = command else { unreachable!("checked by is_terminal_replay") };
                    let mut io = Io { out: &mut out, err: &mut err, cwd, served: false, terminal };
                    cmd::session::replay_via_server(a, &mut client, &mut io)?
                }
                // Follow here, so the follow outlives a server restart.
                Endpoint::Server(client) if matches!(&command, Command::Tail(a) if a.follows()) => {
                    let Command::Tail(a) = command else { unreachable!("checked by the guard") };
                    let mut io = Io { out: &mut out, err: &mut err, cwd, served: false, terminal };
                    cmd::tail::follow_via_server(&db_dir, a, client, &mut io)?
                }
                // The server runs the command against the database it owns.
                Endpoint::Server(mut client) => {
                    let mut args: Vec<String> = std::env::args().skip(1).collect();
                    if terminal {
                        args.insert(0, "--stdout-terminal".to_owned());
                    }
                    client.exec(args, cwd, &mut out, &mut err)?
                }
                Endpoint::Direct(log) => {
                    let mut io = Io { out: &mut out, err: &mut err, cwd, served: false, terminal };
                    run_read(&log, command, &mut io)?
                }
            };
            out.flush()?;
            code
        }
    };
    Ok(ExitCode::from(code))
}

fn is_terminal_replay(command: &Command) -> bool {
    matches!(command, Command::Session(a) if a.is_replay()) && stdout_is_terminal()
}

/// Whether this process's standard output is a terminal.
fn stdout_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

/// Runs a command that reads (or maintains projections of) an open database,
/// here or inside the server.
///
/// # Errors
/// Whatever the command reports.
pub fn run_read(db: &SharedLog, command: Command, io: &mut Io) -> anyhow::Result<u8> {
    // `verify` reports damage itself.
    if matches!(command, Command::Verify(_)) {
        return dispatch_read(db, command, io);
    }
    // Damage found at open: the head is the last event that reads back
    // intact; every read shows what it shows up to there, then says so.
    let snap = db.snapshot();
    let at_open = snap.damage().map(|why| db::Damaged { last_intact: snap.head().seq, why: why.to_owned() });
    let (code, met) = match dispatch_read(db, command, io) {
        Ok(code) => (code, None),
        Err(e) if is_broken_pipe(&e) => return Ok(0),
        // Damage a read met on its way (after what it printed before it).
        Err(e) => match db::damage_in(&e) {
            Some(d) => (1, Some(db::Damaged { why: render::error_chain(&e), ..d })),
            None if at_open.is_none() => return Err(e),
            None => {
                writeln!(io.err, "orc-log: {}", render::error_chain(&e))?;
                (1, None)
            }
        },
    };
    Ok(code.max(db::exit_status(io.err, met.or(at_open).as_ref())?))
}

/// [`run_read`] without the report of damage found at open.
fn dispatch_read(db: &SharedLog, command: Command, io: &mut Io) -> anyhow::Result<u8> {
    match command {
        Command::Tail(a) => cmd::tail::run(db, a, io),
        Command::Stats(a) => cmd::stats::run(db, a, io),
        Command::Verify(a) => cmd::verify::run(db, a, io),
        Command::Checkpoint(a) => cmd::checkpoint::run(db, a, io),
        Command::Redact(a) => cmd::redact::run(db, a, io),
        Command::Retention(a) => cmd::retention::run(db, a, io),
        Command::Compact(a) => cmd::compact::run(db, a, io),
        Command::Seal(a) => cmd::seal::run(db, a, io),
        Command::Replay(a) => cmd::replay::run(db, a, io),
        Command::State(a) => cmd::state::run(db, a, io),
        Command::Metrics(a) => cmd::metrics::run(db, a, io),
        Command::Backup(a) => cmd::backup::run(Some(db), a, io),
        Command::Session(a) => cmd::session::run_read(db, a, io),
        Command::Query(a) => cmd::query::run(db, a, io),
        Command::Search(a) => cmd::search::run(db, a, io),
        Command::Export(a) => cmd::export::run(db, a, io),
        Command::Report(a) => cmd::report::run(db, a, io),
        Command::Alerts(a) => cmd::alerts::run(db, a, io),
        Command::Mcp(a) if a.is_call() => cmd::mcp::run_call(db, a, io),
        command => {
            debug_assert!(command.runs_in_its_own_process());
            anyhow::bail!("internal: this command does not run against a shared database")
        }
    }
}

impl Command {
    /// Whether the command writes or owns the database itself (it opens its
    /// own connection, or is the server), so neither [`run_read`] nor the
    /// server's [`CommandRunner`] runs it.
    fn runs_in_its_own_process(&self) -> bool {
        match self {
            Command::Ingest(_)
            | Command::Emit(_)
            | Command::Serve(_)
            | Command::Restore(_)
            | Command::Resurrect(_)
            | Command::Hook(_)
            | Command::Demo(_)
            | Command::Import(_) => true,
            Command::Mcp(a) => !a.is_call(),
            Command::Tail(_)
            | Command::Stats(_)
            | Command::Verify(_)
            | Command::Checkpoint(_)
            | Command::Redact(_)
            | Command::Retention(_)
            | Command::Compact(_)
            | Command::Seal(_)
            | Command::Replay(_)
            | Command::State(_)
            | Command::Metrics(_)
            | Command::Backup(_)
            | Command::Session(_)
            | Command::Query(_)
            | Command::Search(_)
            | Command::Export(_)
            | Command::Report(_)
            | Command::Alerts(_) => false,
        }
    }
}

/// Whether `err` is a closed output (`orc-log tail | head`), which is success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs the read commands of clients inside `orc-log serve`, parsing their
/// arguments with the same clap definitions.
pub struct CommandRunner;

impl Runner for CommandRunner {
    fn run(
        &self,
        log: &SharedLog,
        args: Vec<String>,
        cwd: PathBuf,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> u8 {
        let cli = match Cli::try_parse_from(std::iter::once("orc-log".to_owned()).chain(args)) {
            Err(e) => {
                let _ = write!(err, "{}", e.render());
                return 2;
            }
            Ok(cli) => cli,
        };
        match cli.command {
            Command::Session(ref a) if a.is_record() => {
                let _ =
                    writeln!(err, "orc-log: session record runs in its own process, not inside the server");
                2
            }
            ref command if command.runs_in_its_own_process() => {
                let _ = writeln!(err, "orc-log: this command cannot run inside the server");
                2
            }
            command => {
                let mut io = Io { out, err, cwd, served: true, terminal: cli.stdout_terminal };
                match run_read(log, command, &mut io) {
                    Ok(code) => code,
                    Err(e) if is_broken_pipe(&e) => 0,
                    Err(e) => {
                        let _ = writeln!(io.err, "orc-log: {}", render::error_chain(&e));
                        1
                    }
                }
            }
        }
    }
}
