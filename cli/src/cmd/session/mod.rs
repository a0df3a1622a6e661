//! `orc-log session ...`: record tmux panes into the log and play them back.
//!
//! `record` runs in the client process (its events go through the server
//! when one runs, like `emit`); the viewing actions run against a [`SharedLog`],
//! here or inside the server.

pub mod export;
pub mod list;
pub mod record;
pub mod replay;

use crate::ctx::Io;
use anyhow::{Result, bail};
use clap::Subcommand;
use orc_log_engine::SharedLog;
use std::path::Path;

/// Record a tmux server's sessions into the log, and list, replay or export
/// what was recorded.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    Record(record::Args),
    List(list::Args),
    Replay(replay::Args),
    Export(export::Args),
}

impl Args {
    /// Whether this is `session record` (which writes, from this process).
    pub fn is_record(&self) -> bool {
        matches!(self.action, Action::Record(_))
    }

    /// Whether this is `session replay` (which plays on this process's terminal).
    pub fn is_replay(&self) -> bool {
        matches!(self.action, Action::Replay(_))
    }
}

/// Runs `orc-log session record`.
pub fn run_record(db_dir: &Path, args: Args) -> Result<u8> {
    match args.action {
        Action::Record(a) => record::run(db_dir, a),
        #[allow(unreachable_patterns)]
        _ => bail!("internal: not a recording action"),
    }
}

/// Runs `session replay` on this terminal with the frames fetched from the
/// server that owns the database.
pub fn replay_via_server(args: Args, client: &mut orc_log_server::Client, io: &mut Io) -> Result<u8> {
    match args.action {
        Action::Replay(a) => replay::run_via_server(a, client, io),
        _ => bail!("internal: not a replay"),
    }
}

/// Runs the viewing actions (`list`, `replay`, `export`) against `db`.
pub fn run_read(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    match args.action {
        Action::List(a) => list::run(db, a, io),
        Action::Replay(a) => replay::run(db, a, io),
        Action::Export(a) => export::run(db, a, io),
        Action::Record(_) => bail!("internal: `session record` does not run against a shared database"),
    }
}
