//! Opening a database: the index is checked against the segments (the
//! source of truth), caught up, or rebuilt; a torn tail is cut.
//!
//! The order of a commit (records `fdatasync`ed, then the index applied
//! without a sync) means that after a crash the index is a prefix of the
//! segments: sled keeps its batches atomic and in order. Recovery therefore
//! starts right after the last chunk the index knows and reads forward, as
//! Kafka recovers a log segment and SQLite replays its WAL: whole records
//! with good CRCs that end a commit are indexed; the first record that is cut
//! short or fails its CRC at the end of the last segment, and any records of
//! a commit whose last record is missing, were never acknowledged and are
//! cut. See FORMAT.md, "Opening and recovery".

use crate::config::FORMAT_VERSION;
use crate::error::{Error, Result};
use crate::position::{EMPTY_HEAD, Head};
use crate::storage::chain::ChainChecker;
use crate::storage::frame;
use crate::storage::index::Index;
use crate::storage::keys;
use crate::storage::lock::DirLock;
use crate::storage::read::Reader;
use crate::storage::segment::Segments;
use crate::storage::segment::{self, FLAG_COMMIT, Pointer, file_name};
use crate::storage::store::Store;
use std::path::Path;
use std::sync::Arc;

/// Chunks added to the memtable at a time while catching up.
const BATCH_CHUNKS: usize = 256;

/// Opens the index store in `DIR/store`. One that sled cannot open (damaged
/// files) is moved aside to `DIR/store.damaged` (replacing an older one) and
/// a new, empty one is created; the caller then rebuilds it.
///
/// # Errors
/// Store errors when even a new store cannot be created; I/O errors.
pub(crate) fn open_index(dir: &Path, lock: &Arc<DirLock>) -> Result<Store> {
    let path = dir.join("store");
    match Store::open(&path, Arc::clone(lock)) {
        Ok(s) => Ok(s),
        Err(e) if !is_store_damage(&e) => Err(e),
        Err(e) => {
            move_aside(dir, &e)?;
            Store::open(&path, Arc::clone(lock))
        }
    }
}

/// Whether `e` says the index's files are damaged (sled failed or panicked
/// on them), as opposed to busy (another process still holds sled's lock)
/// or not accessible.
pub(crate) fn is_store_damage(e: &Error) -> bool {
    match e {
        Error::Store(m) => !(m.contains("could not acquire lock") || m.contains("ermission denied")),
        Error::StorePanic { .. } => true,
        _ => false,
    }
}

/// Moves a damaged index `DIR/store` aside to `DIR/store.damaged`
/// (replacing an older one), with a warning naming `why`; the caller then
/// opens a new, empty one and rebuilds it from the segments.
///
/// # Errors
/// I/O errors.
pub(crate) fn move_aside(dir: &Path, why: &Error) -> Result<()> {
    let path = dir.join("store");
    let aside = dir.join("store.damaged");
    tracing::warn!(
        "the index in {} cannot be used ({why}); moving it to {} and rebuilding it from the segments",
        path.display(),
        aside.display()
    );
    if aside.exists() {
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io("remove", &aside, e))?;
    }
    std::fs::rename(&path, &aside).map_err(|e| Error::io("rename", &path, e))
}

/// Why a log refuses appends.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// The store disagrees with its head record (found at open).
    Inconsistent(String),
    /// A write failed part-way; only reopening re-reads the true head.
    Poisoned(String),
}

/// What recovery found: the head of the log, and why appends must be
/// refused, if they must.
pub(crate) struct Recovered {
    pub head: Head,
    pub refusal: Option<Refusal>,
}

/// The state recovery works on: the database's segments and index, and the
/// head found so far.
struct Rec<'a> {
    dir: &'a Path,
    segs: &'a Arc<Segments>,
    index: &'a mut Index,
    head: Head,
}

impl Rec<'_> {
    fn reader(&self) -> Reader<'_> {
        Reader { index: self.index, segs: self.segs, head_seq: u64::MAX }
    }
}

/// Where recovery starts reading the segments.
enum Start {
    /// After the index's last chunk, which agrees with the segments.
    After { head: Head, ptr: Pointer },
    /// From the first segment, with an empty index.
    Beginning,
}

