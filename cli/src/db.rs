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

/// Damage a read met: the last seq that reads back intact before it, and why.
#[derive(Debug, Clone)]
pub struct Damaged {
    /// The last seq before the damage (0 when nothing reads back).
    pub last_intact: u64,
    /// Why, naming the seq, segment file or offset.
    pub why: String,
}

/// The damage in `err`'s chain, if any: an engine `Corrupt` error with a
/// known seq, directly or inside a projection error.
pub fn damage_in(err: &anyhow::Error) -> Option<Damaged> {
    use orc_log_engine::Error;
    use orc_log_projections::ProjectionError;
    err.chain().find_map(|e| {
        let engine = e.downcast_ref::<Error>().or_else(|| match e.downcast_ref::<ProjectionError>() {
            Some(ProjectionError::Log(inner)) => Some(inner),
            _ => None,
        })?;
        match engine {
            Error::Corrupt { seq: Some(seq), .. } => {
                Some(Damaged { last_intact: seq.saturating_sub(1), why: engine.to_string() })
            }
            _ => None,
        }
    })
}

/// Runs `read` over the whole log (`read(None)`); when it meets damage,
/// runs it again over the events before the damage (`read(Some(last))`,
/// events `1..=last`), so that a command shows what reads back intact, and
/// returns the damage too, for [`report_damage`]. A second read that meets
/// damage further back reads less again.
///
/// # Errors
/// Whatever `read` returns other than damage, or damage that does not move
/// back.
pub fn read_intact<T>(mut read: impl FnMut(Option<u64>) -> Result<T>) -> Result<(T, Option<Damaged>)> {
    let mut found: Option<Damaged> = None;
    loop {
        match read(found.as_ref().map(|d| d.last_intact)) {
            Ok(v) => return Ok((v, found)),
            Err(e) => match damage_in(&e) {
                Some(d) if found.as_ref().is_none_or(|f| d.last_intact < f.last_intact) => found = Some(d),
                _ => return Err(e),
            },
        }
    }
}

/// Says on `err` that the log is damaged and where reading stops (at
/// `last_intact + 1`; what a command showed before it reads back intact).
///
/// # Errors
/// When `err` cannot be written.
pub fn report_damage(err: &mut dyn std::io::Write, d: &Damaged) -> std::io::Result<()> {
    writeln!(err, "orc-log: the log is damaged: {}", d.why)?;
    match d.last_intact {
        0 => writeln!(
            err,
            "orc-log: reading stops at seq 1: no event reads back intact; run `orc-log verify` (the data may still be in the segment files: do not delete them)"
        ),
        n => writeln!(
            err,
            "orc-log: reading stops at seq {}: what was shown before it reads back intact; run `orc-log verify` to check the whole log",
            n + 1
        ),
    }
}

/// The exit status of a read command that showed its output: 0, or 1
/// after [`report_damage`] when it met damage.
///
/// # Errors
/// When `err` cannot be written.
pub fn exit_status(err: &mut dyn std::io::Write, damage: Option<&Damaged>) -> std::io::Result<u8> {
    match damage {
        Some(d) => report_damage(err, d).map(|()| 1),
        None => Ok(0),
    }
}
