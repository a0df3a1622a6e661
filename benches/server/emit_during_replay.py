#!/usr/bin/env python3
"""Does a projection replay through the server stall writers?

Builds (or reuses) a large NDJSON log, ingests it, starts `orc-log serve`, and
measures whole-process `orc-log emit marker` latency twice against the same
server: idle, and while `orc-log replay` (a rebuild of every projection from
seq 1, run through the server) runs back to back in another process. Prints
p50/p99/max for both and the replay time. Issue 12's target: emit p99 under
100 ms during replay on a 1M-event log.

    python3 benches/sql/make_large_ndjson.py --events 1000000 --out /tmp/1m.ndjson
    cargo build --release -p orc-log
    python3 benches/server/emit_during_replay.py --orc-log target/release/orc-log \\
        --ndjson /tmp/1m.ndjson --workdir /tmp/replaybench
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def emit_latencies(orc, db, n, label):
    out = []
    for i in range(n):
        t = time.perf_counter()
        subprocess.run([orc, "--db", db, "emit", "marker", "--label", f"{label} {i}"],
                       check=True, stdout=subprocess.DEVNULL)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", required=True, help="the orc-log binary")
    ap.add_argument("--ndjson", required=True, help="the log to ingest (make_large_ndjson.py)")
    ap.add_argument("--workdir", required=True, help="scratch directory (emptied)")
    ap.add_argument("--emits", type=int, default=300, help="emits per phase (default 300)")
    args = ap.parse_args()
    orc = os.path.abspath(args.orc_log)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    db = os.path.join(args.workdir, "db")
    t = time.perf_counter()
    subprocess.run([orc, "--db", db, "ingest", args.ndjson], check=True, stdout=subprocess.DEVNULL)
    print(f"ingest: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    server = subprocess.Popen([orc, "--db", db, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        head = subprocess.run([orc, "--db", db, "stats", "--format", "json"], check=True,
                              capture_output=True, text=True).stdout
        idle = emit_latencies(orc, db, args.emits, "idle")
        stop = threading.Event()
        replays = []

        def replay_loop():
            while not stop.is_set():
                t0 = time.perf_counter()
                subprocess.run([orc, "--db", db, "replay"], check=True, stdout=subprocess.DEVNULL)
                replays.append(time.perf_counter() - t0)

        th = threading.Thread(target=replay_loop)
        th.start()
        time.sleep(0.5)  # the first replay is folding
        busy = emit_latencies(orc, db, args.emits, "during replay")
        stop.set()
        th.join()
    finally:
        server.terminate()
        server.wait()
    import json
    events = json.loads(head)["events"] if head.strip().startswith("{") else "?"
    print(f"log: {events} events; replays run: {len(replays)}, each {statistics.median(replays):.2f} s (median)")
    print(f"{'emit latency (ms)':<28}{'p50':>8}{'p99':>8}{'max':>8}")
    for name, v in (("server idle", idle), ("during replay", busy)):
        print(f"{name:<28}{pct(v, 50):>8.1f}{pct(v, 99):>8.1f}{max(v):>8.1f}")
    print(f"p99 ratio during replay / idle: {pct(busy, 99) / pct(idle, 99):.2f}")


if __name__ == "__main__":
    main()