/// Brings the index of the database in `dir` up to date with its segments
/// (the tail's entries go to the index's memtable) and returns the head and
/// why appends must be refused, if they must.
///
/// # Errors
/// Store and I/O errors (damage is not an error here: it is returned as a
/// refusal, and `verify` names it).
pub(crate) fn recover(dir: &Path, segs: &Arc<Segments>, index: &mut Index) -> Result<Recovered> {
    let mut rec = Rec { dir, segs, index, head: EMPTY_HEAD };
    let mut refusal = recover_into(&mut rec)?;
    // The head recorded at the last clean close or sync: segments that end
    // before it lost acknowledged events.
    if refusal.is_none()
        && let Some(tail) = rec.index.recorded_head(keys::META_TAIL)?
        && tail.seq > rec.head.seq
    {
        refusal = Some(Refusal::Inconsistent(
            Error::RolledBack { store_head: rec.head.seq, record_head: tail.seq }.to_string(),
        ));
    }
    Ok(Recovered { head: rec.head, refusal })
}

fn recover_into(log: &mut Rec<'_>) -> Result<Option<Refusal>> {
    let segs = Arc::clone(log.segs);
    finish_sealing(log)?;
    let start = match index_start(log)? {
        Ok(start) => start,
        Err((refusal, _index_head)) => {
            // Reads see what the segments still hold (the index's last chunk
            // that is still there); verify reports the loss.
            let head = last_readable(log)?;
            log.head = head;
            return Ok(Some(refusal));
        }
    };
    let (mut head, mut seg_at, mut offset) = match start {
        Start::After { head, ptr } => (head, ptr.segment, ptr.end()),
        Start::Beginning => (EMPTY_HEAD, 1, 0),
    };
    log.head = head;
    let list = segs.list()?;
    if list.is_empty() && head.seq == 0 {
        return Ok(None);
    }
    let Some(mut idx) = list.iter().position(|s| *s == seg_at) else {
        if head.seq == 0 {
            return Ok(Some(Refusal::Inconsistent(format!(
                "the first segment file {} is missing (the segments start at {})",
                file_name(1),
                list.first().map_or_else(|| "nothing".to_owned(), |s| file_name(*s))
            ))));
        }
        return Ok(Some(Refusal::Inconsistent(format!("the segment file {} is missing", file_name(seg_at)))));
    };
    let mut checker = ChainChecker::new(head.seq, head.chain_hash)?;
    checker.max_ts = head.max_ts_ns;
    let mut indexed = 0u64;
    // Index entries of the records of a commit not yet seen to its end.
    let mut pending: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut pending_from: Option<Pointer> = None;
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut batch_chunks = 0usize;
    loop {
        let is_last = idx + 1 == list.len();
        let mut reader = segs.reader(seg_at, offset)?;
        // (offset, why, torn): where reading stopped, if before the end.
        let bad: Option<(u64, String, bool)> = loop {
            let rec = match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break None,
                Err(bad) => break Some((bad.offset, bad.why, bad.torn)),
            };
            // A record whose CRC holds was written whole: if it does not
            // decode or chain, that is damage (or a newer format), not a
            // torn write, and nothing is cut.
            let chunk = match frame::decode_chunk(rec.first_seq, rec.chunk.as_slice()) {
                Ok(c) => c,
                Err((seq, why)) => break Some((rec.ptr.offset, format!("seq {seq}: {why}"), false)),
            };
            let frames = match checker
                .check(&chunk, Some(&Reader { index: log.index, segs: log.segs, head_seq: head.seq }))
            {
                Ok(f) => f,
                Err(e) => break Some((rec.ptr.offset, e.to_string(), false)),
            };
            pending_from.get_or_insert(rec.ptr);
            for f in &frames {
                if let Some(id) = &f.event.id {
                    pending.push((keys::id(id), f.seq.to_be_bytes().to_vec()));
                }
            }
            pending.extend(rec.ptr.index_entries(
                rec.first_seq,
                checker.max_ts,
                chunk.scopes.iter().map(String::as_str),
            ));
            if rec.flags & FLAG_COMMIT != 0 {
                batch.append(&mut pending);
                batch_chunks += 1;
                pending_from = None;
                head = Head { seq: chunk.last_seq(), chain_hash: chunk.chain_end, max_ts_ns: checker.max_ts };
                indexed += frames.len() as u64;
                if batch_chunks >= BATCH_CHUNKS {
                    flush(log, &mut batch, head)?;
                    batch_chunks = 0;
                }
            }
        };
        // Records of a commit cut short are as torn as a bad record.
        let stop = match (&bad, pending_from) {
            (Some((at, why, torn)), pending) => {
                Some((pending.map_or(*at, |p| p.offset), format!("offset {at}: {why}"), *torn))
            }
            (None, Some(p)) => Some((p.offset, "a commit without its last record".to_owned(), true)),
            (None, None) => None,
        };
        if let Some((at, why, torn)) = stop {
            if is_last && torn && !segment::commit_follows(&segs, seg_at, at)? {
                tracing::warn!(
                    "cutting the torn tail of segment {} at offset {at} ({why}): an append that was never acknowledged",
                    file_name(seg_at)
                );
                flush(log, &mut batch, head)?;
                if at < segment::MAGIC.len() as u64 {
                    // Not even the magic made it: a segment whose creation was
                    // cut short holds nothing; remove it.
                    let path = segs.path(seg_at);
                    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                    crate::storage::head::sync_dir(segs.dir())?;
                    segs.forget(seg_at);
                } else {
                    segment::cut_tail(&segs, seg_at, at)?;
                }
                break;
            }
            flush(log, &mut batch, head)?;
            return Ok(Some(Refusal::Inconsistent(format!(
                "segment {} is damaged at {why}",
                file_name(seg_at)
            ))));
        }
        if is_last {
            break;
        }
        idx += 1;
        seg_at = list[idx];
        offset = 0;
        // The segment before is closed: its entries stay in the memtable
        // only while it may still be sealed (index.rs).
        flush(log, &mut batch, head)?;
        log.index.segment_closed(seg_at, head);
        log.index.settle(log.segs)?;
        if seg_at != checker.next_seq {
            flush(log, &mut batch, head)?;
            return Ok(Some(Refusal::Inconsistent(format!(
                "segment {} starts at seq {seg_at}, but the previous one ends at seq {}",
                file_name(seg_at),
                checker.next_seq - 1
            ))));
        }
    }
    flush(log, &mut batch, head)?;
    if indexed > 0 {
        tracing::debug!("indexed {indexed} events found in the segments");
    }
    Ok(None)
}

