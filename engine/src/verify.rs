//! Whole-log verification: segments, records, gaps, hash chain, bodies,
//! indexes, head.

use crate::codec;
use crate::compress::Decompressor;
use crate::error::{Error, Result};
use crate::frame::{self, GENESIS};
use crate::keys;
use crate::log::Snapshot;
use crate::segment::file_name;
use orc_log_schemas::{Event, Kind};
use std::collections::HashMap;

/// What a successful [`Snapshot::verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked (equal to the head seq).
    pub events: u64,
    /// Chunks checked.
    pub chunks: u64,
    /// Last seq.
    pub head_seq: u64,
    /// Chain hash after the last seq, hex.
    pub chain_hex: String,
}

impl Snapshot {
    /// Checks the whole log as of this snapshot's head; Ok only when it is
    /// intact.
    ///
    /// Reads every segment file in order (the source of truth, not the
    /// index) and checks: each file starts with the magic and is a sequence
    /// of whole records with correct CRCs; the chunks are gapless from seq 1
    /// across records and files; every chunk parses; every body decompresses
    /// to its recorded length and decodes as its kind; the recomputed blake3
    /// chain over the events' canonical encodings equals each chunk's stored
    /// chain hash; the index has each chunk's pointer, time entry and target
    /// entries; the index's head is not past the segments (else the segments
    /// were rolled back or lost acknowledged events); and the chunks end
    /// exactly at this snapshot's head with its chain hash. Records past the
    /// head (appended since the snapshot) are not checked.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first bad seq where known (the segment
    /// file and offset for a damaged record); [`Error::RolledBack`]; store
    /// and I/O errors.
    pub fn verify(&self) -> Result<VerifyReport> {
        // Two threads: this one reads the segments and decodes every body
        // (decompression, bincode), the other recomputes the hash chain and
        // checks the index, a few chunks behind.
        // A seal waits for this check before it switches a segment.
        let _no_switch = self.segs.switch.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        // With damage found at open, read on to where the segments break.
        let target = if self.damage.is_some() { u64::MAX } else { self.head.seq };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Decoded>>(4);
        let (tail, walked) = std::thread::scope(|s| {
            let hasher = s.spawn(move || self.verify_chain(rx));
            let walked = self.verify_bodies(&tx, target);
            drop(tx);
            let tail =
                hasher.join().unwrap_or_else(|_| Err(Error::Invalid("the verify thread panicked".into())));
            (tail, walked)
        });
        let (head_seq, chain, chunks) = tail?;
        walked?;
        if head_seq < target {
            let index_head = self.index_head_seq()?;
            if index_head > head_seq {
                return Err(Error::RolledBack { store_head: head_seq, record_head: index_head });
            }
        }
        if let Some(why) = &self.damage {
            let index_head = self.index_head_seq()?;
            if index_head > head_seq {
                return Err(Error::RolledBack { store_head: head_seq, record_head: index_head });
            }
            return Err(Error::corrupt(head_seq + 1, why.to_string()));
        }
        if head_seq != target || chain != self.head.chain_hash {
            return Err(Error::corrupt(
                head_seq.max(1),
                format!("the log's head says seq {target} but the segments end at seq {head_seq}"),
            ));
        }
        Ok(VerifyReport { events: head_seq, chunks, head_seq, chain_hex: crate::head::hex(&chain) })
    }

