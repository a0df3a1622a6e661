//! Whole-log verification: structure, gaps, hash chain, bodies, indexes, head.

use crate::codec;
use crate::compress::Decompressor;
use crate::error::{Error, Result};
use crate::frame::{self, GENESIS};
use crate::keys;
use crate::log::Log;
use orc_log_schemas::Kind;
use std::collections::HashMap;

/// What a successful [`Log::verify`] checked.
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

impl Log {
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
        let mut dctx = Decompressor::new().map_err(Error::Invalid)?;
        let mut chain = GENESIS;
        let mut expected = 1u64;
        let mut chunks = 0u64;
        let mut running_max = i64::MIN;
        let mut panes: HashMap<u64, Vec<u8>> = HashMap::new();
        let mut pane_last: HashMap<String, u64> = HashMap::new();
        let mut chain_at_record = None;
        let record_seq = self.head_record.map(|r| r.seq);
        if record_seq == Some(0) {
            chain_at_record = Some(GENESIS);
        }
        for entry in self.store.range(&keys::chunk(0), &[keys::CHUNK + 1]) {
            let (key, value) = entry?;
            let first =
                keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(expected, "malformed chunk key"))?;
            if first != expected {
                let why = if first > expected {
                    format!("missing: the next stored chunk starts at seq {first}")
                } else {
                    format!("overlap: a chunk starts at seq {first}")
                };
                return Err(Error::corrupt(expected, why));
            }
            let chunk = frame::decode_chunk(first, value).map_err(|(seq, why)| Error::corrupt(seq, why))?;
            let block = Self::decode_block(&chunk, &mut dctx)?;
            for f in &chunk.frames {
                let next = chunk.chain_step(&chain, f, block.as_deref());
                if next[..frame::CHECK_BYTES] != f.check {
                    return Err(Error::corrupt(
                        f.seq,
                        "frame check does not match the hash chain (bytes changed)",
                    ));
                }
                chain = next;
                if record_seq == Some(f.seq) {
                    chain_at_record = Some(chain);
                }
                running_max = running_max.max(f.ts_ns);
                let prefix = panes.get(&(f.seq - f.ref_back)).map(Vec::as_slice);
                let raw = self.decode_raw(&chunk, f, &mut dctx, prefix, block.as_deref())?;
                let bad = |e: String| Error::corrupt(f.seq, e);
                codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw).map_err(bad)?;
                if f.kind == Kind::Capture
                    && let Some(scope) = chunk.scope(f)
                {
                    // Keep only each pane's latest capture body: the usual delta prefix.
                    if let Some(old) = pane_last.insert(scope.to_owned(), f.seq) {
                        panes.remove(&old);
                    }
                    panes.insert(f.seq, raw);
                }
            }
            if chunk.chain_end != chain {
                return Err(Error::corrupt(
                    chunk.last_seq(),
                    "chunk chain hash does not match the recomputed chain",
                ));
            }
            if self.store.get(&keys::time(running_max, first))?.is_none() {
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
            expected = chunk.last_seq() + 1;
            chunks += 1;
        }
        let head_seq = expected - 1;
        let head = self.head();
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
