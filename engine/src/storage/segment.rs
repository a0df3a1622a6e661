//! Segment files: the log's source of truth. The only module that reads or
//! writes them.
//!
//! A database keeps its chunks in append-only files `DIR/segments/<first
//! seq, 20 digits>.seg`, each starting with the 8-byte magic `ORCSEG02` and
//! followed by records:
//!
//! ```text
//! record = len:u32 BE        chunk bytes that follow the header
//!          first_seq:u64 BE  the chunk's first seq
//!          flags:u8          bit 0: the last record of a commit; others 0
//!          crc:u32 BE        CRC-32 (ISO-HDLC, as zlib) of first_seq, flags and the chunk
//!          chunk:len bytes
//! ```
//!
//! Like Kafka's log segments and SQLite's WAL, a commit appends its records
//! to the active segment and `fdatasync`s it before it is acknowledged, and
//! recovery reads forward from the last indexed record: a record that is cut
//! short or fails its CRC at the end of the last segment is a torn tail (an
//! append that was never acknowledged) and is cut, as are records after the
//! last one flagged as a commit's end (a commit cut short). A commit never
//! spans two segments; a new segment is started when the active one has
//! reached the roll size. `engine/FORMAT.md` describes the same bytes.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// First bytes of every segment file written by appends.
pub(crate) const MAGIC: &[u8; 8] = b"ORCSEG02";
/// First bytes of a sealed segment: the same records, repacked into large
/// chunks once the segment was closed (`Log::seal`); every record ends a
/// commit.
pub(crate) const MAGIC_SEALED: &[u8; 8] = b"ORCSEG2S";
/// Bytes of a record header (len, first_seq, flags, crc).
pub(crate) const RECORD_HEADER: u64 = 4 + 8 + 1 + 4;
/// Record flag: the last record of a commit.
pub(crate) const FLAG_COMMIT: u8 = 0x01;
/// Largest chunk a record may hold (a chunk of one 16 MiB body plus headers).
const MAX_RECORD: u32 = 64 * 1024 * 1024;

/// Where a chunk is: segment (its first seq), offset of the record header
/// in the file, and the chunk's length. Encoded in the index as 20 bytes:
/// segment u64 BE, offset u64 BE, len u32 BE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

impl Pointer {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(&self.segment.to_be_bytes());
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(&self.len.to_be_bytes());
        v
    }

    /// The index's value for a chunk: the pointer, then the running-max ts
    /// up to the chunk's last event (i64 BE), 28 bytes.
    pub(crate) fn index_value(&self, running_max_ts: i64) -> Vec<u8> {
        let mut v = self.encode();
        v.extend_from_slice(&running_max_ts.to_be_bytes());
        v
    }

    /// Every index entry of the chunk `first_seq` stored at this pointer:
    /// its `C` entry ([`Pointer::index_value`]), its `T` entry and its scope
    /// entries (`S` per scope, or `W` for a wide chunk).
    pub(crate) fn index_entries<'a>(
        &self,
        first_seq: u64,
        running_max_ts: i64,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = vec![
            (crate::storage::keys::chunk(first_seq).to_vec(), self.index_value(running_max_ts)),
            (crate::storage::keys::time(running_max_ts, first_seq).to_vec(), Vec::new()),
        ];
        out.extend(
            crate::storage::keys::scope_entries(scopes, first_seq).into_iter().map(|k| (k, Vec::new())),
        );
        out
    }

    /// The running-max ts of an index value (see [`Pointer::index_value`]).
    pub(crate) fn running_max_ts(v: &[u8]) -> Option<i64> {
        Some(i64::from_be_bytes(v.get(20..28)?.try_into().ok()?))
    }

    /// A pointer from an index value (28 bytes, see
    /// [`Pointer::index_value`]); `None` for anything else, so an index
    /// written before values carried the running-max ts is rebuilt.
    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 28 {
            return None;
        }
        Some(Self {
            segment: u64::from_be_bytes(b[0..8].try_into().ok()?),
            offset: u64::from_be_bytes(b[8..16].try_into().ok()?),
            len: u32::from_be_bytes(b[16..20].try_into().ok()?),
        })
    }

    /// Offset just past this record.
    pub(crate) fn end(&self) -> u64 {
        self.offset + RECORD_HEADER + u64::from(self.len)
    }
}

