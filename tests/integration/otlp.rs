//! `orc-log serve --otlp`: OTLP/HTTP exports shaped as Claude Code sends
//! them (JSON as its http/json exporter writes it; protobuf built from the
//! `opentelemetry-proto` types, gzip-encoded), joined to the pane of the
//! hook session, deduplicated, refused when malformed, identities hashed,
//! and counted in `/metrics`.

use crate::common::{assert_success, run, run_stdin, stdout, temp_db};
use crate::web::agent;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Child;

/// `orc-log serve --otlp 127.0.0.1:0 --http 127.0.0.1:0` on a database,
/// stopped with SIGTERM when dropped.
pub struct OtlpServer {
    child: Child,
    /// `http://127.0.0.1:PORT` of the OTLP receiver.
    pub otlp: String,
    /// `http://127.0.0.1:PORT` of the web view.
    pub web: String,
}

impl OtlpServer {
    pub fn start(db: &Path) -> OtlpServer {
        let (child, urls) = crate::web::spawn_serve(
            db,
            &["--otlp", "127.0.0.1:0", "--http", "127.0.0.1:0"],
            &["orc-log: OTLP receiver on ", "orc-log: web view on "],
        );
        let [otlp, web]: [String; 2] = urls.try_into().unwrap();
        OtlpServer { child, otlp, web }
    }
}

impl Drop for OtlpServer {
    fn drop(&mut self) {
        crate::web::stop(&mut self.child);
    }
}

/// POSTs `body` to `url` with the content type (and `gzip` encoding):
/// status and body.
pub fn post(url: &str, content_type: &str, gzip: bool, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut req = agent().post(url).header("Content-Type", content_type);
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let mut resp = req.send(&body[..]).unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().unwrap())
}

