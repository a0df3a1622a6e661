//! The `metrics` projection: counters by kind, target and sender, bytes,
//! agent tool calls and alerts, and the message-to-response latency and tool
//! call duration histograms.
//!
//! Names follow Prometheus conventions (`orc_log_<noun>_<unit>_total`).
//! Response latency is the time from a message to a pane until that pane's
//! content next changes, observed once per message, in seconds.
//!
//! Bounded whatever the length of the log: counters are keyed by the
//! team's names (targets, senders, tools, rules), messages awaiting a
//! response and running tool calls are capped (`MAX_PENDING`, 1,024), and
//! schedules are counted, keeping only the pending ones and a few per pane
//! ([`crate::schedules`]).

use crate::content::ContentTracker;
use crate::projection::Projection;
use crate::prometheus::{Family, MetricType, Sample};
use crate::schedules::Schedules;
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
    /// Appends the cumulative `_bucket` samples (bounds
    /// [`RESPONSE_BUCKETS_SECS`] and `+Inf`), `_sum` (seconds) and `_count`
    /// of family `name`, each labelled with `label`.
    fn samples(&self, name: &str, label: (&str, &str), out: &mut Vec<Sample>) {
        let lab = || (label.0.to_owned(), label.1.to_owned());
        let mut cumulative = 0;
        for (i, bound) in
            RESPONSE_BUCKETS_SECS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate()
        {
            cumulative += self.buckets.get(i).copied().unwrap_or(0);
            out.push(Sample {
                name: format!("{name}_bucket"),
                labels: vec![lab(), ("le".into(), bound)],
                value: cumulative as f64,
            });
        }
        out.push(Sample {
            name: format!("{name}_sum"),
            labels: vec![lab()],
            value: self.sum_ns as f64 / 1e9,
        });
        out.push(Sample { name: format!("{name}_count"), labels: vec![lab()], value: self.count as f64 });
    }

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

/// Reads per-kind counts of at most [`Kind::ALL`]`.len()` entries, the
/// missing ones (kinds added since the checkpoint) as 0.
fn per_kind_counts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[u64; Kind::ALL.len()], D::Error> {
    let counts = Vec::<u64>::deserialize(d)?;
    let mut out = [0; Kind::ALL.len()];
    if counts.len() > out.len() {
        return Err(serde::de::Error::invalid_length(counts.len(), &"at most one count per known kind"));
    }
    out[..counts.len()].copy_from_slice(&counts);
    Ok(out)
}

/// The metrics projection's state. Serialized as its checkpoint.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    seq: u64,
    /// Events by kind, indexed by kind code - 1. A checkpoint written
    /// before a kind existed has a shorter array: it reads with 0 for the
    /// new kinds (no such event could have been folded), so adding a kind
    /// needs no rebuild.
    #[serde(deserialize_with = "per_kind_counts")]
    events: [u64; Kind::ALL.len()],
    stored_bytes: u64,
    raw_bytes: u64,
    captures: BTreeMap<Target, u64>,
    crashes: BTreeMap<Target, u64>,
    received: BTreeMap<Target, u64>,
    sent: BTreeMap<String, u64>,
    /// The schedules kept and counts of the rest (bounded: see [`crate::schedules`]).
    schedules: Schedules,
    pending: BTreeMap<Target, std::collections::VecDeque<i64>>,
    response: BTreeMap<Target, Histogram>,
    content: ContentTracker,
    /// Finished tool calls: target (or "-") -> tool -> [ok, failure].
    /// (Nested string keys: the checkpoint is JSON, whose keys are strings.)
    tool_calls: BTreeMap<String, BTreeMap<String, [u64; 2]>>,
    /// Running tool calls: pairing key -> ts of the "pre" (at most
    /// [`MAX_PENDING`] kept; the oldest is dropped unobserved).
    tool_started: BTreeMap<String, i64>,
    /// Tool call durations by tool.
    tool_duration: BTreeMap<String, Histogram>,
    /// Alerts fired, by rule.
    alerts: BTreeMap<String, u64>,
    /// Agent usage: target (or "-": not known when folded) -> model (or
    /// "-") -> [cost nano-dollars, input, output, cache read, cache
    /// creation tokens]. Absent from checkpoints written before the kind.
    #[serde(default)]
    usage: BTreeMap<String, BTreeMap<String, [u64; 5]>>,
    /// Agent sessions' panes (the usage records' own bounded join).
    #[serde(default)]
    sessions: crate::usage::Join,
}

