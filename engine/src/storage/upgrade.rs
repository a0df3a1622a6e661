//! Upgrading older databases, crash-safely, keeping the old files: format 1
//! (every chunk in sled) and format 2 (segment files whose chain hashes raw
//! bodies) become format 3 (segment files whose chain hashes body digests).
//!
//! Format 1 steps, each safe to interrupt (the next open finishes or redoes them):
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
use std::os::unix::fs::DirBuilderExt;
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

/// The old database of a format 2 upgrade: the database itself, opened by
/// the caller under the lock it already holds, without upgrading.
pub(crate) trait Source {
    /// Verifies the whole old log; returns its event count.
    fn verify_events(&self) -> Result<u64>;
    /// Calls `f` with every event in seq order, `size` at a time (the last
    /// call may have fewer, or none).
    fn for_each_batch(
        &self,
        size: usize,
        f: &mut dyn FnMut(Vec<orc_log_schemas::Event>) -> Result<()>,
    ) -> Result<()>;
}

/// Opens the old database of a format 2 upgrade.
pub(crate) type OpenSource<'a> = &'a dyn Fn() -> Result<Box<dyn Source>>;

/// Where a format 2 upgrade builds the new database.
pub(crate) const UPGRADE_V3_TMP: &str = "upgrade-v3.tmp";
/// Where a format 2 upgrade keeps the old `segments` and `store`.
pub(crate) const V2_KEPT: &str = "v2-store";

/// Whether the segments in `segments` are format 2's: the first record of
/// the first segment file (the lowest-numbered `<20 digits>.seg`) holds a
/// version 2 chunk. Reads 26 bytes: magic (8), record header (17), the
/// chunk's version byte.
fn segments_are_v2(segments: &Path) -> Result<bool> {
    use std::io::Read;
    let entries = match std::fs::read_dir(segments) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("list", segments, e)),
    };
    let mut first: Option<(u64, std::path::PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", segments, e))?;
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if first.as_ref().is_none_or(|(f, _)| n < *f) {
            first = Some((n, entry.path()));
        }
    }
    let Some((_, path)) = first else { return Ok(false) };
    let mut head = [0u8; 26];
    let mut f = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(Error::io("read", &path, e)),
        }
    }
    let magic_ok =
        &head[..8] == crate::storage::segment::MAGIC || &head[..8] == crate::storage::segment::MAGIC_SEALED;
    Ok(got == head.len() && magic_ok && head[25] == frame::CHUNK_VERSION_2)
}

/// Upgrades the format 2 database in `dir` (its segments hold version 2
/// chunks) to format 3, crash-safely, keeping the old files in
/// `DIR/v2-store/` (FORMAT.md, "Upgrading from format 2"); finishes or
/// undoes what an interrupted upgrade left; does nothing to a format 3
/// database but remove a finished upgrade's leftover temporary directory.
///
/// Steps: (1) open the old database (`open_old`, which recovers it as any
/// open would: a torn tail is cut) and verify it; (2) append its events, as
/// they are, to a new database in `DIR/upgrade-v3.tmp`, verify and sync it;
/// (3) move `DIR/store` and then `DIR/segments` into `DIR/v2-store/`;
/// (4) move the new `segments` and `store` into `DIR`.
///
/// # Errors
/// The old database's verification error (a damaged or rolled-back format
/// 2 database is not upgraded, and nothing changes); store and I/O errors.
pub(crate) fn upgrade_v2_if_needed(
    dir: &Path,
    config: &Config,
    open_new: OpenTarget<'_>,
    open_old: OpenSource<'_>,
) -> Result<()> {
    let segments = dir.join(SEGMENTS_DIR);
    let store_dir = dir.join("store");
    let kept = dir.join(V2_KEPT);
    let tmp = dir.join(UPGRADE_V3_TMP);
    let mut undone = false;
    // Interrupted after step 3 moved the segments aside, before step 4
    // moved the new ones in: put the old ones back and start over.
    if !segments.exists() && kept.join(SEGMENTS_DIR).exists() {
        rename(&kept.join(SEGMENTS_DIR), &segments)?;
        undone = true;
    }
    let v2 = segments_are_v2(&segments)?;
    if v2 && !store_dir.exists() && kept.join("store").exists() {
        // Interrupted after step 3 moved the index aside.
        rename(&kept.join("store"), &store_dir)?;
        undone = true;
    }
    if undone {
        sync_dir(dir)?;
    }
    if !v2 {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        return Ok(());
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    }
    tracing::warn!("upgrading {} from format 2 to format 3 (the old files are kept)", dir.display());
    let old = open_old()?;
    old.verify_events()?;
    let mut new = open_new(&tmp, &Config { lock_timeout: std::time::Duration::ZERO, ..config.clone() })?;
    // Stored events are taken as they are (no re-validation by today's
    // rules): an upgrade never refuses acknowledged data.
    old.for_each_batch(UPGRADE_BATCH, &mut |batch| new.append_valid(&batch))?;
    let events = new.verify_events()?;
    new.sync()?;
    drop(new);
    drop(old);
    // Step 3, then 4.
    if kept.exists() {
        std::fs::remove_dir_all(&kept).map_err(|e| Error::io("remove", &kept, e))?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(&kept).map_err(|e| Error::io("create", &kept, e))?;
    if store_dir.exists() {
        rename(&store_dir, &kept.join("store"))?;
        sync_dir(dir)?;
    }
    rename(&segments, &kept.join(SEGMENTS_DIR))?;
    sync_dir(dir)?;
    rename(&tmp.join(SEGMENTS_DIR), &segments)?;
    rename(&tmp.join("store"), &store_dir)?;
    sync_dir(dir)?;
    std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    tracing::warn!(
        "upgraded {} to format 3: {} events verified; the format 2 files are kept in {} (delete it when you no longer need it)",
        dir.display(),
        events,
        kept.display()
    );
    Ok(())
}

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
