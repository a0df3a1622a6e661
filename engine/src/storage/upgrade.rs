//! Upgrading a format 1 database (every chunk in sled) to format 2
//! (segment files plus a sled index), crash-safely, keeping the old files.
//!
//! Steps, each safe to interrupt (the next open finishes or redoes them):
//!
//! 1. Read and check every format 1 chunk (its frame checks and chain),
//!    appending the events to a new format 2 database in
//!    `DIR/upgrade-v2.tmp`; verify it. Nothing of the old database changes.
//! 2. Rename `DIR/store` to `DIR/v1-store` (the old files, kept).
//! 3. Rename the new `segments` and then `store` into `DIR`; move `DIR/HEAD`
//!    into `DIR/v1-store`; remove the temporary directory.
//!
//! An open that finds `DIR/v1-store` but neither `DIR/store` nor
//! `DIR/segments` was interrupted after step 2 and renames it back first; one
//! that finds `DIR/segments` without `DIR/store` (after the first rename of
//! step 3) rebuilds the index from the segments like any other lost index.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::storage::chain::ChainChecker;
use crate::storage::frame;
use crate::storage::head::sync_dir;
use crate::storage::keys;
use crate::storage::lock::DirLock;
use crate::storage::segment::SEGMENTS_DIR;
use crate::storage::store::Store;
use std::path::Path;
use std::sync::Arc;

/// Events appended per commit while upgrading.
const UPGRADE_BATCH: usize = 20_000;

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io("rename", from, e))
}

/// Upgrades the database in `dir` if it is a format 1 database (a `store`
/// whose format record says 1, and no `segments`); does nothing otherwise.
///
/// # Errors
/// [`Error::Corrupt`] when the format 1 database does not verify (nothing
/// is changed then); store and I/O errors.
/// The new database an upgrade writes into: a format 2 log opened by the
/// caller (`Log::open` on the temporary directory), so that this module
/// does not depend on the log's public face.
pub(crate) trait Target {
    /// Appends events as they are stored (no re-validation); durable on Ok.
    fn append_valid(&mut self, events: &[orc_log_schemas::Event]) -> Result<()>;
    /// Verifies the whole new log; returns its event count.
    fn verify_events(&self) -> Result<u64>;
    /// Makes everything durable.
    fn sync(&mut self) -> Result<()>;
}

/// Opens the new database of an upgrade in a directory, with a config.
pub(crate) type OpenTarget<'a> = &'a dyn Fn(&Path, &Config) -> Result<Box<dyn Target>>;

pub(crate) fn upgrade_if_needed(
    dir: &Path,
    config: &Config,
    lock: &Arc<DirLock>,
    open: OpenTarget<'_>,
) -> Result<()> {
    let store_dir = dir.join("store");
    let kept = dir.join("v1-store");
    let segments = dir.join(SEGMENTS_DIR);
    if segments.exists() {
        // A finished upgrade may have left its temporary directory or HEAD.
        let tmp = dir.join("upgrade-v2.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        if dir.join("HEAD").exists() && kept.exists() {
            rename(&dir.join("HEAD"), &kept.join("HEAD"))?;
        }
        return Ok(());
    }
    if !store_dir.exists() && kept.join("db").exists() {
        // Interrupted between steps 2 and 3: start step 3 over from step 1.
        rename(&kept, &store_dir)?;
        sync_dir(dir)?;
    }
    if !store_dir.exists() {
        return Ok(());
    }
    let old = Store::open(&store_dir, Arc::clone(lock))?;
    let format =
        old.get(&keys::meta(keys::META_FORMAT))?.map(|v| String::from_utf8_lossy(v.as_ref()).into_owned());
    if format.as_deref() != Some("1") {
        return Ok(());
    }
    let tmp = dir.join("upgrade-v2.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    }
    tracing::warn!("upgrading {} from format 1 to format 2 (the old files are kept)", dir.display());
    let mut new = open(&tmp, &Config { lock_timeout: std::time::Duration::ZERO, ..config.clone() })?;
    let mut checker = ChainChecker::new(0, frame::GENESIS)?;
    let mut batch = Vec::with_capacity(UPGRADE_BATCH);
    for entry in old.range(&keys::chunk(0), &[keys::CHUNK + 1]) {
        let (key, value) = entry?;
        let first = keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(None, "malformed chunk key"))?;
        let chunk =
            frame::decode_chunk(first, value.as_ref()).map_err(|(seq, why)| Error::corrupt(seq, why))?;
        for f in checker.check(&chunk, None)? {
            batch.push(f.event);
        }
        if batch.len() >= UPGRADE_BATCH {
            // Stored events are taken as they are (no re-validation by
            // today's rules): an upgrade never refuses acknowledged data.
            new.append_valid(&std::mem::take(&mut batch))?;
        }
    }
    new.append_valid(&batch)?;
    if let Some(rec) = crate::storage::head::read(dir)?
        && (rec.seq > checker.next_seq - 1)
    {
        return Err(Error::RolledBack { store_head: checker.next_seq - 1, record_head: rec.seq });
    }
    // Format 1's projection checkpoints are not carried over: they are
    // caches, rebuilt from the log by the next command that needs them.
    let events = new.verify_events()?;
    new.sync()?;
    drop(new);
    drop(old);
    // Step 2, then 3.
    let kept = dir.join("v1-store");
    if kept.exists() {
        std::fs::remove_dir_all(&kept).map_err(|e| Error::io("remove", &kept, e))?;
    }
    rename(&store_dir, &kept)?;
    sync_dir(dir)?;
    rename(&tmp.join(SEGMENTS_DIR), &dir.join(SEGMENTS_DIR))?;
    rename(&tmp.join("store"), &store_dir)?;
    let head = dir.join("HEAD");
    if head.exists() {
        rename(&head, &kept.join("HEAD"))?;
    }
    sync_dir(dir)?;
    std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    tracing::warn!(
        "upgraded {} to format 2: {} events verified; the format 1 files are kept in {} (delete it when you no longer need it)",
        dir.display(),
        events,
        kept.display()
    );
    Ok(())
}
