//! OpenTelemetry (OTLP) exports of coding agents -> `agent_usage` events.
//!
//! Claude Code, Codex and Gemini CLI export their events as OTLP log records
//! and their counters as OTLP metrics. [`decode_logs`] and [`decode_metrics`]
//! read an OTLP/HTTP request body, protobuf or JSON (the OTLP
//! specification's "OTLP/HTTP" section,
//! <https://opentelemetry.io/docs/specs/otlp/#otlphttp>), into the types of
//! the `opentelemetry-proto` crate; a [`Mapper`] turns them into events.
//!
//! **Log records** (Claude Code's monitoring documentation,
//! <https://docs.claude.com/en/docs/claude-code/monitoring-usage>, section
//! "Events"): the event name is the record's `event_name`, else its body
//! (`claude_code.api_request`), else its `event.name` attribute
//! (`api_request`, prefixed with the agent's name); the agent is the name's
//! prefix (`claude_code`, `codex`, `gemini_cli`), else from the resource's
//! `service.name`. Every record becomes one `agent_usage` (source `otel`)
//! with `session.id` as `agent_session_id`, `prompt.id`, `model`, the tokens
//! of `input_tokens`/`input_token_count`, `output_tokens`/`output_token_count`,
//! `cache_read_tokens`/`cached_token_count`/`cached_content_token_count` and
//! `cache_creation_tokens`, `cost_usd` and `duration_ms` (numbers may come
//! as strings). Its id is a hash of session, prompt, event sequence
//! (`event.sequence`) and name, or of the whole record when it has no
//! sequence, so a retried export appends nothing twice.
//!
//! **Metrics**: each point of `*.cost.usage` (US dollars) and
//! `*.token.usage` (tokens, attribute `type`: `input`, `output`,
//! `cacheRead`, `cacheCreation`; Gemini's `thought` counts as output) with
//! a non-zero increase becomes one `agent_usage` whose `event` is the
//! metric name. Delta sums are taken as they are; for cumulative sums (and
//! gauges) the increase since the series' previous point is kept, the
//! series being the metric, its attributes and its start time. Points of a
//! session whose log records already carry its usage are dropped, so a
//! session exporting both is counted once (from its records: they come
//! every few seconds, the metrics every minute).
//!
//! **Identities** (`user.email`, `user.id`, `user.account_uuid`,
//! `organization.id` and any attribute whose name ends in `email`) are
//! stored only as `blake3:` and the first 16 bytes of their BLAKE3 hash, in
//! hex. Attributes not mapped to a field are kept in `raw` (a JSON object,
//! redacted and bounded to [`orc_log_schemas::ndjson::MAX_RAW_BYTES`]).

use crate::text::{bounded, bounded_id};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, metric, number_data_point};
use orc_log_schemas::ndjson::MAX_RAW_BYTES;
use orc_log_schemas::{Event, EventBody, Target, Usd, parse_rfc3339};
use prost::Message;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// How an OTLP/HTTP body is encoded (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP's JSON mapping of protobuf).
    Json,
}

