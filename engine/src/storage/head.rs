//! The format 1 head record: the last acknowledged seq and chain hash, kept
//! outside the store in `DIR/HEAD`. Format 2 has none (the segments are the
//! truth, and the index's head detects segments that lost events); it is read
//! only to upgrade a format 1 database.
//!
//! It is replaced atomically after every commit (write `HEAD.tmp`, fsync,
//! rename over `HEAD`, fsync the directory), so after a crash it names a seq
//! that was durable. A store that ends *before* the head record was rolled
//! back or lost data; one that ends after it crashed between its commit and
//! the record's update, which is harmless. The file is text:
//!
//! ```text
//! orc-log head v1
//! seq 166
//! chain 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```

use crate::error::{Error, Result};
use crate::storage::frame::HASH_BYTES;
use std::fs::File;
use std::path::Path;

/// A head: last seq and the chain hash after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadRecord {
    pub seq: u64,
    pub chain: [u8; HASH_BYTES],
}

const MAGIC: &str = "orc-log head v1";

/// Hex of a hash.
pub(crate) fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits into a hash; `None` for anything else.
pub(crate) fn unhex(s: &str) -> Option<[u8; HASH_BYTES]> {
    if s.len() != HASH_BYTES * 2 {
        return None;
    }
    let mut out = [0u8; HASH_BYTES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Reads `DIR/HEAD`; `None` when it does not exist.
///
/// # Errors
/// [`Error::Corrupt`] when the file is not a head record; [`Error::Io`] on read errors.
pub(crate) fn read(dir: &Path) -> Result<Option<HeadRecord>> {
    let path = dir.join("HEAD");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let bad = || Error::corrupt(None, format!("head record {} is malformed", path.display()));
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(bad());
    }
    let seq =
        lines.next().and_then(|l| l.strip_prefix("seq ")).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let chain = lines.next().and_then(|l| l.strip_prefix("chain ")).and_then(unhex).ok_or_else(bad)?;
    Ok(Some(HeadRecord { seq, chain }))
}

/// Durably replaces `DIR/HEAD` (format 1 wrote it after every commit;
/// tests build format 1 databases with it). When this returns Ok, the new record survives
/// a crash or power loss (file and directory entry are fsynced).
///
/// # Errors
/// [`Error::Io`] naming the file that failed.
#[cfg(test)]
pub(crate) fn write(dir: &Path, head: HeadRecord) -> Result<()> {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join("HEAD.tmp");
    let path = dir.join("HEAD");
    let text = format!("{MAGIC}\nseq {}\nchain {}\n", head.seq, hex(&head.chain));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_data().map_err(|e| Error::io("fsync", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    sync_dir(dir)
}

/// fsyncs a directory so that renames and new entries in it are durable.
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("fsync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_reject_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let h = HeadRecord { seq: 42, chain: [7; 32] };
        write(dir.path(), h).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(h));
        std::fs::write(dir.path().join("HEAD"), "orc-log head v1\nseq x\n").unwrap();
        assert!(read(dir.path()).is_err());
    }
}
