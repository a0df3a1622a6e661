//! Chunks and frames: the byte layout of stored events and the hash chain.
//!
//! A *chunk* packs the frames of consecutive seqs written by one commit into
//! one record of a segment file (keyed in the index by its first seq).
//! Version 2 chunks (written now) store the fixed header fields of all their
//! frames column by column in one small (usually compressed) header, so
//! scans on seq, ts, kind and target never decompress a body; the bodies
//! follow, most often all in one zstd block. Version 1 chunks (format 1
//! databases, read only to upgrade them) interleave a row header, the body
//! and a 4-byte check per frame. `engine/FORMAT.md` gives every byte; this
//! module is the one place that reads or writes them.

use crate::storage::varint::{self, Reader};
use orc_log_schemas::Kind;
use std::ops::Range;

/// Chunk layout version written as the first byte of every new chunk
/// (format 3: the layout of version 2, chained over body digests).
pub(crate) const CHUNK_VERSION: u8 = 3;
/// The chunks of format 2 databases: the same layout, chained over raw
/// bodies (read for upgrades and old backups only).
pub(crate) const CHUNK_VERSION_2: u8 = 2;
/// The layout of format 1 databases (read for upgrades only).
pub(crate) const CHUNK_VERSION_1: u8 = 1;
/// A column header shorter than this is stored raw (zstd would not pay).
const HEADER_COMPRESS_MIN: usize = 64;
/// Bytes of the per-frame check (a prefix of the frame's chain hash).
pub(crate) const CHECK_BYTES: usize = 4;
/// Bytes of a chain hash (blake3).
pub(crate) const HASH_BYTES: usize = 32;
/// Largest raw body accepted, in bytes (16 MiB).
pub(crate) const MAX_RAW_BYTES: u32 = 16 * 1024 * 1024;

const FLAG_HAS_SCOPE: u8 = 0x80;
/// Version 3 only: the body was redacted (replaced); the chain takes the
/// original body's digest, stored in the header's digest column.
const FLAG_REDACTED: u8 = 0x20;
/// Version 3 only, never with `FLAG_REDACTED`: the body expired under a
/// retention rule and the stored body is its stub; the chain does not step
/// over it (FORMAT.md, "Retention and compaction").
const FLAG_EXPIRED: u8 = 0x40;
/// Version 3 only, with `FLAG_EXPIRED`: the digest column holds the chain
/// hash after this frame (the end of a run of expired frames).
const FLAG_CHAIN_AFTER: u8 = 0x10;
const FLAG_ENCODING_MASK: u8 = 0x03;

/// The chain hash before seq 1: 32 zero bytes.
pub(crate) const GENESIS: [u8; HASH_BYTES] = [0; HASH_BYTES];

/// How a body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Stored as is.
    Raw = 0,
    /// zstd, no history.
    Zstd = 1,
    /// zstd with the raw body of the frame `ref_back` seqs earlier as prefix.
    ZstdRef = 2,
    /// Part of the chunk's shared block: the captures of a chunk with many
    /// captures are compressed together, one after the other.
    Shared = 3,
}

impl Encoding {
    fn from_bits(b: u8) -> Option<Self> {
        match b {
            0 => Some(Encoding::Raw),
            1 => Some(Encoding::Zstd),
            2 => Some(Encoding::ZstdRef),
            3 => Some(Encoding::Shared),
            _ => None,
        }
    }
}

/// How a chunk's shared block is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockEncoding {
    /// As is.
    Raw = 1,
    /// zstd, no history.
    Zstd = 2,
}

/// A chunk's shared block: the raw bodies of its `Shared` frames, in order.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub encoding: BlockEncoding,
    pub raw_len: u64,
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

/// A frame ready to be packed: `raw` is the canonical body (hashed into the
/// chain), `body` what is stored for it (empty for a `Shared` frame, whose
/// raw body is part of the chunk's block).
#[derive(Debug, Clone)]
pub(crate) struct PendingFrame {
    pub ts_ns: i64,
    pub kind: Kind,
    pub encoding: Encoding,
    pub scope: Option<String>,
    /// Distance back to the prefix frame (ZstdRef only), else 0.
    pub ref_back: u64,
    pub raw_len: u32,
    pub body: Vec<u8>,
    pub raw: Vec<u8>,
    /// For a redacted body: the digest of the original body, which the
    /// chain takes instead of `raw`'s (FORMAT.md, "Redaction").
    pub digest: Option<[u8; HASH_BYTES]>,
    /// The body expired and `raw` is its stub (`digest` is then `None`).
    pub expired: bool,
    /// For an expired frame: the chain hash after it, when stored (always
    /// for the last frame of a chunk).
    pub chain_after: Option<[u8; HASH_BYTES]>,
}

impl PendingFrame {
    /// Frame `f` of `chunk` again, its body `raw` stored raw (to be
    /// re-encoded by the sealer), with the original body's `digest` when
    /// `raw` is a redacted body; an expired frame stays expired, with its
    /// chain hash after it when `f` stores one.
    pub fn raw_again<B: AsRef<[u8]>>(
        chunk: &Chunk<B>,
        f: &FrameHeader,
        raw: Vec<u8>,
        digest: Option<[u8; HASH_BYTES]>,
    ) -> Self {
        PendingFrame {
            ts_ns: f.ts_ns,
            kind: f.kind,
            encoding: Encoding::Raw,
            scope: chunk.scope(f).map(str::to_owned),
            ref_back: 0,
            raw_len: raw.len() as u32,
            body: Vec::new(),
            raw,
            expired: f.expired,
            chain_after: f.chain_after,
            digest: if f.expired { None } else { digest },
        }
    }
}

