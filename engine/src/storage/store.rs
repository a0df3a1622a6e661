//! The ordered key-value store under the log. The only module that names `sled`.
//!
//! One sled tree holds every key (see `keys`). [`Store::commit`] applies a
//! batch atomically and returns only after it is on disk: sled 0.34's
//! `flush()` writes with `sync_file_range(2)`, which neither flushes the disk
//! cache nor metadata, so this module also `fdatasync(2)`s sled's files
//! itself. sled panics on some damaged files; every call into sled runs under
//! `catch_unwind` and a panic becomes [`Error::StorePanic`].

use crate::error::{Error, Result};
use crate::storage::lock::DirLock;

/// sled's page cache, bytes (sled's default is 1 GiB). The index is small
/// (the live tail of it is in memory, `index.rs`), so a small cache keeps a
/// long-running server's memory flat.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How long [`Store::open`] waits for sled's own file lock to be released
/// by a process that is exiting.
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
use std::collections::HashSet;
use std::ffi::OsString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A stored value (cheaply clonable, reference-counted bytes): read from
/// sled, or held in memory by the index's memtable (`index.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Value(sled::IVec);

impl Value {
    /// A value held in memory.
    pub(crate) fn owned(bytes: &[u8]) -> Self {
        Self(sled::IVec::from(bytes))
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The store of one database. Clones share the same open store (sled is
/// safe to read from many threads while one writes).
#[derive(Clone)]
pub(crate) struct Store {
    db: sled::Db,
    path: PathBuf,
    /// Blob files already fsynced (shared by clones).
    synced_blobs: Arc<Mutex<HashSet<OsString>>>,
    /// See [`Store::opened_clean`].
    clean: bool,
    /// Closes sled when the last clone is dropped, then notes the files as
    /// closed cleanly, then releases the directory's lock. Declared after
    /// `db`, so it is dropped after it.
    _closer: Arc<Closer>,
}

/// The last handle of an open store: see [`Store::opened_clean`].
struct Closer {
    db: Option<sled::Db>,
    path: PathBuf,
    _dir_lock: Arc<DirLock>,
}

impl Drop for Closer {
    /// Flushes and closes sled (its last handle: sled stops its flusher),
    /// then writes `<store>.clean`, the fingerprint of sled's files as they
    /// are now, so the next open can tell that nothing changed them since.
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            if guard("flushing", || db.flush()).is_err() {
                return;
            }
            drop(db);
        }
        let marker = clean_marker(&self.path);
        let tmp = marker.with_extension("clean.tmp");
        if std::fs::write(&tmp, fingerprint(&self.path)).is_ok() {
            let _ = std::fs::rename(&tmp, &marker);
        }
    }
}

/// `DIR/store.clean` for the store in `DIR/store`.
fn clean_marker(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".clean");
    PathBuf::from(name)
}

/// Every file under `path` (recursively) with its length and modification
/// time, sorted: what a clean close leaves, and what changes when anything
/// (a crash, a disk, a person) writes the files afterwards.
fn fingerprint(path: &Path) -> String {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                walk(&p, base, out);
            } else {
                let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                out.push(format!("{rel} {} {}", m.len(), mtime.map_or(0, |d| d.as_nanos())));
            }
        }
    }
    let mut out = Vec::new();
    walk(path, path, &mut out);
    out.sort();
    out.join("\n")
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Whether sled's open failed only because another process holds its file
/// lock. sled 0.34 reports that as an `ErrorKind::Other` error whose message
/// starts "could not acquire lock on" (sled `config.rs`, `open_file`), with
/// the `flock(2)` `EWOULDBLOCK` only inside the text, so the kind alone
/// cannot tell it apart.
fn is_lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().starts_with("could not acquire lock on")
}

/// Runs a sled call, turning its panics and errors into [`Error`]s.
fn guard<T>(action: &'static str, f: impl FnOnce() -> sled::Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(sled::Error::Corruption { at, .. })) => Err(Error::Store(match at {
            Some(at) => {
                format!("{action}: the store's files are damaged (bad data at {at}); run `orc-log verify`")
            }
            None => format!("{action}: the store's files are damaged; run `orc-log verify`"),
        })),
        Ok(Err(e)) => Err(Error::Store(format!("{action}: {e}"))),
        Err(p) => Err(Error::StorePanic { action, message: panic_message(p) }),
    }
}

