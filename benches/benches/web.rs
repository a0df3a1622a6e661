//! The web view under load: 160 panes, 50 events/s appended through a real
//! `orc-log serve --http`, three team pages open (`/api/team/live` event
//! streams, as the browser's team page). Prints how stale the pages are
//! (from an append's acknowledgement to the first team update that
//! includes it) and the CPU time of the server's web threads (named
//! `orc-log-web*`: the HTTP runtime, its blocking pool and the live
//! follower) against the whole server process. Not criterion: a plain
//! `harness = false` main. Results are in `BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p orc-log
//! cargo bench -p orc-log-benches --bench web
//! ```
//!
//! The binary is `$ORC_LOG_BIN`, or `target/release/orc-log`; when it is
//! missing the bench says so and skips that part. `WEB_BENCH_SECS` sets the
//! measured time (default 30 s).
//!
//! First, in process: full-text search (`orc-log search`, the timeline's
//! search box) over a 200k-event log (the fixture 1205 times, 88% captures).

use orc_log_benches::{build_fixture_log, orc_log_binary, read_reply, request_frame, scratch_in};
use orc_log_projections::search::{SearchOptions, search};
use orc_log_schemas::{Event, EventBody, Target, now_ns};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Panes in the team (8 sessions of 20 windows).
const PANES: usize = 160;
/// Events appended per second.
const RATE: u64 = 50;
/// Team pages open at once.
const PAGES: usize = 3;
/// Untimed run before the measurement.
const WARM_UP: Duration = Duration::from_secs(3);
/// The issue's bound on the web part's CPU, in % of one core.
const TARGET_CPU_PERCENT: f64 = 10.0;

fn target(i: usize) -> Target {
    Target::new(format!("team{}", i / 20), (i % 20) as u32, 0).unwrap_or_else(|e| panic!("{e}"))
}

/// A 40-row screen with colours whose last rows change with `n`.
fn screen(pane: usize, n: u64) -> String {
    let mut s = String::with_capacity(4096);
    for row in 0..40u64 {
        let v = if row >= 36 { n + row } else { row };
        s.push_str(&format!(
            "\x1b[3{}mpane {pane:03} row {row:02}\x1b[0m value {v:>8} {}\n",
            row % 8,
            "·".repeat(40)
        ));
    }
    s
}

/// The `i`-th event of the feed: mostly captures of a pane, every tenth a message.
fn feed_event(i: u64) -> Event {
    let pane = (i.wrapping_mul(7919) % PANES as u64) as usize;
    let body = if i % 10 == 9 {
        EventBody::Message {
            from: format!("agent-{pane:03}"),
            to: target((pane + 1) % PANES),
            text: format!("status update {i}"),
        }
    } else {
        EventBody::Capture {
            target: target(pane),
            content: screen(pane, i),
            width: Some(120),
            height: Some(40),
            cursor_x: None,
            cursor_y: None,
        }
    };
    Event { ts_ns: now_ns(), id: None, body }
}

/// The team: a session per 20 panes, a window and an agent per pane.
fn team_events() -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..PANES {
        let t = target(i);
        if i % 20 == 0 {
            events.push(Event {
                ts_ns: now_ns(),
                id: None,
                body: EventBody::SessionOpened { session: t.session.clone() },
            });
        }
        events.push(Event {
            ts_ns: now_ns(),
            id: None,
            body: EventBody::WindowOpened { target: t.clone(), name: Some(format!("w{i}")) },
        });
        events.push(Event {
            ts_ns: now_ns(),
            id: None,
            body: EventBody::AgentRegistered {
                target: t.clone(),
                role: "engineer".into(),
                name: Some(format!("agent-{i:03}")),
            },
        });
        events.push(Event {
            ts_ns: now_ns(),
            id: None,
            body: EventBody::Capture {
                target: t,
                content: screen(i, 0),
                width: Some(120),
                height: Some(40),
                cursor_x: None,
                cursor_y: None,
            },
        });
    }
    events
}

fn append(stream: &mut UnixStream, events: &[Event]) -> u64 {
    stream.write_all(&request_frame(events)).unwrap_or_else(|e| panic!("send: {e}"));
    let reply = read_reply(stream);
    reply["receipt"]["last_seq"].as_u64().unwrap_or_else(|| panic!("unexpected reply: {reply}"))
}

/// utime + stime of the server's threads, in clock ticks: (web threads, all).
fn cpu_ticks(pid: u32, seen: &mut std::collections::HashMap<u32, (bool, u64)>) -> (u64, u64) {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let comm = &stat[open + 1..close];
            let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
            // Fields after the name start at field 3 (state): utime is field 14, stime 15.
            let ticks = fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let tid = task.file_name().to_string_lossy().parse().unwrap_or(0);
            seen.insert(tid, (comm.starts_with("orc-log-web"), ticks));
        }
    }
    // Threads that ended keep their last sample.
    let web = seen.values().filter(|(w, _)| *w).map(|(_, t)| t).sum();
    let all = seen.values().map(|(_, t)| t).sum();
    (web, all)
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn start_server(bin: &Path, db: &Path) -> (Server, String) {
    let mut child = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let err = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("orc-log: web view on ") {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let base =
        rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("serve --http did not start"));
    let sock = db.join("serve.sock");
    let start = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "the socket did not appear");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(child), base)
}

