//! The tools: their parameters (with JSON Schemas for `tools/list`) and
//! their blocking implementations against a [`SharedLog`].
//!
//! Every tool reads; none appends an event. `team_state` may store the
//! state projection's checkpoints, as `orc-log state` does. Outputs are
//! bounded ([`crate::output`]): row limits per tool, and at most
//! [`MAX_DATA_BYTES`] of data per result.

use crate::output::{Bounded, MAX_DATA_BYTES, ToolOutput, cut_at};
use orc_log_engine::{Filter, SharedLog, Snapshot};
use orc_log_projections::cast::{capture_filter, frame_text};
use orc_log_projections::search::{SearchError, SearchOptions, search};
use orc_log_projections::sql::{self, OutputFormat};
use orc_log_projections::state::{DEFAULT_IDLE_SECS, State};
use orc_log_projections::{catch_up, travel};
use orc_log_schemas::{Kind, Record, Target, format_rfc3339, now_ns, parse_time_spec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;

/// Default and largest `limit` of `tail`.
pub const TAIL_LIMIT: (u32, u32) = (50, 500);
/// Default and largest `limit` of `search`.
pub const SEARCH_LIMIT: (u32, u32) = (20, 200);
/// Default and largest `seconds` of `pane_before`.
pub const BEFORE_SECONDS: (u32, u32) = (120, 3600);
/// Most events `pane_before` lists (the latest ones of its window).
pub const BEFORE_EVENTS: usize = 100;
/// Default and largest `max_rows` of `query`.
pub const QUERY_ROWS: (u32, u32) = (100, 1000);
/// How long a `query` may run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Memory a `query`'s operators may use, in bytes.
pub const QUERY_MEMORY_BYTES: usize = 256 << 20;
/// Longest string field of an event shown by `tail` and `pane_before`, in
/// bytes; a longer one keeps its start (a capture: its end) and says how
/// much was cut.
pub const FIELD_BYTES: usize = 2000;

const TIME_FORMS: &str =
    "RFC 3339 (2026-12-01T10:00:00Z), a duration before now with a unit (90s, 10m, 2h, 1d), or now";

/// `team_state`: the state projection, now or at a moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamStateParams {
    /// The moment to show the team at: RFC 3339 (2026-12-01T10:00:00Z), a
    /// duration before now (10m, 2h), or "now". Omit for now.
    #[serde(default)]
    pub at: Option<String>,
}

/// `tail`: the latest events, optionally of one pane, some kinds, since a time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailParams {
    /// Only events about this pane, `session:window.pane` (e.g. team:1.0),
    /// or a whole session by name; messages count for their recipient.
    #[serde(default)]
    pub target: Option<String>,
    /// Only these event kinds, e.g. ["message", "crash", "tool_call"]. Kinds:
    /// capture, message, schedule, schedule_fired, crash, marker,
    /// session_opened, session_closed, window_opened, window_renamed,
    /// window_closed, agent_registered, agent_session, prompt, tool_call,
    /// notification, agent_stop, agent_hook, alert.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Only events at or after this time: RFC 3339, a duration before now (10m), or "now".
    #[serde(default)]
    pub since: Option<String>,
    /// How many of the latest matching events to show (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `search`: full-text search over what panes showed and messages said.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The literal text to find (1 to 1000 bytes; not a regular expression).
    pub pattern: String,
    /// Only this pane, `session:window.pane` (its captures and the messages sent to it).
    #[serde(default)]
    pub target: Option<String>,
    /// Only events at or after this time: RFC 3339, a duration before now (10m), or "now".
    #[serde(default)]
    pub since: Option<String>,
    /// Only events at or before this time: RFC 3339, a duration before now (10m), or "now".
    #[serde(default)]
    pub until: Option<String>,
    /// Match regardless of case (default false).
    #[serde(default)]
    pub ignore_case: Option<bool>,
    /// Most hits to show, oldest first (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `pane_before`: a pane's last screen before a moment and what happened
