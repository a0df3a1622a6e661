//! Sealing: repacking a closed segment's small commits into large chunks.
//!
//! A live recorder or `emit` commits a few events at a time; each commit is
//! a chunk of its own, compressed alone or against the pane's previous
//! capture, and carries its own header, chain hash and record header. Once a
//! segment is closed (a later segment exists), [`Log::seal`] rewrites it with
//! large chunks whose bodies share one zstd block per kind group, at
//! [`crate::Config::seal_level`]. The events, their seqs and their chain
//! hashes do not change (the chain covers each event's canonical encoding),
//! which sealing checks before it switches.
//!
//! Sealing runs in two parts, so that appends never wait for the repack:
//! [`Snapshot::prepare_seal`] reads the closed segment (immutable) and
//! writes its sealed copy without the writer; [`Log::install_seal`] switches
//! it in under the writer, in milliseconds. Each step is safe to interrupt
//! (FORMAT.md, "Sealing"):
//!
//! 1. (prepare) the sealed copy is written to `<segment>.sealing` and
//!    `fdatasync`ed, and the index durably notes `M sealing` = the segment's
//!    first seq;
//! 2. (install) the copy is renamed over the segment and the directory
//!    `fsync`ed;
//! 3. (install) one index batch replaces the segment's chunk, time and
//!    target entries and removes the note; it is synced, and the memtable's
//!    entries of the segment are dropped (`index.rs`).
//!
//! An open that finds the note rebuilds the index from the segments when
//! the rename happened (the `.sealing` file is gone), else removes the
//! `.sealing` file; a `.sealing` file without a note is removed too.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log::Log;
use crate::position::{EMPTY_HEAD, Head};
use crate::snapshot::Snapshot;
use crate::storage::chain::ChainChecker;
use crate::storage::encoder::Encoder;
use crate::storage::frame::{self, Encoding, PendingFrame};
use crate::storage::keys;
use crate::storage::segment::{self, ActiveSegment, Pointer, SealedWriter};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The seqs `orc-log checkpoint` issued notes at, one per line: compaction
/// keeps the chain hash after each of them, so `verify --trusted` can check
/// a note whose event has since expired.
pub const CHECKPOINTED_FILE: &str = "checkpointed-seqs";
/// The seqs whose chain hash compaction keeps even inside a run of
/// expired events: seq 1 (the checkpoint origin is made from it) and every
/// seq in `DIR/checkpointed-seqs`.
///
/// # Errors
/// I/O errors other than a missing file.
pub(crate) fn keep_chain_at(dir: &Path) -> Result<std::collections::BTreeSet<u64>> {
    let path = dir.join(CHECKPOINTED_FILE);
    let mut keep: std::collections::BTreeSet<u64> = [1].into();
    match std::fs::read_to_string(&path) {
        Ok(text) => keep.extend(text.lines().filter_map(|l| l.trim().parse::<u64>().ok())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", &path, e)),
    }
    Ok(keep)
}

/// Records that a checkpoint note was issued at `seq` (appended to
/// `DIR/checkpointed-seqs` unless the last line is that seq), so
/// compaction keeps the chain hash after it.
///
/// **Durability:** on disk when this returns Ok.
///
/// # Errors
/// I/O errors.
pub fn record_checkpoint(dir: &Path, seq: u64) -> Result<()> {
    use std::io::Write;
    let path = dir.join(CHECKPOINTED_FILE);
    let last = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse::<u64>().ok()));
    if last == Some(seq) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    f.write_all(format!("{seq}\n").as_bytes()).map_err(|e| Error::io("write", &path, e))?;
    f.sync_all().map_err(|e| Error::io("sync", &path, e))?;
    crate::storage::head::sync_dir(dir)
}

/// The new raw body of one event in a rewrite ([`Snapshot::prepare_seal`]
/// with edits): a redacted body, or the stub of an expired one.
#[derive(Debug, Clone)]
pub(crate) struct BodyEdit {
    /// The new raw body (codec bytes).
    pub raw: Vec<u8>,
    /// Whether the body expired (a retention rule), not redacted.
    pub expired: bool,
}
/// A sealed segment's end, its new index entries, and its chunk counts
/// before and after.
type Packed = (Head, Vec<(Vec<u8>, Vec<u8>)>, u64, u64);