pub(crate) fn crc(first_seq: u64, flags: u8, chunk: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&first_seq.to_be_bytes());
    h.update(&[flags]);
    h.update(chunk);
    h.finalize()
}

/// The file name of the segment whose first seq is `first`.
pub(crate) fn file_name(first: u64) -> String {
    format!("{first:020}.seg")
}

/// The directory of segment files inside a database directory.
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// The segment files of one database, with cached read handles. Shared
/// (`Arc`) by every snapshot of a process.
#[derive(Debug)]
pub(crate) struct Segments {
    dir: PathBuf,
    handles: Mutex<HashMap<u64, Arc<File>>>,
    /// Held for writing while a seal switches a segment (rename and index
    /// batch), for reading by a whole-log check that must not see the
    /// switch half done (`Snapshot::verify`).
    pub(crate) switch: std::sync::RwLock<()>,
    /// Seal switches begun and ended (odd while one is under way), so a
    /// reader that walks index entries can tell that they were replaced
    /// under it (a seqlock's sequence counter).
    switches: std::sync::atomic::AtomicU64,
}

/// A record read back.
#[derive(Debug)]
pub(crate) struct RecordRead {
    pub ptr: Pointer,
    pub first_seq: u64,
    pub flags: u8,
    pub chunk: Vec<u8>,
}

