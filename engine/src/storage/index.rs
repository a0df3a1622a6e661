//! The index over the segments: the sled store plus a memtable for the tail.
//!
//! Every commit adds a few index entries per chunk (`C`, `T`, `S`/`W`, `I`;
//! see `keys`). Written to sled one small batch per commit, they cost sled
//! hundreds of bytes per event (each batch goes through sled's log and
//! rewrites its pages), and sealing rewrites most of them again. So the
//! entries of the *tail* (the active segment, and the closed segment before
//! it until it is sealed) live in memory only, in a memtable: KurrentDB's
//! memtable in front of its immutable PTables, Kafka's active-segment index
//! rebuilt from the segment on recovery. They reach sled in one batch, and
//! only when their segment is sealed (the sealed chunks' few entries replace
//! them) or, without a sealer, when the segment after the next one starts.
//! Opening a database rebuilds the memtable by reading the tail's segments
//! (recovery reads forward from the last chunk sled knows), which is bounded
//! by two segments.
//!
//! Reads see the union of both. A reader looks in the memtable before sled,
//! and a switch (seal) writes sled before it drops memtable entries, so a
//! reader never finds neither; it may find both the old and the new chunks of
//! a range being switched, which scans tolerate (they never go back below a
//! seq they passed). Range reads refill from the memtable in small batches,
//! never holding its lock across calls.

use crate::error::{Error, Result};
use crate::position::Head;
use crate::storage::keys;
use crate::storage::segment::Segments;
use crate::storage::store::{self, Store, Value};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Entries a range read copies out of the memtable at a time.
const REFILL: usize = 256;

#[derive(Default)]
struct Mem {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Bytes of the keys and values in `map`.
    bytes: usize,
    /// The head at the end of each closed segment whose entries are here,
    /// keyed by the first seq of the segment after it.
    ends: BTreeMap<u64, Head>,
}

impl Mem {
    /// Removes and returns the entries for seqs in `range`.
    fn take(&mut self, range: std::ops::Range<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let keys: Vec<Vec<u8>> = self
            .map
            .iter()
            .filter(|(k, v)| entry_seq(k, v).is_some_and(|s| range.contains(&s)))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(v) = self.map.remove(&k) {
                self.bytes -= k.len() + v.len();
                out.push((k, v));
            }
        }
        self.ends.retain(|next, _| !(range.start < *next && *next <= range.end));
        out
    }
}

