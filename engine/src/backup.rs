//! Backups: segment files of chunks as stored, a manifest, verification, and
//! restore into a new database (FORMAT.md, "Backups").
//!
//! A backup directory holds `MANIFEST.json` and segment files
//! `seg-<first seq>-<last seq>.orcseg`. A segment is the 8-byte magic
//! `ORCSEG01` followed by records `first_seq: u64 BE, len: u32 BE, chunk:
//! len bytes`, the chunks exactly as stored in the log (still compressed,
//! with their chain hashes). Each backup after the first adds one
//! segment with the chunks after the previous backup's head.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log::{Log, RESTORE_MARKER, STORAGE_ENTRIES};
use crate::snapshot::Snapshot;
use crate::storage::chain::ChainChecker;
use crate::storage::frame::{self, GENESIS, HASH_BYTES, Replaced};
use crate::storage::head::{self, hex, unhex};
use crate::storage::keys;
use crate::storage::lock::{self, DirLock};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"ORCSEG01";
/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";
/// The backup format version written in the manifest.
pub const BACKUP_FORMAT_VERSION: u32 = 1;

/// One segment file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// File name inside the backup directory.
    pub file: String,
    /// First seq in the segment.
    pub first_seq: u64,
    /// Last seq in the segment (a restore point).
    pub last_seq: u64,
    /// Smallest event ts in the segment, UTC ns.
    pub first_ts_ns: i64,
    /// Greatest event ts in the segment, UTC ns.
    pub last_ts_ns: i64,
    /// File size in bytes.
    pub bytes: u64,
    /// blake3 of the whole file, hex.
    pub blake3: String,
    /// Chain hash after `last_seq`, hex.
    pub chain_end: String,
}

/// `MANIFEST.json`: what a backup directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"orc-log-backup"`.
    pub format: String,
    /// Backup format version ([`BACKUP_FORMAT_VERSION`]).
    pub version: u32,
    /// The database format the chunks are in ([`crate::FORMAT_VERSION`]).
    pub db_format: u32,
    /// Segments in seq order; together they hold seqs `1..=head_seq`.
    pub segments: Vec<Segment>,
    /// Last seq backed up.
    pub head_seq: u64,
    /// Chain hash after `head_seq`, hex.
    pub head_chain: String,
}

impl Manifest {
    fn empty() -> Self {
        Self {
            format: "orc-log-backup".into(),
            version: BACKUP_FORMAT_VERSION,
            db_format: crate::FORMAT_VERSION,
            segments: Vec::new(),
            head_seq: 0,
            head_chain: hex(&GENESIS),
        }
    }

    /// Reads `DEST/MANIFEST.json`; `None` when the directory has no backup yet.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a manifest that does not parse or has an unknown version.
    pub fn load(dest: &Path) -> Result<Option<Self>> {
        let path = dest.join(MANIFEST_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let m: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(None, format!("{}: not a backup manifest ({e})", path.display())))?;
        if m.format != "orc-log-backup"
            || m.version != BACKUP_FORMAT_VERSION
            || !(1..=crate::FORMAT_VERSION).contains(&m.db_format)
        {
            return Err(Error::Format {
                found: format!("backup {} v{} (database format {})", m.format, m.version, m.db_format),
                supported: BACKUP_FORMAT_VERSION,
            });
        }
        Ok(Some(m))
    }

    /// Durably replaces `DEST/MANIFEST.json` (write, fsync, rename, fsync dir).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn save(&self, dest: &Path) -> Result<()> {
        let tmp = dest.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut f = create_file(&tmp)?;
        f.write_all(&text).and_then(|()| f.sync_all()).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, dest.join(MANIFEST_FILE)).map_err(|e| Error::io("rename", &tmp, e))?;
        head::sync_dir(dest)
    }

    fn head_chain_bytes(&self) -> Result<[u8; HASH_BYTES]> {
        unhex(&self.head_chain)
            .ok_or_else(|| Error::corrupt(None, "manifest head_chain is not a 64-digit hex hash"))
    }
}