    /// Reads every segment record up to the head in order, decodes its
    /// chunk and every body, and sends them on; a damaged record or body is
    /// sent as the error at its place in the order.
    fn verify_bodies(&self, tx: &std::sync::mpsc::SyncSender<Result<Decoded>>, target: u64) -> Result<()> {
        let mut checker = ChainChecker::new(0, GENESIS)?;
        let send = |item: Result<Decoded>| tx.send(item).is_ok();
        for seg in self.segs.list()? {
            if checker.next_seq > target {
                break;
            }
            if seg != checker.next_seq {
                let why = format!("missing: the next segment file is {} (seq {seg})", file_name(seg));
                send(Err(Error::corrupt(checker.next_seq, why)));
                return Ok(());
            }
            let mut reader = self.segs.reader(seg, 0)?;
            while checker.next_seq <= target {
                let rec = match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(bad) => {
                        let why = format!(
                            "segment {} is damaged at offset {}: {}",
                            file_name(seg),
                            bad.offset,
                            bad.why
                        );
                        send(Err(Error::corrupt(checker.next_seq, why)));
                        return Ok(());
                    }
                };
                let decoded = frame::decode_chunk(rec.first_seq, rec.chunk)
                    .map_err(|(seq, why)| Error::corrupt(seq, why))
                    .and_then(|chunk| {
                        let raws = checker.decode_frames(&chunk, Some(self))?;
                        Ok(Decoded { ptr: rec.ptr, chunk, raws })
                    });
                let failed = decoded.is_err();
                if !send(decoded) || failed {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Recomputes the chain over decoded chunks in order and checks each
    /// chunk's index entries. Returns the last seq, the chain hash after it
    /// and the number of chunks.
    fn verify_chain(
        &self,
        rx: std::sync::mpsc::Receiver<Result<Decoded>>,
    ) -> Result<(u64, [u8; frame::HASH_BYTES], u64)> {
        let mut chain = GENESIS;
        let mut next_seq = 1u64;
        let mut max_ts = i64::MIN;
        let mut chunks = 0u64;
        for item in rx {
            let Decoded { ptr, chunk, raws } = item?;
            if chunk.version == frame::CHUNK_VERSION_1 {
                return Err(Error::corrupt(chunk.first_seq, "a format 1 chunk in a segment file"));
            }
            chain = chunk.chain_through(chain, &raws, u64::MAX);
            max_ts = chunk.frames.iter().fold(max_ts, |m, f| m.max(f.ts_ns));
            if chunk.chain_end != chain {
                return Err(Error::corrupt(
                    chunk.first_seq,
                    format!(
                        "the chain hash of the chunk of seqs {}..={} does not match the recomputed chain",
                        chunk.first_seq,
                        chunk.last_seq()
                    ),
                ));
            }
            next_seq = chunk.last_seq() + 1;
            let first = chunk.first_seq;
            match self.store.get(&keys::chunk(first))? {
                Some(v) if v.as_ref() == ptr.index_value(max_ts).as_slice() => {}
                _ => {
                    return Err(Error::corrupt(
                        first,
                        "the index has no pointer to this chunk (reopen to rebuild it)",
                    ));
                }
            }
            if self.store.get(&keys::time(max_ts, first))?.is_none() {
                return Err(Error::corrupt(first, "the time index has no entry for this chunk"));
            }
            for k in keys::scope_entries(chunk.scopes.iter().map(String::as_str), first) {
                if self.store.get(&k)?.is_none() {
                    return Err(Error::corrupt(
                        first,
                        "the target index has no entry for this chunk (reopen to rebuild it)",
                    ));
                }
            }
            chunks += 1;
        }
        Ok((next_seq - 1, chain, chunks))
    }

    /// The last seq the index has recorded (the greater of its `M head` and
    /// `M tail`), 0 when none.
    pub(crate) fn index_head_seq(&self) -> Result<u64> {
        let mut seq = 0;
        for name in [keys::META_HEAD, keys::META_TAIL] {
            if let Some(v) = self.store.get(&keys::meta(name))? {
                seq = seq.max(crate::log::Head::decode(v.as_ref()).map_or(0, |h| h.seq));
            }
        }
        Ok(seq)
    }
}

/// A chunk read back with the raw body of each of its frames, in order.
struct Decoded {
    ptr: crate::segment::Pointer,
    chunk: frame::Chunk<Vec<u8>>,
    raws: Vec<Vec<u8>>,
}

/// One checked frame: its seq, the event and the chain hash after it.
#[derive(Debug, Clone)]
pub(crate) struct CheckedFrame {
    pub seq: u64,
    pub event: Event,
    pub chain: [u8; frame::HASH_BYTES],
}

/// Recomputes the hash chain over consecutive chunks, decoding every body.
/// Used by [`Snapshot::verify`], recovery, backup verification and upgrades.
pub(crate) struct ChainChecker {
    /// Chain hash after the last checked frame.
    pub chain: [u8; frame::HASH_BYTES],
    /// The seq the next chunk must start at.
    pub next_seq: u64,
    /// Greatest ts so far (`i64::MIN` before any frame).
    pub max_ts: i64,
    dctx: Decompressor,
    /// Raw bodies of the last capture of each pane, by seq (delta bases).
    panes: HashMap<u64, Vec<u8>>,
    pane_last: HashMap<String, u64>,
}

impl ChainChecker {
    /// A checker that expects the chunk after `after_seq`, whose chain hash is `chain`.
    pub(crate) fn new(after_seq: u64, chain: [u8; frame::HASH_BYTES]) -> Result<Self> {
        Ok(Self {
            chain,
            next_seq: after_seq + 1,
            max_ts: i64::MIN,
            dctx: Decompressor::new().map_err(Error::Invalid)?,
            panes: HashMap::new(),
            pane_last: HashMap::new(),
        })
    }

    /// Checks that `chunk` starts right after the last one checked, and
    /// decompresses its blocks.
    fn start<B: AsRef<[u8]>>(&mut self, chunk: &frame::Chunk<B>) -> Result<[Option<Vec<u8>>; 2]> {
        let expected = self.next_seq;
        if chunk.first_seq != expected {
            let why = if chunk.first_seq > expected {
                format!("missing: the next stored chunk starts at seq {}", chunk.first_seq)
            } else {
                format!("overlap: a chunk starts at seq {}", chunk.first_seq)
            };
            return Err(Error::corrupt(expected, why));
        }
        Ok([
            crate::log::decode_block(chunk, 0, &mut self.dctx)?,
            crate::log::decode_block(chunk, 1, &mut self.dctx)?,
        ])
    }

    /// Decodes every body of the version 2 `chunk` that follows the last
    /// one (continuity, decompression, bincode as its kind) without hashing,
    /// and returns the raw bodies in frame order. The caller chains them.
    pub(crate) fn decode_frames<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        log: Option<&Snapshot>,
    ) -> Result<Vec<Vec<u8>>> {
        let blocks = self.start(chunk)?;
        let mut out = Vec::with_capacity(chunk.frames.len());
        for f in &chunk.frames {
            let raw = self.raw_of(chunk, f, &blocks, log)?;
            codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw)
                .map_err(|e| Error::corrupt(f.seq, e))?;
            self.max_ts = self.max_ts.max(f.ts_ns);
            out.push(raw);
        }
        self.next_seq = chunk.last_seq() + 1;
        Ok(out)
    }

    /// The raw body of frame `f`, keeping the pane's last capture as the
    /// next delta base.
    fn raw_of<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        f: &frame::FrameHeader,
        blocks: &[Option<Vec<u8>>; 2],
        log: Option<&Snapshot>,
    ) -> Result<Vec<u8>> {
        let base = f.seq - f.ref_back;
        let block = blocks[f.block].as_deref();
        let raw = match (self.panes.get(&base), log) {
            (Some(p), _) => crate::log::decode_raw(chunk, f, &mut self.dctx, Some(p), block)?,
            (None, Some(log)) => log.decode_raw(chunk, f, &mut self.dctx, None, block)?,
            (None, None) => crate::log::decode_raw(chunk, f, &mut self.dctx, None, block)?,
        };
        if f.kind == Kind::Capture
            && let Some(scope) = chunk.scope(f)
        {
            if let Some(old) = self.pane_last.insert(scope.to_owned(), f.seq) {
                self.panes.remove(&old);
            }
            self.panes.insert(f.seq, raw.clone());
        }
        Ok(raw)
    }

