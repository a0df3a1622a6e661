//! Pure evaluation: (log facts, rules, now) -> firings.
//!
//! [`Tracker`] folds events into the [`State`] projection plus the few facts
//! rules need that the state does not keep (the seq of each pane's last
//! crash, recent tool failures, and the alerts already in the log).
//! [`evaluate`] then says which rules fire; it does no I/O and reads no
//! clock. Incidents already alerted (an `alert` event with the same rule and
//! incident in the log) never fire again, so a restarted server does not
//! re-fire; a (rule, target) that alerted less than `cooldown` ago is quiet
//! (held: [`Evaluation::held`] says when it would fire). With a [`Cutoff`],
//! incidents that began before it are left out (the server's start).
//!
//! The facts are ordered by event time where they mean "the latest" (the
//! state projection's rule): a back-dated event (an import of an older
//! session) does not move a pane's last change, crash or capture backwards,
//! so it cannot make a pane idle or re-point a crash incident.

use crate::config::{Condition, Rule, Rules};
use orc_log_engine::EventMeta;
use orc_log_projections::Projection;
use orc_log_projections::state::State;
use orc_log_schemas::{Event, EventBody, Target, format_rfc3339, parse_rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Tool failures kept per (pane, tool): enough for any `count` up to this.
const FAILURES_KEPT: usize = 10_000;

/// One rule firing: what the `alert` event will hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firing {
    /// Rule name.
    pub rule: String,
    /// Incident key: `crash:TARGET:SEQ`, `idle:TARGET:LAST_CHANGE_NS`,
    /// `overdue:SCHEDULE_SEQ`, `tool_failures:TARGET:TOOL:FIRST_SEQ`,
    /// `no_capture:SESSION:LAST_CAPTURE_NS`.
    pub incident: String,
    /// The pane it is about (none for `no_capture`).
    pub target: Option<Target>,
    /// The session it is about.
    pub session: String,
    /// The rendered message.
    pub message: String,
    /// Seq of the event it is about (the crash, the schedule, the last
    /// failure), or the head seq the evaluation saw (idle, no_capture).
    pub seq: u64,
    /// Evaluation time, UTC ns.
    pub ts_ns: i64,
    /// When the incident began, UTC ns: the crash, the failure that made
    /// the count, or when the idle, overdue or no-capture threshold was crossed.
    pub began_ns: i64,
    /// A `rate_limited` rule's resume: the text to type into the limited
    /// pane (`target`) instead of running the rule's other actions.
    pub resume: Option<String>,
}

/// A point before which incidents are not fired: those that began before
/// `ts_ns` (UTC ns), unless they are about an event appended after `seq`
/// (a crash, a tool failure or a schedule logged later with an older time).
/// `orc-log serve` uses its start; `alerts test --since` a time (seq `u64::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    /// UTC ns.
    pub ts_ns: i64,
    /// The head seq at that point.
    pub seq: u64,
}

impl Cutoff {
    /// Whether an incident that began at `began_ns` (UTC ns), about the
    /// event at `event_seq` (none for idle and no-capture), is before it.
    fn excludes(&self, began_ns: i64, event_seq: Option<u64>) -> bool {
        began_ns < self.ts_ns && event_seq.is_none_or(|seq| seq <= self.seq)
    }
}

/// What [`evaluate_all`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// What fires now.
    pub firings: Vec<Firing>,
    /// Incidents held by their rule's cool-down, each with when the
    /// cool-down ends (UTC ns): they fire then if they still hold.
    pub held: Vec<(Firing, i64)>,
    /// Incidents that began before the cut-off, not fired.
    pub before_cutoff: Vec<Firing>,
}

/// The log facts rules are evaluated on: a [`Projection`] (the `state`
/// projection and what rules need besides), folded by the projections'
/// runner ([`orc_log_projections::fold_batch`], [`orc_log_projections::view_at`]).
/// It is never checkpointed today (it serializes, as every projection does;
/// maps with tuple keys as lists of pairs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tracker {
    state: State,
    /// Pane -> (ts, seq) of its newest crash.
    crash_seq: BTreeMap<Target, (i64, u64)>,
    /// (pane, tool) -> (seq, ts) of its recent failures, oldest ts first.
    #[serde(with = "pairs")]
    failures: BTreeMap<(Target, String), VecDeque<(u64, i64)>>,
    /// Session -> ts of its newest capture.
    last_capture: BTreeMap<String, i64>,
    /// Session -> ts it was first seen.
    first_seen: BTreeMap<String, i64>,
    /// (rule, incident) alerted.
    fired: BTreeSet<(String, String)>,
    /// (rule, target or session) -> ts of its last alert.
    #[serde(with = "pairs")]
    last_alert: BTreeMap<(String, String), i64>,
    /// Agent sessions' panes, for usage recorded without one.
    #[serde(default)]
    sessions: orc_log_projections::usage::Join,
    /// Pane (or "-": unknown) -> UTC minute -> cost in that minute,
    /// nano-dollars; minutes older than [`crate::config::MAX_COST_WINDOW`]
    /// before the newest are dropped.
    #[serde(default)]
    cost: BTreeMap<String, BTreeMap<i64, u64>>,
}

/// Nanoseconds per minute (the cost buckets' width).
const MINUTE_NS: i64 = 60_000_000_000;

/// A map with keys JSON cannot take (tuples) as a list of `[key, value]` pairs.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Vec::<(K, V)>::deserialize(d).map(|pairs| pairs.into_iter().collect())
    }
}

