//! [`ChainChecker`]: recomputing the hash chain over consecutive chunks,
//! decoding every body. Used by verification, recovery, sealing, backups and
//! upgrades.

use crate::error::{Error, Result};
use crate::storage::codec;
use crate::storage::compress::Decompressor;
use crate::storage::frame;
use crate::storage::read::Reader;
use orc_log_schemas::{Event, Kind};
use std::collections::HashMap;

/// One checked frame: its seq, the event and the chain hash after it.
#[derive(Debug, Clone)]
pub(crate) struct CheckedFrame {
    pub seq: u64,
    pub event: Event,
    pub chain: [u8; frame::HASH_BYTES],
    /// A redacted body's chain digest (the original body's).
    pub digest: Option<[u8; frame::HASH_BYTES]>,
    /// Whether the body expired (its stub is stored).
    pub expired: bool,
    /// For an expired frame: the chain hash after it, when stored.
    pub chain_after: Option<[u8; frame::HASH_BYTES]>,
}

/// The error for a chunk whose stored chain hash differs from the one
/// recomputed over its events.
pub(crate) fn chain_mismatch<B: AsRef<[u8]>>(chunk: &frame::Chunk<B>) -> Error {
    Error::corrupt(
        chunk.first_seq,
        format!(
            "the chain hash of the chunk of seqs {}..={} does not match the recomputed chain",
            chunk.first_seq,
            chunk.last_seq()
        ),
    )
}

/// Recomputes the hash chain over consecutive chunks, decoding every body.
/// Used by `Snapshot::verify`, recovery, backup verification and upgrades.
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
            crate::storage::read::decode_block(chunk, 0, &mut self.dctx)?,
            crate::storage::read::decode_block(chunk, 1, &mut self.dctx)?,
        ])
    }

    /// Decodes every body of the version 2 `chunk` that follows the last
    /// one (continuity, decompression, bincode as its kind) without hashing,
    /// and returns the raw bodies in frame order. The caller chains them.
    pub(crate) fn decode_frames<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        log: Option<&Reader<'_>>,
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
        log: Option<&Reader<'_>>,
    ) -> Result<Vec<u8>> {
        let base = f.seq - f.ref_back;
        let block = blocks[f.block].as_deref();
        let raw = match (self.panes.get(&base), log) {
            (Some(p), _) => crate::storage::read::decode_raw(chunk, f, &mut self.dctx, Some(p), block)?,
            (None, Some(log)) => log.decode_raw(chunk, f, &mut self.dctx, None, block)?,
            (None, None) => crate::storage::read::decode_raw(chunk, f, &mut self.dctx, None, block)?,
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
    /// raw bodies), version 3 chunks by format 3's (chain over the bodies'
    /// digests).
    pub(crate) fn check<B: AsRef<[u8]>>(
        &mut self,
        chunk: &frame::Chunk<B>,
        log: Option<&Reader<'_>>,
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
                chain = chunk.chain_step(&chain, f, &raw);
            }
            self.max_ts = self.max_ts.max(f.ts_ns);
            let event = codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw)
                .map_err(|e| Error::corrupt(f.seq, e))?;
            out.push(CheckedFrame {
                seq: f.seq,
                event,
                chain,
                digest: f.digest,
                expired: f.expired,
                chain_after: f.chain_after,
            });
        }
        if chunk.chain_end != chain {
            return Err(chain_mismatch(chunk));
        }
        self.chain = chain;
        self.next_seq = chunk.last_seq() + 1;
        Ok(out)
    }
}