impl Encoding {
    /// The encoding of a `Content-Type` value (parameters ignored); `None`
    /// for any other type.
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        match value.split(';').next().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
            Some("application/x-protobuf") => Some(Encoding::Protobuf),
            Some("application/json") => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of responses in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// A body that does not decode as the request it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OTLP {what} request ({encoding}): {detail}")]
pub struct DecodeError {
    /// `logs` or `metrics`.
    pub what: &'static str,
    /// `protobuf` or `JSON`.
    pub encoding: &'static str,
    /// The decoder's message.
    pub detail: String,
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    enc: Encoding,
    what: &'static str,
) -> Result<T, DecodeError> {
    match enc {
        Encoding::Protobuf => {
            T::decode(body).map_err(|e| DecodeError { what, encoding: "protobuf", detail: e.to_string() })
        }
        Encoding::Json => serde_json::from_slice(body).map_err(|e| DecodeError {
            what,
            encoding: "JSON",
            detail: e.to_string(),
        }),
    }
}

/// Decodes an `ExportLogsServiceRequest` (`POST /v1/logs`).
///
/// # Errors
/// [`DecodeError`] with the decoder's message.
pub fn decode_logs(body: &[u8], enc: Encoding) -> Result<ExportLogsServiceRequest, DecodeError> {
    decode(body, enc, "logs")
}

/// Decodes an `ExportMetricsServiceRequest` (`POST /v1/metrics`).
///
/// # Errors
/// [`DecodeError`] with the decoder's message.
pub fn decode_metrics(body: &[u8], enc: Encoding) -> Result<ExportMetricsServiceRequest, DecodeError> {
    decode(body, enc, "metrics")
}

fn encode<T: Message + serde::Serialize>(msg: &T, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// The success answer to a logs or metrics export: the service's response
/// with no `partial_success` (everything accepted), in `enc`.
pub fn success_body(metrics: bool, enc: Encoding) -> Vec<u8> {
    if enc == Encoding::Json {
        // The response with no field set (serde would write `"partialSuccess": null`).
        return b"{}".to_vec();
    }
    if metrics {
        encode(&ExportMetricsServiceResponse { partial_success: None }, enc)
    } else {
        encode(&ExportLogsServiceResponse { partial_success: None }, enc)
    }
}

/// `google.rpc.Status` (fields 1 `code`, 2 `message`), the body of an
/// OTLP/HTTP error answer. The `opentelemetry-proto` crate has no type for
/// it; these are its two fields, as `google/rpc/status.proto` numbers them.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The body of an error answer: a `google.rpc.Status` with gRPC `code`
/// (3 INVALID_ARGUMENT for a bad body, 14 UNAVAILABLE under back-pressure)
/// and `message`, in `enc`.
pub fn status_body(code: i32, message: &str, enc: Encoding) -> Vec<u8> {
    encode(&RpcStatus { code, message: message.to_owned() }, enc)
}

/// Attributes whose values are identities, stored hashed (see the module docs).
pub const IDENTITY_ATTRIBUTES: &[&str] =
    &["user.email", "user.id", "user.account_uuid", "user.account_id", "organization.id", "enduser.id"];

/// Whether attribute `key` holds an identity.
pub fn is_identity(key: &str) -> bool {
    IDENTITY_ATTRIBUTES.contains(&key) || key.to_ascii_lowercase().ends_with("email")
}

/// `blake3:` and the first 16 bytes of the BLAKE3 hash of `value`, in hex.
pub fn hash_identity(value: &str) -> String {
    let hash = blake3::hash(value.as_bytes());
    let hex: String = hash.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("blake3:{hex}")
}

/// An attribute value as JSON (bytes as a hex string).
fn json_of(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number)
        }
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(json_of).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(
            kv.values
                .iter()
                .map(|k| (k.key.clone(), k.value.as_ref().map_or(Value::Null, json_of)))
                .collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => {
            Value::from(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        Some(any_value::Value::StringValueStrindex(i)) => Value::from(*i),
        None => Value::Null,
    }
}

/// Attributes as a JSON object, identities hashed; later ones win.
fn attributes<'a>(lists: impl IntoIterator<Item = &'a [KeyValue]>) -> Map<String, Value> {
    let mut m = Map::new();
    for list in lists {
        for kv in list {
            let mut v = kv.value.as_ref().map_or(Value::Null, json_of);
            if is_identity(&kv.key) {
                let text = match &v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                v = Value::from(hash_identity(&text));
            }
            m.insert(kv.key.clone(), v);
        }
    }
    m
}

/// A number from a JSON number or a numeric string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The agents whose event names orc-log knows, by prefix.
const AGENTS: &[&str] = &["claude_code", "codex", "gemini_cli"];

/// The agent named by `service.name` (`claude-code`, `codex_cli_rs`, `gemini-cli`).
fn agent_of_service(service: Option<&str>) -> String {
    let s = service.unwrap_or("").to_ascii_lowercase();
    if s.contains("claude") {
        "claude_code".into()
    } else if s.contains("codex") {
        "codex".into()
    } else if s.contains("gemini") {
        "gemini_cli".into()
    } else if s.is_empty() {
        "unknown".into()
    } else {
        s.replace(['-', ' '], "_")
    }
}

/// (agent, full event name) of a record named `name`.
fn agent_and_name(name: &str, service: Option<&str>) -> (String, String) {
    if let Some((prefix, _)) = name.split_once('.')
        && AGENTS.contains(&prefix)
    {
        return (prefix.to_owned(), name.to_owned());
    }
    let agent = agent_of_service(service);
    let full = if name.contains('.') { name.to_owned() } else { format!("{agent}.{name}") };
    (agent, full)
}

/// Attribute names read into an event's fields (not kept in `raw`).
const MAPPED: &[&str] = &[
    "session.id",
    "prompt.id",
    "model",
    "input_tokens",
    "input_token_count",
    "output_tokens",
    "output_token_count",
    "cache_read_tokens",
    "cached_token_count",
    "cached_content_token_count",
    "cache_creation_tokens",
    "cost_usd",
    "duration_ms",
    "event.name",
];

fn tokens(m: &Map<String, Value>, keys: &[&str]) -> u64 {
    keys.iter().find_map(|k| m.get(*k).and_then(number)).map_or(0, |f| f.max(0.0) as u64)
}

fn raw_of(m: &Map<String, Value>, skip: &[&str]) -> Option<String> {
    let rest: Map<String, Value> =
        m.iter().filter(|(k, _)| !skip.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    (!rest.is_empty()).then(|| bounded(&Value::Object(rest).to_string(), MAX_RAW_BYTES))
}

fn hash_id(prefix: &str, parts: &[&[u8]]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let hex: String = h.finalize().as_bytes()[..24].iter().map(|b| format!("{b:02x}")).collect();
    bounded_id(format!("{prefix}:{hex}"))
}

/// What a [`Mapper`] made of one request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The events, in request order.
    pub events: Vec<Event>,
    /// Metric points dropped: their session's usage comes as log records.
    pub dropped_points: u64,
}

/// Turns OTLP requests into `agent_usage` events, remembering what a
/// receiver must across requests: the agent sessions' panes (from the hooks'
/// `agent_session` starts), the sessions whose usage arrives as log
/// records, and the last value of each cumulative metric series. Bounded:
/// each map keeps at most [`Mapper::MAX_ENTRIES`] entries (it is cleared when
/// full; a cleared series counts its next point from its previous value as
/// recorded, see [`Mapper::seen`]).
#[derive(Debug, Default)]
pub struct Mapper {
    sessions: HashMap<String, Target>,
    log_sessions: HashSet<String>,
    cumulative: HashMap<String, f64>,
}

impl Mapper {
    /// Entries kept per map.
    pub const MAX_ENTRIES: usize = 65_536;

