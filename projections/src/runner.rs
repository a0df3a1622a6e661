//! Bringing projections up to date: checkpoints, catch-up, rebuild, time travel.
//!
//! A checkpoint is JSON `{"format": 3, "seq": N, "state": ...}`, stored under
//! the projection's name in the log's checkpoint space (a zstd-compressed
//! file, `engine/FORMAT.md`, "Checkpoints"); it is only a cache: a
//! missing, unreadable or too-new checkpoint (seq past the head, e.g. after a
//! restore) means "rebuild from scratch".
//!
//! Projections with [`Projection::HISTORY_EVERY`] > 0 also keep time-travel
//! checkpoints (`NAME@SEQ`, see [`crate::history`]), stored by the folds that
//! pass their seqs; [`view_at`] and [`travel`] start from the nearest
//! checkpoint at or before the seq asked for (the projection's own or a
//! time-travel one), so they fold at most `HISTORY_EVERY` events in the
//! recent past.

use crate::projection::{Projection, ProjectionError};
use orc_log_engine::{EventMeta, Filter, SharedLog, Snapshot};
use orc_log_schemas::Record;
use serde::{Deserialize, Serialize};

/// Checkpoints of another format are rebuilt (time-travel ones dropped).
/// 2: the state keeps the event time of each fact meaning "the latest"
/// (back-dated events do not move it). 3: `state` and `metrics` keep only
/// pending and a few fired or long-overdue schedules per pane, with counts
/// of the rest ([`crate::schedules`]), and each pane's screen as a hash.
pub const CHECKPOINT_FORMAT: u32 = 3;

#[derive(Serialize, Deserialize)]
struct Checkpoint<P> {
    format: u32,
    seq: u64,
    state: P,
}

/// A projection brought to a seq.
#[derive(Debug, Clone)]
pub struct Outcome<P> {
    /// The projection's state.
    pub projection: P,
    /// Last seq folded in (0 for an empty prefix).
    pub seq: u64,
    /// Events applied by this call.
    pub applied: u64,
    /// Seq of the checkpoint it started from (0 = from scratch).
    pub from_checkpoint: u64,
}

/// A checkpoint's format, read before its state: a state of another
/// format need not decode (it is rebuilt quietly, not reported as unreadable).
#[derive(Deserialize)]
struct Format {
    format: u32,
}

/// A checkpoint's format and seq, read without decoding its state.
#[derive(Deserialize)]
struct Header {
    format: u32,
    seq: u64,
}

/// Reads `P`'s checkpoint; `None` when missing, of another format, unreadable or past the head.
fn load<P: Projection>(log: &Snapshot) -> Result<Option<(P, u64)>, ProjectionError> {
    let Some(bytes) = log.checkpoint(P::NAME)? else { return Ok(None) };
    Ok(decode(log, &bytes, P::NAME))
}

/// Decodes checkpoint `bytes` (named `name`); `None` when of another
/// format, unreadable or past the head.
fn decode<P: Projection>(log: &Snapshot, bytes: &[u8], name: &str) -> Option<(P, u64)> {
    if serde_json::from_slice::<Format>(bytes).is_ok_and(|f| f.format != CHECKPOINT_FORMAT) {
        return None;
    }
    match serde_json::from_slice::<Checkpoint<P>>(bytes) {
        Ok(c) if c.format == CHECKPOINT_FORMAT && c.seq <= log.head().seq => Some((c.state, c.seq)),
        Ok(_) => None,
        Err(e) => {
            tracing_free_warning(name, &e.to_string());
            None
        }
    }
}

/// The seq of `P`'s own checkpoint when it is of this format, without decoding its state.
fn checkpoint_seq<P: Projection>(log: &Snapshot) -> Result<Option<u64>, ProjectionError> {
    let Some(bytes) = log.checkpoint(P::NAME)? else { return Ok(None) };
    Ok(serde_json::from_slice::<Header>(&bytes).ok().filter(|h| h.format == CHECKPOINT_FORMAT).map(|h| h.seq))
}