impl Segments {
    /// The segments directory `dir` (created, mode 0700, if missing).
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create", dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            handles: Mutex::default(),
            switch: std::sync::RwLock::new(()),
            switches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The switch generation now (odd while a switch is under way).
    pub(crate) fn generation(&self) -> u64 {
        self.switches.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The switch generation once no switch is under way (waits for one to
    /// end: a switch holds for milliseconds).
    pub(crate) fn settled_generation(&self) -> u64 {
        loop {
            let g = self.generation();
            if g.is_multiple_of(2) {
                return g;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Marks the start or the end of a switch (each call moves the generation by one).
    pub(crate) fn mark_switch(&self) {
        self.switches.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn path(&self, first: u64) -> PathBuf {
        self.dir.join(file_name(first))
    }

    /// First seqs of the segment files, ascending. Other files are ignored.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be listed.
    pub(crate) fn list(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = name.strip_suffix(".seg").filter(|n| n.len() == 20).and_then(|n| n.parse().ok())
            {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Total bytes of the segment files.
    pub(crate) fn bytes(&self) -> Result<u64> {
        let mut total = 0;
        for first in self.list()? {
            total += std::fs::metadata(self.path(first)).map(|m| m.len()).unwrap_or(0);
        }
        Ok(total)
    }

    fn handle(&self, segment: u64) -> Result<Arc<File>> {
        let mut handles = self.handles.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = handles.get(&segment) {
            return Ok(Arc::clone(f));
        }
        let path = self.path(segment);
        let f = Arc::new(File::open(&path).map_err(|e| Error::io("open", &path, e))?);
        handles.insert(segment, Arc::clone(&f));
        Ok(f)
    }

    /// Forgets cached handles (after a segment was truncated or replaced).
    pub(crate) fn forget(&self, segment: u64) {
        self.handles.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&segment);
    }

    /// Reads the chunk at `ptr`, checking its record header and CRC.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (at `seq`) when the record is missing, cut short or
    /// fails its CRC; [`Error::Io`] on read errors.
    pub(crate) fn read(&self, ptr: Pointer, seq: u64) -> Result<Vec<u8>> {
        let f = self.handle(ptr.segment)?;
        let mut buf = vec![0u8; (RECORD_HEADER + u64::from(ptr.len)) as usize];
        f.read_exact_at(&mut buf, ptr.offset).map_err(|e| {
            Error::corrupt(
                seq,
                format!("segment {} has no record at offset {}: {e}", file_name(ptr.segment), ptr.offset),
            )
        })?;
        let (len, first, flags, sum) = parse_header(&buf);
        if len != ptr.len || first != seq {
            return Err(Error::corrupt(
                seq,
                format!(
                    "segment {} at offset {}: the index and the record disagree (record of seq {first}, {len} bytes)",
                    file_name(ptr.segment),
                    ptr.offset
                ),
            ));
        }
        let chunk = buf.split_off(RECORD_HEADER as usize);
        if crc(first, flags, &chunk) != sum {
            return Err(Error::corrupt(
                seq,
                format!(
                    "segment {} at offset {}: record checksum mismatch",
                    file_name(ptr.segment),
                    ptr.offset
                ),
            ));
        }
        Ok(chunk)
    }

    /// Reads segment `segment` forward from `offset` (0: the start, after
    /// the magic).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened.
    pub(crate) fn reader(&self, segment: u64, offset: u64) -> Result<SegmentReader> {
        let path = self.path(segment);
        let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let file_len = f.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
        let mut r =
            SegmentReader { segment, reader: BufReader::with_capacity(1 << 20, f), offset: 0, file_len };
        if offset == 0 {
            r.check_magic()?;
        } else {
            r.skip_to(offset)?;
        }
        Ok(r)
    }
}

fn parse_header(b: &[u8]) -> (u32, u64, u8, u32) {
    let mut len = [0u8; 4];
    len.copy_from_slice(&b[0..4]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&b[4..12]);
    let mut sum = [0u8; 4];
    sum.copy_from_slice(&b[13..17]);
    (u32::from_be_bytes(len), u64::from_be_bytes(first), b[12], u32::from_be_bytes(sum))
}

/// Why a segment stopped making sense at some offset.
#[derive(Debug, Clone)]
pub(crate) struct BadRecord {
    pub offset: u64,
    pub why: String,
    /// Whether this looks like an interrupted write (bytes cut short, or a
    /// record whose CRC fails) rather than a well-formed record the reader
    /// does not accept (unknown flags, a file that is not a segment).
    pub torn: bool,
}

/// Forward reader over one segment's records.
pub(crate) struct SegmentReader {
    segment: u64,
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
}

impl SegmentReader {
    fn check_magic(&mut self) -> Result<()> {
        let mut m = [0u8; 8];
        if self.file_len < 8 || self.reader.read_exact(&mut m).is_err() || (&m != MAGIC && &m != MAGIC_SEALED)
        {
            self.offset = 0;
            return Ok(()); // reported by `next` as a bad record at offset 0
        }
        self.offset = 8;
        Ok(())
    }

    fn skip_to(&mut self, offset: u64) -> Result<()> {
        use std::io::Seek;
        self.reader
            .seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| Error::io("seek", PathBuf::from(file_name(self.segment)), e))?;
        self.offset = offset;
        Ok(())
    }

    /// The next record: `Ok(None)` at a clean end of file, `Err(BadRecord)`
    /// where the bytes stop being a valid record (the reader then stays
    /// there).
    pub(crate) fn next_record(&mut self) -> std::result::Result<Option<RecordRead>, BadRecord> {
        let bad = |offset: u64, why: String| BadRecord { offset, why, torn: true };
        if self.offset == 0 {
            let torn = self.file_len < MAGIC.len() as u64;
            let why = "the file does not start with the segment magic ORCSEG02".to_owned();
            return Err(BadRecord { offset: 0, why, torn });
        }
        if self.offset == self.file_len {
            return Ok(None);
        }
        let at = self.offset;
        if self.file_len - at < RECORD_HEADER {
            return Err(bad(at, format!("{} bytes left, less than a record header", self.file_len - at)));
        }
        let mut hdr = [0u8; RECORD_HEADER as usize];
        self.reader.read_exact(&mut hdr).map_err(|e| bad(at, format!("read error: {e}")))?;
        let (len, first_seq, flags, sum) = parse_header(&hdr);
        if len == 0 || len > MAX_RECORD || at + RECORD_HEADER + u64::from(len) > self.file_len {
            self.skip_to(at).map_err(|e| bad(at, e.to_string()))?;
            return Err(bad(at, format!("record length {len} runs past the end of the file or the limit")));
        }
        let mut chunk = vec![0u8; len as usize];
        self.reader.read_exact(&mut chunk).map_err(|e| bad(at, format!("read error: {e}")))?;
        if crc(first_seq, flags, &chunk) != sum {
            self.skip_to(at).map_err(|e| bad(at, e.to_string()))?;
            return Err(bad(at, "record checksum mismatch".into()));
        }
        if flags & !FLAG_COMMIT != 0 {
            self.skip_to(at).map_err(|e| bad(at, e.to_string()))?;
            return Err(BadRecord {
                offset: at,
                why: format!("unknown record flags {flags:#04x}"),
                torn: false,
            });
        }
        self.offset = at + RECORD_HEADER + u64::from(len);
        Ok(Some(RecordRead {
            ptr: Pointer { segment: self.segment, offset: at, len },
            first_seq,
            flags,
            chunk,
        }))
    }
}

/// The active (last) segment, appended to by the one writer.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub first: u64,
    file: File,
    /// Bytes of valid data (the next record's offset).
    pub len: u64,
}

impl ActiveSegment {
    /// Opens segment `first` for appending at `len` (its valid length; bytes
    /// past it, a torn tail, must already have been cut).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn resume(segs: &Segments, first: u64, len: u64) -> Result<Self> {
        let path = segs.path(first);
        let file = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
        Ok(Self { first, file, len })
    }

    /// Creates segment `first` (mode 0600) holding only the magic. Not
    /// durable until the next [`ActiveSegment::append`] with `durable`.
    ///
    /// # Errors
    /// [`Error::Io`]; an existing file of that name is an error.
    pub(crate) fn create(segs: &Segments, first: u64) -> Result<Self> {
        let path = segs.path(first);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_all_at(MAGIC, 0).map_err(|e| Error::io("write", &path, e))?;
        Ok(Self { first, file, len: MAGIC.len() as u64 })
    }

    /// Appends `records` (first seq, chunk) as one commit: the last record is
    /// flagged as the commit's end. With `durable`, the file's data is
    /// `fdatasync`ed before this returns (and the directory, when `new_file`).
    ///
    /// **Durability:** with `durable`, when this returns Ok every record is
    /// on stable storage; without it, they are written but not synced.
    ///
    /// # Errors
    /// [`Error::Io`]. On error the records may be partly written; the next
    /// open cuts them (the commit flag is missing or the CRC fails).
    pub(crate) fn append(
        &mut self,
        segs: &Segments,
        records: &[(u64, Vec<u8>)],
        durable: bool,
        new_file: bool,
    ) -> Result<Vec<Pointer>> {
        let path = segs.path(self.first);
        let total: usize = records.iter().map(|(_, c)| c.len() + RECORD_HEADER as usize).sum();
        let mut buf = Vec::with_capacity(total);
        let mut ptrs = Vec::with_capacity(records.len());
        for (i, (first_seq, chunk)) in records.iter().enumerate() {
            let len = u32::try_from(chunk.len()).ok().filter(|l| *l <= MAX_RECORD).ok_or_else(|| {
                Error::Invalid(format!("a chunk of {} bytes is over the record limit", chunk.len()))
            })?;
            let flags = if i + 1 == records.len() { FLAG_COMMIT } else { 0 };
            ptrs.push(Pointer { segment: self.first, offset: self.len + buf.len() as u64, len });
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&first_seq.to_be_bytes());
            buf.push(flags);
            buf.extend_from_slice(&crc(*first_seq, flags, chunk).to_be_bytes());
            buf.extend_from_slice(chunk);
        }
        self.file.write_all_at(&buf, self.len).map_err(|e| Error::io("write", &path, e))?;
        if durable {
            self.file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
            if new_file {
                crate::storage::head::sync_dir(segs.dir())?;
            }
        }
        self.len += buf.len() as u64;
        Ok(ptrs)
    }

    /// `fdatasync`s the file and the directory.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn sync(&self, segs: &Segments) -> Result<()> {
        let path = segs.path(self.first);
        self.file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
        crate::storage::head::sync_dir(segs.dir())
    }
}

/// Whether a whole commit that was followed by another write comes after
/// offset `from` of segment `first`: walking the records by their length
/// fields from `from`, a record whose CRC holds, flagged as a commit's end,
/// with more bytes after it. Commits are written one after another, each
/// only once the one before was synced, so the records at `from` then
/// belong to an acknowledged commit: bad bytes there are damage, never a
/// torn tail to cut. `false` when the walk cannot tell (a length field that
/// makes no sense ends it).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read.
pub(crate) fn commit_follows(segs: &Segments, first: u64, from: u64) -> Result<bool> {
    let path = segs.path(first);
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let header = RECORD_HEADER as usize;
    let mut at = usize::try_from(from).unwrap_or(usize::MAX);
    while at.saturating_add(header) <= bytes.len() {
        let (len, first_seq, flags, sum) = parse_header(&bytes[at..at + header]);
        let end = at + header + len as usize;
        if len == 0 || len > MAX_RECORD || end > bytes.len() {
            return Ok(false);
        }
        if flags == FLAG_COMMIT && end < bytes.len() && crc(first_seq, flags, &bytes[at + header..end]) == sum
        {
            return Ok(true);
        }
        at = end;
    }
    Ok(false)
}

/// Cuts segment `first` to `len` bytes, keeping the cut bytes beside it in
/// `<name>.torn-<offset>` (never read again; kept for inspection), and makes
/// both durable.
///
/// # Errors
/// [`Error::Io`].
pub(crate) fn cut_tail(segs: &Segments, first: u64, len: u64) -> Result<()> {
    let path = segs.path(first);
    let f = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| Error::io("open", &path, e))?;
    let file_len = f.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
    if file_len > len {
        let mut tail = vec![0u8; (file_len - len) as usize];
        f.read_exact_at(&mut tail, len).map_err(|e| Error::io("read", &path, e))?;
        if tail.iter().any(|b| *b != 0) {
            let keep = segs.dir().join(format!("{}.torn-{len}", file_name(first)));
            let mut k = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&keep)
                .map_err(|e| Error::io("create", &keep, e))?;
            std::io::Write::write_all(&mut k, &tail).map_err(|e| Error::io("write", &keep, e))?;
            k.sync_data().map_err(|e| Error::io("fdatasync", &keep, e))?;
        }
        f.set_len(len).map_err(|e| Error::io("truncate", &path, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &path, e))?;
        crate::storage::head::sync_dir(segs.dir())?;
    }
    segs.forget(first);
    Ok(())
}

