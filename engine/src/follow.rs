//! [`Follower`]: the one way to read a [`SharedLog`] as it grows.
//!
//! `tail --follow`, the web view's event stream and live team view, the
//! alert rules and the server's projection keeper all follow the log with
//! it: each batch is read from a fresh [`crate::Snapshot`] (so a seal or a
//! segment switch under way is handled by the scan, as for any reader), and
//! when it is caught up it sleeps on the commit announcement
//! (the crate-private `SharedLog::wait_for_head`) until the head moves, the wait passes, or
//! the log stops its followers.

use crate::error::Result;
use crate::scan::{EventMeta, Filter};
use crate::shared::SharedLog;
use orc_log_schemas::Record;
use std::time::{Duration, Instant};

/// What [`Follower::next_batch`] found.
#[derive(Debug)]
pub enum Batch {
    /// One or more matching events, in seq order, each with its header
    /// facts ([`EventMeta`]: seq, time, kind, scope, raw and stored bytes).
    /// Every committed event the filter selects is yielded exactly once,
    /// across batches, appends from other threads and seals.
    Events(Vec<(EventMeta, Record)>),
    /// The wait passed without a matching event committed (followers that
    /// also act on the clock, e.g. alert rules, tick on it).
    Idle,
    /// No event will follow: the log stopped its followers
    /// ([`SharedLog::stop_followers`], [`SharedLog::close`]), or the filter's
    /// `until_seq` was passed. Every later call returns it again.
    Closed,
}

/// Follows a [`SharedLog`] from a seq on: see [`SharedLog::follow`].
///
/// Holds a clone of the log (its files stay open while it lives) and no
/// lock between calls; memory per batch is its events plus one chunk.
#[derive(Debug)]
pub struct Follower {
    log: SharedLog,
    /// The filter, with `from_seq` the first seq not yet passed.
    filter: Filter,
    /// `filter.from_seq`, shared with the log's registry of followers
    /// (`SharedLog::follower_positions`): compaction keeps what it has not read.
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SharedLog {
    /// A follower of the events `filter` selects, from `filter.from_seq`
    /// (0 or 1: the first event) on, through events committed later, until
    /// the log stops its followers or `filter.until_seq` (inclusive) is
    /// passed. Every condition of the filter applies (kinds, scope, times);
    /// `until_ns` only filters (a back-dated event may still come), it does
    /// not end the follow. Reads nothing until [`Follower::next_batch`].
    pub fn follow(&self, mut filter: Filter) -> Follower {
        filter.from_seq = filter.from_seq.max(1);
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(filter.from_seq));
        self.register_follower(&next);
        Follower { log: self.clone(), filter, next }
    }
}