/// to it just before.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaneBeforeParams {
    /// The pane, `session:window.pane` (e.g. team:1.0).
    pub target: String,
    /// The moment as an event's seq (e.g. a crash's or a search hit's):
    /// events up to and including it. Give seq or time, not both.
    #[serde(default)]
    pub seq: Option<u64>,
    /// The moment as a time: RFC 3339, a duration before now (10m), or "now".
    #[serde(default)]
    pub time: Option<String>,
    /// How far back from the moment to list messages, tool calls and other
    /// events of the pane, in seconds (default 120, at most 3600).
    #[serde(default)]
    pub seconds: Option<u32>,
}

/// `capture_at`: a pane's screen at a time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureAtParams {
    /// The pane, `session:window.pane` (e.g. team:1.0).
    pub target: String,
    /// The time: RFC 3339, a duration before now (10m), or "now". The screen
    /// is the pane's last capture at or before it.
    pub time: String,
}

/// `query`: one read-only SQL query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// One SELECT (DataFusion SQL). Tables: events, captures, messages,
    /// schedules, crashes, markers, lifecycle, agent_sessions, prompts,
    /// tool_calls, notifications, alerts; `ts` is a UTC timestamp. Only
    /// queries run: DDL, DML, COPY and SET are refused.
    pub sql: String,
    /// Most rows to return (default 100, at most 1000).
    #[serde(default)]
    pub max_rows: Option<u32>,
}

/// One tool call, as it travels to the process that holds the database
/// (`orc-log mcp` asks a running `orc-log serve` with it, as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "tool", content = "arguments", rename_all = "snake_case")]
pub enum ToolCall {
    /// `team_state`.
    TeamState(TeamStateParams),
    /// `tail`.
    Tail(TailParams),
    /// `search`.
    Search(SearchParams),
    /// `pane_before`.
    PaneBefore(PaneBeforeParams),
    /// `capture_at`.
    CaptureAt(CaptureAtParams),
    /// `query`.
    Query(QueryParams),
}

/// A failed call's message (becomes an `isError` result).
type Fail = String;

/// Runs `call` against `log` (blocking: folds, scans, SQL).
pub fn run(log: &SharedLog, call: ToolCall) -> ToolOutput {
    let result = match call {
        ToolCall::TeamState(p) => team_state(log, p),
        ToolCall::Tail(p) => tail(&log.snapshot(), p),
        ToolCall::Search(p) => search_tool(&log.snapshot(), p),
        ToolCall::PaneBefore(p) => pane_before(&log.snapshot(), p),
        ToolCall::CaptureAt(p) => capture_at(&log.snapshot(), p),
        ToolCall::Query(p) => query(&log.snapshot(), p),
    };
    result.unwrap_or_else(ToolOutput::error)
}

fn time(field: &str, text: &str) -> Result<i64, Fail> {
    parse_time_spec(text, now_ns()).map_err(|e| format!("{field} {text:?}: {e}; use {TIME_FORMS}"))
}

fn target(text: &str) -> Result<Target, Fail> {
    text.trim()
        .parse()
        .map_err(|e| format!("target {text:?}: {e}; a pane is session:window.pane, e.g. team:1.0"))
}

fn limit(given: Option<u32>, (default, max): (u32, u32), field: &str) -> Result<usize, Fail> {
    match given.unwrap_or(default) {
        0 => Err(format!("{field} must be at least 1")),
        n if n > max => Err(format!("{field} {n} is more than the most allowed, {max}")),
        n => Ok(n as usize),
    }
}

fn log_err(e: impl std::fmt::Display) -> Fail {
    format!("cannot read the log: {e}")
}

