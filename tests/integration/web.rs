//! `orc-log serve --http`: each API endpoint against the CLI's own output,
//! the bind and token rules, and hostile captures. The browser drives the
//! UI in `web_ui`.

use crate::common::{
    assert_success, fixture_lines, ndjson, orc_process, parse_ndjson, run, run_stdin, stderr, stdout, temp_db,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `orc-log serve --http 127.0.0.1:0` (plus `extra` arguments) on `db`;
/// stopped with SIGTERM when dropped.
pub struct WebServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// Starts `orc-log serve ARGS` on `db` and waits for the URL it prints
/// after each of `announced` (stderr lines such as `orc-log: web view on
/// URL`, trailing `/` removed), in that order, and for its Unix socket, so
/// CLI commands go through it.
pub fn spawn_serve(db: &Path, args: &[&str], announced: &[&'static str]) -> (Child, Vec<String>) {
    let mut child = orc_process(db)
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    let prefixes = announced.to_vec();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            for (which, prefix) in prefixes.iter().enumerate() {
                if let Some(url) = line.strip_prefix(prefix) {
                    let _ = tx.send((which, url.trim_end_matches('/').to_owned()));
                }
            }
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let mut urls = vec![String::new(); announced.len()];
    for _ in announced {
        let (which, url) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("serve did not print its addresses:\n{}", log.lock().unwrap()));
        urls[which] = url;
    }
    let sock = db.join("serve.sock");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "server socket did not appear");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, urls)
}