    /// Checks `chunk` (continuity, chain, bodies) and returns its frames.
    /// A delta base not seen by this checker is read from `log` when given.
    /// Version 1 chunks are checked by format 1's rules (frame checks, chain
    /// over stored bytes), version 2 chunks by format 2's (chain over the
    /// canonical encoding).
    pub(crate) fn check<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        log: Option<&Snapshot>,
    ) -> Result<Vec<CheckedFrame>> {
        let blocks = self.start(chunk)?;
        let mut out = Vec::with_capacity(chunk.frames.len());
        let mut chain = self.chain;
        for f in &chunk.frames {
            if chunk.version == frame::CHUNK_VERSION_1 {
                let next = chunk.chain_step_v1(&chain, f, blocks[0].as_deref());
                if next[..frame::CHECK_BYTES] != f.check {
                    return Err(Error::corrupt(
                        f.seq,
                        "frame check does not match the hash chain (bytes changed)",
                    ));
                }
                chain = next;
            }
            let raw = self.raw_of(chunk, f, &blocks, log)?;
            if chunk.version != frame::CHUNK_VERSION_1 {
                chain = frame::chain_step_v2(&chain, f.seq, f.ts_ns, f.kind, chunk.scope(f), &raw);
            }
            self.max_ts = self.max_ts.max(f.ts_ns);
            let event = codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw)
                .map_err(|e| Error::corrupt(f.seq, e))?;
            out.push(CheckedFrame { seq: f.seq, event, chain });
        }
        if chunk.chain_end != chain {
            return Err(Error::corrupt(
                chunk.first_seq,
                format!(
                    "the chain hash of the chunk of seqs {}..={} does not match the recomputed chain",
                    chunk.first_seq,
                    chunk.last_seq()
                ),
            ));
        }
        self.chain = chain;
        self.next_seq = chunk.last_seq() + 1;
        Ok(out)
    }
}
