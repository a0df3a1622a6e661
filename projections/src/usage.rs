//! Agent usage (`agent_usage` events) as the projections fold it: which pane
//! a record belongs to, and the amounts it adds.
//!
//! A record carries its pane when the pane was known as it was recorded (the
//! OTLP receiver looks the agent session up); one recorded before its
//! session's pane was known (no target) is held per agent session and
//! attributed once an `agent_session` start with a target names that
//! session's pane. Bounded: the panes of the last [`MAX_SESSIONS`] sessions
//! are remembered, and at most [`MAX_PENDING`] held records per session for
//! at most [`MAX_SESSIONS`] sessions (older ones are dropped).

use orc_log_schemas::{EventBody, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Agent sessions whose pane is remembered, and sessions with held records.
pub const MAX_SESSIONS: usize = 4096;

/// Records held per agent session until its pane is known.
pub const MAX_PENDING: usize = 256;

/// Nanoseconds per UTC day.
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// What one `agent_usage` record adds: time, cost and tokens.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// Event time, UTC ns.
    pub ts: i64,
    /// Cost in nano-dollars (0 when the record has none).
    pub cost_nanos: u64,
    /// Tokens of every type (input, output, cache read, cache creation).
    pub tokens: u64,
}

impl Amount {
    /// The amount of an `agent_usage` body; `None` for other kinds.
    pub fn of(ts: i64, body: &EventBody) -> Option<Amount> {
        match body {
            EventBody::AgentUsage {
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_usd,
                ..
            } => Some(Amount {
                ts,
                cost_nanos: cost_usd.map_or(0, |c| c.nanos),
                tokens: input_tokens
                    .saturating_add(*output_tokens)
                    .saturating_add(*cache_read_tokens)
                    .saturating_add(*cache_creation_tokens),
            }),
            _ => None,
        }
    }
}

/// A pane's usage: totals, and the totals of the newest UTC day seen.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneUsage {
    /// Records folded in.
    pub records: u64,
    /// Total cost, nano-dollars.
    pub cost_nanos: u64,
    /// Total tokens.
    pub tokens: u64,
    /// The newest UTC day (days since the epoch) with usage.
    pub day: i64,
    /// Cost on `day`, nano-dollars.
    pub day_cost_nanos: u64,
    /// Tokens on `day`.
    pub day_tokens: u64,
}

/// The UTC day (days since 1970-01-01) of `ts_ns`.
pub fn utc_day(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(DAY_NS)
}

impl PaneUsage {
    /// Adds one record.
    pub fn add(&mut self, a: Amount) {
        self.records += 1;
        self.cost_nanos = self.cost_nanos.saturating_add(a.cost_nanos);
        self.tokens = self.tokens.saturating_add(a.tokens);
        let day = utc_day(a.ts);
        if self.records == 1 || day > self.day {
            self.day = day;
            self.day_cost_nanos = 0;
            self.day_tokens = 0;
        }
        if day == self.day {
            self.day_cost_nanos = self.day_cost_nanos.saturating_add(a.cost_nanos);
            self.day_tokens = self.day_tokens.saturating_add(a.tokens);
        }
    }

    /// (cost nano-dollars, tokens) on the UTC day of `as_of_ns`.
    pub fn today(&self, as_of_ns: i64) -> (u64, u64) {
        if self.records > 0 && self.day == utc_day(as_of_ns) {
            (self.day_cost_nanos, self.day_tokens)
        } else {
            (0, 0)
        }
    }
}

/// Agent session -> pane, and records held until their session's pane is known.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Agent session id -> (its pane, ts of the start that named it).
    sessions: BTreeMap<String, (Target, i64)>,
    /// Agent session id -> records held.
    pending: BTreeMap<String, Vec<Amount>>,
    /// Held records dropped by the bounds.
    dropped: u64,
}

impl Join {
    /// An agent session started in `target` at `ts`: remembers the pane and
    /// returns the records held for the session, now attributed to it.
    pub fn started(&mut self, session: &str, target: &Target, ts: i64) -> Vec<Amount> {
        if !self.sessions.contains_key(session)
            && self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self.sessions.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone())
        {
            self.sessions.remove(&oldest);
        }
        self.sessions.insert(session.to_owned(), (target.clone(), ts));
        self.pending.remove(session).unwrap_or_default()
    }

    /// The pane a record of `session` (with `target`, if it has one)
    /// belongs to; `None` when it is not known yet, in which case `amount`
    /// is held for the session (when there is one).
    pub fn attribute(
        &mut self,
        target: Option<&Target>,
        session: Option<&str>,
        amount: Amount,
    ) -> Option<Target> {
        if let Some(t) = target {
            return Some(t.clone());
        }
        let session = session?;
        if let Some((t, _)) = self.sessions.get(session) {
            return Some(t.clone());
        }
        if !self.pending.contains_key(session) && self.pending.len() >= MAX_SESSIONS {
            // Drop the session whose newest held record is oldest.
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, v)| v.last().map_or(i64::MIN, |a| a.ts))
                .map(|(k, _)| k.clone())
            {
                let n = self.pending.remove(&oldest).map_or(0, |v| v.len());
                self.dropped += n as u64;
            }
        }
        let held = crate::maps::get_or_insert(&mut self.pending, &session.to_owned(), Vec::new);
        if held.len() >= MAX_PENDING {
            held.remove(0);
            self.dropped += 1;
        }
        held.push(amount);
        None
    }

    /// The pane of agent session `session`, if known.
    pub fn pane_of(&self, session: &str) -> Option<&Target> {
        self.sessions.get(session).map(|(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn records_of_an_unknown_session_are_held_then_joined() {
        let mut j = Join::default();
        let a = Amount { ts: 1, cost_nanos: 5, tokens: 7 };
        assert_eq!(j.attribute(None, Some("s1"), a), None);
        assert_eq!(j.attribute(None, None, a), None);
        assert_eq!(j.started("s1", &t("w:0.1"), 2), vec![a]);
        assert_eq!(j.attribute(None, Some("s1"), a), Some(t("w:0.1")));
        assert_eq!(j.attribute(Some(&t("x:1.0")), Some("s1"), a), Some(t("x:1.0")));
        assert!(j.started("s1", &t("w:0.1"), 3).is_empty());
    }

    #[test]
    fn today_follows_the_utc_day() {
        let mut u = PaneUsage::default();
        let day = DAY_NS * 20_000;
        u.add(Amount { ts: day + 5, cost_nanos: 10, tokens: 1 });
        u.add(Amount { ts: day - 5, cost_nanos: 100, tokens: 2 });
        u.add(Amount { ts: day + 9, cost_nanos: 1, tokens: 4 });
        assert_eq!((u.cost_nanos, u.tokens), (111, 7));
        assert_eq!(u.today(day + 50), (11, 5));
        assert_eq!(u.today(day + DAY_NS), (0, 0));
    }

    #[test]
    fn held_records_are_bounded() {
        let mut j = Join::default();
        for i in 0..(MAX_PENDING as i64 + 10) {
            j.attribute(None, Some("s"), Amount { ts: i, cost_nanos: 1, tokens: 1 });
        }
        assert_eq!(j.dropped, 10);
        assert_eq!(j.started("s", &t("a:0.0"), 0).len(), MAX_PENDING);
    }
}