/// A closed segment packed into its `.sealing` file by
/// [`Snapshot::prepare_seal`], to be switched in by [`Log::install_seal`].
pub(crate) struct PreparedSeal {
    first: u64,
    end: u64,
    /// A rewrite with new bodies (redaction) rather than a seal: the
    /// segment may be sealed already.
    rewrite: bool,
    /// The bodies a rewrite replaced.
    pub(crate) redacted: Vec<crate::RedactedBody>,
    /// The head after the segment's last event.
    head: Head,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    removes: Vec<Vec<u8>>,
    report: SealReport,
}

/// Marks a switch's end when dropped (also on an error path).
struct EndSwitch<'a>(&'a segment::Segments);

impl Drop for EndSwitch<'_> {
    fn drop(&mut self) {
        self.0.mark_switch();
    }
}

/// What [`Log::seal`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    /// Segments sealed.
    pub segments: u64,
    /// Events in them.
    pub events: u64,
    /// Chunks in those segments before sealing.
    pub chunks_before: u64,
    /// Chunks in the sealed segments.
    pub chunks_after: u64,
    /// Bytes of those segment files before sealing.
    pub bytes_before: u64,
    /// Bytes of the sealed segment files.
    pub bytes_after: u64,
}

impl Log {
    /// Seals every closed segment (one a later segment follows) that is not
    /// sealed yet; with `close_active`, first closes the segment appends go
    /// to when it holds events (the next append starts a new one).
    ///
    /// Appends wait while a segment is sealed (through a [`crate::SharedLog`]
    /// it holds the writer); readers go on, and a read that meets the switch
    /// reads the sealed chunk instead.
    ///
    /// **Durability:** each sealed segment and its index are on disk when
    /// the next one starts; a crash at any moment leaves every event in
    /// place (see the module documentation).
    ///
    /// # Errors
    /// Refusals and poisoning as for appends; [`Error::Corrupt`] when a
    /// segment does not check (it is left as it is); store and I/O errors.
    pub fn seal(&mut self, close_active: bool) -> Result<SealReport> {
        self.check_writable()?;
        if close_active {
            self.close_active()?;
        }
        let mut report = SealReport::default();
        for (first, end) in self.closed_unsealed()? {
            let prepared = self.snap.prepare_seal(first, end, &self.config, None)?;
            report.add(&self.install_seal(prepared)?);
        }
        self.settle_index()?;
        Ok(report)
    }

    /// Closes the segment appends go to when it holds events, so that it
    /// can be sealed: the next append starts a new segment (one holding only
    /// the magic is created now, named after the head seq + 1). Returns
    /// whether a segment was closed.
    ///
    /// **Durability:** the closed segment and the new file are on disk when
    /// this returns Ok.
    ///
    /// # Errors
    /// Refusals and poisoning as for appends; I/O errors.
    pub fn close_active(&mut self) -> Result<bool> {
        self.check_writable()?;
        let segs = Arc::clone(&self.snap.segs);
        let Some(&last) = segs.list()?.last() else { return Ok(false) };
        let len = std::fs::metadata(segs.path(last)).map(|m| m.len()).unwrap_or(0);
        if len <= segment::MAGIC.len() as u64 {
            return Ok(false);
        }
        if let Some(a) = &self.active {
            a.sync(&segs)?;
        }
        let next = self.snap.head.seq + 1;
        let created = ActiveSegment::create(&segs, next)?;
        created.sync(&segs)?;
        self.active = Some(created);
        self.active_since = std::time::Instant::now();
        self.snap.store.segment_closed(next, self.snap.head);
        self.settle_index()?;
        Ok(true)
    }

    /// Whether the segment appends go to should be closed (and so sealed):
    /// no commit for `idle`, or its first commit longer ago than `max_age`.
    /// The segment may still hold nothing ([`Log::close_active`] then does
    /// nothing).
    pub fn roll_due(&self, idle: std::time::Duration, max_age: std::time::Duration) -> bool {
        self.last_commit.elapsed() >= idle || self.active_since.elapsed() >= max_age
    }