impl Follower {
    /// The next matching events: at most `max_events` (at least 1) of them,
    /// all committed, in seq order, from a fresh snapshot. When none is
    /// committed past [`Follower::next_seq`], waits for commits up to
    /// `max_wait` (zero: not at all) and returns [`Batch::Idle`] if none
    /// matching came. Returns [`Batch::Closed`] as soon as the log stops its
    /// followers (events not yet returned stay in the log: resume from
    /// [`Follower::next_seq`] with a new follower) or `until_seq` is passed.
    ///
    /// Reading only: nothing is written, so nothing here is durable.
    ///
    /// # Errors
    /// A read error of the scan ([`crate::Error::Corrupt`] naming the seq,
    /// store errors). The position does not move then: the same call again
    /// retries the same events, so none is skipped or returned twice.
    pub fn next_batch(&mut self, max_wait: Duration, max_events: usize) -> Result<Batch> {
        let max_events = max_events.max(1);
        let deadline = Instant::now().checked_add(max_wait);
        loop {
            if self.log.stopping() || self.filter.until_seq.is_some_and(|u| self.filter.from_seq > u) {
                return Ok(Batch::Closed);
            }
            let snap = self.log.snapshot();
            let head = snap.head().seq;
            if head >= self.filter.from_seq {
                let end = self.filter.until_seq.map_or(head, |u| u.min(head));
                let range = Filter { until_seq: Some(end), ..self.filter.clone() };
                let mut events = Vec::new();
                let mut next = end + 1;
                for item in snap.scan_with_meta(range)? {
                    let (meta, record) = item?;
                    let seq = meta.seq;
                    events.push((meta, record));
                    if events.len() == max_events {
                        next = seq + 1;
                        break;
                    }
                }
                self.filter.from_seq = next;
                self.next.store(next, std::sync::atomic::Ordering::Relaxed);
                if !events.is_empty() {
                    return Ok(Batch::Events(events));
                }
                // Nothing committed matched: wait for more (or end).
                continue;
            }
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => max_wait,
            };
            if wait.is_zero() {
                return Ok(Batch::Idle);
            }
            if self.log.wait_for_head(head, wait).is_none() {
                return Ok(Batch::Closed);
            }
        }
    }

    /// The first seq not yet passed: every event before it that the filter
    /// selects was returned (a new follower from here goes on without a gap
    /// or a repeat). Starts at the filter's `from_seq` (at least 1).
    pub fn next_seq(&self) -> u64 {
        self.filter.from_seq
    }

    /// The log followed.
    pub fn log(&self) -> &SharedLog {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Error};
    use orc_log_schemas::{Event, EventBody, Kind, Target};

    fn marker(label: &str) -> Event {
        Event { ts_ns: 1, id: None, body: EventBody::Marker { label: label.into(), target: None } }
    }

    fn crash(session: &str) -> Event {
        Event {
            ts_ns: 2,
            id: None,
            body: EventBody::Crash {
                target: Target::new(session, 0, 0).unwrap(),
                reason: "boom".into(),
                excerpt: None,
                detector: None,
            },
        }
    }

    fn seqs(batch: Batch) -> Vec<u64> {
        match batch {
            Batch::Events(events) => events
                .iter()
                .map(|(m, r)| {
                    assert_eq!(m.seq, r.seq);
                    r.seq
                })
                .collect(),
            other => panic!("expected events, got {other:?}"),
        }
    }

    /// Everything a follower yields until it has been idle for `idle`.
    fn drain(f: &mut Follower, idle: Duration, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        loop {
            match f.next_batch(idle, max).unwrap() {
                Batch::Events(events) => {
                    assert!(events.len() <= max.max(1));
                    out.extend(events.iter().map(|(m, _)| m.seq));
                }
                Batch::Idle => return out,
                Batch::Closed => panic!("closed while draining"),
            }
        }
    }

    fn open(config: Config) -> (tempfile::TempDir, SharedLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), config).unwrap();
        (dir, log)
    }

    #[test]
    fn yields_the_log_in_order_in_batches_of_at_most_max() {
        let (_dir, log) = open(Config::default());
        log.append((0..10).map(|i| marker(&i.to_string())).collect()).unwrap();
        let mut f = log.follow(Filter { from_seq: 3, ..Filter::default() });
        assert_eq!(seqs(f.next_batch(Duration::ZERO, 4).unwrap()), vec![3, 4, 5, 6]);
        assert_eq!(f.next_seq(), 7);
        assert_eq!(seqs(f.next_batch(Duration::ZERO, 100).unwrap()), vec![7, 8, 9, 10]);
        assert!(matches!(f.next_batch(Duration::ZERO, 100).unwrap(), Batch::Idle));
        assert_eq!(f.next_seq(), 11);
        // max_events 0 counts as 1.
        log.append(vec![marker("x"), marker("y")]).unwrap();
        assert_eq!(seqs(f.next_batch(Duration::ZERO, 0).unwrap()), vec![11]);
        assert_eq!(drain(&mut f, Duration::ZERO, 5), vec![12]);
    }

    #[test]
    fn idle_after_the_wait_without_a_commit() {
        let (_dir, log) = open(Config::default());
        let mut f = log.follow(Filter::default());
        let started = Instant::now();
        assert!(matches!(f.next_batch(Duration::from_millis(150), 10).unwrap(), Batch::Idle));
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(f.next_seq(), 1);
    }

    #[test]
    fn wakes_on_appends_from_another_thread_and_sees_each_event_once() {
        let (_dir, log) = open(Config { segment_bytes: 4096, ..Config::default() });
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    log.append(vec![marker(&format!("m{i}")), marker("n")]).unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        };
        let mut f = log.follow(Filter::default());
        let mut got = Vec::new();
        while got.len() < 400 {
            match f.next_batch(Duration::from_secs(10), 7).unwrap() {
                Batch::Events(events) => got.extend(events.iter().map(|(m, _)| m.seq)),
                other => panic!("expected events, got {other:?}"),
            }
        }
        writer.join().unwrap();
        assert_eq!(got, (1..=400).collect::<Vec<_>>());
        assert!(matches!(f.next_batch(Duration::ZERO, 7).unwrap(), Batch::Idle));
    }

    #[test]
    fn follows_across_seals_without_a_gap_or_a_repeat() {
        let (_dir, log) = open(Config { segment_bytes: 2048, chunk_target_bytes: 512, ..Config::default() });
        let mut f = log.follow(Filter::default());
        let mut scoped = log.follow(Filter { scope: Some("s:0.0".into()), ..Filter::default() });
        let (mut all, mut crashes) = (Vec::new(), Vec::new());
        let (mut expected_crashes, mut sealed) = (Vec::new(), 0);
        for round in 0..6u64 {
            let first = log.head().seq + 1;
            log.append((0..30).map(|i| marker(&format!("{round}-{i}-{}", "x".repeat(40)))).collect())
                .unwrap();
            log.append(vec![crash("s")]).unwrap();
            expected_crashes.push(first + 30);
            // Read part of it, seal everything, read the rest.
            match f.next_batch(Duration::ZERO, 10).unwrap() {
                Batch::Events(events) => all.extend(events.iter().map(|(m, _)| m.seq)),
                other => panic!("expected events, got {other:?}"),
            }
            sealed += log.seal(true).unwrap().segments;
            all.extend(drain(&mut f, Duration::ZERO, 10));
            crashes.extend(drain(&mut scoped, Duration::ZERO, 10));
        }
        assert_eq!(all, (1..=log.head().seq).collect::<Vec<_>>());
        assert_eq!(crashes, expected_crashes);
        assert!(sealed >= 6, "{sealed} segments sealed");
    }

    #[test]
    fn respects_kinds_scope_and_until() {
        let (_dir, log) = open(Config::default());
        log.append(vec![marker("a"), crash("s"), marker("b"), crash("t"), crash("s")]).unwrap();
        let kinds = Filter { kinds: vec![Kind::Crash], ..Filter::default() };
        assert_eq!(drain(&mut log.follow(kinds), Duration::ZERO, 10), vec![2, 4, 5]);
        let scope = Filter { scope: Some("s:0.0".into()), ..Filter::default() };
        assert_eq!(drain(&mut log.follow(scope), Duration::ZERO, 10), vec![2, 5]);
        // Nothing matching is committed: the follower passes it and waits.
        let mut none = log.follow(Filter { scope: Some("u:0.0".into()), ..Filter::default() });
        assert!(matches!(none.next_batch(Duration::from_millis(20), 10).unwrap(), Batch::Idle));
        assert_eq!(none.next_seq(), 6);
        // until_seq ends the follow once passed, also before it is committed.
        let mut until = log.follow(Filter { from_seq: 4, until_seq: Some(7), ..Filter::default() });
        assert_eq!(seqs(until.next_batch(Duration::ZERO, 10).unwrap()), vec![4, 5]);
        assert!(matches!(until.next_batch(Duration::ZERO, 10).unwrap(), Batch::Idle));
        log.append(vec![marker("c"), marker("d"), marker("e")]).unwrap();
        assert_eq!(seqs(until.next_batch(Duration::ZERO, 10).unwrap()), vec![6, 7]);
        assert!(matches!(until.next_batch(Duration::from_secs(10), 10).unwrap(), Batch::Closed));
    }

    #[test]
    fn closed_when_the_log_stops_its_followers() {
        let (_dir, log) = open(Config::default());
        let mut f = log.follow(Filter::default());
        let waiting = std::thread::spawn(move || {
            let started = Instant::now();
            let batch = f.next_batch(Duration::from_secs(30), 10).unwrap();
            (batch, started.elapsed(), f)
        });
        std::thread::sleep(Duration::from_millis(50));
        log.append(vec![marker("a")]).unwrap();
        let (batch, _, mut f) = waiting.join().unwrap();
        assert_eq!(seqs(batch), vec![1]);
        let waiting = std::thread::spawn(move || {
            let started = Instant::now();
            let batch = f.next_batch(Duration::from_secs(30), 10).unwrap();
            (batch, started.elapsed(), f)
        });
        std::thread::sleep(Duration::from_millis(50));
        log.close();
        let (batch, took, mut f) = waiting.join().unwrap();
        assert!(matches!(batch, Batch::Closed), "{batch:?}");
        assert!(took < Duration::from_secs(10));
        assert!(matches!(f.next_batch(Duration::ZERO, 10).unwrap(), Batch::Closed));
        assert!(matches!(log.append(vec![marker("b")]), Err(Error::Closed)));
        // A new follower of a closed log ends at once too.
        assert!(matches!(
            log.follow(Filter::default()).next_batch(Duration::from_secs(30), 1).unwrap(),
            Batch::Closed
        ));
    }
}