/// Opens a team page's event stream; each update's seq and arrival time go to `updates`.
fn open_page(base: &str, updates: Arc<Mutex<Vec<(u64, Instant)>>>) {
    let resp = ureq::get(format!("{base}/api/team/live")).call().unwrap_or_else(|e| panic!("team/live: {e}"));
    std::thread::spawn(move || {
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            let Some(data) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) else {
                continue;
            };
            let now = Instant::now();
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            if let Some(seq) = v["state"]["seq"].as_u64() {
                updates.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((seq, now));
            }
        }
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Repetitions of the 166-event fixture in the search log (200,030 events).
const SEARCH_REPS: usize = 1205;

fn search_200k(base: &Path) {
    let scratch = scratch_in(base);
    let t = Instant::now();
    let log = build_fixture_log(&scratch.path().join("db"), SEARCH_REPS, 50);
    println!("search: built a {}-event log in {:.1} s", log.head().seq, t.elapsed().as_secs_f64());
    for (pattern, target) in [
        ("missing_agent_module", None),
        ("text that is nowhere", None),
        ("missing_agent_module", Some("proj:1.0")),
    ] {
        let opts = SearchOptions {
            pattern: pattern.into(),
            target: target.map(|t: &str| t.parse().unwrap_or_else(|e| panic!("{e}"))),
            ..SearchOptions::default()
        };
        let t = Instant::now();
        let mut hits = 0u64;
        let examined = search(&log, &opts, |_| {
            hits += 1;
            true
        })
        .unwrap_or_else(|e| panic!("search: {e}"));
        println!(
            "search {pattern:?}{}: {hits} hits, {examined} captures and messages read, {:.0} ms",
            target.map(|t| format!(" --target {t}")).unwrap_or_default(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` runs this too: nothing to measure there.
        return;
    }
    let base_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    search_200k(&base_dir);
    let bin = orc_log_binary();
    if !bin.is_file() {
        println!("web bench skipped: {} is missing (cargo build --release -p orc-log)", bin.display());
        return;
    }
    let secs: u64 = std::env::var("WEB_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let scratch = scratch_in(&base_dir);
    let db = scratch.path().join("db");
    let (server, base) = start_server(&bin, &db);
    let pid = server.0.id();
    let mut stream = UnixStream::connect(db.join("serve.sock")).unwrap_or_else(|e| panic!("connect: {e}"));
    append(&mut stream, &team_events());
    let updates: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    for _ in 0..PAGES {
        open_page(&base, Arc::clone(&updates));
    }
    let tick = Duration::from_nanos(1_000_000_000 / RATE);
    let mut acks: Vec<(u64, Instant)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut i = 0u64;
    let t0 = Instant::now();
    let mut next = t0;
    let mut cpu0 = None;
    let measure_from = t0 + WARM_UP;
    let end = measure_from + Duration::from_secs(secs);
    let mut last_sample = t0;
    while Instant::now() < end {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += tick;
        let seq = append(&mut stream, &[feed_event(i)]);
        i += 1;
        let now = Instant::now();
        if now >= measure_from {
            if cpu0.is_none() {
                cpu0 = Some((cpu_ticks(pid, &mut seen), now));
            }
            acks.push((seq, now));
        }
        if now.duration_since(last_sample) > Duration::from_millis(500) {
            cpu_ticks(pid, &mut seen);
            last_sample = now;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let ((web1, all1), t1) = (cpu_ticks(pid, &mut seen), Instant::now());
    let Some(((web0, all0), t_start)) = cpu0 else { panic!("no measurement") };
    let hz = clock_ticks_per_s();
    let wall = t1.duration_since(t_start).as_secs_f64();
    let web_cpu = 100.0 * (web1 - web0) as f64 / hz / wall;
    let all_cpu = 100.0 * (all1 - all0) as f64 / hz / wall;
    let updates = updates.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    // Staleness per page: ack of seq s -> first update of that page with seq >= s.
    // Updates from all pages are interleaved; take the earliest at or after the ack.
    let mut stale: Vec<Duration> = Vec::new();
    let mut missed = 0;
    for (seq, at) in &acks {
        match updates.iter().filter(|(s, t)| s >= seq && t >= at).map(|(_, t)| *t).min() {
            Some(t) => stale.push(t.duration_since(*at)),
            None => missed += 1,
        }
    }
    stale.sort();
    let per_page = updates.iter().filter(|(_, t)| *t >= t_start).count() as f64 / PAGES as f64 / wall;
    println!(
        "web view under load: {PANES} panes, {RATE} events/s ({} appended in {wall:.1} s), {PAGES} team pages",
        acks.len()
    );
    println!("  team updates per page: {per_page:.1}/s");
    println!(
        "  staleness (ack -> first page update with it): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, never seen {missed}",
        percentile(&stale, 50.0).as_secs_f64() * 1e3,
        percentile(&stale, 99.0).as_secs_f64() * 1e3,
        stale.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "  CPU of the web threads: {web_cpu:.1}% of a core (target < {TARGET_CPU_PERCENT}%); whole server: {all_cpu:.1}%"
    );
    drop(server);
}
