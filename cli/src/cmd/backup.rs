//! `orc-log backup create|list|verify`: orc-log's own incremental, verifiable backups.

use crate::ctx::Io;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use orc_log_engine::SharedLog;
use orc_log_engine::backup::{self, SegmentWriter};
use orc_log_schemas::format_rfc3339;
use std::path::{Path, PathBuf};

/// Back up the log into a directory, list a backup's restore points, or verify it.
///
/// A backup directory holds segment files (the log's chunks exactly as stored,
/// still compressed and hash-chained) and MANIFEST.json (seq and time range and
/// blake3 of each segment, the head chain hash). Each `backup create` into the
/// same directory adds one segment with the events since the previous one.
/// Restore with `orc-log restore DEST --to DIR`. Format: engine/FORMAT.md.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add the events since the last backup in DEST (online: writers go on).
    Create {
        /// Backup directory (created 0700 if missing).
        dest: PathBuf,
    },
    /// Show DEST's restore points (each segment's last seq and time range) and totals.
    List {
        /// Backup directory.
        dest: PathBuf,
    },
    /// Recheck every file's blake3 and the whole hash chain; exit 0 only if intact.
    Verify {
        /// Backup directory.
        dest: PathBuf,
    },
}

impl Args {
    /// Whether this runs without a database (list and verify only read the backup).
    pub fn needs_db(&self) -> bool {
        matches!(self.action, Action::Create { .. })
    }
}

/// Chunks copied per read-lock hold.
const PAGE_CHUNKS: usize = 64;

/// Runs `orc-log backup`. `db` is `None` for list and verify.
pub fn run(db: Option<&SharedLog>, args: Args, io: &mut Io) -> Result<u8> {
    match args.action {
        Action::Create { dest } => {
            let dest = io.resolve(&dest);
            let Some(db) = db else { bail!("backup create needs the database") };
            create(db, &dest, io)
        }
        Action::List { dest } => list(&io.resolve(&dest), io),
        Action::Verify { dest } => {
            let dest = io.resolve(&dest);
            match backup::verify_backup(&dest) {
                Ok(r) => {
                    writeln!(
                        io.out,
                        "ok: {} events in {} segments, {} bytes, chain {}",
                        r.events, r.segments, r.bytes, r.chain_hex
                    )?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(io.err, "orc-log: backup {} is damaged: {e}", dest.display())?;
                    Ok(1)
                }
            }
        }
    }
}

fn create(db: &SharedLog, dest: &Path, io: &mut Io) -> Result<u8> {
    let mut manifest = backup::open_backup(dest)
        .with_context(|| format!("cannot use backup directory {}", dest.display()))?;
    // Everything up to the head seen now: an exact prefix, whatever writers do meanwhile.
    let snap = db.snapshot();
    let (until, chain_at_backup) = (snap.head().seq, snap.chain_at_chunk_end(manifest.head_seq)?);
    match chain_at_backup {
        Some(chain)
            if orc_log_engine::Head { seq: 0, chain_hash: chain, max_ts_ns: 0 }.chain_hex()
                == manifest.head_chain => {}
        _ => bail!(
            "{} holds a backup of another database (or of this one before it was restored): its head seq {} does not match this log",
            dest.display(),
            manifest.head_seq
        ),
    }
    if until == manifest.head_seq {
        pin_backup(db, dest, until)?;
        writeln!(io.out, "nothing new since the last backup (seq {until}) in {}", dest.display())?;
        return Ok(0);
    }
    let mut writer = SegmentWriter::create(dest, manifest.head_seq)?;
    let mut after = manifest.head_seq;
    while after < until {
        let chunks = snap.raw_chunks(after, until, PAGE_CHUNKS)?;
        let Some(last) = chunks.last() else { break };
        after = last.last_seq;
        for c in &chunks {
            writer.push(c)?;
        }
    }
    let seg = writer.finish()?;
    let summary = format!(
        "backed up seqs {}..={} ({} bytes) into {}/{}",
        seg.first_seq,
        seg.last_seq,
        seg.bytes,
        dest.display(),
        seg.file
    );
    backup::commit_segment(dest, &mut manifest, seg)?;
    pin_backup(db, dest, until)?;
    writeln!(io.out, "{summary}")?;
    Ok(0)
}

/// Pins the database at `seq` for the backup in `dest`: compaction keeps
/// the bodies after it until the next `backup create` has them
/// (`retention show` lists it; `retention unpin` drops it).
fn pin_backup(db: &SharedLog, dest: &Path, seq: u64) -> Result<()> {
    let dest = std::fs::canonicalize(dest).unwrap_or_else(|_| dest.to_owned());
    let what = dest.display().to_string();
    let pin = orc_log_engine::retention::Pin::of("backup", &what, format!("backup in {what}"), seq);
    pin.store(db.dir()).context("pinning the backed-up seq for retention")
}

fn list(dest: &Path, io: &mut Io) -> Result<u8> {
    let Some(m) = backup::Manifest::load(dest)? else {
        bail!("{} holds no backup (no {})", dest.display(), backup::MANIFEST_FILE)
    };
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["restore point (last seq)", "first seq", "first ts", "last ts", "bytes", "file"]);
    let mut bytes = 0;
    for s in &m.segments {
        bytes += s.bytes;
        t.add_row(vec![
            s.last_seq.to_string(),
            s.first_seq.to_string(),
            format_rfc3339(s.first_ts_ns),
            format_rfc3339(s.last_ts_ns),
            s.bytes.to_string(),
            s.file.clone(),
        ]);
    }
    writeln!(io.out, "{t}")?;
    writeln!(
        io.out,
        "{} events in {} segments, {bytes} bytes; head chain {}",
        m.head_seq,
        m.segments.len(),
        m.head_chain
    )?;
    Ok(0)
}
