#!/usr/bin/env python3
"""The live path: events arriving through `orc-log serve` a few at a time (issue 25).

The 1M-event run of issue 25's targets (release build; about 0.4 GB of NDJSON):

    python3 benches/storage/make_set.py --events 1000000 --out /tmp/lp/set-1m.ndjson
    python3 benches/server/live_path.py --orc-log target/release/orc-log \\
        --ndjson /tmp/lp/set-1m.ndjson --workdir /tmp/lp/run-1m --json-out /tmp/lp/live-1m.json

A quick run: `--events 20000 --idle-secs 70` against a smaller set.

What it does, in one run (standard library only; DuckDB runs in a separate interpreter,
--python, default .ci/venv/bin/python of the repository when it exists, which `.ci/setup-engines`
fills):

1. References, from the same events (the first --events lines of --ndjson): `orc-log ingest` +
   `orc-log seal` into WORKDIR/bulk; `zstd -3` of the NDJSON as one stream; the DuckDB table of
   benches/storage/vs_duckdb.py (same loader: read_json into one table `log` plus views, then
   CHECKPOINT) in WORKDIR/duck.duckdb (file + .wal). `--no-duckdb` skips DuckDB.
2. The live load: `orc-log --db WORKDIR/live serve` with its default flags (it seals in the
   background by itself: --seal-idle 60 --seal-age 900; `--serve-arg=--seal-idle=10`, repeatable,
   adds flags), then --clients (4) connections replaying the events in file order over the socket
   (docs/PROTOCOL.md), requests of 1 to 8 events, each client sending its next request as soon as
   the last one is answered (durable).
3. Every --sample-secs (5), one JSON line on stdout: events acknowledged; database bytes =
   segments (split by their 8-byte magic: sealed `ORCSEG2S`, unsealed `ORCSEG02`, other) + index
   (`store/`, sled) + `checkpoints/` (projection checkpoints), and that against the bulk database
   scaled to the events acknowledged (bulk bytes/event x events); server RSS (and peak, VmHWM) and
   CPU (utime + stime deltas of /proc/PID/stat, percent of one core); this benchmark's own CPU;
   p50/p99/max latency of the requests answered in the interval. One sample right when the load
   ends ("end of load"), then samples while idle, the last one --idle-secs (60) after the last
   append ("settled"), with the server still running; then `orc-log stats --format json` through
   the server (its storage breakdown, and the event count checked), and SIGTERM.
4. A summary table (bytes and bytes per event: NDJSON, zstd -3, DuckDB, bulk + seal, the live
   database at its peak, at the end of the load and settled) and PASS/FAIL against the targets
   of issue 25 (meant for 1M events): settled database <= 1.3x bulk + seal and index <= 15% of
   it; at every load sample, database <= 3x bulk scaled to the events acknowledged; server RSS
   <= 256 MiB at the last sample, and the last sample within 15% of the load sample nearest to
   half the events; request latency p99 <= 50 ms and max <= 250 ms over the whole run;
   throughput (events / time from the first request to the last answer) >= 6,400 events/s.
   --json-out PATH writes everything (config, references, samples, summary, checks).

Exit status 0 when the run completes, whether or not the targets are met (FAIL lines say which
are not); non-zero when a command, the server or a request fails, or when the live database
does not hold exactly the events acknowledged.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benches" / "storage"))
sys.dont_write_bytecode = True  # no __pycache__ left in the repository by the import below
import vs_duckdb as vs  # noqa: E402  (DuckDB loader, process and size helpers)

SEALED_MAGIC = b"ORCSEG2S"
UNSEALED_MAGIC = b"ORCSEG02"

# Issue 25's targets, for 1M events through the live path.
TARGETS = {
    "settled_vs_bulk": 1.3,        # database 60 s after the last append / bulk + seal
    "settled_index_share": 0.15,   # index bytes / database bytes, settled
    "load_vs_bulk": 3.0,           # every load sample: database / (bulk B/event x events)
    "rss_end_mib": 256.0,          # server RSS at the last sample
    "rss_drift": 0.15,             # |last sample - sample at half the events| / the latter
    "latency_p99_ms": 50.0,
    "latency_max_ms": 250.0,
    "events_per_s": 6400.0,
}
TARGET_EVENTS = 1_000_000

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- database bytes -----------------------------------------------------------------------

def walk_files(path: str):
    """(path, lstat) of every file under path; files that vanish meanwhile are skipped."""
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            try:
                yield p, os.lstat(p)
            except OSError:
                pass


def db_bytes(db: str) -> dict:
    """The database's bytes: segments (sealed, unsealed, other), index, checkpoints."""
    out = {"sealed_bytes": 0, "unsealed_bytes": 0, "other_segment_bytes": 0,
           "sealed_files": 0, "unsealed_files": 0, "other_segment_files": 0,
           "index_bytes": 0, "checkpoint_bytes": 0, "db_allocated_bytes": 0}
    for p, st in walk_files(os.path.join(db, "segments")):
        try:
            with open(p, "rb") as f:
                magic = f.read(8)
        except OSError:
            continue  # renamed or removed by a seal meanwhile
        kind = {SEALED_MAGIC: "sealed", UNSEALED_MAGIC: "unsealed"}.get(magic, "other_segment")
        out[f"{kind}_bytes"] += st.st_size
        out[f"{kind}_files"] += 1
        out["db_allocated_bytes"] += st.st_blocks * 512
    for sub, key in (("store", "index_bytes"), ("checkpoints", "checkpoint_bytes")):
        for _, st in walk_files(os.path.join(db, sub)):
            out[key] += st.st_size
            out["db_allocated_bytes"] += st.st_blocks * 512
    out["segment_bytes"] = out["sealed_bytes"] + out["unsealed_bytes"] + out["other_segment_bytes"]
    out["db_bytes"] = out["segment_bytes"] + out["index_bytes"] + out["checkpoint_bytes"]
    return out


