//! The HTTP API (all `GET`, all read-only; README's "Web view" lists it):
//!
//! | route | answer |
//! |---|---|
//! | `/api/state[?at=TIME]` | the JSON of `orc-log state --format json [--at TIME]` |
//! | `/api/team[?at=TIME]` | `{"as_of", "state", "cards"}`: the state plus each pane's preview, last change and last message out |
//! | `/api/team/live` | Server-Sent Events: the team JSON as `team` events, within a second of each commit |
//! | `/api/events?from_seq=N&kind=K[,K]&target=T[&summary=true]` | Server-Sent Events: one NDJSON-v1 event (with `seq`) per `data:` line, existing then new ones; `id:` is the seq (`Last-Event-ID` resumes); `summary=true` adds the timeline's `"summary"` |
//! | `/api/timeline?kind=&target=&since=&until=&before_seq=&limit=` | newest-first events: `{"head", "items": [{"seq", "ts", "kind", "target", "summary"}]}`, `summary` as `tail --format text` shows it |
//! | `/api/event/{seq}` | one event's NDJSON-v1 JSON |
//! | `/api/query?sql=...&format=json\|table\|csv\|ndjson[&max_rows=N]` | rows (`table`: `{"columns", "rows": [[...]]}`, the columns from the result's schema), or `400 {"error", "line", "column"}` |
//! | `/api/panes/{target}/cast[?since=&until=&format=v2\|v3]` | the `session export` asciicast |
//! | `/api/panes/{target}/report[?around=SEQ\|TIME&before=10m&after=1m&format=html\|md]` | the `orc-log report` file (inline, with a file name; a CSP that allows no script and no load) |
//! | `/api/search?q=&target=&since=&until=&ignore_case=&limit=` | search hits |
//! | `/api/metrics` | the JSON of `orc-log metrics --format json` |
//! | `/metrics` | Prometheus text exposition (`metrics --format prometheus`) |
//!
//! Times are RFC 3339 out; in, `at`, `since` and `until` also take a duration before
//! now (`10m`, `2h`, `1d`) or `now`, as the CLI's time flags do. Scans and queries run on the blocking pool.

use crate::live::{self, Published};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use orc_log_engine::{Batch, Filter, SharedLog, Snapshot};
use orc_log_projections::cast::{CastFormat, CastOptions, write_cast};
use orc_log_projections::metrics::Metrics;
use orc_log_projections::search::{SearchOptions, search};
use orc_log_projections::state::{DEFAULT_IDLE_SECS, State as StateProjection};
use orc_log_projections::summary::summary;
use orc_log_projections::{prometheus, sql, view_at};
use orc_log_schemas::{Kind, Record, Target, format_rfc3339, now_ns, parse_time_spec, to_json_line};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Longest a query runs, as `orc-log query`'s default `--timeout`.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Memory a query's operators may use, as `orc-log query`'s default.
pub const QUERY_MEMORY_BYTES: usize = 1024 << 20;
/// Most timeline items one request returns.
pub const MAX_TIMELINE: usize = 1000;
/// Most search hits one request returns.
pub const MAX_HITS: usize = 1000;
/// Events an event stream may have queued for a slow client.
const STREAM_BUFFER: usize = 256;

/// What every handler shares.
#[derive(Clone)]
pub struct App {
    log: SharedLog,
    live: watch::Receiver<Published>,
}

impl App {
    /// The API over `log`; starts the live team follower.
    pub fn new(log: SharedLog) -> Self {
        let live = live::start(log.clone());
        App { log, live }
    }
}

/// The API routes.
pub fn routes(app: App) -> Router {
    Router::new()
        .route("/api/state", get(state))
        .route("/api/team", get(team))
        .route("/api/team/live", get(team_live))
        .route("/api/events", get(events))
        .route("/api/timeline", get(timeline))
        .route("/api/event/{seq}", get(event))
        .route("/api/query", get(query))
        .route("/api/panes/{target}/cast", get(cast))
        .route("/api/panes/{target}/report", get(report))
        .route("/api/search", get(search_hits))
        .route("/api/metrics", get(metrics_json))
        .route("/metrics", get(metrics_text))
        .with_state(app)
}

