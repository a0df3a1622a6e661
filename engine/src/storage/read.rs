//! Reading chunks and frames through the index and the segments: the
//! storage's read path, used by snapshots ([`crate::Snapshot`]), recovery
//! and sealing. Nothing here knows about `Log` or `Snapshot`.

use crate::error::{Error, Result};
use crate::storage::compress::Decompressor;
use crate::storage::frame::{self, Encoding};
use crate::storage::index::Index;
use crate::storage::keys;
use crate::storage::segment::{Pointer, Segments};
use orc_log_schemas::Kind;

/// A frame read back: header facts and the raw (uncompressed) body.
pub(crate) struct RawFrame {
    pub kind: Kind,
    pub ts_ns: i64,
    pub scope: Option<String>,
    pub raw: Vec<u8>,
    pub depth: u32,
}

/// A view of the index and the segments up to seq `head_seq`.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub index: &'a Index,
    pub segs: &'a Segments,
    /// The last seq this view reads (later seqs read as missing).
    pub head_seq: u64,
}

impl Reader<'_> {
    /// Seq of the last capture of `scope`, looking back through at most 64
    /// chunks that mention the scope (older captures are not worth a delta).
    pub(crate) fn last_capture_seq(&self, scope: &str) -> Result<Option<u64>> {
        let prefix = keys::scope_prefix(scope);
        let mut below = u64::MAX;
        for _ in 0..64 {
            // The latest chunk before `below` with the scope: its own entry or a wide chunk.
            let narrow = self.index.last_at_or_before(&prefix, &keys::scope(scope, below))?;
            let wide = self.index.last_at_or_before(&[keys::WIDE], &keys::wide(below))?;
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
        match self.index.get(&keys::chunk(first_seq))? {
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
                // read: read the index again (once), after the switch.
                self.segs.settled_generation();
                let now = self.index.get(&keys::chunk(first_seq))?;
                match now.as_ref().map(|v| v.as_ref()).and_then(Pointer::decode) {
                    Some(p) if p != ptr => self.segs.read(p, first_seq)?,
                    Some(_) => return Err(e),
                    None => {
                        // The chunk was repacked into one that starts earlier.
                        let Some((key, v)) =
                            self.index.last_at_or_before(&[keys::CHUNK], &keys::chunk(first_seq))?
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
        if seq == 0 || seq > self.head_seq {
            return Ok(None);
        }
        let Some((key, v)) = self.index.last_at_or_before(&[keys::CHUNK], &keys::chunk(seq))? else {
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