# -- the server process ----------------------------------------------------------------------

def proc_status(pid: int) -> dict:
    """RSS and peak RSS (MiB), threads, and CPU seconds (utime + stime) of a process."""
    out = {"rss_mib": 0.0, "hwm_mib": 0.0, "threads": 0, "cpu_s": 0.0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mib"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["hwm_mib"] = int(line.split()[1]) / 1024
                elif line.startswith("Threads:"):
                    out["threads"] = int(line.split()[1])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        pass
    return out


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Server:
    def __init__(self, cmd: list[str], log_path: Path, timeout: float = 120.0):
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log_file,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        ready = threading.Event()

        def drain() -> None:
            for line in self.proc.stdout:
                if line.strip() == b"ready":
                    ready.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None:
                self.fail(f"the server exited ({self.proc.returncode}) before it was ready")
            if time.monotonic() > deadline:
                self.stop()
                self.fail(f"the server was not ready after {timeout:.0f} s")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def fail(self, why: str) -> None:
        sys.exit(f"{why}; its stderr ({self.log_path}):\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                log("the server did not stop within 60 s of SIGTERM: killing it")
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode


# -- the clients -------------------------------------------------------------------------------

class Conn:
    """One client connection: length-delimited JSON frames (docs/PROTOCOL.md)."""

    def __init__(self, path: str):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        return bytes(buf)

    def request(self, body: bytes) -> dict:
        self.s.sendall(struct.pack(">I", len(body)) + body)
        (n,) = struct.unpack(">I", self.recv_exact(4))
        return json.loads(self.recv_exact(n))

    def append(self, lines: list[bytes]) -> None:
        """Append NDJSON lines (each one JSON object, sent as is) as one request."""
        body = b'{"v":1,"op":"append","events":[' + b",".join(lines) + b"]}"
        resp = self.request(body)
        if resp.get("type") != "appended":
            raise RuntimeError(f"append refused: {resp}")
        got = resp["receipt"]["appended"] + resp["receipt"]["duplicates"]
        if got != len(lines):
            raise RuntimeError(f"sent {len(lines)} events, receipt says {resp['receipt']}")

    def close(self) -> None:
        self.s.close()


class Feeder:
    """The events in file order, dealt as requests of lo..hi events to whoever asks next."""

    def __init__(self, path: Path, events: int, lo: int, hi: int, seed: int):
        self.f = open(path, "rb")
        self.left = events
        self.lo, self.hi = lo, hi
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stopped = False

    def next_batch(self) -> list[bytes] | None:
        with self.lock:
            if self.stopped or self.left <= 0:
                return None
            want = min(self.rng.randint(self.lo, self.hi), self.left)
            lines = []
            while len(lines) < want:
                line = self.f.readline()
                if not line:
                    self.left = 0
                    break
                line = line.strip()
                if line:
                    lines.append(line)
            self.left -= len(lines)
            return lines or None

    def stop(self) -> None:
        with self.lock:
            self.stopped = True


def client(sock: str, feeder: Feeder, start: float, records: list, errors: list) -> None:
    """Send requests until the feeder is empty; records (end secs, latency ms, events)."""
    try:
        conn = Conn(sock)
    except OSError as e:
        errors.append(f"connect: {e}")
        feeder.stop()
        return
    try:
        while (batch := feeder.next_batch()) is not None:
            t = time.perf_counter()
            conn.append(batch)
            end = time.perf_counter()
            records.append((end - start, (end - t) * 1000, len(batch)))
    except Exception as e:  # noqa: BLE001 - reported by main
        errors.append(str(e))
        feeder.stop()
    finally:
        conn.close()


# -- statistics ----------------------------------------------------------------------------------

def pct(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when there are none)."""
    if not sorted_values:
        return None
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def mib(n: float | None) -> str:
    """Bytes for people: MiB from 1 MiB up, else KiB."""
    if n is None:
        return "-"
    return f"{n / 2**20:,.2f} MiB" if n >= 2**20 else f"{n / 2**10:,.1f} KiB"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


# -- main ----------------------------------------------------------------------------------------

def prepare_input(ndjson: Path, events: int, workdir: Path) -> tuple[Path, int]:
    """The NDJSON of the events replayed, and their number: the first `events` non-blank lines
    (copied to WORKDIR/events.ndjson), or the whole file when events is 0 or covers it."""
    total = 0
    with open(ndjson, "rb") as f:
        for line in f:
            if line.strip():
                total += 1
                if events and total > events:
                    break
    if not events or total <= events:
        if events and total < events:
            log(f"{ndjson} has only {total:,} events: replaying all of them")
        return ndjson, total
    sub = workdir / "events.ndjson"
    n = 0
    with open(ndjson, "rb") as src, open(sub, "wb") as dst:
        for line in src:
            if line.strip():
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                n += 1
                if n == events:
                    break
    return sub, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", required=True, type=Path, help="orc-log binary")
    ap.add_argument("--ndjson", required=True, type=Path, help="events (benches/storage/make_set.py)")
    ap.add_argument("--workdir", required=True, type=Path,
                    help="scratch directory (its live/, bulk/, duck.duckdb, events.ndjson and "
                         "serve.log are replaced)")
    ap.add_argument("--events", type=int, default=0, help="first N events of the set (0: all)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--min-batch", type=int, default=1, help="fewest events per request (1)")
    ap.add_argument("--max-batch", type=int, default=8, help="most events per request (8)")
    ap.add_argument("--sample-secs", type=float, default=5.0)
    ap.add_argument("--idle-secs", type=float, default=60.0,
                    help="the settled sample is taken this long after the last append (60)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the request sizes")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for `serve`, repeatable (--serve-arg=--seal-idle=10)")
    ap.add_argument("--python", default=vs.default_python(),
                    help="interpreter with the duckdb module (default: %(default)s)")
    ap.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB reference")
    ap.add_argument("--json-out", type=Path, help="write samples, summary and checks here")
    args = ap.parse_args()
    if not 1 <= args.min_batch <= args.max_batch:
        ap.error("need 1 <= --min-batch <= --max-batch")
    if args.clients < 1 or args.sample_secs <= 0 or args.idle_secs < 0:
        ap.error("need --clients >= 1, --sample-secs > 0, --idle-secs >= 0")

    orc = str(args.orc_log.resolve())
    if not os.access(orc, os.X_OK):
        sys.exit(f"not an executable: {orc}")
    ndjson = args.ndjson.resolve()
    if not ndjson.is_file():
        sys.exit(f"no such NDJSON file: {ndjson}")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    live, bulk = workdir / "live", workdir / "bulk"
    duck_files = [workdir / "duck.duckdb", workdir / "duck.duckdb.wal"]
    for d in (live, bulk):
        shutil.rmtree(d, ignore_errors=True)
    for f in duck_files + [workdir / "events.ndjson", workdir / "serve.log"]:
        f.unlink(missing_ok=True)

    duck_version = None
    if not args.no_duckdb:
        p = vs.spawn([args.python, "-c", vs.DUCK_VERSION])
        if p.rc != 0:
            sys.exit(f"{args.python} cannot import duckdb: run .ci/setup-engines (it installs "
                     f"duckdb into .ci/venv), or pass --python PY, or --no-duckdb\n{p.stderr}")
        duck_version = p.stdout.strip()
    orc_version = vs.must([orc, "--version"]).stdout.strip()
    started_utc = time.time()

    src, n_events = prepare_input(ndjson, args.events, workdir)
    if n_events == 0:
        sys.exit(f"{ndjson}: no events")
    ndjson_bytes = src.stat().st_size
    log(f"{n_events:,} events, {ndjson_bytes:,} bytes of NDJSON ({src})")

    # 1. References.
    log("bulk: orc-log ingest ...")
    bulk_ingest = vs.must([orc, "--db", str(bulk), "ingest", str(src)])
    log(f"  {bulk_ingest.wall_s:.1f} s; orc-log seal ...")
    bulk_seal = vs.must([orc, "--db", str(bulk), "seal"])
    log(f"  {bulk_seal.wall_s:.1f} s")
    bulk_sizes = db_bytes(str(bulk))
    bulk_b = bulk_sizes["db_bytes"]
    bulk_per_event = bulk_b / n_events
    zstd = shutil.which("zstd")
    zstd3 = None
    if zstd:
        log("zstd -3 of the NDJSON ...")
        zstd3 = vs.zstd_size(zstd, 3, src, workdir)
    else:
        log("no zstd CLI on PATH: the zstd -3 reference is skipped")
    duck = None
    if not args.no_duckdb:
        log(f"DuckDB load ({args.python}) ...")
        p = vs.must([args.python, "-c", vs.DUCK_LOAD, str(src), str(duck_files[0])])
        app, alloc = vs.sizes(duck_files)
        duck = {"bytes": app, "allocated_bytes": alloc, "load_s": p.wall_s, "version": duck_version}
        log(f"  {p.wall_s:.1f} s")

    # 2. The live load.
    serve_cmd = [orc, "--db", str(live), "serve", *args.serve_arg]
    log(f"starting {' '.join(serve_cmd)} ...")
    server = Server(serve_cmd, workdir / "serve.log")
    sock = str(live / "serve.sock")
    samples: list[dict] = []
    records: list[tuple[float, float, int]] = []
    errors: list[str] = []
    feeder = Feeder(src, n_events, args.min_batch, args.max_batch, args.seed)
    state = {"seen": 0, "events": 0, "secs": 0.0, "cpu": proc_status(server.pid)["cpu_s"],
             "self_cpu": self_cpu_s()}

    def sample(phase: str, now: float) -> dict:
        st = proc_status(server.pid)
        sizes = db_bytes(str(live))
        n = len(records)
        new = records[state["seen"]:n]
        lat = sorted(x[1] for x in new)
        events = state["events"] + sum(x[2] for x in new)
        dt = max(now - state["secs"], 1e-9)
        cpu, me = st["cpu_s"], self_cpu_s()
        s = {"phase": phase, "secs": round(now, 2), "events_acked": events, "requests": n,
             "events_per_s": round((events - state["events"]) / dt),
             "db_bytes": sizes["db_bytes"],
             "b_per_event": r(sizes["db_bytes"] / events, 1) if events else None,
             "x_bulk": r(sizes["db_bytes"] / (bulk_per_event * events)) if events else None,
             **{k: v for k, v in sizes.items() if k != "db_bytes"},
             "rss_mib": r(st["rss_mib"], 1), "hwm_mib": r(st["hwm_mib"], 1),
             "threads": st["threads"],
             "cpu_pct": None if phase == "start" else r((cpu - state["cpu"]) / dt * 100, 1),
             "client_cpu_pct": None if phase == "start" else r((me - state["self_cpu"]) / dt * 100, 1),
             "lat_n": len(lat), "lat_p50_ms": r(pct(lat, 50)), "lat_p99_ms": r(pct(lat, 99)),
             "lat_max_ms": r(lat[-1] if lat else None)}
        state.update(seen=n, events=events, secs=now, cpu=cpu, self_cpu=me)
        samples.append(s)
        print(json.dumps(s), flush=True)
        return s

    start = time.perf_counter()
    clock = lambda: time.perf_counter() - start  # noqa: E731
    try:
        sample("start", clock())
        left = [args.clients]
        left_lock = threading.Lock()
        load_done = threading.Event()

        def run_client() -> None:
            try:
                client(sock, feeder, start, records, errors)
            finally:
                with left_lock:
                    left[0] -= 1
                    if left[0] == 0:
                        load_done.set()

        threads = [threading.Thread(target=run_client, daemon=True) for _ in range(args.clients)]
        for t in threads:
            t.start()
        k = 1
        while not load_done.wait(max(0.0, k * args.sample_secs - clock())):
            sample("load", clock())
            k += 1
            if not server.alive():
                feeder.stop()
                server.fail(f"the server exited ({server.proc.returncode}) during the load")
        for t in threads:
            t.join()
        if errors:
            server.stop()
            sys.exit(f"client errors ({len(errors)}): {errors[:3]}; server stderr:\n"
                     f"{server.log_tail()}")
        last_ack = max(x[0] for x in records)
        sample("end of load", clock())
        log(f"load done: {n_events:,} events in {last_ack:.1f} s; idle {args.idle_secs:.0f} s ...")
        settle_at = last_ack + args.idle_secs
        t_next = last_ack + args.sample_secs
        while t_next < settle_at - 0.5:
            time.sleep(max(0.0, t_next - clock()))
            sample("idle", clock())
            t_next += args.sample_secs
        time.sleep(max(0.0, settle_at - clock()))
        settled = sample("settled", clock())
        if not server.alive():
            server.fail(f"the server exited ({server.proc.returncode}) while idle")
        stats_p = vs.spawn([orc, "--db", str(live), "stats", "--format", "json"], timeout=900)
        stats = None
        if stats_p.rc == 0:
            stats = json.loads(stats_p.stdout)
        else:
            log(f"orc-log stats through the server failed:\n{stats_p.stderr.strip()[-1000:]}")
    finally:
        feeder.stop()
        serve_rc = server.stop()
    if serve_rc != 0:
        log(f"the server exited {serve_rc} on SIGTERM; stderr:\n{server.log_tail()}")

    # 3. Summary and checks.
    load_s = last_ack
    lat_all = sorted(x[1] for x in records)
    eps = n_events / load_s
    load_samples = [s for s in samples if s["phase"] in ("load", "end of load") and s["events_acked"]]
    end_of_load = next(s for s in samples if s["phase"] == "end of load")
    peak = max(samples, key=lambda s: s["db_bytes"])
    worst = max(load_samples, key=lambda s: s["x_bulk"])
    half = min(load_samples, key=lambda s: abs(s["events_acked"] - n_events / 2))
    last = samples[-1]
    drift = abs(last["rss_mib"] - half["rss_mib"]) / half["rss_mib"] if half["rss_mib"] else None
    load_cpu = [s["cpu_pct"] for s in samples if s["phase"] in ("load", "end of load")]
    idle_cpu = [s["cpu_pct"] for s in samples if s["phase"] in ("idle", "settled")]
    settled_x = settled["db_bytes"] / bulk_b
    index_share = settled["index_bytes"] / settled["db_bytes"] if settled["db_bytes"] else 0.0
    p99, pmax = pct(lat_all, 99), lat_all[-1]
    t = TARGETS

    def check(name: str, what: str, value: float, limit: float, ok: bool, shown: str) -> dict:
        return {"name": name, "what": what, "value": value, "limit": limit, "pass": ok,
                "shown": shown}

    checks = [
        check("settled_vs_bulk",
              f"database {args.idle_secs:.0f} s after the last append <= {t['settled_vs_bulk']}x "
              "bulk ingest + seal", r(settled_x, 3), t["settled_vs_bulk"],
              settled_x <= t["settled_vs_bulk"],
              f"{settled_x:.2f}x ({mib(settled['db_bytes'])} vs {mib(bulk_b)})"),
        check("settled_index_share", f"index <= {t['settled_index_share']:.0%} of the database, "
              "settled", r(index_share, 4), t["settled_index_share"],
              index_share <= t["settled_index_share"],
              f"{index_share:.1%} ({mib(settled['index_bytes'])})"),
        check("load_vs_bulk", f"database <= {t['load_vs_bulk']}x bulk (scaled to the events "
              "acked) at every load sample", worst["x_bulk"], t["load_vs_bulk"],
              worst["x_bulk"] <= t["load_vs_bulk"],
              f"worst {worst['x_bulk']:.2f}x at {worst['secs']:.0f} s, "
              f"{worst['events_acked']:,} events ({mib(worst['db_bytes'])})"),
        check("rss_end_mib", f"server RSS <= {t['rss_end_mib']:.0f} MiB at the last sample",
              last["rss_mib"], t["rss_end_mib"], last["rss_mib"] <= t["rss_end_mib"],
              f"{last['rss_mib']:.1f} MiB (peak {last['hwm_mib']:.1f} MiB)"),
        check("rss_drift", f"last RSS within {t['rss_drift']:.0%} of the sample at half the events",
              r(drift, 4), t["rss_drift"], drift is not None and drift <= t["rss_drift"],
              f"{last['rss_mib']:.1f} vs {half['rss_mib']:.1f} MiB at "
              f"{half['events_acked']:,} events ({drift:+.1%})" if drift is not None else "n/a"),
        check("latency_p99_ms", f"request latency p99 <= {t['latency_p99_ms']:.0f} ms", r(p99),
              t["latency_p99_ms"], p99 <= t["latency_p99_ms"], f"{p99:.2f} ms"),
        check("latency_max_ms", f"request latency max <= {t['latency_max_ms']:.0f} ms", r(pmax),
              t["latency_max_ms"], pmax <= t["latency_max_ms"], f"{pmax:.2f} ms"),
        check("events_per_s", f"throughput >= {t['events_per_s']:,.0f} events/s", round(eps),
              t["events_per_s"], eps >= t["events_per_s"], f"{eps:,.0f} events/s"),
    ]
    stats_events = stats.get("events") if stats else None
    if stats and stats_events != n_events:
        errors.append(f"the live database holds {stats_events} events, {n_events} were acked")

    # The table.
    zstd_b = zstd3[0] if zstd3 else None
    duck_b = duck["bytes"] if duck else None
    rows = [("NDJSON", ndjson_bytes, None), ("zstd -3 of the NDJSON", zstd_b, None),
            (f"DuckDB table (duckdb {duck_version})" if duck else "DuckDB table (skipped)",
             duck_b, None),
            ("bulk ingest + seal", bulk_b, bulk_sizes),
            (f"live, peak ({peak['phase']}, {peak['secs']:.0f} s)", peak["db_bytes"], peak),
            ("live, end of load", end_of_load["db_bytes"], end_of_load),
            (f"live, settled ({args.idle_secs:.0f} s idle)", settled["db_bytes"], settled)]
    p = print
    p()
    p(f"## Live path: {n_events:,} events through serve ({orc_version}, {vs.machine()})")
    p()
    p(f"load: {len(records):,} requests of {args.min_batch}-{args.max_batch} events from "
      f"{args.clients} clients in {load_s:.1f} s = {eps:,.0f} events/s; latency p50 "
      f"{pct(lat_all, 50):.2f} ms, p99 {p99:.2f} ms, max {pmax:.2f} ms")
    p(f"server: RSS {samples[0]['rss_mib']:.1f} MiB at start, {half['rss_mib']:.1f} at "
      f"{half['events_acked']:,} events, {end_of_load['rss_mib']:.1f} at the end of the load, "
      f"{last['rss_mib']:.1f} settled (peak {last['hwm_mib']:.1f}); CPU "
      f"{(sum(load_cpu) / len(load_cpu)) if load_cpu else 0:.0f}% of a core during the load, "
      f"{(sum(idle_cpu) / len(idle_cpu)) if idle_cpu else 0:.0f}% idle; serve "
      f"{' '.join(args.serve_arg) or '(default flags)'}")
    p()
    p("| database | bytes | B/event | sealed | unsealed | index | checkpoints | x bulk | "
      "x zstd -3 | x DuckDB |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, b, parts in rows:
        if parts:
            split = (f"{mib(parts['sealed_bytes'])} | {mib(parts['unsealed_bytes'] + parts['other_segment_bytes'])} "
                     f"| {mib(parts['index_bytes'])} | {mib(parts['checkpoint_bytes'])}")
        else:
            split = "- | - | - | -"
        p(f"| {name} | {mib(b)} | {'-' if b is None else f'{b / n_events:,.1f}'} | {split} | "
          f"{ratio(b, bulk_b)} | {ratio(b, zstd_b)} | {ratio(b, duck_b)} |")
    p()
    if n_events != TARGET_EVENTS:
        p(f"Targets of issue 25 (set for {TARGET_EVENTS:,} events; this run has {n_events:,}):")
    else:
        p("Targets of issue 25:")
    for c in checks:
        p(f"  {'PASS' if c['pass'] else 'FAIL'}  {c['what']}: {c['shown']}")
    if stats_events is not None:
        p(f"  (orc-log stats through serve: {stats_events:,} events; "
          f"{'as acked' if stats_events == n_events else 'NOT the events acked'})")
    for e in errors:
        p(f"ERROR: {e}")

    if args.json_out:
        result = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "orc_log": {"binary": orc, "version": orc_version, "serve_cmd": serve_cmd},
            "machine": vs.machine(), "started_utc": started_utc,
            "input": {"path": str(src), "events": n_events, "ndjson_bytes": ndjson_bytes},
            "references": {
                "bulk": {**bulk_sizes, "ingest_s": bulk_ingest.wall_s, "seal_s": bulk_seal.wall_s,
                         "ingest_max_rss_kib": bulk_ingest.max_rss_kib,
                         "seal_max_rss_kib": bulk_seal.max_rss_kib,
                         "b_per_event": bulk_per_event},
                "zstd3": {"bytes": zstd3[0], "wall_s": zstd3[1]} if zstd3 else None,
                "duckdb": duck,
            },
            "samples": samples,
            "summary": {
                "events": n_events, "requests": len(records), "load_s": load_s,
                "events_per_s": eps,
                "latency_ms": {"p50": pct(lat_all, 50), "p99": p99, "max": pmax},
                "live_end_of_load": end_of_load, "live_settled": settled, "live_peak": peak,
                "b_per_event": {"ndjson": ndjson_bytes / n_events,
                                "zstd3": zstd_b / n_events if zstd_b else None,
                                "duckdb": duck_b / n_events if duck_b else None,
                                "bulk": bulk_per_event,
                                "live_end_of_load": end_of_load["db_bytes"] / n_events,
                                "live_settled": settled["db_bytes"] / n_events},
                "rss_mib": {"start": samples[0]["rss_mib"], "half": half["rss_mib"],
                            "half_events": half["events_acked"],
                            "end_of_load": end_of_load["rss_mib"], "last": last["rss_mib"],
                            "peak": last["hwm_mib"]},
                "cpu_pct_mean": {"load": sum(load_cpu) / len(load_cpu) if load_cpu else None,
                                 "idle": sum(idle_cpu) / len(idle_cpu) if idle_cpu else None},
                "serve_exit": serve_rc,
                "stats_via_serve": stats,
            },
            "targets": TARGETS, "target_events": TARGET_EVENTS,
            "checks": checks, "all_pass": all(c["pass"] for c in checks),
            "errors": errors,
        }
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
        log(f"results in {args.json_out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
