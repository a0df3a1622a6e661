//! Redaction: rewriting stored bodies while the hash chain still verifies.
//!
//! The format 3 chain takes each body's digest, not the body
//! (FORMAT.md, "Hash chain"), so a body can be replaced: its frame keeps the
//! digest the chain took (the `REDACTED` flag and the column header's digest
//! column, FORMAT.md "Redaction") and stores the new body. [`Log::redact`]
//! rewrites every segment holding a body to replace, with the crash-safe
//! steps of sealing (`seal.rs`): a rewritten copy, a durable note, an atomic
//! rename, one index batch. `verify` then proves every header, every seq and
//! every other body as before, and counts the redacted ones.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::seal::BodyEdit;
use crate::storage::codec;
use crate::storage::frame::{self, HASH_BYTES};
use orc_log_schemas::Event;
use std::collections::{BTreeMap, HashMap};

/// One body a redaction replaced: its seq and the blake3 digests of the raw
/// body before and after (FORMAT.md, "Bodies"; `frame::body_digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactedBody {
    /// The event's seq.
    pub seq: u64,
    /// blake3 of the raw body it replaced.
    pub old_digest: [u8; HASH_BYTES],
    /// blake3 of the raw body stored now.
    pub new_digest: [u8; HASH_BYTES],
}

impl RedactedBody {
    /// The line a `redaction` event lists it by: `SEQ OLD NEW` (hex digests).
    pub fn line(&self) -> String {
        format!(
            "{} {} {}",
            self.seq,
            crate::storage::head::hex(&self.old_digest),
            crate::storage::head::hex(&self.new_digest)
        )
    }
}

/// The blake3 digest of an event's raw body (its bincode tuple, FORMAT.md
/// "Bodies"), as the chain and `redaction` events name bodies.
///
/// # Errors
/// [`Error::Invalid`] when the event does not encode.
pub fn body_digest(event: &Event) -> Result<[u8; HASH_BYTES]> {
    let mut raw = Vec::new();
    codec::encode_body(event, &mut raw)?;
    Ok(frame::body_digest(&raw))
}

impl Log {
    /// Replaces the stored bodies of the events in `edits` (seq -> the event
    /// with its new body: same kind, ts and target; only body fields may
    /// differ) and returns what it replaced, in seq order. First closes the
    /// active segment and seals every closed segment (so no stored capture
    /// is delta-compressed against a body about to change), then rewrites
    /// each segment holding an edited seq (`Snapshot::prepare_seal` with
    /// edits, then `Log::install_seal`). Every other event, every seq and
    /// the chain hash after every event stay the same. An edit equal to the
    /// stored body is skipped.
    ///
    /// **Durability:** each rewritten segment and its index are on disk
    /// before the next one starts; a crash at any moment leaves each
    /// segment whole, old or rewritten (as a seal does).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a seq past the head or an edit that changes
    /// the kind, ts or target (nothing is changed then); refusals as for
    /// appends; [`Error::Corrupt`] when a segment does not check; store and
    /// I/O errors.
    pub fn redact(&mut self, edits: &BTreeMap<u64, Event>) -> Result<Vec<RedactedBody>> {
        self.check_writable()?;
        let mut raws: HashMap<u64, BodyEdit> = HashMap::new();
        for (&seq, new) in edits {
            let Some(old) = self.get(seq)? else {
                return Err(Error::Invalid(format!("seq {seq} is past the head {}", self.head().seq)));
            };
            let old = old.event;
            if old.ts_ns != new.ts_ns
                || old.kind() != new.kind()
                || codec::scope_of(&old.body) != codec::scope_of(&new.body)
                || old.id != new.id
            {
                return Err(Error::Invalid(format!(
                    "redacting seq {seq} may change only its body's text, not its kind, time, target or id"
                )));
            }
            if old == *new {
                continue;
            }
            let mut raw = Vec::new();
            codec::encode_body(new, &mut raw)?;
            if raw.len() > frame::MAX_RAW_BYTES as usize {
                return Err(Error::Invalid(format!("the new body of seq {seq} is over the size limit")));
            }
            raws.insert(seq, BodyEdit { raw, expired: false });
        }
        self.rewrite_bodies(&raws)
    }

