//! Reading the log in seq order, with filters pushed down to frame headers.

use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use crate::storage::codec;
use crate::storage::compress::Decompressor;
use crate::storage::frame::{Chunk, FrameHeader};
use crate::storage::index::Range;
use crate::storage::keys;
use orc_log_schemas::{Kind, Record};
use std::collections::HashMap;

/// Which events a scan returns. The default is the whole log.
///
/// Every condition is checked on the uncompressed frame header; bodies of
/// events that do not match are never decompressed.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// First seq (inclusive); 0 or 1 mean from the start.
    pub from_seq: u64,
    /// Last seq (inclusive).
    pub until_seq: Option<u64>,
    /// Only these kinds (empty: all kinds).
    pub kinds: Vec<Kind>,
    /// Only events whose scope is this target (`session:window.pane`) or
    /// session name.
    pub scope: Option<String>,
    /// Only events with `ts >= since_ns` (UTC ns).
    pub since_ns: Option<i64>,
    /// Only events with `ts <= until_ns` (UTC ns).
    pub until_ns: Option<i64>,
}

/// Header facts of one event: what scans that skip bodies see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// Log position.
    pub seq: u64,
    /// Event time, UTC ns.
    pub ts_ns: i64,
    /// Kind.
    pub kind: Kind,
    /// Target (`session:window.pane`; the `to` of a message), session name
    /// for session events, or none.
    pub scope: Option<String>,
    /// Uncompressed body size in bytes.
    pub raw_bytes: u64,
    /// Bytes the event takes on disk: its stored body, or its share (by
    /// raw length) of the block that holds it, plus its share of the
    /// chunk's column header and chain hash.
    pub stored_bytes: u64,
    /// Whether the body expired under a retention rule: the stored body is
    /// its stub (`EventBody::expired_stub`), the chain keeps the original
    /// body's digest (FORMAT.md, "Retention and compaction").
    pub expired: bool,
}

impl EventMeta {
    /// The header facts of `event` at `seq`, for folding events that are
    /// not read from a log (tests, a projection fed directly): no scope,
    /// sizes 0, not expired.
    pub fn of(seq: u64, event: &orc_log_schemas::Event) -> Self {
        EventMeta {
            seq,
            ts_ns: event.ts_ns,
            kind: event.kind(),
            scope: None,
            raw_bytes: 0,
            stored_bytes: 0,
            expired: false,
        }
    }
}

// One per scan, so the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Source {
    /// Every chunk in seq order: each next one is the chunk holding the next
    /// seq not yet passed (looked up afresh, so a scan that meets a segment
    /// being sealed continues in the sealed chunks).
    Chunks,
    /// The chunks with a scope: its `S` entries and the wide chunks (`W`),
    /// merged in seq order, with the next first seq of each once read.
    Scope { narrow: Range, wide: Range, next: [Option<u64>; 2], seek_generation: u64 },
}

impl Source {
    /// The scope-index ranges of `scope` from the chunk holding `from_seq`,
    /// as of switch generation `generation`.
    fn seek(log: &Snapshot, scope: &str, from_seq: u64, generation: u64) -> Result<Self> {
        // Start from the chunk holding from_seq (it may begin earlier).
        let start_chunk = match log.store.last_at_or_before(&[keys::CHUNK], &keys::chunk(from_seq))? {
            Some((k, _)) => keys::chunk_seq(&k).unwrap_or(1),
            None => 1,
        };
        let from = keys::scope(scope, start_chunk);
        let to = keys::scope(scope, u64::MAX);
        let mut narrow = log.store.range(&from, &to);
        let mut wide = log.store.range(&keys::wide(start_chunk), &[keys::WIDE + 1]);
        let next = [next_first(&mut narrow)?, next_first(&mut wide)?];
        Ok(Self::Scope { narrow, wide, next, seek_generation: generation })
    }
}

