#!/usr/bin/env python3
"""What does receiving agents' OpenTelemetry cost `orc-log serve`?

A team of agents exporting over OTLP sends a few log records per request
each; this drives `orc-log serve --otlp` at a steady rate of log records
(default 1,000 records/s, in exports of `--batch` records, the way the
OpenTelemetry SDK's batch processor sends them: http/json, one POST per
batch), shaped as Claude Code's `claude_code.api_request` records, for
`--seconds`, and reads the server's CPU time (user + system, from
/proc/PID/stat) before and after. Prints the CPU used as a share of one
core, the records stored (checked with `orc-log query`) and the POST
latency p50/p99.

Issue 21's target: 1,000 records/s cost under 5% of a core.

    cargo build --release -p orc-log
    python3 benches/otlp/otlp_cpu.py --orc-log target/release/orc-log --workdir /tmp/otlpbench
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request


def cpu_secs(pid):
    """User + system CPU seconds of process `pid` and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def export(first_seq, n, sessions):
    """An ExportLogsServiceRequest (OTLP JSON) with `n` api_request records."""
    records = []
    for i in range(n):
        seq = first_seq + i
        s = sessions[seq % len(sessions)]
        attrs = {
            "event.name": "api_request", "event.sequence": str(seq), "session.id": s,
            "prompt.id": f"prompt-{seq // 8}", "app.version": "2.1.0", "user.email": "dev@example.com",
            "terminal.type": "tmux", "model": "claude-opus-5", "cost_usd": "0.0123",
            "duration_ms": "2500", "input_tokens": "120", "output_tokens": "340",
            "cache_read_tokens": "1000", "cache_creation_tokens": "50",
        }
        records.append({
            "timeUnixNano": str(time.time_ns()),
            "body": {"stringValue": "claude_code.api_request"},
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
        })
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}],
    }]}).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", default="target/release/orc-log")
    ap.add_argument("--workdir", default="/tmp/otlpbench")
    ap.add_argument("--rate", type=int, default=1000, help="log records per second")
    ap.add_argument("--batch", type=int, default=50, help="records per export (POST)")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--sessions", type=int, default=8, help="agent sessions (panes) the records come from")
    args = ap.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    db = os.path.join(args.workdir, "db")
    env = dict(os.environ, ORC_LOG_DB=db)
    serve = subprocess.Popen([args.orc_log, "--db", db, "serve", "--otlp", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    url = None
    for line in serve.stderr:
        m = re.search(r"OTLP receiver on (http://\S+?)/?$", line.strip())
        if m:
            url = m.group(1) + "/v1/logs"
            break
    if not url:
        sys.exit("serve did not print the OTLP receiver's address")
    sessions = [f"bench-session-{i}" for i in range(args.sessions)]
    for i, s in enumerate(sessions):
        line = json.dumps({"kind": "agent_session", "target": f"team:{i}.0", "agent_session_id": s, "phase": "start"})
        subprocess.run([args.orc_log, "--db", db, "ingest", "-"], input=line.encode(), check=True, env=env)

    interval = args.batch / args.rate
    posts = int(args.seconds * args.rate / args.batch)
    bodies = [export(i * args.batch, args.batch, sessions) for i in range(posts)]
    latencies = []
    time.sleep(1)
    cpu0, t0 = cpu_secs(serve.pid), time.perf_counter()
    for i, body in enumerate(bodies):
        due = t0 + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 200, resp.status
            resp.read()
        latencies.append((time.perf_counter() - t) * 1000)
    elapsed = time.perf_counter() - t0
    cpu = cpu_secs(serve.pid) - cpu0
    # Let the keeper fold the last batch, then count what is stored.
    time.sleep(1.5)
    out = subprocess.run([args.orc_log, "--db", db, "query", "SELECT count(*) AS n, count(target) AS joined FROM agent_usage",
                          "--format", "csv"], capture_output=True, text=True, check=True, env=env)
    stored = out.stdout.strip().splitlines()[-1]
    serve.terminate()
    serve.wait(timeout=20)
    records = posts * args.batch
    print(f"{records} records in {posts} exports over {elapsed:.1f} s ({records / elapsed:.0f} records/s)")
    print(f"serve CPU: {cpu:.2f} s = {100 * cpu / elapsed:.2f}% of one core")
    print(f"stored (count, joined to a pane): {stored}")
    print(f"POST latency ms: p50 {pct(latencies, 50):.2f}  p99 {pct(latencies, 99):.2f}  max {max(latencies):.2f}")


if __name__ == "__main__":
    main()
