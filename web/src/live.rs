//! The live team view: one thread follows the log (an engine
//! [`orc_log_engine::Follower`]), folds new events into a [`Team`] with the
//! projections' fold ([`fold_batch`]) and publishes its JSON (at most [`PUBLISH_EVERY`] apart,
//! and every [`REFRESH_EVERY`] without events, as idle statuses depend on
//! the clock). Every client of the team page gets the same serialized bytes,
//! so a hundred open pages cost one fold and one serialization.
//!
//! The follower also stores `Team`'s time-travel checkpoints as it passes
//! their seqs (`web-team@SEQ`, see [`orc_log_projections::history`]): it
//! starts from the newest one (folding from seq 1 only the first time), and
//! `/api/team?at=` starts from the nearest one.

use crate::team::Team;
use orc_log_engine::{Batch, EventMeta, Filter, SharedLog};
use orc_log_projections::{ProjectionError, fold_batch, save_history_if_due, travel};
use orc_log_schemas::{Record, now_ns};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Shortest time between two published views.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Longest time between two published views while nothing is appended.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// A published team view: its seq and its JSON (`GET /api/team`).
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Last seq folded in.
    pub seq: u64,
    /// `TeamView` as JSON.
    pub json: Arc<str>,
}

/// Starts the follower thread; the receiver always holds the newest view.
/// The thread ends when the log closes or every receiver is dropped.
pub fn start(log: SharedLog) -> watch::Receiver<Published> {
    let (tx, rx) = watch::channel(Published::default());
    std::thread::Builder::new()
        .name("orc-log-web-live".into())
        .spawn(move || follow(&log, &tx))
        .map_err(|e| tracing::warn!(error = %e, "cannot start the web view's follower"))
        .ok();
    rx
}

fn publish(team: &Team, tx: &watch::Sender<Published>) -> bool {
    match serde_json::to_string(&team.view(now_ns())) {
        Ok(json) => tx.send(Published { seq: team.seq(), json: json.into() }).is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot serialize the team view");
            true
        }
    }
}

/// Events folded at most at once.
const FOLD_BATCH: usize = 2048;

fn follow(log: &SharedLog, tx: &watch::Sender<Published>) {
    let mut team = match travel::<Team>(log, log.head().seq) {
        Ok(o) => o.projection,
        Err(e) => {
            tracing::warn!(error = %e, "the web view cannot fold the log");
            return;
        }
    };
    let mut seq = team.seq();
    if !publish(&team, tx) {
        return;
    }
    let mut follower = log.follow(Filter { from_seq: seq + 1, ..Filter::default() });
    let mut last = Instant::now();
    loop {
        match follower.next_batch(REFRESH_EVERY, FOLD_BATCH) {
            Ok(Batch::Closed) => return,
            Ok(Batch::Idle) => {}
            Ok(Batch::Events(batch)) => {
                // Let a burst of commits gather, then fold them at once: up
                // to the head after the wait (so a steady stream of commits
                // still gets a view published).
                std::thread::sleep(PUBLISH_EVERY.saturating_sub(last.elapsed()));
                let head = log.head().seq;
                seq = fold(log, &mut team, seq, &batch);
                while follower.next_seq() <= head {
                    match follower.next_batch(Duration::ZERO, FOLD_BATCH) {
                        Ok(Batch::Events(batch)) => seq = fold(log, &mut team, seq, &batch),
                        Ok(Batch::Idle) => break,
                        Ok(Batch::Closed) => return,
                        Err(e) => {
                            read_failed(&e);
                            break;
                        }
                    }
                }
            }
            Err(e) => read_failed(&e),
        }
        if !publish(&team, tx) {
            return;
        }
        last = Instant::now();
    }
}

/// Says that the log cannot be read and waits before trying again.
fn read_failed(e: &orc_log_engine::Error) {
    tracing::warn!(error = %e, "the web view cannot read the log");
    std::thread::sleep(REFRESH_EVERY);
}

/// Folds the events of `batch` past `seq` into `team` with the projections'
/// fold, storing the time-travel checkpoints it passes; an event the team
/// rejects is skipped with a warning (the view goes on). Returns the last
/// seq folded.
fn fold(log: &SharedLog, team: &mut Team, mut seq: u64, batch: &[(EventMeta, Record)]) -> u64 {
    loop {
        let folded = fold_batch(team, seq, batch, |team, meta| {
            if let Err(e) = save_history_if_due(log, team, meta.seq) {
                tracing::warn!(seq = meta.seq, error = %e, "the web view cannot store a time-travel checkpoint");
            }
            Ok::<_, ProjectionError>(())
        });
        match folded {
            Ok(last) => return last,
            Err(ProjectionError::Apply { seq: bad, reason, .. }) => {
                tracing::warn!(seq = bad, reason, "the web view cannot fold an event");
                seq = bad;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the web view cannot fold the log");
                return seq;
            }
        }
    }
}
