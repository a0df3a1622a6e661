//! `orc-log verify`: check the whole log.

use crate::ctx::Io;
use anyhow::Result;
use orc_log_engine::SharedLog;

/// Check the whole log: every segment file record by record (checksums),
/// gapless seqs, chunk structure, every body, the blake3 hash chain, and the
/// index (which catches segment files rolled back to an older copy: the
/// index remembers acknowledged events they no longer hold).
///
/// Exit status 0 only when the log is intact; otherwise the first bad seq and why.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orc-log verify`.
pub fn run(db: &SharedLog, _args: Args, io: &mut Io) -> Result<u8> {
    match db.snapshot().verify() {
        Ok(r) => {
            writeln!(
                io.out,
                "ok: {} events in {} chunks, head seq {}, chain {}",
                r.events, r.chunks, r.head_seq, r.chain_hex
            )?;
            Ok(0)
        }
        Err(e) => {
            writeln!(io.err, "orc-log: verify failed: {e}")?;
            Ok(1)
        }
    }
}
