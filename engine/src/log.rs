//! [`Log`]: open a database, append events durably, read them back.

use crate::codec;
use crate::compress::Decompressor;
use crate::encoder::{Encoder, PaneState};
use crate::error::{Error, Result};
use crate::frame::{self, Encoding, MAX_RAW_BYTES, PendingFrame};
use crate::index::Index;
use crate::keys;
use crate::lock;
pub(crate) use crate::position::EMPTY_HEAD;
pub use crate::position::Head;
use crate::segment::{ActiveSegment, Pointer, Segments};
use orc_log_schemas::{Event, Kind, Record};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The on-disk format version this build writes (and reads; format 1
/// databases are upgraded when opened).
pub const FORMAT_VERSION: u32 = 2;

/// Tuning knobs of a database. The defaults are what `orc-log` uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// A pane capture is stored whole (a keyframe) at least every this many
    /// captures of that pane; between keyframes each capture is compressed
    /// against the previous one, so reading one capture costs at most this
    /// many decompressions. Default 32.
    pub keyframe_interval: u32,
    /// zstd level for captures compressed against the previous capture. Default 9.
    pub capture_level: i32,
    /// zstd level for bodies compressed alone. Default 6.
    pub event_level: i32,
    /// zstd level for a chunk's block (its bodies compressed together as one
    /// frame whose window spans the block). Default 3: fast, and the shared
    /// window finds what a higher level would.
    pub block_level: i32,
    /// A commit is split into chunks of about this many raw (uncompressed)
    /// body bytes. Default 1 MiB.
    pub chunk_target_bytes: usize,
    /// A chunk of at least this many frames puts every body in its block; a
    /// smaller one (a recorder's or `emit`'s commit) compresses each capture
    /// against its pane's previous capture and only the other bodies
    /// together. Default 32.
    pub shared_min_frames: usize,
    /// A new segment file is started by the first commit after the active
    /// one reached this many bytes. Default 8 MiB: the index entries of the
    /// active segment and of the closed one awaiting its seal are held in
    /// memory (`index.rs`) and rebuilt by reading those segments at open, so
    /// the roll size bounds both; sealed, a segment of small commits shrinks
    /// to about a seventh.
    pub segment_bytes: u64,
    /// zstd level of the blocks of sealed segments ([`Log::seal`]): sealing
    /// runs once per closed segment, off the append path, so it can spend
    /// more than `block_level`. Default 7.
    pub seal_level: i32,
    /// How long [`Log::open`] waits for another process to release the
    /// database (SQLite's `busy_timeout`). Default 0: fail at once with
    /// [`Error::Locked`].
    pub lock_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keyframe_interval: 32,
            capture_level: 9,
            event_level: 6,
            block_level: 3,
            chunk_target_bytes: 1024 * 1024,
            shared_min_frames: 32,
            segment_bytes: 8 * 1024 * 1024,
            seal_level: 7,
            lock_timeout: std::time::Duration::ZERO,
        }
    }
}

/// The directory of segment files inside a database directory.
pub(crate) const SEGMENTS_DIR: &str = "segments";
/// The entries of a database directory that are its storage: the segment
/// files, the index, and what an upgrade or a rebuild of the index leaves
/// (FORMAT.md, "Files"). Everything else in the directory (`LOCK`, the
/// server's socket, `alerts.toml`, files the user put there) is not the
/// database's: a restore replaces these entries and nothing else.
pub const STORAGE_ENTRIES: &[&str] = &[
    SEGMENTS_DIR,
    "store",
    "checkpoints",
    "HEAD",
    "HEAD.tmp",
    "v1-store",
    "store.damaged",
    "upgrade-v2.tmp",
];
/// Present in a database directory while a restore replaces its storage;
/// holds the path where the old storage was moved. Opening refuses while it
/// is there (a restore was interrupted; run it again).
pub const RESTORE_MARKER: &str = "RESTORING";