/// Completes or undoes a seal a crash interrupted (see `seal.rs`): with the
/// index's `M sealing` note and the `.sealing` file still there, the rename
/// never happened and the file is removed; with the note alone, the segment
/// was replaced but the index may still point into the old one, so the index
/// is cleared and rebuilt. Stray `.sealing` files are removed.
fn finish_sealing(log: &mut Rec<'_>) -> Result<()> {
    let segs = Arc::clone(log.segs);
    let note = log.index.get(&keys::meta(keys::META_SEALING))?;
    if let Some(v) = note {
        let first = <[u8; 8]>::try_from(v.as_ref()).map(u64::from_be_bytes).unwrap_or(0);
        let pending = segment::sealing_path(&segs, first);
        if !pending.exists() {
            tracing::warn!(
                "rebuilding the index in {}: sealing segment {} was interrupted after the switch",
                log.dir.join("store").display(),
                file_name(first)
            );
            log.index.clear()?;
        }
        let store = log.index.store_mut();
        store.apply_changes(Vec::new(), vec![keys::meta(keys::META_SEALING)])?;
        store.sync()?;
    }
    let entries = std::fs::read_dir(segs.dir()).map_err(|e| Error::io("list", segs.dir(), e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".seg.sealing") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    Ok(())
}

/// Adds `batch` to the index's memtable and sets the head (index.rs: the
/// memtable reaches sled when its segment is sealed or settled).
fn flush(log: &mut Rec<'_>, batch: &mut Vec<(Vec<u8>, Vec<u8>)>, head: Head) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    log.index.insert_tail(std::mem::take(batch));
    log.head = head;
    Ok(())
}

/// Decides where recovery starts: after the index's last chunk when the
/// index agrees with the segments; from the beginning (after clearing the
/// index, with a warning) when the index is missing, of another format or
/// damaged. `Err(refusal)` when the segments end before the index: they
/// were rolled back or lost acknowledged events, and nothing is touched.
fn index_start(log: &mut Rec<'_>) -> Result<std::result::Result<Start, (Refusal, Head)>> {
    let store = &*log.index;
    let format =
        store.get(&keys::meta(keys::META_FORMAT))?.map(|v| String::from_utf8_lossy(v.as_ref()).into_owned());
    let head = match store.get(&keys::meta(keys::META_HEAD))? {
        Some(v) => Head::decode(v.as_ref()),
        None => Some(EMPTY_HEAD),
    };
    let last = store.last_with_prefix(&[keys::CHUNK])?;
    let fresh = format.is_none() && last.is_none() && head == Some(EMPTY_HEAD);
    let has_segments = !log.segs.list()?.is_empty();
    let problem = match (&format, head, &last) {
        _ if fresh && has_segments => Some("it is missing or empty".to_owned()),
        _ if fresh => None,
        // Format 2's index keys and values are format 3's: only the chunks' chain changed.
        (Some(f), _, _) if *f != FORMAT_VERSION.to_string() && f != "2" => Some(format!("it has format {f}")),
        (None, _, _) => Some("it has no format record".to_owned()),
        (_, None, _) => Some("its head record is malformed".to_owned()),
        (_, Some(h), None) if h.seq == 0 => return Ok(Ok(Start::Beginning)),
        (_, Some(_), None) => Some("it has a head but no chunks".to_owned()),
        (_, Some(h), Some((key, value))) => {
            let first = keys::chunk_seq(key);
            match (first, Pointer::decode(value.as_ref())) {
                (Some(first), Some(ptr)) => {
                    let seg_len = std::fs::metadata(log.segs.path(ptr.segment)).map(|m| m.len()).ok();
                    let read = if seg_len.is_none_or(|l| l < ptr.end()) {
                        None
                    } else {
                        Some(log.segs.read(ptr, first).and_then(|b| {
                            frame::decode_chunk(first, b).map_err(|(seq, why)| Error::corrupt(seq, why))
                        }))
                    };
                    if let Some(Ok(c)) = &read
                        && c.last_seq() == h.seq
                        && c.chain_end == h.chain_hash
                    {
                        return Ok(Ok(Start::After { head: h, ptr }));
                    }
                    if stale_after_seal(log.segs, ptr.segment, h.seq)? {
                        Some(format!(
                            "it points into segment {}, which was sealed since (the index lost its last writes)",
                            file_name(ptr.segment)
                        ))
                    } else {
                        match read {
                            None if h.seq > 0 => {
                                // The segments end before what the index knew was acknowledged.
                                let now = segments_end_hint(log);
                                return Ok(Err((
                                    Refusal::Inconsistent(
                                        Error::RolledBack { store_head: now, record_head: h.seq }.to_string(),
                                    ),
                                    h,
                                )));
                            }
                            // The record the index names as the last acknowledged
                            // one is there but does not read back: the segment is
                            // damaged. Nothing is cut or rebuilt; verify says where.
                            None | Some(Ok(_)) => {
                                let why = format!(
                                    "segment {} at offset {}: the chunk of seq {first} differs from the index",
                                    file_name(ptr.segment),
                                    ptr.offset
                                );
                                return Ok(Err((Refusal::Inconsistent(why), h)));
                            }
                            Some(Err(e)) => return Ok(Err((Refusal::Inconsistent(e.to_string()), h))),
                        }
                    }
                }
                _ => Some("its last chunk entry is malformed".to_owned()),
            }
        }
    };
    let store = &mut *log.index;
    if let Some(why) = problem {
        tracing::warn!(
            "rebuilding the index in {} from the segment files: {why}",
            log.dir.join("store").display()
        );
        store.clear()?;
    }
    store
        .store_mut()
        .commit(vec![(keys::meta(keys::META_FORMAT), FORMAT_VERSION.to_string().into_bytes())])?;
    Ok(Ok(Start::Beginning))
}

/// Whether the index's last chunk pointer, into segment `segment`, is stale
/// because that segment was sealed (rewritten with other chunks) after the
/// index was written, while the segments still hold every seq up to `head`:
/// then the index, not the log, lost writes (sled recovers only up to the
/// first damage in its own log), and it is rebuilt rather than refused.
/// A pointer that still reads the chunk it names is not stale.
fn stale_after_seal(segs: &Segments, segment: u64, head: u64) -> Result<bool> {
    if !segs.path(segment).exists() || !segment::is_sealed(segs, segment)? {
        return Ok(false);
    }
    // A sealed segment is closed: the next segment starts right after it.
    let list = segs.list()?;
    Ok(list.iter().find(|s| **s > segment).is_some_and(|next| *next > head))
}

/// A rough last seq of the segments, for a rollback message (the first seq
/// of the last segment file minus one when nothing better is known).
fn segments_end_hint(log: &Rec<'_>) -> u64 {
    last_readable(log).map_or(0, |h| h.seq)
}

/// The head after the index's last chunk that the segments still hold (an
/// empty head when none is).
fn last_readable(log: &Rec<'_>) -> Result<Head> {
    let store = &*log.index;
    let mut upper = keys::chunk(u64::MAX).to_vec();
    loop {
        let Some((key, value)) = store.last_at_or_before(&[keys::CHUNK], &upper)? else {
            return Ok(EMPTY_HEAD);
        };
        let Some(first) = keys::chunk_seq(&key) else { return Ok(EMPTY_HEAD) };
        if let Ok(chunk) = log.reader().read_chunk(first, value.as_ref()) {
            let own_max = chunk.frames.iter().map(|f| f.ts_ns).max().unwrap_or(i64::MIN);
            let max_ts_ns = Pointer::running_max_ts(value.as_ref()).unwrap_or(own_max);
            return Ok(Head { seq: chunk.last_seq(), chain_hash: chunk.chain_end, max_ts_ns });
        }
        if first <= 1 {
            return Ok(EMPTY_HEAD);
        }
        upper = keys::chunk(first - 1).to_vec();
    }
}
