//! The [`Projection`] trait.

use orc_log_engine::EventMeta;
use orc_log_schemas::Event;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a projection stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// `apply` rejected an event; the projection stops there and never skips it.
    #[error("projection {name} failed at seq {seq}: {reason}")]
    Apply {
        /// The projection.
        name: &'static str,
        /// The event's seq.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A stored checkpoint does not decode (it is rebuilt from scratch instead
    /// by [`crate::catch_up`]; this is reported only by direct loads).
    #[error("checkpoint of projection {name} is unreadable: {reason}")]
    Checkpoint {
        /// The projection.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] orc_log_engine::Error),
    /// Time travel to before the retention cutoff (or past it without the
    /// checkpoint compaction keeps there): the bodies it would fold expired.
    #[error(
        "{what} is before the retention cutoff {cutoff}: bodies up to there expired (`orc-log compact`), so the state then cannot be rebuilt; ask for a later time"
    )]
    BeforeCutoff {
        /// What was asked for (`seq N`).
        what: String,
        /// The cutoff, `TIME (seq N)`.
        cutoff: String,
    },
}

/// A fold over the log. Implementations must be deterministic: the same
/// events in the same order always give the same state (no clocks, no I/O,
/// no hash-map iteration order in output).
pub trait Projection: Serialize + DeserializeOwned + Default {
    /// The projection's name, also its checkpoint key (e.g. `"state"`).
    const NAME: &'static str;

    /// Keep a time-travel checkpoint (`NAME@SEQ`) at every seq that is a
    /// multiple of this, so that time travel folds at most this many events
    /// in the recent past; 0 keeps none. See [`crate::history`].
    const HISTORY_EVERY: u64 = 0;

    /// Folds one event into the state. `meta` carries the header facts
    /// (seq, stored and raw sizes) of the same event.
    ///
    /// # Errors
    /// A reason string when the event cannot be applied; the runner reports
    /// it with the seq and stops.
    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String>;
}