    /// The closed segments (a later one follows) that are not sealed yet,
    /// as (first seq, first seq of the next segment), oldest first.
    ///
    /// # Errors
    /// I/O errors.
    pub(crate) fn closed_unsealed(&mut self) -> Result<Vec<(u64, u64)>> {
        let segs = Arc::clone(&self.snap.segs);
        let list = segs.list()?;
        let mut out = Vec::new();
        for pair in list.windows(2) {
            let first = pair[0];
            if self.sealed.contains(&first) || segment::is_sealed(&segs, first)? {
                self.sealed.insert(first);
                continue;
            }
            out.push((first, pair[1]));
        }
        Ok(out)
    }

    /// Switches in a segment packed by [`Snapshot::prepare_seal`]: renames
    /// the sealed file over the segment and replaces the segment's index
    /// entries. Holds only for the rename, one directory fsync and one
    /// synced index batch; readers go on (a read that meets the switch reads
    /// the sealed chunk instead, and scans never miss or repeat an event).
    ///
    /// **Durability:** the sealed segment and its index are on disk when
    /// this returns Ok; a crash at any moment leaves every event in place.
    ///
    /// # Errors
    /// Refusals as for appends; [`Error::Invalid`] when the segment was
    /// sealed meanwhile (the prepared file is removed); store and I/O errors.
    pub(crate) fn install_seal(&mut self, prepared: PreparedSeal) -> Result<SealReport> {
        let PreparedSeal { first, end, rewrite, redacted: _, head, puts, removes, report } = prepared;
        let segs = Arc::clone(&self.snap.segs);
        let mut store = self.snap.store.clone();
        let mut discard = || {
            let _ = std::fs::remove_file(segment::sealing_path(&segs, first));
            let note = keys::meta(keys::META_SEALING);
            let _ = store
                .store_mut()
                .apply_changes(Vec::new(), vec![note])
                .and_then(|()| store.store_mut().sync());
        };
        if let Err(e) = self.check_writable() {
            discard();
            return Err(e);
        }
        if !rewrite && (self.sealed.contains(&first) || segment::is_sealed(&segs, first)?) {
            discard();
            return Err(Error::Invalid(format!("segment {} is sealed already", segment::file_name(first))));
        }
        {
            // A running verify finishes before the switch (it waits for no one).
            let _switching = segs.switch.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            segs.mark_switch();
            let _end = EndSwitch(&segs);
            segment::install_sealed(&segs, first)?;
            if let Err(e) = self.snap.store.switch(first..end, puts, removes, head) {
                // The segment was replaced but its index was not: reads of it
                // fail until a reopen rebuilds the index (the note is there).
                self.refuse_writes = Some(crate::storage::recover::Refusal::Poisoned(e.to_string()));
                return Err(e);
            }
        }
        self.sealed.insert(first);
        if rewrite {
            // Bodies changed: the delta bases this writer remembers may be
            // old bodies; new captures find their bases again.
            self.panes.clear();
        }
        Ok(report)
    }
}

impl SealReport {
    pub(crate) fn add(&mut self, one: &SealReport) {
        self.segments += one.segments;
        self.events += one.events;
        self.chunks_before += one.chunks_before;
        self.chunks_after += one.chunks_after;
        self.bytes_before += one.bytes_before;
        self.bytes_after += one.bytes_after;
    }
}