/// The next first seq of a scope-index range (`S` or `W` keys).
fn next_first(r: &mut Range) -> Result<Option<u64>> {
    match r.next() {
        None => Ok(None),
        Some(e) => {
            let (k, _) = e?;
            keys::scope_seq(&k).map(Some).ok_or_else(|| Error::corrupt(None, "malformed scope-index key"))
        }
    }
}

/// An iterator over matching events; see [`Snapshot::scan`] and [`Snapshot::scan_meta`].
pub struct Scan<'a> {
    log: &'a Snapshot,
    filter: Filter,
    source: Source,
    chunk: Option<Chunk<Vec<u8>>>,
    pos: usize,
    decode: bool,
    dctx: Option<Decompressor>,
    /// Last decoded capture body per scope: the prefix of the next delta.
    panes: HashMap<String, (u64, Vec<u8>)>,
    /// The decompressed shared block of the current chunk (by first seq).
    /// The decompressed blocks of the current chunk (by first seq).
    blocks: [Option<(u64, Vec<u8>)>; 2],
    done: bool,
}

impl Snapshot {
    /// Events matching `filter`, in seq order, fully decoded.
    ///
    /// Memory stays bounded by one chunk plus the last capture of each pane.
    ///
    /// # Errors
    /// Store errors at the start; each item may be an [`Error::Corrupt`]
    /// naming the seq that failed to decode, after which the scan ends.
    pub fn scan(&self, filter: Filter) -> Result<Scan<'_>> {
        self.scan_inner(filter, true)
    }

    /// Like [`Snapshot::scan`] but yields only header facts; no body is decompressed.
    ///
    /// # Errors
    /// As [`Snapshot::scan`].
    pub fn scan_meta(&self, filter: Filter) -> Result<impl Iterator<Item = Result<EventMeta>> + '_> {
        let scan = self.scan_inner(filter, false)?;
        Ok(scan.map_meta())
    }

    /// Like [`Snapshot::scan`] but yields each record with its header facts
    /// (stored and raw sizes), for consumers that account for bytes.
    ///
    /// # Errors
    /// As [`Snapshot::scan`].
    pub fn scan_with_meta(
        &self,
        filter: Filter,
    ) -> Result<impl Iterator<Item = Result<(EventMeta, Record)>> + '_> {
        let scan = self.scan_inner(filter, true)?;
        Ok(WithMeta(scan))
    }

    /// Calls `each` with every record `filter` selects, in seq order, until
    /// it returns `Ok(false)`. Memory stays at one chunk plus one capture per
    /// pane, however long `each` takes (a snapshot holds no lock).
    ///
    /// # Errors
    /// A read error (as [`Snapshot::scan`]), or the first error `each` returns.
    pub fn for_each_record<E: From<Error>>(
        &self,
        filter: &Filter,
        each: impl FnMut(Record) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        drive(self.scan(filter.clone())?, each)
    }

    /// [`Snapshot::for_each_record`] over frame headers only
    /// ([`Snapshot::scan_meta`]: nothing is decompressed).
    ///
    /// # Errors
    /// As [`Snapshot::for_each_record`].
    pub fn for_each_meta<E: From<Error>>(
        &self,
        filter: &Filter,
        each: impl FnMut(EventMeta) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        drive(self.scan_meta(filter.clone())?, each)
    }

    fn scan_inner(&self, mut filter: Filter, decode: bool) -> Result<Scan<'_>> {
        filter.from_seq = filter.from_seq.max(1);
        // A scan sees this snapshot's events only, even while appends go on.
        filter.until_seq = Some(filter.until_seq.map_or(self.head.seq, |u| u.min(self.head.seq)));
        let mut done = filter.from_seq > self.head.seq;
        if let Some(since) = filter.since_ns.filter(|_| !done) {
            match self.first_seq_from_time(since)? {
                Some(s) => filter.from_seq = filter.from_seq.max(s),
                None => done = true,
            }
        }
        let source = match &filter.scope {
            Some(scope) => {
                let generation = self.segs.settled_generation();
                Source::seek(self, scope, filter.from_seq, generation)?
            }
            None => Source::Chunks,
        };
        Ok(Scan {
            log: self,
            filter,
            source,
            chunk: None,
            pos: 0,
            decode,
            dctx: None,
            panes: HashMap::new(),
            blocks: [None, None],
            done,
        })
    }
}