/// Where a database's bytes are ([`Snapshot::storage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Storage {
    /// Sealed segment files (repacked into large chunks).
    pub sealed_segments: u64,
    /// Bytes of the sealed segment files.
    pub sealed_segment_bytes: u64,
    /// Segment files not sealed yet (the active one among them).
    pub unsealed_segments: u64,
    /// Bytes of the unsealed segment files.
    pub unsealed_segment_bytes: u64,
    /// Bytes of the index's files on disk (sled, `DIR/store`).
    pub index_bytes: u64,
    /// Index entries of the unsealed tail held in memory (not on disk).
    pub index_memory_entries: u64,
    /// Bytes of those entries' keys and values.
    pub index_memory_bytes: u64,
    /// When the newest sealed segment was written (the last seal), if any.
    pub last_seal: Option<std::time::SystemTime>,
    /// Bytes of the projection checkpoint files (`DIR/checkpoints`).
    pub checkpoint_bytes: u64,
}

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

/// A frame read back: header facts and the raw (uncompressed) body.
pub(crate) struct RawFrame {
    pub kind: Kind,
    pub ts_ns: i64,
    pub scope: Option<String>,
    pub raw: Vec<u8>,
    pub depth: u32,
}

/// A read-only view of the log as of one head: every read method
/// ([`Snapshot::scan`], [`Snapshot::get`], [`Snapshot::verify`], ...) sees
/// exactly the events `1..=head().seq`, however many are appended meanwhile.
///
/// Cheap to clone (the store is reference-counted) and `Send + Sync`: a
/// snapshot is read without any lock, so a reader never holds up the writer
/// (see [`crate::SharedLog::snapshot`]). Events up to the head are immutable
/// on disk (the log is append-only), which is what makes this sound.
/// Checkpoints ([`Snapshot::checkpoint`]) are read as they are now, not as of
/// the head.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) dir: PathBuf,
    pub(crate) store: Index,
    pub(crate) segs: Arc<Segments>,
    pub(crate) head: Head,
    /// Damage found when the log was opened (appends are refused);
    /// [`Snapshot::verify`] reports it.
    pub(crate) damage: Option<Arc<str>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("dir", &self.dir).field("head", &self.head).finish_non_exhaustive()
    }
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
    panes: HashMap<String, PaneState>,
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

/// Why a [`Log`] refuses appends.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// The store disagrees with its head record (found at open).
    Inconsistent(String),
    /// A write failed part-way; only reopening re-reads the true head.
    Poisoned(String),
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.snap.dir)
            .field("head", &self.snap.head)
            .finish_non_exhaustive()
    }
}

impl Drop for Log {
    /// Records the head as `M tail` (see [`Log::sync`]); errors are only logged.
    fn drop(&mut self) {
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

pub(crate) fn zstd_err(e: String) -> Error {
    Error::Invalid(format!("zstd: {e}"))
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
        crate::upgrade::upgrade_if_needed(&dir, &config, &lock)?;
        let segs = Arc::new(Segments::open(&dir.join(SEGMENTS_DIR))?);
        let mut store = crate::recover::open_index(&dir, &lock)?;
        // Checkpoints were sled values (`P` keys) before they were files.
        store.remove_prefix(&[keys::CHECKPOINT])?;
        let store = Index::new(store);
        let mut log = Self {
            enc: Encoder::new(&config, config.block_level)?,
            snap: Snapshot { dir, store, segs, head: EMPTY_HEAD, damage: None },
            config,
            refuse_writes: None,
            panes: HashMap::new(),
            active: None,
            sealed: HashSet::new(),
            last_commit: std::time::Instant::now(),
            active_since: std::time::Instant::now(),
        };
        log.refuse_writes = crate::recover::recover(&mut log)?;
        if let Some(Refusal::Inconsistent(why)) = &log.refuse_writes {
            log.snap.damage = Some(Arc::from(why.as_str()));
        }
        restrict_permissions(&log.snap.dir)?;
        Ok(log)
    }

    /// Sets the head after recovery.
    pub(crate) fn set_head(&mut self, head: Head) {
        self.snap.head = head;
    }

    /// The index, for recovery.
    pub(crate) fn store_mut(&mut self) -> &mut Index {
        &mut self.snap.store
    }

    /// Moves to sled the memtable entries of closed segments that no seal is
    /// expected for soon: every closed segment but the last, and the last
    /// too once it is sealed (see `index.rs`). Keeps the memtable to at most
    /// two segments' entries.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub(crate) fn settle_index(&mut self) -> Result<()> {
        let closed = self.snap.store.closed_in_memory();
        let Some(&last) = closed.last() else { return Ok(()) };
        for &next in &closed[..closed.len() - 1] {
            self.snap.store.flush_before(next)?;
        }
        let list = self.snap.segs.list()?;
        let last_closed = list.iter().rev().find(|s| **s < last).copied();
        if last_closed.is_none_or(|s| crate::segment::is_sealed(&self.snap.segs, s).unwrap_or(false)) {
            self.snap.store.flush_before(last)?;
        }
        Ok(())
    }