/// An error answer: a status and `{"error": message, ...}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, Value);

impl ApiError {
    fn bad(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, json!({"error": msg.into()}))
    }
    fn not_found(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, json!({"error": msg.into()}))
    }
    fn internal(msg: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": msg.to_string()}))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

impl From<orc_log_engine::Error> for ApiError {
    fn from(e: orc_log_engine::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<orc_log_projections::ProjectionError> for ApiError {
    fn from(e: orc_log_projections::ProjectionError) -> Self {
        ApiError::internal(e)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// A time query parameter: RFC 3339, a duration before now (`10m`) or `now`,
/// as the CLI's time flags take it.
fn time_param(name: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    v.filter(|s| !s.is_empty())
        .map(|s| parse_time_spec(s, now_ns()).map_err(|e| ApiError::bad(format!("{name}: {e}"))))
        .transpose()
}

fn target_param(v: Option<&str>) -> ApiResult<Option<Target>> {
    v.filter(|s| !s.is_empty())
        .map(|s| s.parse::<Target>().map_err(|e| ApiError::bad(format!("target {s:?}: {e}"))))
        .transpose()
}

/// The `{target}` of a `/api/panes/{target}/...` path.
fn pane_path(target: &str) -> ApiResult<Target> {
    target_param(Some(target))?.ok_or_else(|| ApiError::bad("target is empty"))
}

fn kinds_param(v: Option<&str>) -> ApiResult<Vec<Kind>> {
    v.unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Kind::from_name(s).ok_or_else(|| {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                ApiError::bad(format!("unknown kind {s:?}; kinds: {}", all.join(", ")))
            })
        })
        .collect()
}

fn json_body(text: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text.into()).into_response()
}

#[derive(Debug, Deserialize)]
struct AtQuery {
    at: Option<String>,
}

/// The seq and judging time for `?at=` (or the head, now).
fn point(snap: &Snapshot, at: Option<i64>) -> ApiResult<(u64, i64)> {
    match at {
        Some(at_ns) => Ok((snap.seq_at_time(at_ns)?, at_ns)),
        None => Ok((snap.head().seq, now_ns())),
    }
}

async fn state(State(app): State<App>, Query(q): Query<AtQuery>) -> ApiResult<Response> {
    let at = time_param("at", q.at.as_deref())?;
    let text = blocking(move || {
        let snap = app.log.snapshot();
        let (seq, as_of) = point(&snap, at)?;
        let view = view_at::<StateProjection>(&snap, seq)?.projection.view(as_of, DEFAULT_IDLE_SECS);
        serde_json::to_string(&view).map_err(ApiError::internal)
    })
    .await?;
    Ok(json_body(text + "\n"))
}

async fn team(State(app): State<App>, Query(q): Query<AtQuery>) -> ApiResult<Response> {
    let Some(at) = time_param("at", q.at.as_deref())? else {
        let mut live = app.live.clone();
        // Wait for the follower's first fold when the server just started.
        let published = live.wait_for(|p| !p.json.is_empty()).await.map_err(ApiError::internal)?.clone();
        return Ok(json_body(published.json.to_string()));
    };
    let text = blocking(move || {
        let snap = app.log.snapshot();
        let (seq, as_of) = point(&snap, Some(at))?;
        let team = view_at::<crate::team::Team>(&snap, seq)?.projection;
        serde_json::to_string(&team.view(as_of)).map_err(ApiError::internal)
    })
    .await?;
    Ok(json_body(text))
}

fn sse<S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>(stream: S) -> Response {
    let mut resp =
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn team_live(State(app): State<App>) -> Response {
    let stream = futures_util::stream::unfold((app.live, true), |(mut rx, first)| async move {
        if !first || rx.borrow().json.is_empty() {
            rx.changed().await.ok()?;
        }
        let json = rx.borrow_and_update().json.clone();
        Some((Ok(SseEvent::default().event("team").data(json.as_ref())), (rx, false)))
    });
    sse(stream)
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    from_seq: Option<u64>,
    kind: Option<String>,
    target: Option<String>,
    summary: Option<bool>,
}

async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|seq| seq + 1);
    let filter = Filter {
        from_seq: resume.or(q.from_seq).unwrap_or(1).max(1),
        kinds: kinds_param(q.kind.as_deref())?,
        scope: target_param(q.target.as_deref())?.map(|t| t.to_string()),
        ..Filter::default()
    };
    let (tx, rx) = mpsc::channel::<(u64, String)>(STREAM_BUFFER);
    let with_summary = q.summary.unwrap_or(false);
    tokio::task::spawn_blocking(move || follow_events(&app.log, filter, with_summary, &tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let (seq, line) = rx.recv().await?;
        Some((Ok(SseEvent::default().id(seq.to_string()).data(line)), rx))
    });
    Ok(sse(stream))
}

/// An event's NDJSON-v1 line, with the timeline's `"summary"` added when
/// `with_summary`.
fn event_line(r: &Record, with_summary: bool) -> String {
    let line = to_json_line(r);
    if !with_summary {
        return line;
    }
    match serde_json::from_str::<Value>(&line) {
        Ok(Value::Object(mut map)) => {
            map.insert("summary".into(), Value::String(summary(&r.event.body)));
            Value::Object(map).to_string()
        }
        _ => line,
    }
}

/// Events read at most at once for a stream (the channel to the client
/// holds [`STREAM_BUFFER`]).
const STREAM_BATCH: usize = 1024;

/// Sends the events `filter` selects, then new ones as they commit (an
/// engine [`orc_log_engine::Follower`]), until the client goes away, the
/// log cannot be read or the log stops its followers.
fn follow_events(log: &SharedLog, filter: Filter, with_summary: bool, tx: &mpsc::Sender<(u64, String)>) {
    let mut follower = log.follow(filter);
    loop {
        // Wake at least once a second to notice a client that went away.
        match follower.next_batch(Duration::from_secs(1), STREAM_BATCH) {
            Ok(Batch::Events(batch)) => {
                for (_, r) in batch {
                    if tx.blocking_send((r.seq, event_line(&r, with_summary))).is_err() {
                        return;
                    }
                }
            }
            Ok(Batch::Idle) => {}
            Ok(Batch::Closed) | Err(_) => return,
        }
        if tx.is_closed() {
            return;
        }
    }
}

#[derive(Debug, Deserialize)]
struct TimelineQuery {
    kind: Option<String>,
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before_seq: Option<u64>,
    limit: Option<usize>,
}

async fn timeline(State(app): State<App>, Query(q): Query<TimelineQuery>) -> ApiResult<Response> {
    let filter = Filter {
        from_seq: 1,
        until_seq: q.before_seq.map(|s| s.saturating_sub(1)),
        kinds: kinds_param(q.kind.as_deref())?,
        scope: target_param(q.target.as_deref())?.map(|t| t.to_string()),
        since_ns: time_param("since", q.since.as_deref())?,
        until_ns: time_param("until", q.until.as_deref())?,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_TIMELINE);
    let text = blocking(move || {
        let snap = app.log.snapshot();
        if filter.until_seq == Some(0) {
            return Ok(json!({"head": snap.head().seq, "items": []}).to_string());
        }
        // Headers only to find the newest matches, then those events' bodies.
        let mut seqs = std::collections::VecDeque::with_capacity(limit);
        snap.for_each_meta(&filter, |m| {
            if seqs.len() == limit {
                seqs.pop_front();
            }
            seqs.push_back(m.seq);
            Ok::<_, orc_log_engine::Error>(true)
        })?;
        let mut items = Vec::with_capacity(seqs.len());
        for seq in seqs.into_iter().rev() {
            if let Some(r) = snap.get(seq)? {
                items.push(json!({
                    "seq": r.seq,
                    "ts": format_rfc3339(r.event.ts_ns),
                    "kind": r.event.body.kind().as_str(),
                    "target": r.event.body.target().map(ToString::to_string),
                    "summary": summary(&r.event.body),
                }));
            }
        }
        Ok(json!({"head": snap.head().seq, "items": items}).to_string())
    })
    .await?;
    Ok(json_body(text))
}

async fn event(State(app): State<App>, Path(seq): Path<u64>) -> ApiResult<Response> {
    let line = blocking(move || match app.log.snapshot().get(seq)? {
        Some(r) => Ok(to_json_line(&r)),
        None => Err(ApiError::not_found(format!("no event with seq {seq}"))),
    })
    .await?;
    Ok(json_body(line))
}

#[derive(Debug, Deserialize)]
struct SqlQuery {
    sql: Option<String>,
    format: Option<String>,
    max_rows: Option<u64>,
}

async fn query(State(app): State<App>, Query(q): Query<SqlQuery>) -> ApiResult<Response> {
    let Some(text) = q.sql.filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::bad("sql is missing: /api/query?sql=SELECT..."));
    };
    // `table`: the columns from the result's schema (so a column whose
    // values are NULL is still one), then each row as an array.
    let table = q.format.as_deref() == Some("table");
    let (format, content_type) = match q.format.as_deref().unwrap_or("json") {
        "json" | "table" => (sql::OutputFormat::Json, "application/json"),
        "csv" => (sql::OutputFormat::Csv, "text/csv; charset=utf-8"),
        "ndjson" => (sql::OutputFormat::Ndjson, "application/x-ndjson"),
        other => return Err(ApiError::bad(format!("format {other:?}: use json, table, csv or ndjson"))),
    };
    let max_rows = q.max_rows;
    let (body, written) = blocking(move || {
        let service = sql::Query { timeout: QUERY_TIMEOUT, memory_limit_bytes: QUERY_MEMORY_BYTES, max_rows };
        let mut out = Vec::new();
        let answer = service.run(&app.log.snapshot(), &text, format, &mut out).map_err(sql_error)?;
        if table {
            out = table_json(&answer.columns, &out)?;
        }
        Ok((out, answer.written))
    })
    .await?;
    let mut resp = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = resp.headers_mut();
    h.insert("x-orc-log-rows", HeaderValue::from(written.rows));
    h.insert(
        "x-orc-log-truncated",
        HeaderValue::from_static(if written.truncated { "true" } else { "false" }),
    );
    Ok(resp)
}

