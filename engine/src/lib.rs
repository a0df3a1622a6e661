//! orc-log's append-only event log.
//!
//! A [`Log`] is a database directory holding append-only *segment files* of
//! *chunks* (the events of one commit, header fields column by column, bodies
//! compressed together), the source of truth, and an index with what can be
//! rebuilt from them (the seq, time, per-target and id indexes: a sled store,
//! with the newest segments' entries in memory until they are sealed), plus
//! projection checkpoint files. Events get gapless seqs from 1; every event is
//! chained with blake3 over its canonical encoding, so [`Snapshot::verify`]
//! finds any changed, missing or rolled-back byte. Opening cuts a torn tail
//! and rebuilds a missing or damaged index. `engine/FORMAT.md` documents
//! every byte.
//!
//! The engine never sees clap, DataFusion or anyhow; each storage crate is
//! named in one module (`store`: sled, `codec`: bincode, `compress`: zstd).
//!
//! ```
//! # fn main() -> Result<(), orc_log_engine::Error> {
//! use orc_log_engine::{Config, Filter, Log};
//! use orc_log_schemas::{Event, EventBody};
//! let dir = tempfile::tempdir().unwrap();
//! let mut log = Log::open(dir.path(), Config::default())?;
//! let ev = Event { ts_ns: 0, id: None, body: EventBody::Marker { label: "hi".into(), target: None } };
//! let receipt = log.append(&[ev.clone()])?; // durable once this returns
//! assert_eq!(receipt.last_seq, 1);
//! let back: Vec<_> = log.scan(Filter::default())?.collect::<Result<_, _>>()?;
//! assert_eq!(back[0].event, ev);
//! log.verify()?;
//! # Ok(()) }
//! ```

pub mod backup;
mod config;
mod error;
mod follow;
mod log;
mod position;
mod redact;
pub mod retention;
mod scan;
mod seal;
mod shared;
mod snapshot;
mod storage;
mod verify;

pub use config::{Config, FORMAT_VERSION};
pub use error::{Error, Result};
pub use follow::{Batch, Follower};
pub use log::{AppendReceipt, Log, RESTORE_MARKER, STORAGE_ENTRIES};
pub use position::Head;
pub use redact::{RedactedBody, body_digest, redact_backup, redact_torn_files};
pub use scan::{EventMeta, Filter, Scan};
pub use seal::SealReport;
pub use shared::{MAX_GROUP_EVENTS, SharedLog};
pub use snapshot::{Snapshot, Storage};
pub use verify::VerifyReport;

#[cfg(test)]
mod tests;