/// The key pairing a tool call's "pre" with its "post"/"failure": the
/// `tool_use_id` when there is one, else session, target and tool (Claude
/// Code runs one call of a tool at a time per session without ids).
pub fn tool_call_key(
    agent_session_id: &str,
    target: Option<&Target>,
    tool: &str,
    tool_use_id: Option<&str>,
) -> String {
    match tool_use_id {
        Some(id) => format!("id:{id}"),
        None => format!("{agent_session_id}|{}|{tool}", target.map(Target::to_string).unwrap_or_default()),
    }
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
    const HISTORY_EVERY: u64 = crate::history::EVERY;

    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        self.seq = meta.seq;
        self.events[event.kind().index()] += 1;
        self.stored_bytes += meta.stored_bytes;
        self.raw_bytes += meta.raw_bytes;
        match &event.body {
            EventBody::Capture { target, content, .. } => {
                bump(&mut self.captures, target);
                if self.content.changed(target, content, event.ts_ns)
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
                let q = crate::maps::get_or_insert(&mut self.pending, to, Default::default);
                if q.len() == MAX_PENDING {
                    q.pop_front();
                }
                q.push_back(event.ts_ns);
            }
            EventBody::Schedule { target, note, due_ns } => {
                self.schedules.schedule(target, meta.seq, event.ts_ns, note, *due_ns);
            }
            EventBody::ScheduleFired { target, note } => {
                self.schedules.fire(target, event.ts_ns, note.as_deref());
            }
            EventBody::ToolCall { target, agent_session_id, phase, tool, tool_use_id, .. } => {
                let key = tool_call_key(agent_session_id, target.as_ref(), tool, tool_use_id.as_deref());
                if phase == "pre" {
                    if self.tool_started.len() >= MAX_PENDING
                        && let Some(oldest) =
                            self.tool_started.iter().min_by_key(|(_, ts)| **ts).map(|(k, _)| k.clone())
                    {
                        self.tool_started.remove(&oldest);
                    }
                    self.tool_started.insert(key, event.ts_ns);
                } else {
                    let t = target.as_ref().map_or_else(|| "-".to_owned(), Target::to_string);
                    let counts = self.tool_calls.entry(t).or_default().entry(tool.clone()).or_default();
                    counts[usize::from(phase == "failure")] += 1;
                    if let Some(started) = self.tool_started.remove(&key) {
                        self.tool_duration
                            .entry(tool.clone())
                            .or_default()
                            .observe(event.ts_ns.saturating_sub(started).max(0));
                    }
                }
            }
            EventBody::Alert { rule, .. } => bump(&mut self.alerts, rule),
            EventBody::AgentSession { target: Some(target), agent_session_id, phase, .. }
                if phase == "start" =>
            {
                // Held records are not counted again: counters never move
                // between targets (see `usage` above).
                self.sessions.started(agent_session_id, target, event.ts_ns);
            }
            EventBody::AgentUsage {
                target,
                agent_session_id,
                model,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_usd,
                ..
            } => {
                let t = match (target, agent_session_id) {
                    (Some(t), _) => t.to_string(),
                    (None, Some(s)) => {
                        self.sessions.pane_of(s).map_or_else(|| "-".to_owned(), Target::to_string)
                    }
                    (None, None) => "-".to_owned(),
                };
                let m = model.clone().unwrap_or_else(|| "-".to_owned());
                let row = self.usage.entry(t).or_default().entry(m).or_default();
                let add = [
                    cost_usd.map_or(0, |c| c.nanos),
                    *input_tokens,
                    *output_tokens,
                    *cache_read_tokens,
                    *cache_creation_tokens,
                ];
                for (r, a) in row.iter_mut().zip(add) {
                    *r = r.saturating_add(a);
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
        // Fired and long-overdue schedules are counted, not kept.
        let (mut overdue, mut pending) = (self.schedules.dropped_overdue(), 0);
        for due in self.schedules.unfired_due() {
            if due <= as_of_ns {
                overdue += 1;
            } else {
                pending += 1;
            }
        }
        let statuses: BTreeMap<&str, u64> =
            [("fired", self.schedules.fired_total()), ("overdue", overdue), ("pending", pending)]
                .into_iter()
                .collect();
        let mut hist = Vec::new();
        for (target, h) in &self.response {
            h.samples("orc_log_message_response_seconds", ("target", &target.to_string()), &mut hist);
        }
        let mut tool_hist = Vec::new();
        for (tool, h) in &self.tool_duration {
            h.samples("orc_log_tool_call_duration_seconds", ("tool", tool), &mut tool_hist);
        }
        let mut tool_calls = Vec::new();
        for (target, tools) in &self.tool_calls {
            for (tool, counts) in tools {
                for (outcome, n) in ["ok", "failure"].into_iter().zip(counts) {
                    if *n > 0 {
                        tool_calls.push(Sample {
                            name: "orc_log_tool_calls_total".into(),
                            labels: vec![
                                ("target".into(), target.clone()),
                                ("tool".into(), tool.clone()),
                                ("outcome".into(), outcome.into()),
                            ],
                            value: *n as f64,
                        });
                    }
                }
            }
        }
        let (mut cost, mut tokens) = (Vec::new(), Vec::new());
        for (target, models) in &self.usage {
            for (model, row) in models {
                let labels = vec![("target".to_owned(), target.clone()), ("model".to_owned(), model.clone())];
                cost.push(Sample {
                    name: "orc_log_agent_cost_usd_total".into(),
                    labels: labels.clone(),
                    value: row[0] as f64 / 1e9,
                });
                for (ty, n) in ["input", "output", "cache_read", "cache_creation"].into_iter().zip(&row[1..])
                {
                    let mut l = labels.clone();
                    l.push(("type".into(), ty.into()));
                    tokens.push(Sample {
                        name: "orc_log_agent_tokens_total".into(),
                        labels: l,
                        value: *n as f64,
                    });
                }
            }
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
            counter(
                "orc_log_tool_calls_total",
                "Agent tool calls finished, by target, tool and outcome (ok, failure).",
                tool_calls,
            ),
            Family {
                name: "orc_log_tool_call_duration_seconds",
                help: "Time from an agent tool call's start (pre hook) to its end (post or failure), in seconds.",
                kind: MetricType::Histogram,
                samples: tool_hist,
            },
            counter(
                "orc_log_alerts_total",
                "Alerts fired, by rule.",
                by_label("orc_log_alerts_total", "rule", &self.alerts),
            ),
            counter(
                "orc_log_agent_cost_usd_total",
                "Agents' cost in US dollars (agent_usage), by target (\"-\": not known when recorded) and model.",
                cost,
            ),
            counter(
                "orc_log_agent_tokens_total",
                "Agents' tokens (agent_usage), by target, model and type (input, output, cache_read, cache_creation).",
                tokens,
            ),
        ]
    }
}