pub(crate) fn create_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("create", path, e))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io("create", path, e))
}

/// One stored chunk, as read for a backup.
#[derive(Debug, Clone)]
pub struct RawChunk {
    /// First seq.
    pub first_seq: u64,
    /// Last seq.
    pub last_seq: u64,
    /// Smallest and greatest ts of its frames, UTC ns.
    pub ts_range_ns: (i64, i64),
    /// Chain hash after its last frame.
    pub chain_end: [u8; HASH_BYTES],
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

impl Snapshot {
    /// Up to `max` stored chunks whose first seq is in `after+1 ..= until`, in order.
    ///
    /// # Errors
    /// Store errors; [`Error::Corrupt`] for a chunk that does not parse.
    pub fn raw_chunks(&self, after: u64, until: u64, max: usize) -> Result<Vec<RawChunk>> {
        let mut out = Vec::new();
        if after >= until {
            return Ok(out);
        }
        let mut after = after;
        // A seal since the last backup may have repacked the chunk that
        // holds `after + 1` into one that starts before it: its tail becomes
        // a chunk of its own, so the backup goes on exactly at `after + 1`.
        if let Some(chunk) = self.chunk_holding(after + 1)?
            && chunk.first_seq <= after
        {
            let tail = self.tail_chunk(&chunk, after + 1)?;
            after = tail.last_seq;
            out.push(tail);
        }
        for entry in self.store.range(&keys::chunk(after + 1), &keys::chunk(until + 1)) {
            let (key, value) = entry?;
            let first = keys::chunk_seq(&key).ok_or_else(|| Error::corrupt(None, "malformed chunk key"))?;
            let chunk = self.read_chunk(first, value.as_ref())?;
            let min = chunk.frames.iter().map(|f| f.ts_ns).min().unwrap_or(0);
            let max_ts = chunk.frames.iter().map(|f| f.ts_ns).max().unwrap_or(0);
            out.push(RawChunk {
                first_seq: chunk.first_seq,
                last_seq: chunk.last_seq(),
                ts_range_ns: (min, max_ts),
                chain_end: chunk.chain_end,
                bytes: chunk.bytes,
            });
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// The chain hash after `seq` (genesis for 0; `None` past the head).
    /// Inside a chunk (a backup's head inside a chunk a seal repacked) it
    /// is recomputed from the chunk's bodies.
    ///
    /// # Errors
    /// Store errors; [`Error::Corrupt`] for a chunk that does not decode.
    pub fn chain_at_chunk_end(&self, seq: u64) -> Result<Option<[u8; HASH_BYTES]>> {
        if seq == 0 {
            return Ok(Some(GENESIS));
        }
        let Some(chunk) = self.chunk_holding(seq)? else { return Ok(None) };
        if chunk.last_seq() == seq {
            return Ok(Some(chunk.chain_end));
        }
        if chunk.frames.iter().any(|f| f.seq == seq && f.expired && f.chain_after.is_none()) {
            return Err(Error::Refused(format!(
                "the chain hash after seq {seq} is no longer stored: the event expired (`orc-log compact`) inside a run of expired events"
            )));
        }
        let (prev, raws) = self.chunk_raws(&chunk)?;
        Ok(Some(chunk.chain_through(prev, &raws, seq)))
    }

    /// The chain hash before `chunk` and the raw bodies of its frames.
    fn chunk_raws(&self, chunk: &frame::Chunk<Vec<u8>>) -> Result<([u8; HASH_BYTES], Vec<Vec<u8>>)> {
        let prev = match chunk.first_seq {
            1 => GENESIS,
            first => self
                .chunk_holding(first - 1)?
                .filter(|c| c.last_seq() == first - 1)
                .map(|c| c.chain_end)
                .ok_or_else(|| Error::corrupt(first - 1, "no chunk ends right before this one"))?,
        };
        let mut checker = ChainChecker::new(chunk.first_seq - 1, prev)?;
        Ok((prev, checker.decode_frames(chunk, Some(&self.reader()))?))
    }

    /// Frames `from..` of `chunk` re-encoded as a chunk of their own (every
    /// body in a block at the default block level); the chain is the same.
    fn tail_chunk(&self, chunk: &frame::Chunk<Vec<u8>>, from: u64) -> Result<RawChunk> {
        let (prev, raws) = self.chunk_raws(chunk)?;
        let chain = chunk.chain_through(prev, &raws, from - 1);
        let mut frames = Vec::new();
        let mut block_raw = [Vec::new(), Vec::new()];
        for (f, raw) in chunk.frames.iter().zip(raws) {
            if f.seq < from {
                continue;
            }
            block_raw[usize::from(f.kind == orc_log_schemas::Kind::Capture)].extend_from_slice(&raw);
            frames.push(frame::PendingFrame {
                ts_ns: f.ts_ns,
                kind: f.kind,
                encoding: frame::Encoding::Shared,
                scope: chunk.scope(f).map(str::to_owned),
                ref_back: 0,
                raw_len: f.raw_len,
                body: Vec::new(),
                raw,
                digest: f.digest,
                expired: f.expired,
                chain_after: f.chain_after,
            });
        }
        let zstd = |e: String| Error::Invalid(format!("zstd: {e}"));
        let mut level =
            crate::storage::compress::Compressor::new(Config::default().block_level).map_err(zstd)?;
        let mut blocks = [None, None];
        for (slot, raw) in blocks.iter_mut().zip(block_raw) {
            if raw.is_empty() {
                continue;
            }
            let mut bytes = Vec::new();
            level.compress(&raw, None, &mut bytes).map_err(zstd)?;
            *slot =
                Some(frame::Block { encoding: frame::BlockEncoding::Zstd, raw_len: raw.len() as u64, bytes });
        }
        let (bytes, chain_end) =
            frame::encode_chunk(from, &frames, [blocks[0].as_ref(), blocks[1].as_ref()], chain, &mut level)
                .map_err(zstd)?;
        let min = frames.iter().map(|f| f.ts_ns).min().unwrap_or(0);
        let max_ts = frames.iter().map(|f| f.ts_ns).max().unwrap_or(0);
        Ok(RawChunk {
            first_seq: from,
            last_seq: chunk.last_seq(),
            ts_range_ns: (min, max_ts),
            chain_end,
            bytes,
        })
    }
}

/// Writes one new segment; see [`SegmentWriter::create`].
pub struct SegmentWriter {
    dest: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    hasher: blake3::Hasher,
    seg: Segment,
    bytes: u64,
}

impl SegmentWriter {
    /// Starts a segment in `dest` for the chunks after `after_seq`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created.
    pub fn create(dest: &Path, after_seq: u64) -> Result<Self> {
        create_dir(dest)?;
        let tmp = dest.join(format!("seg-{:020}.orcseg.tmp", after_seq + 1));
        let file = create_file(&tmp)?;
        let mut w = Self {
            dest: dest.to_owned(),
            tmp,
            out: BufWriter::new(file),
            hasher: blake3::Hasher::new(),
            seg: Segment {
                file: String::new(),
                first_seq: after_seq + 1,
                last_seq: after_seq,
                first_ts_ns: i64::MAX,
                last_ts_ns: i64::MIN,
                bytes: 0,
                blake3: String::new(),
                chain_end: String::new(),
            },
            bytes: 0,
        };
        w.write(SEGMENT_MAGIC)?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.hasher.update(b);
        self.bytes += b.len() as u64;
        self.out.write_all(b).map_err(|e| Error::io("write", &self.tmp, e))
    }

    /// Appends the next chunk (it must start right after the previous one).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a gap; [`Error::Io`].
    pub fn push(&mut self, c: &RawChunk) -> Result<()> {
        if c.first_seq != self.seg.last_seq + 1 {
            return Err(Error::Invalid(format!(
                "segment expected seq {}, got {}",
                self.seg.last_seq + 1,
                c.first_seq
            )));
        }
        self.write(&c.first_seq.to_be_bytes())?;
        self.write(&(c.bytes.len() as u32).to_be_bytes())?;
        self.write(&c.bytes)?;
        self.seg.last_seq = c.last_seq;
        self.seg.first_ts_ns = self.seg.first_ts_ns.min(c.ts_range_ns.0);
        self.seg.last_ts_ns = self.seg.last_ts_ns.max(c.ts_range_ns.1);
        self.seg.chain_end = hex(&c.chain_end);
        Ok(())
    }

    /// Makes the segment durable under its final name and returns its manifest entry.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Refused`] for an empty segment.
    pub fn finish(mut self) -> Result<Segment> {
        if self.seg.last_seq < self.seg.first_seq {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(Error::Refused("nothing to back up".into()));
        }
        self.out.flush().map_err(|e| Error::io("write", &self.tmp, e))?;
        self.out.get_ref().sync_all().map_err(|e| Error::io("fsync", &self.tmp, e))?;
        let name = format!("seg-{:020}-{:020}.orcseg", self.seg.first_seq, self.seg.last_seq);
        std::fs::rename(&self.tmp, self.dest.join(&name)).map_err(|e| Error::io("rename", &self.tmp, e))?;
        head::sync_dir(&self.dest)?;
        self.seg.file = name;
        self.seg.bytes = self.bytes;
        self.seg.blake3 = self.hasher.finalize().to_hex().to_string();
        Ok(self.seg)
    }
}

/// Starts or continues the backup in `dest` for a log whose chain at the
/// manifest's head must be `chain_at_head` (checked by the caller with
/// [`Snapshot::chain_at_chunk_end`]). Returns the manifest (empty for a new backup).
///
/// # Errors
/// [`Error::Corrupt`]/[`Error::Format`] for a bad manifest.
pub fn open_backup(dest: &Path) -> Result<Manifest> {
    create_dir(dest)?;
    let m = Manifest::load(dest)?.unwrap_or_else(Manifest::empty);
    if m.db_format != crate::FORMAT_VERSION {
        return Err(Error::Refused(format!(
            "{} holds a backup of a format {} database; this database is format {}, so it cannot add to it: back up into a new directory (the old backup still restores)",
            dest.display(),
            m.db_format,
            crate::FORMAT_VERSION
        )));
    }
    Ok(m)
}

/// Adds a finished segment to the manifest and saves it atomically.
///
/// # Errors
/// As [`Manifest::save`]; [`Error::Invalid`] if the segment does not follow the manifest's head.
pub fn commit_segment(dest: &Path, manifest: &mut Manifest, seg: Segment) -> Result<()> {
    if seg.first_seq != manifest.head_seq + 1 {
        return Err(Error::Invalid(format!(
            "segment starts at {} but the backup ends at {}",
            seg.first_seq, manifest.head_seq
        )));
    }
    manifest.head_seq = seg.last_seq;
    manifest.head_chain = seg.chain_end.clone();
    manifest.segments.push(seg);
    manifest.save(dest)
}

/// Chunks read back from a segment file.
pub(crate) fn read_segment(path: &Path) -> Result<Vec<(u64, Vec<u8>)>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = BufReader::new(file);
    let mut magic = [0u8; 8];
    let name = path.display();
    r.read_exact(&mut magic).map_err(|_| Error::corrupt(None, format!("{name}: truncated magic")))?;
    if &magic != SEGMENT_MAGIC {
        return Err(Error::corrupt(None, format!("{name}: not a segment file")));
    }
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 12];
        match r.read(&mut head[..1]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
        r.read_exact(&mut head[1..])
            .map_err(|_| Error::corrupt(None, format!("{name}: truncated record")))?;
        let first = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(head[8..].try_into().unwrap_or_default()) as usize;
        let mut bytes = vec![0u8; len];
        r.read_exact(&mut bytes).map_err(|_| Error::corrupt(first, format!("{name}: truncated chunk")))?;
        out.push((first, bytes));
    }
    Ok(out)
}

/// What [`verify_backup`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Segments checked.
    pub segments: usize,
    /// Events checked (the last seq).
    pub events: u64,
    /// Bytes of segment files.
    pub bytes: u64,
    /// Chain hash after the last seq, hex.
    pub chain_hex: String,
}