/// `P` from the nearest checkpoint at or before `until_seq` (its own or a
/// time-travel one), or from scratch; with the seq it is at and whether it
/// is `P`'s own checkpoint.
fn nearest<P: Projection>(log: &Snapshot, until_seq: u64) -> Result<(P, u64, bool), ProjectionError> {
    let history = if P::HISTORY_EVERY > 0 {
        crate::history::nearest(log, P::NAME, until_seq, CHECKPOINT_FORMAT)?
    } else {
        None
    };
    let own = checkpoint_seq::<P>(log)?.filter(|s| *s <= until_seq);
    if own.is_some_and(|own| own >= history.unwrap_or(0))
        && let Some((p, seq)) = load::<P>(log)?
        && seq <= until_seq
    {
        return Ok((p, seq, true));
    }
    if let Some(at) = history {
        let name = crate::history::blob_name(P::NAME, at);
        if let Some(bytes) = log.checkpoint(&name)?
            && let Some((p, seq)) = decode::<P>(log, &bytes, &name)
            && seq == at
        {
            return Ok((p, seq, false));
        }
    }
    Ok((P::default(), 0, false))
}

/// Refuses time travel to `until_seq` from a checkpoint at `from` when
/// the fold could not be what the log was: `until_seq` before the retention
/// cutoff (the spec of `state --at`: refused, naming the cutoff), or a fold
/// that would pass an expired body (no checkpoint kept at the cutoff, as
/// after a restore of a compacted backup).
fn check_cutoff<P: Projection>(log: &Snapshot, until_seq: u64, from: u64) -> Result<(), ProjectionError> {
    let Some(cutoff) = orc_log_engine::retention::Cutoff::load(log.dir())? else { return Ok(()) };
    if until_seq < cutoff.seq || (from < cutoff.seq && expired_between(log, from, until_seq)?) {
        return Err(ProjectionError::BeforeCutoff {
            what: if until_seq < cutoff.seq {
                format!("seq {until_seq}")
            } else {
                format!("seq {until_seq} (no {} checkpoint is kept at the cutoff)", P::NAME)
            },
            cutoff: cutoff.to_string(),
        });
    }
    Ok(())
}

/// Whether any event in seqs `after+1..=until` has an expired body (read
/// from frame headers only).
fn expired_between(log: &Snapshot, after: u64, until: u64) -> Result<bool, ProjectionError> {
    let mut found = false;
    let range = Filter { from_seq: after + 1, until_seq: Some(until), ..Filter::default() };
    log.for_each_meta(&range, |m| {
        found = m.expired;
        Ok::<_, ProjectionError>(!found)
    })?;
    Ok(found)
}

/// Keeps what time travel after a compaction needs, before it runs: `P`'s
/// checkpoint at the head, then `P`'s time-travel checkpoint at the new
/// retention cutoff (the state after events `1..=cutoff.seq`, folded while
/// their bodies are all there), recording the cutoff first (the history
/// never thins the checkpoint at the cutoff). A projection without history
/// keeps only the former. Call it for each projection, then
/// `SharedLog::compact`.
///
/// **Durability:** the cutoff and both checkpoints are on disk when this returns Ok.
///
/// # Errors
/// [`ProjectionError::BeforeCutoff`] when the fold to the new cutoff would
/// pass bodies an earlier compaction expired with no checkpoint kept at
/// its cutoff; as [`catch_up`].
pub fn keep_for_compaction<P: Projection>(
    log: &SharedLog,
    cutoff: orc_log_engine::retention::Cutoff,
) -> Result<(), ProjectionError> {
    catch_up::<P>(log)?;
    let snap = log.snapshot();
    let before = orc_log_engine::retention::Cutoff::load(snap.dir())?;
    // At or before an earlier cutoff, the checkpoint kept there still holds.
    if P::HISTORY_EVERY == 0
        || before.is_some_and(|b| b.seq > cutoff.seq)
        || crate::history::seqs(&snap, P::NAME, CHECKPOINT_FORMAT)?.contains(&cutoff.seq)
    {
        return cutoff.raise(snap.dir()).map_err(Into::into);
    }
    let (mut p, from, _) = nearest::<P>(&snap, cutoff.seq)?;
    // Folding over a body an earlier compaction expired would be wrong.
    if expired_between(&snap, from, cutoff.seq)? {
        return Err(ProjectionError::BeforeCutoff {
            what: format!(
                "the new cutoff, seq {} (no {} checkpoint is kept at the last one)",
                cutoff.seq,
                P::NAME
            ),
            cutoff: before.map_or_else(|| "unknown".to_owned(), |b| b.to_string()),
        });
    }
    fold(&snap, &mut p, from, Some(cutoff.seq), None)?;
    cutoff.raise(snap.dir())?;
    save_history(log, &p, cutoff.seq)?;
    // The ones before the cutoff can never be used again.
    crate::history::forget_before(log, P::NAME, cutoff.seq, CHECKPOINT_FORMAT)
}