fn team_state(log: &SharedLog, p: TeamStateParams) -> Result<ToolOutput, Fail> {
    let at = p.at.as_deref().map(|t| time("at", t)).transpose()?;
    let (state, as_of) = match at {
        None => (catch_up::<State>(log).map_err(log_err)?.projection, now_ns()),
        Some(t) => {
            let seq = log.snapshot().seq_at_time(t).map_err(log_err)?;
            (travel::<State>(log, seq).map_err(log_err)?.projection, t)
        }
    };
    let view = state.view(as_of, DEFAULT_IDLE_SECS);
    let json = serde_json::to_string(&view).map_err(|e| e.to_string())?;
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "Team state at seq {} as of {}: {} sessions, {} schedules kept, as `orc-log state --format json` gives it.",
        view.seq,
        format_rfc3339(as_of),
        view.sessions.len(),
        view.schedules.len()
    ));
    out.text(&json);
    Ok(out.finish("ask for one session with tail {target} or query the sessions you need with SQL"))
}

/// `record` as one NDJSON line without `raw` (the hook payload, which
/// repeats the other fields), its long strings cut to [`FIELD_BYTES`].
fn event_line(record: &Record) -> String {
    let mut v: Value = serde_json::from_str(&orc_log_schemas::to_json_line(record)).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("raw");
        for (key, value) in map.iter_mut() {
            let Some(s) = value.as_str() else { continue };
            if s.len() <= FIELD_BYTES {
                continue;
            }
            let cut = s.len() - FIELD_BYTES;
            *value = Value::from(if key == "content" {
                // A screen's news is at its bottom.
                let mut start = cut;
                while !s.is_char_boundary(start) {
                    start += 1;
                }
                format!("[{start} bytes cut]…{}", &s[start..])
            } else {
                format!("{}…[{cut} bytes cut]", cut_at(s, FIELD_BYTES))
            });
        }
    }
    v.to_string()
}

fn tail(snap: &Snapshot, p: TailParams) -> Result<ToolOutput, Fail> {
    let n = limit(p.limit, TAIL_LIMIT, "limit")?;
    let kinds = p
        .kinds
        .unwrap_or_default()
        .iter()
        .map(|k| {
            Kind::from_name(k.trim()).ok_or_else(|| {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind {k:?}; kinds: {}", all.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scope = match p.target.as_deref().map(str::trim) {
        Some(t) if t.contains(':') => Some(target(t)?.to_string()),
        Some(session) if !session.is_empty() => Some(session.to_owned()),
        _ => None,
    };
    let since = p.since.as_deref().map(|t| time("since", t)).transpose()?;
    let head = snap.head().seq;
    let filter = Filter { from_seq: 1, until_seq: Some(head), kinds, scope, since_ns: since, until_ns: None };
    let mut ring: VecDeque<Record> = VecDeque::with_capacity(n);
    let mut matched = 0u64;
    snap.for_each_record(&filter, |r| {
        matched += 1;
        if ring.len() == n {
            ring.pop_front();
        }
        ring.push_back(r);
        Ok::<_, orc_log_engine::Error>(true)
    })
    .map_err(log_err)?;
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "The last {} of {matched} matching events (log head seq {head}), oldest first, one NDJSON event (format v1, `raw` left out) per line.",
        ring.len()
    ));
    let mut shown = 0usize;
    for r in &ring {
        if !out.line(&event_line(r)) {
            break;
        }
        shown += 1;
    }
    if matched > ring.len() as u64 {
        out.note(format!(
            "{} older matching events are left out; narrow with since, kinds or target, or raise limit (at most {}).",
            matched - ring.len() as u64,
            TAIL_LIMIT.1
        ));
    }
    let cut = format!("{shown} of the {} events fit; ask for fewer (limit) or narrower kinds", ring.len());
    Ok(out.finish(&cut))
}

fn search_tool(snap: &Snapshot, p: SearchParams) -> Result<ToolOutput, Fail> {
    let n = limit(p.limit, SEARCH_LIMIT, "limit")?;
    let opts = SearchOptions {
        pattern: p.pattern.clone(),
        ignore_case: p.ignore_case.unwrap_or(false),
        target: p.target.as_deref().map(target).transpose()?,
        since_ns: p.since.as_deref().map(|t| time("since", t)).transpose()?,
        until_ns: p.until.as_deref().map(|t| time("until", t)).transpose()?,
    };
    let mut hits = Vec::new();
    let mut more = false;
    search(snap, &opts, |hit| {
        if hits.len() == n {
            more = true;
            return false;
        }
        hits.push(hit);
        true
    })
    .map_err(|e| match e {
        SearchError::Pattern(len) => format!("the pattern must be 1 to 1000 bytes long (it is {len})"),
        e => log_err(e),
    })?;
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "{} hit{} for {:?}{}, oldest first, one JSON object per line (seq, ts, kind, target, snippet, replay_since). A capture is a hit where the text appeared on the pane's screen. pane_before with a hit's target and seq shows the screen and what led to it.",
        hits.len(),
        if hits.len() == 1 { "" } else { "s" },
        p.pattern,
        if more { " (more exist)" } else { "" }
    ));
    let mut shown = 0usize;
    for hit in &hits {
        if !out.line(&hit.to_json().to_string()) {
            break;
        }
        shown += 1;
    }
    if more {
        out.note(format!(
            "More hits exist after these {n}; narrow with target, since or until, or raise limit (at most {}).",
            SEARCH_LIMIT.1
        ));
    }
    Ok(out.finish(&format!("{shown} of {} hits fit; narrow the search", hits.len())))
}