    /// Agent session `session` runs in pane `target` (an `agent_session` start).
    pub fn join(&mut self, session: &str, target: &Target) {
        if self.sessions.len() >= Self::MAX_ENTRIES {
            self.sessions.clear();
        }
        self.sessions.insert(session.to_owned(), target.clone());
    }

    /// The pane of agent session `session`, if known.
    pub fn pane_of(&self, session: &str) -> Option<&Target> {
        self.sessions.get(session)
    }

    /// Learns from an event already in the log (at start, from a scan of
    /// the log): `agent_session` starts give panes; `otel` usage gives the
    /// sessions whose usage comes as log records, and the last value of
    /// each cumulative series (kept in `raw` as `series` and `cumulative`).
    pub fn seen(&mut self, event: &Event) {
        match &event.body {
            EventBody::AgentSession { target: Some(t), agent_session_id, phase, .. } if phase == "start" => {
                self.join(agent_session_id, t);
            }
            EventBody::AgentUsage { source, event: name, agent_session_id, raw, cost_usd, .. }
                if source == "otel" =>
            {
                let is_metric = name.ends_with(".cost.usage") || name.ends_with(".token.usage");
                if !is_metric
                    && let Some(s) = agent_session_id
                    && (cost_usd.is_some() || has_tokens(&event.body))
                {
                    self.mark_log_session(s);
                }
                if let Some(r) = raw
                    && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(r)
                    && let (Some(series), Some(v)) =
                        (m.get("series").and_then(Value::as_str), m.get("cumulative").and_then(number))
                {
                    self.set_cumulative(series, v);
                }
            }
            _ => {}
        }
    }

    fn mark_log_session(&mut self, s: &str) {
        if self.log_sessions.len() >= Self::MAX_ENTRIES {
            self.log_sessions.clear();
        }
        self.log_sessions.insert(s.to_owned());
    }

