//! The schedules a projection keeps, shared by `state` and `metrics`, bounded
//! whatever the length of the log.
//!
//! A busy team creates about 120,000 schedules a day; keeping every one made
//! the `state` checkpoint and the web view's `/api/team` grow all day (16.5 MB
//! of schedules after 2M events). The whole history stays in the log and in
//! SQL (`SELECT * FROM schedules`, `schedule_fired` in `events`); the
//! projections keep, per pane:
//!
//! - every **unfired** schedule not yet due, or due less than
//!   [`OVERDUE_GRACE_NS`] ago (by the newest event time folded in);
//! - of the unfired schedules due longer ago than that (long overdue), the
//!   newest [`KEEP_OVERDUE`] in log order, and a count of the others;
//! - the last [`KEEP_FIRED`] fired ones (in firing order), and a count of all.
//!
//! Only pending schedules are kept without a count limit: they are the
//! present (a schedule due next week is still to come), and they leave the set
//! when they fire or fall long overdue. Pruning happens when a schedule is
//! added, and depends only on the events folded so far, so a fold is as
//! deterministic as before: the same log prefix gives the same set, whatever
//! the checkpoints it started from.
//!
//! A `schedule_fired` fires the earliest unfired schedule of its pane (with
//! the same note when given). Dropped schedules are the pane's oldest
//! unfired, and they can still fire: each pane counts its dropped ones by
//! note (up to [`DROPPED_NOTES`] distinct notes; the rest are counted
//! without their note). A fire without a note fires a dropped one when the
//! pane has any, else its earliest kept one; a fire with a note fires a
//! dropped one with that note when there is one, else the earliest kept one
//! with that note, else one of the dropped ones counted without their note.
//! So the `metrics` gauge by status counts every schedule, and the kept ones
//! fire as in a fold that kept them all, except when a pane has dropped more
//! than [`DROPPED_NOTES`] distinct notes, or a schedule made earlier than a
//! dropped one falls due after it.
//!
//! On a realistic busy day (`benches/storage/make_set.py`, 2M events, 160
//! panes, fires lagging their due time by an hour and more), the state keeps
//! at most about 2,800 schedules, of which about 1,300 pending.

use orc_log_schemas::Target;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Fired schedules kept per pane (the last ones fired).
pub const KEEP_FIRED: usize = 2;
/// Long-overdue unfired schedules kept per pane (the newest in log order).
pub const KEEP_OVERDUE: usize = 4;
/// Distinct notes of dropped schedules counted per pane; the dropped ones
/// with other notes are counted without them.
pub const DROPPED_NOTES: usize = 64;
/// An unfired schedule is kept whatever the count until it is this long
/// past due (UTC ns; ten minutes), so an `overdue` alert rule with `by` up
/// to ten minutes sees every overdue schedule (and one with a longer `by`,
/// the newest [`KEEP_OVERDUE`] of each pane).
pub const OVERDUE_GRACE_NS: i64 = 600 * 1_000_000_000;

/// One schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Schedule {
    /// Seq of the `schedule` event.
    pub seq: u64,
    pub note: String,
    pub due_ns: i64,
    /// Event time of the `schedule_fired` that fired it.
    pub fired_ts: Option<i64>,
}

/// One pane's schedules.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PaneSchedules {
    /// Unfired, in log order.
    unfired: VecDeque<Schedule>,
    /// The last [`KEEP_FIRED`] fired, in firing order.
    fired: VecDeque<Schedule>,
    /// Unfired schedules dropped as long overdue (and not fired since), by note.
    dropped: BTreeMap<String, u64>,
    /// As `dropped`, beyond [`DROPPED_NOTES`] notes: their notes are not kept.
    dropped_other: u64,
}

