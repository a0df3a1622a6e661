//! `orc-log verify`: check the whole log.

use crate::db;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Check the whole log: gapless seqs, frame structure, the blake3 hash chain,
/// every body, the indexes, and the head record kept outside the store (which
/// catches a store rolled back to an older copy).
///
/// Exit status 0 only when the log is intact; otherwise the first bad seq and why.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orc-log verify`.
pub fn run(db_dir: &Path, _args: Args) -> Result<ExitCode> {
    let log = db::open_existing(db_dir)?;
    match log.verify() {
        Ok(r) => {
            println!(
                "ok: {} events in {} chunks, head seq {}, chain {}",
                r.events, r.chunks, r.head_seq, r.chain_hex
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("orc-log: verify failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
