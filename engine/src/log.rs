//! [`Log`]: open a database, append events durably, read them back.

use crate::config::Config;
use crate::error::{Error, Result, zstd_err};
use crate::snapshot::Snapshot;
use crate::storage::codec;
use crate::storage::compress::Decompressor;
use crate::storage::encoder::{Encoder, PaneState};
use crate::storage::frame::{self, Encoding, MAX_RAW_BYTES, PendingFrame};
use crate::storage::index::Index;
use crate::storage::keys;
use crate::storage::lock;
use crate::storage::recover::Refusal;
use crate::storage::segment::{ActiveSegment, Pointer, SEGMENTS_DIR, Segments};
use orc_log_schemas::Event;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

/// The entries of a database directory that are its storage: the segment
/// files, the index, and what an upgrade or a rebuild of the index leaves
/// (FORMAT.md, "Files"). Everything else in the directory (`LOCK`, the
/// server's socket, `alerts.toml`, files the user put there) is not the
/// database's: a restore replaces these entries and nothing else.
pub const STORAGE_ENTRIES: &[&str] = &[
    SEGMENTS_DIR,
    "store",
    "store.clean",
    "checkpoints",
    "HEAD",
    "HEAD.tmp",
    "v1-store",
    "store.damaged",
    "upgrade-v2.tmp",
    "v2-store",
    "upgrade-v3.tmp",
    // retention::CUTOFF_FILE
    "compacted.json",
];
/// Present in a database directory while a restore replaces its storage;
/// holds the path where the old storage was moved. Opening refuses while it
/// is there (a restore was interrupted; run it again).
pub const RESTORE_MARKER: &str = "RESTORING";

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AppendReceipt {
    /// Events appended.
    pub appended: u64,
    /// Events skipped because their `id` was already in the log (or earlier in the batch).
    pub duplicates: u64,
    /// Seq of the first appended event (0 when none).
    pub first_seq: u64,
    /// Seq of the last appended event (the head after the call).
    pub last_seq: u64,
}

/// An open database: the event log plus its indexes, with its one writer.
/// One process at a time (the directory lock).
///
/// Appends take `&mut self`, so one `Log` has one writer; every read method
/// of [`Snapshot`] is available on a `Log` through `Deref` and sees the
/// current head. To share one database between threads use
/// [`crate::SharedLog`].
pub struct Log {
    pub(crate) snap: Snapshot,
    pub(crate) config: Config,
    /// Why appends are refused (rollback or head mismatch found at open, or
    /// an earlier write that failed).
    pub(crate) refuse_writes: Option<Refusal>,
    pub(crate) panes: HashMap<String, PaneState>,
    /// The compressors and the encoding settings of appends.
    enc: Encoder,
    /// The segment appends go to (opened at the first append).
    pub(crate) active: Option<ActiveSegment>,
    /// Segments known to be sealed (not checked again).
    pub(crate) sealed: HashSet<u64>,
    /// When the last commit was written (or the log opened).
    pub(crate) last_commit: std::time::Instant,
    /// When the active segment took its first commit since it was started
    /// (or since the log opened).
    pub(crate) active_since: std::time::Instant,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.snap.dir)
            .field("head", &self.snap.head)
            .finish_non_exhaustive()
    }
}

impl crate::storage::upgrade::Target for Log {
    fn append_valid(&mut self, events: &[Event]) -> Result<()> {
        self.append_groups_valid(&[events]).map(|_| ())
    }

    fn verify_events(&self) -> Result<u64> {
        self.verify().map(|r| r.events)
    }

    fn sync(&mut self) -> Result<()> {
        Log::sync(self)
    }
}

impl crate::storage::upgrade::Source for Log {
    fn verify_events(&self) -> Result<u64> {
        self.verify().map(|r| r.events)
    }

    fn for_each_batch(&self, size: usize, f: &mut dyn FnMut(Vec<Event>) -> Result<()>) -> Result<()> {
        let mut batch = Vec::with_capacity(size);
        for rec in self.scan(crate::Filter::default())? {
            batch.push(rec?.event);
            if batch.len() >= size {
                f(std::mem::take(&mut batch))?;
            }
        }
        f(batch)
    }
}