/// A query's error as JSON: `{"error", "line"?, "column"?}` with 400 for
/// the user's mistakes and the limits, 500 for the machine's.
fn sql_error(e: sql::SqlError) -> ApiError {
    let message = if e.is_timeout() {
        format!("query stopped after {} s", QUERY_TIMEOUT.as_secs())
    } else {
        format!("query failed: {e}")
    };
    let mut v = json!({"error": message});
    if let Some(p) = e.position() {
        v["line"] = json!(p.line);
        v["column"] = json!(p.column);
    }
    let status = match e {
        sql::SqlError::Execution(_) | sql::SqlError::Output(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError(status, v)
}

/// `{"columns": [name, ...], "rows": [[value, ...], ...]}` from the JSON
/// array of row objects `json` (which leaves out a row's NULL values).
fn table_json(columns: &[String], json: &[u8]) -> ApiResult<Vec<u8>> {
    let objects: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(json).map_err(ApiError::internal)?;
    let rows: Vec<Vec<Value>> = objects
        .into_iter()
        .map(|mut row| columns.iter().map(|c| row.remove(c).unwrap_or(Value::Null)).collect())
        .collect();
    serde_json::to_vec(&json!({"columns": columns, "rows": rows})).map_err(ApiError::internal)
}

#[derive(Debug, Deserialize)]
struct CastQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

async fn cast(
    State(app): State<App>,
    Path(target): Path<String>,
    Query(q): Query<CastQuery>,
) -> ApiResult<Response> {
    let target = pane_path(&target)?;
    let opts = CastOptions {
        format: match q.format.as_deref().unwrap_or("v2") {
            "v2" | "asciicast" | "asciicast-v2" => CastFormat::V2,
            "v3" | "asciicast-v3" => CastFormat::V3,
            other => return Err(ApiError::bad(format!("format {other:?}: use v2 or v3"))),
        },
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        raw: false,
    };
    let (body, start) = blocking(move || {
        let mut out = Vec::new();
        match write_cast(&app.log.snapshot(), &target, &opts, &mut out).map_err(ApiError::internal)? {
            Some(summary) => Ok((out, summary.start_ns)),
            None => Err(ApiError::not_found(format!("no captures of {target} in the selected range"))),
        }
    })
    .await?;
    let mut resp = ([(header::CONTENT_TYPE, "application/x-asciicast")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format_rfc3339(start)) {
        resp.headers_mut().insert("x-orc-log-start", v);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    around: Option<String>,
    before: Option<String>,
    after: Option<String>,
    format: Option<String>,
}

/// A duration query parameter (`90s`, `10m`, `1h30m`), or `default`.
fn duration_param(name: &str, v: Option<&str>, default: Duration) -> ApiResult<Duration> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s).map_err(|e| {
            ApiError::bad(format!("{name} {s:?}: {e}; a duration needs a unit, e.g. 90s, 10m, 1h"))
        }),
    }
}

/// `orc-log report` of one pane, for the player's and timeline's "Share".
async fn report(
    State(app): State<App>,
    Path(target): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    use crate::report::{Around, ReportError, ReportFormat, ReportOptions, write_report};
    let target = pane_path(&target)?;
    let around = match q.around.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Around::parse(s, now_ns()).map_err(|e| ApiError::bad(format!("around: {e}")))?),
    };
    let format = match q.format.as_deref().unwrap_or("html") {
        "html" => ReportFormat::Html,
        "md" | "markdown" => ReportFormat::Markdown,
        other => return Err(ApiError::bad(format!("format {other:?}: use html or md"))),
    };
    let opts = ReportOptions {
        target: target.clone(),
        around,
        before: duration_param("before", q.before.as_deref(), Duration::from_secs(600))?,
        after: duration_param("after", q.after.as_deref(), Duration::from_secs(60))?,
        format,
        redact_patterns: Vec::new(),
    };
    let report = blocking(move || {
        write_report(&app.log.snapshot(), &opts).map_err(|e| match e {
            ReportError::Engine(e) => ApiError::internal(e),
            e @ ReportError::NoSuchSeq(_) => ApiError::bad(e.to_string()),
            e => ApiError::not_found(e.to_string()),
        })
    })
    .await?;
    let disposition = format!("inline; filename=\"{}\"", report.file_name(&target, format));
    let mut resp = ([(header::CONTENT_TYPE, format.content_type())], report.text).into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(crate::REPORT_CSP));
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
    ignore_case: Option<bool>,
    limit: Option<usize>,
}

