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

use orc_log_engine::{Filter, SharedLog, Snapshot};
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

/// Folds events `tracker.seq()+1 ..= until` (or to the snapshot's head) into
/// `tracker`, calling `after_each` after each one.
///
/// # Errors
/// [`Error::Log`] when the log cannot be read, [`Error::Apply`] when the
/// state projection rejects an event.
pub fn fold(
    snap: &Snapshot,
    tracker: &mut Tracker,
    until: Option<u64>,
    mut after_each: impl FnMut(&mut Tracker),
) -> Result<u64, Error> {
    let mut applied = 0;
    let filter = Filter { from_seq: tracker.seq() + 1, until_seq: until, ..Filter::default() };
    for item in snap.scan_with_meta(filter)? {
        let (meta, record) = item?;
        tracker.apply(&record.event, &meta).map_err(|reason| Error::Apply { seq: meta.seq, reason })?;
        applied += 1;
        after_each(tracker);
    }
    Ok(applied)
}

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
        let mut tracker = Tracker::default();
        let result = (|| {
            fold(&self.log.snapshot(), &mut tracker, None, |_| {})?;
            cutoff.seq = tracker.seq();
            on_start(cutoff, &evaluate_all(rules, &tracker, start_ns, Some(cutoff)).before_cutoff);
            dispatch(&mut tracker, &tx, cutoff);
            loop {
                let Some(head) = self.log.wait_for_head(tracker.seq(), TICK) else { return Ok(()) };
                if head > tracker.seq() {
                    fold(&self.log.snapshot(), &mut tracker, None, |t| dispatch(t, &tx, cutoff))?;
                } else {
                    dispatch(&mut tracker, &tx, cutoff);
                }
            }
        })();
        drop(tx);
        let _ = worker.join();
        result
    }
}
