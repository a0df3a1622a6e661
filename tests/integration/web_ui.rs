//! The web view in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's `chromium-driver`), against the recorded
//! fixture served by `orc-log serve --http`.
//!
//! With `ORC_LOG_SCREENSHOTS=DIR` each page's screenshot is written there
//! (`docs/web-*.png` in the repository were made so).

use crate::common::{assert_success, ndjson, run, run_stdin, stdout};
use crate::web::{UNREPORTED, WebServer, web_db};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process and one browser session; both end when dropped.
struct Browser {
    driver: Child,
    url: String,
    _profile: tempfile::TempDir,
}

/// The WebDriver HTTP client (W3C WebDriver over plain HTTP: a handful of calls).
fn wd(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, Some(b)) => agent.post(url).send_json(b),
        (_, None) => agent.post(url).send_json(json!({})),
    }
    .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
    let status = resp.status().as_u16();
    let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    assert!(status < 300, "WebDriver {method} {url}: {status} {v}");
    v["value"].clone()
}

/// `chromedriver`, or `None` (test skipped) when it is missing and
/// `ORC_LOG_SKIP_BROWSER=1` says so; a panic when it is missing otherwise.
fn chromedriver() -> Option<PathBuf> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() && std::env::var("ORC_LOG_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("browser test skipped (ORC_LOG_SKIP_BROWSER=1): no chromedriver");
        return None;
    }
    Some(found.expect("the browser tests need chromium and chromedriver: `apt-get install chromium chromium-driver` (.ci/run installs them), or ORC_LOG_SKIP_BROWSER=1"))
}

