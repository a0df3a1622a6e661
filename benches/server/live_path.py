#!/usr/bin/env python3
"""The live path: events arriving through `orc-log serve` a few at a time.

Replays an NDJSON set through the server's socket (docs/PROTOCOL.md) as a live
team would: requests of 1 to 8 events from several clients at once. Every few
seconds it samples the database's bytes (segments, sled index), the server's
RSS, and the request latencies so far; after the load it waits idle, then
reports bytes per event live and settled, against the same events bulk-ingested
and sealed (`orc-log ingest` + `orc-log seal`) and `zstd -3` of the NDJSON, in
one run.

    python3 benches/storage/make_set.py --events 100000 --out /tmp/set-100k.ndjson
    python3 benches/server/live_path.py --orc-log target/release/orc-log \\
        --ndjson /tmp/set-100k.ndjson --workdir /tmp/livepath
"""

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import threading
import time


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else 0.0


class Conn:
    """One client connection: length-delimited JSON frames (PROTOCOL.md)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        return buf

    def append(self, events):
        body = json.dumps({"v": 1, "op": "append", "events": events}).encode()
        self.s.sendall(struct.pack(">I", len(body)) + body)
        (n,) = struct.unpack(">I", self.recv_exact(4))
        resp = json.loads(self.recv_exact(n))
        if resp.get("type") != "appended":
            raise RuntimeError(f"append refused: {resp}")


def client(sock, batches, latencies_ms, acked, errors):
    conn = Conn(sock)
    for batch in batches:
        t = time.perf_counter()
        try:
            conn.append(batch)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))
            return
        latencies_ms.append((time.perf_counter() - t) * 1000)
        acked.append(len(batch))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", required=True)
    ap.add_argument("--ndjson", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--events", type=int, default=0, help="first N events of the set (0: all)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--sample-secs", type=float, default=5.0)
    ap.add_argument("--idle-secs", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    with open(args.ndjson) as f:
        lines = [l for l in f if l.strip()]
    if args.events:
        lines = lines[: args.events]
    events = [json.loads(l) for l in lines]
    sub = os.path.join(args.workdir, "events.ndjson")
    with open(sub, "w") as f:
        f.writelines(lines)

    # Requests of 1 to 8 events, dealt round-robin to the clients (in order).
    rng = random.Random(args.seed)
    batches, i = [], 0
    while i < len(events):
        n = rng.randint(1, 8)
        batches.append(events[i : i + n])
        i += n
    per_client = [batches[c :: args.clients] for c in range(args.clients)]

    live = os.path.join(args.workdir, "live")
    server = subprocess.Popen([args.orc_log, "--db", live, "serve"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    sock = os.path.join(live, "serve.sock")
    deadline = time.time() + 30
    while not os.path.exists(sock):
        if time.time() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.05)

    latencies, acked, errors = [], [], []
    threads = [threading.Thread(target=client, args=(sock, b, latencies, acked, errors)) for b in per_client]
    start = time.perf_counter()
    for t in threads:
        t.start()
    samples = []

    def sample(phase):
        samples.append({
            "phase": phase,
            "secs": round(time.perf_counter() - start, 1),
            "events_acked": sum(acked),
            "segments_bytes": dir_bytes(os.path.join(live, "segments")),
            "index_bytes": dir_bytes(os.path.join(live, "store")),
            "rss_mib": round(rss_mib(server.pid), 1),
            "p99_ms_so_far": round(pct(latencies, 99), 2),
        })
        print(json.dumps(samples[-1]), flush=True)

    while any(t.is_alive() for t in threads):
        time.sleep(args.sample_secs)
        sample("load")
    for t in threads:
        t.join()
    load_secs = time.perf_counter() - start
    if errors:
        raise SystemExit(f"client errors: {errors[:3]}")
    idle_end = time.perf_counter() + args.idle_secs
    while time.perf_counter() < idle_end:
        time.sleep(min(args.sample_secs, max(0.0, idle_end - time.perf_counter())))
        sample("idle")
    server.terminate()
    server.wait()

    bulk = os.path.join(args.workdir, "bulk")
    subprocess.run([args.orc_log, "--db", bulk, "ingest", sub], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run([args.orc_log, "--db", bulk, "seal"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    zst = sub + ".zst"
    subprocess.run(["zstd", "-3", "-q", "-f", sub, "-o", zst], check=True)

    n = len(events)
    settled = samples[-1]["segments_bytes"] + samples[-1]["index_bytes"]
    bulk_bytes = dir_bytes(bulk)
    print()
    print(f"events {n}, requests {len(batches)}, clients {args.clients}, load {load_secs:.1f} s "
          f"({n / load_secs:,.0f} events/s)")
    print(f"request latency: p50 {statistics.median(latencies):.2f} ms, p99 {pct(latencies, 99):.2f} ms, "
          f"max {max(latencies):.2f} ms")
    print(f"server RSS: first sample {samples[0]['rss_mib']} MiB, last {samples[-1]['rss_mib']} MiB")
    peak = max(s["segments_bytes"] + s["index_bytes"] for s in samples)
    print(f"live database after {args.idle_secs:.0f} s idle: {settled:,} bytes ({settled / n:.0f} B/event; "
          f"index {samples[-1]['index_bytes']:,}, segments {samples[-1]['segments_bytes']:,}); peak {peak:,}")
    print(f"bulk ingest + seal: {bulk_bytes:,} bytes ({bulk_bytes / n:.0f} B/event); live/bulk "
          f"{settled / bulk_bytes:.2f}x")
    print(f"NDJSON {os.path.getsize(sub):,} bytes; zstd -3 {os.path.getsize(zst):,} bytes; live/zstd "
          f"{settled / os.path.getsize(zst):.2f}x")


if __name__ == "__main__":
    main()
