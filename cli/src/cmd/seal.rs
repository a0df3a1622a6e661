//! `orc-log seal`: repack closed segments into large chunks.

use crate::ctx::Io;
use anyhow::{Context, Result};
use orc_log_engine::SharedLog;

/// Repack the log's closed segments into large, better-compressed chunks.
///
/// A recorder or `emit` commits a few events at a time, each commit a small
/// chunk of its own. Sealing closes the segment appends go to (the next
/// append starts a new one) and rewrites every closed segment that is not
/// sealed yet with large chunks whose bodies are compressed together. The
/// events, their seqs and the hash chain do not change; `verify` passes
/// before and after. Safe to interrupt at any moment (even `kill -9`): the
/// next command finishes or undoes it. Each segment is repacked off the
/// writer; appends wait only while it is switched in (milliseconds), and
/// reads go on. `orc-log serve` seals by itself in the background (see
/// `orc-log serve --help`); this command seals at once, through the server
/// when one runs.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `orc-log seal`.
pub fn run(db: &SharedLog, _args: Args, io: &mut Io) -> Result<u8> {
    let r = db.seal(true).context("seal failed")?;
    if r.segments == 0 {
        writeln!(io.out, "nothing to seal")?;
    } else {
        writeln!(
            io.out,
            "sealed {} segment(s), {} events: {} chunks into {}, {} bytes into {}",
            r.segments, r.events, r.chunks_before, r.chunks_after, r.bytes_before, r.bytes_after
        )?;
    }
    Ok(0)
}
