//! The server crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong reaching or running a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file call failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("bind", "connect to the server at", ...).
        action: &'static str,
        /// The socket or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] orc_log_engine::Error),
    /// Another process held the database for longer than the lock timeout.
    #[error(
        "database {} is in use by {holder} (waited {}; raise --lock-timeout or ORC_LOG_LOCK_TIMEOUT, or run commands through `orc-log serve`)",
        path.display(),
        format_secs(*waited)
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// Who holds it, e.g. `process 1234 (orc-log emit marker --label x)`.
        holder: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// No database exists where one was expected.
    #[error(
        "no database at {} (create one with `orc-log ingest` or `orc-log emit`; choose another with --db or ORC_LOG_DB)",
        .0.display()
    )]
    NoDatabase(PathBuf),
    /// A server already serves this database.
    #[error("process {pid} is already serving {} on {}", db.display(), socket.display())]
    AlreadyServing {
        /// The running server's pid.
        pid: u32,
        /// Its database.
        db: PathBuf,
        /// Its socket.
        socket: PathBuf,
    },
    /// The server answered with an error.
    #[error("server: {0}")]
    Server(String),
    /// The connection broke or closed.
    #[error("server connection: {0}")]
    Disconnected(String),
    /// The peer spoke out of turn.
    #[error("protocol: {0}")]
    Protocol(String),
}

fn format_secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// `Result` with the server crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