    /// Stores the bodies of `edits` in place of the ones stored (the seal's
    /// two crash-safe steps per segment, after sealing everything, as
    /// [`Log::redact`] says) and returns what it replaced, in seq order.
    pub(crate) fn rewrite_bodies(&mut self, raws: &HashMap<u64, BodyEdit>) -> Result<Vec<RedactedBody>> {
        if raws.is_empty() {
            return Ok(Vec::new());
        }
        self.seal(true)?;
        let segs = self.snap.segs.list()?;
        let mut out = Vec::new();
        for (i, &first) in segs.iter().enumerate() {
            let end = segs.get(i + 1).copied().unwrap_or(self.head().seq + 1);
            let mine: HashMap<u64, BodyEdit> = raws
                .iter()
                .filter(|(s, _)| (first..end).contains(*s))
                .map(|(s, r)| (*s, r.clone()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let config = self.config.clone();
            let prepared = self.snap.prepare_seal(first, end, &config, Some(&mine))?;
            out.extend(prepared.redacted.iter().copied());
            self.install_seal(prepared)?;
        }
        self.settle_index()?;
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }
}

impl crate::Snapshot {
    /// Every redacted body in the log, in seq order: its seq, the digest the
    /// chain took (the original body's) and the digest of the body stored
    /// now. Reads every chunk's column header and decodes the redacted
    /// frames only.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when a chunk does not read; store errors.
    pub fn redacted_bodies(&self) -> Result<Vec<RedactedBody>> {
        let mut out = Vec::new();
        let mut next = 1u64;
        while next <= self.head().seq {
            let Some(chunk) = self.chunk_holding(next)? else { break };
            for f in chunk.frames.iter().filter(|f| f.seq <= self.head().seq) {
                if let Some(original) = f.digest.filter(|_| !f.expired) {
                    let now =
                        self.get(f.seq)?.ok_or_else(|| Error::corrupt(f.seq, "redacted frame missing"))?;
                    out.push(RedactedBody {
                        seq: f.seq,
                        old_digest: original,
                        new_digest: body_digest(&now.event)?,
                    });
                }
            }
            next = chunk.last_seq() + 1;
        }
        Ok(out)
    }
}

/// Suffix of a backup file's rewritten copy before it replaces the file.
const REDACT_SUFFIX: &str = ".redact";

/// Finishes or undoes what an interrupted [`redact_backup`] left in `dest`:
/// with `MANIFEST.json.redact` present (the new manifest was durable), every
/// `*.orcseg.redact` file is renamed over its file and then the manifest
/// over `MANIFEST.json`; without it, leftover `*.orcseg.redact` files are
/// removed.
fn finish_backup_redaction(dest: &std::path::Path) -> Result<()> {
    let manifest_new = dest.join(format!("{}{REDACT_SUFFIX}", crate::backup::MANIFEST_FILE));
    let committed = manifest_new.exists();
    let entries = std::fs::read_dir(dest).map_err(|e| Error::io("list", dest, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dest, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(target) = name.strip_suffix(REDACT_SUFFIX).filter(|t| t.ends_with(".orcseg")) else {
            continue;
        };
        if committed {
            std::fs::rename(entry.path(), dest.join(target))
                .map_err(|e| Error::io("rename", entry.path(), e))?;
        } else {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io("remove", entry.path(), e))?;
        }
    }
    if committed {
        crate::storage::head::sync_dir(dest)?;
        let manifest = dest.join(crate::backup::MANIFEST_FILE);
        std::fs::rename(&manifest_new, &manifest).map_err(|e| Error::io("rename", &manifest_new, e))?;
    }
    crate::storage::head::sync_dir(dest)
}

/// Redacts the backup in `dest` (made by `orc-log backup create` of a
/// format 3 database): every event for which `edit` returns a changed event
/// (same kind, ts, target and id) gets that body, its frame flagged
/// redacted with the digest the chain took, so `backup verify` and restores
/// still check every chain hash (FORMAT.md, "Redaction"). Only the chunks
/// holding an edited body, or a delta-compressed capture whose base body
/// changed, are re-encoded (every body in a block at the default block
/// level); the other chunks are copied as they are.
///
/// Crash-safe in three steps: each changed file is written whole as
/// `FILE.redact` and synced; the new manifest is written as
/// `MANIFEST.json.redact` and synced (the commit point); then the files and
/// the manifest are renamed over the old ones. The next `redact_backup` (or
/// a dry run) of `dest` finishes or undoes an interrupted one first.
///
/// **Durability:** the redacted backup is on disk when this returns Ok.
///
/// # Errors
/// [`Error::Refused`] for a backup of an older format; [`Error::Corrupt`]
/// when the backup does not check; [`Error::Invalid`] for an edit that
/// changes more than a body; I/O errors naming the file.
pub fn redact_backup(
    dest: &std::path::Path,
    edit: &mut dyn FnMut(u64, &Event) -> Option<Event>,
    dry_run: bool,
) -> Result<Vec<RedactedBody>> {
    use crate::backup::{Manifest, SEGMENT_MAGIC, read_segment};
    use crate::storage::chain::ChainChecker;
    use std::io::Write;
    if !dry_run {
        finish_backup_redaction(dest)?;
    }
    let mut manifest = Manifest::load(dest)?
        .ok_or_else(|| Error::Invalid(format!("{} holds no backup (no MANIFEST.json)", dest.display())))?;
    if manifest.db_format != crate::FORMAT_VERSION {
        return Err(Error::Refused(format!(
            "{} is a backup of a format {} database, whose chain takes whole bodies: it cannot be redacted; back up the upgraded database into a new directory and delete this one",
            dest.display(),
            manifest.db_format
        )));
    }
    let config = crate::Config::default();
    let mut enc = crate::storage::encoder::Encoder::new(&config, config.block_level)?;
    let mut checker = ChainChecker::new(0, frame::GENESIS)?;
    let mut prev = frame::GENESIS;
    let mut changed_seqs = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut new_files = Vec::new();
    for seg in &mut manifest.segments {
        let path = dest.join(&seg.file);
        let chunks = read_segment(&path)?;
        let mut bytes_out = SEGMENT_MAGIC.to_vec();
        let mut file_changed = false;
        for (first, bytes) in chunks {
            let chunk = frame::decode_chunk(first, &bytes).map_err(|(seq, why)| Error::corrupt(seq, why))?;
            let raws = checker.decode_frames(&chunk, None)?;
            let mut pending = Vec::with_capacity(raws.len());
            let mut rewrite = false;
            for (f, raw) in chunk.frames.iter().zip(raws) {
                let event = codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw)
                    .map_err(|e| Error::corrupt(f.seq, e))?;
                if f.ref_back > 0 && changed_seqs.contains(&(f.seq - f.ref_back)) {
                    rewrite = true; // its delta base changes: store it whole
                }
                let (raw, digest) = match edit(f.seq, &event).filter(|new| *new != event) {
                    Some(new) => {
                        if new.ts_ns != event.ts_ns
                            || new.kind() != event.kind()
                            || new.id != event.id
                            || codec::scope_of(&new.body) != codec::scope_of(&event.body)
                        {
                            return Err(Error::Invalid(format!(
                                "redacting seq {} may change only its body's text",
                                f.seq
                            )));
                        }
                        let mut new_raw = Vec::new();
                        codec::encode_body(&new, &mut new_raw)?;
                        let old_digest = frame::body_digest(&raw);
                        out.push(RedactedBody {
                            seq: f.seq,
                            old_digest,
                            new_digest: frame::body_digest(&new_raw),
                        });
                        changed_seqs.insert(f.seq);
                        rewrite = true;
                        (new_raw, Some(f.digest.unwrap_or(old_digest)))
                    }
                    None => (raw, f.digest),
                };
                pending.push(frame::PendingFrame::raw_again(&chunk, f, raw, digest));
            }
            let stored = if rewrite {
                file_changed = true;
                let mut panes = HashMap::new();
                let blocks = enc.compress_chunk(first, &mut pending, &mut panes, true, &mut |_| Ok(None))?;
                let (new_bytes, chain) =
                    enc.encode(first, &pending, [blocks[0].as_ref(), blocks[1].as_ref()], prev)?;
                if chain != chunk.chain_end {
                    return Err(Error::corrupt(
                        first,
                        "the redacted chunk's chain differs from the backup's",
                    ));
                }
                new_bytes
            } else {
                bytes.clone()
            };
            prev = chunk.chain_end;
            bytes_out.extend_from_slice(&first.to_be_bytes());
            bytes_out.extend_from_slice(&(stored.len() as u32).to_be_bytes());
            bytes_out.extend_from_slice(&stored);
        }
        if file_changed {
            seg.bytes = bytes_out.len() as u64;
            seg.blake3 = blake3::hash(&bytes_out).to_hex().to_string();
            new_files.push((dest.join(format!("{}{REDACT_SUFFIX}", seg.file)), bytes_out));
        }
    }
    if dry_run || new_files.is_empty() {
        return Ok(out);
    }
    for (path, bytes) in &new_files {
        let mut f = crate::backup::create_file(path)?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| Error::io("write", path, e))?;
    }
    let manifest_new = dest.join(format!("{}{REDACT_SUFFIX}", crate::backup::MANIFEST_FILE));
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut f = crate::backup::create_file(&manifest_new)?;
    f.write_all(&text).and_then(|()| f.sync_all()).map_err(|e| Error::io("write", &manifest_new, e))?;
    crate::storage::head::sync_dir(dest)?;
    finish_backup_redaction(dest)?;
    Ok(out)
}

