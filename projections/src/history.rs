//! Time-travel checkpoints: a projection's state kept at seqs behind the
//! head, so that showing it as of an earlier point (`state --at`,
//! `/api/team?at=`) folds from the nearest one instead of from seq 1.
//!
//! A projection with [`crate::Projection::HISTORY_EVERY`] = N > 0 gets a
//! checkpoint named `NAME@SEQ` (e.g. `state@1500000`) each time a fold that
//! may store checkpoints ([`crate::catch_up`], [`crate::rebuild`] and
//! [`crate::rebuild_pair`] to the head, [`crate::travel`], or a follower
//! calling [`crate::save_history`]) passes a seq that is a multiple of N. The
//! seqs are fixed by the log, not by when folds run, so every run keeps the
//! same points, and a point folded twice is stored twice with the same bytes.
//! Each blob is the same JSON as the projection's own checkpoint.
//!
//! The engine has no listing of checkpoint names, so the seqs kept are listed
//! in one more checkpoint, `NAME@index` (`{"format": F, "seqs": [...]}`,
//! ascending). A blob is written before the index lists it, and the index
//! drops a seq before its blob is deleted, so the index never names a
//! missing blob (a crash between the two steps leaves at most one orphan
//! blob, never read). An index of another checkpoint format is discarded
//! with every blob it lists.
//!
//! At most [`KEEP`] are kept. The newest [`RECENT`] are never removed (with N =
//! 50,000 that is the last 2.4M events, more than a busy day); beyond that,
//! the older ones are thinned: the one whose removal leaves the smallest gap
//! goes (the oldest of equals), which spreads the older ones evenly over the
//! rest of the log. So time travel into the last `RECENT * N` events folds at
//! most N events, and further back at most about `2 * head / (KEEP - RECENT)`.

use crate::projection::ProjectionError;
use orc_log_engine::{SharedLog, Snapshot};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Time-travel checkpoints of a projection at most (the index not counted).
pub const KEEP: usize = 64;
/// The newest time-travel checkpoints, never thinned.
pub const RECENT: usize = 48;
/// The spacing the built-in projections use (`HISTORY_EVERY`).
pub const EVERY: u64 = 50_000;

/// The list of time-travel checkpoints of one projection.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    format: u32,
    seqs: Vec<u64>,
}

/// One index update at a time in this process (the database lock keeps
/// other processes out): two folds of the same projection may pass the same
/// seqs at once (the server's keeper and a command), and each must see the
/// other's entries when it rewrites the index.
static UPDATING: Mutex<()> = Mutex::new(());

/// The checkpoint name of `name`'s time-travel checkpoint at `seq`.
pub fn blob_name(name: &str, seq: u64) -> String {
    format!("{name}@{seq}")
}

/// The checkpoint name of `name`'s index of time-travel checkpoints.
pub fn index_name(name: &str) -> String {
    format!("{name}@index")
}

