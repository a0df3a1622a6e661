//! `orc-log`: the command-line front end of the orc-log event log.
//!
//! Parses arguments with clap, resolves the database directory, runs one
//! subcommand (one file each under `cmd/`), and maps errors to a message on
//! stderr and a non-zero exit status. A closed stdout (`orc-log tail | head`)
//! is success, and a panic is reported as one line, never a crash dump.

mod client;
mod cmd;
mod ctx;
mod db;
mod lines;
mod render;
mod wire;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

/// orc-log: an event-sourced, append-only log for tmux-based multi-agent orchestrators.
///
/// Every pane capture, message, schedule, crash signal, marker and lifecycle
/// change is appended as a compressed, hash-chained event. Events are NDJSON
/// format v1 on the way in (`ingest`, `emit`) and out (`tail --format json`).
#[derive(Debug, Parser)]
#[command(name = "orc-log", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Database directory [default: $ORC_LOG_DB, else $XDG_DATA_HOME/orc-log,
    /// else ~/.local/share/orc-log].
    #[arg(long, global = true, value_name = "DIR")]
    db: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(cmd::serve::Args),
    Ingest(cmd::ingest::Args),
    Emit(cmd::emit::Args),
    Tail(cmd::tail::Args),
    Stats(cmd::stats::Args),
    Verify(cmd::verify::Args),
    Replay(cmd::replay::Args),
    State(cmd::state::Args),
    Metrics(cmd::metrics::Args),
    Backup(cmd::backup::Args),
    Restore(cmd::restore::Args),
    Session(cmd::session::Args),
    Query(cmd::query::Args),
    Export(cmd::export::Args),
    Demo(cmd::demo::Args),
}

/// The message of a panic, kept by the hook for `main` to report.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    // Files the database creates are the owner's only, whatever the caller's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Panics inside the store are caught and reported as errors; any other
    // panic is reported once, by `main`, without a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(mut slot) = PANIC.lock() {
            *slot = Some(format!("{msg}{at}"));
        }
    }));
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("orc-log: {}", render::error_chain(&err));
            ExitCode::FAILURE
        }
        Err(_) => {
            let msg = PANIC.lock().ok().and_then(|m| m.clone()).unwrap_or_default();
            eprintln!("orc-log: internal error: {msg}");
            ExitCode::from(70)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db_dir = db::resolve(cli.db)?;
    let code = match cli.command {
        Command::Ingest(a) => cmd::ingest::run(&db_dir, a)?,
        Command::Emit(a) => cmd::emit::run(&db_dir, a)?,
        Command::Serve(a) => cmd::serve::run(&db_dir, a)?,
        Command::Restore(a) => cmd::restore::run(a)?,
        Command::Demo(a) => cmd::demo::run(&db_dir, a)?,
        Command::Session(a) if a.is_record() => cmd::session::run_record(&db_dir, a)?,
        Command::Backup(a) if !a.needs_db() => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut err = std::io::stderr();
            let cwd = std::env::current_dir()?;
            let mut io = ctx::Io { out: &mut out, err: &mut err, cwd, served: false };
            let code = cmd::backup::run(None, a, &mut io)?;
            out.flush()?;
            code
        }
        command => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut err = std::io::stderr();
            if let Some(mut client) = client::Client::connect(&db_dir)? {
                match command {
                    // Replay plays on this terminal, with frames from the server.
                    Command::Session(a)
                        if a.is_replay() && std::io::IsTerminal::is_terminal(&std::io::stdout()) =>
                    {
                        let cwd = std::env::current_dir()?;
                        let mut io = ctx::Io { out: &mut out, err: &mut err, cwd, served: false };
                        let code = cmd::session::replay_via_server(a, &mut client, &mut io)?;
                        out.flush()?;
                        code
                    }
                    // The server runs the command against the database it owns.
                    _ => {
                        let args: Vec<String> = std::env::args().skip(1).collect();
                        let code = client.exec(args, &mut out, &mut err)?;
                        out.flush()?;
                        code
                    }
                }
            } else {
                let db = ctx::Db::new(db::open_existing(&db_dir)?);
                let cwd = std::env::current_dir()?;
                let mut io = ctx::Io { out: &mut out, err: &mut err, cwd, served: false };
                let code = run_read(&db, command, &mut io)?;
                out.flush()?;
                code
            }
        }
    };
    Ok(ExitCode::from(code))
}

/// Runs a command that reads (or maintains projections of) an open database,
/// here or inside the server.
fn run_read(db: &ctx::Db, command: Command, io: &mut ctx::Io) -> anyhow::Result<u8> {
    match command {
        Command::Tail(a) => cmd::tail::run(db, a, io),
        Command::Stats(a) => cmd::stats::run(db, a, io),
        Command::Verify(a) => cmd::verify::run(db, a, io),
        Command::Replay(a) => cmd::replay::run(db, a, io),
        Command::State(a) => cmd::state::run(db, a, io),
        Command::Metrics(a) => cmd::metrics::run(db, a, io),
        Command::Backup(a) => cmd::backup::run(Some(db), a, io),
        Command::Session(a) => cmd::session::run_read(db, a, io),
        Command::Query(a) => cmd::query::run(db, a, io),
        Command::Export(a) => cmd::export::run(db, a, io),
        Command::Ingest(_)
        | Command::Emit(_)
        | Command::Serve(_)
        | Command::Restore(_)
        | Command::Demo(_) => {
            anyhow::bail!("internal: this command does not run against a shared database")
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
