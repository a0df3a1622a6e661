//! [`Snapshot`]: a read-only view of the log as of one head, and what it
//! reads (events by seq, id or time; sizes; checkpoints). Chunk reads go
//! through the storage's [`Reader`].

use crate::error::{Error, Result, zstd_err};
use crate::position::Head;
use crate::storage::codec;
use crate::storage::compress::Decompressor;
use crate::storage::frame;
use crate::storage::index::Index;
use crate::storage::keys;
use crate::storage::read::{RawFrame, Reader};
use crate::storage::segment::Segments;
use orc_log_schemas::Record;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// (engine/FORMAT.md, "Time index semantics"). 0 when the first event is already later.
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
        total += crate::storage::checkpoints::bytes(&self.dir);
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
            if crate::storage::segment::is_sealed(&self.segs, first).unwrap_or(false) {
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
        out.checkpoint_bytes = crate::storage::checkpoints::bytes(&self.dir);
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
        crate::storage::checkpoints::get(&self.dir, name)
    }

    /// The names of the stored checkpoints that start with `prefix`, sorted.
    ///
    /// # Errors
    /// I/O errors.
    pub fn checkpoint_names(&self, prefix: &str) -> Result<Vec<String>> {
        crate::storage::checkpoints::names(&self.dir, prefix)
    }

    /// Reads through the index and segments of this snapshot ([`Reader`]).
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader { index: &self.store, segs: &self.segs, head_seq: self.head.seq }
    }

    /// See [`Reader::chunk_at`].
    pub(crate) fn chunk_at(&self, first_seq: u64) -> Result<frame::Chunk<Vec<u8>>> {
        self.reader().chunk_at(first_seq)
    }

    /// See [`Reader::read_chunk`].
    pub(crate) fn read_chunk(&self, first_seq: u64, pointer: &[u8]) -> Result<frame::Chunk<Vec<u8>>> {
        self.reader().read_chunk(first_seq, pointer)
    }

    /// See [`Reader::chunk_holding`].
    pub(crate) fn chunk_holding(&self, seq: u64) -> Result<Option<frame::Chunk<Vec<u8>>>> {
        self.reader().chunk_holding(seq)
    }

    /// See [`Reader::raw_frame`].
    pub(crate) fn raw_frame(&self, seq: u64, dctx: &mut Decompressor) -> Result<RawFrame> {
        self.reader().raw_frame(seq, dctx)
    }

    /// See [`Reader::last_capture_seq`].
    pub(crate) fn last_capture_seq(&self, scope: &str) -> Result<Option<u64>> {
        self.reader().last_capture_seq(scope)
    }
}