/// A logs export as Claude Code's http/json exporter writes it: one
/// `claude_code.api_request` record (numbers as strings, the event name in
/// the body and in `event.name`, the standard identity attributes).
pub fn claude_logs_json(session: &str, seq: u64, cost: &str, email: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[
  {{"key":"service.name","value":{{"stringValue":"claude-code"}}}},
  {{"key":"service.version","value":{{"stringValue":"2.1.0"}}}}]}},
 "scopeLogs":[{{"scope":{{"name":"com.anthropic.claude_code.events","version":"2.1.0"}},"logRecords":[
  {{"timeUnixNano":"1764669600000000000","observedTimeUnixNano":"1764669600000000000",
   "body":{{"stringValue":"claude_code.api_request"}},
   "attributes":[
    {{"key":"event.name","value":{{"stringValue":"api_request"}}}},
    {{"key":"event.timestamp","value":{{"stringValue":"2025-12-02T10:00:00.000Z"}}}},
    {{"key":"event.sequence","value":{{"intValue":"{seq}"}}}},
    {{"key":"session.id","value":{{"stringValue":"{session}"}}}},
    {{"key":"prompt.id","value":{{"stringValue":"prompt-{seq}"}}}},
    {{"key":"app.version","value":{{"stringValue":"2.1.0"}}}},
    {{"key":"user.email","value":{{"stringValue":"{email}"}}}},
    {{"key":"organization.id","value":{{"stringValue":"org-42"}}}},
    {{"key":"model","value":{{"stringValue":"claude-opus-5"}}}},
    {{"key":"cost_usd","value":{{"stringValue":"{cost}"}}}},
    {{"key":"duration_ms","value":{{"stringValue":"1500"}}}},
    {{"key":"input_tokens","value":{{"stringValue":"100"}}}},
    {{"key":"output_tokens","value":{{"stringValue":"200"}}}},
    {{"key":"cache_read_tokens","value":{{"stringValue":"300"}}}},
    {{"key":"cache_creation_tokens","value":{{"stringValue":"40"}}}}]}}]}}]}}]}}"#
    )
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// The same record built from the `opentelemetry-proto` types (as the
/// SDK's protobuf exporter sends it: numbers as numbers).
pub fn claude_logs_proto(session: &str, seq: i64, cost: f64) -> ExportLogsServiceRequest {
    let record = LogRecord {
        time_unix_nano: 1_764_669_700_000_000_000,
        body: Some(AnyValue { value: Some(s("claude_code.api_request")) }),
        attributes: vec![
            kv("event.name", s("api_request")),
            kv("event.sequence", any_value::Value::IntValue(seq)),
            kv("session.id", s(session)),
            kv("prompt.id", s("prompt-p")),
            kv("user.email", s("proto@example.com")),
            kv("model", s("claude-sonnet-5-5")),
            kv("cost_usd", any_value::Value::DoubleValue(cost)),
            kv("duration_ms", any_value::Value::IntValue(800)),
            kv("input_tokens", any_value::Value::IntValue(10)),
            kv("output_tokens", any_value::Value::IntValue(20)),
            kv("cache_read_tokens", any_value::Value::IntValue(0)),
            kv("cache_creation_tokens", any_value::Value::IntValue(0)),
        ],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("claude-code"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: vec![record], ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An `agent_session` start for `session` in `target`, as the hook's SessionStart records it.
pub fn session_start(db: &Path, session: &str, target: &str) {
    let line = format!(
        r#"{{"kind":"agent_session","target":"{target}","agent_session_id":"{session}","phase":"start","reason":"startup"}}"#
    );
    assert_success(run_stdin(db, &["ingest"], line), "ingest SessionStart");
}

fn rows(db: &Path, sql: &str) -> Vec<Value> {
    let out = assert_success(run(db, &["query", sql, "--format", "ndjson"]), sql);
    stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn count(db: &Path) -> u64 {
    rows(db, "SELECT count(*) AS n FROM agent_usage")[0]["n"].as_u64().unwrap()
}

#[test]
fn otlp_exports_land_on_the_hook_sessions_pane_once() {
    let (_tmp, db) = temp_db();
    let server = OtlpServer::start(&db);
    let logs = format!("{}/v1/logs", server.otlp);
    session_start(&db, "sess-1", "team:1.0");

    // JSON, as Claude Code's http/json exporter sends it.
    let json = claude_logs_json("sess-1", 7, "0.25", "dev@example.com");
    let (status, body) = post(&logs, "application/json", false, json.clone().into_bytes());
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (200, "{}"));
    // Protobuf, gzip-encoded, for a session no hook has named yet.
    let proto = gzip(&claude_logs_proto("sess-2", 1, 0.5).encode_to_vec());
    let (status, body) = post(&logs, "application/x-protobuf", true, proto.clone());
    assert_eq!(status, 200);
    assert!(body.is_empty(), "an empty ExportLogsServiceResponse: {body:?}");
    assert_eq!(count(&db), 2);

    // A retried export appends nothing.
    assert_eq!(post(&logs, "application/json", false, json.into_bytes()).0, 200);
    assert_eq!(post(&logs, "application/x-protobuf", true, proto).0, 200);
    assert_eq!(count(&db), 2);

    // Malformed bodies: 400 with a google.rpc.Status, nothing stored.
    let (status, body) = post(&logs, "application/json", false, b"{\"resourceLogs\": [".to_vec());
    assert_eq!(status, 400);
    let st: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(st["code"], 3);
    assert!(st["message"].as_str().unwrap().contains("not an OTLP logs request"), "{st}");
    assert_eq!(post(&logs, "application/x-protobuf", false, vec![0xff; 7]).0, 400);
    assert_eq!(post(&logs, "application/x-protobuf", true, vec![1, 2, 3]).0, 400, "not gzip");
    assert_eq!(post(&logs, "text/plain", false, b"hi".to_vec()).0, 415);
    assert_eq!(count(&db), 2);

    // The hook names sess-2's pane later: its row joins it.
    session_start(&db, "sess-2", "team:2.0");
    let got = rows(
        &db,
        "SELECT target, agent, agent_session_id, source, event, model, input_tokens, output_tokens, \
         cache_read_tokens, cache_creation_tokens, cost_usd, duration_ns FROM agent_usage ORDER BY seq",
    );
    assert_eq!(got[0]["target"], "team:1.0");
    assert_eq!(got[0]["agent"], "claude_code");
    assert_eq!(got[0]["event"], "claude_code.api_request");
    assert_eq!(got[0]["source"], "otel");
    assert_eq!(got[0]["model"], "claude-opus-5");
    let tokens: Vec<u64> = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"]
        .iter()
        .map(|k| got[0][k].as_u64().unwrap())
        .collect();
    assert_eq!(tokens, [100, 200, 300, 40]);
    assert_eq!(got[0]["cost_usd"].as_f64(), Some(0.25));
    assert_eq!(got[0]["duration_ns"].as_u64(), Some(1_500_000_000));
    assert_eq!(
        (got[1]["target"].as_str(), got[1]["agent_session_id"].as_str()),
        (Some("team:2.0"), Some("sess-2"))
    );
    assert_eq!(got[1]["cost_usd"].as_f64(), Some(0.5));

    // Identities are hashed, never stored in clear.
    let all = stdout(&assert_success(run(&db, &["tail", "--format", "json"]), "tail"));
    for clear in ["dev@example.com", "proto@example.com", "org-42"] {
        assert!(!all.contains(clear), "{clear} stored in clear:\n{all}");
    }
    assert!(all.contains("blake3:"), "{all}");

    // The state shows the pane's cost; /metrics counts it.
    let state: Value =
        serde_json::from_str(&stdout(&assert_success(run(&db, &["state", "--format", "json"]), "state")))
            .unwrap();
    let panes: Vec<&Value> =
        state["sessions"].as_array().unwrap().iter().flat_map(|s| s["panes"].as_array().unwrap()).collect();
    let pane = |t: &str| panes.iter().find(|p| p["target"] == t).copied().unwrap();
    assert_eq!(pane("team:1.0")["usage"]["cost_usd"].as_f64(), Some(0.25));
    assert_eq!(pane("team:2.0")["usage"]["cost_usd"].as_f64(), Some(0.5), "joined once the pane was known");
    let text = crate::web::get(&format!("{}/metrics", server.web)).2;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                ref other => panic!("{name}: {other:?}"),
            })
    };
    assert_eq!(
        value("orc_log_agent_cost_usd_total", &[("target", "team:1.0"), ("model", "claude-opus-5")]),
        Some(0.25)
    );
    assert_eq!(
        value(
            "orc_log_agent_tokens_total",
            &[("target", "team:1.0"), ("model", "claude-opus-5"), ("type", "output")]
        ),
        Some(200.0)
    );
    assert_eq!(value("orc_log_agent_cost_usd_total", &[("model", "claude-sonnet-5-5")]), Some(0.5));
}