/// Unreadable checkpoints are rebuilt, not fatal; say so on stderr once.
fn tracing_free_warning(name: &str, why: &str) {
    eprintln!("orc-log: checkpoint {name} is unreadable ({why}); rebuilding from the log");
}

/// Durably stores `P`'s checkpoint at `seq` (the state after events `1..=seq`).
///
/// **Durability:** on disk when this returns Ok.
///
/// # Errors
/// Log errors; [`ProjectionError::Checkpoint`] if the state does not serialize.
pub fn save<P: Projection>(log: &SharedLog, p: &P, seq: u64) -> Result<(), ProjectionError> {
    log.put_checkpoint(P::NAME, &encode(p, seq)?)?;
    Ok(())
}

/// `p` at `seq` as checkpoint bytes (JSON; the engine compresses checkpoint
/// files).
fn encode<P: Projection>(p: &P, seq: u64) -> Result<Vec<u8>, ProjectionError> {
    let failed = |reason: String| ProjectionError::Checkpoint { name: P::NAME, reason };
    let c = Checkpoint { format: CHECKPOINT_FORMAT, seq, state: p };
    serde_json::to_vec(&c).map_err(|e| failed(e.to_string()))
}

/// Durably stores `P`'s time-travel checkpoint at `seq` (the state after
/// events `1..=seq`) and thins the older ones ([`crate::history`]). For a
/// follower that folds `P` itself: call it after applying each event whose
/// seq is a multiple of [`Projection::HISTORY_EVERY`] (see
/// [`history_due`]).
///
/// **Durability:** on disk when this returns Ok.
///
/// # Errors
/// Log errors; [`ProjectionError::Checkpoint`] if the state does not serialize.
pub fn save_history<P: Projection>(log: &SharedLog, p: &P, seq: u64) -> Result<(), ProjectionError> {
    crate::history::store(log, P::NAME, seq, &encode(p, seq)?, CHECKPOINT_FORMAT)
}

/// Whether `P` keeps a time-travel checkpoint at `seq`.
pub fn history_due<P: Projection>(seq: u64) -> bool {
    P::HISTORY_EVERY > 0 && seq > 0 && seq.is_multiple_of(P::HISTORY_EVERY)
}

/// After applying event `seq` to `p`: stores its time-travel checkpoint
/// when one is due there ([`history_due`], [`save_history`]). Every fold
/// that keeps history (the catch-up folds here, the server's projection
/// keeper, the web view's live team) calls it after each event.
///
/// **Durability:** a checkpoint stored is on disk when this returns Ok.
///
/// # Errors
/// As [`save_history`].
pub fn save_history_if_due<P: Projection>(log: &SharedLog, p: &P, seq: u64) -> Result<(), ProjectionError> {
    if history_due::<P>(seq) { save_history(log, p, seq) } else { Ok(()) }
}

/// [`save_history_if_due`] when `keep` gives the log to store in.
fn keep_history<P: Projection>(keep: Option<&SharedLog>, p: &P, seq: u64) -> Result<(), ProjectionError> {
    keep.map_or(Ok(()), |log| save_history_if_due(log, p, seq))
}

/// Events handed from the reading thread to the folding one at a time.
const FOLD_BATCH: usize = 2048;

/// Folds events `after+1 ..= until` (or to the head) into `p`, storing the
/// time-travel checkpoints it passes in `keep` when given.
fn fold<P: Projection>(
    log: &Snapshot,
    p: &mut P,
    after: u64,
    until: Option<u64>,
    keep: Option<&SharedLog>,
) -> Result<(u64, u64), ProjectionError> {
    fold_batches(log, after, until, |batch| {
        fold_batch(p, after, &batch, |p, meta| keep_history(keep, p, meta.seq))?;
        Ok(batch)
    })
}