/// The file a segment is sealed into before it replaces the segment.
pub(crate) fn sealing_path(segs: &Segments, first: u64) -> PathBuf {
    segs.dir().join(format!("{}.sealing", file_name(first)))
}

/// Writes the sealed form of segment `first` to its `.sealing` file, record
/// by record, each flagged as a commit's end.
pub(crate) struct SealedWriter {
    first: u64,
    path: PathBuf,
    out: std::io::BufWriter<File>,
    len: u64,
}

impl SealedWriter {
    /// Creates (replacing) `<segment>.sealing` holding [`MAGIC_SEALED`].
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn create(segs: &Segments, first: u64) -> Result<Self> {
        let path = sealing_path(segs, first);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        std::io::Write::write_all(&mut out, MAGIC_SEALED).map_err(|e| Error::io("write", &path, e))?;
        Ok(Self { first, path, out, len: MAGIC_SEALED.len() as u64 })
    }

    /// Appends one record; returns its pointer (in the segment's name).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Invalid`] for a chunk over the record limit.
    pub(crate) fn push(&mut self, first_seq: u64, chunk: &[u8]) -> Result<Pointer> {
        let len = u32::try_from(chunk.len()).ok().filter(|l| *l <= MAX_RECORD).ok_or_else(|| {
            Error::Invalid(format!("a chunk of {} bytes is over the record limit", chunk.len()))
        })?;
        let ptr = Pointer { segment: self.first, offset: self.len, len };
        let mut hdr = Vec::with_capacity(RECORD_HEADER as usize);
        hdr.extend_from_slice(&len.to_be_bytes());
        hdr.extend_from_slice(&first_seq.to_be_bytes());
        hdr.push(FLAG_COMMIT);
        hdr.extend_from_slice(&crc(first_seq, FLAG_COMMIT, chunk).to_be_bytes());
        let w = |e| Error::io("write", &self.path, e);
        std::io::Write::write_all(&mut self.out, &hdr).map_err(w)?;
        std::io::Write::write_all(&mut self.out, chunk).map_err(|e| Error::io("write", &self.path, e))?;
        self.len = ptr.end();
        Ok(ptr)
    }