    fn set_cumulative(&mut self, series: &str, v: f64) {
        if self.cumulative.len() >= Self::MAX_ENTRIES {
            self.cumulative.clear();
        }
        self.cumulative.insert(series.to_owned(), v);
    }

    /// The events of a logs export (see the module docs); `now_ns` is the
    /// time of records that carry none.
    pub fn logs(&mut self, req: &ExportLogsServiceRequest, now_ns: i64) -> Mapped {
        let mut out = Mapped::default();
        for rl in &req.resource_logs {
            let resource: &[KeyValue] = rl.resource.as_ref().map_or(&[], |r| r.attributes.as_slice());
            for sl in &rl.scope_logs {
                for rec in &sl.log_records {
                    let m = attributes([resource, rec.attributes.as_slice()]);
                    let body_name = match rec.body.as_ref().map(json_of) {
                        Some(Value::String(s)) if !s.is_empty() => Some(s),
                        _ => None,
                    };
                    let name = Some(rec.event_name.clone())
                        .filter(|s| !s.is_empty())
                        .or(body_name)
                        .or_else(|| text(&m, "event.name"))
                        .unwrap_or_else(|| "log".to_owned());
                    let service = text(&m, "service.name");
                    let (agent, event) = agent_and_name(&name, service.as_deref());
                    let ts = [rec.time_unix_nano, rec.observed_time_unix_nano]
                        .into_iter()
                        .find(|t| *t > 0)
                        .and_then(|t| i64::try_from(t).ok())
                        .or_else(|| text(&m, "event.timestamp").and_then(|t| parse_rfc3339(&t).ok()))
                        .unwrap_or(now_ns);
                    let session = text(&m, "session.id");
                    let prompt = text(&m, "prompt.id");
                    let id = match (&session, text(&m, "event.sequence")) {
                        (Some(s), Some(seq)) => hash_id(
                            "otel",
                            &[
                                s.as_bytes(),
                                prompt.as_deref().unwrap_or("").as_bytes(),
                                seq.as_bytes(),
                                event.as_bytes(),
                            ],
                        ),
                        _ => hash_id(
                            "otel",
                            &[
                                &rec.encode_to_vec(),
                                &rl.resource.as_ref().map(Message::encode_to_vec).unwrap_or_default(),
                            ],
                        ),
                    };
                    let cost = m.get("cost_usd").and_then(number).and_then(Usd::from_dollars);
                    let body = EventBody::AgentUsage {
                        target: session.as_deref().and_then(|s| self.pane_of(s)).cloned(),
                        agent,
                        agent_session_id: session.clone(),
                        source: "otel".into(),
                        event,
                        model: text(&m, "model"),
                        prompt_id: prompt,
                        input_tokens: tokens(&m, &["input_tokens", "input_token_count"]),
                        output_tokens: tokens(&m, &["output_tokens", "output_token_count"]),
                        cache_read_tokens: tokens(
                            &m,
                            &["cache_read_tokens", "cached_token_count", "cached_content_token_count"],
                        ),
                        cache_creation_tokens: tokens(&m, &["cache_creation_tokens"]),
                        cost_usd: cost,
                        duration_ns: m
                            .get("duration_ms")
                            .and_then(number)
                            .filter(|d| *d >= 0.0)
                            .map(|d| (d * 1e6).round() as u64),
                        raw: raw_of(&m, MAPPED),
                    };
                    if let Some(s) = &session
                        && (cost.is_some() || has_tokens(&body))
                    {
                        self.mark_log_session(s);
                    }
                    out.events.push(Event { ts_ns: ts, id: Some(id), body });
                }
            }
        }
        out
    }

