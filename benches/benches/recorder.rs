//! Recorder cost: CPU per pane per capture cycle and end-to-end capture
//! latency of `orc-log session record` on a private tmux server with 20 panes.
//!
//! ```sh
//! cargo build --release -p orc-log
//! cargo bench -p orc-log-benches --bench recorder
//! ```
//!
//! CPU is read from `/proc/PID/stat` (proc(5): utime + stime of the recorder
//! plus cutime + cstime of the tmux client processes it spawned and reaped),
//! in clock ticks (`getconf CLK_TCK`, 100 on Linux). The tmux server's own
//! CPU (it renders every `capture-pane`) is reported separately.

use orc_log_benches::orc_log_binary;
use orc_log_tmux::{Server, Spawn, Tmux};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PANES: usize = 20;
const RUN: Duration = Duration::from_secs(30);
/// Ticks per second of /proc times (`sysconf(_SC_CLK_TCK)`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime (+ cutime + cstime when `children`) of `pid`, in ticks.
fn cpu_ticks(pid: u32, children: bool) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" that ends the command name; utime is field 14 overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // rest[0] is field 3 (state), so field n is f[n - 3].
    let (utime, stime, cutime, cstime) = (f[11], f[12], f[13], f[14]);
    utime + stime + if children { cutime + cstime } else { 0 }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("recorder bench: skipped (run it with `cargo bench -p orc-log-benches --bench recorder`)");
        return;
    }
    let bin = orc_log_binary();
    if !bin.is_file() {
        println!(
            "recorder bench: no orc-log binary at {}; build it with `cargo build --release -p orc-log`",
            bin.display()
        );
        return;
    }
    let socket = format!("orc-log-bench-{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    // 20 panes (4 windows x 5 panes), each printing a line every second.
    let tmux =
        Server::start(Tmux::private(&socket), "bench", &Spawn::default().size(200, 60)).expect("tmux runs");
    for w in 0..4 {
        if w > 0 {
            tmux.new_window("bench", &Spawn::default()).expect("new-window");
        }
        for _ in 1..5 {
            tmux.split_window(&format!("bench:{w}"), &Spawn::default()).expect("split-window");
            tmux.run(["select-layout", "-t", &format!("bench:{w}"), "tiled"]).expect("select-layout");
        }
    }
    let panes: Vec<String> =
        tmux.list_panes().expect("list-panes").iter().map(|p| p.target.to_string()).collect();
    assert_eq!(panes.len(), PANES);
    for p in &panes {
        tmux.send_keys(p, "while true; do date +%T.%N; sleep 1; done").expect("send-keys");
    }
    let server_pid: u32 =
        tmux.display_message(None, "#{pid}").expect("tmux pid").trim().parse().expect("tmux pid");
    let server_before = cpu_ticks(server_pid, false);
    let mut rec = Command::new(&bin)
        .args(["--db", db.to_str().unwrap_or_default(), "session", "record", "--tmux-socket", &socket])
        .args(["--interval", "1s", "--duration", &format!("{}s", RUN.as_secs())])
        .stderr(Stdio::piped())
        .spawn()
        .expect("recorder starts");
    // Latency probes: a unique marker typed into pane 0 every 3 s.
    let started = Instant::now();
    let mut probes = Vec::new();
    std::thread::sleep(Duration::from_secs(2));
    let mut k = 0;
    while started.elapsed() < RUN - Duration::from_secs(3) {
        let mark = format!("probe-{k}-{}", std::process::id());
        let sent_ns = orc_log_schemas::now_ns();
        tmux.send_text(&panes[0], &format!("# {mark}")).expect("send-keys");
        probes.push((mark, sent_ns));
        k += 1;
        std::thread::sleep(Duration::from_secs(3));
    }
    // Read the recorder's CPU just before it exits (its children are reaped by then).
    let mut last = 0;
    let status = loop {
        if let Ok(Some(s)) = rec.try_wait() {
            break s;
        }
        last = cpu_ticks(rec.id(), true).max(last);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "recorder failed");
    let elapsed = started.elapsed().as_secs_f64();
    let server_ticks = cpu_ticks(server_pid, false) - server_before;
    drop(tmux);
    let out = Command::new(&bin)
        .args(["--db", db.to_str().unwrap_or_default(), "tail", "--format", "json", "--kind", "capture"])
        .output()
        .expect("tail");
    let captures: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut latencies_ms: Vec<f64> = probes
        .iter()
        .filter_map(|(mark, sent)| {
            let cap =
                captures.iter().find(|c| c["content"].as_str().is_some_and(|t| t.contains(mark.as_str())))?;
            let ts = orc_log_schemas::parse_rfc3339(cap["ts"].as_str()?).ok()?;
            Some((ts - sent) as f64 / 1e6)
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    let cycles = elapsed; // one cycle per second
    let cpu_secs = last as f64 / TICKS_PER_SEC;
    let pct_core = 100.0 * cpu_secs / elapsed;
    println!(
        "recorder bench: {PANES} panes, interval 1 s, {elapsed:.1} s, {} captures appended",
        captures.len()
    );
    println!(
        "recorder CPU (self + tmux clients): {cpu_secs:.2} s = {pct_core:.2}% of one core; {:.3} ms per pane per cycle (target < 2% of one core: {})",
        1000.0 * cpu_secs / (cycles * PANES as f64),
        if pct_core < 2.0 { "MET" } else { "NOT MET" }
    );
    println!(
        "tmux server CPU over the run: {:.2} s = {:.2}% of one core",
        server_ticks as f64 / TICKS_PER_SEC,
        100.0 * server_ticks as f64 / TICKS_PER_SEC / elapsed
    );
    if let (Some(min), Some(max)) = (latencies_ms.first(), latencies_ms.last()) {
        let p50 = latencies_ms[latencies_ms.len() / 2];
        println!(
            "capture latency (keys typed -> capture ts), {} probes: min {min:.0} ms, p50 {p50:.0} ms, max {max:.0} ms",
            latencies_ms.len()
        );
    }
}
