//! The `metrics` projection: counters by kind, target and sender, bytes, and
//! the message-to-response latency histogram.
//!
//! Names follow Prometheus conventions (`orc_log_<noun>_<unit>_total`).
//! Response latency is the time from a message to a pane until that pane's
//! content next changes, observed once per message, in seconds.

use crate::content::ContentTracker;
use crate::projection::Projection;
use crate::prometheus::{Family, MetricType, Sample};
use orc_log_engine::EventMeta;
use orc_log_schemas::{Event, EventBody, Kind, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bounds of the response-time histogram buckets, in seconds.
pub const RESPONSE_BUCKETS_SECS: [f64; 12] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Messages waiting for a response, per pane, at most this many (older ones
/// are dropped unobserved).
const MAX_PENDING: usize = 1024;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Histogram {
    /// Count per bucket of [`RESPONSE_BUCKETS_SECS`] (not cumulative) plus +Inf.
    buckets: Vec<u64>,
    sum_ns: i128,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, ns: i64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; RESPONSE_BUCKETS_SECS.len() + 1];
        }
        let secs = ns as f64 / 1e9;
        let idx =
            RESPONSE_BUCKETS_SECS.iter().position(|b| secs <= *b).unwrap_or(RESPONSE_BUCKETS_SECS.len());
        self.buckets[idx] += 1;
        self.sum_ns += i128::from(ns);
        self.count += 1;
    }
}

/// The metrics projection's state. Serialized as its checkpoint.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    seq: u64,
    /// Events by kind, indexed by kind code - 1.
    events: [u64; 12],
    stored_bytes: u64,
    raw_bytes: u64,
    captures: BTreeMap<Target, u64>,
    crashes: BTreeMap<Target, u64>,
    received: BTreeMap<Target, u64>,
    sent: BTreeMap<String, u64>,
    /// Due time and fired flag of every schedule, in log order.
    schedules: Vec<(Target, String, i64, bool)>,
    pending: BTreeMap<Target, Vec<i64>>,
    response: BTreeMap<Target, Histogram>,
    content: ContentTracker,
}

/// Adds one to `map[key]`, cloning the key only the first time it is seen.
fn bump<K: Ord + Clone>(map: &mut BTreeMap<K, u64>, key: &K) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.clone(), 1);
        }
    }
}