/// Checks a backup: every file's blake3, every chunk's structure and hash
/// chain from seq 1, every body, and that segments and manifest agree.
///
/// # Errors
/// [`Error::Corrupt`] naming the file and, when known, the seq.
pub fn verify_backup(dest: &Path) -> Result<BackupReport> {
    check_backup(dest)
}

/// Checks a backup's files and chunks in order (see [`verify_backup`]).
fn check_backup(dest: &Path) -> Result<BackupReport> {
    let manifest = Manifest::load(dest)?.ok_or_else(|| {
        Error::corrupt(None, format!("{} holds no backup ({MANIFEST_FILE} is missing)", dest.display()))
    })?;
    let mut checker = ChainChecker::new(0, GENESIS)?;
    let mut bytes = 0;
    for seg in &manifest.segments {
        let path = dest.join(&seg.file);
        let data = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let hash = blake3::hash(&data).to_hex().to_string();
        if hash != seg.blake3 {
            return Err(Error::corrupt(
                None,
                format!("{}: blake3 differs from the manifest (file changed)", seg.file),
            ));
        }
        bytes += data.len() as u64;
        if seg.first_seq != checker.next_seq {
            return Err(Error::corrupt(
                checker.next_seq,
                format!("{}: starts at seq {}", seg.file, seg.first_seq),
            ));
        }
        for (first, chunk_bytes) in read_segment(&path)? {
            let chunk = frame::decode_chunk(first, chunk_bytes.as_slice())
                .map_err(|(seq, why)| Error::corrupt(seq, format!("{}: {why}", seg.file)))?;
            checker.check(&chunk, None).map_err(|e| in_file(&seg.file, e))?;
        }
        if checker.next_seq != seg.last_seq + 1 || hex(&checker.chain) != seg.chain_end {
            return Err(Error::corrupt(
                seg.last_seq,
                format!("{}: ends differently from the manifest", seg.file),
            ));
        }
    }
    if checker.next_seq != manifest.head_seq + 1 || hex(&checker.chain) != manifest.head_chain {
        return Err(Error::corrupt(manifest.head_seq, "the manifest's head differs from its segments"));
    }
    Ok(BackupReport {
        segments: manifest.segments.len(),
        events: manifest.head_seq,
        bytes,
        chain_hex: hex(&checker.chain),
    })
}