/// The seq an index entry belongs to: the chunk's first seq for chunk,
/// time, scope and wide entries, the event's seq for id entries.
fn entry_seq(key: &[u8], value: &[u8]) -> Option<u64> {
    match key.first()? {
        &keys::CHUNK => keys::chunk_seq(key),
        &keys::TIME => keys::time_seq(key),
        &keys::SCOPE | &keys::WIDE => keys::scope_seq(key),
        &keys::ID => value.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// The index of one database: sled plus the memtable of the tail. Clones
/// share both (every snapshot of a process reads the same index).
#[derive(Clone)]
pub(crate) struct Index {
    store: Store,
    mem: Arc<RwLock<Mem>>,
}

/// What the index holds, for `stats`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IndexSize {
    /// Bytes of sled's files on disk.
    pub disk_bytes: u64,
    /// Entries in the memtable.
    pub mem_entries: u64,
    /// Bytes of the memtable's keys and values.
    pub mem_bytes: u64,
}

impl Index {
    pub(crate) fn new(store: Store) -> Self {
        Self { store, mem: Arc::default() }
    }

    fn read(&self) -> RwLockReadGuard<'_, Mem> {
        self.mem.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Mem> {
        self.mem.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sled store alone (tests).
    #[cfg(test)]
    pub(crate) fn stored(&self) -> &Store {
        &self.store
    }

    /// The sled store, to write metadata.
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The value of `key`: the memtable's, else sled's.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        if let Some(v) = self.read().map.get(key) {
            return Ok(Some(Value::owned(v)));
        }
        self.store.get(key)
    }

    /// The entry with the greatest key `<= key` among keys starting with
    /// `prefix`, in either part.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn last_at_or_before(&self, prefix: &[u8], key: &[u8]) -> Result<Option<(Vec<u8>, Value)>> {
        let mem = self
            .read()
            .map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Included(key)))
            .next_back()
            .map(|(k, v)| (k.clone(), Value::owned(v)));
        let stored = self.store.last_at_or_before(prefix, key)?;
        Ok(match (mem, stored) {
            (Some(m), Some(s)) => Some(if s.0 > m.0 { s } else { m }),
            (m, s) => m.or(s),
        })
    }

    /// The entry with the greatest key starting with `prefix`, in either part.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Value)>> {
        let mem = self
            .read()
            .map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .last()
            .map(|(k, v)| (k.clone(), Value::owned(v)));
        let stored = self.store.last_with_prefix(prefix)?;
        Ok(match (mem, stored) {
            (Some(m), Some(s)) => Some(if s.0 > m.0 { s } else { m }),
            (m, s) => m.or(s),
        })
    }

    /// Entries with keys in `[start, end)` from both parts, in key order (a
    /// key in both is given once, with the memtable's value).
    pub(crate) fn range(&self, start: &[u8], end: &[u8]) -> Range {
        let mut r = Range {
            index: self.clone(),
            end: end.to_vec(),
            cursor: Bound::Included(start.to_vec()),
            mem: std::collections::VecDeque::new(),
            mem_done: false,
            stored: self.store.range(start, end).peekable(),
        };
        r.refill();
        r
    }

    /// The head stored under metadata name `name` (`M head`, `M tail`);
    /// `None` when absent or not a head's 48 bytes.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn recorded_head(&self, name: &[u8]) -> Result<Option<Head>> {
        Ok(self.get(&keys::meta(name))?.and_then(|v| Head::decode(v.as_ref())))
    }

    /// Adds a commit's entries to the memtable (not to sled: see the module
    /// documentation). Not durable; recovery rebuilds them.
    pub(crate) fn insert_tail(&self, puts: Vec<(Vec<u8>, Vec<u8>)>) {
        let mut mem = self.write();
        for (k, v) in puts {
            let (klen, vlen) = (k.len(), v.len());
            if let Some(old) = mem.map.insert(k, v) {
                mem.bytes -= klen + old.len();
            }
            mem.bytes += klen + vlen;
        }
    }

    /// Notes that the segment ending before `next_first` closed with `head`.
    pub(crate) fn segment_closed(&self, next_first: u64, head: Head) {
        self.write().ends.insert(next_first, head);
    }

    /// First seqs of the segments after closed segments whose entries are in
    /// the memtable, ascending.
    pub(crate) fn closed_in_memory(&self) -> Vec<u64> {
        self.read().ends.keys().copied().collect()
    }

    /// Moves to sled the memtable entries of closed segments that no seal is
    /// expected for soon: every closed segment but the last, and the last
    /// too once it is sealed (see `index.rs`). Keeps the memtable to at most
    /// two segments' entries.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub(crate) fn settle(&mut self, segs: &Segments) -> Result<()> {
        let closed = self.closed_in_memory();
        let Some(&last) = closed.last() else { return Ok(()) };
        for &next in &closed[..closed.len() - 1] {
            self.flush_before(next)?;
        }
        let list = segs.list()?;
        let last_closed = list.iter().rev().find(|s| **s < last).copied();
        if last_closed.is_none_or(|s| crate::storage::segment::is_sealed(segs, s).unwrap_or(false)) {
            self.flush_before(last)?;
        }
        Ok(())
    }

    /// Moves the memtable's entries for seqs below `next_first` to sled in
    /// one batch, with the head at `next_first - 1` (noted by
    /// [`Index::segment_closed`]) as `M head`. Not synced: after a crash
    /// recovery reads the segments again from where sled ends.
    ///
    /// # Errors
    /// Store errors; [`Error::Invalid`] when no segment closed at `next_first`.
    pub(crate) fn flush_before(&mut self, next_first: u64) -> Result<()> {
        let head = self.read().ends.get(&next_first).copied().ok_or_else(|| {
            Error::Invalid(format!("the index has no segment ending before seq {next_first}"))
        })?;
        let mut puts = self
            .read()
            .map
            .iter()
            .filter(|(k, v)| entry_seq(k, v).is_some_and(|s| s < next_first))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>();
        puts.push((keys::meta(keys::META_HEAD), head.encode()));
        self.store.apply(puts)?;
        self.write().take(0..next_first);
        Ok(())
    }

    /// Moves every memtable entry to sled in one batch, with `head` (the
    /// log's head, which its last entry belongs to) as `M head`: a clean
    /// close, so the next open finds the whole index in sled. Not synced by
    /// itself.
    ///
    /// # Errors
    /// Store errors; the memtable is unchanged then.
    pub(crate) fn flush_all(&mut self, head: Head) -> Result<()> {
        let mut puts: Vec<(Vec<u8>, Vec<u8>)> =
            self.read().map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if puts.is_empty() {
            return Ok(());
        }
        puts.push((keys::meta(keys::META_HEAD), head.encode()));
        self.store.apply(puts)?;
        *self.write() = Mem::default();
        Ok(())
    }

    /// A seal's switch of the seqs `range`: applies `puts` and `removes` to
    /// sled, with the memtable's id entries for `range`, and syncs it, then
    /// drops the memtable's entries for `range`.
    /// `head` is the head at the range's end: it becomes `M head` when sled
    /// held nothing past it.
    ///
    /// **Durability:** the new entries are on disk when this returns Ok.
    ///
    /// # Errors
    /// Store and I/O errors; the memtable is unchanged then.
    pub(crate) fn switch(
        &mut self,
        range: std::ops::Range<u64>,
        mut puts: Vec<(Vec<u8>, Vec<u8>)>,
        removes: Vec<Vec<u8>>,
        head: Head,
    ) -> Result<()> {
        let stored_head = self.recorded_head(keys::META_HEAD)?.map_or(0, |h| h.seq);
        if head.seq >= stored_head {
            puts.push((keys::meta(keys::META_HEAD), head.encode()));
        }
        // Sealing replaces the chunks' entries; the id entries of the
        // segment's events stay, so they move to sled with the new chunks.
        puts.extend(
            self.read()
                .map
                .range::<[u8], _>((Bound::Included(&[keys::ID][..]), Bound::Excluded(&[keys::ID + 1][..])))
                .filter(|(k, v)| entry_seq(k, v).is_some_and(|s| range.contains(&s)))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        self.store.apply_changes(puts, removes)?;
        self.store.sync()?;
        self.write().take(range);
        Ok(())
    }

    /// Empties the memtable and removes every sled key (before a rebuild).
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn clear(&mut self) -> Result<()> {
        *self.write() = Mem::default();
        self.store.clear_index()
    }

    /// Sizes of both parts.
    ///
    /// # Errors
    /// Store errors.
    pub(crate) fn size(&self) -> Result<IndexSize> {
        let disk_bytes = self.store.size_on_disk()?;
        let mem = self.read();
        Ok(IndexSize { disk_bytes, mem_entries: mem.map.len() as u64, mem_bytes: mem.bytes as u64 })
    }
}