/// What the frame of a replaced body keeps (FORMAT.md, "Redaction" and
/// "Retention and compaction").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replaced {
    /// Redacted: the digest the chain took.
    Redacted([u8; HASH_BYTES]),
    /// Expired (the body is its stub): the chain hash after it, if stored.
    Expired(Option<[u8; HASH_BYTES]>),
}

/// One parsed frame header; `body` indexes the chunk's bytes.
#[derive(Debug, Clone)]
pub(crate) struct FrameHeader {
    pub seq: u64,
    pub ts_ns: i64,
    pub kind: Kind,
    pub encoding: Encoding,
    /// Index into [`Chunk::scopes`].
    pub scope: Option<usize>,
    pub ref_back: u64,
    pub raw_len: u32,
    /// The stored body in the chunk's bytes (empty for `Shared`).
    pub body: Range<usize>,
    /// For `Shared`: which block holds the raw body (version 2: 1 for
    /// captures, 0 for every other kind; version 1: 0).
    pub block: usize,
    /// For `Shared`: the raw body's range in the decompressed block.
    pub shared: Option<Range<usize>>,
    pub check: [u8; CHECK_BYTES],
    /// Bytes this frame occupies in the chunk (header + body + check), plus,
    /// for `Shared`, its share of the block's stored bytes (by raw length).
    pub stored_len: usize,
    /// Version 3, a redacted body: the original body's digest (the chain
    /// takes it instead of the stored body's).
    pub digest: Option<[u8; HASH_BYTES]>,
    /// Version 3, an expired body: the stored body is the stub a retention
    /// rule left, and the chain does not step over it.
    pub expired: bool,
    /// Version 3, an expired frame that ends a run of expired frames: the
    /// chain hash after it.
    pub chain_after: Option<[u8; HASH_BYTES]>,
}

/// A parsed chunk over its stored bytes.
#[derive(Debug)]
pub(crate) struct Chunk<B> {
    /// Layout version (1 or 2); it also selects the hash chain's rule.
    pub version: u8,
    pub first_seq: u64,
    pub bytes: B,
    pub scopes: Vec<String>,
    pub frames: Vec<FrameHeader>,
    /// The blocks (version 2: bodies of other kinds, then of captures;
    /// version 1: the captures' shared block, then none): encoding, raw
    /// length and range of the stored bytes.
    pub blocks: [Option<BlockSpec>; 2],
    /// The chain hash after the last frame.
    pub chain_end: [u8; HASH_BYTES],
}

impl<B: AsRef<[u8]>> Chunk<B> {
    /// The last seq in the chunk.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.frames.len() as u64 - 1
    }

    pub fn body(&self, f: &FrameHeader) -> &[u8] {
        &self.bytes.as_ref()[f.body.clone()]
    }

    pub fn scope(&self, f: &FrameHeader) -> Option<&str> {
        f.scope.map(|i| self.scopes[i].as_str())
    }

    /// The version 1 chain hash after frame `f`, given the hash before it.
    /// `block_raw` is the decompressed shared block (needed for `Shared`
    /// frames only). Version 2 chunks hash raw bodies: [`chain_step_v2`].
    pub fn chain_step_v1(
        &self,
        prev: &[u8; HASH_BYTES],
        f: &FrameHeader,
        block_raw: Option<&[u8]>,
    ) -> [u8; HASH_BYTES] {
        let body = match (&f.shared, block_raw) {
            (Some(r), Some(raw)) => raw.get(r.clone()).unwrap_or(&[]),
            (Some(_), None) => &[],
            (None, _) => self.body(f),
        };
        chain_step_v1(prev, f.seq, f.ts_ns, f.kind, f.encoding, self.scope(f), f.ref_back, f.raw_len, body)
    }

    /// The chain hash after frame `f` of a version 2 or 3 chunk, given the
    /// hash before it and the frame's raw body: [`chain_step_v3`] over the
    /// body's digest for version 3, [`chain_step_v2`] over the raw body for
    /// version 2.
    pub fn chain_step(&self, prev: &[u8; HASH_BYTES], f: &FrameHeader, raw: &[u8]) -> [u8; HASH_BYTES] {
        if self.version == CHUNK_VERSION_2 {
            chain_step_v2(prev, f.seq, f.ts_ns, f.kind, self.scope(f), raw)
        } else if f.expired {
            // The chain skips an expired frame; the last of a run stores
            // the hash after it (FORMAT.md, "Retention and compaction").
            f.chain_after.unwrap_or(*prev)
        } else {
            let digest = f.digest.unwrap_or_else(|| body_digest(raw));
            chain_step_v3(prev, f.seq, f.ts_ns, f.kind, self.scope(f), &digest)
        }
    }

    /// The chain hash after the frames up to seq `until` (all of them for
    /// `u64::MAX`), from `prev` (the hash before the chunk), given each
    /// frame's raw body in order ([`Chunk::chain_step`]).
    pub fn chain_through(&self, prev: [u8; HASH_BYTES], raws: &[Vec<u8>], until: u64) -> [u8; HASH_BYTES] {
        let mut chain = prev;
        for (f, raw) in self.frames.iter().zip(raws).take_while(|(f, _)| f.seq <= until) {
            chain = self.chain_step(&chain, f, raw);
        }
        chain
    }

    /// Block `which`'s stored bytes, if the chunk has that block.
    pub fn block_bytes(&self, which: usize) -> Option<(BlockEncoding, u64, &[u8])> {
        self.blocks.get(which)?.as_ref().map(|(e, raw, r)| (*e, *raw, &self.bytes.as_ref()[r.clone()]))
    }
}