impl Store {
    /// Opens or creates the store in directory `path`.
    ///
    /// # Errors
    /// [`Error::Store`] / [`Error::StorePanic`] when sled cannot open the files.
    pub(crate) fn open(path: &Path, dir_lock: Arc<DirLock>) -> Result<Self> {
        // Whether the files are as the last clean close left them; the
        // marker is removed now, so a crash leaves none.
        let marker = clean_marker(path);
        let clean = std::fs::read_to_string(&marker).is_ok_and(|f| f == fingerprint(path));
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| Error::io("remove", &marker, e))?;
        }
        let config =
            sled::Config::new().path(path).mode(sled::Mode::HighThroughput).cache_capacity(CACHE_BYTES);
        // We hold the directory lock, so sled's own file lock can only be
        // held by a process that released the directory lock and is still
        // closing its files (a process's descriptors close one by one at
        // exit): wait for it, briefly.
        let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
        let db = loop {
            let mut busy = false;
            let opened = guard("opening the store", || {
                let r = config.open();
                busy = matches!(&r, Err(sled::Error::Io(e)) if is_lock_busy(e));
                r
            });
            match opened {
                Err(_) if busy && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                other => break other?,
            }
        };
        let closer = Arc::new(Closer { db: Some(db.clone()), path: path.to_owned(), _dir_lock: dir_lock });
        Ok(Self { db, path: path.to_owned(), synced_blobs: Arc::default(), _closer: closer, clean })
    }

    /// Whether sled's files were, when this store was opened, exactly as the
    /// last clean close of the database left them (`DIR/store.clean`, the
    /// files' names, lengths and modification times, written once sled was
    /// closed). When not (a crash, or anything else wrote them), the caller
    /// reads the whole index once to find damage now rather than later.
    pub(crate) fn opened_clean(&self) -> bool {
        self.clean
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        guard("reading", || self.db.get(key)).map(|v| v.map(Value))
    }

    /// The entry with the greatest key `<= key` among keys starting with `prefix`.
    pub(crate) fn last_at_or_before(&self, prefix: &[u8], key: &[u8]) -> Result<Option<(Vec<u8>, Value)>> {
        let found = guard("reading", || self.db.range(prefix..=key).next_back().transpose())?;
        Ok(found.map(|(k, v)| (k.to_vec(), Value(v))))
    }

    /// The entry with the greatest key starting with `prefix`.
    pub(crate) fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Value)>> {
        let found = guard("reading", || self.db.scan_prefix(prefix).next_back().transpose())?;
        Ok(found.map(|(k, v)| (k.to_vec(), Value(v))))
    }

    /// Removes every key (the index is rebuilt after this).
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::StorePanic`].
    pub(crate) fn clear_index(&mut self) -> Result<()> {
        self.remove_prefix(&[])
    }

    /// Removes every key starting with `prefix` (not synced).
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::StorePanic`].
    pub(crate) fn remove_prefix(&mut self, prefix: &[u8]) -> Result<()> {
        let keys: Vec<sled::IVec> =
            guard("clearing", || self.db.scan_prefix(prefix).keys().collect::<sled::Result<_>>())?;
        for chunk in keys.chunks(10_000) {
            let mut batch = sled::Batch::default();
            for k in chunk {
                batch.remove(k.clone());
            }
            guard("clearing", || self.db.apply_batch(batch))?;
        }
        Ok(())
    }

    /// Entries with keys in `[start, end)`, in key order.
    pub(crate) fn range(&self, start: &[u8], end: &[u8]) -> Range {
        Range { iter: self.db.range(start.to_vec()..end.to_vec()) }
    }

    /// Applies `puts` atomically and makes them durable.
    ///
    /// When this returns Ok every put survives a crash or power loss. On error,
    /// either all or none of the puts may be visible after a restart.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::StorePanic`] or [`Error::Io`] from fsync.
    pub(crate) fn commit(&mut self, puts: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        self.apply(puts)?;
        self.sync()
    }

    /// Applies `puts` atomically without making them durable; see [`Store::sync`].
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::StorePanic`].
    pub(crate) fn apply(&mut self, puts: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in puts {
            batch.insert(k, v);
        }
        guard("writing", || self.db.apply_batch(batch))
    }

    /// Applies `puts` and `removes` atomically without making them durable.
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::StorePanic`].
    pub(crate) fn apply_changes(
        &mut self,
        puts: Vec<(Vec<u8>, Vec<u8>)>,
        removes: Vec<Vec<u8>>,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for k in removes {
            batch.remove(k);
        }
        for (k, v) in puts {
            batch.insert(k, v);
        }
        guard("writing", || self.db.apply_batch(batch))
    }

    /// Makes everything written so far durable (see [`Store::commit`]).
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub(crate) fn sync(&mut self) -> Result<()> {
        guard("flushing", || self.db.flush())?;
        let db_file = self.path.join("db");
        sync_file(&db_file)?;
        let blobs = self.path.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut new = false;
            let mut synced = self.synced_blobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for entry in entries.flatten() {
                if !synced.contains(&entry.file_name()) {
                    sync_file(&entry.path())?;
                    synced.insert(entry.file_name());
                    new = true;
                }
            }
            drop(synced);
            if new {
                crate::storage::head::sync_dir(&blobs)?;
            }
        }
        Ok(())
    }

    /// Reads every entry (so sled reads every page): finds damage that a
    /// lookup would meet later. Returns the number of entries.
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::StorePanic`] for damaged files.
    pub(crate) fn check_all(&self) -> Result<u64> {
        guard("reading", || {
            let mut n = 0u64;
            for entry in self.db.iter() {
                entry?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Bytes the store's files take on disk.
    pub(crate) fn size_on_disk(&self) -> Result<u64> {
        guard("sizing", || self.db.size_on_disk())
    }
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_data()).map_err(|e| Error::io("fsync", path, e))
}

/// An iterator over a key range; see [`Store::range`].
pub(crate) struct Range {
    iter: sled::Iter,
}

impl Iterator for Range {
    type Item = Result<(Vec<u8>, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        let iter = &mut self.iter;
        match guard("reading", || iter.next().transpose()) {
            Ok(Some((k, v))) => Some(Ok((k.to_vec(), Value(v)))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that let go of `DIR/LOCK` may still hold sled's own lock
    /// for a moment while it exits: `open` waits for it instead of failing.
    #[test]
    fn open_waits_for_sleds_lock_held_by_an_exiting_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let holder = sled::Config::new().path(&path).open().unwrap();
        let err = sled::Config::new().path(&path).open().expect_err("sled's lock is exclusive");
        match &err {
            sled::Error::Io(e) => assert!(is_lock_busy(e), "{e}"),
            other => panic!("unexpected error {other:?}"),
        }
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(holder);
        });
        let dir_lock = crate::storage::lock::lock(dir.path(), std::time::Duration::ZERO).unwrap();
        let store = Store::open(&path, Arc::new(dir_lock)).expect("opens once the holder lets go");
        release.join().unwrap();
        drop(store);
    }
}
