//! What a command runs against: the database (opened here or owned by a
//! server) and where its output goes (the terminal, or a client's socket).

use orc_log_engine::{EventMeta, Filter, Log};
use orc_log_schemas::Record;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

/// Records decoded per page by the read commands (see [`Db::for_each_record`]).
pub const PAGE_RECORDS: usize = 1024;

/// Frame headers read per page when only headers are needed
/// ([`Db::for_each_meta`]).
pub const PAGE_META: usize = 16_384;

/// A shared handle to an open database.
///
/// Reads take a shared lock and appends an exclusive one, so a server can
/// serve many clients from one `Log`. Commits are announced through
/// [`Db::wait_for_head`] for followers.
#[derive(Clone)]
pub struct Db {
    log: Arc<RwLock<Log>>,
    head: Arc<(Mutex<HeadState>, Condvar)>,
    dir: PathBuf,
}

#[derive(Default)]
struct HeadState {
    seq: u64,
    closing: bool,
}

impl Db {
    /// Wraps an open log.
    pub fn new(log: Log) -> Self {
        let seq = log.head().seq;
        let dir = log.dir().to_owned();
        Self {
            log: Arc::new(RwLock::new(log)),
            head: Arc::new((Mutex::new(HeadState { seq, closing: false }), Condvar::new())),
            dir,
        }
    }

    /// The shared log itself, for consumers that lock it page by page
    /// themselves (the SQL tables).
    pub fn shared_log(&self) -> Arc<RwLock<Log>> {
        Arc::clone(&self.log)
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` with shared access.
    pub fn read<R>(&self, f: impl FnOnce(&Log) -> R) -> R {
        let guard = self.log.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    /// Calls `each` with every record `filter` selects, in seq order, reading
    /// `page` records per hold of the shared lock (it is released between
    /// pages and never held while `each` runs, so a slow reader never holds
    /// up writers for long). Stops early when `each` returns `false`.
    ///
    /// # Errors
    /// A read error, or the first error `each` returns.
    pub fn for_each_record(
        &self,
        filter: &Filter,
        page: usize,
        each: impl FnMut(Record) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        self.for_each_page(filter, |log, f| log.scan(f)?.take(page).collect(), |r: &Record| r.seq, each)
    }

    /// [`Db::for_each_record`] over frame headers only (`Log::scan_meta`:
    /// nothing is decompressed).
    ///
    /// # Errors
    /// A read error, or the first error `each` returns.
    pub fn for_each_meta(
        &self,
        filter: &Filter,
        page: usize,
        each: impl FnMut(EventMeta) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        self.for_each_page(
            filter,
            |log, f| log.scan_meta(f)?.take(page).collect(),
            |m: &EventMeta| m.seq,
            each,
        )
    }

    /// The page loop of [`Db::for_each_record`] and [`Db::for_each_meta`]:
    /// `read` returns the next page from `filter.from_seq` on.
    fn for_each_page<T>(
        &self,
        filter: &Filter,
        read: impl Fn(&Log, Filter) -> orc_log_engine::Result<Vec<T>>,
        seq: impl Fn(&T) -> u64,
        mut each: impl FnMut(T) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let mut filter = filter.clone();
        loop {
            let items = self.read(|log| read(log, filter.clone()))?;
            let Some(end) = items.last().map(&seq) else { return Ok(()) };
            for item in items {
                if !each(item)? {
                    return Ok(());
                }
            }
            filter.from_seq = end + 1;
        }
    }

    /// Runs `f` with exclusive access, then announces the new head.
    pub fn write<R>(&self, f: impl FnOnce(&mut Log) -> R) -> R {
        let mut guard = self.log.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = f(&mut guard);
        let seq = guard.head().seq;
        drop(guard);
        let (lock, cv) = &*self.head;
        let mut h = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seq != h.seq {
            h.seq = seq;
            cv.notify_all();
        }
        r
    }

    /// Waits up to `timeout` for the head to pass `seq`; returns the head
    /// seq, or `None` when the database is closing.
    pub fn wait_for_head(&self, seq: u64, timeout: Duration) -> Option<u64> {
        let (lock, cv) = &*self.head;
        let h = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (h, _) = cv
            .wait_timeout_while(h, timeout, |h| h.seq <= seq && !h.closing)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if h.closing { None } else { Some(h.seq) }
    }

    /// Wakes followers and tells them to stop.
    pub fn close(&self) {
        let (lock, cv) = &*self.head;
        lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner).closing = true;
        cv.notify_all();
    }
}

/// Where a command writes: stdout and stderr of the process, or a client's
/// socket. `cwd` is the user's working directory, for relative paths.
pub struct Io<'a> {
    /// Normal output.
    pub out: &'a mut dyn Write,
    /// Diagnostics.
    pub err: &'a mut dyn Write,
    /// The user's working directory.
    pub cwd: PathBuf,
    /// Whether a server runs the command (so `--follow` can wait for other writers).
    pub served: bool,
}

impl Io<'_> {
    /// `path` as the user meant it: relative paths are taken from the user's
    /// working directory (the server's differs).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.cwd.join(path) }
    }
}
