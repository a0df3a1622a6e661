//! One module per subcommand: its clap `Args` and its `run`.

pub mod backup;
pub mod emit;
pub mod ingest;
pub mod metrics;
pub mod point;
pub mod query;
pub mod replay;
pub mod restore;
pub mod serve;
pub mod session;
pub mod state;
pub mod stats;
pub mod tail;
pub mod verify;

use anyhow::{Result, anyhow};

/// clap value parser for RFC 3339 times: UTC nanoseconds.
pub fn parse_time(s: &str) -> Result<i64> {
    orc_log_schemas::parse_rfc3339(s).map_err(|e| anyhow!(e))
}
