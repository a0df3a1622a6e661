//! [`SharedLog`]: one open database used by many threads at once.
//!
//! The library owns the concurrency, as redb's `Database` and fjall's
//! `Keyspace` do, so a server, its commands, the SQL tables and the
//! projection keeper all use one handle:
//!
//! - **Readers never wait for the writer.** [`SharedLog::snapshot`] hands out
//!   a [`Snapshot`] of the last commit (a clone of a few reference counts,
//!   under a lock held for nanoseconds). Reading it takes no lock at all: the
//!   log is append-only, so everything up to a snapshot's head is immutable.
//! - **The writer never waits for readers.** Appends from all threads are
//!   group-committed by a leader (LevelDB's and RocksDB's write-group
//!   scheme): each [`SharedLog::append`] queues its batch; one caller becomes
//!   the leader, commits every queued batch with one fsync, publishes the new
//!   snapshot and wakes the others with their own receipts.
//! - **Commits are announced**: a [`crate::Follower`] ([`SharedLog::follow`]:
//!   `tail --follow`, the web view, alerts, the projection keeper) sleeps on
//!   the announcement until the head moves, then reads what was committed.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log::{AppendReceipt, Log, validate};
use crate::position::Head;
use crate::snapshot::Snapshot;
use orc_log_schemas::Event;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

/// Events committed together at most by one group commit.
pub const MAX_GROUP_EVENTS: usize = 65_536;

/// A database shared by the threads of one process. Cheap to clone; every
/// clone is the same database.
#[derive(Clone)]
pub struct SharedLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLog").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

struct Inner {
    dir: PathBuf,
    /// The one writer; held only while a group is committed, a segment is
    /// closed or a sealed one switched in.
    writer: Mutex<Log>,
    /// The view as of the last commit.
    latest: RwLock<Snapshot>,
    /// Head seq and closing flag, for followers.
    head: Mutex<HeadState>,
    head_moved: Condvar,
    /// Batches waiting for a group commit, and the results of finished ones.
    queue: Mutex<Queue>,
    queue_moved: Condvar,
    /// Held by the one seal under way (prepared off the writer).
    sealer: Mutex<()>,
    /// The next seq of each running [`crate::Follower`] (dropped ones are
    /// gone from here): what they still need pins compaction.
    followers: Mutex<Vec<std::sync::Weak<std::sync::atomic::AtomicU64>>>,
}

#[derive(Default)]
struct HeadState {
    seq: u64,
    closing: bool,
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    pending: VecDeque<Job>,
    done: HashMap<u64, Result<AppendReceipt>>,
    /// Whether a caller is committing a group now.
    leader: bool,
    closed: bool,
}