/// Redacts the `*.seg.torn-*` files of the database of `snap` (the bytes
/// recovery cut from a segment's end, never read again; FORMAT.md, "Opening
/// and recovery"). Each whole record (header, CRC and chunk intact) whose
/// chunk decodes is rewritten when `edit` changes one of its events: the
/// chunk is re-encoded with those bodies redacted (digests kept, so its
/// stored chain hash is kept too) and the record's CRC recomputed. Bytes
/// after the last whole record (a write cut short) are kept unless
/// `matches_bytes` finds the pattern in them, in which case they are cut
/// (compressed fragments cannot be searched). A delta-compressed body whose
/// base cannot be read is left as it is. Each changed file is replaced
/// whole (written beside it, synced, renamed, directory synced).
///
/// Returns each changed file's name and the seqs whose bodies changed in it
/// (empty when only bytes were cut).
///
/// # Errors
/// I/O errors naming the file.
pub fn redact_torn_files(
    snap: &crate::Snapshot,
    edit: &mut dyn FnMut(u64, &Event) -> Option<Event>,
    matches_bytes: &dyn Fn(&[u8]) -> bool,
    dry_run: bool,
) -> Result<Vec<(String, Vec<u64>)>> {
    use crate::storage::segment::{FLAG_COMMIT, RECORD_HEADER, crc};
    use std::io::Write;
    let dir = snap.dir().join(crate::storage::segment::SEGMENTS_DIR);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".seg.torn-") && !n.ends_with(REDACT_SUFFIX))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    names.sort();
    let config = crate::Config::default();
    let mut enc = crate::storage::encoder::Encoder::new(&config, config.block_level)?;
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut at = 0usize;
        let mut rewritten = Vec::with_capacity(bytes.len());
        let mut seqs = Vec::new();
        let mut changed = false;
        let header = RECORD_HEADER as usize;
        while bytes.len() - at >= header {
            let h = &bytes[at..at + header];
            let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let first = u64::from_be_bytes(h[4..12].try_into().unwrap_or_default());
            let flags = h[12];
            let sum = u32::from_be_bytes([h[13], h[14], h[15], h[16]]);
            if len == 0 || bytes.len() - at - header < len {
                break;
            }
            let chunk_bytes = &bytes[at + header..at + header + len];
            if crc(first, flags, chunk_bytes) != sum {
                break;
            }
            let mut record = bytes[at..at + header + len].to_vec();
            if let Some(new_chunk) = redact_chunk(snap, &mut enc, first, chunk_bytes, edit, &mut seqs)? {
                let mut r = Vec::with_capacity(header + new_chunk.len());
                r.extend_from_slice(&(new_chunk.len() as u32).to_be_bytes());
                r.extend_from_slice(&first.to_be_bytes());
                r.push(flags & FLAG_COMMIT);
                r.extend_from_slice(&crc(first, flags & FLAG_COMMIT, &new_chunk).to_be_bytes());
                r.extend_from_slice(&new_chunk);
                record = r;
                changed = true;
            }
            rewritten.extend_from_slice(&record);
            at += header + len;
        }
        let rest = &bytes[at..];
        if !rest.is_empty() {
            if matches_bytes(rest) {
                changed = true; // cut: the pattern is in bytes that do not decode
            } else {
                rewritten.extend_from_slice(rest);
            }
        }
        if !changed {
            continue;
        }
        if !dry_run {
            let tmp = dir.join(format!("{name}{REDACT_SUFFIX}"));
            let mut f = crate::backup::create_file(&tmp)?;
            f.write_all(&rewritten).and_then(|()| f.sync_all()).map_err(|e| Error::io("write", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &tmp, e))?;
            crate::storage::head::sync_dir(&dir)?;
        }
        out.push((name, seqs));
    }
    Ok(out)
}