/// The format 1 chain hash of one frame: blake3 over the previous hash and
/// the frame's stored bytes (FORMAT.md, "Format 1").
#[allow(clippy::too_many_arguments)]
pub(crate) fn chain_step_v1(
    prev: &[u8; HASH_BYTES],
    seq: u64,
    ts_ns: i64,
    kind: Kind,
    encoding: Encoding,
    scope: Option<&str>,
    ref_back: u64,
    raw_len: u32,
    body: &[u8],
) -> [u8; HASH_BYTES] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&seq.to_be_bytes());
    h.update(&ts_ns.to_be_bytes());
    h.update(&[kind.code(), encoding as u8]);
    let scope = scope.unwrap_or("");
    h.update(&(scope.len() as u32).to_be_bytes());
    h.update(scope.as_bytes());
    h.update(&ref_back.to_be_bytes());
    h.update(&raw_len.to_be_bytes());
    h.update(&(body.len() as u32).to_be_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

/// Packs `frames` (seqs `first_seq..`) after chain hash `prev` in the
/// version 1 layout (tests build format 1 chunks with it).
///
/// Returns the chunk bytes and the chain hash after its last frame.
#[cfg(test)]
pub(crate) fn encode_chunk_v1(
    first_seq: u64,
    frames: &[PendingFrame],
    block: Option<&Block>,
    prev: [u8; HASH_BYTES],
) -> (Vec<u8>, [u8; HASH_BYTES]) {
    let mut scopes: Vec<&str> = Vec::new();
    for f in frames {
        if let Some(s) = f.scope.as_deref()
            && !scopes.contains(&s)
        {
            scopes.push(s);
        }
    }
    let body_bytes: usize = frames.iter().map(|f| f.body.len() + 16).sum();
    let mut out = Vec::with_capacity(body_bytes + 64);
    out.push(CHUNK_VERSION_1);
    varint::put_u64(&mut out, frames.len() as u64);
    let base_ts = frames.first().map_or(0, |f| f.ts_ns);
    varint::put_i64(&mut out, base_ts);
    varint::put_u64(&mut out, scopes.len() as u64);
    for s in &scopes {
        varint::put_u64(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    put_block(&mut out, block);
    let mut chain = prev;
    let mut prev_ts = base_ts;
    for (i, f) in frames.iter().enumerate() {
        let seq = first_seq + i as u64;
        let scope_idx = f.scope.as_deref().and_then(|s| scopes.iter().position(|x| *x == s));
        out.push(f.kind.code());
        out.push(f.encoding as u8 | if scope_idx.is_some() { FLAG_HAS_SCOPE } else { 0 });
        varint::put_i64(&mut out, f.ts_ns.wrapping_sub(prev_ts));
        prev_ts = f.ts_ns;
        if let Some(idx) = scope_idx {
            varint::put_u64(&mut out, idx as u64);
        }
        if f.encoding == Encoding::ZstdRef {
            varint::put_u64(&mut out, f.ref_back);
        }
        varint::put_u64(&mut out, u64::from(f.raw_len));
        let stored: &[u8] = if f.encoding == Encoding::Shared { &[] } else { &f.body };
        varint::put_u64(&mut out, stored.len() as u64);
        out.extend_from_slice(stored);
        chain = chain_step_v1(
            &chain,
            seq,
            f.ts_ns,
            f.kind,
            f.encoding,
            f.scope.as_deref(),
            f.ref_back,
            f.raw_len,
            &f.body,
        );
        out.extend_from_slice(&chain[..CHECK_BYTES]);
    }
    out.extend_from_slice(&chain);
    (out, chain)
}

/// A block as parsed: encoding, raw length and the range of its stored bytes.
pub(crate) type BlockSpec = (BlockEncoding, u64, Range<usize>);

/// Writes a block slot: `0` for none, else its encoding byte, raw length,
/// stored length and stored bytes (FORMAT.md, "Chunks"). A version 2
/// chunk's column header is written the same way.
fn put_block(out: &mut Vec<u8>, block: Option<&Block>) {
    match block {
        None => out.push(0),
        Some(b) => {
            out.push(b.encoding as u8);
            varint::put_u64(out, b.raw_len);
            varint::put_u64(out, b.bytes.len() as u64);
            out.extend_from_slice(&b.bytes);
        }
    }
}

/// Reads a block slot written by [`put_block`] (`None` for an absent
/// block), leaving `r` after its bytes.
///
/// # Errors
/// Why the bytes are not a block slot.
fn read_block(r: &mut Reader<'_>) -> Result<Option<BlockSpec>, String> {
    match r.u8().ok_or("truncated block flag")? {
        0 => Ok(None),
        code @ (1 | 2) => {
            let enc = if code == 1 { BlockEncoding::Raw } else { BlockEncoding::Zstd };
            let raw_len = r.u64().ok_or("truncated block length")?;
            let stored = r.u64().ok_or("truncated block length")?;
            if stored > r.remaining() as u64 || raw_len > u64::from(MAX_RAW_BYTES) * 4 {
                return Err("block length runs past the chunk".into());
            }
            let start = r.pos;
            r.pos += stored as usize;
            Ok(Some((enc, raw_len, start..r.pos)))
        }
        other => Err(format!("unknown block encoding {other}")),
    }
}

/// Parses a chunk's structure (version 1, 2 or 3): no body is decompressed
/// and no hash checked; a version 2 or 3 chunk's column header is
/// decompressed.
///
/// # Errors
/// `(seq, reason)`: the seq being parsed when the bytes stopped making sense.
pub(crate) fn decode_chunk<B: AsRef<[u8]>>(first_seq: u64, bytes: B) -> Result<Chunk<B>, (u64, String)> {
    match bytes.as_ref().first() {
        Some(&v @ (CHUNK_VERSION | CHUNK_VERSION_2)) => decode_chunk_v2(v, first_seq, bytes),
        Some(&CHUNK_VERSION_1) => decode_chunk_v1(first_seq, bytes),
        Some(v) => Err((first_seq, format!("chunk at seq {first_seq}: unknown chunk version {v}"))),
        None => Err((first_seq, format!("chunk at seq {first_seq}: empty chunk"))),
    }
}

fn decode_chunk_v1<B: AsRef<[u8]>>(first_seq: u64, bytes: B) -> Result<Chunk<B>, (u64, String)> {
    let buf = bytes.as_ref();
    let mut r = Reader::new(buf);
    let bad = |seq: u64, what: &str| (seq, format!("chunk at seq {first_seq}: {what}"));
    let _version = r.u8().ok_or_else(|| bad(first_seq, "empty chunk"))?;
    let count = r.u64().ok_or_else(|| bad(first_seq, "truncated frame count"))?;
    if count == 0 || count > buf.len() as u64 {
        return Err(bad(first_seq, &format!("impossible frame count {count}")));
    }
    let base_ts = r.i64().ok_or_else(|| bad(first_seq, "truncated base time"))?;
    let nscopes = r.u64().ok_or_else(|| bad(first_seq, "truncated scope count"))?;
    if nscopes > count {
        return Err(bad(first_seq, &format!("{nscopes} scopes for {count} frames")));
    }
    let mut scopes = Vec::with_capacity(nscopes as usize);
    for _ in 0..nscopes {
        let len = r.u64().ok_or_else(|| bad(first_seq, "truncated scope"))?;
        let s = r.bytes(len as usize).ok_or_else(|| bad(first_seq, "truncated scope"))?;
        let s = std::str::from_utf8(s).map_err(|_| bad(first_seq, "scope is not UTF-8"))?;
        scopes.push(s.to_owned());
    }
    let block = read_block(&mut r).map_err(|why| bad(first_seq, &why))?;
    let mut shared_at = 0usize;
    let mut frames = Vec::with_capacity(count as usize);
    let mut ts = base_ts;
    for i in 0..count {
        let seq = first_seq + i;
        let start = r.pos;
        let trunc = |what: &str| (seq, format!("frame truncated ({what})"));
        let code = r.u8().ok_or_else(|| trunc("kind"))?;
        let kind = Kind::from_code(code).ok_or_else(|| (seq, format!("unknown kind code {code}")))?;
        let flags = r.u8().ok_or_else(|| trunc("flags"))?;
        if flags & !(FLAG_HAS_SCOPE | FLAG_ENCODING_MASK) != 0 {
            return Err((seq, format!("unknown flags {flags:#04x}")));
        }
        let encoding = Encoding::from_bits(flags & FLAG_ENCODING_MASK)
            .ok_or_else(|| (seq, format!("unknown encoding in flags {flags:#04x}")))?;
        ts = ts.wrapping_add(r.i64().ok_or_else(|| trunc("time"))?);
        let scope = if flags & FLAG_HAS_SCOPE != 0 {
            let idx = r.u64().ok_or_else(|| trunc("scope"))?;
            if idx >= nscopes {
                return Err((seq, format!("scope index {idx} out of {nscopes}")));
            }
            Some(idx as usize)
        } else {
            None
        };
        let ref_back = if encoding == Encoding::ZstdRef {
            let back = r.u64().ok_or_else(|| trunc("reference"))?;
            if back == 0 || back >= seq {
                return Err((seq, format!("reference {back} back is outside the log")));
            }
            back
        } else {
            0
        };
        let raw_len = r.u64().ok_or_else(|| trunc("raw length"))?;
        if raw_len > u64::from(MAX_RAW_BYTES) {
            return Err((seq, format!("raw length {raw_len} over the limit")));
        }
        let stored = r.u64().ok_or_else(|| trunc("stored length"))?;
        if stored > r.remaining() as u64 {
            return Err((seq, format!("stored length {stored} runs past the chunk")));
        }
        let shared = if encoding == Encoding::Shared {
            let Some((_, block_raw, _)) = &block else {
                return Err((seq, "shared frame in a chunk without a block".to_owned()));
            };
            let end = shared_at + raw_len as usize;
            if stored != 0 || end as u64 > *block_raw {
                return Err((seq, "shared frame does not fit the block".to_owned()));
            }
            let range = shared_at..end;
            shared_at = end;
            Some(range)
        } else {
            None
        };
        let body_start = r.pos;
        r.pos += stored as usize;
        let check: [u8; CHECK_BYTES] =
            r.bytes(CHECK_BYTES).and_then(|b| b.try_into().ok()).ok_or_else(|| trunc("check"))?;
        frames.push(FrameHeader {
            seq,
            ts_ns: ts,
            kind,
            encoding,
            scope,
            ref_back,
            raw_len: raw_len as u32,
            body: body_start..body_start + stored as usize,
            block: 0,
            shared,
            check,
            stored_len: r.pos - start,
            digest: None,
            expired: false,
            chain_after: None,
        });
    }
    let last = first_seq + count - 1;
    let chain_end: [u8; HASH_BYTES] = r
        .bytes(HASH_BYTES)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| (last, "chunk truncated (chain hash)".to_owned()))?;
    if r.remaining() != 0 {
        return Err((last, format!("{} unexpected bytes after the chunk", r.remaining())));
    }
    if let Some((_, block_raw, stored)) = &block {
        if shared_at as u64 != *block_raw {
            return Err((first_seq, "the block's length differs from its frames'".to_owned()));
        }
        // Attribute the block's stored bytes to its frames by raw length.
        let total = (*block_raw).max(1) as u128;
        for f in frames.iter_mut().filter(|f| f.shared.is_some()) {
            f.stored_len += (stored.len() as u128 * u128::from(f.raw_len) / total) as usize;
        }
    }
    Ok(Chunk { version: CHUNK_VERSION_1, first_seq, bytes, scopes, frames, blocks: [block, None], chain_end })
}

/// The chain hash after one event (format 2, read to upgrade and to check
/// old backups): blake3 over the previous hash
/// and the event's canonical encoding, independent of how it is stored
/// (FORMAT.md, "Hash chain"): seq (u64 BE), ts (i64 BE), kind code (u8),
/// scope length (u32 BE) and bytes, raw body length (u32 BE) and the raw
/// body (the bincode tuple). Repacking events into other chunks, blocks or
/// compression levels therefore keeps every hash.
pub(crate) fn chain_step_v2(
    prev: &[u8; HASH_BYTES],
    seq: u64,
    ts_ns: i64,
    kind: Kind,
    scope: Option<&str>,
    raw: &[u8],
) -> [u8; HASH_BYTES] {
    let mut h = chain_header(prev, seq, ts_ns, kind, scope);
    h.update(&(raw.len() as u32).to_be_bytes());
    h.update(raw);
    *h.finalize().as_bytes()
}

/// A chain step's hasher after the fields both formats share: the previous
/// hash, seq (u64 BE), ts (i64 BE), kind code (u8), scope length (u32 BE)
/// and bytes.
fn chain_header(
    prev: &[u8; HASH_BYTES],
    seq: u64,
    ts_ns: i64,
    kind: Kind,
    scope: Option<&str>,
) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&seq.to_be_bytes());
    h.update(&ts_ns.to_be_bytes());
    h.update(&[kind.code()]);
    let scope = scope.unwrap_or("");
    h.update(&(scope.len() as u32).to_be_bytes());
    h.update(scope.as_bytes());
    h
}