impl Projection for Metrics {
    const NAME: &'static str = "metrics";

    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        self.seq = meta.seq;
        self.events[usize::from(event.kind().code() - 1)] += 1;
        self.stored_bytes += meta.stored_bytes;
        self.raw_bytes += meta.raw_bytes;
        match &event.body {
            EventBody::Capture { target, content, .. } => {
                bump(&mut self.captures, target);
                if self.content.changed(target, content)
                    && let Some(waiting) = self.pending.remove(target)
                {
                    let h = self.response.entry(target.clone()).or_default();
                    for sent in waiting {
                        h.observe(event.ts_ns.saturating_sub(sent).max(0));
                    }
                }
            }
            EventBody::Crash { target, .. } => bump(&mut self.crashes, target),
            EventBody::Message { from, to, .. } => {
                bump(&mut self.received, to);
                bump(&mut self.sent, from);
                let q = self.pending.entry(to.clone()).or_default();
                if q.len() == MAX_PENDING {
                    q.remove(0);
                }
                q.push(event.ts_ns);
            }
            EventBody::Schedule { target, note, due_ns } => {
                self.schedules.push((target.clone(), note.clone(), *due_ns, false));
            }
            EventBody::ScheduleFired { target, note } => {
                let hit = self
                    .schedules
                    .iter_mut()
                    .find(|(t, n, _, fired)| !*fired && t == target && note.as_ref().is_none_or(|x| x == n));
                if let Some(s) = hit {
                    s.3 = true;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn by_label<K: ToString>(name: &str, label: &str, m: &BTreeMap<K, u64>) -> Vec<Sample> {
    m.iter()
        .map(|(k, v)| Sample {
            name: name.to_owned(),
            labels: vec![(label.to_owned(), k.to_string())],
            value: *v as f64,
        })
        .collect()
}

fn single(name: &str, value: u64) -> Vec<Sample> {
    vec![Sample { name: name.to_owned(), labels: Vec::new(), value: value as f64 }]
}

impl Metrics {
    /// The last seq folded in.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The metric families, with schedule statuses derived at `as_of_ns`
    /// (UTC ns): `fired`, `overdue` (due and not fired) or `pending`.
    pub fn families(&self, as_of_ns: i64) -> Vec<Family> {
        let mut statuses: BTreeMap<&str, u64> =
            [("fired", 0), ("overdue", 0), ("pending", 0)].into_iter().collect();
        for (_, _, due, fired) in &self.schedules {
            let s = if *fired {
                "fired"
            } else if *due <= as_of_ns {
                "overdue"
            } else {
                "pending"
            };
            *statuses.entry(s).or_insert(0) += 1;
        }
        let mut hist = Vec::new();
        for (target, h) in &self.response {
            let t = target.to_string();
            let mut cumulative = 0;
            for (i, bound) in
                RESPONSE_BUCKETS_SECS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate()
            {
                cumulative += h.buckets.get(i).copied().unwrap_or(0);
                hist.push(Sample {
                    name: "orc_log_message_response_seconds_bucket".into(),
                    labels: vec![("target".into(), t.clone()), ("le".into(), bound)],
                    value: cumulative as f64,
                });
            }
            hist.push(Sample {
                name: "orc_log_message_response_seconds_sum".into(),
                labels: vec![("target".into(), t.clone())],
                value: h.sum_ns as f64 / 1e9,
            });
            hist.push(Sample {
                name: "orc_log_message_response_seconds_count".into(),
                labels: vec![("target".into(), t)],
                value: h.count as f64,
            });
        }
        let events: BTreeMap<&str, u64> =
            Kind::ALL.iter().zip(self.events).filter(|(_, n)| *n > 0).map(|(k, n)| (k.as_str(), n)).collect();
        let counter = |name, help, samples| Family { name, help, kind: MetricType::Counter, samples };
        vec![
            counter(
                "orc_log_events_total",
                "Events in the log, by kind.",
                by_label("orc_log_events_total", "kind", &events),
            ),
            counter(
                "orc_log_stored_bytes_total",
                "Bytes the events' frames take in the log (header, compressed body, check).",
                single("orc_log_stored_bytes_total", self.stored_bytes),
            ),
            counter(
                "orc_log_raw_bytes_total",
                "Uncompressed bytes of the events' encoded bodies.",
                single("orc_log_raw_bytes_total", self.raw_bytes),
            ),
            counter(
                "orc_log_captures_total",
                "Pane captures, by target.",
                by_label("orc_log_captures_total", "target", &self.captures),
            ),
            counter(
                "orc_log_crashes_total",
                "Crash signals, by target.",
                by_label("orc_log_crashes_total", "target", &self.crashes),
            ),
            counter(
                "orc_log_messages_received_total",
                "Messages sent to a pane, by target.",
                by_label("orc_log_messages_received_total", "target", &self.received),
            ),
            counter(
                "orc_log_messages_sent_total",
                "Messages sent, by sender (agent name or target).",
                by_label("orc_log_messages_sent_total", "from", &self.sent),
            ),
            Family {
                name: "orc_log_schedules_total",
                help: "Scheduled check-ins, by status (pending, fired, overdue).",
                kind: MetricType::Gauge,
                samples: by_label("orc_log_schedules_total", "status", &statuses),
            },
            Family {
                name: "orc_log_message_response_seconds",
                help: "Time from a message to a pane until that pane's content next changed, in seconds.",
                kind: MetricType::Histogram,
                samples: hist,
            },
        ]
    }
}