fn in_file(file: &str, e: Error) -> Error {
    match e {
        Error::Corrupt { seq, reason } => Error::Corrupt { seq, reason: format!("{file}: {reason}") },
        other => other,
    }
}

/// Where a restore stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePoint {
    /// Everything in the backup.
    All,
    /// Events `1..=N`.
    UntilSeq(u64),
    /// The prefix that ends just before the first event whose ts is later
    /// than this time (UTC ns; engine/FORMAT.md, "Time index semantics").
    At(i64),
}

/// What a restore did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreReport {
    /// Events restored.
    pub events: u64,
    /// Last seq restored.
    pub last_seq: u64,
    /// ts of the last restored event (UTC ns), if any.
    pub last_ts_ns: Option<i64>,
    /// Chain hash after the last seq, hex.
    pub chain_hex: String,
}

/// Restores the backup in `backup` into a new database at `to`: the
/// [`stage_restore`] and [`StagedRestore::commit`] of one call, waiting for
/// no lock.
///
/// **Durability:** when this returns Ok the restored database is on disk.
///
/// # Errors
/// As [`stage_restore`] and [`StagedRestore::commit`].
pub fn restore(
    backup: &Path,
    to: &Path,
    point: RestorePoint,
    force: bool,
    dry_run: bool,
) -> Result<RestoreReport> {
    stage_restore(backup, to, point, force, dry_run, Duration::ZERO)?.commit()
}