/// The digest of a raw body that the format 3 chain takes in its place:
/// blake3 of the body's bytes (the bincode tuple of FORMAT.md, "Bodies").
pub(crate) fn body_digest(raw: &[u8]) -> [u8; HASH_BYTES] {
    *blake3::hash(raw).as_bytes()
}

/// The chain hash after one event (format 3): blake3 over the previous
/// hash, the event's header fields and its body's digest (FORMAT.md, "Hash
/// chain"): seq (u64 BE), ts (i64 BE), kind code (u8), scope length (u32
/// BE) and bytes, then `digest` = [`body_digest`] of the raw body (32
/// bytes). Since only the digest enters the chain, a body can later be
/// replaced by its digest (or by other bytes, keeping the digest) while
/// every hash still checks, as QLDB's redaction keeps a revision's hash.
pub(crate) fn chain_step_v3(
    prev: &[u8; HASH_BYTES],
    seq: u64,
    ts_ns: i64,
    kind: Kind,
    scope: Option<&str>,
    digest: &[u8; HASH_BYTES],
) -> [u8; HASH_BYTES] {
    let mut h = chain_header(prev, seq, ts_ns, kind, scope);
    h.update(digest);
    *h.finalize().as_bytes()
}

/// Packs `frames` (seqs `first_seq..`) after chain hash `prev` in the
/// version 3 layout (version 2's bytes, chained by [`chain_step_v3`]): column header (compressed with `header_zstd` when that
/// is shorter), the two optional blocks (`blocks[0]`: the `Shared` bodies of
/// every kind but captures, `blocks[1]`: of captures, each in seq order), the
/// stored bodies of the frames that are not in a block, and the chain hash
/// after the last frame. Keeping captures apart lets a scan of the other
/// kinds skip the capture text, most of a log's bytes.
///
/// Returns the chunk bytes and that chain hash.
///
/// # Errors
/// A zstd error while compressing the header.
pub(crate) fn encode_chunk(
    first_seq: u64,
    frames: &[PendingFrame],
    blocks: [Option<&Block>; 2],
    prev: [u8; HASH_BYTES],
    header_zstd: &mut crate::storage::compress::Compressor,
) -> Result<(Vec<u8>, [u8; HASH_BYTES]), String> {
    if frames.last().is_some_and(|f| f.expired && f.chain_after.is_none()) {
        return Err("a chunk may not end inside a run of expired frames (its chain hash is unknown)".into());
    }
    let mut scopes: Vec<&str> = Vec::new();
    let mut scope_idx = Vec::with_capacity(frames.len());
    for f in frames {
        scope_idx.push(f.scope.as_deref().map(|s| match scopes.iter().position(|x| *x == s) {
            Some(i) => i,
            None => {
                scopes.push(s);
                scopes.len() - 1
            }
        }));
    }
    let mut hdr = Vec::with_capacity(frames.len() * 8 + 64);
    let base_ts = frames.first().map_or(0, |f| f.ts_ns);
    varint::put_i64(&mut hdr, base_ts);
    varint::put_u64(&mut hdr, scopes.len() as u64);
    for s in &scopes {
        varint::put_u64(&mut hdr, s.len() as u64);
        hdr.extend_from_slice(s.as_bytes());
    }
    hdr.extend(frames.iter().map(|f| f.kind.code()));
    hdr.extend(frames.iter().zip(&scope_idx).map(|(f, s)| {
        f.encoding as u8
            | if s.is_some() { FLAG_HAS_SCOPE } else { 0 }
            | if f.digest.is_some() { FLAG_REDACTED } else { 0 }
            | if f.expired { FLAG_EXPIRED } else { 0 }
            | if f.expired && f.chain_after.is_some() { FLAG_CHAIN_AFTER } else { 0 }
    }));
    let mut prev_ts = base_ts;
    for f in frames {
        varint::put_i64(&mut hdr, f.ts_ns.wrapping_sub(prev_ts));
        prev_ts = f.ts_ns;
    }
    for s in scope_idx.iter().flatten() {
        varint::put_u64(&mut hdr, *s as u64);
    }
    for f in frames.iter().filter(|f| f.encoding == Encoding::ZstdRef) {
        varint::put_u64(&mut hdr, f.ref_back);
    }
    for f in frames {
        varint::put_u64(&mut hdr, u64::from(f.raw_len));
    }
    for f in frames.iter().filter(|f| f.encoding != Encoding::Shared) {
        varint::put_u64(&mut hdr, f.body.len() as u64);
    }
    for f in frames {
        if let Some(d) = if f.expired { f.chain_after.as_ref() } else { f.digest.as_ref() } {
            hdr.extend_from_slice(d);
        }
    }
    let body_bytes: usize = frames.iter().map(|f| f.body.len()).sum();
    let mut out = Vec::with_capacity(
        body_bytes
            + hdr.len()
            + blocks.iter().flatten().map(|b| b.bytes.len()).sum::<usize>()
            + HASH_BYTES
            + 32,
    );
    out.push(CHUNK_VERSION);
    varint::put_u64(&mut out, frames.len() as u64);
    let mut packed = Vec::new();
    if hdr.len() >= HEADER_COMPRESS_MIN {
        header_zstd.compress(&hdr, None, &mut packed)?;
    }
    // The header is laid out like a block (it is never absent).
    let raw_len = hdr.len() as u64;
    let header = if !packed.is_empty() && packed.len() < hdr.len() {
        Block { encoding: BlockEncoding::Zstd, raw_len, bytes: packed }
    } else {
        Block { encoding: BlockEncoding::Raw, raw_len, bytes: hdr }
    };
    put_block(&mut out, Some(&header));
    for block in blocks {
        put_block(&mut out, block);
    }
    let mut chain = prev;
    for (i, f) in frames.iter().enumerate() {
        if f.encoding != Encoding::Shared {
            out.extend_from_slice(&f.body);
        }
        chain = if f.expired {
            f.chain_after.unwrap_or(chain)
        } else {
            chain_step_v3(
                &chain,
                first_seq + i as u64,
                f.ts_ns,
                f.kind,
                f.scope.as_deref(),
                &f.digest.unwrap_or_else(|| body_digest(&f.raw)),
            )
        };
    }
    out.extend_from_slice(&chain);
    Ok((out, chain))
}