/// A merged range over the memtable and sled; see [`Index::range`].
pub(crate) struct Range {
    index: Index,
    end: Vec<u8>,
    /// Where the next memtable refill starts.
    cursor: Bound<Vec<u8>>,
    mem: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    mem_done: bool,
    stored: std::iter::Peekable<store::Range>,
}

impl Range {
    fn refill(&mut self) {
        if self.mem_done || !self.mem.is_empty() {
            return;
        }
        let mem = self.index.read();
        let range = mem.map.range::<[u8], _>((
            match &self.cursor {
                Bound::Included(k) => Bound::Included(k.as_slice()),
                Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
                Bound::Unbounded => Bound::Unbounded,
            },
            Bound::Excluded(self.end.as_slice()),
        ));
        self.mem.extend(range.take(REFILL).map(|(k, v)| (k.clone(), v.clone())));
        drop(mem);
        match self.mem.back() {
            Some((k, _)) if self.mem.len() == REFILL => self.cursor = Bound::Excluded(k.clone()),
            _ => self.mem_done = true,
        }
    }
}

impl Iterator for Range {
    type Item = Result<(Vec<u8>, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.refill();
        let stored_key = match self.stored.peek() {
            Some(Ok((k, _))) => Some(k.clone()),
            Some(Err(_)) => return self.stored.next(),
            None => None,
        };
        match (self.mem.front(), stored_key) {
            (Some((mk, _)), Some(sk)) if sk < *mk => self.stored.next(),
            (Some((mk, _)), sk) => {
                if sk.as_ref() == Some(mk) {
                    self.stored.next();
                }
                let (k, v) = self.mem.pop_front()?;
                Some(Ok((k, Value::owned(&v))))
            }
            (None, _) => self.stored.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_belong_to_their_seq() {
        assert_eq!(entry_seq(&keys::chunk(7), &[]), Some(7));
        assert_eq!(entry_seq(&keys::time(-3, 9), &[]), Some(9));
        assert_eq!(entry_seq(&keys::scope("s:1.0", 11), &[]), Some(11));
        assert_eq!(entry_seq(&keys::wide(12), &[]), Some(12));
        assert_eq!(entry_seq(&keys::id("x"), &13u64.to_be_bytes()), Some(13));
        assert_eq!(entry_seq(&keys::meta(keys::META_HEAD), &[]), None);
    }
}