/// A restore built and verified beside its target, not yet in place; see
/// [`stage_restore`]. Dropped without [`StagedRestore::commit`], it removes
/// what it built and leaves the target as it was.
#[derive(Debug)]
pub struct StagedRestore {
    to: PathBuf,
    /// The new database (`.<name>.restore-<pid>` beside `to`); `None` for a dry run.
    built: Option<PathBuf>,
    /// The lock of an existing `to`, held until the new storage is in place.
    lock: Option<DirLock>,
    report: RestoreReport,
}

/// Verifies the backup in `backup` and builds the restore point's prefix as
/// a new database in a temporary directory beside `to` (nothing is built
/// for `dry_run`). The caller may prepare the new database further (open it
/// at [`StagedRestore::path`], e.g. to rebuild projections), then puts it in
/// place with [`StagedRestore::commit`].
///
/// An existing `to` must be free: its lock (`DIR/LOCK`) is taken first,
/// waiting up to `lock_timeout`, and held until the commit, so no server,
/// recorder or command can use it meanwhile. An existing non-empty `to` is
/// refused unless `force`.
///
/// # Errors
/// [`Error::Corrupt`] naming the file and seq for a damaged backup;
/// [`Error::Refused`] for a target that is not empty (without `force`),
/// one that another process holds (naming it, e.g. `process 1234 (orc-log
/// serve)`), or a point before the first event; I/O and store errors.
pub fn stage_restore(
    backup: &Path,
    to: &Path,
    point: RestorePoint,
    force: bool,
    dry_run: bool,
    lock_timeout: Duration,
) -> Result<StagedRestore> {
    let report = verify_backup(backup)?;
    let manifest = Manifest::load(backup)?.ok_or_else(|| Error::corrupt(None, "manifest vanished"))?;
    let _ = manifest.head_chain_bytes()?;
    if let RestorePoint::UntilSeq(n) = point
        && (n == 0 || n > report.events)
    {
        return Err(Error::Refused(format!(
            "--until-seq {n} is outside the backup, which holds seqs 1..={}",
            report.events
        )));
    }
    let non_empty = std::fs::read_dir(to).map(|mut d| d.next().is_some()).unwrap_or(false);
    if non_empty && !force {
        return Err(Error::Refused(format!(
            "{} exists and is not empty; pass --force to replace it",
            to.display()
        )));
    }
    let lock = if to.is_dir() {
        match lock::lock(to, lock_timeout) {
            Ok(l) => Some(l),
            Err(Error::Locked { holder, .. }) => {
                return Err(Error::Refused(format!(
                    "{} is in use by {holder}: stop it before restoring over it (nothing was changed)",
                    to.display()
                )));
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    let parent = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_dir(parent)?;
    let tmp = parent.join(format!(".{name}.restore-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
    }
    let mut staged = StagedRestore { to: to.to_owned(), built: None, lock, report: RestoreReport::default() };
    if !dry_run {
        staged.built = Some(tmp.clone());
    }
    staged.report = build(backup, &manifest, &tmp, point, dry_run)?;
    Ok(staged)
}

impl StagedRestore {
    /// What the restore holds (or, for a dry run, would hold).
    pub fn report(&self) -> &RestoreReport {
        &self.report
    }

    /// The new database directory, not yet in place (`None` for a dry run).
    pub fn path(&self) -> Option<&Path> {
        self.built.as_deref()
    }

    /// Puts the new database in place and returns the report (a dry run
    /// changes nothing).
    ///
    /// A `to` that did not exist is the new directory, renamed into place.
    /// Into an existing `to`, under its lock, only the storage is replaced
    /// ([`crate::STORAGE_ENTRIES`]: `segments`, `store` and what an
    /// upgrade or a rebuild left): the old storage is moved to
    /// `.<name>.replaced-<pid>` beside it, the new moved in, and the old
    /// removed. Every other file in `to` (`alerts.toml`, the server's
    /// socket, anything the user put there) stays as it was. A crash in
    /// between leaves `to/RESTORING` naming the old storage: opening the
    /// database refuses until a restore is run again.
    ///
    /// **Durability:** when this returns Ok the restored database is on disk.
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn commit(mut self) -> Result<RestoreReport> {
        let Some(built) = self.built.take() else { return Ok(self.report.clone()) };
        let to = self.to.clone();
        let parent = built.parent().unwrap_or(Path::new(".")).to_owned();
        let result = if self.lock.is_none() {
            std::fs::rename(&built, &to).map_err(|e| Error::io("rename", &built, e))
        } else {
            replace_storage(&built, &to, &parent)
        };
        if result.is_err() && self.lock.is_none() {
            // Nothing of `to` was touched: the new database is removed.
            self.built = Some(built);
        }
        // Otherwise the storage may be half moved: everything is kept, and
        // `to/RESTORING` says where the old storage is.
        result?;
        head::sync_dir(&parent)?;
        Ok(self.report.clone())
    }
}

impl Drop for StagedRestore {
    fn drop(&mut self) {
        if let Some(built) = self.built.take() {
            let _ = std::fs::remove_dir_all(built);
        }
    }
}

/// Moves the storage of the database `built` into the existing database
/// directory `to` (whose lock the caller holds), replacing its storage and
/// nothing else; see [`StagedRestore::commit`].
fn replace_storage(built: &Path, to: &Path, parent: &Path) -> Result<()> {
    let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    let old = parent.join(format!(".{name}.replaced-{}", std::process::id()));
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io("remove", &old, e))?;
    }
    create_dir(&old)?;
    let marker = to.join(RESTORE_MARKER);
    let mut f = create_file(&marker)?;
    f.write_all(format!("{}\n", old.display()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("write", &marker, e))?;
    head::sync_dir(to)?;
    let rename =
        |from: &Path, into: &Path| std::fs::rename(from, into).map_err(|e| Error::io("rename", from, e));
    for entry in STORAGE_ENTRIES {
        let path = to.join(entry);
        if path.symlink_metadata().is_ok() {
            rename(&path, &old.join(entry))?;
        }
    }
    head::sync_dir(to)?;
    for entry in STORAGE_ENTRIES {
        let path = built.join(entry);
        if path.symlink_metadata().is_ok() {
            rename(&path, &to.join(entry))?;
        }
    }
    head::sync_dir(to)?;
    std::fs::remove_file(&marker).map_err(|e| Error::io("remove", &marker, e))?;
    head::sync_dir(to)?;
    std::fs::remove_dir_all(&old).map_err(|e| Error::io("remove", &old, e))?;
    std::fs::remove_dir_all(built).map_err(|e| Error::io("remove", built, e))
}

/// Writes the restore point's prefix of a verified backup into a new database
/// at `tmp`: every chunk is checked again and its events appended (so a
/// restore point inside a chunk needs nothing special, and a format 1 backup
/// restores into a format 2 database). The chain of a format 2 backup is
/// kept exactly: it covers the events' canonical encoding, not their packing.
fn build(
    backup: &Path,
    manifest: &Manifest,
    tmp: &Path,
    point: RestorePoint,
    dry_run: bool,
) -> Result<RestoreReport> {
    let mut log = if dry_run { None } else { Some(Log::open(tmp, Config::default())?) };
    let mut checker = ChainChecker::new(0, GENESIS)?;
    let mut last_ts = None;
    let mut last_seq = 0u64;
    let mut chain = GENESIS;
    let mut batch = Vec::new();
    let mut digests = Vec::new();
    // The last expired body (`orc-log compact`) in the backup, and in the prefix restored.
    let backup_cutoff = expired_through(backup, manifest)?;
    let mut cutoff: Option<crate::retention::Cutoff> = None;
    'segments: for seg in &manifest.segments {
        for (first, bytes) in read_segment(&backup.join(&seg.file))? {
            let chunk = frame::decode_chunk(first, bytes.as_slice())
                .map_err(|(seq, why)| Error::corrupt(seq, why))?;
            let frames = checker.check(&chunk, None)?;
            // How many frames of this chunk belong to the prefix.
            let keep = chunk
                .frames
                .iter()
                .take_while(|f| match point {
                    RestorePoint::All => true,
                    RestorePoint::UntilSeq(n) => f.seq <= n,
                    RestorePoint::At(t) => f.ts_ns <= t,
                })
                .count();
            if keep == 0 {
                if last_seq == 0 {
                    let ts = chunk.frames.first().map_or(0, |f| f.ts_ns);
                    return Err(Error::Refused(format!(
                        "the point in time is before the first event in the backup ({}); nothing to restore",
                        orc_log_schemas::format_rfc3339(ts)
                    )));
                }
                break 'segments;
            }
            last_seq = chunk.frames[keep - 1].seq;
            last_ts = Some(chunk.frames[keep - 1].ts_ns);
            chain = frames[keep - 1].chain;
            for f in frames.iter().take(keep).filter(|f| f.expired) {
                cutoff = Some(crate::retention::Cutoff { seq: f.seq, ts_ns: f.event.ts_ns });
            }
            if let Some(log) = log.as_mut() {
                for f in frames.into_iter().take(keep) {
                    batch.push(f.event);
                    digests.push(if f.expired {
                        Some(Replaced::Expired(f.chain_after))
                    } else {
                        f.digest.map(Replaced::Redacted)
                    });
                }
                // A commit never ends inside a run of expired frames (the
                // chain hash after it is not stored).
                if batch.len() >= RESTORE_BATCH
                    && !matches!(digests.last(), Some(Some(Replaced::Expired(None))))
                {
                    crate::log::validate(&batch)?;
                    log.append_redacted(&std::mem::take(&mut batch), &std::mem::take(&mut digests))?;
                }
            }
            if keep < chunk.frames.len() {
                break 'segments;
            }
        }
    }
    if let Some(c) = backup_cutoff.filter(|c| c.seq > last_seq) {
        return Err(Error::Refused(format!(
            "the point in time is before the retention cutoff of this backup, {c}: \
             bodies up to there expired (`orc-log compact`) before the backup was made; \
             restore to a later point, or from a backup made before the compaction"
        )));
    }
    if let Some(c) = cutoff.filter(|_| log.is_some()) {
        c.raise(tmp)?;
    }
    if let Some(mut log) = log {
        crate::log::validate(&batch)?;
        log.append_redacted(&batch, &digests)?;
        log.sync()?;
        let report = log.verify()?;
        if manifest.db_format == crate::FORMAT_VERSION && report.chain_hex != hex(&chain) {
            return Err(Error::corrupt(last_seq, "the restored chain differs from the backup's"));
        }
        chain = log.head().chain_hash;
    }
    Ok(RestoreReport { events: last_seq, last_seq, last_ts_ns: last_ts, chain_hex: hex(&chain) })
}

/// The last frame of the backup in `backup` whose body expired, read from
/// the chunks' column headers.
fn expired_through(backup: &Path, manifest: &Manifest) -> Result<Option<crate::retention::Cutoff>> {
    let mut out = None;
    for seg in &manifest.segments {
        for (first, bytes) in read_segment(&backup.join(&seg.file))? {
            let chunk = frame::decode_chunk(first, bytes.as_slice())
                .map_err(|(seq, why)| Error::corrupt(seq, why))?;
            if let Some(f) = chunk.frames.iter().rev().find(|f| f.expired) {
                out = Some(crate::retention::Cutoff { seq: f.seq, ts_ns: f.ts_ns });
            }
        }
    }
    Ok(out)
}

/// Events appended per commit while restoring.
const RESTORE_BATCH: usize = 20_000;