fn decode_chunk_v2<B: AsRef<[u8]>>(version: u8, first_seq: u64, bytes: B) -> Result<Chunk<B>, (u64, String)> {
    let buf = bytes.as_ref();
    let mut r = Reader::new(buf);
    let bad = |what: &str| (first_seq, format!("chunk at seq {first_seq}: {what}"));
    let _version = r.u8().ok_or_else(|| bad("empty chunk"))?;
    let count = r.u64().ok_or_else(|| bad("truncated frame count"))?;
    if count == 0 || count > buf.len() as u64 {
        return Err(bad(&format!("impossible frame count {count}")));
    }
    let count_us = count as usize;
    // The column header.
    let hdr_enc = r.u8().ok_or_else(|| bad("truncated header"))?;
    let hdr_raw_len = r.u64().ok_or_else(|| bad("truncated header length"))?;
    let hdr_stored = r.u64().ok_or_else(|| bad("truncated header length"))?;
    if hdr_stored > r.remaining() as u64 || hdr_raw_len > u64::from(MAX_RAW_BYTES) * 4 {
        return Err(bad("header length runs past the chunk"));
    }
    let hdr_start = r.pos;
    r.pos += hdr_stored as usize;
    let hdr_bytes = &buf[hdr_start..r.pos];
    let hdr_owned;
    let hdr: &[u8] = match hdr_enc {
        1 if hdr_stored == hdr_raw_len => hdr_bytes,
        1 => return Err(bad("a raw column header whose two lengths differ")),
        2 => {
            hdr_owned = crate::storage::compress::decompress_alone(hdr_bytes, hdr_raw_len as usize)
                .map_err(|e| bad(&format!("column header: {e}")))?;
            &hdr_owned
        }
        other => return Err(bad(&format!("unknown header encoding {other}"))),
    };
    let mut blocks: [Option<BlockSpec>; 2] = [None, None];
    for slot in &mut blocks {
        *slot = read_block(&mut r).map_err(|why| bad(&why))?;
    }
    // Columns.
    let mut h = Reader::new(hdr);
    let htrunc = |what: &str| bad(&format!("column header truncated ({what})"));
    let base_ts = h.i64().ok_or_else(|| htrunc("base time"))?;
    let nscopes = h.u64().ok_or_else(|| htrunc("scope count"))?;
    if nscopes > count {
        return Err(bad(&format!("{nscopes} scopes for {count} frames")));
    }
    let mut scopes = Vec::with_capacity(nscopes as usize);
    for _ in 0..nscopes {
        let len = h.u64().ok_or_else(|| htrunc("scope"))?;
        let s = h.bytes(len as usize).ok_or_else(|| htrunc("scope"))?;
        let s = std::str::from_utf8(s).map_err(|_| bad("scope is not UTF-8"))?;
        scopes.push(s.to_owned());
    }
    let kinds = h.bytes(count_us).ok_or_else(|| htrunc("kinds"))?;
    let flags = h.bytes(count_us).ok_or_else(|| htrunc("flags"))?;
    let mut frames = Vec::with_capacity(count_us);
    let mut ts = base_ts;
    for (i, (&code, &fl)) in kinds.iter().zip(flags).enumerate() {
        let seq = first_seq + i as u64;
        let kind = Kind::from_code(code).ok_or_else(|| (seq, format!("unknown kind code {code}")))?;
        let allowed = FLAG_HAS_SCOPE
            | FLAG_ENCODING_MASK
            | if version == CHUNK_VERSION { FLAG_REDACTED | FLAG_EXPIRED | FLAG_CHAIN_AFTER } else { 0 };
        let expired = fl & FLAG_EXPIRED != 0;
        if fl & !allowed != 0
            || (expired && fl & FLAG_REDACTED != 0)
            || (!expired && fl & FLAG_CHAIN_AFTER != 0)
            || (expired && i + 1 == count_us && fl & FLAG_CHAIN_AFTER == 0)
        {
            return Err((seq, format!("unknown flags {fl:#04x}")));
        }
        let encoding = Encoding::from_bits(fl & FLAG_ENCODING_MASK)
            .ok_or_else(|| (seq, format!("unknown encoding in flags {fl:#04x}")))?;
        ts = ts.wrapping_add(h.i64().ok_or_else(|| htrunc("time"))?);
        frames.push(FrameHeader {
            seq,
            ts_ns: ts,
            kind,
            encoding,
            scope: if fl & FLAG_HAS_SCOPE != 0 { Some(0) } else { None },
            // Filled from the digest column below.
            digest: if fl & FLAG_REDACTED != 0 { Some([0; HASH_BYTES]) } else { None },
            expired,
            // Filled from the digest column below.
            chain_after: if fl & FLAG_CHAIN_AFTER != 0 { Some([0; HASH_BYTES]) } else { None },
            ref_back: 0,
            raw_len: 0,
            body: 0..0,
            block: 0,
            shared: None,
            check: [0; CHECK_BYTES],
            stored_len: 0,
        });
    }
    for f in frames.iter_mut().filter(|f| f.scope.is_some()) {
        let idx = h.u64().ok_or_else(|| htrunc("scope index"))?;
        if idx >= nscopes {
            return Err((f.seq, format!("scope index {idx} out of {nscopes}")));
        }
        f.scope = Some(idx as usize);
    }
    for f in frames.iter_mut().filter(|f| f.encoding == Encoding::ZstdRef) {
        let back = h.u64().ok_or_else(|| htrunc("reference"))?;
        if back == 0 || back >= f.seq {
            return Err((f.seq, format!("reference {back} back is outside the log")));
        }
        f.ref_back = back;
    }
    let mut shared_at = [0usize; 2];
    for f in &mut frames {
        let raw_len = h.u64().ok_or_else(|| htrunc("raw length"))?;
        if raw_len > u64::from(MAX_RAW_BYTES) {
            return Err((f.seq, format!("raw length {raw_len} over the limit")));
        }
        f.raw_len = raw_len as u32;
        if f.encoding == Encoding::Shared {
            let which = usize::from(f.kind == Kind::Capture);
            let Some((_, block_raw, _)) = &blocks[which] else {
                return Err((f.seq, "shared frame in a chunk without its block".to_owned()));
            };
            let end = shared_at[which] + raw_len as usize;
            if end as u64 > *block_raw {
                return Err((f.seq, "shared frame does not fit the block".to_owned()));
            }
            f.block = which;
            f.shared = Some(shared_at[which]..end);
            shared_at[which] = end;
        }
    }
    for f in frames.iter_mut().filter(|f| f.encoding != Encoding::Shared) {
        let stored = h.u64().ok_or_else(|| htrunc("stored length"))?;
        if stored > r.remaining() as u64 {
            return Err((f.seq, format!("stored length {stored} runs past the chunk")));
        }
        f.body = r.pos..r.pos + stored as usize;
        f.stored_len = stored as usize;
        r.pos += stored as usize;
    }
    for f in &mut frames {
        if let Some(d) = f.digest.as_mut().or(f.chain_after.as_mut()) {
            let bytes = h.bytes(HASH_BYTES).ok_or_else(|| htrunc("digest"))?;
            d.copy_from_slice(bytes);
        }
    }
    if h.remaining() != 0 {
        return Err(bad(&format!("{} unexpected bytes after the column header", h.remaining())));
    }
    let last = first_seq + count - 1;
    let chain_end: [u8; HASH_BYTES] = r
        .bytes(HASH_BYTES)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| (last, "chunk truncated (chain hash)".to_owned()))?;
    if r.remaining() != 0 {
        return Err((last, format!("{} unexpected bytes after the chunk", r.remaining())));
    }
    // Attribute the header, the block and the chain hash to the frames.
    let overhead = (hdr_stored as usize + HASH_BYTES).div_ceil(count_us);
    for (which, block) in blocks.iter().enumerate() {
        let Some((_, block_raw, stored)) = block else { continue };
        if shared_at[which] as u64 != *block_raw {
            return Err((first_seq, "a block's length differs from its frames'".to_owned()));
        }
        let total = (*block_raw).max(1) as u128;
        for f in frames.iter_mut().filter(|f| f.shared.is_some() && f.block == which) {
            f.stored_len += (stored.len() as u128 * u128::from(f.raw_len) / total) as usize;
        }
    }
    for f in &mut frames {
        f.stored_len += overhead;
    }
    Ok(Chunk { version, first_seq, bytes, scopes, frames, blocks, chain_end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<PendingFrame> {
        vec![
            PendingFrame {
                ts_ns: 1_000,
                kind: Kind::Capture,
                encoding: Encoding::Zstd,
                scope: Some("s:0.0".into()),
                ref_back: 0,
                raw_len: 10,
                body: vec![1, 2, 3],
                raw: Vec::new(),
                digest: None,
                expired: false,
                chain_after: None,
            },
            PendingFrame {
                ts_ns: 900,
                kind: Kind::Capture,
                encoding: Encoding::ZstdRef,
                scope: Some("s:0.0".into()),
                ref_back: 1,
                raw_len: 11,
                body: vec![4, 5],
                raw: Vec::new(),
                digest: None,
                expired: false,
                chain_after: None,
            },
            PendingFrame {
                ts_ns: 2_000,
                kind: Kind::Marker,
                encoding: Encoding::Raw,
                scope: None,
                ref_back: 0,
                raw_len: 2,
                body: vec![0, 0],
                raw: Vec::new(),
                digest: None,
                expired: false,
                chain_after: None,
            },
        ]
    }

    #[test]
    fn encode_decode_round_trip_and_chain() {
        let (bytes, end) = encode_chunk_v1(7, &frames(), None, GENESIS);
        let c = decode_chunk(7, &bytes).unwrap();
        assert_eq!(c.last_seq(), 9);
        assert_eq!(c.chain_end, end);
        assert_eq!(c.scopes, vec!["s:0.0".to_owned()]);
        let mut h = GENESIS;
        for (f, p) in c.frames.iter().zip(frames()) {
            assert_eq!(
                (f.ts_ns, f.kind, f.encoding, f.ref_back, f.raw_len),
                (p.ts_ns, p.kind, p.encoding, p.ref_back, p.raw_len)
            );
            assert_eq!(c.body(f), &p.body[..]);
            assert_eq!(c.scope(f), p.scope.as_deref());
            h = c.chain_step_v1(&h, f, None);
            assert_eq!(f.check, h[..CHECK_BYTES]);
        }
        assert_eq!(h, end);
    }

    #[test]
    fn truncations_and_garbage_are_errors() {
        let (bytes, _) = encode_chunk_v1(7, &frames(), None, GENESIS);
        for len in 0..bytes.len() {
            assert!(decode_chunk(7, &bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_chunk(7, &extra).is_err());
        // a reference back to seq 0 or before is rejected
        let mut f = frames();
        f[0].encoding = Encoding::ZstdRef;
        f[0].ref_back = 1;
        let (bytes, _) = encode_chunk_v1(1, &f, None, GENESIS);
        assert!(decode_chunk(1, &bytes).is_err());
        let (bytes, _) = encode_chunk_v1(2, &f, None, GENESIS);
        assert!(decode_chunk(2, &bytes).is_ok());
    }
}
