//! The database directory lock: one process at a time, and its name for others.
//!
//! The lock is an advisory exclusive lock (`flock(2)` through
//! `File::try_lock`) on `DIR/LOCK`, which also holds the holder's pid and
//! command line so that a second process can say who holds it. The OS drops
//! the lock when the process dies, so a killed holder never blocks the next.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Held for as long as the database is open.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

/// Takes the lock on `dir`, waiting up to `timeout` for another holder to
/// let go (SQLite's `busy_timeout`: it polls, sleeping 1 ms, then doubling
/// up to 50 ms between tries), or says who holds it.
///
/// # Errors
/// [`Error::Locked`] naming the holder once `timeout` has passed;
/// [`Error::Io`] if the file cannot be opened.
pub(crate) fn lock(dir: &Path, timeout: Duration) -> Result<DirLock> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match try_lock(dir) {
            Err(Error::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Takes the lock on `dir` now, or says who holds it.
fn try_lock(dir: &Path) -> Result<DirLock> {
    let path = dir.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut who = String::new();
            let _ = file.read_to_string(&mut who);
            let holder = describe_holder(who.trim());
            return Err(Error::Locked { path: dir.to_owned(), holder });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
    }
    let me = format!("{}\n{}\n", std::process::id(), std::env::args().collect::<Vec<_>>().join(" "));
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(me.as_bytes()))
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(DirLock { _file: file })
}

fn describe_holder(contents: &str) -> String {
    let mut lines = contents.lines();
    match (lines.next(), lines.next()) {
        (Some(pid), Some(cmd)) if !pid.is_empty() => format!("process {pid} ({cmd})"),
        (Some(pid), None) if !pid.is_empty() => format!("process {pid}"),
        _ => "another process".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), Duration::ZERO).unwrap();
        let err = lock(dir.path(), Duration::from_millis(30)).unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        drop(first);
        lock(dir.path(), Duration::ZERO).unwrap();
    }

    #[test]
    fn a_waiting_lock_is_taken_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), Duration::ZERO).unwrap();
        let path = dir.path().to_owned();
        let waiter = std::thread::spawn(move || lock(&path, Duration::from_secs(10)).map(drop));
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
