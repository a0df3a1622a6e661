//! The spool: events that could not be appended when they happened (the
//! database locked past a short wait, missing, or its server unreachable),
//! kept in an NDJSON format v1 file until a later writer appends them.
//!
//! `orc-log hook` must never fail or slow the agent that runs it, so an event
//! it cannot append goes here; the next `orc-log hook` that reaches the
//! database, and `orc-log serve` when it starts, append the spooled events
//! first. Every spooled event carries a producer `id`, and the log skips ids
//! it already holds, so a drain interrupted after its append and before the
//! file is emptied appends nothing twice (the same at-least-once-then-dedup
//! scheme as a Kafka idempotent producer's retries).
//!
//! Concurrency: writers and the drainer take an exclusive `flock(2)` on the
//! spool file itself around each write or drain, so no line is written
//! between a drain's read and its truncation. Lines are appended with
//! `O_APPEND` and `fdatasync`ed before [`Spool::push`] returns.

use crate::client::Appender;
use crate::error::{Error, Result};
use orc_log_schemas::{Event, event_to_json_value, parse_line};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A spool file.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
}

/// What a [`Spool::drain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Events appended to the log.
    pub appended: u64,
    /// Events already in the log (an earlier drain was interrupted).
    pub duplicates: u64,
    /// Lines that are not valid events, moved to the `.rejected` file beside
    /// the spool (never dropped).
    pub rejected: u64,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_owned(), source }
}

impl Spool {
    /// The spool of database `db_dir`: `$ORC_LOG_SPOOL` when set, else the
    /// file `NAME.hook-spool.ndjson` beside the database directory `NAME`
    /// (outside it, so a missing database stays missing).
    pub fn for_db(db_dir: &Path) -> Self {
        if let Some(p) = std::env::var_os("ORC_LOG_SPOOL").filter(|v| !v.is_empty()) {
            return Self { path: PathBuf::from(p) };
        }
        let name = db_dir.file_name().map_or_else(|| "orc-log".into(), |n| n.to_string_lossy().into_owned());
        let parent = db_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self { path: parent.join(format!("{name}.hook-spool.ndjson")) }
    }

    /// A spool at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The spool file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one NDJSON line (creating the file, mode 0600, and
    /// its directory).
    ///
    /// **Durability:** when this returns Ok the line is on stable storage.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created, locked or written.
    pub fn push(&self, event: &Event) -> Result<()> {
        self.push_all(std::slice::from_ref(event))
    }

    /// Appends `events` as NDJSON lines, in order, under one lock and one
    /// `fdatasync` (creating the file, mode 0600, and its directory).
    ///
    /// **Durability:** when this returns Ok every line is on stable storage.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be created, locked or written.
    pub fn push_all(&self, events: &[Event]) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io("open", &self.path))?;
        file.lock().map_err(io("lock", &self.path))?;
        let mut lines = String::new();
        for event in events {
            lines.push_str(&event_to_json_value(event).to_string());
            lines.push('\n');
        }
        file.write_all(lines.as_bytes()).map_err(io("write", &self.path))?;
        file.sync_data().map_err(io("sync", &self.path))
    }

    /// Whether the spool holds anything (cheap: a `stat`).
    pub fn is_empty(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.len() == 0)
    }

    /// Appends every spooled event through `appender`, in spool order, then
    /// empties the spool. Lines that do not parse or validate are moved to
    /// `PATH.rejected` (with the reason on the line before each) instead.
    ///
    /// **Durability:** when this returns Ok the events are durably in the
    /// log and the spool is empty on stable storage. If it fails or the
    /// process dies part way, the spool keeps every line, and the next drain
    /// appends what the log does not hold yet.
    ///
    /// # Errors
    /// [`Error::Io`] for the spool file; append errors from `appender`
    /// (the spool is then left as it was).
    pub fn drain(&self, appender: &mut Appender) -> Result<DrainReport> {
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DrainReport::default()),
            Err(e) => return Err(io("open", &self.path)(e)),
        };
        file.lock().map_err(io("lock", &self.path))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io("read", &self.path))?;
        let mut report = DrainReport::default();
        if text.is_empty() {
            return Ok(report);
        }
        let now = orc_log_schemas::now_ns();
        let mut events = Vec::new();
        let mut rejected = String::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match parse_line(line, now).and_then(|e| e.validate().map(|()| e)) {
                Ok(e) => events.push(e),
                Err(e) => {
                    rejected.push_str(&format!("# line {}: {e}\n{line}\n", n + 1));
                    report.rejected += 1;
                }
            }
        }
        if !rejected.is_empty() {
            let bad = self.path.with_extension("ndjson.rejected");
            let mut out = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&bad)
                .map_err(io("open", &bad))?;
            out.write_all(rejected.as_bytes()).and_then(|()| out.sync_data()).map_err(io("write", &bad))?;
        }
        if !events.is_empty() {
            let receipt = appender.append(events)?;
            report.appended = receipt.appended;
            report.duplicates = receipt.duplicates;
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.sync_all())
            .map_err(io("empty", &self.path))?;
        Ok(report)
    }
}

