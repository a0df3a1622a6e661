//! The engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "fsync", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The underlying key-value store reported an error.
    #[error("store error: {0}")]
    Store(String),
    /// The underlying key-value store panicked (typically on a damaged file);
    /// the panic was caught and turned into this error.
    #[error(
        "the store crashed while {action}: {message} (the database files may be damaged; run `orc-log verify`)"
    )]
    StorePanic {
        /// What was being done.
        action: &'static str,
        /// The panic message.
        message: String,
    },
    /// Another process holds the database.
    #[error("database {} is in use by {holder}; stop it or run the command through `orc-log serve`", path.display())]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// Who holds it, e.g. `process 1234 (orc-log serve)`.
        holder: String,
    },
    /// Stored data failed a check. `seq` is the first bad position when known.
    #[error("{}", corrupt_message(*seq, reason))]
    Corrupt {
        /// The first bad seq, when known.
        seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The store holds fewer events than the head record says were acknowledged.
    #[error(
        "the store ends at seq {store_head} but the head record says seq {record_head} was acknowledged: \
         the store was rolled back or lost data"
    )]
    RolledBack {
        /// Last seq in the store.
        store_head: u64,
        /// Last seq in the head record.
        record_head: u64,
    },
    /// The database was written by an unknown format version.
    #[error("database format {found} is not supported (this build reads format {supported})")]
    Format {
        /// The version found.
        found: String,
        /// The version this build reads.
        supported: u32,
    },
    /// A request was refused before anything was written (e.g. a restore
    /// target that exists, a point in time before the first event).
    #[error("{0}")]
    Refused(String),
    /// An event cannot be stored (e.g. larger than the limit).
    #[error("event cannot be stored: {0}")]
    Invalid(String),
    /// A setting of the database is invalid: its retention rules
    /// (`retention.toml`) or a pin, named with the key and value.
    #[error("{0}")]
    Config(String),
    /// An event breaks a rule of format v1 ([`orc_log_schemas::Event::validate`]);
    /// nothing of its batch was written.
    #[error("event {} of the batch is invalid: {source}", index + 1)]
    InvalidEvent {
        /// Position of the event in its batch, from 0.
        index: usize,
        /// The rule it breaks, as `ingest` reports it for a line.
        #[source]
        source: orc_log_schemas::LineError,
    },
    /// A write failed part-way (an I/O or store error during a commit), so
    /// this handle no longer knows what is on disk and refuses further
    /// writes. Acknowledged events are safe; reopening the database re-reads
    /// the true head. Modelled on fjall's `Poisoned`.
    #[error("an earlier write failed ({reason}); reopen the database to append again")]
    Poisoned {
        /// The failure that poisoned the handle.
        reason: String,
    },
    /// The database is closed (a [`crate::SharedLog`] after `close`).
    #[error("the database is closed")]
    Closed,
}

fn corrupt_message(seq: Option<u64>, reason: &str) -> String {
    match seq {
        Some(seq) => format!("corrupt at seq {seq}: {reason}"),
        None => format!("corrupt: {reason}"),
    }
}

impl Error {
    /// A copy of this error for another waiter of the same failed group
    /// commit (an `io::Error` is not `Clone`: its kind and text are kept).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Io { action, path, source } => Error::Io {
                action,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Store(m) => Error::Store(m.clone()),
            Error::StorePanic { action, message } => Error::StorePanic { action, message: message.clone() },
            Error::Locked { path, holder } => Error::Locked { path: path.clone(), holder: holder.clone() },
            Error::Corrupt { seq, reason } => Error::Corrupt { seq: *seq, reason: reason.clone() },
            Error::RolledBack { store_head, record_head } => {
                Error::RolledBack { store_head: *store_head, record_head: *record_head }
            }
            Error::Format { found, supported } => {
                Error::Format { found: found.clone(), supported: *supported }
            }
            Error::Refused(m) => Error::Refused(m.clone()),
            Error::Invalid(m) => Error::Invalid(m.clone()),
            Error::Config(m) => Error::Config(m.clone()),
            Error::InvalidEvent { index, source } => {
                Error::InvalidEvent { index: *index, source: source.clone() }
            }
            Error::Poisoned { reason } => Error::Poisoned { reason: reason.clone() },
            Error::Closed => Error::Closed,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn corrupt(seq: impl Into<Option<u64>>, reason: impl Into<String>) -> Self {
        Error::Corrupt { seq: seq.into(), reason: reason.into() }
    }
}

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A zstd failure as an [`Error::Invalid`].
pub(crate) fn zstd_err(e: String) -> Error {
    Error::Invalid(format!("zstd: {e}"))
}
