//! Projection checkpoints: one file per name in `DIR/checkpoints/`.
//!
//! A checkpoint is a cache (a projection's state as of a seq; a missing or
//! unreadable one is rebuilt from the log), written often (a server's
//! projection keeper writes its checkpoints every second while appends go
//! on) and possibly large (hundreds of KiB of JSON). In sled such values are
//! blobs whose old versions linger until sled's lazy garbage collection, so
//! a server's index grew by megabytes an hour; as files, each write replaces
//! the last one whole (written beside it, `fsync`ed, renamed over it, the
//! directory `fsync`ed: the SQLite/`rename(2)` atomic-replace idiom) and
//! nothing lingers. Writing one takes no lock of the log, so appends never
//! wait for a checkpoint.
//!
//! File format (FORMAT.md, "Checkpoints"): magic `ORCCKPT1` (8 bytes), the
//! raw length (u64 BE), then the bytes as one zstd frame (`compress.rs`'s
//! magicless format).

use crate::error::{Error, Result};
use crate::storage::compress::{Compressor, Decompressor};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The checkpoint directory inside a database directory.
pub(crate) const DIR_NAME: &str = "checkpoints";
const MAGIC: &[u8; 8] = b"ORCCKPT1";
/// zstd level of checkpoint files.
const LEVEL: i32 = 3;
/// A raw checkpoint larger than this is refused (and one claiming it is unreadable).
const MAX_RAW_BYTES: u64 = 1 << 30;

/// The file of checkpoint `name`: the name itself when it is made of ASCII
/// letters, digits and `@._-` (and does not start with `.`), else `x` and
/// the name's bytes in hex.
fn file_name(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"@._-".contains(&b));
    if plain { name.to_owned() } else { format!("x{}", crate::storage::head::hex(name.as_bytes())) }
}

fn path(db: &Path, name: &str) -> PathBuf {
    db.join(DIR_NAME).join(file_name(name))
}

/// Durably replaces checkpoint `name` of the database in `db` with `bytes`.
///
/// **Durability:** the new checkpoint is on disk when this returns Ok; a
/// crash before leaves the old one whole.
///
/// # Errors
/// [`Error::Io`]; [`Error::Invalid`] for a checkpoint over 1 GiB.
pub(crate) fn put(db: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    static TMP: AtomicU64 = AtomicU64::new(0);
    if bytes.len() as u64 > MAX_RAW_BYTES {
        return Err(Error::Invalid(format!("a checkpoint of {} bytes is over 1 GiB", bytes.len())));
    }
    let dir = db.join(DIR_NAME);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io("create", &dir, e))?;
    let mut packed = Vec::with_capacity(bytes.len() / 4 + 16);
    packed.extend_from_slice(MAGIC);
    packed.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    let mut z = Compressor::new(LEVEL).map_err(Error::Invalid)?;
    z.compress(bytes, None, &mut packed).map_err(Error::Invalid)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file_name(name),
        std::process::id(),
        TMP.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&packed)?;
        f.sync_data()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("write", &tmp, e));
    }
    let to = path(db, name);
    std::fs::rename(&tmp, &to).map_err(|e| Error::io("rename", &tmp, e))?;
    crate::storage::head::sync_dir(&dir)
}

/// Checkpoint `name` of the database in `db`, if there is one that reads
/// back. A damaged file is reported (a warning) and read as missing: the
/// projection is then rebuilt from the log.
///
/// # Errors
/// [`Error::Io`] when the file exists but cannot be read.
pub(crate) fn get(db: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let p = path(db, name);
    let packed = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &p, e)),
    };
    let decoded = (|| {
        let rest = packed.strip_prefix(MAGIC.as_slice()).ok_or("no checkpoint magic")?;
        let (len, frame) = rest.split_at_checked(8).ok_or("cut short")?;
        let raw_len = u64::from_be_bytes(len.try_into().map_err(|_| "cut short")?);
        if raw_len > MAX_RAW_BYTES {
            return Err("a length over 1 GiB");
        }
        let mut d = Decompressor::new().map_err(|_| "no zstd context")?;
        d.decompress(frame, None, raw_len as usize).map_err(|_| "does not decompress")
    })();
    match decoded {
        Ok(bytes) => Ok(Some(bytes)),
        Err(why) => {
            tracing::warn!("checkpoint file {} is unreadable ({why}); ignoring it", p.display());
            Ok(None)
        }
    }
}

/// Durably deletes checkpoint `name`; deleting a missing one is not an error.
///
/// # Errors
/// [`Error::Io`].
pub(crate) fn delete(db: &Path, name: &str) -> Result<()> {
    let p = path(db, name);
    match std::fs::remove_file(&p) {
        Ok(()) => crate::storage::head::sync_dir(&db.join(DIR_NAME)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &p, e)),
    }
}

/// The names of the checkpoints starting with `prefix`, sorted.
///
/// # Errors
/// [`Error::Io`] when the directory exists but cannot be listed.
pub(crate) fn names(db: &Path, prefix: &str) -> Result<Vec<String>> {
    let dir = db.join(DIR_NAME);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let name = match file.strip_prefix('x') {
            Some(hex) if file_name(&unhex(hex).unwrap_or_default()) == file => unhex(hex),
            _ if !file.starts_with('.') => Some(file.to_owned()),
            _ => None,
        };
        if let Some(name) = name.filter(|n| n.starts_with(prefix)) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..s.len() / 2).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes.filter(|_| s.len().is_multiple_of(2))?).ok()
}

/// Removes `.tmp` files a crash left mid-write (called at open, under the
/// database lock, so no writer of this database is running).
pub(crate) fn remove_leftovers(db: &Path) {
    let Ok(entries) = std::fs::read_dir(db.join(DIR_NAME)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Bytes of the checkpoint files.
pub(crate) fn bytes(db: &Path) -> u64 {
    std::fs::read_dir(db.join(DIR_NAME))
        .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_replace_list_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path();
        assert_eq!(get(db, "state").unwrap(), None);
        let big = b"{\"schedules\": []} ".repeat(10_000);
        put(db, "state", &big).unwrap();
        put(db, "state@120", b"old").unwrap();
        put(db, "a/b c", b"odd name").unwrap();
        assert_eq!(get(db, "state").unwrap().as_deref(), Some(big.as_slice()));
        assert!(bytes(db) < big.len() as u64 / 10, "compressed: {}", bytes(db));
        put(db, "state", b"new").unwrap();
        assert_eq!(get(db, "state").unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(get(db, "a/b c").unwrap().as_deref(), Some(&b"odd name"[..]));
        assert_eq!(names(db, "state").unwrap(), vec!["state".to_owned(), "state@120".to_owned()]);
        assert_eq!(names(db, "").unwrap().len(), 3);
        delete(db, "state@120").unwrap();
        delete(db, "state@120").unwrap();
        assert_eq!(names(db, "state@").unwrap(), Vec::<String>::new());
        // A damaged file reads as missing.
        std::fs::write(path(db, "state"), b"ORCCKPT1garbage").unwrap();
        assert_eq!(get(db, "state").unwrap(), None);
    }
}