/// Opens `path` for reading, for tests and tools that inspect a spool.
///
/// # Errors
/// [`Error::Io`] when it cannot be read.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let mut s = String::new();
    File::open(path).and_then(|mut f| f.read_to_string(&mut s)).map_err(io("read", path))?;
    Ok(s.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_log_engine::{Config, SharedLog};
    use orc_log_schemas::EventBody;

    fn marker(i: u32) -> Event {
        Event {
            ts_ns: i64::from(i),
            id: Some(format!("m-{i}")),
            body: EventBody::Marker { label: format!("m{i}"), target: None },
        }
    }

    #[test]
    fn spooled_events_are_appended_once_in_order_and_the_spool_empties() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::at(dir.path().join("x/spool.ndjson"));
        assert!(spool.is_empty());
        for i in 1..=3 {
            spool.push(&marker(i)).unwrap();
        }
        assert_eq!(read_lines(spool.path()).unwrap().len(), 3);
        let log = SharedLog::open(dir.path().join("db"), Config::default()).unwrap();
        // An earlier drain appended the first event, then died before emptying.
        log.append(vec![marker(1)]).unwrap();
        let mut appender = Appender::Direct(log.clone());
        let report = spool.drain(&mut appender).unwrap();
        assert_eq!(report, DrainReport { appended: 2, duplicates: 1, rejected: 0 });
        assert!(spool.is_empty());
        let labels: Vec<String> = log
            .snapshot()
            .scan(Default::default())
            .unwrap()
            .map(|r| match r.unwrap().event.body {
                EventBody::Marker { label, .. } => label,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(labels, ["m1", "m2", "m3"]);
        assert_eq!(spool.drain(&mut appender).unwrap(), DrainReport::default());
    }

    #[test]
    fn bad_lines_are_moved_aside_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::at(dir.path().join("spool.ndjson"));
        spool.push(&marker(1)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(spool.path())
            .unwrap()
            .write_all(b"{\"kind\":\"nope\"}\n")
            .unwrap();
        let log = SharedLog::open(dir.path().join("db"), Config::default()).unwrap();
        let report = spool.drain(&mut Appender::Direct(log)).unwrap();
        assert_eq!((report.appended, report.rejected), (1, 1));
        let rejected = std::fs::read_to_string(dir.path().join("spool.ndjson.rejected")).unwrap();
        assert!(rejected.contains("line 2: unknown kind") && rejected.contains("\"nope\""), "{rejected}");
    }

    #[test]
    fn default_path_is_beside_the_database() {
        let s = Spool::for_db(Path::new("/data/orc-log"));
        if std::env::var_os("ORC_LOG_SPOOL").is_none() {
            assert_eq!(s.path(), Path::new("/data/orc-log.hook-spool.ndjson"));
        }
    }
}
