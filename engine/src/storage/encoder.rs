//! [`Encoder`]: compressing a chunk's bodies and encoding the chunk.
//!
//! Used by appends (`log.rs`) and by sealing (`seal.rs`), each with its own
//! compressors, so a seal can pack a segment off the writer lock.

use crate::config::Config;
use crate::error::Result;
use crate::error::zstd_err;
use crate::storage::compress::Compressor;
use crate::storage::frame::{self, Encoding, HASH_BYTES, PendingFrame};
use orc_log_schemas::Kind;
use std::collections::{HashMap, HashSet};

/// zstd level of a chunk's column header.
const HEADER_LEVEL: i32 = 3;

/// The last capture of a pane, the prefix for the next one.
#[derive(Debug, Clone)]
pub(crate) struct PaneState {
    pub(crate) seq: u64,
    pub(crate) raw: Vec<u8>,
    /// Delta steps since the last keyframe (0 = this capture is a keyframe).
    pub(crate) depth: u32,
}

/// The compressors of one writer and the settings they follow.
pub(crate) struct Encoder {
    config: Config,
    event_zstd: Compressor,
    capture_zstd: Compressor,
    block_zstd: Compressor,
    header_zstd: Compressor,
}

impl Encoder {
    /// Compressors at `config`'s levels, with blocks at `block_level`
    /// (`config.block_level` for appends, `config.seal_level` for seals).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] when zstd cannot make a context.
    pub(crate) fn new(config: &Config, block_level: i32) -> Result<Self> {
        Ok(Self {
            config: config.clone(),
            event_zstd: Compressor::new(config.event_level).map_err(zstd_err)?,
            capture_zstd: Compressor::new(config.capture_level).map_err(zstd_err)?,
            block_zstd: Compressor::new(block_level).map_err(zstd_err)?,
            header_zstd: Compressor::new(HEADER_LEVEL).map_err(zstd_err)?,
        })
    }

    /// Encodes one version 2 chunk (see [`frame::encode_chunk`]).
    pub(crate) fn encode(
        &mut self,
        first_seq: u64,
        frames: &[PendingFrame],
        blocks: [Option<&frame::Block>; 2],
        prev: [u8; HASH_BYTES],
    ) -> Result<(Vec<u8>, [u8; HASH_BYTES])> {
        frame::encode_chunk(first_seq, frames, blocks, prev, &mut self.header_zstd).map_err(zstd_err)
    }

    /// Compresses the raw bodies of one chunk's frames (seqs `first_seq..`)
    /// and returns the chunk's block, if any. A chunk of at least
    /// `shared_min_frames` frames puts every body in the block (one zstd
    /// frame at `block_level`, its window spanning the block). In a smaller
    /// chunk a capture is compressed against its pane's previous capture
    /// (ZstdRef) while the pane's delta run is shorter than
    /// `keyframe_interval`; every other body goes to the block when there
    /// are at least two of them, else it is compressed alone. Pane states
    /// for later deltas are recorded in `panes`; a pane not in `panes` gets
    /// its base from `pane_state`. With `all_blocks`, every body goes in a
    /// block whatever the chunk's size (sealing).
    pub(crate) fn compress_chunk(
        &mut self,
        first_seq: u64,
        frames: &mut [PendingFrame],
        panes: &mut HashMap<String, PaneState>,
        all_blocks: bool,
        pane_state: &mut dyn FnMut(&str) -> Result<Option<PaneState>>,
    ) -> Result<[Option<frame::Block>; 2]> {
        let all_shared = all_blocks || frames.len() >= self.config.shared_min_frames.max(1);
        // Decide the delta captures first; the rest share the block.
        let mut delta: Vec<Option<PaneState>> = Vec::with_capacity(frames.len());
        for f in frames.iter() {
            let base = match (all_shared, f.kind, &f.scope) {
                (false, Kind::Capture, Some(scope)) => {
                    let prev = match panes.get(scope) {
                        Some(p) => Some(p.clone()),
                        None => pane_state(scope)?,
                    };
                    prev.filter(|p| p.depth + 1 < self.config.keyframe_interval)
                }
                _ => None,
            };
            // Later captures of the same pane in this chunk chain onto this one.
            if !all_shared
                && f.kind == Kind::Capture
                && let Some(scope) = &f.scope
            {
                let seq = first_seq + delta.len() as u64;
                let depth = base.as_ref().map_or(0, |p| p.depth + 1);
                panes.insert(scope.clone(), PaneState { seq, raw: f.raw.clone(), depth });
            }
            delta.push(base);
        }
        if all_shared {
            // Only each pane's last capture matters for later deltas.
            let mut seen = HashSet::new();
            for (i, f) in frames.iter().enumerate().rev() {
                if f.kind == Kind::Capture
                    && let Some(scope) = &f.scope
                    && seen.insert(scope.as_str())
                {
                    let seq = first_seq + i as u64;
                    panes.insert(scope.clone(), PaneState { seq, raw: f.raw.clone(), depth: 0 });
                }
            }
        }
        // Block 0 takes the other kinds' bodies, block 1 the captures'; a
        // block is used when the chunk is large or it gets at least two bodies.
        let mut in_block = [0usize; 2];
        for (f, d) in frames.iter().zip(&delta) {
            if d.is_none() {
                in_block[usize::from(f.kind == Kind::Capture)] += 1;
            }
        }
        let use_block = in_block.map(|n| n > 0 && (all_shared || n >= 2));
        let mut block_raw = [Vec::new(), Vec::new()];
        for (i, (f, base)) in frames.iter_mut().zip(delta).enumerate() {
            let which = usize::from(f.kind == Kind::Capture);
            let seq = first_seq + i as u64;
            f.body.clear();
            f.ref_back = 0;
            match base {
                Some(p) => {
                    self.capture_zstd.compress(&f.raw, Some(&p.raw), &mut f.body).map_err(zstd_err)?;
                    f.encoding = Encoding::ZstdRef;
                    f.ref_back = seq - p.seq;
                }
                None if use_block[which] => {
                    f.encoding = Encoding::Shared;
                    block_raw[which].extend_from_slice(&f.raw);
                }
                None => {
                    self.event_zstd.compress(&f.raw, None, &mut f.body).map_err(zstd_err)?;
                    f.encoding = Encoding::Zstd;
                }
            }
            if f.encoding != Encoding::Shared && f.body.len() >= f.raw.len() {
                f.encoding = Encoding::Raw;
                f.ref_back = 0;
                f.body.clone_from(&f.raw);
                if f.kind == Kind::Capture
                    && let Some(scope) = &f.scope
                    && let Some(p) = panes.get_mut(scope)
                    && p.seq == seq
                {
                    p.depth = 0;
                }
            }
        }
        let mut blocks = [None, None];
        for (which, raw) in block_raw.into_iter().enumerate() {
            if !use_block[which] {
                continue;
            }
            let mut bytes = Vec::new();
            self.block_zstd.compress(&raw, None, &mut bytes).map_err(zstd_err)?;
            let raw_len = raw.len() as u64;
            blocks[which] = Some(if bytes.len() < raw.len() {
                frame::Block { encoding: frame::BlockEncoding::Zstd, raw_len, bytes }
            } else {
                frame::Block { encoding: frame::BlockEncoding::Raw, raw_len, bytes: raw }
            });
        }
        Ok(blocks)
    }
}
