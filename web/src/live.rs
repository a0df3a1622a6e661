//! The live team view: one thread follows the log's head, folds new events
//! into a [`Team`] and publishes its JSON (at most [`PUBLISH_EVERY`] apart,
//! and every [`REFRESH_EVERY`] without events, as idle statuses depend on
//! the clock). Every client of the team page gets the same serialized bytes,
//! so a hundred open pages cost one fold and one serialization.
//!
//! The follower also stores `Team`'s time-travel checkpoints as it passes
//! their seqs (`web-team@SEQ`, see [`orc_log_projections::history`]): it
//! starts from the newest one (folding from seq 1 only the first time), and
//! `/api/team?at=` starts from the nearest one.

use crate::team::Team;
use orc_log_engine::{Filter, SharedLog};
use orc_log_projections::{Projection, history_due, save_history, travel};
use orc_log_schemas::now_ns;
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

fn follow(log: &SharedLog, tx: &watch::Sender<Published>) {
    let mut team = match travel::<Team>(log, log.head().seq) {
        Ok(o) => o.projection,
        Err(e) => {
            tracing::warn!(error = %e, "the web view cannot fold the log");
            return;
        }
    };
    let mut done = team.seq();
    if !publish(&team, tx) {
        return;
    }
    let mut last = Instant::now();
    loop {
        let Some(head) = log.wait_for_head(done, REFRESH_EVERY) else { return };
        if head > done {
            // Let a burst of commits gather, then fold them at once.
            let wait = PUBLISH_EVERY.saturating_sub(last.elapsed());
            std::thread::sleep(wait);
            let snap = log.snapshot();
            let filter = Filter { from_seq: done + 1, until_seq: Some(snap.head().seq), ..Filter::default() };
            let folded = snap.scan_with_meta(filter).map(|scan| {
                for item in scan {
                    let (meta, record) = item?;
                    if let Err(reason) = team.apply(&record.event, &meta) {
                        tracing::warn!(seq = meta.seq, reason, "the web view cannot fold an event");
                    }
                    done = meta.seq;
                    if history_due::<Team>(done)
                        && let Err(e) = save_history(log, &team, done)
                    {
                        tracing::warn!(seq = done, error = %e, "the web view cannot store a time-travel checkpoint");
                    }
                }
                Ok::<_, orc_log_engine::Error>(())
            });
            if let Err(e) | Ok(Err(e)) = folded {
                tracing::warn!(error = %e, "the web view cannot read the log");
                std::thread::sleep(REFRESH_EVERY);
            }
        }
        if !publish(&team, tx) {
            return;
        }
        last = Instant::now();
    }
}