impl Drop for Log {
    /// A clean close: moves the memtable's entries to sled (so the next open
    /// need not read the tail's segments again) and records the head as
    /// `M tail` (see [`Log::sync`]). Errors are only logged: the next open
    /// rebuilds what is missing from the segments.
    fn drop(&mut self) {
        if self.refuse_writes.is_none()
            && let Err(e) = self.snap.store.flush_all(self.snap.head)
        {
            tracing::warn!("saving the index at close: {e}");
        }
        if let Err(e) = self.note_tail() {
            tracing::warn!("recording the head at close: {e}");
        }
    }
}

impl std::ops::Deref for Log {
    type Target = Snapshot;

    fn deref(&self) -> &Snapshot {
        &self.snap
    }
}

/// Sets `dir` to 0700 and every file below it to 0600, whatever the umask.
fn restrict_permissions(dir: &Path) -> Result<()> {
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", p, e))
    };
    set(dir, 0o700)?;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let ft = entry.file_type().map_err(|e| Error::io("stat", entry.path(), e))?;
        if ft.is_dir() {
            restrict_permissions(&entry.path())?;
        } else if ft.is_file() {
            set(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

impl Log {
    /// Opens the database in `dir`, creating it (mode 0700) if missing.
    ///
    /// Takes the directory lock for the life of the `Log`, then recovers
    /// (FORMAT.md, "Opening and recovery"): the index in `DIR/store` is
    /// checked against the segments and caught up with the records it lacks;
    /// a torn tail (an append that was never acknowledged) is cut; a missing
    /// or damaged index is rebuilt from the segments, with a warning. A
    /// format 1 database is upgraded first (`upgrade`). Segments that end
    /// before the index (rolled back or lost) or are damaged before their
    /// end open for reading but refuse appends; [`Snapshot::verify`] says why.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds the database for longer
    /// than [`Config::lock_timeout`];
    /// [`Error::Refused`] while an interrupted restore's marker is there;
    /// [`Error::Format`] for an unknown format; [`Error::Io`], [`Error::Store`]
    /// or [`Error::StorePanic`] when the files cannot be opened.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create", &dir, e))?;
        let lock = Arc::new(lock::lock(&dir, config.lock_timeout)?);
        if let Ok(old) = std::fs::read_to_string(dir.join(RESTORE_MARKER)) {
            return Err(Error::Refused(format!(
                "a restore into {} was interrupted while it replaced the storage (the old storage is in {}): run the restore again",
                dir.display(),
                old.trim()
            )));
        }
        crate::storage::upgrade::upgrade_if_needed(&dir, &config, &lock, &|tmp, config| {
            Ok(Box::new(Log::open(tmp, config.clone())?) as Box<dyn crate::storage::upgrade::Target>)
        })?;
        crate::storage::upgrade::upgrade_v2_if_needed(
            &dir,
            &config,
            &|tmp, config| {
                Ok(Box::new(Log::open(tmp, config.clone())?) as Box<dyn crate::storage::upgrade::Target>)
            },
            &|| {
                Ok(Box::new(Log::open_locked(dir.clone(), config.clone(), Arc::clone(&lock))?)
                    as Box<dyn crate::storage::upgrade::Source>)
            },
        )?;
        Self::open_locked(dir, config, lock)
    }

    /// [`Log::open`] once the lock is held and any upgrade done: recovery.
    fn open_locked(dir: std::path::PathBuf, config: Config, lock: Arc<lock::DirLock>) -> Result<Self> {
        let segs = Arc::new(Segments::open(&dir.join(SEGMENTS_DIR))?);
        crate::storage::checkpoints::remove_leftovers(&dir);
        let open_and_recover = || -> Result<_> {
            let mut store = crate::storage::recover::open_index(&dir, &lock)?;
            // Checkpoints were sled values (`P` keys) before they were files.
            store.remove_prefix(&[keys::CHECKPOINT])?;
            // The last process did not close the database: read the whole
            // index once, so damage is found (and rebuilt) now, not by a
            // later read.
            if !store.opened_clean() {
                store.check_all()?;
            }
            let mut store = Index::new(store);
            let found = crate::storage::recover::recover(&dir, &segs, &mut store)?;
            Ok((store, found))
        };
        let (store, found) = match open_and_recover() {
            // sled opened files that are damaged further in: rebuild.
            Err(e) if crate::storage::recover::is_store_damage(&e) => {
                crate::storage::recover::move_aside(&dir, &e)?;
                open_and_recover()?
            }
            other => other?,
        };
        let damage = match &found.refusal {
            Some(Refusal::Inconsistent(why)) => Some(Arc::from(why.as_str())),
            _ => None,
        };
        let log = Self {
            enc: Encoder::new(&config, config.block_level)?,
            snap: Snapshot { dir, store, segs, head: found.head, damage },
            config,
            refuse_writes: found.refusal,
            panes: HashMap::new(),
            active: None,
            sealed: HashSet::new(),
            last_commit: std::time::Instant::now(),
            active_since: std::time::Instant::now(),
        };
        restrict_permissions(&log.snap.dir)?;
        Ok(log)
    }

    /// The index (tests).
    #[cfg(test)]
    pub(crate) fn store_mut(&mut self) -> &mut Index {
        &mut self.snap.store
    }

    /// See [`Index::settle`].
    pub(crate) fn settle_index(&mut self) -> Result<()> {
        self.snap.store.settle(&self.snap.segs)
    }

    /// Appends `events` in order, assigning consecutive seqs after the head.
    ///
    /// Events whose `id` is already in the log, or repeats an earlier id in
    /// `events`, are skipped and counted in [`AppendReceipt::duplicates`].
    /// All events of one call are committed together (one group commit).
    ///
    /// **Durability:** when this returns Ok, every appended event is on
    /// stable storage (its segment records `fdatasync`ed) and survives a crash
    /// or power loss; the chunks' index entries are in the index's memtable
    /// only (the next open rebuilds them by reading the segment; see
    /// FORMAT.md, "The index: sled and the memtable"). On error nothing of this call is
    /// acknowledged; after a crash the log holds either all of the call's
    /// events or none of them (a commit's records end with a commit flag).
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] for an event that breaks a format v1 rule
    /// ([`Event::validate`]) and [`Error::Invalid`] for one too large to
    /// store (nothing is written); [`Error::Poisoned`] after an earlier
    /// failed write;
    /// [`Error::RolledBack`]-style refusals when the store disagrees with its
    /// head record; store and I/O errors.
    pub fn append(&mut self, events: &[Event]) -> Result<AppendReceipt> {
        validate(events)?;
        self.append_inner(&[events]).map(|(receipt, _)| receipt)
    }

    /// Appends several clients' batches in one group commit, in order, and
    /// returns one receipt per batch (as if each had been appended alone,
    /// one after the other).
    ///
    /// **Durability:** as [`Log::append`]: all batches are durable when this
    /// returns Ok, and after a crash either all or none of them are in the log.
    ///
    /// # Errors
    /// As [`Log::append`]; an error applies to every batch.
    pub fn append_groups(&mut self, groups: &[&[Event]]) -> Result<Vec<AppendReceipt>> {
        for g in groups {
            validate(g)?;
        }
        self.append_groups_valid(groups)
    }

    /// [`Log::append_groups`] for batches that passed [`validate`].
    pub(crate) fn append_groups_valid(&mut self, groups: &[&[Event]]) -> Result<Vec<AppendReceipt>> {
        let (_, seqs) = self.append_inner(groups)?;
        let mut out = Vec::with_capacity(groups.len());
        let mut at = 0;
        let mut last = self.head.seq - seqs.iter().flatten().count() as u64;
        for g in groups {
            let mut r = AppendReceipt::default();
            for s in &seqs[at..at + g.len()] {
                match s {
                    Some(seq) => {
                        r.appended += 1;
                        if r.first_seq == 0 {
                            r.first_seq = *seq;
                        }
                        last = *seq;
                    }
                    None => r.duplicates += 1,
                }
            }
            r.last_seq = last;
            at += g.len();
            out.push(r);
        }
        Ok(out)
    }

    /// Err when appends are refused (damage found at open, or an earlier
    /// failed write).
    pub(crate) fn check_writable(&self) -> Result<()> {
        match &self.refuse_writes {
            None => Ok(()),
            Some(Refusal::Inconsistent(why)) => {
                Err(Error::corrupt(None, format!("appends are refused: {why}; run `orc-log verify`")))
            }
            Some(Refusal::Poisoned(why)) => Err(Error::Poisoned { reason: why.clone() }),
        }
    }

    /// Appends `events` (already valid) as [`Log::append`] does, but a
    /// body with `Some` in `digests` (one per event) is stored as a
    /// replaced body whose chain digest is that one, redacted or expired
    /// (FORMAT.md, "Redaction"): a restore of a redacted or compacted backup
    /// keeps its chain.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub(crate) fn append_redacted(
        &mut self,
        events: &[Event],
        digests: &[Option<frame::Replaced>],
    ) -> Result<AppendReceipt> {
        self.append_inner_with(&[events], Some(digests)).map(|(receipt, _)| receipt)
    }

    /// Appends `events`; also returns each event's seq (`None` = duplicate id).
    fn append_inner(&mut self, groups: &[&[Event]]) -> Result<(AppendReceipt, Vec<Option<u64>>)> {
        self.append_inner_with(groups, None)
    }

    /// [`Log::append_inner`], with the chain digests of redacted bodies.
    fn append_inner_with(
        &mut self,
        groups: &[&[Event]],
        digests: Option<&[Option<frame::Replaced>]>,
    ) -> Result<(AppendReceipt, Vec<Option<u64>>)> {
        let total: usize = groups.iter().map(|g| g.len()).sum();
        let events = groups.iter().flat_map(|g| g.iter());
        let mut seqs = Vec::with_capacity(total);
        self.check_writable()?;
        let mut receipt = AppendReceipt::default();
        let mut seen_ids: HashSet<&str> = HashSet::new();
        let mut puts: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut pending: Vec<PendingFrame> = Vec::with_capacity(total);
        // New pane states are kept aside and merged only after the commit succeeds.
        let mut panes: HashMap<String, PaneState> = HashMap::new();
        let mut next_seq = self.head.seq + 1;
        for (i, ev) in events.enumerate() {
            if let Some(id) = ev.id.as_deref() {
                if !seen_ids.insert(id) || self.snap.store.get(&keys::id(id))?.is_some() {
                    receipt.duplicates += 1;
                    seqs.push(None);
                    continue;
                }
                puts.push((keys::id(id), next_seq.to_be_bytes().to_vec()));
            }
            let mut raw = Vec::new();
            codec::encode_body(ev, &mut raw)?;
            if raw.len() > MAX_RAW_BYTES as usize {
                return Err(Error::Invalid(format!(
                    "body of {} bytes is over the {MAX_RAW_BYTES}-byte limit",
                    raw.len()
                )));
            }
            // Bodies stay raw here; each chunk compresses them once it is cut.
            let replaced = digests.and_then(|d| d.get(i).copied().flatten());
            pending.push(PendingFrame {
                ts_ns: ev.ts_ns,
                kind: ev.kind(),
                encoding: Encoding::Raw,
                scope: codec::scope_of(&ev.body),
                ref_back: 0,
                raw_len: raw.len() as u32,
                body: Vec::new(),
                raw,
                digest: match replaced {
                    Some(frame::Replaced::Redacted(d)) => Some(d),
                    _ => None,
                },
                expired: matches!(replaced, Some(frame::Replaced::Expired(_))),
                chain_after: match replaced {
                    Some(frame::Replaced::Expired(c)) => c,
                    _ => None,
                },
            });
            seqs.push(Some(next_seq));
            next_seq += 1;
        }
        if pending.is_empty() {
            receipt.last_seq = self.head.seq;
            return Ok((receipt, seqs));
        }
        let mut head = self.head;
        let first_seq = head.seq + 1;
        let mut records: Vec<(u64, Vec<u8>)> = Vec::new();
        // Per chunk: its frames in `pending` and the running-max ts after it.
        let mut cut: Vec<(std::ops::Range<usize>, i64)> = Vec::new();
        let mut start = 0;
        while start < pending.len() {
            // Cut a chunk of about chunk_target_bytes raw bytes.
            let mut end = start;
            let mut bytes = 0;
            while end < pending.len()
                && (end == start || bytes + pending[end].raw.len() <= self.config.chunk_target_bytes)
            {
                bytes += pending[end].raw.len();
                end += 1;
            }
            // Never inside a run of expired frames: the chain hash after
            // the chunk must be known.
            while end < pending.len() && pending[end - 1].expired && pending[end - 1].chain_after.is_none() {
                end += 1;
            }
            let chunk_first = first_seq + start as u64;
            let blocks = self.compress_chunk(chunk_first, &mut pending[start..end], &mut panes)?;
            let frames = &pending[start..end];
            let blocks = [blocks[0].as_ref(), blocks[1].as_ref()];
            let (chunk, chain) = self.enc.encode(chunk_first, frames, blocks, head.chain_hash)?;
            head.max_ts_ns = frames.iter().fold(head.max_ts_ns, |m, f| m.max(f.ts_ns));
            cut.push((start..end, head.max_ts_ns));
            records.push((chunk_first, chunk));
            head.seq = chunk_first + frames.len() as u64 - 1;
            head.chain_hash = chain;
            start = end;
        }
        // Past this point the records may be on disk even if a step fails,
        // so a failure leaves this handle unable to append: reopening
        // recovers the true head from the segments.
        let before = self.active.as_ref().map(|a| a.first);
        let written = self.write_records(&records, true);
        let new_segment = self.active.as_ref().map(|a| a.first) != before;
        let ptrs = match written {
            Ok(p) => p,
            Err(e) => {
                self.refuse_writes = Some(Refusal::Poisoned(e.to_string()));
                return Err(e);
            }
        };
        for (((first, _), ptr), (range, max_ts)) in records.iter().zip(&ptrs).zip(cut) {
            puts.extend(ptr.index_entries(
                *first,
                max_ts,
                pending[range].iter().filter_map(|f| f.scope.as_deref()),
            ));
        }
        // The entries go to the memtable: recovery rebuilds them from the
        // segments after a crash (index.rs).
        self.snap.store.insert_tail(puts);
        let now = std::time::Instant::now();
        if new_segment {
            self.active_since = now;
        }
        self.last_commit = now;
        receipt.appended = pending.len() as u64;
        receipt.first_seq = first_seq;
        receipt.last_seq = head.seq;
        self.snap.head = head;
        self.panes.extend(panes);
        Ok((receipt, seqs))
    }

    /// Appends `records` (first seq, chunk bytes) as one commit to the
    /// active segment, starting a new segment first when the active one has
    /// reached [`Config::segment_bytes`].
    ///
    /// **Durability:** with `durable`, every record is on stable storage
    /// when this returns Ok; without it, only written (see [`Log::sync`]).
    pub(crate) fn write_records(
        &mut self,
        records: &[(u64, Vec<u8>)],
        durable: bool,
    ) -> Result<Vec<Pointer>> {
        let Some((first, _)) = records.first() else { return Ok(Vec::new()) };
        let mut new_file = false;
        let roll = self.active.as_ref().is_none_or(|a| a.len >= self.config.segment_bytes);
        if roll {
            let last = self.last_segment_len()?;
            let resumed = match (&self.active, last) {
                (None, Some((seg, len))) if len < self.config.segment_bytes => {
                    Some(ActiveSegment::resume(&self.snap.segs, seg, len)?)
                }
                _ => None,
            };
            self.active = Some(match resumed {
                Some(a) => a,
                None => {
                    if let Some(a) = &self.active {
                        a.sync(&self.snap.segs)?;
                    }
                    if last.is_some() {
                        self.snap.store.segment_closed(*first, self.snap.head);
                    }
                    new_file = true;
                    let created = ActiveSegment::create(&self.snap.segs, *first)?;
                    self.settle_index()?;
                    created
                }
            });
        }
        let Some(active) = self.active.as_mut() else {
            return Err(Error::Invalid("no active segment".into()));
        };
        active.append(&self.snap.segs, records, durable, new_file)
    }

    /// The last segment and its valid length (recovery cut any torn tail),
    /// if there is one.
    fn last_segment_len(&self) -> Result<Option<(u64, u64)>> {
        let Some(last) = self.snap.segs.list()?.last().copied() else { return Ok(None) };
        let path = self.snap.segs.path(last);
        let len = std::fs::metadata(&path).map_err(|e| Error::io("stat", &path, e))?.len();
        Ok(Some((last, len)))
    }

    /// Compresses one chunk's bodies ([`Encoder::compress_chunk`]), with
    /// delta bases from the pane states of this process.
    fn compress_chunk(
        &mut self,
        first_seq: u64,
        frames: &mut [PendingFrame],
        panes: &mut HashMap<String, PaneState>,
    ) -> Result<[Option<frame::Block>; 2]> {
        let (known, snap) = (&mut self.panes, &self.snap);
        let mut lookup = |scope: &str| pane_state(known, snap, scope);
        self.enc.compress_chunk(first_seq, frames, panes, false, &mut lookup)
    }

    /// Makes everything written through this handle durable. Appends already
    /// are when they return; this is for shutdown paths.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(a) = &self.active {
            a.sync(&self.snap.segs)?;
        }
        self.note_tail()
    }

    /// Durably records the head as `M tail`, so that an open whose segments
    /// end before it refuses appends (a rollback). Skipped when appends are
    /// refused.
    pub(crate) fn note_tail(&mut self) -> Result<()> {
        if self.refuse_writes.is_some() {
            return Ok(());
        }
        let tail = (keys::meta(keys::META_TAIL), self.snap.head.encode());
        self.snap.store.store_mut().commit(vec![tail])
    }

    /// Durably stores a named checkpoint blob (a projection's state and seq).
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn put_checkpoint(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::storage::checkpoints::put(&self.snap.dir, name, bytes)
    }

    /// Durably deletes a named checkpoint; deleting a missing one is not an error.
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn delete_checkpoint(&mut self, name: &str) -> Result<()> {
        crate::storage::checkpoints::delete(&self.snap.dir, name)
    }
}

/// The last capture of `scope` in the log, loaded once per process into `known`.
fn pane_state(
    known: &mut HashMap<String, PaneState>,
    snap: &Snapshot,
    scope: &str,
) -> Result<Option<PaneState>> {
    if let Some(p) = known.get(scope) {
        return Ok(Some(p.clone()));
    }
    let Some(seq) = snap.last_capture_seq(scope)? else { return Ok(None) };
    let mut dctx = Decompressor::new().map_err(zstd_err)?;
    let f = snap.raw_frame(seq, &mut dctx)?;
    let state = PaneState { seq, raw: f.raw, depth: f.depth };
    known.insert(scope.to_owned(), state.clone());
    Ok(Some(state))
}

/// Checks every event of a batch with [`Event::validate`].
///
/// # Errors
/// [`Error::InvalidEvent`] for the first event that breaks a rule.
pub(crate) fn validate(events: &[Event]) -> Result<()> {
    for (index, ev) in events.iter().enumerate() {
        ev.validate().map_err(|source| Error::InvalidEvent { index, source })?;
    }
    Ok(())
}
