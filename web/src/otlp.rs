//! The OTLP/HTTP receiver of `orc-log serve --otlp ADDR`: `POST /v1/logs`
//! and `POST /v1/metrics` from coding agents' OpenTelemetry exporters, each
//! record appended as an `agent_usage` event (mapped by
//! [`orc_log_agents::otel`]).
//!
//! Answers as the OTLP specification says
//! (<https://opentelemetry.io/docs/specs/otlp/#otlphttp-response>): 200 with
//! the service's response (no `partial_success`) in the request's encoding
//! once the events are durable; 400 with a `google.rpc.Status` for a body
//! that does not decode (nothing is stored); 415 for another content type
//! or encoding; 413 for a body over [`MAX_BODY_BYTES`] (compressed or not);
//! 503 with `Retry-After` when [`MAX_IN_FLIGHT`] exports are already being
//! appended (back-pressure) or the log cannot take appends. Bodies may be
//! gzip-encoded (`Content-Encoding: gzip`).
//!
//! The agent session of a record is looked up among the hooks'
//! `agent_session` starts in the log (read at start, then the new ones before
//! each export), so the record gets its pane; a record of a session no hook
//! has named yet is stored without a pane and joined later by the
//! projections and SQL.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use orc_log_agents::otel::{
    Encoding, Mapped, Mapper, decode_logs, decode_metrics, status_body, success_body,
};
use orc_log_engine::{Filter, SharedLog};
use orc_log_schemas::Kind;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Semaphore;

/// Largest request body accepted, compressed or after gzip decoding: 32 MiB.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Exports appended at once; one more is answered 503 (back-pressure).
pub const MAX_IN_FLIGHT: usize = 8;

/// Seconds a client is told to wait (`Retry-After`) under back-pressure.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The receiver's state: the log, the mapper and how far the log was read.
struct Receiver {
    log: SharedLog,
    mapper: Mutex<(Mapper, u64)>,
    in_flight: Arc<Semaphore>,
}

impl Receiver {
    /// Feeds the mapper the log's events after the last one it saw
    /// (agent session starts; at the first call also earlier `otel` usage).
    fn catch_up(&self, state: &mut (Mapper, u64), first: bool) -> Result<(), orc_log_engine::Error> {
        let snapshot = self.log.snapshot();
        let head = snapshot.head().seq;
        if head <= state.1 {
            return Ok(());
        }
        let kinds = if first { vec![Kind::AgentSession, Kind::AgentUsage] } else { vec![Kind::AgentSession] };
        let filter = Filter { from_seq: state.1 + 1, until_seq: Some(head), kinds, ..Filter::default() };
        for item in snapshot.scan(filter)? {
            state.0.seen(&item?.event);
        }
        state.1 = head;
        Ok(())
    }
}

/// The receiver's routes for `log` (behind the token check when `token` is set).
///
/// # Errors
/// Reading the log's agent sessions and earlier usage at start fails.
pub fn router(log: SharedLog, token: Option<String>) -> Result<Router, orc_log_engine::Error> {
    let receiver = Receiver {
        log,
        mapper: Mutex::new((Mapper::default(), 0)),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    };
    {
        let mut state = receiver.mapper.lock().unwrap_or_else(PoisonError::into_inner);
        receiver.catch_up(&mut state, true)?;
    }
    let receiver = Arc::new(receiver);
    let token: Option<Arc<str>> = token.as_deref().map(Arc::from);
    Ok(Router::new()
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .with_state(receiver)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(token, crate::auth::require_token)))
}

async fn logs(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    export(r, headers, body, false).await
}

async fn metrics(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    export(r, headers, body, true).await
}

fn answer(status: StatusCode, enc: Encoding, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, enc.content_type())], body).into_response()
}

fn unavailable(enc: Encoding, message: &str) -> Response {
    let mut resp = answer(StatusCode::SERVICE_UNAVAILABLE, enc, status_body(14, message, enc));
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

/// Why an export was not stored, as an HTTP answer.
enum Refused {
    BadRequest(String),
    TooLarge,
    Unavailable(String),
}

async fn export(r: Arc<Receiver>, headers: HeaderMap, body: Bytes, is_metrics: bool) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(enc) = Encoding::from_content_type(content_type) else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "orc-log: Content-Type {content_type:?} is not OTLP/HTTP (application/x-protobuf or application/json)\n"
            ),
        )
            .into_response();
    };
    let gzip = match headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("orc-log: Content-Encoding {other:?} is not supported (gzip or none)\n"),
            )
                .into_response();
        }
    };
    let Ok(permit) = Arc::clone(&r.in_flight).try_acquire_owned() else {
        return unavailable(enc, "busy: too many exports in flight, retry later");
    };
    let stored = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        store(&r, &body, gzip, enc, is_metrics)
    })
    .await;
    match stored {
        Ok(Ok(())) => answer(StatusCode::OK, enc, success_body(is_metrics, enc)),
        Ok(Err(Refused::BadRequest(m))) => answer(StatusCode::BAD_REQUEST, enc, status_body(3, &m, enc)),
        Ok(Err(Refused::TooLarge)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("orc-log: the decoded body is over {MAX_BODY_BYTES} bytes\n"),
        )
            .into_response(),
        Ok(Err(Refused::Unavailable(m))) => unavailable(enc, &m),
        Err(e) => unavailable(enc, &format!("the export's task failed: {e}")),
    }
}

/// Decodes, maps and appends one export. Returns once the events are
/// durable (the engine's group commit), or with why nothing was stored.
fn store(r: &Receiver, body: &[u8], gzip: bool, enc: Encoding, is_metrics: bool) -> Result<(), Refused> {
    let inflated;
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Refused::BadRequest(format!("the gzip body does not decode: {e}")))?;
        if out.len() > MAX_BODY_BYTES {
            return Err(Refused::TooLarge);
        }
        inflated = out;
        inflated.as_slice()
    } else {
        body
    };
    let now = orc_log_schemas::now_ns();
    let mapped: Mapped = {
        let mut state = r.mapper.lock().unwrap_or_else(PoisonError::into_inner);
        if is_metrics {
            let req = decode_metrics(body, enc).map_err(|e| Refused::BadRequest(e.to_string()))?;
            r.catch_up(&mut state, false).map_err(|e| Refused::Unavailable(e.to_string()))?;
            state.0.metrics(&req, now)
        } else {
            let req = decode_logs(body, enc).map_err(|e| Refused::BadRequest(e.to_string()))?;
            r.catch_up(&mut state, false).map_err(|e| Refused::Unavailable(e.to_string()))?;
            state.0.logs(&req, now)
        }
    };
    if mapped.dropped_points > 0 {
        tracing::debug!(points = mapped.dropped_points, "metric points of sessions that report log records");
    }
    if mapped.events.is_empty() {
        return Ok(());
    }
    match r.log.append(mapped.events) {
        Ok(receipt) => {
            tracing::debug!(appended = receipt.appended, duplicates = receipt.duplicates, "OTLP export");
            Ok(())
        }
        Err(orc_log_engine::Error::InvalidEvent { .. }) => {
            Err(Refused::BadRequest("a record does not make a valid event".to_owned()))
        }
        Err(e) => Err(Refused::Unavailable(format!("the log cannot take the export: {e}"))),
    }
}