/// The pane's last capture among events `1..=until_seq` taken at or before
/// `at_ns`: looked for in the last day first, then in the whole log.
fn last_capture(
    snap: &Snapshot,
    pane: &Target,
    until_seq: u64,
    at_ns: i64,
) -> Result<Option<orc_log_projections::cast::Capture>, Fail> {
    const DAY_NS: i64 = 86_400 * 1_000_000_000;
    for since in [Some(at_ns.saturating_sub(DAY_NS)), None] {
        let filter = capture_filter(pane, since, Some(at_ns), until_seq);
        let mut last = None;
        orc_log_projections::cast::for_each_capture(snap, &filter, |c| {
            last = Some(c);
            Ok::<_, orc_log_engine::Error>(true)
        })
        .map_err(log_err)?;
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

/// The moment of `pane_before` and `capture_at`: the last seq of the log
/// prefix and its time.
fn moment(snap: &Snapshot, seq: Option<u64>, at: Option<&str>) -> Result<(u64, i64), Fail> {
    match (seq, at) {
        (Some(_), Some(_)) => Err("give seq or time, not both".to_owned()),
        (None, None) => Err("give the moment: seq (an event's seq) or time".to_owned()),
        (Some(seq), None) => match snap.get(seq).map_err(log_err)? {
            Some(r) => Ok((seq, r.event.ts_ns)),
            None => Err(format!("there is no event seq {seq} (the log's last seq is {})", snap.head().seq)),
        },
        (None, Some(t)) => {
            let t = time("time", t)?;
            Ok((snap.seq_at_time(t).map_err(log_err)?, t))
        }
    }
}

fn screen_heading(c: &orc_log_projections::cast::Capture) -> String {
    let size = match (c.width, c.height) {
        (Some(w), Some(h)) => format!(", {w}x{h}"),
        _ => String::new(),
    };
    format!("capture seq {} at {}{size}", c.seq, format_rfc3339(c.ts_ns))
}

fn pane_before(snap: &Snapshot, p: PaneBeforeParams) -> Result<ToolOutput, Fail> {
    let pane = target(&p.target)?;
    let seconds = limit(p.seconds, BEFORE_SECONDS, "seconds")?;
    let (until_seq, at_ns) = moment(snap, p.seq, p.time.as_deref())?;
    let since_ns = at_ns.saturating_sub(seconds as i64 * 1_000_000_000);
    let screen = last_capture(snap, &pane, until_seq, at_ns)?;
    let filter = Filter {
        from_seq: 1,
        until_seq: Some(until_seq),
        kinds: Kind::ALL.into_iter().filter(|k| *k != Kind::Capture).collect(),
        scope: Some(pane.to_string()),
        since_ns: Some(since_ns),
        until_ns: None,
    };
    let mut events: VecDeque<Record> = VecDeque::new();
    let mut matched = 0u64;
    snap.for_each_record(&filter, |r| {
        matched += 1;
        if events.len() == BEFORE_EVENTS {
            events.pop_front();
        }
        events.push_back(r);
        Ok::<_, orc_log_engine::Error>(true)
    })
    .map_err(log_err)?;
    let moment = match p.seq {
        Some(seq) => format!("seq {seq} ({})", format_rfc3339(at_ns)),
        None => format_rfc3339(at_ns),
    };
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "Pane {pane} before {moment}: its last screen ({}), then its {} other events (messages to it, tool calls, prompts, crashes, ...) in the {seconds} s before, oldest first, as NDJSON.",
        screen.as_ref().map_or_else(|| "none recorded".to_owned(), screen_heading),
        events.len()
    ));
    if let Some(c) = &screen {
        out.text(&format!("=== screen: {} ===\n", screen_heading(c)));
        out.text(&frame_text(&c.content, false));
        out.text("\n");
    } else {
        out.text("=== screen: no capture of this pane at or before the moment ===\n");
    }
    out.text(&format!("=== events of {pane} from {} ===\n", format_rfc3339(since_ns)));
    for r in &events {
        if !out.line(&event_line(r)) {
            break;
        }
    }
    if matched > events.len() as u64 {
        out.note(format!(
            "{} earlier events of the window are left out (only the last {BEFORE_EVENTS} are shown); use a smaller seconds or tail.",
            matched - events.len() as u64
        ));
    }
    Ok(out.finish("use a smaller seconds, or capture_at for the screen alone"))
}