async fn search_hits(State(app): State<App>, Query(q): Query<SearchQuery>) -> ApiResult<Response> {
    let opts = SearchOptions {
        pattern: q.q.unwrap_or_default(),
        ignore_case: q.ignore_case.unwrap_or(false),
        target: target_param(q.target.as_deref())?,
        since_ns: time_param("since", q.since.as_deref())?,
        until_ns: time_param("until", q.until.as_deref())?,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_HITS);
    let text = blocking(move || {
        let mut hits = Vec::new();
        let mut more = false;
        search(&app.log.snapshot(), &opts, |h| {
            if hits.len() == limit {
                more = true;
                return false;
            }
            let mut v = serde_json::to_value(&h).unwrap_or(Value::Null);
            v["ts"] = json!(format_rfc3339(h.ts_ns));
            v["replay_since"] = json!(format_rfc3339(h.replay_since_ns));
            hits.push(v);
            true
        })
        .map_err(|e| match e {
            orc_log_projections::search::SearchError::Pattern(_) => ApiError::bad(e.to_string()),
            e => ApiError::internal(e),
        })?;
        Ok(json!({"hits": hits, "more": more}).to_string())
    })
    .await?;
    Ok(json_body(text))
}

fn metrics_now(log: &SharedLog) -> ApiResult<(Metrics, i64)> {
    let snap = log.snapshot();
    let m = view_at::<Metrics>(&snap, snap.head().seq)?.projection;
    Ok((m, now_ns()))
}