impl Firing {
    /// The cool-down key: the target, or the session when there is none
    /// (`resume:TARGET` for a resume, whose cool-down is its own).
    pub fn key(&self) -> String {
        match (&self.resume, &self.target) {
            (Some(_), Some(t)) => format!("resume:{t}"),
            _ => self.target.as_ref().map_or_else(|| self.session.clone(), ToString::to_string),
        }
    }
}

impl Projection for Tracker {
    const NAME: &'static str = "alerts-tracker";

    /// Folds one event in (events must come in log order).
    ///
    /// # Errors
    /// When the state projection rejects the event (its reason).
    fn apply(&mut self, event: &Event, meta: &EventMeta) -> Result<(), String> {
        self.state.apply(event, meta)?;
        if let Some(session) = event.body.session() {
            self.first_seen.entry(session.to_owned()).or_insert(event.ts_ns);
        }
        match &event.body {
            EventBody::Crash { target, .. } => {
                let newest = self.crash_seq.entry(target.clone()).or_insert((event.ts_ns, meta.seq));
                if event.ts_ns >= newest.0 {
                    *newest = (event.ts_ns, meta.seq);
                }
            }
            EventBody::Capture { target, .. } => {
                let last = self.last_capture.entry(target.session.clone()).or_insert(event.ts_ns);
                *last = (*last).max(event.ts_ns);
            }
            EventBody::ToolCall { target: Some(target), phase, tool, .. } if phase == "failure" => {
                let q = self.failures.entry((target.clone(), tool.clone())).or_default();
                if q.len() == FAILURES_KEPT {
                    q.pop_front();
                }
                // In time order: a back-dated failure goes before newer ones.
                let at = q.partition_point(|(_, ts)| *ts <= event.ts_ns);
                q.insert(at, (meta.seq, event.ts_ns));
            }
            EventBody::Alert { rule, incident, target, .. } => {
                let key = if incident.starts_with("resume:") {
                    format!("resume:{}", target.as_ref().map(ToString::to_string).unwrap_or_default())
                } else {
                    target.as_ref().map_or_else(|| incident_session(incident), ToString::to_string)
                };
                self.note_fired(rule, incident, &key, event.ts_ns);
            }
            EventBody::AgentSession { target: Some(t), agent_session_id, phase, .. } if phase == "start" => {
                self.sessions.started(agent_session_id, t, event.ts_ns);
            }
            body @ EventBody::AgentUsage { target, agent_session_id, .. } => {
                let amount = orc_log_projections::usage::Amount::of(event.ts_ns, body).unwrap_or_default();
                if amount.cost_nanos > 0 {
                    let pane = match target {
                        Some(t) => Some(t.clone()),
                        None => agent_session_id.as_deref().and_then(|s| self.sessions.pane_of(s)).cloned(),
                    };
                    let key = pane.map_or_else(|| "-".to_owned(), |t| t.to_string());
                    let minute = event.ts_ns.div_euclid(MINUTE_NS);
                    let buckets = self.cost.entry(key).or_default();
                    *buckets.entry(minute).or_default() += amount.cost_nanos;
                    let keep = (crate::config::MAX_COST_WINDOW.as_nanos() as i64) / MINUTE_NS + 1;
                    let newest = buckets.keys().next_back().copied().unwrap_or(minute);
                    while buckets.first_key_value().is_some_and(|(m, _)| *m < newest - keep) {
                        buckets.pop_first();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Tracker {
    /// Records that `rule` fired for `incident` about `key` (target or
    /// session) at `ts_ns`, as an `alert` event in the log does. The server
    /// calls it when it dispatches a firing, before the `alert` is appended.
    pub fn note_fired(&mut self, rule: &str, incident: &str, key: &str, ts_ns: i64) {
        self.fired.insert((rule.to_owned(), incident.to_owned()));
        let last = self.last_alert.entry((rule.to_owned(), key.to_owned())).or_insert(ts_ns);
        *last = (*last).max(ts_ns);
    }

    /// The last seq folded in.
    pub fn seq(&self) -> u64 {
        self.state.seq()
    }

    /// The ts of the last event folded in (UTC ns).
    pub fn last_ts(&self) -> Option<i64> {
        self.state.last_ts()
    }
}

/// The session named in a `no_capture:SESSION:...` incident (the cool-down
/// key of an untargeted alert).
fn incident_session(incident: &str) -> String {
    let mut parts = incident.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some(_), Some(session)) => session.to_owned(),
        _ => String::new(),
    }
}

/// Values for a message template.
#[derive(Default)]
struct Vars {
    target: String,
    reason: String,
    since: String,
    tool: String,
    count: String,
    note: String,
    due: String,
    session: String,
    cost: String,
    resets_at: String,
}

fn render(template: &str, rule: &str, incident: &str, v: &Vars) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let value = match &after[..close] {
            "rule" => rule,
            "target" => &v.target,
            "reason" => &v.reason,
            "incident" => incident,
            "since" => &v.since,
            "tool" => &v.tool,
            "count" => &v.count,
            "note" => &v.note,
            "due" => &v.due,
            "session" => &v.session,
            "cost" => &v.cost,
            "resets_at" => &v.resets_at,
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
                rest = &after[close + 1..];
                continue;
            }
        };
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn default_template(c: &Condition) -> &'static str {
    match c {
        Condition::Crash => "orc-log alert {rule}: {target} crashed: {reason}",
        Condition::Idle { .. } => "orc-log alert {rule}: {target} idle since {since}",
        Condition::Overdue { .. } => {
            "orc-log alert {rule}: check-in for {target} overdue (due {due}): {note}"
        }
        Condition::ToolFailures { .. } => "orc-log alert {rule}: {target}: tool {tool} failed {count} times",
        Condition::NoCapture { .. } => {
            "orc-log alert {rule}: no capture from session {session} since {since}"
        }
        Condition::Cost { .. } => "orc-log alert {rule}: {target} cost ${cost} since {since}",
        Condition::RateLimited { .. } => {
            "orc-log alert {rule}: {target} hit its usage limit ({reason}); resets at {resets_at}"
        }
    }
}

/// The first minute of `buckets` (in the window since `from_min`) at which
/// the running sum passes `over`; the sum of the whole window.
fn crossing(buckets: &BTreeMap<i64, u64>, from_min: i64, over: u64) -> (Option<i64>, u64) {
    let (mut sum, mut crossed) = (0u64, None);
    for (m, c) in buckets.range(from_min..) {
        sum = sum.saturating_add(*c);
        if crossed.is_none() && sum > over {
            crossed = Some(*m);
        }
    }
    (crossed, sum)
}

/// Which rules fire at `now_ns` (UTC ns) on the facts in `tracker`, in rule
/// order then target order. Pure: no I/O, no clock. Skips incidents already
/// alerted and (rule, target) pairs alerted less than their cool-down ago;
/// a rule fires at most once per target in one call.
pub fn evaluate(rules: &Rules, tracker: &Tracker, now_ns: i64) -> Vec<Firing> {
    evaluate_all(rules, tracker, now_ns, None).firings
}

/// [`evaluate`], also saying which incidents a cool-down holds (and until
/// when) and leaving out those before `cutoff` (listed apart).
pub fn evaluate_all(rules: &Rules, tracker: &Tracker, now_ns: i64, cutoff: Option<Cutoff>) -> Evaluation {
    let mut out = Evaluation::default();
    if rules.rules.is_empty() {
        return out;
    }
    // Statuses from the state projection; `idle` is derived here per rule
    // (the view's own idle threshold is set out of reach).
    let view = tracker.state.view(now_ns, u64::MAX);
    let head = tracker.seq();
    for rule in &rules.rules {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        // `about`: the incident's event seq (crash, failure, schedule), none
        // for conditions of time alone (idle, no_capture).
        let mut fire = |key: &str,
                        incident: String,
                        target: Option<Target>,
                        session: &str,
                        (seq, about): (u64, Option<u64>),
                        began_ns: i64,
                        vars: Vars,
                        resume: Option<String>| {
            if tracker.fired.contains(&(rule.name.clone(), incident.clone())) {
                return;
            }
            let template = match &resume {
                Some(_) => {
                    "orc-log alert {rule}: {target}: its usage limit reset at {resets_at}; resuming it"
                }
                None => rule.action.message.as_deref().unwrap_or_else(|| default_template(&rule.condition)),
            };
            let firing = || Firing {
                resume: resume.clone(),
                rule: rule.name.clone(),
                message: render(template, &rule.name, &incident, &vars),
                incident: incident.clone(),
                target: target.clone(),
                session: session.to_owned(),
                seq,
                ts_ns: now_ns,
                began_ns,
            };
            if cutoff.is_some_and(|c| c.excludes(began_ns, about)) {
                out.before_cutoff.push(firing());
                return;
            }
            if let Some(last) = tracker.last_alert.get(&(rule.name.clone(), key.to_owned()))
                && now_ns.saturating_sub(*last) < rule.cooldown_ns
            {
                out.held.push((firing(), last.saturating_add(rule.cooldown_ns)));
                return;
            }
            if !keys.insert(key.to_owned()) {
                return;
            }
            out.firings.push(firing());
        };
        let matches = |t: &str| rule.target.as_ref().is_none_or(|p| p.matches(t));
        match &rule.condition {
            Condition::Crash => {
                for pane in view.sessions.iter().flat_map(|s| &s.panes) {
                    if pane.status != "crashed" || !matches(&pane.target) {
                        continue;
                    }
                    let Ok(target) = pane.target.parse::<Target>() else { continue };
                    let Some(&(crash_ns, seq)) = tracker.crash_seq.get(&target) else { continue };
                    let vars = Vars {
                        target: pane.target.clone(),
                        reason: pane.last_crash.as_ref().map(|c| c.reason.clone()).unwrap_or_default(),
                        since: pane.last_crash.as_ref().map(|c| c.ts.clone()).unwrap_or_default(),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let session = target.session.clone();
                    fire(
                        &pane.target,
                        format!("crash:{}:{seq}", pane.target),
                        Some(target),
                        &session,
                        (seq, Some(seq)),
                        crash_ns,
                        vars,
                        None,
                    );
                }
            }
            Condition::Idle { for_ns } => {
                for pane in view.sessions.iter().flat_map(|s| &s.panes) {
                    if !matches!(pane.status.as_str(), "idle" | "active") || !matches(&pane.target) {
                        continue;
                    }
                    let Ok(changed) = parse_rfc3339(&pane.last_change) else { continue };
                    if now_ns.saturating_sub(changed) < *for_ns {
                        continue;
                    }
                    let Ok(target) = pane.target.parse::<Target>() else { continue };
                    let vars = Vars {
                        target: pane.target.clone(),
                        since: pane.last_change.clone(),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let session = target.session.clone();
                    fire(
                        &pane.target,
                        format!("idle:{}:{changed}", pane.target),
                        Some(target),
                        &session,
                        (head, None),
                        changed.saturating_add(*for_ns),
                        vars,
                        None,
                    );
                }
            }
            Condition::Overdue { by_ns } => {
                for s in &view.schedules {
                    if s.status != "overdue" || !matches(&s.target) {
                        continue;
                    }
                    let Ok(due) = parse_rfc3339(&s.due) else { continue };
                    if now_ns.saturating_sub(due) < *by_ns {
                        continue;
                    }
                    let Ok(target) = s.target.parse::<Target>() else { continue };
                    let vars = Vars {
                        target: s.target.clone(),
                        note: s.note.clone(),
                        due: s.due.clone(),
                        since: s.due.clone(),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let session = target.session.clone();
                    let (incident, began_ns) = (format!("overdue:{}", s.seq), due.saturating_add(*by_ns));
                    fire(
                        &s.target,
                        incident,
                        Some(target),
                        &session,
                        (s.seq, Some(s.seq)),
                        began_ns,
                        vars,
                        None,
                    );
                }
            }
            Condition::ToolFailures { count, within_ns } => {
                for ((target, tool), q) in &tracker.failures {
                    let t = target.to_string();
                    if !matches(&t) {
                        continue;
                    }
                    let recent: Vec<&(u64, i64)> =
                        q.iter().filter(|(_, ts)| now_ns.saturating_sub(*ts) < *within_ns).collect();
                    if recent.len() < *count as usize {
                        continue;
                    }
                    let (Some(first), Some(last), Some(nth)) =
                        (recent.first(), recent.last(), recent.get((*count as usize).saturating_sub(1)))
                    else {
                        continue;
                    };
                    let newest_seq = recent.iter().map(|(seq, _)| *seq).max().unwrap_or(last.0);
                    let vars = Vars {
                        target: t.clone(),
                        tool: tool.clone(),
                        count: recent.len().to_string(),
                        since: format_rfc3339(first.1),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let incident = format!("tool_failures:{t}:{tool}:{}", first.0);
                    let about = (last.0, Some(newest_seq));
                    fire(&t, incident, Some(target.clone()), &target.session, about, nth.1, vars, None);
                }
            }
            Condition::NoCapture { session: wanted, for_ns } => {
                for s in view.sessions.iter().filter(|s| s.open) {
                    if wanted.as_ref().is_some_and(|p| !p.matches(&s.name)) || !matches(&s.name) {
                        continue;
                    }
                    let Some(since) = tracker
                        .last_capture
                        .get(&s.name)
                        .or_else(|| tracker.first_seen.get(&s.name))
                        .copied()
                    else {
                        continue;
                    };
                    if now_ns.saturating_sub(since) < *for_ns {
                        continue;
                    }
                    let vars = Vars {
                        session: s.name.clone(),
                        target: s.name.clone(),
                        since: format_rfc3339(since),
                        ..Vars::default()
                    };
                    let incident = format!("no_capture:{}:{since}", s.name);
                    let began = since.saturating_add(*for_ns);
                    fire(&s.name, incident, None, &s.name, (head, None), began, vars, None);
                }
            }
            Condition::Cost { over_nanos, within_ns, team } => {
                let from_min = now_ns.saturating_sub(*within_ns).div_euclid(MINUTE_NS) + 1;
                let dollars = |n: u64| format!("{:.2}", n as f64 / 1e9);
                if *team {
                    let mut all: BTreeMap<i64, u64> = BTreeMap::new();
                    for buckets in tracker.cost.values() {
                        for (m, c) in buckets.range(from_min..) {
                            *all.entry(*m).or_default() += c;
                        }
                    }
                    let (Some(minute), sum) = crossing(&all, from_min, *over_nanos) else { continue };
                    let since = format_rfc3339(from_min * MINUTE_NS);
                    let vars = Vars {
                        target: "team".into(),
                        cost: dollars(sum),
                        since,
                        session: "team".into(),
                        ..Vars::default()
                    };
                    let began = minute * MINUTE_NS;
                    fire(
                        "team",
                        format!("cost:team:{minute}"),
                        None,
                        "team",
                        (head, None),
                        began,
                        vars,
                        None,
                    );
                    continue;
                }
                for (key, buckets) in &tracker.cost {
                    if key == "-" || !matches(key) {
                        continue;
                    }
                    let Ok(target) = key.parse::<Target>() else { continue };
                    let (Some(minute), sum) = crossing(buckets, from_min, *over_nanos) else { continue };
                    let vars = Vars {
                        target: key.clone(),
                        cost: dollars(sum),
                        since: format_rfc3339(from_min * MINUTE_NS),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let session = target.session.clone();
                    let incident = format!("cost:{key}:{minute}");
                    fire(key, incident, Some(target), &session, (head, None), minute * MINUTE_NS, vars, None);
                }
            }
            Condition::RateLimited { grace_ns } => {
                for pane in view.sessions.iter().flat_map(|s| &s.panes) {
                    let Some(limit) = &pane.rate_limit else { continue };
                    if pane.status != "rate_limited" || !matches(&pane.target) {
                        continue;
                    }
                    let Ok(target) = pane.target.parse::<Target>() else { continue };
                    let since = parse_rfc3339(&limit.since).unwrap_or(now_ns);
                    let vars = || Vars {
                        target: pane.target.clone(),
                        reason: limit.banner.clone(),
                        since: limit.since.clone(),
                        resets_at: limit.resets_at.clone().unwrap_or_else(|| "an unknown time".into()),
                        session: target.session.clone(),
                        ..Vars::default()
                    };
                    let session = target.session.clone();
                    let about = (limit.seq, Some(limit.seq));
                    let a = &rule.action;
                    if a.tmux.is_some() || a.command.is_some() || a.webhook.is_some() {
                        let incident = format!("rate_limited:{}:{}", pane.target, limit.seq);
                        fire(
                            &pane.target,
                            incident,
                            Some(target.clone()),
                            &session,
                            about,
                            since,
                            vars(),
                            None,
                        );
                    }
                    // Resume once the limit reset (plus grace), while the pane still shows it.
                    if let (Some(text), Some(resets)) =
                        (&a.resume, limit.resets_at.as_deref().and_then(|r| parse_rfc3339(r).ok()))
                    {
                        let due = resets.saturating_add(*grace_ns);
                        if now_ns >= due {
                            let incident = format!("resume:{}:{}", pane.target, limit.seq);
                            let key = format!("resume:{}", pane.target);
                            fire(
                                &key,
                                incident,
                                Some(target.clone()),
                                &session,
                                about,
                                due,
                                vars(),
                                Some(text.clone()),
                            );
                        }
                    }
                }
            }
        }
    }
    out
}

/// Whether `rule` would act on `target` (its glob), for callers that list rules.
pub fn applies(rule: &Rule, target: &str) -> bool {
    rule.target.as_ref().is_none_or(|p| p.matches(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_800_000_000 * S;

    fn rules(text: &str) -> Rules {
        Rules::parse(Path::new("t.toml"), text).unwrap()
    }

    fn tracker(bodies: Vec<(i64, EventBody)>) -> Tracker {
        let mut t = Tracker::default();
        for (i, (ts, body)) in bodies.into_iter().enumerate() {
            let e = Event { ts_ns: ts, id: None, body };
            let meta = EventMeta::of(i as u64 + 1, &e);
            t.apply(&e, &meta).unwrap();
        }
        t
    }

    fn tgt(s: &str) -> Target {
        s.parse().unwrap()
    }

    fn capture(t: &str, content: &str) -> EventBody {
        EventBody::Capture {
            target: tgt(t),
            content: content.into(),
            width: None,
            height: None,
            cursor_x: None,
            cursor_y: None,
        }
    }

    fn crash(t: &str) -> EventBody {
        EventBody::Crash { target: tgt(t), reason: "panicked".into(), excerpt: None, detector: None }
    }

    fn alert(rule: &str, incident: &str, t: &str) -> EventBody {
        EventBody::Alert {
            rule: rule.into(),
            incident: incident.into(),
            target: Some(tgt(t)),
            message: String::new(),
            actions: None,
        }
    }

    fn failure(t: &str, tool: &str) -> EventBody {
        EventBody::ToolCall {
            target: Some(tgt(t)),
            agent_session_id: "s".into(),
            phase: "failure".into(),
            tool: tool.into(),
            tool_use_id: None,
            input: None,
            response: None,
            raw: None,
        }
    }

    const CRASH_RULE: &str = "[[rule]]\nname = \"crashed\"\nwhen = \"crash\"\ntarget = \"team:*\"\n[rule.action]\ntmux = \"team:0.0\"\nmessage = \"{target} crashed: {reason}\"\n";

    #[test]
    fn the_tracker_serializes_as_every_projection_does() {
        let r = rules(CRASH_RULE);
        let mut t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, failure("team:1.0", "Bash")),
            (T0 + S, alert("crashed", "crash:team:1.0:9", "team:1.0")),
            (T0 + 2 * S, crash("team:1.0")),
        ]);
        t.note_fired("other", "x", "team", T0);
        let json = serde_json::to_string(&t).unwrap();
        let back: Tracker = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(evaluate(&r, &back, T0 + 3 * S), evaluate(&r, &t, T0 + 3 * S));
    }

    #[test]
    fn crash_fires_once_per_incident_and_respects_target_glob() {
        let r = rules(CRASH_RULE);
        let t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, crash("team:1.0")),
            (T0 + S, crash("other:0.0")),
        ]);
        let f = evaluate(&r, &t, T0 + 2 * S);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].incident, "crash:team:1.0:2");
        assert_eq!(f[0].message, "team:1.0 crashed: panicked");
        assert_eq!(f[0].seq, 2);
        // Once the alert is in the log, the same incident is quiet.
        let t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, crash("team:1.0")),
            (T0 + 2 * S, alert("crashed", "crash:team:1.0:2", "team:1.0")),
        ]);
        assert!(evaluate(&r, &t, T0 + 3 * S).is_empty());
    }

    #[test]
    fn recovered_crash_does_not_fire_and_cooldown_holds_a_new_crash() {
        let r = rules(CRASH_RULE);
        let t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, crash("team:1.0")),
            (T0 + 2 * S, capture("team:1.0", "b")),
        ]);
        assert!(evaluate(&r, &t, T0 + 3 * S).is_empty(), "content changed after the crash");
        let t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, crash("team:1.0")),
            (T0 + 2 * S, alert("crashed", "crash:team:1.0:2", "team:1.0")),
            (T0 + 3 * S, capture("team:1.0", "b")),
            (T0 + 4 * S, crash("team:1.0")),
        ]);
        assert!(evaluate(&r, &t, T0 + 5 * S).is_empty(), "within the 10m cool-down");
        let f = evaluate(&r, &t, T0 + 2 * S + 600 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].incident, "crash:team:1.0:5");
    }

    #[test]
    fn idle_fires_after_its_threshold_with_the_change_time_as_incident() {
        let r = rules(
            "[[rule]]\nname = \"idle\"\nwhen = \"idle\"\nfor = \"10m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let t = tracker(vec![(T0, capture("a:0.0", "x")), (T0 + 60 * S, capture("a:0.0", "y"))]);
        assert!(evaluate(&r, &t, T0 + 60 * S + 599 * S).is_empty());
        let f = evaluate(&r, &t, T0 + 60 * S + 600 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].incident, format!("idle:a:0.0:{}", T0 + 60 * S));
        assert!(f[0].message.contains("a:0.0 idle since"), "{}", f[0].message);
        // A crashed pane is not "idle".
        let t = tracker(vec![(T0, capture("a:0.0", "x")), (T0, crash("a:0.0"))]);
        assert!(evaluate(&r, &t, T0 + 3600 * S).is_empty());
    }

    #[test]
    fn overdue_fires_per_schedule_after_by() {
        let r = rules(
            "[[rule]]\nname = \"late\"\nwhen = \"overdue\"\nby = \"5m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let sched =
            |note: &str| EventBody::Schedule { target: tgt("a:1.0"), note: note.into(), due_ns: T0 + 60 * S };
        let t = tracker(vec![(T0, sched("one")), (T0, sched("two"))]);
        assert!(evaluate(&r, &t, T0 + 60 * S + 299 * S).is_empty());
        let f = evaluate(&r, &t, T0 + 60 * S + 300 * S);
        // One per (rule, target) per cool-down: the second check-in waits for it.
        let incidents: Vec<_> = f.iter().map(|f| f.incident.as_str()).collect();
        assert_eq!(incidents, ["overdue:1"]);
        let mut t2 = t.clone();
        t2.note_fired("late", "overdue:1", "a:1.0", T0 + 360 * S);
        assert!(evaluate(&r, &t2, T0 + 400 * S).is_empty());
        let f = evaluate(&r, &t2, T0 + 960 * S);
        let incidents: Vec<_> = f.iter().map(|f| f.incident.as_str()).collect();
        assert_eq!(incidents, ["overdue:2"]);
        let fired = EventBody::ScheduleFired { target: tgt("a:1.0"), note: None };
        let t = tracker(vec![(T0, sched("one")), (T0 + 61 * S, fired)]);
        assert!(evaluate(&r, &t, T0 + 3600 * S).is_empty(), "fired schedules are not overdue");
    }

    #[test]
    fn tool_failures_count_within_the_window_per_tool() {
        let r = rules(
            "[[rule]]\nname = \"tools\"\nwhen = \"tool_failures\"\ncount = 3\nwithin = \"10m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let t = tracker(vec![
            (T0, failure("a:0.0", "Bash")),
            (T0 + S, failure("a:0.0", "Bash")),
            (T0 + 2 * S, failure("a:0.0", "Edit")),
            (T0 + 700 * S, failure("a:0.0", "Bash")),
        ]);
        assert!(evaluate(&r, &t, T0 + 701 * S).is_empty(), "the first two fell out of the window");
        let t = tracker(vec![
            (T0, failure("a:0.0", "Bash")),
            (T0 + S, failure("a:0.0", "Bash")),
            (T0 + 2 * S, failure("a:0.0", "Bash")),
        ]);
        let f = evaluate(&r, &t, T0 + 3 * S);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].incident, "tool_failures:a:0.0:Bash:1");
        assert_eq!(f[0].seq, 3);
        assert!(f[0].message.contains("Bash failed 3 times"), "{}", f[0].message);
    }

    #[test]
    fn no_capture_fires_for_open_sessions_only() {
        let r = rules(
            "[[rule]]\nname = \"quiet\"\nwhen = \"no_capture\"\nsession = \"team\"\nfor = \"5m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let t = tracker(vec![(T0, capture("team:0.0", "x")), (T0, capture("other:0.0", "x"))]);
        assert!(evaluate(&r, &t, T0 + 299 * S).is_empty());
        let f = evaluate(&r, &t, T0 + 300 * S);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].incident, format!("no_capture:team:{T0}"));
        assert_eq!(f[0].target, None);
        let t = tracker(vec![
            (T0, capture("team:0.0", "x")),
            (T0, EventBody::SessionClosed { session: "team".into() }),
        ]);
        assert!(evaluate(&r, &t, T0 + 3600 * S).is_empty());
        // An alert for it (untargeted) counts for incident and cool-down.
        let mut t = tracker(vec![(T0, capture("team:0.0", "x"))]);
        t.note_fired("quiet", &format!("no_capture:team:{T0}"), "team", T0 + 300 * S);
        assert!(evaluate(&r, &t, T0 + 400 * S).is_empty());
    }

    #[test]
    fn a_cooldown_holds_an_incident_and_says_until_when() {
        let r = rules(CRASH_RULE);
        let t = tracker(vec![
            (T0, capture("team:1.0", "a")),
            (T0 + S, crash("team:1.0")),
            (T0 + 2 * S, alert("crashed", "crash:team:1.0:2", "team:1.0")),
            (T0 + 3 * S, capture("team:1.0", "b")),
            (T0 + 4 * S, crash("team:1.0")),
        ]);
        let e = evaluate_all(&r, &t, T0 + 5 * S, None);
        assert!(e.firings.is_empty());
        assert_eq!(e.held.len(), 1, "{e:?}");
        assert_eq!(e.held[0].0.incident, "crash:team:1.0:5");
        assert_eq!(e.held[0].1, T0 + 2 * S + 600 * S, "the alert's time plus the 10m cool-down");
        assert_eq!(e.held[0].0.began_ns, T0 + 4 * S);
    }

    #[test]
    fn a_cutoff_leaves_out_incidents_that_began_before_it() {
        let r = rules(CRASH_RULE);
        let t = tracker(vec![(T0, capture("team:1.0", "a")), (T0 + S, crash("team:1.0"))]);
        let cut = Cutoff { ts_ns: T0 + 10 * S, seq: 2 };
        let e = evaluate_all(&r, &t, T0 + 11 * S, Some(cut));
        assert!(e.firings.is_empty(), "{e:?}");
        assert_eq!(e.before_cutoff.len(), 1);
        assert_eq!(e.before_cutoff[0].began_ns, T0 + S);
        // The same crash appended after the cut-off (a late writer) is new.
        let e = evaluate_all(&r, &t, T0 + 11 * S, Some(Cutoff { seq: 1, ..cut }));
        assert_eq!(e.firings.len(), 1);
        // Idle that began before the cut-off: out; idle reached after it: fires.
        let r = rules(
            "[[rule]]\nname = \"idle\"\nwhen = \"idle\"\nfor = \"10m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let t = tracker(vec![(T0, capture("a:0.0", "x")), (T0 + 700 * S, capture("b:0.0", "x"))]);
        let cut = Cutoff { ts_ns: T0 + 1000 * S, seq: 2 };
        let e = evaluate_all(&r, &t, T0 + 1000 * S, Some(cut));
        assert!(e.firings.is_empty(), "{e:?}");
        assert_eq!(e.before_cutoff.len(), 1, "a:0.0 idle since T0 + 600 s");
        let e = evaluate_all(&r, &t, T0 + 1300 * S, Some(cut));
        let fired: Vec<_> = e.firings.iter().map(|f| f.key()).collect();
        assert_eq!(fired, ["b:0.0"], "b:0.0 became idle at T0 + 1300 s, after the cut-off");
    }

    #[test]
    fn back_dated_events_do_not_make_a_pane_idle_or_re_point_its_crash() {
        let r = rules(
            "[[rule]]\nname = \"idle\"\nwhen = \"idle\"\nfor = \"10m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let now = T0 + 3600 * S;
        let t = tracker(vec![
            (now - 60 * S, capture("a:0.0", "recent")),
            (T0, capture("a:0.0", "an old screen")),
            (T0 + S, failure("a:0.0", "Bash")),
        ]);
        assert!(evaluate(&r, &t, now).is_empty(), "the pane changed a minute ago");
        let r = rules(CRASH_RULE);
        let t = tracker(vec![
            (now - 60 * S, capture("team:1.0", "a")),
            (now - 30 * S, crash("team:1.0")),
            (T0, crash("team:1.0")),
        ]);
        let f = evaluate(&r, &t, now);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].incident, "crash:team:1.0:2", "the newest crash, not the back-dated one");
    }

    #[test]
    fn templates_render_known_placeholders() {
        let v = Vars { target: "a:0.0".into(), reason: "boom".into(), ..Vars::default() };
        assert_eq!(render("{rule} {target}: {reason} [{incident}]", "r", "i", &v), "r a:0.0: boom [i]");
        assert_eq!(render("no braces", "r", "i", &v), "no braces");
    }

    /// The cost of evaluating rules after each event: 160 panes (32
    /// sessions x 5), one rule of each condition, 2,000 events (captures,
    /// tool failures, a crash now and then), fold + evaluate per event.
    /// Run: `cargo nextest run -p orc-log-alerts --run-ignored only evaluation_cost`
    /// (prints microseconds per event and the share of a core at 50 ev/s).
    #[test]
    #[ignore = "a measurement, not a check; see BENCHMARKS.md"]
    fn evaluation_cost_per_event_with_160_panes() {
        let r = rules(
            "[[rule]]\nname = \"c\"\nwhen = \"crash\"\n[rule.action]\ncommand = \"true\"\n\
             [[rule]]\nname = \"i\"\nwhen = \"idle\"\nfor = \"10m\"\n[rule.action]\ncommand = \"true\"\n\
             [[rule]]\nname = \"o\"\nwhen = \"overdue\"\nby = \"5m\"\n[rule.action]\ncommand = \"true\"\n\
             [[rule]]\nname = \"t\"\nwhen = \"tool_failures\"\ncount = 3\nwithin = \"10m\"\n[rule.action]\ncommand = \"true\"\n\
             [[rule]]\nname = \"n\"\nwhen = \"no_capture\"\nfor = \"5m\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let panes: Vec<String> = (0..32).flat_map(|s| (0..5).map(move |p| format!("s{s}:{p}.0"))).collect();
        let mut events = Vec::new();
        for (i, p) in panes.iter().enumerate() {
            events.push((T0 + i as i64, capture(p, "start")));
            events.push((
                T0 + i as i64,
                EventBody::Schedule { target: tgt(p), note: "n".into(), due_ns: T0 + 3600 * S },
            ));
        }
        let mut t = tracker(events);
        let n = 2_000u64;
        let start = std::time::Instant::now();
        let mut fired = 0;
        for i in 0..n {
            let p = &panes[(i as usize * 7) % panes.len()];
            let ts = T0 + 1000 * S + i as i64 * 20_000_000;
            let body = match i % 10 {
                0 => failure(p, "Bash"),
                9 if i % 100 == 99 => crash(p),
                _ => capture(p, &format!("line {i}")),
            };
            let e = Event { ts_ns: ts, id: None, body };
            let seq = t.seq() + 1;
            let meta = EventMeta::of(seq, &e);
            t.apply(&e, &meta).unwrap();
            fired += evaluate(&r, &t, ts).len();
        }
        let per = start.elapsed() / n as u32;
        let share = per.as_secs_f64() * 50.0 * 100.0;
        eprintln!(
            "alert evaluation: {per:?} per event (fold + evaluate, 160 panes, 5 rules); {share:.2}% of a core at 50 ev/s; {fired} firings"
        );
        assert!(fired > 0, "the crashes and failures fire");
    }

    fn usage(t: Option<&str>, session: &str, dollars: f64) -> EventBody {
        EventBody::AgentUsage {
            target: t.map(tgt),
            agent: "claude_code".into(),
            agent_session_id: Some(session.into()),
            source: "otel".into(),
            event: "claude_code.api_request".into(),
            model: Some("claude-opus-5".into()),
            prompt_id: None,
            input_tokens: 1,
            output_tokens: 1,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
            cost_usd: orc_log_schemas::Usd::from_dollars(dollars),
            duration_ns: None,
            raw: None,
        }
    }

    fn session_start(t: &str, id: &str) -> EventBody {
        EventBody::AgentSession {
            target: Some(tgt(t)),
            agent_session_id: id.into(),
            phase: "start".into(),
            reason: None,
            cwd: None,
            transcript_path: None,
            raw: None,
        }
    }

    /// `cost` fires for the pane whose cost in the window passes `over`
    /// (usage joined by session too), and for the team on the sum.
    #[test]
    fn cost_rules_fire_per_agent_and_for_the_team() {
        let r = rules(
            "[[rule]]\nname = \"agent\"\nwhen = \"cost\"\nover = 1.0\nwithin = \"1h\"\n[rule.action]\ntmux = \"team:0.0\"\n\
             [[rule]]\nname = \"team\"\nwhen = \"cost\"\nover = 1.5\nwithin = \"1h\"\nper = \"team\"\n[rule.action]\ncommand = \"true\"\n",
        );
        let t = tracker(vec![
            (T0, session_start("team:1.0", "s1")),
            (T0 + S, usage(None, "s1", 0.6)),
            (T0 + 120 * S, usage(Some("team:1.0"), "s1", 0.6)),
            (T0 + 180 * S, usage(Some("team:2.0"), "s2", 0.5)),
            // Outside the window by the time of the evaluation below.
            (T0 - 7200 * S, usage(Some("team:2.0"), "s2", 5.0)),
        ]);
        let f = evaluate(&r, &t, T0 + 200 * S);
        let got: Vec<(&str, &str, Option<String>)> = f
            .iter()
            .map(|x| (x.rule.as_str(), x.incident.as_str(), x.target.as_ref().map(ToString::to_string)))
            .collect();
        let minute = |ts: i64| ts.div_euclid(MINUTE_NS);
        assert_eq!(
            got,
            [
                (
                    "agent",
                    format!("cost:team:1.0:{}", minute(T0 + 120 * S)).as_str(),
                    Some("team:1.0".to_owned())
                ),
                ("team", format!("cost:team:{}", minute(T0 + 180 * S)).as_str(), None),
            ]
        );
        assert!(f[0].message.contains("team:1.0 cost $1.20"), "{}", f[0].message);
        // Much later the window holds nothing: no firing.
        assert!(evaluate(&r, &t, T0 + 3 * 3600 * S).is_empty());
        assert!(Rules::parse(Path::new("t.toml"), "[[rule]]\nname = \"x\"\nwhen = \"cost\"\nover = -1.0\nwithin = \"1h\"\n[rule.action]\ncommand = \"true\"\n").is_err());
        assert!(Rules::parse(Path::new("t.toml"), "[[rule]]\nname = \"x\"\nwhen = \"cost\"\nover = 1.0\nwithin = \"1h\"\nper = \"pane\"\n[rule.action]\ncommand = \"true\"\n").is_err());
    }

    fn limited(t: &str, resets: &str) -> EventBody {
        EventBody::AgentHook {
            target: Some(tgt(t)),
            agent_session_id: None,
            event: "RateLimited".into(),
            raw: Some(format!(
                r#"{{"banner":"You've hit your limit · resets 3pm (UTC)","resets_at":"{resets}"}}"#
            )),
        }
    }

    /// A `rate_limited` rule alerts when the limit is seen and resumes once
    /// the reset time plus grace passed, only while the pane still shows it.
    #[test]
    fn rate_limited_alerts_then_resumes_once_after_the_reset() {
        let r = rules(
            "[[rule]]\nname = \"limit\"\nwhen = \"rate_limited\"\ngrace = \"30s\"\n[rule.action]\nwebhook = \"http://127.0.0.1:1/x\"\nresume = true\n",
        );
        let reset = T0 + 600 * S;
        let screen = "> go\nYou've hit your limit · resets 3pm (UTC)\n";
        let mut t = tracker(vec![
            (T0, capture("team:1.0", screen)),
            (T0 + S, limited("team:1.0", &format_rfc3339(reset))),
        ]);
        let now = evaluate(&r, &t, T0 + 2 * S);
        assert_eq!(now.len(), 1);
        assert_eq!((now[0].incident.as_str(), now[0].resume.as_deref()), ("rate_limited:team:1.0:2", None));
        t.note_fired(&now[0].rule, &now[0].incident, &now[0].key(), now[0].ts_ns);
        assert!(evaluate(&r, &t, reset + 29 * S).is_empty(), "not before the reset plus grace");
        let resume = evaluate(&r, &t, reset + 30 * S);
        assert_eq!(resume.len(), 1);
        assert_eq!(
            (resume[0].incident.as_str(), resume[0].resume.as_deref(), resume[0].key().as_str()),
            ("resume:team:1.0:2", Some("continue"), "resume:team:1.0")
        );
        // Once fired (the alert in the log), never again.
        let mut again = t.clone();
        again.note_fired(&resume[0].rule, &resume[0].incident, &resume[0].key(), resume[0].ts_ns);
        assert!(evaluate(&r, &again, reset + 3600 * S).is_empty());
        // A pane whose banner left the screen is no longer limited: no resume.
        let gone = tracker(vec![
            (T0, capture("team:1.0", screen)),
            (T0 + S, limited("team:1.0", &format_rfc3339(reset))),
            (T0 + 5 * S, capture("team:1.0", "> working on it")),
        ]);
        assert!(evaluate(&r, &gone, reset + 60 * S).is_empty());
        assert!(
            Rules::parse(
                Path::new("t.toml"),
                "[[rule]]\nname = \"x\"\nwhen = \"crash\"\n[rule.action]\nresume = true\n"
            )
            .is_err()
        );
    }
}