fn capture_at(snap: &Snapshot, p: CaptureAtParams) -> Result<ToolOutput, Fail> {
    let pane = target(&p.target)?;
    let (until_seq, at_ns) = moment(snap, None, Some(&p.time))?;
    let Some(c) = last_capture(snap, &pane, until_seq, at_ns)? else {
        return Err(format!("no capture of {pane} at or before {}", format_rfc3339(at_ns)));
    };
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "The screen of pane {pane} at {}: its last {}, escape sequences removed.",
        format_rfc3339(at_ns),
        screen_heading(&c)
    ));
    out.text(&frame_text(&c.content, false));
    Ok(out.finish("the screen's first part is shown"))
}

fn query(snap: &Snapshot, p: QueryParams) -> Result<ToolOutput, Fail> {
    let max_rows = limit(p.max_rows, QUERY_ROWS, "max_rows")?;
    let service = sql::Query {
        timeout: QUERY_TIMEOUT,
        memory_limit_bytes: QUERY_MEMORY_BYTES,
        max_rows: Some(max_rows as u64),
    };
    let mut rows = Vec::new();
    let written = match service.run(snap, &p.sql, OutputFormat::Ndjson, &mut rows) {
        Ok(answer) => answer.written,
        Err(e) if e.is_timeout() => return Err(format!("query stopped after {} s", QUERY_TIMEOUT.as_secs())),
        Err(e) => return Err(format!("query failed: {e}")),
    };
    let mut out = Bounded::new(MAX_DATA_BYTES);
    out.heading(format!(
        "{} row{}{}, one JSON object per line (a NULL value is left out of its row).",
        written.rows,
        if written.rows == 1 { "" } else { "s" },
        if written.truncated { format!(" (the first {max_rows}; more exist)") } else { String::new() }
    ));
    let text = String::from_utf8_lossy(&rows);
    let mut shown = 0u64;
    for line in text.lines() {
        if !out.line(line) {
            break;
        }
        shown += 1;
    }
    if written.truncated {
        out.note(format!(
            "More rows exist; add LIMIT/OFFSET or WHERE, aggregate, or raise max_rows (at most {}).",
            QUERY_ROWS.1
        ));
    }
    Ok(out.finish(&format!(
        "{shown} of {} rows fit; select fewer or shorter columns (e.g. substr(content, 1, 200))",
        written.rows
    )))
}
