#!/usr/bin/env python3
"""orc-log against DuckDB on the same events, side by side: ingest, disk, queries, replay, verify.

Usage:
    python3 benches/storage/make_set.py --out /tmp/set-2m.ndjson          # 2,000,000 events
    python3 benches/storage/vs_duckdb.py --orc-log target/release/orc-log \\
        --ndjson /tmp/set-2m.ndjson --workdir /tmp/vs-duckdb [--runs 3] [--json OUT.json] \\
        [--python /path/to/python-with-duckdb] [--zstd19] [--query-timeout 600]

Standard library only; DuckDB runs in a separate interpreter, --python (default
.ci/venv/bin/python of the repository, or of /work/main, when it exists, else python3), which
must have the duckdb package. Every measurement is one whole process, from start to exit:

1. Ingest: `orc-log --db WORKDIR/orc ingest NDJSON` against a `PYTHON -c` process that loads
   the NDJSON (read_json with explicit columns: every field the generator writes) into one table
   `log` of a fresh WORKDIR/duck.duckdb, with views carrying orc-log's table names (events,
   captures, messages, schedules, crashes, markers, lifecycle; seq = rowid + 1, the line
   number). Wall time and peak RSS (os.wait4's ru_maxrss of that process and its children).
   Existing WORKDIR/orc and WORKDIR/duck.duckdb are deleted first.
2. Disk: WORKDIR/orc (every file) and the DuckDB file (+ .wal), apparent size (sum of st_size,
   `du -b`) and allocated blocks (st_blocks * 512, `du`), against `zstd -3` of the whole NDJSON
   as one stream (and `zstd -19` with --zstd19: slow). Without a `zstd` CLI that part is skipped.
3. Queries: the five queries README.md names below (read from its `sql` block, with the
   `duckdb-sql` spelling where README gives one), and two point queries: one pane's last 10
   events and a one-minute time range (pane and minute: the middle line of the NDJSON). Each
   engine runs each query once untimed (the outputs compared: numbers as numbers, timestamps as
   instants, durations in microseconds; in order, or as sets where the ORDER BY leaves ties or
   there is none), then --runs timed runs per engine, alternating. orc-log runs
   `query SQL --format csv` (with --timeout QUERY_TIMEOUT), DuckDB a `PYTHON -c` process that
   opens the file read-only and prints CSV.
4. Replay: `orc-log --db WORKDIR/orc replay` (all projections, from seq 1); verify:
   `orc-log --db WORKDIR/orc verify`. Each --runs times; events/s = events / median wall time
   of the whole process (what the command prints itself is shown too).

Prints a Markdown report on stdout with each figure, the orc-log/DuckDB ratio and PASS/FAIL
against the targets of issue 13: ingest <= 2x DuckDB's time and peak RSS <= 512 MiB; disk <=
1.5x DuckDB's file and <= 1.2x zstd -3 of the NDJSON (both apparent size and allocated blocks
must be within); queries geomean ratio <= 1.5 and none over 3; replay >= 1.5M events/s;
verify >= 1M events/s. --json OUT writes the raw numbers. Exit status 1 when a query's rows
differ or a command fails, else 0 (a missed target is reported, not an error).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

# The five README queries of the benchmark, by their `-- name` in README's `sql` block: the
# kinds of question issue 13 measured (events by kind, capture chars per pane, LIKE over
# capture text, a message text filter) plus a join. README's "message latency" query is left
# out: it joins every message with every later capture of its pane (about 10^9 rows at 2M
# events) and neither engine finishes it in minutes.
README_QUERY_NAMES = [
    "events per kind per 15 minutes",
    "busiest panes",
    "captures matching a pattern",
    "messages asking for a status, by day",
    "crashes per agent per hour",
]

TARGETS = {
    "ingest_time_ratio": 2.0,
    "ingest_peak_rss_mib": 512,
    "disk_vs_duckdb": 1.5,
    "disk_vs_zstd3": 1.2,
    "query_geomean_ratio": 1.5,
    "query_max_ratio": 3.0,
    "replay_events_per_s": 1.5e6,
    "verify_events_per_s": 1.0e6,
}

# Run as `PYTHON -c DUCK_LOAD NDJSON DBFILE`. With preserve_insertion_order (DuckDB's default)
# the table keeps file order, so rowid + 1 is the line number, orc-log's seq.
DUCK_LOAD = r'''
import sys, duckdb
src, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
src_sql = "'" + src.replace("'", "''") + "'"
con.execute(f"""
    CREATE TABLE log AS SELECT * FROM read_json({src_sql},
        format = 'newline_delimited',
        columns = {{kind: 'VARCHAR', ts: 'TIMESTAMPTZ', id: 'VARCHAR', session: 'VARCHAR',
                    target: 'VARCHAR', name: 'VARCHAR', role: 'VARCHAR',
                    width: 'UINTEGER', height: 'UINTEGER', cursor_x: 'UINTEGER',
                    cursor_y: 'UINTEGER', content: 'VARCHAR', "from": 'VARCHAR',
                    "to": 'VARCHAR', text: 'VARCHAR', label: 'VARCHAR', note: 'VARCHAR',
                    due: 'TIMESTAMPTZ', reason: 'VARCHAR', detector: 'VARCHAR',
                    excerpt: 'VARCHAR'}})""")
views = {
    "events": """SELECT rowid + 1 AS seq, ts, kind,
                 CASE WHEN kind = 'message' THEN "to" ELSE target END AS target FROM log""",
    "captures": """SELECT rowid + 1 AS seq, ts, target, width, height, content FROM log
                   WHERE kind = 'capture'""",
    "messages": """SELECT rowid + 1 AS seq, ts, "from" AS sender, "to" AS recipient, text,
                   "to" AS target FROM log WHERE kind = 'message'""",
    "schedules": """SELECT rowid + 1 AS seq, ts, target, note, due FROM log
                    WHERE kind = 'schedule'""",
    "crashes": """SELECT rowid + 1 AS seq, ts, target, reason, detector, excerpt FROM log
                  WHERE kind = 'crash'""",
    "markers": """SELECT rowid + 1 AS seq, ts, label, target FROM log WHERE kind = 'marker'""",
    "lifecycle": """SELECT rowid + 1 AS seq, ts, kind, target, session, name, role FROM log
                    WHERE kind IN ('session_opened', 'session_closed', 'window_opened',
                                   'window_renamed', 'window_closed', 'agent_registered')""",
}
for name, sql in views.items():
    con.execute(f"CREATE VIEW {name} AS {sql}")
con.execute("CHECKPOINT")
con.close()
'''

# Run as `PYTHON -c DUCK_QUERY DBFILE SQL`. TIMESTAMPTZ columns are cast to VARCHAR in DuckDB
# (fetching them as datetimes may need pytz); INTERVALs are printed as ISO 8601 durations of
# seconds, as orc-log prints them (PT907.856922S).
DUCK_QUERY = r'''
import csv, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")  # it prints to stdout, into the CSV
rel = con.sql(sys.argv[2])
if any(str(t) == "TIMESTAMP WITH TIME ZONE" for t in rel.types):
    quote = lambda c: '"' + c.replace('"', '""') + '"'
    rel = rel.project(", ".join(
        f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}"
        if str(t) == "TIMESTAMP WITH TIME ZONE" else quote(c)
        for c, t in zip(rel.columns, rel.types)))
intervals = [i for i, t in enumerate(rel.types) if str(t) == "INTERVAL"]
def iso(td):
    if td is None:
        return None
    us = (td.days * 86400 + td.seconds) * 1000000 + td.microseconds
    sign, us = ("-" if us < 0 else ""), abs(us)
    return f"{sign}PT{us // 1000000}.{us % 1000000:06d}S"
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(rel.columns)
rows = rel.fetchall()
if intervals:
    rows = [tuple(iso(v) if i in intervals else v for i, v in enumerate(r)) for r in rows]
out.writerows(rows)
'''

DUCK_VERSION = "import duckdb; print(duckdb.__version__)"


# -- processes ----------------------------------------------------------------------------

@dataclass
class Proc:
    wall_s: float
    max_rss_kib: int
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def error(self, cmd: list[str]) -> str:
        why = "timed out" if self.timed_out else f"exit {self.rc}"
        shown = " ".join(c if len(c) < 120 else c[:100] + "..." for c in cmd)
        return f"command failed ({why}): {shown}\n{self.stderr.strip()[-2000:]}"


def spawn(cmd: list[str], timeout: float | None = None) -> Proc:
    """Run cmd as one process; its wall time and peak RSS (itself and its children)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as e:
            return Proc(0.0, 0, 127, "", f"cannot start {cmd[0]}: {e}")
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            proc.send_signal(signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(wall, usage.ru_maxrss, proc.returncode,
                    out.read().decode("utf-8", errors="replace"),
                    err.read().decode("utf-8", errors="replace"), fired.is_set())


def must(cmd: list[str], timeout: float | None = None) -> Proc:
    p = spawn(cmd, timeout)
    if p.rc != 0:
        sys.exit(p.error(cmd))
    return p


# -- sizes ---------------------------------------------------------------------------------

def sizes(paths: list[Path]) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of files, and of every file under directories."""
    apparent = allocated = 0
    for path in paths:
        if not path.exists():
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            st = f.lstat()
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def zstd_size(zstd: str, level: int, src: Path, workdir: Path) -> tuple[int, float]:
    dest = workdir / f"ndjson.zstd{level}.zst"
    dest.unlink(missing_ok=True)
    cmd = [zstd, f"-{level}", "-T1", "-q", "-f", str(src), "-o", str(dest)]
    if level > 19:
        cmd.insert(1, "--ultra")
    p = must(cmd)
    size = dest.stat().st_size
    dest.unlink()
    return size, p.wall_s


# -- README and input ----------------------------------------------------------------------

def blocks(text: str) -> list[tuple[str, list[str]]]:
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if cur is None:
                cur = (line[3:].strip(), [])
            else:
                out.append(cur)
                cur = None
        elif cur is not None:
            cur[1].append(line)
    return out


def named_statements(lines: list[str]) -> dict[str, str]:
    """{name: statement} for each `;`-ended statement named by its leading `-- comment`."""
    out, name, body = {}, None, []
    for line in lines:
        s = line.strip()
        if s.startswith("--") and not body:
            name = s[2:].strip()
        elif s:
            body.append(s)
            if s.endswith(";"):
                out[name] = " ".join(body)[:-1]
                name, body = None, []
    return out


@dataclass
class Query:
    name: str
    orc_sql: str
    duck_sql: str
    ordered: bool  # its ORDER BY fixes the order of every row


def readme_queries() -> list[Query]:
    sql: dict[str, str] = {}
    duck: dict[str, str] = {}
    for lang, lines in blocks(README.read_text()):
        if lang == "sql":
            sql.update(named_statements(lines))
        elif lang == "duckdb-sql":
            duck.update(named_statements(lines))
    missing = [n for n in README_QUERY_NAMES if n not in sql]
    if missing:
        sys.exit(f"{README}: no query named {missing} in its ```sql block; update "
                 f"README_QUERY_NAMES in {__file__}")
    # Orders that leave ties (crashes per agent per hour: two agents with the same count) or
    # none (schedules that never fired) are compared as sets of rows.
    total_order = {"busiest panes", "captures matching a pattern", "events per kind per 15 minutes",
                   "messages asking for a status, by day"}
    return [Query(n, sql[n], duck.get(n, sql[n]), n in total_order) for n in README_QUERY_NAMES]


def scan_input(path: Path) -> tuple[int, str, str]:
    """(events, a pane target, an RFC 3339 minute) from the NDJSON: lines, middle line's."""
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
        size = f.tell()
        f.seek(size // 2)
        f.readline()
        target = minute = ""
        for line in f:
            event = json.loads(line)
            minute = minute or event["ts"][:16] + ":00Z"
            target = event.get("target") or event.get("to") or ""
            if target and event["kind"] == "capture":
                break
    if not (target and minute):
        sys.exit(f"{path}: no capture event with a target and ts after the middle line")
    return n, target, minute


def point_queries(target: str, minute: str) -> list[Query]:
    start = dt.datetime.fromisoformat(minute.replace("Z", "+00:00"))
    end = (start + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    quoted = target.replace("'", "''")
    last10 = (f"SELECT seq, ts, kind, target FROM events WHERE target = '{quoted}' "
              "ORDER BY seq DESC LIMIT 10")
    window = (f"SELECT seq, ts, kind, target FROM events WHERE ts >= '{minute}' "
              f"AND ts < '{end}' ORDER BY seq")
    return [Query(f"point: last 10 events of {target}", last10, last10, True),
            Query(f"point: one minute from {minute}", window, window, True)]


# -- result comparison ---------------------------------------------------------------------

ISO_DURATION = re.compile(r"^(-)?PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?$")


def normalise_cell(cell: str) -> object:
    """A CSV cell as a comparable value: int, float, UTC instant, duration, or the string."""
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        pass
    if len(cell) >= 19 and cell[4] == "-" and cell[10] in "T " and cell[13] == ":":
        try:
            ts = dt.datetime.fromisoformat(cell)
            if ts.tzinfo is not None:
                return ts.astimezone(dt.timezone.utc).isoformat()
        except ValueError:
            pass
    if cell.startswith(("PT", "-PT")) and (m := ISO_DURATION.match(cell)):
        us = (int(m[2] or 0) * 3600 + int(m[3] or 0) * 60 + int(m[4] or 0)) * 10**6
        us += int((m[5] or "").ljust(9, "0")[:6])
        return f"duration {-us if m[1] else us} us"
    return cell


def parse_csv(text: str) -> list[list[object]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[:1] + [[normalise_cell(c) for c in row] for row in rows[1:]]


def compare(orc: list[list[object]], duck: list[list[object]], ordered: bool) -> str:
    """'yes' when equal, else a short description of the first difference."""
    if orc[:1] != duck[:1]:
        return f"NO: columns {orc[:1]} vs {duck[:1]}"
    if len(orc) != len(duck):
        return f"NO: {len(orc) - 1} rows vs {len(duck) - 1}"
    if orc == duck:
        return "yes"
    if not ordered:
        key = lambda row: [repr(c) for c in row]  # noqa: E731
        if sorted(orc[1:], key=key) == sorted(duck[1:], key=key):
            return "yes (as sets)"
    for i, (a, b) in enumerate(zip(orc[1:], duck[1:]), start=1):
        if a != b:
            return f"NO: row {i}: orc-log {a!r} vs DuckDB {b!r}"
    return "NO"


# -- report helpers -------------------------------------------------------------------------

def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc = {nproc}, {cpu}, {platform.system()} {platform.release()}, load {load}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def secs(s: float) -> str:
    return f"{s:,.2f} s" if s >= 1 else f"{s * 1000:,.1f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def rate(eps: float) -> str:
    return f"{eps / 1e6:,.2f} M events/s" if eps >= 1e6 else f"{eps / 1e3:,.0f} k events/s"


def default_python() -> str:
    for root in (REPO_ROOT, Path("/work/main")):
        venv = root / ".ci" / "venv" / "bin" / "python"
        if venv.exists():
            return str(venv)
    return shutil.which("python3") or sys.executable


REPORTED_RATE = re.compile(r"\(([\d.]+) events/s\)")


# -- main -----------------------------------------------------------------------------------

@dataclass
class QueryResult:
    query: Query
    rows: int = 0
    same: str = ""
    orc_s: list[float] = field(default_factory=list)
    duck_s: list[float] = field(default_factory=list)
    error: str = ""
    first: tuple[float | None, float | None] = (None, None)  # untimed runs, None: failed

    @property
    def ratio(self) -> float:
        if self.error or not self.orc_s or not self.duck_s:
            return math.inf
        return statistics.median(self.orc_s) / statistics.median(self.duck_s)


def run_query(q: Query, orc: list[str], duck: list[str], runs: int, timeout: float) -> QueryResult:
    res = QueryResult(q)
    orc_cmd = orc + [q.orc_sql, "--format", "csv"]
    duck_cmd = duck + [q.duck_sql]
    first_orc = spawn(orc_cmd, timeout + 30)
    first_duck = spawn(duck_cmd, timeout + 30)
    res.first = (first_orc.wall_s if first_orc.rc == 0 else None,
                 first_duck.wall_s if first_duck.rc == 0 else None)
    for p, cmd, who in ((first_orc, orc_cmd, "orc-log"), (first_duck, duck_cmd, "DuckDB")):
        if p.rc != 0:
            res.error = p.error(cmd)
            print(res.error, file=sys.stderr)
            why = "timed out" if p.timed_out or "timeout" in p.stderr.lower() else "failed"
            res.same = f"n/a ({who} {why} after {secs(p.wall_s)})"
            return res
    orc_rows, duck_rows = parse_csv(first_orc.stdout), parse_csv(first_duck.stdout)
    res.rows = len(orc_rows) - 1
    res.same = compare(orc_rows, duck_rows, q.ordered)
    del orc_rows, duck_rows, first_orc, first_duck
    for _ in range(runs):
        for cmd, times in ((orc_cmd, res.orc_s), (duck_cmd, res.duck_s)):
            p = spawn(cmd, timeout + 30)
            if p.rc != 0:
                res.error = p.error(cmd)
                print(res.error, file=sys.stderr)
                return res
            times.append(p.wall_s)
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orc-log", required=True, type=Path, help="orc-log binary")
    parser.add_argument("--ndjson", required=True, type=Path, help="events, NDJSON")
    parser.add_argument("--workdir", required=True, type=Path, help="scratch directory")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query and engine")
    parser.add_argument("--python", default=default_python(),
                        help="interpreter with duckdb (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument("--zstd19", action="store_true", help="also zstd -19 (slow)")
    parser.add_argument("--query-timeout", type=float, default=600.0,
                        help="seconds a query may run (orc-log query --timeout), default 600")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    orc_bin = str(args.orc_log.resolve())
    ndjson = args.ndjson.resolve()
    if not ndjson.is_file():
        sys.exit(f"no such NDJSON file: {ndjson}")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    orc_db = workdir / "orc"
    duck_db = workdir / "duck.duckdb"
    duck_files = [duck_db, duck_db.with_name(duck_db.name + ".wal")]
    if orc_db.exists():
        shutil.rmtree(orc_db)
    for stale in duck_files:
        stale.unlink(missing_ok=True)

    orc_version = must([orc_bin, "--version"]).stdout.strip()
    duck_version = spawn([args.python, "-c", DUCK_VERSION])
    if duck_version.rc != 0:
        sys.exit(f"{args.python} cannot import duckdb (use --python):\n{duck_version.stderr}")
    duck_version = duck_version.stdout.strip()
    query_help = must([orc_bin, "query", "--help"]).stdout
    orc_query = [orc_bin, "--db", str(orc_db), "query"]
    if "--timeout" in query_help:
        orc_query += ["--timeout", f"{int(args.query_timeout)}s"]
    duck_query = [args.python, "-c", DUCK_QUERY, str(duck_db)]

    queries = readme_queries()
    n_events, target, minute = scan_input(ndjson)
    queries += point_queries(target, minute)
    ndjson_bytes = ndjson.stat().st_size
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr)  # noqa
    started = time.time()

    # 1. Ingest.
    log(f"orc-log ingest of {n_events:,} events ...")
    orc_ingest = must([orc_bin, "--db", str(orc_db), "ingest", str(ndjson)])
    log(f"  {secs(orc_ingest.wall_s)}; DuckDB load ...")
    duck_ingest = must([args.python, "-c", DUCK_LOAD, str(ndjson), str(duck_db)])
    log(f"  {secs(duck_ingest.wall_s)}")

    # 2. Disk.
    orc_app, orc_alloc = sizes([orc_db])
    duck_app, duck_alloc = sizes(duck_files)
    zstd = shutil.which("zstd")
    zstd3 = zstd19 = None
    if zstd:
        log("zstd -3 of the NDJSON ...")
        zstd3 = zstd_size(zstd, 3, ndjson, workdir)
        if args.zstd19:
            log("zstd -19 of the NDJSON (slow) ...")
            zstd19 = zstd_size(zstd, 19, ndjson, workdir)
    else:
        log("no zstd CLI on PATH: the zstd comparison is skipped")

    # 3. Queries.
    results = []
    for q in queries:
        log(f"query {q.name} ...")
        results.append(run_query(q, orc_query, duck_query, args.runs, args.query_timeout))

    # 4. Replay and verify.
    lifecycle = {}
    for what in ("replay", "verify"):
        log(f"orc-log {what} x{args.runs} ...")
        walls, reported = [], []
        for _ in range(args.runs):
            p = must([orc_bin, "--db", str(orc_db), what])
            walls.append(p.wall_s)
            reported = [float(x) for x in REPORTED_RATE.findall(p.stdout + p.stderr)]
        lifecycle[what] = (walls, reported)
    log(f"done in {time.time() - started:,.0f} s")

    # The numbers and verdicts.
    ingest_ratio = orc_ingest.wall_s / duck_ingest.wall_s
    orc_rss_mib = orc_ingest.max_rss_kib / 1024
    disk_duck = (orc_app / duck_app, orc_alloc / duck_alloc)
    disk_zstd3 = (orc_app / zstd3[0], orc_alloc / zstd3[0]) if zstd3 else None
    ratios = [r.ratio for r in results]
    finite = all(math.isfinite(x) for x in ratios)
    geomean = math.exp(statistics.fmean(math.log(x) for x in ratios)) if finite else math.inf
    replay_eps = n_events / statistics.median(lifecycle["replay"][0])
    verify_eps = n_events / statistics.median(lifecycle["verify"][0])
    t = TARGETS
    checks = {
        "ingest_time": ingest_ratio <= t["ingest_time_ratio"],
        "ingest_rss": orc_rss_mib <= t["ingest_peak_rss_mib"],
        "disk_vs_duckdb": max(disk_duck) <= t["disk_vs_duckdb"],
        "disk_vs_zstd3": (max(disk_zstd3) <= t["disk_vs_zstd3"]) if disk_zstd3 else None,
        "query_geomean": geomean <= t["query_geomean_ratio"],
        "query_max": max(ratios) <= t["query_max_ratio"],
        "replay": replay_eps >= t["replay_events_per_s"],
        "verify": verify_eps >= t["verify_events_per_s"],
    }

    # Report.
    p = print
    p(f"## orc-log vs DuckDB: {n_events:,} events\n")
    p(f"- Input: `{ndjson}`, {n_events:,} events, {ndjson_bytes:,} bytes ({mib(ndjson_bytes)})")
    p(f"- {orc_version} (`{orc_bin}`); duckdb {duck_version} (`{args.python}`)")
    p(f"- Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}")
    p(f"- Whole processes. Queries: one untimed run per engine (outputs compared), then "
      f"median of {args.runs} timed runs, alternating engines. Replay, verify: median of "
      f"{args.runs} runs.")
    p()
    p("| Measure | orc-log | DuckDB / reference | orc-log / reference | Target | Result |")
    p("|---|---:|---:|---:|---|---|")
    p(f"| Ingest, wall | {secs(orc_ingest.wall_s)} "
      f"({n_events / orc_ingest.wall_s / 1e3:,.0f} k events/s) | {secs(duck_ingest.wall_s)} "
      f"| {ingest_ratio:.2f} | <= {t['ingest_time_ratio']}x | {verdict(checks['ingest_time'])} |")
    p(f"| Ingest, peak RSS | {orc_rss_mib:,.0f} MiB | {duck_ingest.max_rss_kib / 1024:,.0f} MiB "
      f"| {orc_ingest.max_rss_kib / duck_ingest.max_rss_kib:.2f} "
      f"| orc-log <= {t['ingest_peak_rss_mib']} MiB | {verdict(checks['ingest_rss'])} |")
    p(f"| Disk vs DuckDB file, apparent / allocated | {mib(orc_app)} / {mib(orc_alloc)} "
      f"| {mib(duck_app)} / {mib(duck_alloc)} | {disk_duck[0]:.2f} / {disk_duck[1]:.2f} "
      f"| <= {t['disk_vs_duckdb']}x | {verdict(checks['disk_vs_duckdb'])} |")
    if zstd3:
        p(f"| Disk vs `zstd -3` of the NDJSON ({secs(zstd3[1])}) | {mib(orc_app)} / "
          f"{mib(orc_alloc)} | {mib(zstd3[0])} | {disk_zstd3[0]:.2f} / {disk_zstd3[1]:.2f} "
          f"| <= {t['disk_vs_zstd3']}x | {verdict(checks['disk_vs_zstd3'])} |")
    else:
        p("| Disk vs `zstd -3` of the NDJSON | | no `zstd` CLI: skipped | | "
          f"<= {t['disk_vs_zstd3']}x | n/a |")
    if zstd19:
        p(f"| Disk vs `zstd -19` of the NDJSON ({secs(zstd19[1])}) | {mib(orc_app)} | "
          f"{mib(zstd19[0])} | {orc_app / zstd19[0]:.2f} | (reported) | |")
    p(f"| Queries, geomean of the ratios | | | {geomean:.2f} "
      f"| <= {t['query_geomean_ratio']} | {verdict(checks['query_geomean'])} |")
    p(f"| Queries, largest ratio | | | {max(ratios):.2f} | <= {t['query_max_ratio']} "
      f"| {verdict(checks['query_max'])} |")
    for what, key in (("replay", "replay_events_per_s"), ("verify", "verify_events_per_s")):
        walls, reported = lifecycle[what]
        eps = n_events / statistics.median(walls)
        shown = ", ".join(rate(x) for x in reported)
        p(f"| `{what}`, whole process | {rate(eps)} ({secs(statistics.median(walls))}"
          f"{'; prints ' + shown if shown else ''}) | | | >= {rate(t[key])} "
          f"| {verdict(checks[what])} |")
    p()
    p("| Query | Rows | Same rows | orc-log | DuckDB | orc-log / DuckDB |")
    p("|---|---:|---|---:|---:|---:|")
    for r in results:
        if r.error:
            orc_first, duck_first = (secs(x) if x is not None else "failed" for x in r.first)
            p(f"| {r.query.name} | | {r.same} | {orc_first} (one run) "
              f"| {duck_first} (one run) | inf |")
            continue
        p(f"| {r.query.name} | {r.rows:,} | {r.same} | {secs(statistics.median(r.orc_s))} "
          f"| {secs(statistics.median(r.duck_s))} | {r.ratio:.2f} |")
    p()
    p("Queries (orc-log SQL; DuckDB runs the same text except where shown):\n")
    for q in queries:
        p(f"- {q.name}: `{q.orc_sql}`")
        if q.duck_sql != q.orc_sql:
            p(f"  - DuckDB: `{q.duck_sql}`")
    p()
    p("DuckDB keeps every field in one table `log` (views give orc-log's table names); "
      "its figures include starting Python and importing duckdb. Ratios below 1 mean "
      "orc-log is faster or smaller. Disk results need both the apparent and the allocated "
      "ratio within the target.")

    if args.json:
        raw = {
            "input": {"path": str(ndjson), "events": n_events, "bytes": ndjson_bytes},
            "orc_log": {"binary": orc_bin, "version": orc_version},
            "duckdb": {"python": args.python, "version": duck_version},
            "machine": machine(), "started_utc": started, "runs": args.runs,
            "ingest": {
                "orc_log": {"wall_s": orc_ingest.wall_s, "max_rss_kib": orc_ingest.max_rss_kib},
                "duckdb": {"wall_s": duck_ingest.wall_s, "max_rss_kib": duck_ingest.max_rss_kib},
            },
            "disk": {
                "orc_log": {"apparent": orc_app, "allocated": orc_alloc},
                "duckdb": {"apparent": duck_app, "allocated": duck_alloc},
                "zstd3": {"bytes": zstd3[0], "wall_s": zstd3[1]} if zstd3 else None,
                "zstd19": {"bytes": zstd19[0], "wall_s": zstd19[1]} if zstd19 else None,
            },
            "queries": [{"name": r.query.name, "orc_sql": r.query.orc_sql,
                         "duck_sql": r.query.duck_sql, "rows": r.rows, "same": r.same,
                         "orc_log_s": r.orc_s, "duckdb_s": r.duck_s,
                         "untimed_first_run_s": {"orc_log": r.first[0], "duckdb": r.first[1]},
                         "ratio": r.ratio if math.isfinite(r.ratio) else None,
                         "error": r.error or None} for r in results],
            "query_geomean_ratio": geomean if math.isfinite(geomean) else None,
            "replay": {"wall_s": lifecycle["replay"][0], "printed_events_per_s":
                       lifecycle["replay"][1], "events_per_s": replay_eps},
            "verify": {"wall_s": lifecycle["verify"][0], "printed_events_per_s":
                       lifecycle["verify"][1], "events_per_s": verify_eps},
            "targets": TARGETS,
            "pass": checks,
        }
        args.json.write_text(json.dumps(raw, indent=2) + "\n")
        log(f"raw numbers in {args.json}")

    bad = [r for r in results if r.error or not r.same.startswith("yes")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