#[test]
fn otlp_metrics_count_increases_and_a_non_loopback_address_needs_a_token() {
    let (_tmp, db) = temp_db();
    let server = OtlpServer::start(&db);
    let metrics = format!("{}/v1/metrics", server.otlp);
    let body = |v: f64, t: u64| {
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"claude-code"}}}}]}},
            "scopeMetrics":[{{"metrics":[{{"name":"claude_code.cost.usage","unit":"USD",
            "sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{"attributes":[
              {{"key":"session.id","value":{{"stringValue":"m-1"}}}},{{"key":"model","value":{{"stringValue":"claude-opus-5"}}}}],
              "startTimeUnixNano":"1764669000000000000","timeUnixNano":"{t}","asDouble":{v}}}]}}}}]}}]}}]}}"#
        )
    };
    for (v, t) in [(0.5, 1_764_669_060_000_000_000u64), (1.25, 1_764_669_120_000_000_000)] {
        assert_eq!(post(&metrics, "application/json", false, body(v, t).into_bytes()).0, 200);
    }
    // Cumulative: the increases 0.5 and 0.75 are stored, summing to the last value.
    let got = rows(&db, "SELECT sum(cost_usd) AS c, count(*) AS n FROM agent_usage");
    assert_eq!((got[0]["c"].as_f64(), got[0]["n"].as_u64()), (Some(1.25), Some(2)));
    drop(server);
    // After a restart the series goes on from its last value.
    let server = OtlpServer::start(&db);
    let metrics = format!("{}/v1/metrics", server.otlp);
    assert_eq!(
        post(&metrics, "application/json", false, body(2.0, 1_764_669_180_000_000_000).into_bytes()).0,
        200
    );
    let got = rows(&db, "SELECT sum(cost_usd) AS c FROM agent_usage");
    assert_eq!(got[0]["c"].as_f64(), Some(2.0));
    drop(server);

    let out = run(&db, &["serve", "--otlp", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", crate::common::describe(&out));
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("--otlp 0.0.0.0:0 is not a loopback address") && err.contains("--http-token"),
        "{err}"
    );
}
