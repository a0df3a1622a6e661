//! `orc-log`: the command-line front end of the orc-log event log.
//!
//! Parses arguments with clap, resolves the database directory, runs one
//! subcommand (one file each under `cmd/`), and maps errors to a message on
//! stderr and a non-zero exit status. A closed stdout (`orc-log tail | head`)
//! is success, and a panic is reported as one line, never a crash dump.

mod app;
mod cmd;
mod ctx;
mod db;
mod lines;
mod note;
mod render;

use std::process::ExitCode;
use std::sync::Mutex;

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
    let cli = app::parse();
    match std::panic::catch_unwind(|| app::run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) if app::is_broken_pipe(&err) => ExitCode::SUCCESS,
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