impl Snapshot {
    /// Packs closed segment `first` (seqs `first..end`) into its `.sealing`
    /// file with large chunks at `config.seal_level`, checks that the chain
    /// is unchanged, and durably notes the seal in the index. Reads the
    /// segment through this snapshot only, so it runs without the writer;
    /// memory stays bounded whatever the segment's size (it streams: one
    /// chunk of about `config.chunk_target_bytes` raw bytes is held at a
    /// time, plus the index keys of the old chunks).
    ///
    /// With `edits` (seq -> new raw body), a *rewrite* for redaction or
    /// compaction: each listed frame gets its new body and keeps the digest
    /// the chain took (FORMAT.md, "Redaction"), flagged expired when the edit
    /// says so ("Retention and compaction"); the segment may be sealed already, and
    /// must not hold a delta-compressed capture (the caller seals first).
    ///
    /// **Durability:** the sealed file and the note are on disk when this
    /// returns Ok; nothing replaces the segment until [`Log::install_seal`].
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the segment does not check (it is left as it
    /// is and the sealed file removed); store and I/O errors.
    pub(crate) fn prepare_seal(
        &self,
        first: u64,
        end: u64,
        config: &Config,
        edits: Option<&HashMap<u64, BodyEdit>>,
    ) -> Result<PreparedSeal> {
        let mut redacted = Vec::new();
        let segs = Arc::clone(&self.segs);
        let store = self.store.clone();
        let bytes_before = std::fs::metadata(segs.path(first)).map(|m| m.len()).unwrap_or(0);
        // The chain and running-max ts before the segment.
        let before = if first == 1 {
            EMPTY_HEAD
        } else {
            let (key, value) = store
                .last_at_or_before(&[keys::CHUNK], &keys::chunk(first - 1))?
                .ok_or_else(|| Error::corrupt(first - 1, "no chunk holds the seq before the segment"))?;
            let prev_first =
                keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(None, "malformed chunk key"))?;
            let chunk = self.read_chunk(prev_first, value.as_ref())?;
            let max_ts_ns = Pointer::running_max_ts(value.as_ref())
                .ok_or_else(|| Error::corrupt(prev_first, "malformed chunk entry in the index"))?;
            Head { seq: chunk.last_seq(), chain_hash: chunk.chain_end, max_ts_ns }
        };
        if before.seq + 1 != first {
            return Err(Error::corrupt(first, "the segment does not start after the previous chunk"));
        }
        // The index entries of the old chunks, to remove at the switch. They
        // follow from the segment's records (each chunk's first seq, scopes
        // and running-max ts), not from a read of the index, which a settle
        // may be moving from the memtable to sled while this runs.
        let mut removes: Vec<Vec<u8>> = Vec::new();
        let mut checker = ChainChecker::new(before.seq, before.chain_hash)?;
        checker.max_ts = before.max_ts_ns;
        let mut reader = segs.reader(first, 0)?;
        let mut writer = SealedWriter::create(&segs, first)?;
        let mut enc = Encoder::new(config, config.seal_level)?;
        let keep = keep_chain_at(&self.dir)?;
        let packed = (|| -> Result<Packed> {
            let mut head = before;
            let mut old_chain = before.chain_hash;
            let mut puts = Vec::new();
            let mut pending: Vec<PendingFrame> = Vec::new();
            let mut pending_bytes = 0usize;
            let (mut chunks_before, mut chunks_after) = (0u64, 0u64);
            loop {
                let rec = match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(bad) => {
                        return Err(Error::corrupt(
                            checker.next_seq,
                            format!(
                                "segment {} at offset {}: {}",
                                segment::file_name(first),
                                bad.offset,
                                bad.why
                            ),
                        ));
                    }
                };
                let chunk = frame::decode_chunk(rec.first_seq, rec.chunk)
                    .map_err(|(seq, why)| Error::corrupt(seq, why))?;
                let raws = checker.decode_frames(&chunk, Some(&self.reader()))?;
                // The chain after each frame, for the ones a compaction expires.
                let mut frame_chain = old_chain;
                // Replay the old chain too: sealing must keep it exactly.
                old_chain = chunk.chain_through(old_chain, &raws, u64::MAX);
                if old_chain != chunk.chain_end {
                    return Err(Error::corrupt(chunk.first_seq, "the chunk's chain hash does not match"));
                }
                removes.push(keys::chunk(chunk.first_seq).to_vec());
                removes.push(keys::time(checker.max_ts, chunk.first_seq).to_vec());
                removes.push(keys::wide(chunk.first_seq).to_vec());
                for s in &chunk.scopes {
                    removes.push(keys::scope(s, chunk.first_seq));
                }
                chunks_before += 1;
                for (f, raw) in chunk.frames.iter().zip(raws) {
                    frame_chain = chunk.chain_step(&frame_chain, f, &raw);
                    let edit = edits.and_then(|e| e.get(&f.seq)).filter(|_| !f.expired);
                    let (raw, raw_len, digest, expired, chain_after) = match edit {
                        // Expired: the chain skips the stub; the hash after
                        // it is kept (pack drops it inside a run).
                        Some(new) if new.expired => {
                            (new.raw.clone(), new.raw.len() as u32, None, true, Some(frame_chain))
                        }
                        Some(new) => {
                            let old_digest = frame::body_digest(&raw);
                            let new_digest = frame::body_digest(&new.raw);
                            redacted.push(crate::RedactedBody { seq: f.seq, old_digest, new_digest });
                            // The chain keeps the digest it took first.
                            let digest = Some(f.digest.unwrap_or(old_digest));
                            (new.raw.clone(), new.raw.len() as u32, digest, false, None)
                        }
                        None => (raw, f.raw_len, f.digest, f.expired, f.chain_after),
                    };
                    pending_bytes += raw.len();
                    pending.push(PendingFrame {
                        ts_ns: f.ts_ns,
                        kind: f.kind,
                        encoding: Encoding::Raw,
                        scope: chunk.scope(f).map(str::to_owned),
                        ref_back: 0,
                        raw_len,
                        body: Vec::new(),
                        raw,
                        digest,
                        expired,
                        chain_after,
                    });
                    // A chunk never ends inside a run of expired frames.
                    if pending_bytes >= config.chunk_target_bytes && !(expired && chain_after.is_none()) {
                        pack(&mut enc, &mut pending, &mut head, &mut writer, &mut puts, &keep)?;
                        pending_bytes = 0;
                        chunks_after += 1;
                    }
                }
            }
            if !pending.is_empty() {
                pack(&mut enc, &mut pending, &mut head, &mut writer, &mut puts, &keep)?;
                chunks_after += 1;
            }
            if head.chain_hash != old_chain {
                return Err(Error::corrupt(first, "the sealed chunks' chain differs from the segment's"));
            }
            Ok((head, puts, chunks_before, chunks_after))
        })();
        let (head, puts, chunks_before, chunks_after) = match packed {
            Ok(p) => p,
            Err(e) => {
                drop(writer);
                let _ = std::fs::remove_file(segment::sealing_path(&segs, first));
                return Err(e);
            }
        };
        if head.seq + 1 != end {
            let _ = std::fs::remove_file(segment::sealing_path(&segs, first));
            return Err(Error::corrupt(first, "the sealed segment does not end where the segment did"));
        }
        let bytes_after = writer.finish()?;
        let mut store = store;
        store.store_mut().commit(vec![(keys::meta(keys::META_SEALING), first.to_be_bytes().to_vec())])?;
        removes.push(keys::meta(keys::META_SEALING));
        // A removed key that is also put again (same first seq) must stay.
        let put_keys: std::collections::HashSet<&[u8]> = puts.iter().map(|(k, _)| k.as_slice()).collect();
        removes.retain(|k| !put_keys.contains(k.as_slice()));
        let report = SealReport {
            segments: 1,
            events: end - first,
            chunks_before,
            chunks_after,
            bytes_before,
            bytes_after,
        };
        Ok(PreparedSeal { first, end, rewrite: edits.is_some(), redacted, head, puts, removes, report })
    }
}

