//! orc-log's append-only event log.
//!
//! A [`Log`] is a database directory holding a sled store of *chunks* (the
//! frames of one commit, keyed by first seq), a time index and a per-target
//! index, plus a `HEAD` record outside the store. Events get gapless seqs from
//! 1; every frame is chained with blake3 so [`Log::verify`] finds any changed,
//! missing or rolled-back byte. Pane captures are zstd-compressed against the
//! previous capture of the same pane. `engine/FORMAT.md` documents every byte.
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
mod codec;
mod compress;
mod error;
mod frame;
mod head;
mod keys;
mod lock;
mod log;
mod scan;
mod shared;
mod store;
mod varint;
mod verify;

pub use error::{Error, Result};
pub use log::{AppendReceipt, Config, FORMAT_VERSION, Head, Log, Snapshot};
pub use scan::{EventMeta, Filter, Scan};
pub use shared::{MAX_GROUP_EVENTS, SharedLog};
pub use verify::VerifyReport;

#[cfg(test)]
mod tests;