impl PaneSchedules {
    /// Fires a dropped schedule with note `note` (any, when `None`): true
    /// when there was one.
    fn fire_dropped(&mut self, note: Option<&str>) -> bool {
        let key = match note {
            Some(n) if self.dropped.contains_key(n) => Some(n.to_owned()),
            Some(_) => None,
            None if self.dropped_other > 0 => None,
            None => self.dropped.keys().next().cloned(),
        };
        match key {
            Some(k) => {
                if let Some(n) = self.dropped.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        self.dropped.remove(&k);
                    }
                }
                true
            }
            None if note.is_none() && self.dropped_other > 0 => {
                self.dropped_other -= 1;
                true
            }
            None => false,
        }
    }
}

/// The kept schedules of every pane and counts of the rest (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Schedules {
    by_target: BTreeMap<Target, PaneSchedules>,
    /// The newest event time of a schedule or fire folded in (UTC ns): what
    /// "long overdue" is judged against when pruning, never moved backwards
    /// by a back-dated event.
    clock: i64,
    /// Schedules ever fired (kept or not).
    fired_total: u64,
}

impl Default for Schedules {
    fn default() -> Self {
        Self { by_target: BTreeMap::new(), clock: i64::MIN, fired_total: 0 }
    }
}

impl Schedules {
    /// A `schedule` event (seq `seq`, time `ts`) for `target`.
    pub(crate) fn schedule(&mut self, target: &Target, seq: u64, ts: i64, note: &str, due_ns: i64) {
        self.clock = self.clock.max(ts);
        let pane = crate::maps::get_or_insert(&mut self.by_target, target, PaneSchedules::default);
        pane.unfired.push_back(Schedule { seq, note: note.to_owned(), due_ns, fired_ts: None });
        // Drop the oldest long-overdue ones beyond the newest KEEP_OVERDUE.
        let horizon = self.clock.saturating_sub(OVERDUE_GRACE_NS);
        let long_overdue = |s: &Schedule| s.due_ns < horizon;
        let excess = pane.unfired.iter().filter(|s| long_overdue(s)).count().saturating_sub(KEEP_OVERDUE);
        if excess > 0 {
            let mut left = excess;
            let mut dropped = Vec::with_capacity(excess);
            pane.unfired.retain(|s| {
                if left > 0 && long_overdue(s) {
                    left -= 1;
                    dropped.push(s.note.clone());
                    return false;
                }
                true
            });
            for note in dropped {
                if let Some(n) = pane.dropped.get_mut(&note) {
                    *n += 1;
                } else if pane.dropped.len() < DROPPED_NOTES {
                    pane.dropped.insert(note, 1);
                } else {
                    pane.dropped_other += 1;
                }
            }
        }
    }

    /// A `schedule_fired` event (time `ts`) for `target`: fires the earliest
    /// unfired schedule of the pane (with note `note` when given; see the
    /// module docs for dropped ones); false when there is none.
    pub(crate) fn fire(&mut self, target: &Target, ts: i64, note: Option<&str>) -> bool {
        self.clock = self.clock.max(ts);
        let Some(pane) = self.by_target.get_mut(target) else { return false };
        // The dropped ones are the pane's oldest unfired.
        if !pane.fire_dropped(note) {
            let kept = match note {
                None => pane.unfired.pop_front(),
                Some(n) => {
                    pane.unfired.iter().position(|s| s.note == n).and_then(|at| pane.unfired.remove(at))
                }
            };
            match kept {
                Some(mut s) => {
                    s.fired_ts = Some(ts);
                    pane.fired.push_back(s);
                    if pane.fired.len() > KEEP_FIRED {
                        pane.fired.pop_front();
                    }
                }
                // A note none has: maybe one dropped without its note.
                None if pane.dropped_other > 0 => pane.dropped_other -= 1,
                None => return false,
            }
        }
        self.fired_total += 1;
        true
    }