impl WebServer {
    pub fn start(db: &Path, extra: &[&str]) -> WebServer {
        let args = [&["--http", "127.0.0.1:0"], extra].concat();
        let (child, mut urls) = spawn_serve(db, &args, &["orc-log: web view on "]);
        WebServer { child, base: urls.remove(0) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Stops a server a test started (SIGTERM, up to 15 s to exit, then
/// SIGKILL), never panicking (it runs in `Drop`).
pub fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for WebServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// An HTTP agent that returns every status (no error for 4xx/5xx).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET `url`: status, headers and body text.
pub fn get(url: &str) -> (u16, ureq::http::HeaderMap, String) {
    let mut resp = agent().get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.body_mut().read_to_string().unwrap();
    (status, headers, body)
}

/// GET `url`, asserted 200, as JSON.
#[track_caller]
pub fn get_json(url: &str) -> Value {
    let (status, _, body) = get(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// `q` percent-encoded for a query string.
pub fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The agent hook events of `tests/fixtures/agent-events.ndjson` (pane
/// `team:1.0`), moved to 23:20 on the fixture's day: 15 minutes after it.
pub fn agent_lines() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/agent-events.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("2026-11-28T09:00:", "2026-11-20T23:20:"))
        .collect()
}

/// Targets of the web fixture that only a script named (typos): no session
/// of the team, no card.
pub const UNREPORTED: [&str; 2] = ["porj:1.0", "proj:9.0"];

/// The fixture without its two `session_closed` events (the sessions stay
/// open, so the crashed pane shows as crashed), plus a later crash of the
/// engineer's pane, a hostile capture in `proj:2.0`, messages to two
/// mistyped targets ([`UNREPORTED`]) and an agent's hook events in
/// `team:1.0` ([`agent_lines`]).
pub fn web_db() -> (tempfile::TempDir, PathBuf) {
    let (dir, db) = temp_db();
    let mut lines: Vec<String> =
        fixture_lines().into_iter().filter(|l| !l.contains("\"session_closed\"")).collect();
    lines.push(
        json!({"kind": "crash", "target": "proj:1.0", "reason": "test: process exited with status 101",
               "detector": "web-test", "ts": "2026-11-20T23:04:56Z"})
        .to_string(),
    );
    lines.push(
        json!({"kind": "capture", "target": "proj:2.0", "content": HOSTILE, "ts": "2026-11-20T23:04:56.5Z"})
            .to_string(),
    );
    for (i, to) in UNREPORTED.iter().enumerate() {
        lines.push(
            json!({"kind": "message", "from": "a-script", "to": to, "text": "a script's typo",
                   "ts": format!("2026-11-20T23:04:5{}Z", 7 + i)})
            .to_string(),
        );
    }
    lines.extend(agent_lines());
    assert_success(run_stdin(&db, &["ingest", "-"], ndjson(&lines)), "ingest the web fixture");
    (dir, db)
}

/// A capture that would run script, write the clipboard (OSC 52), retitle
/// the terminal and flood the layout if it were interpreted.
pub const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\n\x1b]52;c;aGVsbG8=\x07\x1b]0;pwned\x07\x1b[31mred &amp; <b>bold</b>\x1b[0m\n";

#[test]
fn state_team_and_metrics_match_the_cli() {
    let (_dir, db) = web_db();
    let web = WebServer::start(&db, &[]);
    let cli: Value = serde_json::from_str(&stdout(&assert_success(
        run(&db, &["state", "--format", "json"]),
        "state --format json",
    )))
    .unwrap();
    assert_eq!(get_json(&web.url("/api/state")), cli, "/api/state = state --format json");
    let at = "2026-11-20T23:04:05Z";
    let cli_at: Value = serde_json::from_str(&stdout(&assert_success(
        run(&db, &["state", "--at", at, "--format", "json"]),
        "state --at",
    )))
    .unwrap();
    assert_eq!(get_json(&web.url(&format!("/api/state?at={at}"))), cli_at, "/api/state?at = state --at");
    let team = get_json(&web.url(&format!("/api/team?at={at}")));
    assert_eq!(team["state"], cli_at, "the team view carries the state of the same point");
    let team = get_json(&web.url("/api/team"));
    assert_eq!(team["state"]["seq"], cli["seq"]);
    let panes: Vec<&Value> = team["state"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["panes"].as_array().unwrap())
        .collect();
    let eng = panes.iter().find(|p| p["target"] == "proj:1.0").unwrap();
    assert_eq!(eng["status"], "crashed");
    assert_eq!(
        team["cards"]["proj:2.0"]["preview"].as_str().unwrap().lines().next().unwrap(),
        "<script>alert(1)</script><img src=x onerror=alert(2)>"
    );
    assert!(
        !team["cards"]["proj:2.0"]["preview"].as_str().unwrap().contains("\x1b]"),
        "OSC sequences are removed"
    );
    assert_eq!(team["cards"]["proj:0.0"]["last_out"]["to"], "proj:1.0", "the PM's last message out");
    assert_eq!(team["unreported"], json!(UNREPORTED), "targets only a message named");
    assert!(panes.iter().any(|p| p["target"] == "team:1.0"), "an agent's hook events report its pane");

    // Prometheus text, parsed, equals `metrics --format prometheus`.
    let (status, headers, text) = get(&web.url("/metrics"));
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let cli_text = stdout(&assert_success(run(&db, &["metrics", "--format", "prometheus"]), "metrics"));
    let parse = |t: &str| {
        let scrape = prometheus_parse::Scrape::parse(t.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let mut samples: Vec<String> = scrape
            .samples
            .iter()
            .map(|s| {
                // Labels are a HashMap: sorted, so the order is the same on both sides.
                let mut labels: Vec<(&String, &String)> = s.labels.iter().collect();
                labels.sort();
                format!("{} {labels:?} {:?}", s.metric, s.value)
            })
            .collect();
        samples.sort();
        samples
    };
    let samples = parse(&text);
    assert!(samples.iter().any(|s| s.starts_with("orc_log_events_total")), "{samples:?}");
    assert_eq!(samples, parse(&cli_text), "/metrics = metrics --format prometheus");
    let m = get_json(&web.url("/api/metrics"));
    assert!(
        m["families"].as_array().unwrap().iter().any(|f| f["name"] == "orc_log_message_response_seconds")
    );
}

/// Reads SSE `data:` lines from `url` on a thread; they arrive on the channel.
fn sse_lines(url: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(url)
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let reader = BufReader::new(resp.into_body().into_reader());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:"))
                && tx.send(data.to_owned()).is_err()
            {
                return;
            }
        }
    });
    rx
}

#[test]
fn events_stream_is_tail_json_then_new_events() {
    let (_dir, db) = web_db();
    let web = WebServer::start(&db, &[]);
    let tail = stdout(&assert_success(run(&db, &["tail", "--format", "json"]), "tail"));
    let expected: Vec<&str> = tail.lines().collect();
    let rx = sse_lines(&web.url("/api/events?from_seq=1"));
    for (i, want) in expected.iter().enumerate() {
        let got = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("event {} did not arrive", i + 1));
        assert_eq!(&got, want, "event {} differs from tail --format json", i + 1);
    }
    // An event committed after the stream caught up arrives, once.
    assert_success(run(&db, &["emit", "marker", "--label", "after the stream started"]), "emit");
    let next: Value = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(next["label"], "after the stream started");
    assert_eq!(next["seq"], expected.len() as u64 + 1);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "no duplicate");

    // Filters as tail's.
    let tail = stdout(&assert_success(
        run(
            &db,
            &["tail", "--format", "json", "--kind", "message", "--target", "proj:1.0", "--from-seq", "20"],
        ),
        "tail filtered",
    ));
    let rx = sse_lines(&web.url("/api/events?from_seq=20&kind=message&target=proj:1.0"));
    for want in tail.lines() {
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), want);
    }
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "nothing beyond the filter");
    // With the timeline's summary added, the rest as tail's.
    let rx = sse_lines(&web.url("/api/events?from_seq=1&kind=crash&summary=true"));
    let mut first: Value = serde_json::from_str(&rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(first["summary"], "traceback in pane [traceback-pattern]");
    first.as_object_mut().unwrap().remove("summary");
    let tail = stdout(&run(&db, &["tail", "--format", "json", "--kind", "crash", "-n", "2"]));
    assert_eq!(first, serde_json::from_str::<Value>(tail.lines().next().unwrap()).unwrap());
    let (status, _, body) = get(&web.url("/api/events?kind=nonsense"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown kind"));
}

#[test]
fn query_cast_timeline_and_search_match_the_cli() {
    let (dir, db) = web_db();
    let web = WebServer::start(&db, &[]);
    let sql =
        "SELECT target, count(*) AS captures, max(ts) AS last FROM captures GROUP BY target ORDER BY target";
    for format in ["json", "csv"] {
        let (status, headers, body) = get(&web.url(&format!("/api/query?format={format}&sql={}", enc(sql))));
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-orc-log-rows"], "4");
        let cli = stdout(&assert_success(run(&db, &["query", sql, "--format", format]), "query"));
        assert_eq!(body, cli, "/api/query?format={format} = query --format {format}");
    }
    let (status, _, body) =
        get(&web.url(&format!("/api/query?sql={}", enc("SELECT nope FROM\nevents WHERE"))));
    assert_eq!(status, 400);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert!(err["error"].as_str().unwrap().contains("query failed"), "{err}");
    assert!(err["line"].as_u64().is_some() && err["column"].as_u64().is_some(), "the SQL position: {err}");
    let (status, _, body) = get(&web.url(&format!("/api/query?sql={}", enc("DROP TABLE events"))));
    assert_eq!(status, 400);
    assert!(body.contains("read-only"), "{body}");

    // The pane player's cast is `session export`'s file, byte for byte.
    let file = dir.path().join("eng.cast");
    assert_success(
        run(
            &db,
            &["session", "export", "proj:1.0", "--format", "asciicast", "--output", file.to_str().unwrap()],
        ),
        "session export",
    );
    let (status, headers, cast) = get(&web.url("/api/panes/proj%3A1.0/cast"));
    assert_eq!(status, 200);
    assert_eq!(cast, std::fs::read_to_string(&file).unwrap(), "/api/panes/T/cast = session export");
    assert!(headers["x-orc-log-start"].to_str().unwrap().starts_with("2026-11-20T23:0"));
    let since = "2026-11-20T23:04:10Z";
    assert_success(
        run(&db, &["session", "export", "proj:1.0", "--since", since, "--output", file.to_str().unwrap()]),
        "session export --since",
    );
    let (_, _, cast) = get(&web.url(&format!("/api/panes/proj:1.0/cast?since={since}")));
    assert_eq!(cast, std::fs::read_to_string(&file).unwrap());
    assert_eq!(get(&web.url("/api/panes/nope:9.9/cast")).0, 404);
    assert_eq!(get(&web.url("/api/panes/not%20a%20target/cast")).0, 400);

    // Timeline: newest first, with the summaries; one event's JSON is tail's.
    let tl = get_json(&web.url("/api/timeline?kind=crash,marker&limit=10"));
    let kinds: Vec<&str> =
        tl["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["crash", "marker", "crash"]);
    assert_eq!(tl["items"][0]["summary"], "test: process exited with status 101 [web-test]");
    // Every kind has the summary `tail --format text` shows for it.
    let tl = get_json(&web.url("/api/timeline?target=team:1.0&limit=100"));
    let text = stdout(&assert_success(run(&db, &["tail", "--target", "team:1.0"]), "tail --target"));
    let items = tl["items"].as_array().unwrap();
    assert_eq!(items.len(), text.lines().count(), "{text}");
    for (item, line) in items.iter().rev().zip(text.lines()) {
        let summary = item["summary"].as_str().unwrap();
        assert!(!summary.is_empty(), "{item}");
        assert!(line.ends_with(summary), "{line:?} vs {item}");
    }
    let kinds: std::collections::BTreeSet<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    for kind in ["agent_session", "prompt", "tool_call", "notification", "agent_stop", "agent_hook", "alert"]
    {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }

    // The SQL page's shape: columns from the schema, NULL values and 0 rows included.
    for order in ["ASC", "DESC"] {
        let sql = format!("SELECT seq, ts, target, reason, excerpt FROM crashes ORDER BY seq {order}");
        let t = get_json(&web.url(&format!("/api/query?format=table&sql={}", enc(&sql))));
        assert_eq!(t["columns"], json!(["seq", "ts", "target", "reason", "excerpt"]), "{order}: {t}");
        let rows = t["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 5), "{t}");
    }
    let empty = enc("SELECT kind, seq FROM events WHERE seq < 0");
    let t = get_json(&web.url(&format!("/api/query?format=table&sql={empty}")));
    assert_eq!(t, json!({"columns": ["kind", "seq"], "rows": []}));
    let seq = tl["items"][0]["seq"].as_u64().unwrap();
    let tail = parse_ndjson(&stdout(&run(
        &db,
        &["tail", "--format", "json", "--from-seq", &seq.to_string(), "-n", "1"],
    )));
    let first = stdout(&run(&db, &["tail", "--format", "json", "--from-seq", &seq.to_string()]));
    assert_eq!(get(&web.url(&format!("/api/event/{seq}"))).2, first.lines().next().unwrap());
    assert!(!tail.is_empty());
    assert_eq!(get(&web.url("/api/event/999999")).0, 404);
    assert_eq!(get(&web.url("/api/timeline?since=yesterday")).0, 400);

    // Search: the API's hits are the CLI's.
    let cli = parse_ndjson(&stdout(&assert_success(
        run(&db, &["search", "missing_agent_module", "--format", "json"]),
        "search",
    )));
    let api = get_json(&web.url("/api/search?q=missing_agent_module"));
    let api_seqs: Vec<&Value> = api["hits"].as_array().unwrap().iter().map(|h| &h["seq"]).collect();
    let cli_seqs: Vec<&Value> = cli.iter().map(|h| &h["seq"]).collect();
    assert_eq!(api_seqs, cli_seqs);
    assert!(!cli_seqs.is_empty());
    assert_eq!(get(&web.url("/api/search?q=")).0, 400);
}

#[test]
fn only_get_is_served_and_pages_carry_a_strict_csp() {
    let (_dir, db) = web_db();
    let web = WebServer::start(&db, &[]);
    let (status, headers, body) = get(&web.url("/"));
    assert_eq!(status, 200);
    assert!(body.contains("<script src=\"app.js\" defer></script>"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let js = get(&web.url("/app.js")).2;
    assert!(
        !js.contains("innerHTML") && !js.contains("insertAdjacentHTML") && !js.contains("eval("),
        "text only"
    );
    let resp = agent().post(&web.url("/api/state")).send("").unwrap();
    assert_eq!(resp.status().as_u16(), 405, "the API is read-only");
    assert_eq!(get(&web.url("/api/nothing")).0, 404);
}

#[test]
fn non_loopback_needs_a_token_and_every_request_must_carry_it() {
    let (_dir, db) = temp_db();
    let out = run(&db, &["serve", "--http", "0.0.0.0:0"]);
    assert!(!out.status.success(), "a non-loopback bind without a token is refused");
    let err = stderr(&out);
    assert!(err.contains("--http-token") && err.contains("not a loopback address"), "{err}");
    assert!(!db.join("serve.sock").exists());
    let out = run(&db, &["serve", "--http", "0.0.0.0:0", "--http-token", "short"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at least 16 bytes"), "{}", stderr(&out));

    let token = "0123456789abcdef0123456789abcdef";
    let web = WebServer::start(&db, &["--http-token", token]);
    for path in ["/", "/app.js", "/api/state", "/metrics", "/api/events"] {
        let (status, headers, _) = get(&web.url(path));
        assert_eq!(status, 401, "{path} without the token");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    assert_eq!(get(&web.url("/api/state?token=wrong-token-of-some-length")).0, 401);
    let ok = agent()
        .get(&web.url("/api/state"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let (status, headers, _) = get(&web.url(&format!("/?token={token}")));
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("orc_log_token={token}")) && cookie.contains("HttpOnly"), "{cookie}");
    let with_cookie =
        agent().get(&web.url("/metrics")).header("Cookie", format!("orc_log_token={token}")).call().unwrap();
    assert_eq!(with_cookie.status().as_u16(), 200);
}