    /// Appends `events` in order, assigning consecutive seqs after the head.
    ///
    /// Events whose `id` is already in the log, or repeats an earlier id in
    /// `events`, are skipped and counted in [`AppendReceipt::duplicates`].
    /// All events of one call are committed together (one group commit).
    ///
    /// **Durability:** when this returns Ok, every appended event is on
    /// stable storage (its segment records `fdatasync`ed) and survives a crash
    /// or power loss; the index entries are applied but not synced (recovery
    /// rebuilds them from the segments). On error nothing of this call is
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

    /// Appends `events`; also returns each event's seq (`None` = duplicate id).
    fn append_inner(&mut self, groups: &[&[Event]]) -> Result<(AppendReceipt, Vec<Option<u64>>)> {
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
        for ev in events {
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
            pending.push(PendingFrame {
                ts_ns: ev.ts_ns,
                kind: ev.kind(),
                encoding: Encoding::Raw,
                scope: codec::scope_of(&ev.body),
                ref_back: 0,
                raw_len: raw.len() as u32,
                body: Vec::new(),
                raw,
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
        crate::checkpoints::put(&self.snap.dir, name, bytes)
    }

    /// Durably deletes a named checkpoint; deleting a missing one is not an error.
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn delete_checkpoint(&mut self, name: &str) -> Result<()> {
        crate::checkpoints::delete(&self.snap.dir, name)
    }
}

impl Snapshot {
    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The end of the log.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Damage found when the log was opened (segments damaged or rolled
    /// back): why, naming the segment file and offset or seq. The head is
    /// then the last event that reads back intact before the damage, and
    /// appends are refused. `None` for a log found whole (damage that only a
    /// read meets is reported by that read as [`Error::Corrupt`]).
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Seq of the last capture of `scope`, looking back through at most 64
    /// chunks that mention the scope (older captures are not worth a delta).
    fn last_capture_seq(&self, scope: &str) -> Result<Option<u64>> {
        let prefix = keys::scope_prefix(scope);
        let mut below = u64::MAX;
        for _ in 0..64 {
            // The latest chunk before `below` with the scope: its own entry or a wide chunk.
            let narrow = self.store.last_at_or_before(&prefix, &keys::scope(scope, below))?;
            let wide = self.store.last_at_or_before(&[keys::WIDE], &keys::wide(below))?;
            let first = narrow
                .and_then(|(k, _)| keys::scope_seq(&k))
                .max(wide.and_then(|(k, _)| keys::scope_seq(&k)));
            let Some(first) = first else { return Ok(None) };
            let chunk = self.chunk_at(first)?;
            let hit = chunk
                .frames
                .iter()
                .rev()
                .find(|f| f.kind == Kind::Capture && chunk.scope(f) == Some(scope))
                .map(|f| f.seq);
            if hit.is_some() {
                return Ok(hit);
            }
            if first == 0 {
                return Ok(None);
            }
            below = first - 1;
        }
        Ok(None)
    }

    /// The chunk that starts at `first_seq`.
    /// When a seal repacked that chunk meanwhile, the chunk that now holds
    /// `first_seq` (it may start earlier).
    pub(crate) fn chunk_at(&self, first_seq: u64) -> Result<frame::Chunk<Vec<u8>>> {
        match self.store.get(&keys::chunk(first_seq))? {
            Some(v) => self.read_chunk(first_seq, v.as_ref()),
            None => self
                .chunk_holding(first_seq)?
                .ok_or_else(|| Error::corrupt(first_seq, "an index names a chunk that is not in the index")),
        }
    }

    /// Reads and parses the chunk starting at `first_seq` whose index entry
    /// (a segment pointer) is `pointer`.
    pub(crate) fn read_chunk(&self, first_seq: u64, pointer: &[u8]) -> Result<frame::Chunk<Vec<u8>>> {
        let ptr = Pointer::decode(pointer)
            .ok_or_else(|| Error::corrupt(first_seq, "malformed chunk pointer in the index"))?;
        let bytes = match self.segs.read(ptr, first_seq) {
            Ok(b) => b,
            Err(e) => {
                // A seal may have replaced the segment since the pointer was
                // read: read the index again (once).
                let now = self.store.get(&keys::chunk(first_seq))?;
                match now.as_ref().map(|v| v.as_ref()).and_then(Pointer::decode) {
                    Some(p) if p != ptr => self.segs.read(p, first_seq)?,
                    Some(_) => return Err(e),
                    None => {
                        // The chunk was repacked into one that starts earlier.
                        let Some((key, v)) =
                            self.store.last_at_or_before(&[keys::CHUNK], &keys::chunk(first_seq))?
                        else {
                            return Err(e);
                        };
                        let first = keys::chunk_seq(&key)
                            .ok_or_else(|| Error::corrupt(first_seq, "malformed chunk key"))?;
                        let p = Pointer::decode(v.as_ref()).ok_or(e)?;
                        let bytes = self.segs.read(p, first)?;
                        return frame::decode_chunk(first, bytes)
                            .map_err(|(seq, why)| Error::corrupt(seq, why));
                    }
                }
            }
        };
        frame::decode_chunk(first_seq, bytes).map_err(|(seq, why)| Error::corrupt(seq, why))
    }

    /// The chunk holding `seq`, if `seq` is in the log.
    pub(crate) fn chunk_holding(&self, seq: u64) -> Result<Option<frame::Chunk<Vec<u8>>>> {
        if seq == 0 || seq > self.head.seq {
            return Ok(None);
        }
        let Some((key, v)) = self.store.last_at_or_before(&[keys::CHUNK], &keys::chunk(seq))? else {
            return Err(Error::corrupt(seq, "no chunk holds this seq"));
        };
        let first = keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(seq, "malformed chunk key"))?;
        let chunk = self.read_chunk(first, v.as_ref())?;
        if chunk.last_seq() < seq {
            return Err(Error::corrupt(
                seq,
                format!("missing: the chunk at {first} ends at {}", chunk.last_seq()),
            ));
        }
        Ok(Some(chunk))
    }

    /// The raw (uncompressed) body of frame `f` of `chunk`. A delta frame's
    /// prefix is `prefix` when the caller has it, else it is read from the
    /// log; a shared frame's block is `block` when the caller has it
    /// decompressed, else it is decompressed here.
    pub(crate) fn decode_raw<B: AsRef<[u8]>>(
        &self,
        chunk: &frame::Chunk<B>,
        f: &frame::FrameHeader,
        dctx: &mut Decompressor,
        prefix: Option<&[u8]>,
        block: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        if f.encoding == Encoding::ZstdRef && prefix.is_none() {
            let read = self.raw_frame(f.seq - f.ref_back, dctx)?.raw;
            return decode_raw(chunk, f, dctx, Some(&read), block);
        }
        decode_raw(chunk, f, dctx, prefix, block)
    }

    /// Decodes the raw body of `seq`, following delta references.
    pub(crate) fn raw_frame(&self, seq: u64, dctx: &mut Decompressor) -> Result<RawFrame> {
        let chunk = self.chunk_holding(seq)?.ok_or_else(|| Error::corrupt(seq, "seq is past the head"))?;
        let f = &chunk.frames[(seq - chunk.first_seq) as usize];
        let (raw, depth) = match f.encoding {
            Encoding::ZstdRef => {
                let prev = self.raw_frame(seq - f.ref_back, dctx)?;
                (self.decode_raw(&chunk, f, dctx, Some(&prev.raw), None)?, prev.depth + 1)
            }
            Encoding::Raw | Encoding::Zstd | Encoding::Shared => {
                (self.decode_raw(&chunk, f, dctx, None, None)?, 0)
            }
        };
        Ok(RawFrame { kind: f.kind, ts_ns: f.ts_ns, scope: chunk.scope(f).map(str::to_owned), raw, depth })
    }

    /// The event at `seq`, or `None` past the head.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the stored frame does not decode; store errors.
    pub fn get(&self, seq: u64) -> Result<Option<Record>> {
        if seq == 0 || seq > self.head.seq {
            return Ok(None);
        }
        let mut dctx = Decompressor::new().map_err(zstd_err)?;
        let f = self.raw_frame(seq, &mut dctx)?;
        let event = codec::decode_body(f.kind, f.ts_ns, f.scope.as_deref(), &f.raw)
            .map_err(|e| Error::corrupt(seq, e))?;
        Ok(Some(Record { seq, event }))
    }

    /// The seq of the event with producer id `id`, if any.
    ///
    /// # Errors
    /// Store errors.
    pub fn seq_of_id(&self, id: &str) -> Result<Option<u64>> {
        Ok(self.store.get(&keys::id(id))?.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    /// The last seq of the log prefix "up to time `t_ns`": the prefix that
    /// ends just before the first event whose ts is later than `t_ns`
    /// (DESIGN.md, "Point in time"). 0 when the first event is already later.
    ///
    /// # Errors
    /// Store errors and [`Error::Corrupt`].
    pub fn seq_at_time(&self, t_ns: i64) -> Result<u64> {
        // The first chunk whose running-max ts exceeds t holds the first later event.
        let Some(start) = t_ns.checked_add(1) else { return Ok(self.head.seq) };
        let from = keys::time(start, 0);
        let to = [keys::TIME + 1];
        let Some(entry) = self.store.range(&from, &to).next() else { return Ok(self.head.seq) };
        let (key, _) = entry?;
        let first = keys::time_seq(&key).ok_or_else(|| Error::corrupt(None, "malformed time-index key"))?;
        let chunk = self.chunk_at(first)?;
        let hit = chunk.frames.iter().find(|f| f.ts_ns > t_ns).map(|f| f.seq);
        Ok(hit.map_or(chunk.last_seq(), |s| s - 1))
    }

    /// The first seq whose chunk may hold an event at or after `t_ns`
    /// (every event before it is earlier than `t_ns`).
    pub(crate) fn first_seq_from_time(&self, t_ns: i64) -> Result<Option<u64>> {
        let from = keys::time(t_ns, 0);
        let to = [keys::TIME + 1];
        match self.store.range(&from, &to).next() {
            None => Ok(None),
            Some(entry) => {
                let (key, _) = entry?;
                Ok(Some(
                    keys::time_seq(&key).ok_or_else(|| Error::corrupt(None, "malformed time-index key"))?,
                ))
            }
        }
    }

    /// Bytes the database takes on disk: segment files, the index store's
    /// files and `LOCK`.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn disk_bytes(&self) -> Result<u64> {
        let mut total = self.store.size()?.disk_bytes + self.segs.bytes()?;
        total += crate::checkpoints::bytes(&self.dir);
        total += std::fs::metadata(self.dir.join("LOCK")).map(|m| m.len()).unwrap_or(0);
        Ok(total)
    }

    /// Where the database's bytes are: sealed and unsealed segments, the
    /// index on disk and in memory, and when the last seal finished.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn storage(&self) -> Result<Storage> {
        let mut out = Storage::default();
        for first in self.segs.list()? {
            let path = self.segs.path(first);
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if crate::segment::is_sealed(&self.segs, first).unwrap_or(false) {
                out.sealed_segments += 1;
                out.sealed_segment_bytes += meta.len();
                let sealed_at = meta.modified().ok();
                out.last_seal = out.last_seal.max(sealed_at);
            } else {
                out.unsealed_segments += 1;
                out.unsealed_segment_bytes += meta.len();
            }
        }
        let index = self.store.size()?;
        out.index_bytes = index.disk_bytes;
        out.index_memory_entries = index.mem_entries;
        out.index_memory_bytes = index.mem_bytes;
        out.checkpoint_bytes = crate::checkpoints::bytes(&self.dir);
        Ok(out)
    }

    /// Bytes of the segment files alone (the events; the rest is index).
    ///
    /// # Errors
    /// I/O errors.
    pub fn segment_bytes(&self) -> Result<u64> {
        self.segs.bytes()
    }

    /// Reads a named checkpoint blob (see [`Log::put_checkpoint`]).
    ///
    /// # Errors
    /// Store errors.
    pub fn checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>> {
        crate::checkpoints::get(&self.dir, name)
    }

    /// The names of the stored checkpoints that start with `prefix`, sorted.
    ///
    /// # Errors
    /// I/O errors.
    pub fn checkpoint_names(&self, prefix: &str) -> Result<Vec<String>> {
        crate::checkpoints::names(&self.dir, prefix)
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

/// Block `which` of `chunk`, decompressed, if the chunk has it.
pub(crate) fn decode_block<B: AsRef<[u8]>>(
    chunk: &frame::Chunk<B>,
    which: usize,
    dctx: &mut Decompressor,
) -> Result<Option<Vec<u8>>> {
    let Some((enc, raw_len, bytes)) = chunk.block_bytes(which) else { return Ok(None) };
    let raw = match enc {
        frame::BlockEncoding::Raw => bytes.to_vec(),
        frame::BlockEncoding::Zstd => dctx
            .decompress(bytes, None, raw_len as usize)
            .map_err(|e| Error::corrupt(chunk.first_seq, format!("shared block: {e}")))?,
    };
    Ok(Some(raw))
}

/// The raw body of frame `f` of `chunk`, given the delta prefix (required
/// for `ZstdRef`) and the decompressed block (decompressed here if `None`).
pub(crate) fn decode_raw<B: AsRef<[u8]>>(
    chunk: &frame::Chunk<B>,
    f: &frame::FrameHeader,
    dctx: &mut Decompressor,
    prefix: Option<&[u8]>,
    block: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let body = chunk.body(f);
    let bad = |e: String| Error::corrupt(f.seq, e);
    match f.encoding {
        Encoding::Raw if body.len() != f.raw_len as usize => {
            Err(bad(format!("a raw body of {} bytes, the header says {}", body.len(), f.raw_len)))
        }
        Encoding::Raw => Ok(body.to_vec()),
        Encoding::Zstd => dctx.decompress(body, None, f.raw_len as usize).map_err(bad),
        Encoding::ZstdRef => {
            let prefix = prefix
                .ok_or_else(|| bad(format!("the delta base seq {} is not available", f.seq - f.ref_back)))?;
            dctx.decompress(body, Some(prefix), f.raw_len as usize).map_err(bad)
        }
        Encoding::Shared => {
            let read;
            let block = match block {
                Some(b) => b,
                None => {
                    read = decode_block(chunk, f.block, dctx)?.unwrap_or_default();
                    &read
                }
            };
            let range = f.shared.clone().unwrap_or_default();
            block.get(range).map(<[u8]>::to_vec).ok_or_else(|| bad("shared frame outside its block".into()))
        }
    }
}