struct Job {
    ticket: u64,
    events: Vec<Event>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl From<Log> for SharedLog {
    fn from(log: Log) -> Self {
        let latest = log.snap.clone();
        let seq = latest.head.seq;
        Self {
            inner: Arc::new(Inner {
                dir: latest.dir.clone(),
                writer: Mutex::new(log),
                latest: RwLock::new(latest),
                head: Mutex::new(HeadState { seq, closing: false }),
                head_moved: Condvar::new(),
                queue: Mutex::new(Queue::default()),
                queue_moved: Condvar::new(),
                sealer: Mutex::new(()),
                followers: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl SharedLog {
    /// Opens (creating if missing) the database in `dir`; see [`Log::open`].
    ///
    /// # Errors
    /// As [`Log::open`].
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Self> {
        Log::open(dir, config).map(Self::from)
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The head as of the last commit.
    pub fn head(&self) -> Head {
        self.snapshot().head
    }

    /// A read-only view as of the last commit. Never waits for a commit in
    /// progress; reading it takes no lock (see [`Snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        self.inner.latest.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Appends `events` in order, group-committed with the batches of other
    /// threads; the receipt is as if this batch had been appended alone.
    ///
    /// The events are validated ([`Event::validate`]) in the calling thread
    /// before they are queued, so an invalid batch never holds up others.
    ///
    /// **Durability:** when this returns Ok, the batch is on stable storage
    /// (one fsync covers the whole group) and in every later snapshot. On
    /// error nothing of this batch is acknowledged; after a crash the log
    /// holds all of the group's events or none of them. After a failed
    /// commit the handle is poisoned: every later append fails with
    /// [`Error::Poisoned`] until the database is reopened.
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] (nothing queued); [`Error::Closed`] after
    /// [`SharedLog::close`]; the commit's error, which every batch of the
    /// failed group gets.
    pub fn append(&self, events: Vec<Event>) -> Result<AppendReceipt> {
        validate(&events)?;
        let inner = &*self.inner;
        let mut q = lock(&inner.queue);
        if q.closed {
            return Err(Error::Closed);
        }
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push_back(Job { ticket, events });
        loop {
            if let Some(result) = q.done.remove(&ticket) {
                return result;
            }
            if q.leader {
                q = inner.queue_moved.wait(q).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Lead one group: every queued batch, up to the group limit.
            q.leader = true;
            let mut jobs = Vec::new();
            let mut total = 0;
            while let Some(next) = q.pending.front() {
                if !jobs.is_empty() && total + next.events.len() > MAX_GROUP_EVENTS {
                    break;
                }
                total += next.events.len();
                jobs.extend(q.pending.pop_front());
            }
            drop(q);
            let result = self.commit_group(&jobs);
            q = lock(&inner.queue);
            match result {
                Ok(receipts) => {
                    for (job, r) in jobs.iter().zip(receipts) {
                        q.done.insert(job.ticket, Ok(r));
                    }
                }
                Err(e) => {
                    for job in &jobs {
                        q.done.insert(job.ticket, Err(e.duplicate()));
                    }
                }
            }
            q.leader = false;
            inner.queue_moved.notify_all();
        }
    }

    /// Commits one group under the writer lock, then publishes the new
    /// snapshot and announces the head.
    fn commit_group(&self, jobs: &[Job]) -> Result<Vec<AppendReceipt>> {
        let inner = &*self.inner;
        let groups: Vec<&[Event]> = jobs.iter().map(|j| j.events.as_slice()).collect();
        let mut log = lock(&inner.writer);
        // A panic here would leave waiters without an answer: turn it into
        // an error (the store already catches sled's own panics).
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.append_groups_valid(&groups)))
                .unwrap_or_else(|_| Err(Error::Poisoned { reason: "a commit panicked".into() }));
        let snap = log.snap.clone();
        drop(log);
        self.publish(snap);
        result
    }

    /// Makes `snap` the latest view and wakes followers when the head moved.
    fn publish(&self, snap: Snapshot) {
        let inner = &*self.inner;
        let seq = snap.head.seq;
        *inner.latest.write().unwrap_or_else(PoisonError::into_inner) = snap;
        let mut h = lock(&inner.head);
        if seq != h.seq {
            h.seq = seq;
            inner.head_moved.notify_all();
        }
    }

    /// Durably stores a named checkpoint blob; see [`Log::put_checkpoint`].
    /// Takes no lock of the log (appends never wait for it).
    ///
    /// **Durability:** on disk when this returns Ok.
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn put_checkpoint(&self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::storage::checkpoints::put(self.dir(), name, bytes)
    }

    /// Durably deletes a named checkpoint; see [`Log::delete_checkpoint`].
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn delete_checkpoint(&self, name: &str) -> Result<()> {
        crate::storage::checkpoints::delete(self.dir(), name)
    }

    /// Seals closed segments, after closing the active one when
    /// `close_active` (as [`Log::seal`]), without holding up appends: each
    /// segment is repacked from a snapshot off the writer
    /// ([`Snapshot::prepare_seal`]), and only its switch (a rename and one
    /// index batch, milliseconds) takes the writer. Readers never wait. One
    /// seal runs at a time; a second caller waits for it. Cheap when there
    /// is nothing to seal.
    ///
    /// **Durability:** each sealed segment and its index are on disk when
    /// the next one starts; a crash at any moment leaves every event in place.
    ///
    /// # Errors
    /// As [`Log::seal`].
    pub fn seal(&self, close_active: bool) -> Result<crate::SealReport> {
        let _one = lock(&self.inner.sealer);
        if close_active {
            lock(&self.inner.writer).close_active()?;
        }
        self.seal_closed()
    }

    /// What a long-running server calls every few seconds: closes the active
    /// segment when it is due ([`Log::roll_due`]: no commit for `idle`, or
    /// older than `max_age`) and holds events, then seals every closed
    /// segment as [`SharedLog::seal`] does. So a quiet database is compact
    /// `idle` after its last append.
    ///
    /// # Errors
    /// As [`SharedLog::seal`].
    pub fn seal_if_due(&self, idle: Duration, max_age: Duration) -> Result<crate::SealReport> {
        let _one = lock(&self.inner.sealer);
        {
            let mut log = lock(&self.inner.writer);
            if log.roll_due(idle, max_age) {
                log.close_active()?;
            }
        }
        self.seal_closed()
    }

    /// Redacts stored bodies as [`Log::redact`] does, holding the writer
    /// for the whole rewrite (appends wait; reads go on) and publishing the
    /// new snapshot afterwards.
    ///
    /// # Errors
    /// As [`Log::redact`].
    pub fn redact(
        &self,
        edits: &std::collections::BTreeMap<u64, orc_log_schemas::Event>,
    ) -> Result<Vec<crate::RedactedBody>> {
        let _one = lock(&self.inner.sealer);
        let mut log = lock(&self.inner.writer);
        let out = log.redact(edits);
        let snap = log.snap.clone();
        drop(log);
        self.publish(snap);
        out
    }

    /// Before a rewrite of stored bodies ([`SharedLog::compact`]): closes
    /// the active segment and makes the writer forget its delta bases, so no
    /// capture appended from now on is stored as a delta against a body
    /// that may be rewritten, then seals every closed segment. Returns the
    /// first seq of the segment appends go to now: every segment before it
    /// is sealed and may be rewritten.
    ///
    /// # Errors
    /// As [`SharedLog::seal`].
    pub(crate) fn seal_for_rewrite(&self) -> Result<u64> {
        let _one = lock(&self.inner.sealer);
        let next = {
            let mut log = lock(&self.inner.writer);
            log.close_active()?;
            log.panes.clear();
            log.head().seq + 1
        };
        self.seal_closed()?;
        Ok(next)
    }

    /// Rewrites the sealed segment `first..end` with `edits` (prepared off
    /// the writer, switched in under it, as a seal is) and publishes the
    /// new snapshot.
    ///
    /// **Durability:** the rewritten segment and its index are on disk when
    /// this returns Ok.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the segment is not sealed; as
    /// [`Log::install_seal`].
    pub(crate) fn rewrite_segment(
        &self,
        first: u64,
        end: u64,
        edits: &std::collections::HashMap<u64, crate::seal::BodyEdit>,
    ) -> Result<()> {
        let _one = lock(&self.inner.sealer);
        let snap = self.snapshot();
        if !crate::storage::segment::is_sealed(&snap.segs, first)? {
            return Err(crate::Error::Invalid(format!("segment at seq {first} is not sealed")));
        }
        let config = lock(&self.inner.writer).config.clone();
        let prepared = snap.prepare_seal(first, end, &config, Some(edits))?;
        let mut log = lock(&self.inner.writer);
        log.install_seal(prepared)?;
        log.settle_index()?;
        let snap = log.snap.clone();
        drop(log);
        self.publish(snap);
        Ok(())
    }

    /// Registers a follower's next seq (see [`SharedLog::follower_positions`]).
    pub(crate) fn register_follower(&self, next: &Arc<std::sync::atomic::AtomicU64>) {
        let mut f = lock(&self.inner.followers);
        f.retain(|w| w.strong_count() > 0);
        f.push(Arc::downgrade(next));
    }

    /// The next seq of each running follower of this log (in this
    /// process: a server's clients follow through it); what they have not
    /// read yet pins compaction (`SharedLog::pins`).
    pub fn follower_positions(&self) -> Vec<u64> {
        let f = lock(&self.inner.followers);
        f.iter()
            .filter_map(std::sync::Weak::upgrade)
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
            .collect()
    }

    /// Seals the closed segments; the caller holds `sealer`.
    fn seal_closed(&self) -> Result<crate::SealReport> {
        let inner = &*self.inner;
        let (closed, config) = {
            let mut log = lock(&inner.writer);
            (log.closed_unsealed()?, log.config.clone())
        };
        let mut report = crate::SealReport::default();
        for (first, end) in closed {
            let prepared = self.snapshot().prepare_seal(first, end, &config, None)?;
            let mut log = lock(&inner.writer);
            let one = log.install_seal(prepared)?;
            let snap = log.snap.clone();
            drop(log);
            self.publish(snap);
            report.add(&one);
        }
        lock(&inner.writer).settle_index()?;
        Ok(report)
    }

    /// Flushes everything to stable storage (appends already are durable
    /// when they return; this is for shutdown paths).
    ///
    /// # Errors
    /// Store and I/O errors.
    pub fn sync(&self) -> Result<()> {
        lock(&self.inner.writer).sync()
    }

    /// Waits up to `timeout` for the head to pass `seq`. Returns the head
    /// seq then (or at the timeout), or `None` once the database is closing.
    /// The primitive of [`crate::Follower`], the one follower of the log.
    pub(crate) fn wait_for_head(&self, seq: u64, timeout: Duration) -> Option<u64> {
        let inner = &*self.inner;
        let h = lock(&inner.head);
        let (h, _) = inner
            .head_moved
            .wait_timeout_while(h, timeout, |h| h.seq <= seq && !h.closing)
            .unwrap_or_else(PoisonError::into_inner);
        if h.closing { None } else { Some(h.seq) }
    }

    /// Whether [`SharedLog::stop_followers`] was called.
    pub(crate) fn stopping(&self) -> bool {
        lock(&self.inner.head).closing
    }

    /// Sleeps up to `timeout` (a periodic task's tick, e.g. the server's
    /// sealer), waking early when the log stops its followers. Returns
    /// whether it did: `true` means stop.
    pub fn wait_for_stop(&self, timeout: Duration) -> bool {
        self.wait_for_head(u64::MAX, timeout).is_none()
    }

    /// Ends every follower: waiting [`crate::Follower`]s wake and return
    /// [`crate::Batch::Closed`], as every later batch does, so long-running
    /// readers end; appends still work. A server calls this
    /// when it starts to shut down, before it lets requests in hand finish.
    pub fn stop_followers(&self) {
        let inner = &*self.inner;
        lock(&inner.head).closing = true;
        inner.head_moved.notify_all();
    }

    /// Refuses further appends ([`Error::Closed`]) and stops followers
    /// ([`SharedLog::stop_followers`]). Batches already queued are still
    /// committed. The files close when the last clone (and snapshot) is
    /// dropped.
    pub fn close(&self) {
        lock(&self.inner.queue).closed = true;
        self.stop_followers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Filter;
    use orc_log_schemas::{EventBody, Target};

    fn marker(label: &str, id: Option<String>) -> Event {
        Event { ts_ns: 1, id, body: EventBody::Marker { label: label.into(), target: None } }
    }

    #[test]
    fn threads_appending_at_once_get_gapless_seqs_and_every_event_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), Config::default()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut receipts = Vec::new();
                    for i in 0..50 {
                        let events = vec![marker("m", Some(format!("{t}-{i}"))), marker("n", None)];
                        receipts.push(log.append(events).unwrap());
                    }
                    receipts
                })
            })
            .collect();
        let mut seqs: Vec<u64> = Vec::new();
        for t in threads {
            for r in t.join().unwrap() {
                assert_eq!(r.appended, 2);
                assert_eq!(r.last_seq, r.first_seq + 1);
                seqs.extend([r.first_seq, r.last_seq]);
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=800).collect::<Vec<_>>());
        let snap = log.snapshot();
        assert_eq!(snap.verify().unwrap().events, 800);
        // Duplicate ids are still recognised across groups.
        let again = log.append(vec![marker("m", Some("3-7".into()))]).unwrap();
        assert_eq!((again.appended, again.duplicates), (0, 1));
    }

