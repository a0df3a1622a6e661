//! Whole-log verification: structure, gaps, hash chain, bodies, indexes, head.

use crate::codec;
use crate::compress::Decompressor;
use crate::error::{Error, Result};
use crate::frame::{self, GENESIS};
use crate::keys;
use crate::log::Snapshot;
use orc_log_schemas::Kind;
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
    /// Checks the whole log; Ok only when it is intact.
    ///
    /// Checks, in seq order: chunks are gapless from seq 1; every frame parses;
    /// its 4-byte check and each chunk's stored chain hash match the
    /// recomputed blake3 chain; every body decompresses to its recorded length
    /// and decodes as its kind; the time and scope indexes list every chunk;
    /// the store's head metadata matches the last chunk; and the `HEAD` record
    /// outside the store is not ahead of the store (a rollback) and agrees on
    /// the chain hash at its seq.
    ///
    /// # Errors
    /// [`Error::Corrupt`] with the first bad seq when known, or
    /// [`Error::RolledBack`]; store errors (including a caught store panic).
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut checker = ChainChecker::new(0, GENESIS)?;
        let mut chunks = 0u64;
        let mut chain_at_record = None;
        let record_seq = self.head_record.map(|r| r.seq);
        if record_seq == Some(0) {
            chain_at_record = Some(GENESIS);
        }
        let mut orphan = None;
        for entry in self.store.range(&keys::chunk(0), &[keys::CHUNK + 1]) {
            let (key, value) = entry?;
            let expected = checker.next_seq;
            let first =
                keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(expected, "malformed chunk key"))?;
            if first > self.head.seq {
                // Past this snapshot: an append made since (the store's
                // head covers it), or a chunk no head ever acknowledged.
                if !self.store_head_covers(first)? {
                    orphan = Some(first);
                }
                break;
            }
            let chunk = frame::decode_chunk(first, value).map_err(|(seq, why)| Error::corrupt(seq, why))?;
            let frames = checker.check(&chunk, Some(self))?;
            if let Some(f) = frames.iter().find(|f| Some(f.seq) == record_seq) {
                chain_at_record = Some(f.chain);
            }
            if self.store.get(&keys::time(checker.max_ts, first))?.is_none() {
                return Err(Error::corrupt(first, "the time index has no entry for this chunk"));
            }
            for scope in &chunk.scopes {
                if self.store.get(&keys::scope(scope, first))?.is_none() {
                    return Err(Error::corrupt(
                        first,
                        format!("the target index has no entry for {scope} in this chunk"),
                    ));
                }
            }
            chunks += 1;
        }
        let expected = checker.next_seq;
        let chain = checker.chain;
        let head_seq = expected - 1;
        let head = self.head();
        if let Some(first) = orphan {
            return Err(Error::corrupt(
                first,
                format!("the store's head metadata says seq {} but a chunk starts at seq {first}", head.seq),
            ));
        }
        if head.seq != head_seq || head.chain_hash != chain {
            return Err(Error::corrupt(
                head_seq.max(1),
                format!(
                    "the store's head metadata says seq {} but the chunks end at seq {head_seq}",
                    head.seq
                ),
            ));
        }
        match self.head_record {
            None => return Err(Error::corrupt(None, "the head record file HEAD is missing")),
            Some(rec) if rec.seq > head_seq => {
                return Err(Error::RolledBack { store_head: head_seq, record_head: rec.seq });
            }
            Some(rec) if chain_at_record != Some(rec.chain) => {
                return Err(Error::corrupt(rec.seq, "the chain hash differs from the head record's"));
            }
            Some(_) => {}
        }
        Ok(VerifyReport { events: head_seq, chunks, head_seq, chain_hex: crate::head::hex(&chain) })
    }
}

impl Snapshot {
    /// Whether the store's head metadata, as it is now, reaches `seq`.
    fn store_head_covers(&self, seq: u64) -> Result<bool> {
        let now = match self.store.get(&keys::meta(keys::META_HEAD))? {
            Some(v) => crate::log::Head::decode(v.as_ref()).map_or(0, |h| h.seq),
            None => 0,
        };
        Ok(now >= seq)
    }
}

/// One checked frame: its seq, ts, producer id and the chain hash after it.
#[derive(Debug, Clone)]
pub(crate) struct CheckedFrame {
    pub seq: u64,
    pub id: Option<String>,
    pub chain: [u8; frame::HASH_BYTES],
}

/// Checks chunks in seq order: continuity, every frame's check, each chunk's
/// chain hash, and that every body decompresses and decodes as its kind.
/// Shared by [`Snapshot::verify`], backup verification and restore.
pub(crate) struct ChainChecker {
    /// Chain hash after the last checked frame.
    pub chain: [u8; frame::HASH_BYTES],
    /// The seq the next chunk must start at.
    pub next_seq: u64,
    /// Greatest ts seen so far (UTC ns; `i64::MIN` before any).
    pub max_ts: i64,
    dctx: Decompressor,
    /// Raw bodies of each pane's last capture, by seq: the usual delta bases.
    panes: HashMap<u64, Vec<u8>>,
    pane_last: HashMap<String, u64>,
}

impl ChainChecker {
    /// A checker continuing after `after_seq`, whose chain hash is `chain`.
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

    /// Checks the next chunk; `log` resolves delta bases from before the
    /// first checked chunk (none when checking a backup from seq 1).
    pub(crate) fn check<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        log: Option<&Snapshot>,
    ) -> Result<Vec<CheckedFrame>> {
        let expected = self.next_seq;
        if chunk.first_seq != expected {
            let why = if chunk.first_seq > expected {
                format!("missing: the next stored chunk starts at seq {}", chunk.first_seq)
            } else {
                format!("overlap: a chunk starts at seq {}", chunk.first_seq)
            };
            return Err(Error::corrupt(expected, why));
        }
        let block = crate::log::decode_block(chunk, &mut self.dctx)?;
        let mut out = Vec::with_capacity(chunk.frames.len());
        for f in &chunk.frames {
            let next = chunk.chain_step(&self.chain, f, block.as_deref());
            if next[..frame::CHECK_BYTES] != f.check {
                return Err(Error::corrupt(
                    f.seq,
                    "frame check does not match the hash chain (bytes changed)",
                ));
            }
            self.chain = next;
            self.max_ts = self.max_ts.max(f.ts_ns);
            let base = f.seq - f.ref_back;
            let raw = match (self.panes.get(&base), log) {
                (Some(p), _) => crate::log::decode_raw(chunk, f, &mut self.dctx, Some(p), block.as_deref())?,
                (None, Some(log)) => log.decode_raw(chunk, f, &mut self.dctx, None, block.as_deref())?,
                (None, None) => crate::log::decode_raw(chunk, f, &mut self.dctx, None, block.as_deref())?,
            };
            let event = codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw)
                .map_err(|e| Error::corrupt(f.seq, e))?;
            if f.kind == Kind::Capture
                && let Some(scope) = chunk.scope(f)
            {
                if let Some(old) = self.pane_last.insert(scope.to_owned(), f.seq) {
                    self.panes.remove(&old);
                }
                self.panes.insert(f.seq, raw);
            }
            out.push(CheckedFrame { seq: f.seq, id: event.id, chain: next });
        }
        if chunk.chain_end != self.chain {
            return Err(Error::corrupt(
                chunk.last_seq(),
                "chunk chain hash does not match the recomputed chain",
            ));
        }
        self.next_seq = chunk.last_seq() + 1;
        Ok(out)
    }
}