/// Feeds `items` to `each` until it returns `Ok(false)` or an error.
fn drive<T, E: From<Error>>(
    items: impl Iterator<Item = Result<T>>,
    mut each: impl FnMut(T) -> std::result::Result<bool, E>,
) -> std::result::Result<(), E> {
    for item in items {
        if !each(item?)? {
            break;
        }
    }
    Ok(())
}

impl<'a> Scan<'a> {
    fn map_meta(self) -> impl Iterator<Item = Result<EventMeta>> + 'a {
        MetaScan(self)
    }

    fn next_chunk(&mut self) -> Result<Option<Chunk<Vec<u8>>>> {
        match &mut self.source {
            Source::Chunks => {
                let next = self.filter.from_seq;
                if self.filter.until_seq.is_some_and(|u| next > u) {
                    return Ok(None);
                }
                loop {
                    let generation = self.log.segs.settled_generation();
                    let read = self.log.chunk_holding(next);
                    if self.log.segs.generation() == generation {
                        return read;
                    }
                }
            }
            Source::Scope { .. } => self.next_scope_chunk(),
        }
    }

    /// The next chunk of a scope scan. The index entries it walks are
    /// replaced when a seal switches a segment; a switch since the ranges
    /// were opened (or during the read) starts them again from the first seq
    /// not yet passed, so a scan across a seal sees every event once.
    fn next_scope_chunk(&mut self) -> Result<Option<Chunk<Vec<u8>>>> {
        loop {
            let generation = self.log.segs.settled_generation();
            if let (Source::Scope { seek_generation, .. }, Some(scope)) = (&self.source, &self.filter.scope)
                && *seek_generation != generation
            {
                self.source = Source::seek(self.log, scope, self.filter.from_seq, generation)?;
            }
            let Source::Scope { narrow, wide, next, .. } = &mut self.source else { return Ok(None) };
            let first = match *next {
                [None, None] => return Ok(None),
                [Some(a), Some(b)] if b < a => {
                    next[1] = next_first(wide)?;
                    b
                }
                [Some(a), _] => {
                    next[0] = next_first(narrow)?;
                    a
                }
                [None, Some(b)] => {
                    next[1] = next_first(wide)?;
                    b
                }
            };
            if self.filter.until_seq.is_some_and(|u| first > u) {
                return Ok(None);
            }
            let read = self.log.chunk_at(first);
            if self.log.segs.generation() != generation {
                continue;
            }
            return read.map(Some);
        }
    }

    fn matches(&self, chunk: &Chunk<Vec<u8>>, f: &FrameHeader) -> bool {
        let flt = &self.filter;
        (flt.kinds.is_empty() || flt.kinds.contains(&f.kind))
            && flt.scope.as_deref().is_none_or(|s| chunk.scope(f) == Some(s))
            && flt.since_ns.is_none_or(|t| f.ts_ns >= t)
            && flt.until_ns.is_none_or(|t| f.ts_ns <= t)
    }

    /// The next matching frame as (meta, decoded record if decoding).
    fn next_inner(&mut self) -> Result<Option<(EventMeta, Option<Record>)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.chunk.as_ref().is_none_or(|c| self.pos >= c.frames.len()) {
                match self.next_chunk()? {
                    Some(c) => {
                        self.chunk = Some(c);
                        self.pos = 0;
                    }
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
            let Some(chunk) = self.chunk.take() else { continue };
            let f = chunk.frames[self.pos].clone();
            self.pos += 1;
            if f.seq < self.filter.from_seq {
                self.chunk = Some(chunk);
                continue;
            }
            // Never again below this seq (a chunk read after a seal may
            // start earlier than the one it replaced).
            self.filter.from_seq = f.seq + 1;
            if self.filter.until_seq.is_some_and(|u| f.seq > u) {
                self.done = true;
                return Ok(None);
            }
            if !self.matches(&chunk, &f) {
                self.chunk = Some(chunk);
                continue;
            }
            let meta = EventMeta {
                seq: f.seq,
                ts_ns: f.ts_ns,
                kind: f.kind,
                scope: chunk.scope(&f).map(str::to_owned),
                raw_bytes: u64::from(f.raw_len),
                stored_bytes: f.stored_len as u64,
                expired: f.expired,
            };
            let record = if self.decode { Some(self.decode_frame(&chunk, &f)?) } else { None };
            self.chunk = Some(chunk);
            return Ok(Some((meta, record)));
        }
    }

    fn decode_frame(&mut self, chunk: &Chunk<Vec<u8>>, f: &FrameHeader) -> Result<Record> {
        if self.dctx.is_none() {
            self.dctx = Some(Decompressor::new().map_err(Error::Invalid)?);
        }
        let Some(dctx) = self.dctx.as_mut() else { return Err(Error::Invalid("no decompressor".into())) };
        let scope = chunk.scope(f);
        let ref_seq = f.seq - f.ref_back;
        let cached = scope
            .and_then(|s| self.panes.get(s))
            .filter(|(seq, _)| *seq == ref_seq)
            .map(|(_, raw)| raw.as_slice());
        let slot = &mut self.blocks[f.block];
        if f.shared.is_some() && slot.as_ref().is_none_or(|(first, _)| *first != chunk.first_seq) {
            let block = crate::storage::read::decode_block(chunk, f.block, dctx)?.unwrap_or_default();
            *slot = Some((chunk.first_seq, block));
        }
        let block = self.blocks[f.block]
            .as_ref()
            .filter(|(first, _)| *first == chunk.first_seq)
            .map(|(_, b)| b.as_slice());
        let bad = |e: String| Error::corrupt(f.seq, e);
        // A body in a block decodes straight from it (no copy). It is not
        // kept as a delta base: a later delta against it (rare: only small
        // commits delta) reads it back through the log.
        if let (Some(range), Some(block)) = (&f.shared, block) {
            let raw = block.get(range.clone()).ok_or_else(|| bad("shared frame outside its block".into()))?;
            let event = codec::decode_body(f.kind, f.ts_ns, scope, raw).map_err(bad)?;
            if let Some(s) = scope.filter(|_| f.kind == Kind::Capture) {
                self.panes.remove(s);
            }
            return Ok(Record { seq: f.seq, event });
        }
        let raw = self.log.reader().decode_raw(chunk, f, dctx, cached, block)?;
        let event = codec::decode_body(f.kind, f.ts_ns, scope, &raw).map_err(bad)?;
        if f.kind == Kind::Capture
            && let Some(s) = scope
        {
            self.panes.insert(s.to_owned(), (f.seq, raw));
        }
        Ok(Record { seq: f.seq, event })
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_inner() {
            Ok(Some((_, Some(r)))) => Some(Ok(r)),
            Ok(Some((_, None))) | Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

struct MetaScan<'a>(Scan<'a>);

impl Iterator for MetaScan<'_> {
    type Item = Result<EventMeta>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next_inner() {
            Ok(Some((m, _))) => Some(Ok(m)),
            Ok(None) => None,
            Err(e) => {
                self.0.done = true;
                Some(Err(e))
            }
        }
    }
}

struct WithMeta<'a>(Scan<'a>);

impl Iterator for WithMeta<'_> {
    type Item = Result<(EventMeta, Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next_inner() {
            Ok(Some((m, Some(r)))) => Some(Ok((m, r))),
            Ok(Some((_, None))) | Ok(None) => None,
            Err(e) => {
                self.0.done = true;
                Some(Err(e))
            }
        }
    }
}
