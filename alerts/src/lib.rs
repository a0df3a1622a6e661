//! orc-log alert rules.
//!
//! A rule file ([`config`], TOML) names conditions on the log (a pane
//! crashed, an agent idle, a check-in overdue, a tool failing repeatedly, no
//! capture from a session) and what to do when one holds (type a message
//! into a tmux pane, run a command, POST a webhook). [`eval`] decides, purely,
//! what fires; [`actions`] does it and appends one `alert` event per firing;
//! [`Alerter`] runs both inside `orc-log serve`.

pub mod actions;
pub mod config;
pub mod eval;

pub use actions::Actor;
pub use config::{ConfigError, Rules};
pub use eval::{Cutoff, Evaluation, Firing, Tracker, evaluate, evaluate_all};

use orc_log_engine::{Batch, Filter, SharedLog};
use orc_log_projections::{ProjectionError, fold_batch, view_at};
use std::sync::mpsc;
use std::time::Duration;

/// How often rules are evaluated when nothing is appended (idle, overdue
/// and no-capture conditions become true with time alone).
pub const TICK: Duration = Duration::from_secs(1);

/// Why alerts stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the log failed.
    #[error(transparent)]
    Log(#[from] orc_log_engine::Error),
    /// An event could not be folded.
    #[error("alerts cannot fold event seq {seq}: {reason}")]
    Apply {
        /// The event's seq.
        seq: u64,
        /// Why.
        reason: String,
    },
}

impl From<ProjectionError> for Error {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Apply { seq, reason, .. } => Self::Apply { seq, reason },
            ProjectionError::Log(e) => Self::Log(e),
            other => Self::Apply { seq: 0, reason: other.to_string() },
        }
    }
}

/// Events folded at most at once while following the log (after each one
/// the rules are evaluated).
const FOLLOW_BATCH: usize = 1024;

/// Evaluates rules inside the server: as events commit (after each event)
/// and every [`TICK`]. Firings are handed to a worker thread that runs their
/// actions and appends their `alert` events, so actions never hold up
/// commits or the evaluation.
#[derive(Debug)]
pub struct Alerter {
    log: SharedLog,
    rules: Rules,
}

impl Alerter {
    /// Alerts for `log` with `rules`.
    pub fn new(log: SharedLog, rules: Rules) -> Self {
        Self { log, rules }
    }

    /// Runs until the log closes (then waits for actions in flight).
    /// At start the whole log is folded and evaluated once; incidents whose
    /// `alert` is already in the log do not fire again, and incidents that
    /// began before this start (the [`Cutoff`]: now and the head seq) never
    /// fire: `on_start` gets them (with the cut-off) to say so.
    ///
    /// # Errors
    /// When the log cannot be read or folded.
    pub fn run(self, on_start: impl FnOnce(Cutoff, &[Firing])) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel::<(usize, Firing)>();
        let actor = Actor::new(self.log.clone(), &self.rules);
        let worker_rules = self.rules.clone();
        let worker = std::thread::Builder::new()
            .name("orc-log-alert-actions".into())
            .spawn(move || {
                for (i, firing) in rx {
                    if let Some(rule) = worker_rules.rules.get(i) {
                        let outcome = actor.act(rule, &firing);
                        tracing::info!(rule = %firing.rule, incident = %firing.incident, actions = %outcome, "alert fired");
                    }
                }
            })
            .map_err(|e| Error::Apply { seq: 0, reason: format!("cannot start the alert worker: {e}") })?;
        let rules = &self.rules;
        let start_ns = orc_log_schemas::now_ns();
        let mut cutoff = Cutoff { ts_ns: start_ns, seq: 0 };
        let dispatch = |tracker: &mut Tracker, tx: &mpsc::Sender<(usize, Firing)>, cutoff: Cutoff| {
            for firing in evaluate_all(rules, tracker, orc_log_schemas::now_ns(), Some(cutoff)).firings {
                tracker.note_fired(&firing.rule, &firing.incident, &firing.key(), firing.ts_ns);
                if let Some(i) = rules.rules.iter().position(|r| r.name == firing.rule) {
                    let _ = tx.send((i, firing));
                }
            }
        };
        let result = (|| {
            // The log as of now, read on a second thread as every catch-up
            // fold of the projections' runner is; then followed from there.
            let snap = self.log.snapshot();
            let start = view_at::<Tracker>(&snap, snap.head().seq)?;
            drop(snap);
            let (mut tracker, mut seq) = (start.projection, start.seq);
            cutoff.seq = seq;
            on_start(cutoff, &evaluate_all(rules, &tracker, start_ns, Some(cutoff)).before_cutoff);
            dispatch(&mut tracker, &tx, cutoff);
            let mut follower = self.log.follow(Filter { from_seq: seq + 1, ..Filter::default() });
            loop {
                match follower.next_batch(TICK, FOLLOW_BATCH)? {
                    Batch::Closed => return Ok(()),
                    Batch::Idle => dispatch(&mut tracker, &tx, cutoff),
                    Batch::Events(batch) => {
                        seq = fold_batch(&mut tracker, seq, &batch, |t, _| {
                            dispatch(t, &tx, cutoff);
                            Ok::<_, Error>(())
                        })?;
                    }
                }
            }
        })();
        drop(tx);
        let _ = worker.join();
        result
    }
}