/// Packs `pending` (the next seqs after `head`) into one chunk with every
/// body in a block, writes it to the sealed file and adds its index
/// entries to `puts`.
fn pack(
    enc: &mut Encoder,
    pending: &mut Vec<PendingFrame>,
    head: &mut Head,
    writer: &mut SealedWriter,
    puts: &mut Vec<(Vec<u8>, Vec<u8>)>,
    keep: &std::collections::BTreeSet<u64>,
) -> Result<()> {
    let first = head.seq + 1;
    // Inside a run of expired frames only the last keeps the chain hash
    // after it, and a frame at a seq in `keep` (FORMAT.md, "Retention and
    // compaction").
    for i in 1..pending.len() {
        let seq = first + i as u64 - 1;
        if pending[i].expired && pending[i - 1].expired && !keep.contains(&seq) {
            pending[i - 1].chain_after = None;
        }
    }
    let mut panes = HashMap::new();
    let blocks = enc.compress_chunk(first, pending, &mut panes, true, &mut |_| Ok(None))?;
    let blocks_ref = [blocks[0].as_ref(), blocks[1].as_ref()];
    let (bytes, chain) = enc.encode(first, pending, blocks_ref, head.chain_hash)?;
    head.max_ts_ns = pending.iter().fold(head.max_ts_ns, |m, f| m.max(f.ts_ns));
    let ptr = writer.push(first, &bytes)?;
    puts.extend(ptr.index_entries(first, head.max_ts_ns, pending.iter().filter_map(|f| f.scope.as_deref())));
    head.seq = first + pending.len() as u64 - 1;
    head.chain_hash = chain;
    pending.clear();
    Ok(())
}