async fn metrics_json(State(app): State<App>) -> ApiResult<Response> {
    let text = blocking(move || {
        let (m, now) = metrics_now(&app.log)?;
        Ok(json!({"seq": m.seq(), "families": m.families(now)}).to_string())
    })
    .await?;
    Ok(json_body(text))
}

async fn metrics_text(State(app): State<App>) -> ApiResult<Response> {
    let text = blocking(move || {
        let (m, now) = metrics_now(&app.log)?;
        Ok(prometheus::render(&m.families(now)))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_errors_keep_their_typed_position_and_status() {
        let e = sql_error(sql::SqlError::Syntax {
            message: "Expected: x, found: y".into(),
            position: Some(sql::Position { line: 2, column: 17 }),
        });
        assert_eq!(e.0, StatusCode::BAD_REQUEST);
        assert_eq!((e.1["line"].as_u64(), e.1["column"].as_u64()), (Some(2), Some(17)));
        let e = sql_error(sql::SqlError::NotAQuery { statement: "DELETE".into() });
        assert_eq!(e.0, StatusCode::BAD_REQUEST);
        assert!(e.1.get("line").is_none());
        assert_eq!(sql_error(sql::SqlError::Execution("disk".into())).0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn bad_parameters_are_client_errors() {
        assert!(kinds_param(Some("capture,crash")).is_ok_and(|k| k.len() == 2));
        assert!(kinds_param(Some("nope")).is_err());
        assert!(time_param("at", Some("yesterday")).is_err());
        assert!(time_param("since", Some("10")).is_err());
        assert!(time_param("at", Some("2026-11-20T23:04:00Z")).is_ok_and(|t| t.is_some()));
        let before = now_ns();
        let (ten_min_ago, now) = (time_param("since", Some("10m")), time_param("at", Some("now")));
        let after = now_ns();
        let ten_min = 600_000_000_000;
        assert!(
            ten_min_ago.is_ok_and(|t| t.is_some_and(|t| (before - ten_min..=after - ten_min).contains(&t)))
        );
        assert!(now.is_ok_and(|t| t.is_some_and(|t| (before..=after).contains(&t))));
        assert!(target_param(Some("not a target")).is_err());
    }

    #[test]
    fn table_rows_keep_null_columns_in_schema_order() {
        let columns = vec!["seq".to_owned(), "reason".to_owned(), "excerpt".to_owned()];
        let json = br#"[{"seq":1,"reason":"r"},{"excerpt":"x","seq":2,"reason":"s"}]"#;
        let v: Value =
            serde_json::from_slice(&table_json(&columns, json).unwrap_or_default()).unwrap_or_default();
        assert_eq!(v, json!({"columns": columns, "rows": [[1, "r", null], [2, "s", "x"]]}));
        let v: Value =
            serde_json::from_slice(&table_json(&columns, b"[]\n").unwrap_or_default()).unwrap_or_default();
        assert_eq!(v, json!({"columns": columns, "rows": []}));
    }
}