    #[test]
    fn a_snapshot_keeps_its_head_while_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), Config::default()).unwrap();
        log.append(vec![marker("a", None), marker("b", None)]).unwrap();
        let snap = log.snapshot();
        log.append(vec![marker("c", None)]).unwrap();
        assert_eq!(snap.scan(Filter::default()).unwrap().count(), 2);
        assert_eq!(snap.verify().unwrap().events, 2);
        assert_eq!(log.snapshot().scan(Filter::default()).unwrap().count(), 3);
        assert_eq!(log.snapshot().verify().unwrap().events, 3);
    }

    #[test]
    fn an_invalid_batch_is_refused_alone_with_the_ingest_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), Config::default()).unwrap();
        let bad = Event {
            ts_ns: 1,
            id: None,
            body: EventBody::Crash {
                target: Target { session: "a b".into(), window: 0, pane: 0 },
                reason: "x".into(),
                excerpt: None,
                detector: None,
            },
        };
        let err = log.append(vec![marker("ok", None), bad]).unwrap_err().to_string();
        assert!(
            err.starts_with("event 2 of the batch is invalid: bad target \"target\": bad session name"),
            "{err}"
        );
        assert_eq!(log.head().seq, 0);
        log.append(vec![marker("ok", None)]).unwrap();
        assert_eq!(log.head().seq, 1);
    }

    #[test]
    fn followers_wake_on_commit_and_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::open(dir.path(), Config::default()).unwrap();
        let follower = {
            let log = log.clone();
            std::thread::spawn(move || log.wait_for_head(0, Duration::from_secs(30)))
        };
        log.append(vec![marker("a", None)]).unwrap();
        assert_eq!(follower.join().unwrap(), Some(1));
        let follower = {
            let log = log.clone();
            std::thread::spawn(move || log.wait_for_head(1, Duration::from_secs(30)))
        };
        log.close();
        assert_eq!(follower.join().unwrap(), None);
        assert!(matches!(log.append(vec![marker("b", None)]), Err(Error::Closed)));
    }
}
