#!/usr/bin/env python3
"""Durable `orc-log emit` latency, whole process, without and with a server.

Usage:
    python3 benches/storage/emit_latency.py --orc-log target/release/orc-log [--emits 300]
        [--workdir /tmp/emit-latency]

Each emit is one `orc-log --db DIR emit marker --label ...` process, timed from spawn to exit
(it exits after its event is fdatasynced: acknowledged). Two runs on fresh databases under
--workdir (same disk as the workspace, not tmpfs):

1. direct: no server; each emit opens the database, appends, syncs and exits;
2. server: `orc-log --db DIR serve` runs; each emit goes through its socket.

Prints p50, p99 and max in milliseconds for each, and the time of a no-op process
(`orc-log --version`) for scale. Python's standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_emits(orc: str, db: Path, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        p = subprocess.run([orc, "--db", str(db), "emit", "marker", "--label", f"m{i}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - start) * 1000)
        if p.returncode != 0:
            sys.exit(f"emit {i} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return times


def pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))]


def line(name: str, v: list[float]) -> str:
    return f"{name:<24}{statistics.median(v):>8.2f}{pct(v, 0.99):>8.2f}{max(v):>8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orc-log", required=True)
    ap.add_argument("--emits", type=int, default=300)
    ap.add_argument("--workdir", default="/tmp/emit-latency")
    a = ap.parse_args()
    work = Path(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    noop = []
    for _ in range(50):
        start = time.perf_counter()
        subprocess.run([a.orc_log, "--version"], stdout=subprocess.DEVNULL, check=True)
        noop.append((time.perf_counter() - start) * 1000)
    direct = run_emits(a.orc_log, work / "direct", a.emits)
    db = work / "served"
    server = subprocess.Popen([a.orc_log, "--db", str(db), "serve"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        ready = server.stdout.readline().decode().strip() if server.stdout else ""
        if ready != "ready":
            sys.exit(f"serve did not say ready (got {ready!r})")
        served = run_emits(a.orc_log, db, a.emits)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{a.emits} emits per run; whole process, ms")
    print(f"{'':<24}{'p50':>8}{'p99':>8}{'max':>8}")
    print(line("orc-log --version", noop))
    print(line("emit, no server", direct))
    print(line("emit, through serve", served))


if __name__ == "__main__":
    main()
