//! Finding and opening the database directory.

use anyhow::{Context, Result, bail};
use orc_log_engine::{Config, Log};
use std::path::{Path, PathBuf};

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

/// Opens (creating if needed) the database for writing.
pub fn open_for_write(dir: &Path) -> Result<Log> {
    Log::open(dir, Config::default()).with_context(|| format!("cannot open database {}", dir.display()))
}

/// Opens an existing database; a missing one is an error, not created.
pub fn open_existing(dir: &Path) -> Result<Log> {
    if !dir.join("HEAD").exists() && !dir.join("store").exists() {
        bail!(
            "no database at {} (create one with `orc-log ingest` or `orc-log emit`; choose another with --db or ORC_LOG_DB)",
            dir.display()
        );
    }
    open_for_write(dir)
}
