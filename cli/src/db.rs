//! Finding the database directory and reaching it: through its server, or
//! opened here, waiting up to `--lock-timeout` while another process holds it.

use anyhow::{Result, bail};
use orc_log_server::{Appender, Endpoint, OpenOptions, connect_or_open};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The database directory: `--db`, else `$ORC_LOG_DB`, else
/// `$XDG_DATA_HOME/orc-log`, else `$HOME/.local/share/orc-log` (XDG Base
/// Directory Specification defaults).
///
/// # Errors
/// When none of these is set.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = flag.or_else(|| non_empty("ORC_LOG_DB")) {
        return Ok(p);
    }
    if let Some(x) = non_empty("XDG_DATA_HOME") {
        return Ok(x.join("orc-log"));
    }
    match non_empty("HOME") {
        Some(h) => Ok(h.join(".local/share/orc-log")),
        None => bail!("no database directory: pass --db DIR or set ORC_LOG_DB"),
    }
}

/// `--lock-timeout` (or `ORC_LOG_LOCK_TIMEOUT`), set once by `app::run`.
static LOCK_TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Records the `--lock-timeout` of this run (the first call wins).
pub fn set_lock_timeout(timeout: Duration) {
    let _ = LOCK_TIMEOUT.set(timeout);
}

/// How long to wait for a database another process holds.
pub fn lock_timeout() -> Duration {
    LOCK_TIMEOUT.get().copied().unwrap_or(orc_log_server::DEFAULT_LOCK_TIMEOUT)
}

/// An existing database: its server, or opened here (a missing database is
/// an error, not created).
///
/// # Errors
/// No database, another process holding it past the lock timeout, or a
/// database that cannot be opened.
pub fn connect(dir: &Path) -> Result<Endpoint> {
    let opts = OpenOptions { create: false, lock_timeout: lock_timeout(), ..OpenOptions::default() };
    connect_or_open(dir, &opts).map_err(|e| explain(e, dir))
}

/// Adds the database directory to errors that do not name it already.
fn explain(e: orc_log_server::Error, dir: &Path) -> anyhow::Error {
    match e {
        orc_log_server::Error::Engine(_) => {
            anyhow::Error::new(e).context(format!("cannot open database {}", dir.display()))
        }
        other => other.into(),
    }
}

/// The database (created if missing) for a writer: its server, or opened here.
///
/// # Errors
/// As [`connect`], except that a missing database is created.
pub fn appender(dir: &Path) -> Result<Appender> {
    Appender::for_db(dir, lock_timeout()).map_err(|e| explain(e, dir))
}