    /// Flushes and `fdatasync`s the file; returns its length.
    ///
    /// **Durability:** the sealed file is on stable storage when this
    /// returns Ok (it replaces the segment only by [`install_sealed`]).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn finish(self) -> Result<u64> {
        let f = self.out.into_inner().map_err(|e| Error::io("write", &self.path, e.into_error()))?;
        f.sync_data().map_err(|e| Error::io("fdatasync", &self.path, e))?;
        Ok(self.len)
    }
}

/// Replaces segment `first` by its sealed file (an atomic rename) and makes
/// the rename durable.
///
/// # Errors
/// [`Error::Io`].
pub(crate) fn install_sealed(segs: &Segments, first: u64) -> Result<()> {
    let from = sealing_path(segs, first);
    std::fs::rename(&from, segs.path(first)).map_err(|e| Error::io("rename", &from, e))?;
    crate::storage::head::sync_dir(segs.dir())?;
    segs.forget(first);
    Ok(())
}

/// Whether segment `first` is sealed (starts with [`MAGIC_SEALED`]).
///
/// # Errors
/// [`Error::Io`].
pub(crate) fn is_sealed(segs: &Segments, first: u64) -> Result<bool> {
    let path = segs.path(first);
    let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    let mut m = [0u8; 8];
    Ok(f.read_exact_at(&mut m, 0).is_ok() && &m == MAGIC_SEALED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let segs = Segments::open(&dir.path().join("segments")).unwrap();
        let mut active = ActiveSegment::create(&segs, 1).unwrap();
        let ptrs = active.append(&segs, &[(1, vec![1, 2, 3]), (2, vec![4; 100])], true, true).unwrap();
        assert_eq!(segs.read(ptrs[1], 2).unwrap(), vec![4; 100]);
        assert!(segs.read(ptrs[1], 3).is_err(), "the seq must match the record");
        let mut r = segs.reader(1, 0).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!((a.first_seq, a.flags, a.chunk), (1, 0, vec![1, 2, 3]));
        let b = r.next_record().unwrap().unwrap();
        assert_eq!((b.first_seq, b.flags), (2, FLAG_COMMIT));
        assert!(r.next_record().unwrap().is_none());
        // A flipped byte fails the CRC, on both read paths.
        let path = segs.path(1);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        segs.forget(1);
        assert!(segs.read(ptrs[1], 2).is_err());
        let mut r = segs.reader(1, ptrs[1].offset).unwrap();
        let bad = r.next_record().unwrap_err();
        assert_eq!(bad.offset, ptrs[1].offset);
        // Cutting the tail keeps the cut bytes aside.
        cut_tail(&segs, 1, ptrs[1].offset).unwrap();
        let mut r = segs.reader(1, 0).unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert!(r.next_record().unwrap().is_none());
        assert!(segs.dir().join(format!("{}.torn-{}", file_name(1), ptrs[1].offset)).exists());
        assert_eq!(segs.list().unwrap(), vec![1]);
    }

    #[test]
    fn pointer_encoding_round_trips() {
        let p = Pointer { segment: 7, offset: 1 << 40, len: 99 };
        assert_eq!(Pointer::decode(&p.index_value(-5)), Some(p));
        assert_eq!(Pointer::running_max_ts(&p.index_value(-5)), Some(-5));
        assert_eq!(Pointer::decode(&p.encode()), None, "a bare pointer is not an index value");
    }
}
