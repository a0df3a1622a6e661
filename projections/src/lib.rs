//! Projections: the current picture as a function of the log.
//!
//! A [`Projection`] folds events into state with a pure, deterministic
//! [`Projection::apply`]; the [`runner`] brings it from its checkpoint to the
//! head (or to a seq for time travel) and stores checkpoints durably. Two
//! projections are built in: [`state::State`] (sessions, panes, schedules) and
//! [`metrics::Metrics`] (Prometheus counters and a response-time histogram).
//! Nothing here does I/O except the runner, through the engine.

pub mod ansi;
pub mod cast;
pub mod history;
pub mod metrics;
pub mod projection;
pub mod prometheus;
pub mod runner;
pub mod schedules;
pub mod search;
pub mod sql;
pub mod state;
pub mod summary;
pub mod usage;

mod content;
mod maps;

pub use projection::{Projection, ProjectionError};
pub use runner::{
    Outcome, catch_up, fold_batch, history_due, keep_for_compaction, rebuild, rebuild_pair, save,
    save_history, save_history_if_due, travel, view_at,
};

#[cfg(test)]
mod tests;