/// The one fold of a projection: applies the events of `batch` (in seq
/// order, as a [`Follower`] yields them in [`Batch::Events`]) with a seq
/// past `after` to `p`, calling `after_each` after each one applied (to
/// store a time-travel checkpoint, evaluate rules, ...). Events at or
/// before `after` (already in `p`) are skipped, so a projection ahead of
/// its follower never sees an event twice. The catch-up folds of this
/// module ([`catch_up`], [`rebuild`], [`view_at`], [`travel`]), alerts
/// and the web view's live team all fold through it.
///
/// Returns the seq of the last event applied (`after` when none was).
/// Stores nothing itself: what `after_each` stores is durable as it says.
///
/// # Errors
/// [`ProjectionError::Apply`] with the seq `p` rejected (converted into
/// `E`): the events before it are applied, it and the later ones are not;
/// the first error `after_each` returns, after its event was applied.
///
/// [`Follower`]: orc_log_engine::Follower
/// [`Batch::Events`]: orc_log_engine::Batch::Events
pub fn fold_batch<P: Projection, E: From<ProjectionError>>(
    p: &mut P,
    after: u64,
    batch: &[(EventMeta, Record)],
    mut after_each: impl FnMut(&mut P, &EventMeta) -> Result<(), E>,
) -> Result<u64, E> {
    let mut seq = after;
    for (meta, record) in batch.iter().filter(|(meta, _)| meta.seq > after) {
        p.apply(&record.event, meta).map_err(|reason| ProjectionError::Apply {
            name: P::NAME,
            seq: meta.seq,
            reason,
        })?;
        seq = meta.seq;
        after_each(p, meta)?;
    }
    Ok(seq)
}

/// A batch of decoded events shared between folding threads.
type SharedBatch = std::sync::Arc<Vec<(EventMeta, Record)>>;