impl Browser {
    fn start() -> Option<Browser> {
        let driver_path = chromedriver()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            let ready = ureq::get(format!("{base}/status"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok());
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("/usr/bin/chromium");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1440,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let session = wd("POST", &format!("{base}/session"), Some(caps));
        let id = session["sessionId"].as_str().expect("a WebDriver session id").to_owned();
        Some(Browser { driver, url: format!("{base}/session/{id}"), _profile: profile })
    }

    fn goto(&self, url: &str) {
        wd("POST", &format!("{}/url", self.url), Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    fn js(&self, script: &str, args: Value) -> Value {
        wd("POST", &format!("{}/execute/sync", self.url), Some(json!({"script": script, "args": args})))
    }

    /// Polls `script` until it returns something truthy (not null, false,
    /// 0, "" or []), for at most `secs` seconds; returns it.
    #[track_caller]
    fn wait(&self, what: &str, secs: u64, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script, json!([]));
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s (last: {v})");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a screenshot as `DIR/NAME.png` when `ORC_LOG_SCREENSHOTS=DIR`.
    fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("ORC_LOG_SCREENSHOTS") else { return };
        let png = wd("GET", &format!("{}/screenshot", self.url), None);
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let _ = agent.delete(&self.url).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Checks what a page shows of the hostile capture, `[text, elements made
/// from it, document title]`: the text as it was, no element, the title
/// untouched by its OSC 0.
#[track_caller]
fn assert_inert(shown: &Value, title: &str) {
    assert!(
        shown[0]
            .as_str()
            .unwrap()
            .starts_with("<script>alert(1)</script><img src=x onerror=alert(2)>\nred &amp; <b>bold</b>"),
        "{shown}"
    );
    assert_eq!(shown[1], 0, "no element made from captured text: {shown}");
    assert_eq!(shown[2], title, "OSC 0 did not retitle the page");
}

#[test]
fn the_web_view_in_a_real_browser() {
    let Some(browser) = Browser::start() else { return };
    let (_dir, db) = web_db();
    // What two agents cost (agent_usage, as serve --otlp records it).
    let usage = [
        json!({"kind": "agent_usage", "target": "proj:1.0", "agent": "claude_code", "agent_session_id": "s-eng",
               "source": "otel", "event": "claude_code.api_request", "model": "claude-opus-5",
               "input_tokens": 1000, "output_tokens": 500, "cost_usd": 1.25, "ts": "2026-11-20T23:04:30Z"}),
        json!({"kind": "agent_usage", "target": "proj:1.0", "agent": "claude_code", "agent_session_id": "s-eng",
               "source": "otel", "event": "claude_code.api_request", "model": "claude-opus-5",
               "output_tokens": 100, "cost_usd": 0.5, "ts": "2026-11-20T23:20:00Z"}),
        json!({"kind": "agent_usage", "target": "proj:2.0", "agent": "claude_code", "agent_session_id": "s-2",
               "source": "otel", "event": "claude_code.api_request", "model": "claude-sonnet-5-5",
               "input_tokens": 10, "cost_usd": 0.25, "ts": "2026-11-20T23:10:00Z"}),
    ];
    let usage: Vec<String> = usage.iter().map(Value::to_string).collect();
    assert_success(run_stdin(&db, &["ingest", "-"], ndjson(&usage)), "ingest usage");
    let web = WebServer::start(&db, &[]);

    // Team: every agent, the crashed pane marked crashed, the hostile capture as text.
    browser.goto(&web.url("/#team"));
    let cards = browser.wait(
        "five cards",
        20,
        "const c = [...document.querySelectorAll('.card')]; return c.length === 5 && c.map(x => [x.dataset.target, x.dataset.status, x.querySelector('.agent').textContent, x.querySelector('.badge').textContent]);",
    );
    let cards: Vec<Vec<String>> = serde_json::from_value(cards).unwrap();
    let state: Value = serde_json::from_str(&stdout(&run(&db, &["state", "--format", "json"]))).unwrap();
    for s in state["sessions"].as_array().unwrap() {
        for p in s["panes"].as_array().unwrap() {
            if UNREPORTED.contains(&p["target"].as_str().unwrap()) {
                continue;
            }
            let card =
                cards.iter().find(|c| c[0] == p["target"]).unwrap_or_else(|| panic!("no card for {p}"));
            assert_eq!(card[1], p["status"].as_str().unwrap(), "{card:?}");
            assert_eq!(card[1], card[3], "the status is shown as a word");
            let name = p["agent"].as_str().or(p["name"].as_str()).or(p["target"].as_str()).unwrap();
            assert_eq!(card[2], name, "each agent by name");
        }
    }
    let eng = cards.iter().find(|c| c[0] == "proj:1.0").unwrap();
    assert_eq!((eng[1].as_str(), eng[2].as_str()), ("crashed", "proj-eng"));
    // Each agent's cost on its card, as `state` has it.
    let costs = browser.js(
        "return [...document.querySelectorAll('.card')].filter(c => c.querySelector('.cost')).map(c => [c.dataset.target, Number(c.querySelector('.cost').dataset.costUsd), c.querySelector('.cost').textContent]);",
        json!([]),
    );
    let costs: Vec<(String, f64, String)> = serde_json::from_value(costs).unwrap();
    assert_eq!(
        costs.iter().map(|c| (c.0.as_str(), c.1)).collect::<Vec<_>>(),
        [("proj:1.0", 1.75), ("proj:2.0", 0.25)]
    );
    assert!(costs[0].2.contains("$1.75 total"), "{costs:?}");
    let hostile = browser.js(
        "const pre = document.querySelector('.card[data-target=\"proj:2.0\"] pre'); return [pre.textContent, document.querySelectorAll('#team-grid script, #team-grid img, #team-grid b').length, document.title];",
        json!([]),
    );
    assert_inert(&hostile, "orc-log");
    // Targets only a script named: listed apart, not as sessions of the team.
    let unknown = browser.js(
        "return [[...document.querySelectorAll('#team-unknown-list li')].map(li => li.dataset.target), document.getElementById('team-unknown').hidden, [...document.querySelectorAll('#team-grid .session')].map(s => s.dataset.session)];",
        json!([]),
    );
    assert_eq!(unknown[0], json!(UNREPORTED), "{unknown}");
    assert_eq!(unknown[1], false, "the unknown targets are shown");
    assert_eq!(unknown[2], json!(["orch", "proj", "team"]), "no session for a typo: {unknown}");
    // The header's counts are the cards' statuses.
    let header = browser.js(
        "const counts = {}; for (const c of document.querySelectorAll('#team-grid .card')) counts[c.dataset.status] = (counts[c.dataset.status] || 0) + 1; return [counts, Object.fromEntries([...document.querySelectorAll('#team-summary .count')].map(s => [s.dataset.status, Number(s.dataset.count)])), document.getElementById('team-summary').textContent];",
        json!([]),
    );
    let shown: serde_json::Map<String, Value> = serde_json::from_value(header[1].clone()).unwrap();
    for (status, n) in shown.iter() {
        assert_eq!(header[0][status].as_u64().unwrap_or(0), n.as_u64().unwrap(), "{status}: {header}");
    }
    assert_eq!(header[0]["crashed"], 1, "{header}");
    let text = header[2].as_str().unwrap();
    assert!(
        text.starts_with("5 panes: ") && text.contains("1 crashed") && text.contains("2 crash signals"),
        "{text}"
    );
    assert!(text.contains("2 unknown targets"), "{text}");
    browser.screenshot("web-team");

    // Live: an event committed after the page loaded shows without reload.
    browser.js("window.__loaded = true;", json!([]));
    let sent = Instant::now();
    assert_success(
        run(&db, &["emit", "message", "--from", "proj-pm", "--to", "proj:1.0", "--text", "live-update-7f3a"]),
        "emit",
    );
    browser.wait("the new message on the card", 10, "return [...document.querySelectorAll('.card[data-target=\"proj:1.0\"] .msg')].some(m => m.textContent.includes('live-update-7f3a'));");
    let latency = sent.elapsed();
    assert_eq!(browser.js("return window.__loaded === true;", json!([])), true, "no reload");
    eprintln!("web_ui: a committed message reached the team page in {latency:?}");
    assert!(latency < Duration::from_secs(3), "live update took {latency:?}");

    // Timeline: crashes stand out; a new event appears at the top; JSON opens.
    browser.goto(&web.url("/#timeline"));
    browser.wait("the timeline", 20, "return document.querySelectorAll('#tl-list li').length > 100;");
    let crash_rows =
        browser.js("return document.querySelectorAll('#tl-list li.kind-crash').length;", json!([]));
    assert_eq!(crash_rows, 2);
    browser.wait("the event stream", 10, "return true;");
    std::thread::sleep(Duration::from_millis(500));
    assert_success(run(&db, &["emit", "marker", "--label", "timeline-live-marker"]), "emit marker");
    browser.wait("the new marker on top", 10, "const li = document.querySelector('#tl-list li'); return li && li.classList.contains('kind-marker') && li.textContent.includes('timeline-live-marker');");
    browser.js("document.querySelector('#tl-list li.kind-crash').click();", json!([]));
    let detail = browser.wait(
        "the crash's JSON",
        10,
        "const t = document.getElementById('tl-detail').textContent; return t.startsWith('{') && t;",
    );
    let detail: Value = serde_json::from_str(detail.as_str().unwrap()).unwrap();
    assert_eq!(detail["kind"], "crash");
    // Its Share link: the report of the crash's pane around the crash's seq.
    let share = browser.wait(
        "the crash's Share link",
        10,
        "const a = document.getElementById('tl-share'); return !a.hidden && a.href;",
    );
    let want = format!("/api/panes/proj%3A1.0/report?around={}&format=html", detail["seq"]);
    assert!(share.as_str().unwrap().ends_with(&want), "{share} ends with {want}");
    // A summary on every agent kind's row, and the columns never overlap.
    let rows = browser.js(
        "return [...document.querySelectorAll('#tl-list li')].map(li => [li.className.split(' ')[0].slice(5), li.children[4].textContent]);",
        json!([]),
    );
    let rows: Vec<(String, String)> = serde_json::from_value(rows).unwrap();
    for kind in ["agent_session", "prompt", "tool_call", "notification", "agent_stop", "agent_hook", "alert"]
    {
        let row = rows.iter().find(|r| r.0 == kind).unwrap_or_else(|| panic!("no {kind} row in {rows:?}"));
        assert!(!row.1.trim().is_empty(), "{kind} has no summary");
    }
    let overlap = browser.js(
        "const li = document.querySelector('#tl-list li.kind-crash'); const [seq, ts, kind] = [...li.children]; return [ts.getBoundingClientRect().right <= kind.getBoundingClientRect().left, ts.scrollWidth <= ts.clientWidth, seq.getBoundingClientRect().right <= ts.getBoundingClientRect().left];",
        json!([]),
    );
    assert_eq!(overlap, json!([true, true, true]), "a crash row's timestamp fits its column");
    browser.screenshot("web-timeline");
    // The search box.
    browser.js("document.getElementById('tl-search').value = 'missing_agent_module'; document.querySelector('#tl-form button').click();", json!([]));
    browser.wait(
        "search hits",
        10,
        "return document.getElementById('tl-status').textContent.includes('hits for');",
    );

    // Pane player: plays, and jumps to just before the crash.
    browser.goto(&web.url("/#player/proj%3A1.0"));
    browser.wait("the cast", 20, "return document.querySelectorAll('#pl-ticks .tick.crash').length === 2 && !document.getElementById('pl-crash').disabled;");
    browser.js(
        "document.getElementById('pl-speed').value = '4'; document.getElementById('pl-play').click();",
        json!([]),
    );
    browser.wait(
        "playing frames",
        10,
        "return Number(document.getElementById('pl-screen').dataset.frame) > 3;",
    );
    browser.js("document.getElementById('pl-crash').click();", json!([]));
    let screen = browser.wait(
        "the frame before the crash",
        10,
        "const s = document.getElementById('pl-screen'); return document.getElementById('pl-play').textContent === 'Play' && s.textContent;",
    );
    assert!(
        screen.as_str().unwrap().contains("ModuleNotFoundError: No module named 'missing_agent_module'"),
        "{screen}"
    );
    let pos: f64 = browser
        .js("return Number(document.getElementById('pl-screen').dataset.pos);", json!([]))
        .as_f64()
        .unwrap();
    assert!((9.0..10.0).contains(&pos), "the first crash is 9.75 s into the cast: at {pos}");
    // "Next crash" again: the pane's second crash (the later one).
    browser.js("document.getElementById('pl-crash').click();", json!([]));
    let second: f64 = browser
        .wait(
            "the second crash",
            10,
            "const p = Number(document.getElementById('pl-screen').dataset.pos); return p > 10 && p;",
        )
        .as_f64()
        .unwrap();
    // The second crash (23:04:56) came after the pane's last capture: its last frame.
    let last_frame =
        browser.js("return player.frames[player.frames.length - 1][0];", json!([])).as_f64().unwrap();
    assert!(
        (second - last_frame).abs() < 0.002,
        "the frame before the second crash: {second} vs {last_frame}"
    );
    browser.js("document.getElementById('pl-crash').click();", json!([]));
    browser.wait(
        "back to the first crash",
        10,
        "return Number(document.getElementById('pl-screen').dataset.pos) < 10;",
    );
    // The idle limit: 3 s by default; a longer still screen plays as the limit.
    let idle = browser.js(
        "const f = [[0, 'a'], [1, 'b'], [100, 'c']]; return [document.getElementById('pl-idle').value, idleAdvance(f, 1, 3.5, 3, 200), idleAdvance(f, 1, 3.5, 0, 200), idleAdvance(f, 0.5, 0.2, 3, 200), idlePlayTime(f, 3, 100), document.getElementById('pl-time').textContent];",
        json!([]),
    );
    assert_eq!(idle[0], "3");
    assert_eq!(idle[1], 100.5, "3 s of the still frame, then the next frame: {idle}");
    assert_eq!(idle[2], 4.5, "no limit: {idle}");
    assert_eq!(idle[3], 0.7, "{idle}");
    assert_eq!(idle[4], 4.0, "{idle}");
    assert!(idle[5].as_str().unwrap().contains("with idle limit 3 s"), "{idle}");
    browser.screenshot("web-player");
    // Share: the report of the pane around the shown frame (before the
    // crash), a page the browser parses, with no script and no link out.
    let share = browser.js("return document.getElementById('pl-share').href;", json!([]));
    let share = share.as_str().unwrap().to_owned();
    assert!(share.contains("/api/panes/proj%3A1.0/report?around=2026-11-20T23%3A04%3A"), "{share}");
    browser.goto(&share);
    let page = browser.wait(
        "the shared report",
        20,
        "return document.readyState === 'complete' && document.querySelector('h1') && [document.title, document.querySelector('.moment pre.screen').textContent, [...document.querySelectorAll('.entry')].map(e => e.classList[1]), document.querySelectorAll('script, img, iframe, link, object, embed, [src], [href], [onerror]').length, getComputedStyle(document.querySelector('pre.screen')).backgroundColor];",
    );
    assert_eq!(page[0], "orc-log report: proj:1.0", "{page}");
    assert!(
        page[1].as_str().unwrap().contains("ModuleNotFoundError: No module named 'missing_agent_module'"),
        "the screen just before the crash: {page}"
    );
    let kinds: Vec<String> = serde_json::from_value(page[2].clone()).unwrap();
    for kind in ["capture", "message", "crash"] {
        assert!(kinds.iter().any(|k| k == kind), "a {kind} entry in {kinds:?}");
    }
    assert_eq!(page[3], 0, "nothing that runs or loads: {page}");
    assert_eq!(page[4], "rgb(17, 17, 17)", "the inline CSS applies under the report's CSP: {page}");
    // A hostile capture stays text in a report too.
    browser.goto(&web.url("/api/panes/proj%3A2.0/report"));
    let hostile = browser.wait(
        "the hostile pane's report",
        20,
        "const pre = document.querySelector('.moment pre.screen'); return pre && [pre.textContent, document.querySelectorAll('script, img, pre b, [onerror]').length, document.title];",
    );
    assert_inert(&hostile, "orc-log report: proj:2.0");

    // SQL: the rows of `orc-log query`.
    browser.goto(&web.url("/#sql"));
    let sql = "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind";
    browser.js("document.getElementById('sql-text').value = arguments[0]; document.getElementById('sql-run').click();", json!([sql]));
    let rows = browser.wait("the result table", 20, "const r = [...document.querySelectorAll('#sql-table tr')]; return r.length > 1 && r.map(tr => [...tr.children].map(c => c.textContent).join(','));");
    let csv = stdout(&assert_success(run(&db, &["query", sql, "--format", "csv"]), "query"));
    let want: Vec<&str> = csv.lines().collect();
    let got: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(got, want, "the page's table is `orc-log query`'s rows");
    browser.js("document.getElementById('sql-text').value = 'SELECT nope FROM'; document.getElementById('sql-run').click();", json!([]));
    let err = browser.wait(
        "the SQL error",
        10,
        "const e = document.getElementById('sql-error'); return !e.hidden && e.textContent;",
    );
    assert!(err.as_str().unwrap().contains("query failed"), "{err}");
    // A column whose first value is NULL is shown; so is the header of 0 rows.
    let run_sql = |sql: &str, rows: usize| {
        browser.js("document.getElementById('sql-table').replaceChildren(); document.getElementById('sql-text').value = arguments[0]; document.getElementById('sql-run').click();", json!([sql]));
        browser.wait(
            sql,
            20,
            &format!("const r = [...document.querySelectorAll('#sql-table tr')]; return r.length === {} && r.map(tr => [...tr.children].map(c => c.textContent));", rows + 1),
        )
    };
    for order in ["ASC", "DESC"] {
        let t =
            run_sql(&format!("SELECT seq, ts, target, reason, excerpt FROM crashes ORDER BY seq {order}"), 2);
        assert_eq!(t[0], json!(["seq", "ts", "target", "reason", "excerpt"]), "{order}: {t}");
        assert!(t.as_array().unwrap().iter().all(|r| r.as_array().unwrap().len() == 5), "{t}");
    }
    let t = run_sql("SELECT kind, seq FROM events WHERE seq < 0", 0);
    assert_eq!(t, json!([["kind", "seq"]]), "the header of 0 rows");
    assert!(
        browser
            .js("return document.getElementById('sql-status').textContent;", json!([]))
            .as_str()
            .unwrap()
            .starts_with("0 rows")
    );
    run_sql("SELECT seq, ts, target, reason, excerpt FROM crashes ORDER BY seq DESC", 2);
    browser.screenshot("web-sql");

    // Time travel: the grid as of an earlier time is `state --at`'s.
    let at = "2026-11-20T23:04:05Z";
    browser.goto(&web.url(&format!("/?at={at}#team")));
    let cards = browser.wait(
        "the earlier grid",
        20,
        "const c = [...document.querySelectorAll('.card')]; return document.getElementById('team-summary').textContent.includes('as of 2026-11-20T23:04:05') && c.map(x => [x.dataset.target, x.dataset.status, x.querySelector('.meta').textContent]);",
    );
    let cards: Vec<Vec<String>> = serde_json::from_value(cards).unwrap();
    let earlier: Value =
        serde_json::from_str(&stdout(&run(&db, &["state", "--at", at, "--format", "json"]))).unwrap();
    let panes: Vec<&Value> =
        earlier["sessions"].as_array().unwrap().iter().flat_map(|s| s["panes"].as_array().unwrap()).collect();
    assert_eq!(cards.len(), panes.len());
    for p in panes {
        let card = cards.iter().find(|c| c[0] == p["target"]).unwrap();
        assert_eq!(card[1], p["status"].as_str().unwrap());
        assert!(
            card[2].starts_with(&format!("{} captures · {} crashes", p["captures"], p["crashes"])),
            "{card:?} vs {p}"
        );
    }
    let eng = cards.iter().find(|c| c[0] == "proj:1.0").unwrap();
    assert_ne!(eng[1], "crashed", "before the crash");
    browser.screenshot("web-time-travel");

    // Metrics: the three charts draw.
    browser.goto(&web.url("/#metrics"));
    browser.wait("the charts", 20, "return ['m-events', 'm-crashes', 'm-latency'].every(id => document.querySelector('#' + id + ' svg rect'));");
    // A real time axis: a bar's x is linear in its time (the 15 quiet
    // minutes before the agent's events are 15 minutes of axis).
    let bars = browser.js(
        "return [...document.querySelectorAll('#m-events rect')].map(r => [Date.parse(r.dataset.ts), Number(r.getAttribute('x'))]);",
        json!([]),
    );
    let bars: Vec<(f64, f64)> = serde_json::from_value(bars).unwrap();
    let (first, last) = (bars.first().unwrap(), bars.last().unwrap());
    assert!(last.0 - first.0 >= 15.0 * 60_000.0, "{bars:?}");
    let px_per_ms = (last.1 - first.1) / (last.0 - first.0);
    for b in &bars {
        let want = first.1 + (b.0 - first.0) * px_per_ms;
        assert!((b.1 - want).abs() < 1.0, "bar at {} is at x {} not {want}", b.0, b.1);
    }
    // The legend: every kind in the log, none cut off.
    let kinds = stdout(&assert_success(
        run(&db, &["query", "SELECT DISTINCT kind FROM events ORDER BY kind", "--format", "csv"]),
        "kinds",
    ));
    let kinds: Vec<&str> = kinds.lines().skip(1).collect();
    let legend = browser.js(
        "return [...document.querySelectorAll('#m-events .legend-item')].map(i => { const r = i.getBoundingClientRect(); return [i.textContent, r.right <= window.innerWidth && r.width > 0 && i.scrollWidth <= i.clientWidth + 1]; });",
        json!([]),
    );
    let legend: Vec<(String, bool)> = serde_json::from_value(legend).unwrap();
    assert_eq!(legend.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), kinds);
    assert!(legend.iter().all(|l| l.1), "{legend:?}");
    // Cost per agent over time: bars per agent (by registered name), and the totals.
    let per_agent = browser.wait(
        "the cost chart",
        20,
        "const li = [...document.querySelectorAll('#m-cost-agents li')]; return document.querySelector('#m-cost svg rect') && li.length === 2 && [li.map(l => [l.dataset.agent, Number(l.dataset.costUsd)]), [...document.querySelectorAll('#m-cost .legend-item')].map(i => i.textContent).sort()];",
    );
    assert_eq!(
        per_agent,
        json!([[["proj-eng", 1.75], ["proj:2.0", 0.25]], ["proj-eng", "proj:2.0"]]),
        "{per_agent}"
    );
    browser.screenshot("web-metrics");
}