    /// Every kept schedule with its pane, in log order.
    pub(crate) fn kept(&self) -> Vec<(&Target, &Schedule)> {
        let mut all: Vec<(&Target, &Schedule)> = self
            .by_target
            .iter()
            .flat_map(|(t, p)| p.unfired.iter().chain(&p.fired).map(move |s| (t, s)))
            .collect();
        all.sort_unstable_by_key(|(_, s)| s.seq);
        all
    }

    /// Schedules ever fired.
    pub(crate) fn fired_total(&self) -> u64 {
        self.fired_total
    }

    /// Unfired schedules dropped as long overdue, not fired since.
    pub(crate) fn dropped_overdue(&self) -> u64 {
        self.by_target.values().map(|p| p.dropped.values().sum::<u64>() + p.dropped_other).sum()
    }

    /// Due times of the unfired schedules kept.
    pub(crate) fn unfired_due(&self) -> impl Iterator<Item = i64> + '_ {
        self.by_target.values().flat_map(|p| p.unfired.iter().map(|s| s.due_ns))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIN: i64 = 60 * 1_000_000_000;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn fires_the_earliest_matching_and_keeps_the_last_fired() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        for i in 0..10 {
            s.schedule(&p, i + 1, 0, if i % 2 == 0 { "even" } else { "odd" }, MIN);
        }
        assert!(s.fire(&p, MIN, Some("odd")));
        assert_eq!(s.kept().iter().find(|(_, x)| x.fired_ts.is_some()).unwrap().1.seq, 2);
        assert!(s.fire(&p, MIN, None), "no note: the earliest unfired");
        assert!(s.kept().iter().any(|(_, x)| x.seq == 1 && x.fired_ts.is_some()));
        for _ in 0..8 {
            s.fire(&p, MIN, None);
        }
        assert!(!s.fire(&p, MIN, None), "all fired");
        assert!(!s.fire(&t("q:1.0"), MIN, None), "no schedule for that pane");
        assert_eq!(s.fired_total(), 10);
        let kept = s.kept();
        assert_eq!(kept.len(), KEEP_FIRED, "only the last fired are kept");
        assert!(kept.windows(2).all(|w| w[0].1.seq < w[1].1.seq), "in log order");
    }

    #[test]
    fn long_overdue_ones_are_dropped_beyond_a_few_per_pane_and_pending_ones_never() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        // 100 schedules a minute apart, each due a minute after it was made, none fired.
        for i in 0..100 {
            s.schedule(&p, i as u64 + 1, i * MIN, "n", (i + 1) * MIN);
        }
        // Now (99 min) the grace reaches back to 99 - g min: the schedules
        // due before that (seqs 1..99 - g) are long overdue.
        let g = OVERDUE_GRACE_NS / MIN;
        let long = 98 - g as u64; // due at 1 ..= 98 - g min
        let kept: Vec<u64> = s.kept().iter().map(|(_, x)| x.seq).collect();
        assert_eq!(kept.len() as u64, KEEP_OVERDUE as u64 + 100 - long, "{kept:?}");
        let newest_long: Vec<u64> = (long - KEEP_OVERDUE as u64 + 1..=long).collect();
        assert_eq!(kept[..KEEP_OVERDUE], newest_long[..], "the newest long-overdue ones");
        assert_eq!(s.dropped_overdue(), long - KEEP_OVERDUE as u64);
        // Far-future schedules are all kept.
        for i in 0..100 {
            s.schedule(&t("q:1.0"), 1000 + i, 100 * MIN, "later", 10_000 * MIN);
        }
        assert_eq!(s.kept().iter().filter(|(x, _)| **x == t("q:1.0")).count(), 100);
        assert_eq!(s.unfired_due().count() as u64, KEEP_OVERDUE as u64 + 100 - long + 100);
    }

    #[test]
    fn a_back_dated_schedule_does_not_move_the_clock_back() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        for i in 0..10 {
            s.schedule(&p, i + 1, 0, "n", 0);
        }
        s.schedule(&p, 11, 10 * 60 * MIN, "n", 10 * 60 * MIN);
        assert_eq!(s.dropped_overdue(), 10 - KEEP_OVERDUE as u64);
        assert_eq!(s.clock, 10 * 60 * MIN);
        s.schedule(&p, 12, 0, "old", 0);
        assert_eq!(s.dropped_overdue(), 11 - KEEP_OVERDUE as u64, "judged at the newest time");
    }

    #[test]
    fn dropped_schedules_still_fire_as_counts() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        // Six due at 0, then one made late (an hour on): two long-overdue ones dropped.
        for i in 0..6 {
            s.schedule(&p, i + 1, 0, &format!("n{i}"), 0);
        }
        s.schedule(&p, 7, 60 * MIN, "late", 120 * MIN);
        assert_eq!(s.dropped_overdue(), 2);
        // No note: the earliest unfired, a dropped one.
        assert!(s.fire(&p, 60 * MIN, None));
        assert_eq!((s.dropped_overdue(), s.fired_total()), (1, 1));
        assert!(s.kept().iter().all(|(_, x)| x.fired_ts.is_none()), "no kept one fired");
        // A note of a kept one fires that one.
        assert!(s.fire(&p, 60 * MIN, Some("n4")));
        assert_eq!(s.kept().iter().find(|(_, x)| x.fired_ts.is_some()).unwrap().1.note, "n4");
        assert_eq!(s.dropped_overdue(), 1);
        // The note of the dropped one left (n1; n0 went with the first fire).
        assert!(!s.fire(&p, 60 * MIN, Some("n0")), "none left with that note");
        assert!(s.fire(&p, 60 * MIN, Some("n1")));
        assert_eq!((s.dropped_overdue(), s.fired_total()), (0, 3));
        assert!(s.kept().iter().all(|(_, x)| x.note != "n1"), "n1 was dropped, not kept");
        // Then no note: the earliest kept.
        assert!(s.fire(&p, 60 * MIN, None));
        assert!(s.kept().iter().any(|(_, x)| x.note == "n2" && x.fired_ts.is_some()));
        assert_eq!(s.fired_total(), 4);
    }

    #[test]
    fn a_noted_fire_takes_a_dropped_one_with_that_note_before_a_kept_one() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        // Ten with the same note, due at 0; an hour on: six dropped, four kept.
        for i in 0..10 {
            s.schedule(&p, i + 1, 0, "same", 0);
        }
        s.schedule(&p, 11, 60 * MIN, "other", 120 * MIN);
        assert_eq!(s.dropped_overdue(), 6);
        for _ in 0..6 {
            assert!(s.fire(&p, 60 * MIN, Some("same")));
        }
        assert!(s.kept().iter().all(|(_, x)| x.fired_ts.is_none()), "the dropped (older) ones fired first");
        assert!(s.fire(&p, 60 * MIN, Some("same")));
        assert_eq!(s.kept().iter().find(|(_, x)| x.fired_ts.is_some()).unwrap().1.seq, 7);
    }

    #[test]
    fn dropped_notes_are_counted_up_to_a_limit() {
        let mut s = Schedules::default();
        let p = t("p:1.0");
        let n = DROPPED_NOTES as u64 + 10;
        for i in 0..n + KEEP_OVERDUE as u64 {
            s.schedule(&p, i + 1, 0, &format!("n{i}"), 0);
        }
        s.schedule(&p, 1000, 60 * MIN, "late", 120 * MIN);
        assert_eq!(s.dropped_overdue(), n);
        // A note beyond the limit fires one counted without its note.
        assert!(s.fire(&p, 60 * MIN, Some(&format!("n{}", n - 1))));
        assert!(s.fire(&p, 60 * MIN, Some("n0")));
        assert!(s.fire(&p, 60 * MIN, Some("typo")), "counted as one of those without their note");
        assert_eq!(s.dropped_overdue(), n - 3);
    }
}