/// The index, when there is one that decodes.
fn read_index(snap: &Snapshot, name: &str) -> Result<Option<Index>, ProjectionError> {
    Ok(snap.checkpoint(&index_name(name))?.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// The seqs of `name`'s time-travel checkpoints of format `format`, ascending.
///
/// # Errors
/// Log errors.
pub fn seqs(snap: &Snapshot, name: &str, format: u32) -> Result<Vec<u64>, ProjectionError> {
    Ok(read_index(snap, name)?.filter(|i| i.format == format).map(|i| i.seqs).unwrap_or_default())
}

/// The greatest seq `<= until` with a time-travel checkpoint of `format`.
pub(crate) fn nearest(
    snap: &Snapshot,
    name: &str,
    until: u64,
    format: u32,
) -> Result<Option<u64>, ProjectionError> {
    Ok(seqs(snap, name, format)?.into_iter().rev().find(|s| *s <= until))
}

/// Stores `bytes` as `name`'s time-travel checkpoint at `seq`, lists it in
/// the index and thins the list to [`KEEP`].
///
/// **Durability:** the blob and the index are on disk when this returns Ok.
pub(crate) fn store(
    log: &SharedLog,
    name: &str,
    seq: u64,
    bytes: &[u8],
    format: u32,
) -> Result<(), ProjectionError> {
    let _one_at_a_time = UPDATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    log.put_checkpoint(&blob_name(name, seq), bytes)?;
    let mut gone = Vec::new();
    let mut index = match read_index(&log.snapshot(), name)? {
        Some(i) if i.format == format => i,
        Some(old) => {
            gone.extend(old.seqs.into_iter().filter(|s| *s != seq));
            Index { format, seqs: Vec::new() }
        }
        None => Index { format, seqs: Vec::new() },
    };
    if let Err(at) = index.seqs.binary_search(&seq) {
        index.seqs.insert(at, seq);
    }
    // The checkpoint at the retention cutoff is where time travel after it
    // starts: it is never thinned.
    let cutoff = orc_log_engine::retention::Cutoff::load(log.dir())?.map(|c| c.seq);
    let kept: Vec<u64> = index.seqs.iter().copied().filter(|s| Some(*s) == cutoff).collect();
    index.seqs.retain(|s| Some(*s) != cutoff);
    gone.extend(thin(&mut index.seqs, KEEP, RECENT));
    for s in kept {
        if let Err(at) = index.seqs.binary_search(&s) {
            index.seqs.insert(at, s);
        }
    }
    write_index(log, name, &index, gone)
}

/// Stores `name`'s history index, then deletes the blobs at `gone`.
fn write_index(log: &SharedLog, name: &str, index: &Index, gone: Vec<u64>) -> Result<(), ProjectionError> {
    let encoded = serde_json::to_vec(index)
        .map_err(|e| ProjectionError::Checkpoint { name: "history index", reason: e.to_string() })?;
    log.put_checkpoint(&index_name(name), &encoded)?;
    for s in gone {
        log.delete_checkpoint(&blob_name(name, s))?;
    }
    Ok(())
}

/// Removes `name`'s time-travel checkpoints before `seq` (time travel
/// there is refused once a compaction's cutoff is past them).
///
/// **Durability:** the index and the removals are on disk when this returns Ok.
pub(crate) fn forget_before(
    log: &SharedLog,
    name: &str,
    seq: u64,
    format: u32,
) -> Result<(), ProjectionError> {
    let _one_at_a_time = UPDATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(mut index) = read_index(&log.snapshot(), name)?.filter(|i| i.format == format) else {
        return Ok(());
    };
    let gone: Vec<u64> = index.seqs.iter().copied().filter(|s| *s < seq).collect();
    if gone.is_empty() {
        return Ok(());
    }
    index.seqs.retain(|s| *s >= seq);
    write_index(log, name, &index, gone)
}

/// Removes seqs from `seqs` (ascending) until at most `keep` are left,
/// never one of the newest `recent`: each time the one whose removal
/// leaves the smallest gap to its neighbours (the first one's gap starts
/// at seq 0), the oldest of equals. Returns the removed seqs.
pub(crate) fn thin(seqs: &mut Vec<u64>, keep: usize, recent: usize) -> Vec<u64> {
    let mut gone = Vec::new();
    while seqs.len() > keep.max(1) {
        // Candidates: all but the newest `recent`, and never the newest one.
        let candidates = seqs.len().saturating_sub(recent.max(1));
        let gap = |i: usize| seqs[i + 1] - if i == 0 { 0 } else { seqs[i - 1] };
        let Some(at) = (0..candidates).min_by_key(|i| (gap(*i), *i)) else { break };
        gone.push(seqs.remove(at));
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_recent_ones_and_spreads_the_older_evenly() {
        let mut seqs = Vec::new();
        let mut gone = Vec::new();
        for i in 1..=1000 {
            seqs.push(i * EVERY);
            gone.extend(thin(&mut seqs, KEEP, RECENT));
            assert!(seqs.len() <= KEEP);
        }
        assert_eq!(seqs.len(), KEEP);
        assert_eq!(gone.len(), 1000 - KEEP);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let recent: Vec<u64> = ((1000 - RECENT as u64 + 1)..=1000).map(|i| i * EVERY).collect();
        assert_eq!(seqs[KEEP - RECENT..], recent[..], "the newest are all kept");
        // The older ones cover the rest of the log evenly: no gap more than
        // twice the even spacing.
        let older = &seqs[..KEEP - RECENT];
        let span = recent[0];
        let even = span / (KEEP - RECENT) as u64;
        let mut prev = 0;
        for s in older.iter().chain(&recent[..1]) {
            assert!(s - prev <= 2 * even, "gap {} between {prev} and {s} (even: {even})", s - prev);
            prev = *s;
        }
    }

    #[test]
    fn thinning_a_short_list_does_nothing_and_never_removes_the_newest() {
        let mut seqs = vec![10, 20, 30];
        assert!(thin(&mut seqs, 3, 2).is_empty());
        assert_eq!(thin(&mut seqs, 1, 0), [10, 20]);
        assert_eq!(seqs, [30]);
    }
}