/// Reads events `after+1 ..= until` (or to the head) on a second thread
/// (decompression and bincode overlap with the fold on two cores) and
/// hands them to `fold` a batch at a time, in seq order; `fold` gives
/// each batch back when done with it, and it is freed on the reading thread
/// (its strings were allocated there; freeing them on the folding thread,
/// the slower of the two, cost it a good part of its time). Returns the last
/// seq and the number of events.
fn fold_batches(
    log: &Snapshot,
    after: u64,
    until: Option<u64>,
    mut fold: impl FnMut(SharedBatch) -> Result<SharedBatch, ProjectionError>,
) -> Result<(u64, u64), ProjectionError> {
    type Batch = Vec<(EventMeta, Record)>;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, orc_log_engine::Error>>(2);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<SharedBatch>();
    let snap = log.clone();
    let reader = std::thread::spawn(move || {
        let filter = Filter { from_seq: after + 1, until_seq: until, ..Filter::default() };
        let items = match snap.scan_with_meta(filter) {
            Ok(items) => items,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut batch = Vec::with_capacity(FOLD_BATCH);
        for item in items {
            match item {
                Ok(pair) => batch.push(pair),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if batch.len() == FOLD_BATCH {
                if tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                    return; // the folder stopped
                }
                spent_rx.try_iter().for_each(drop);
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
        // Wait for the last batches to come back, and free them here.
        drop(tx);
        spent_rx.iter().for_each(drop);
    });
    let mut seq = after;
    let mut applied = 0;
    let result = (|| {
        for batch in &rx {
            let batch = std::sync::Arc::new(batch?);
            if let Some((meta, _)) = batch.last() {
                seq = meta.seq;
            }
            applied += batch.len() as u64;
            let back = fold(batch)?;
            let _ = spent_tx.send(back);
        }
        Ok((seq, applied))
    })();
    drop(rx);
    drop(spent_tx);
    if reader.join().is_err() {
        // The reading thread panicked: the fold ended early, it is not a result.
        return Err(ProjectionError::Log(orc_log_engine::Error::Invalid(
            "the thread reading the log panicked".into(),
        )));
    }
    result
}

/// Rebuilds two projections in one pass over the log (see [`rebuild`]):
/// the events are read and decoded once for both. (Folding `B` on a third
/// thread was measured slower on two cores: 2.6-3.7 s against 1.7-1.9 s
/// for 2M events.)
///
/// # Errors
/// As [`catch_up`].
pub fn rebuild_pair<A: Projection, B: Projection>(
    log: &SharedLog,
    until: Option<u64>,
) -> Result<(Outcome<A>, Outcome<B>), ProjectionError> {
    let (mut a, mut b) = (A::default(), B::default());
    let keep = until.is_none().then_some(log);
    let (seq, applied) = fold_batches(&log.snapshot(), 0, until, |batch| {
        fold_batch(&mut a, 0, &batch, |a, meta| keep_history(keep, a, meta.seq))?;
        fold_batch(&mut b, 0, &batch, |b, meta| keep_history(keep, b, meta.seq))?;
        Ok(batch)
    })?;
    if until.is_none() {
        save(log, &a, seq)?;
        save(log, &b, seq)?;
    }
    Ok((
        Outcome { projection: a, seq, applied, from_checkpoint: 0 },
        Outcome { projection: b, seq, applied, from_checkpoint: 0 },
    ))
}

/// Brings `P` from its checkpoint (or, when it has none, its newest
/// time-travel one) to the head (as of a snapshot taken now) and stores the
/// new checkpoint, and the time-travel checkpoints it passes.
/// The fold reads the snapshot without holding up appends; only the
/// checkpoints' small commits take the writer.
///
/// **Durability:** when the head moved, the checkpoint is on disk when this returns Ok.
///
/// # Errors
/// [`ProjectionError::Apply`] with the failing seq (the checkpoint is not
/// advanced past it); log errors.
pub fn catch_up<P: Projection>(log: &SharedLog) -> Result<Outcome<P>, ProjectionError> {
    let snap = log.snapshot();
    let (mut p, from, own) = nearest::<P>(&snap, snap.head().seq)?;
    let (seq, applied) = fold(&snap, &mut p, from, None, Some(log))?;
    if applied > 0 || !own {
        save(log, &p, seq)?;
    }
    Ok(Outcome { projection: p, seq, applied, from_checkpoint: from })
}

/// Rebuilds `P` from seq 1 to `until` (or the head as of a snapshot taken
/// now), ignoring any checkpoint. When `until` is `None` the result replaces
/// the checkpoint, and the time-travel checkpoints it passes. Appends go on
/// while it folds.
///
/// # Errors
/// As [`catch_up`].
pub fn rebuild<P: Projection>(log: &SharedLog, until: Option<u64>) -> Result<Outcome<P>, ProjectionError> {
    let mut p = P::default();
    let (seq, applied) = fold(&log.snapshot(), &mut p, 0, until, until.is_none().then_some(log))?;
    if until.is_none() {
        save(log, &p, seq)?;
    }
    Ok(Outcome { projection: p, seq, applied, from_checkpoint: 0 })
}

/// `P` as of events `1..=until_seq` (time travel): starts from the nearest
/// checkpoint at or before `until_seq` (the projection's own or a
/// time-travel one), else from scratch. Stores nothing.
///
/// # Errors
/// As [`catch_up`].
pub fn view_at<P: Projection>(log: &Snapshot, until_seq: u64) -> Result<Outcome<P>, ProjectionError> {
    let (mut p, from, _) = nearest::<P>(log, until_seq)?;
    check_cutoff::<P>(log, until_seq, from)?;
    let (seq, applied) = fold(log, &mut p, from, Some(until_seq), None)?;
    Ok(Outcome { projection: p, seq, applied, from_checkpoint: from })
}

/// [`view_at`] on a snapshot taken now that also stores the time-travel
/// checkpoints it passes (none when the history is complete up to
/// `until_seq`), so the next time travel near there is short.
///
/// # Errors
/// As [`catch_up`].
pub fn travel<P: Projection>(log: &SharedLog, until_seq: u64) -> Result<Outcome<P>, ProjectionError> {
    let snap = log.snapshot();
    let (mut p, from, _) = nearest::<P>(&snap, until_seq)?;
    check_cutoff::<P>(&snap, until_seq, from)?;
    let (seq, applied) = fold(&snap, &mut p, from, Some(until_seq), Some(log))?;
    Ok(Outcome { projection: p, seq, applied, from_checkpoint: from })
}
