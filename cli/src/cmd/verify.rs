//! `orc-log verify`: check the whole log.

use crate::ctx::Io;
use anyhow::Result;
use orc_log_engine::SharedLog;

/// Check the whole log: every segment file record by record (checksums),
/// gapless seqs, chunk structure, every body, the blake3 hash chain, and the
/// index (which catches segment files rolled back to an older copy: the
/// index remembers acknowledged events they no longer hold).
///
/// With `--trusted NOTE` (a note printed by `orc-log checkpoint` earlier and
/// kept elsewhere), it also proves that the log extends that checkpoint: the
/// same database, at least as long, and the same chain hash at its seq, so
/// nothing up to there was rewritten, rolled back or forked since.
///
/// Exit status 0 only when the log is intact (and extends the trusted
/// checkpoint); otherwise the first bad seq and why.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A checkpoint note (`orc-log checkpoint`) the log must extend.
    #[arg(long, value_name = "FILE")]
    trusted: Option<std::path::PathBuf>,
    /// The verifier key (or a file holding it, e.g. the `.pub` file
    /// `orc-log checkpoint --generate-key` wrote) whose signature on the
    /// `--trusted` note must verify. Without it the note's signatures are
    /// not checked.
    #[arg(long, value_name = "KEY|FILE", requires = "trusted")]
    public_key: Option<String>,
}

/// Runs `orc-log verify`.
pub fn run(db: &SharedLog, args: Args, io: &mut Io) -> Result<u8> {
    let snap = db.snapshot();
    match snap.verify() {
        Ok(r) => {
            if let Some(note) = &args.trusted {
                let path = io.resolve(note);
                match crate::cmd::checkpoint::check_trusted(&snap, &path, args.public_key.as_deref(), &io.cwd)
                {
                    Ok(ext) => {
                        let sig = match &ext.signed_by {
                            Some(k) => format!("signature by {k} verified"),
                            None => "signature not checked (no --public-key)".to_owned(),
                        };
                        writeln!(
                            io.out,
                            "ok: extends the trusted checkpoint {} at seq {} ({sig})",
                            path.display(),
                            ext.seq
                        )?;
                    }
                    Err(e) => {
                        writeln!(io.err, "orc-log: verify failed: {}", crate::render::error_chain(&e))?;
                        return Ok(1);
                    }
                }
            }
            writeln!(
                io.out,
                "ok: {} events in {} chunks, head seq {}, chain {}",
                r.events, r.chunks, r.head_seq, r.chain_hex
            )?;
            if r.redacted > 0 {
                writeln!(
                    io.out,
                    "redacted: {} bodies (replaced by `orc-log redact`; the chain checked their original digests)",
                    r.redacted
                )?;
            }
            if r.expired > 0 {
                writeln!(
                    io.out,
                    "expired: {} bodies (stubs left by `orc-log compact`; the chain resumed from the hash kept after each run of them)",
                    r.expired
                )?;
            }
            Ok(0)
        }
        Err(e) => {
            writeln!(io.err, "orc-log: verify failed: {e}")?;
            Ok(1)
        }
    }
}
