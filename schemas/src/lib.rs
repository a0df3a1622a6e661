//! orc-log's event types and their line format.
//!
//! This crate owns the *promises to users*: the v1 event kinds and fields
//! ([`Event`], [`EventBody`]), the tmux [`Target`] (`session:window.pane`),
//! RFC 3339 timestamps as UTC nanoseconds ([`time`]), and the NDJSON format v1
//! ([`ndjson`]) that `orc-log ingest` reads and `orc-log tail --format json`
//! writes. It never does I/O beyond the buffers it is handed and knows nothing
//! of storage.

pub mod event;
pub mod ndjson;
pub mod target;
pub mod time;

pub use event::{EXPIRED_TEXT, Event, EventBody, Kind, Record, Usd};
pub use ndjson::{
    LineError, LineErrorKind, MAX_LINE_BYTES, deserialize_strict_values, event_to_json_value,
    parse_json_strict, parse_line, parse_value, to_json_line,
};
pub use target::{Target, TargetError};
pub use time::{TimeError, format_rfc3339, now_ns, parse_rfc3339, parse_time_spec};