/// One torn record's chunk with `edit`'s changes, re-encoded keeping its
/// stored chain hash; `None` when nothing changes or it does not decode.
fn redact_chunk(
    snap: &crate::Snapshot,
    enc: &mut crate::storage::encoder::Encoder,
    first: u64,
    bytes: &[u8],
    edit: &mut dyn FnMut(u64, &Event) -> Option<Event>,
    seqs: &mut Vec<u64>,
) -> Result<Option<Vec<u8>>> {
    let Ok(chunk) = frame::decode_chunk(first, bytes) else { return Ok(None) };
    if chunk.version != frame::CHUNK_VERSION {
        return Ok(None);
    }
    let mut checker = crate::storage::chain::ChainChecker::new(first - 1, frame::GENESIS)?;
    let Ok(raws) = checker.decode_frames(&chunk, Some(&snap.reader())) else { return Ok(None) };
    let mut pending = Vec::with_capacity(raws.len());
    let mut mine = Vec::new();
    for (f, raw) in chunk.frames.iter().zip(raws) {
        let Ok(event) = codec::decode_body(f.kind, f.ts_ns, chunk.scope(f), &raw) else { return Ok(None) };
        let (raw, digest) = match edit(f.seq, &event)
            .filter(|n| *n != event && n.ts_ns == event.ts_ns && n.kind() == event.kind() && n.id == event.id)
        {
            Some(new) => {
                let mut new_raw = Vec::new();
                codec::encode_body(&new, &mut new_raw)?;
                mine.push(f.seq);
                let old = frame::body_digest(&raw);
                (new_raw, Some(f.digest.unwrap_or(old)))
            }
            None => (raw, f.digest),
        };
        pending.push(frame::PendingFrame::raw_again(&chunk, f, raw, digest));
    }
    if mine.is_empty() {
        return Ok(None);
    }
    let mut panes = HashMap::new();
    let blocks = enc.compress_chunk(first, &mut pending, &mut panes, true, &mut |_| Ok(None))?;
    // The chain before a torn record is unknown; every frame's digest is
    // kept, so the stored chain hash stays right: copy it over.
    let (mut new_bytes, _) =
        enc.encode(first, &pending, [blocks[0].as_ref(), blocks[1].as_ref()], frame::GENESIS)?;
    let n = new_bytes.len();
    new_bytes[n - HASH_BYTES..].copy_from_slice(&chunk.chain_end);
    seqs.extend(mine);
    Ok(Some(new_bytes))
}