    /// The events of a metrics export (see the module docs).
    pub fn metrics(&mut self, req: &ExportMetricsServiceRequest, now_ns: i64) -> Mapped {
        let mut out = Mapped::default();
        for rm in &req.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| r.attributes.as_slice());
            for sm in &rm.scope_metrics {
                for metric in &sm.metrics {
                    let cost = metric.name.ends_with(".cost.usage");
                    if !cost && !metric.name.ends_with(".token.usage") {
                        continue;
                    }
                    let (points, cumulative): (&[NumberDataPoint], bool) = match &metric.data {
                        Some(metric::Data::Sum(s)) => (&s.data_points, s.aggregation_temporality != 1),
                        Some(metric::Data::Gauge(g)) => (&g.data_points, true),
                        _ => continue,
                    };
                    for p in points {
                        if let Some(ev) =
                            self.point(resource, &metric.name, cost, p, cumulative, now_ns, &mut out)
                        {
                            out.events.push(ev);
                        }
                    }
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn point(
        &mut self,
        resource: &[KeyValue],
        name: &str,
        cost: bool,
        p: &NumberDataPoint,
        cumulative: bool,
        now_ns: i64,
        out: &mut Mapped,
    ) -> Option<Event> {
        let value = match p.value? {
            number_data_point::Value::AsDouble(d) => d,
            number_data_point::Value::AsInt(i) => i as f64,
        };
        if !value.is_finite() {
            return None;
        }
        let m = attributes([resource, p.attributes.as_slice()]);
        let session = text(&m, "session.id");
        let mut point_attrs: Vec<(String, String)> =
            attributes([p.attributes.as_slice()]).into_iter().map(|(k, v)| (k, v.to_string())).collect();
        point_attrs.sort();
        let series_text = format!(
            "{name}|{}|{:?}|{}",
            p.start_time_unix_nano,
            point_attrs,
            text(&m, "service.name").unwrap_or_default()
        );
        let series = hash_id("series", &[series_text.as_bytes()]);
        let increase = if cumulative {
            let prev = self.cumulative.get(&series).copied();
            self.set_cumulative(&series, value);
            match prev {
                Some(prev) if value >= prev => value - prev,
                _ => value,
            }
        } else {
            value
        };
        if increase <= 0.0 {
            return None;
        }
        if session.as_ref().is_some_and(|s| self.log_sessions.contains(s)) {
            out.dropped_points += 1;
            return None;
        }
        let service = text(&m, "service.name");
        let (agent, event) = agent_and_name(name, service.as_deref());
        let ty = text(&m, "type").unwrap_or_default();
        let count = increase.round().max(0.0) as u64;
        let (mut input, mut output, mut cache_read, mut cache_creation) = (0, 0, 0, 0);
        if !cost {
            match ty.as_str() {
                "input" => input = count,
                "output" | "thought" | "reasoning" => output = count,
                "cacheRead" | "cache_read" | "cache" => cache_read = count,
                "cacheCreation" | "cache_creation" => cache_creation = count,
                _ => return None,
            }
        }
        let mut raw = Map::new();
        for (k, v) in &m {
            if !["session.id", "model", "type"].contains(&k.as_str()) {
                raw.insert(k.clone(), v.clone());
            }
        }
        if cumulative {
            raw.insert("series".into(), Value::from(series.clone()));
            raw.insert(
                "cumulative".into(),
                serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
            );
        }
        let ts = i64::try_from(p.time_unix_nano).ok().filter(|t| *t > 0).unwrap_or(now_ns);
        Some(Event {
            ts_ns: ts,
            id: Some(hash_id("otelm", &[series.as_bytes(), &p.time_unix_nano.to_le_bytes()])),
            body: EventBody::AgentUsage {
                target: session.as_deref().and_then(|s| self.pane_of(s)).cloned(),
                agent,
                agent_session_id: session,
                source: "otel".into(),
                event,
                model: text(&m, "model"),
                prompt_id: None,
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: cache_read,
                cache_creation_tokens: cache_creation,
                cost_usd: if cost { Usd::from_dollars(increase) } else { None },
                duration_ns: None,
                raw: (!raw.is_empty()).then(|| bounded(&Value::Object(raw).to_string(), MAX_RAW_BYTES)),
            },
        })
    }
}

/// Whether a usage body carries tokens.
fn has_tokens(body: &EventBody) -> bool {
    matches!(body, EventBody::AgentUsage { input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, .. }
        if input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A logs export as Claude Code sends it over http/json: event name in
    /// the body and `event.name`, numbers as strings, identity attributes.
    pub(crate) const CLAUDE_LOGS_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"claude-code"}},
        {"key":"service.version","value":{"stringValue":"2.1.0"}}]},
      "scopeLogs":[{"scope":{"name":"com.anthropic.claude_code.events","version":"2.1.0"},"logRecords":[
        {"timeUnixNano":"1764669600000000000","observedTimeUnixNano":"1764669600000000000",
         "body":{"stringValue":"claude_code.api_request"},
         "attributes":[
           {"key":"event.name","value":{"stringValue":"api_request"}},
           {"key":"event.timestamp","value":{"stringValue":"2025-12-02T10:00:00.000Z"}},
           {"key":"event.sequence","value":{"intValue":"7"}},
           {"key":"session.id","value":{"stringValue":"sess-1"}},
           {"key":"prompt.id","value":{"stringValue":"prompt-1"}},
           {"key":"app.version","value":{"stringValue":"2.1.0"}},
           {"key":"user.email","value":{"stringValue":"dev@example.com"}},
           {"key":"user.account_uuid","value":{"stringValue":"acct-123"}},
           {"key":"terminal.type","value":{"stringValue":"tmux"}},
           {"key":"model","value":{"stringValue":"claude-opus-5"}},
           {"key":"cost_usd","value":{"stringValue":"0.0123"}},
           {"key":"duration_ms","value":{"stringValue":"2500"}},
           {"key":"input_tokens","value":{"stringValue":"120"}},
           {"key":"output_tokens","value":{"stringValue":"340"}},
           {"key":"cache_read_tokens","value":{"stringValue":"1000"}},
           {"key":"cache_creation_tokens","value":{"intValue":"50"}}]},
        {"timeUnixNano":"1764669601000000000",
         "body":{"stringValue":"claude_code.tool_result"},
         "attributes":[
           {"key":"event.name","value":{"stringValue":"tool_result"}},
           {"key":"event.sequence","value":{"intValue":"8"}},
           {"key":"session.id","value":{"stringValue":"sess-1"}},
           {"key":"tool_name","value":{"stringValue":"Bash"}},
           {"key":"success","value":{"stringValue":"true"}}]}]}]}]}"#;

    #[test]
    fn claude_code_json_logs_become_usage_with_identities_hashed() {
        let req = decode_logs(CLAUDE_LOGS_JSON.as_bytes(), Encoding::Json).unwrap();
        let mut m = Mapper::default();
        m.join("sess-1", &"team:1.0".parse().unwrap());
        let out = m.logs(&req, 0);
        assert_eq!(out.events.len(), 2);
        let EventBody::AgentUsage {
            target,
            agent,
            agent_session_id,
            event,
            model,
            prompt_id,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_creation_tokens,
            cost_usd,
            duration_ns,
            raw,
            ..
        } = &out.events[0].body
        else {
            panic!("{:?}", out.events[0])
        };
        assert_eq!(target.as_ref().map(ToString::to_string).as_deref(), Some("team:1.0"));
        assert_eq!((agent.as_str(), event.as_str()), ("claude_code", "claude_code.api_request"));
        assert_eq!(agent_session_id.as_deref(), Some("sess-1"));
        assert_eq!((model.as_deref(), prompt_id.as_deref()), (Some("claude-opus-5"), Some("prompt-1")));
        assert_eq!(
            [*input_tokens, *output_tokens, *cache_read_tokens, *cache_creation_tokens],
            [120, 340, 1000, 50]
        );
        assert_eq!(*cost_usd, Usd::from_dollars(0.0123));
        assert_eq!(*duration_ns, Some(2_500_000_000));
        assert_eq!(out.events[0].ts_ns, 1_764_669_600_000_000_000);
        let raw = raw.as_deref().unwrap();
        assert!(!raw.contains("dev@example.com") && !raw.contains("acct-123"), "{raw}");
        assert!(raw.contains(&hash_identity("dev@example.com")), "{raw}");
        assert!(raw.contains("\"terminal.type\":\"tmux\""), "{raw}");
        for ev in &out.events {
            ev.validate().unwrap();
        }
        // The same export again gives the same ids; another sequence another id.
        let again = Mapper::default().logs(&req, 99);
        assert_eq!(again.events[0].id, out.events[0].id);
        assert_ne!(out.events[0].id, out.events[1].id);
        let EventBody::AgentUsage { event, .. } = &out.events[1].body else { panic!() };
        assert_eq!(event, "claude_code.tool_result");
    }

    #[test]
    fn protobuf_round_trips_and_bad_bodies_are_errors() {
        let req = decode_logs(CLAUDE_LOGS_JSON.as_bytes(), Encoding::Json).unwrap();
        let bytes = req.encode_to_vec();
        assert_eq!(decode_logs(&bytes, Encoding::Protobuf).unwrap(), req);
        assert!(decode_logs(b"{not json", Encoding::Json).is_err());
        assert!(decode_logs(&[0xff, 0xff, 0xff], Encoding::Protobuf).is_err());
        assert!(decode_metrics(b"[1,2]", Encoding::Json).is_err());
        assert_eq!(success_body(false, Encoding::Json), b"{}");
        assert!(success_body(true, Encoding::Protobuf).is_empty());
        let status = String::from_utf8(status_body(3, "bad", Encoding::Json)).unwrap();
        assert_eq!(status, r#"{"code":3,"message":"bad"}"#);
    }

    fn metrics_json(temporality: u8, points: &[(&str, &str, f64, u64)]) -> ExportMetricsServiceRequest {
        let dps: Vec<String> = points
            .iter()
            .map(|(session, ty, v, t)| {
                format!(
                    r#"{{"attributes":[{{"key":"session.id","value":{{"stringValue":"{session}"}}}},
                    {{"key":"model","value":{{"stringValue":"claude-opus-5"}}}},
                    {{"key":"type","value":{{"stringValue":"{ty}"}}}},
                    {{"key":"user.email","value":{{"stringValue":"dev@example.com"}}}}],
                    "startTimeUnixNano":"1000","timeUnixNano":"{t}","asDouble":{v}}}"#
                )
            })
            .collect();
        let body = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"claude-code"}}}}]}},
            "scopeMetrics":[{{"metrics":[{{"name":"claude_code.token.usage","unit":"tokens",
            "sum":{{"aggregationTemporality":{temporality},"isMonotonic":true,"dataPoints":[{}]}}}}]}}]}}]}}"#,
            dps.join(",")
        );
        decode_metrics(body.as_bytes(), Encoding::Json).unwrap()
    }

    fn input_of(events: &[Event]) -> Vec<u64> {
        events
            .iter()
            .map(|e| match &e.body {
                EventBody::AgentUsage { input_tokens, .. } => *input_tokens,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn delta_and_cumulative_token_metrics_count_increases() {
        let mut m = Mapper::default();
        let delta = m.metrics(&metrics_json(1, &[("s", "input", 10.0, 2000), ("s", "input", 5.0, 3000)]), 0);
        assert_eq!(input_of(&delta.events), [10, 5]);
        let cum = m.metrics(&metrics_json(2, &[("c", "input", 10.0, 2000), ("c", "input", 25.0, 3000)]), 0);
        assert_eq!(input_of(&cum.events), [10, 15]);
        // After a restart the series' last value comes back from the log.
        let mut fresh = Mapper::default();
        for ev in &cum.events {
            fresh.seen(ev);
        }
        let next = fresh.metrics(&metrics_json(2, &[("c", "input", 40.0, 4000)]), 0);
        assert_eq!(input_of(&next.events), [15]);
        let raw = cum.events.iter().filter_map(|e| match &e.body {
            EventBody::AgentUsage { raw, .. } => raw.clone(),
            _ => None,
        });
        assert!(raw.into_iter().all(|r| !r.contains("dev@example.com")));
    }

    #[test]
    fn metric_points_of_a_session_reporting_log_records_are_dropped() {
        let mut m = Mapper::default();
        let logs = decode_logs(CLAUDE_LOGS_JSON.as_bytes(), Encoding::Json).unwrap();
        m.logs(&logs, 0);
        let out = m
            .metrics(&metrics_json(1, &[("sess-1", "input", 10.0, 2000), ("other", "output", 3.0, 2000)]), 0);
        assert_eq!(out.dropped_points, 1);
        assert_eq!(out.events.len(), 1);
    }

    #[test]
    fn codex_and_gemini_records_name_their_agent() {
        assert_eq!(agent_and_name("codex.sse_event", None), ("codex".into(), "codex.sse_event".into()));
        assert_eq!(
            agent_and_name("api_response", Some("gemini-cli")),
            ("gemini_cli".into(), "gemini_cli.api_response".into())
        );
        assert_eq!(agent_and_name("api_request", Some("claude-code")).1, "claude_code.api_request");
        assert!(is_identity("user.email") && is_identity("contact_email") && !is_identity("model"));
    }
}
