#!/usr/bin/env python3
"""Compare `orc-log query` with DuckDB on the same NDJSON events, whole process each time.

Usage:
    pip install duckdb            # once; the only dependency besides the standard library
    python3 benches/sql/make_large_ndjson.py --out /tmp/events-210k.ndjson
    python3 benches/sql/compare_duckdb.py --orc-log target/release/orc-log \\
        --ndjson /tmp/events-210k.ndjson --workdir /tmp/sql-bench [--runs 5]

What it does:
1. Ingests --ndjson into a fresh orc-log database WORKDIR/orc (`orc-log --db WORKDIR/orc
   ingest FILE`), and loads it into a fresh DuckDB file WORKDIR/duck.duckdb with a
   `python3 -c` process (read_json with explicit columns). Both are timed as whole processes.
   The DuckDB tables have orc-log's names and the columns the queries need:
   events(seq, ts, kind, target), captures(seq, ts, target, content) and
   messages(seq, ts, sender, recipient, text); seq is the 1-based line number, as in
   orc-log, and ts is TIMESTAMPTZ. Every line must have `ts` (make_large_ndjson.py writes it).
   Existing WORKDIR/orc and WORKDIR/duck.duckdb are deleted first.
2. Runs each query once per engine untimed (warm-up; these outputs are the ones compared),
   then --runs timed runs per engine, alternating engines. A run is one process from start
   to exit: `orc-log --db WORKDIR/orc query SQL --format csv`, or a `python3 -c` process
   that opens the DuckDB file read-only, fetches all rows and prints them as CSV.
3. Checks that both engines return the same rows in the same order (numbers compared as
   numbers, timestamps as instants), and prints a Markdown report on stdout: machine,
   load times, the start-up cost of `python3 -c "import duckdb"`, and per query the median
   and min wall time of each engine and the orc-log / DuckDB ratio of the medians.

The exit status is 1 when any query's rows differ, 0 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import duckdb
except ImportError:
    sys.exit("compare_duckdb.py needs the duckdb Python package: pip install duckdb")

PYTHON = sys.executable


@dataclass
class Query:
    name: str
    orc_sql: str
    duck_sql: str


def same_sql(name: str, sql: str) -> Query:
    return Query(name, sql, sql)


QUERIES = [
    same_sql("a. events by kind",
             "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC, kind"),
    same_sql("b. capture chars by target",
             "SELECT target, count(*) AS captures, sum(length(content)) AS content_chars "
             "FROM captures GROUP BY target ORDER BY content_chars DESC, target"),
    same_sql("c. captures LIKE '%Traceback%'",
             "SELECT count(*) AS n FROM captures WHERE content LIKE '%Traceback%'"),
    Query("d. events per minute",
          "SELECT date_bin(INTERVAL '1 minute', ts) AS minute, count(*) AS n "
          "FROM events GROUP BY minute ORDER BY minute",
          # DuckDB spells date_bin time_bucket.
          "SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS n "
          "FROM events GROUP BY minute ORDER BY minute"),
    same_sql("e. messages LIKE '%status%'",
             "SELECT seq, sender, recipient, text FROM messages "
             "WHERE text LIKE '%status%' ORDER BY seq"),
]

# Run as `python3 -c DUCK_LOAD NDJSON DBFILE`. The temporary table keeps file order
# (DuckDB preserves insertion order by default), so rowid + 1 is the line number.
DUCK_LOAD = r'''
import sys, duckdb
src, db = sys.argv[1], sys.argv[2]
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'")
src_sql = "'" + src.replace("'", "''") + "'"
con.execute(f"""
    CREATE TEMP TABLE raw AS SELECT * FROM read_json({src_sql},
        format = 'newline_delimited',
        columns = {{kind: 'VARCHAR', ts: 'TIMESTAMPTZ', target: 'VARCHAR',
                    content: 'VARCHAR', "from": 'VARCHAR', "to": 'VARCHAR',
                    text: 'VARCHAR'}})""")
con.execute("""
    CREATE TABLE events AS
    SELECT rowid + 1 AS seq, ts, kind,
           CASE WHEN kind = 'message' THEN "to" ELSE target END AS target
    FROM raw ORDER BY seq""")
con.execute("""
    CREATE TABLE captures AS
    SELECT rowid + 1 AS seq, ts, target, content
    FROM raw WHERE kind = 'capture' ORDER BY seq""")
con.execute("""
    CREATE TABLE messages AS
    SELECT rowid + 1 AS seq, ts, "from" AS sender, "to" AS recipient, text
    FROM raw WHERE kind = 'message' ORDER BY seq""")
con.close()
'''

# Run as `python3 -c DUCK_QUERY DBFILE SQL`. TIMESTAMPTZ columns are cast to VARCHAR in
# DuckDB: fetching them as Python datetimes would need pytz.
DUCK_QUERY = r'''
import csv, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET TimeZone = 'UTC'")
rel = con.sql(sys.argv[2])
if any(str(t) == "TIMESTAMP WITH TIME ZONE" for t in rel.types):
    quote = lambda c: '"' + c.replace('"', '""') + '"'
    rel = rel.project(", ".join(
        f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}"
        if str(t) == "TIMESTAMP WITH TIME ZONE" else quote(c)
        for c, t in zip(rel.columns, rel.types)))
rows = rel.fetchall()
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(rel.columns)
out.writerows(rows)
'''


# -- processes and timing ----------------------------------------------------------------

def run(cmd: list[str]) -> tuple[float, str]:
    """Run `cmd` to completion; return (wall seconds, stdout). Exit on failure."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n"
                 f"{proc.stderr.decode(errors='replace')}")
    return elapsed, proc.stdout.decode("utf-8")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def summary(times: list[float]) -> str:
    return f"{ms(statistics.median(times))} ({ms(min(times))})"


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# -- result comparison ----------------------------------------------------------------

def normalise_cell(cell: str) -> object:
    """A CSV cell as a comparable value: int, float, UTC instant, or the string itself."""
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
    return cell


def parse_csv(text: str) -> list[list[object]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[:1] + [[normalise_cell(c) for c in row] for row in rows[1:]]


def compare(orc: list[list[object]], duck: list[list[object]]) -> str:
    """'yes' when equal, else a short description of the first difference."""
    if orc[:1] != duck[:1]:
        return f"NO: columns {orc[:1]} vs {duck[:1]}"
    if len(orc) != len(duck):
        return f"NO: {len(orc) - 1} rows vs {len(duck) - 1}"
    for i, (a, b) in enumerate(zip(orc[1:], duck[1:]), start=1):
        if a != b:
            return f"NO: row {i}: orc-log {a!r} vs DuckDB {b!r}"
    return "yes"


# -- report ---------------------------------------------------------------------------

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
    return f"nproc = {nproc}, {cpu}, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orc-log", required=True, type=Path, help="orc-log binary")
    parser.add_argument("--ndjson", required=True, type=Path, help="events, NDJSON")
    parser.add_argument("--workdir", required=True, type=Path, help="scratch directory")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query and engine")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    orc_bin = str(args.orc_log.resolve())
    ndjson = args.ndjson.resolve()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    orc_db = workdir / "orc"
    duck_db = workdir / "duck.duckdb"
    if orc_db.exists():
        shutil.rmtree(orc_db)
    for stale in (duck_db, duck_db.with_name(duck_db.name + ".wal")):
        stale.unlink(missing_ok=True)

    _, orc_version = run([orc_bin, "--version"])
    with open(ndjson, "rb") as f:
        n_events = sum(1 for _ in f)
    print(f"ingesting {n_events:,} events into {orc_db} and {duck_db} ...", file=sys.stderr)

    ingest_s, _ = run([orc_bin, "--db", str(orc_db), "ingest", str(ndjson)])
    load_s, _ = run([PYTHON, "-c", DUCK_LOAD, str(ndjson), str(duck_db)])

    start_cost = {label: [run([PYTHON, "-c", code])[0] for _ in range(args.runs)]
                  for label, code in (("pass", "pass"), ("import duckdb", "import duckdb"))}

    results = []
    for q in QUERIES:
        print(f"running {q.name} ...", file=sys.stderr)
        orc_cmd = [orc_bin, "--db", str(orc_db), "query", q.orc_sql, "--format", "csv"]
        duck_cmd = [PYTHON, "-c", DUCK_QUERY, str(duck_db), q.duck_sql]
        orc_rows = parse_csv(run(orc_cmd)[1])
        duck_rows = parse_csv(run(duck_cmd)[1])
        orc_times, duck_times = [], []
        for _ in range(args.runs):
            orc_times.append(run(orc_cmd)[0])
            duck_times.append(run(duck_cmd)[0])
        results.append((q, len(orc_rows) - 1, compare(orc_rows, duck_rows),
                        orc_times, duck_times))

    # The report.
    print("## orc-log query vs DuckDB, whole process per query\n")
    print(f"- Input: `{ndjson}`, {n_events:,} events, {mib(ndjson.stat().st_size)}")
    print(f"- Machine: {machine()}")
    print(f"- Python {platform.python_version()} (`{PYTHON}`), duckdb {duckdb.__version__}, "
          f"{orc_version.strip()} (`{orc_bin}`)")
    print(f"- Each query: one untimed run per engine (the outputs compared), then "
          f"{args.runs} timed runs per engine, alternating. Times are wall ms, "
          f"median (min), from process start to exit.")
    print()
    print("| Load | Wall time | On disk |")
    print("|---|---:|---:|")
    print(f"| `orc-log ingest` | {ms(ingest_s)} ms | {mib(dir_size(orc_db))} |")
    print(f"| DuckDB `read_json` into a file (`python3 -c`) | {ms(load_s)} ms "
          f"| {mib(dir_size(duck_db))} |")
    print()
    print("On disk: orc-log keeps every field of every event (plus its hash chain and "
          "indexes); the DuckDB file holds only the columns above. Generated logs repeat "
          "the fixture's capture contents, which both engines' compression exploits.")
    print()
    print(f"Interpreter start, for reference: `python3 -c pass` "
          f"{summary(start_cost['pass'])} ms, `python3 -c \"import duckdb\"` "
          f"{summary(start_cost['import duckdb'])} ms; every DuckDB query time includes it.")
    print()
    print("| Query | Rows | Same rows | orc-log ms | DuckDB ms | orc-log / DuckDB |")
    print("|---|---:|---|---:|---:|---:|")
    for q, n_rows, same, orc_times, duck_times in results:
        ratio = statistics.median(orc_times) / statistics.median(duck_times)
        print(f"| {q.name} | {n_rows:,} | {same} | {summary(orc_times)} "
              f"| {summary(duck_times)} | {ratio:.2f} |")
    print()
    print("Ratio: median over median; below 1 means orc-log was faster.\n")
    print("Queries (orc-log SQL; DuckDB runs the same text except where shown):\n")
    for q in QUERIES:
        print(f"- {q.name}: `{q.orc_sql}`")
        if q.duck_sql != q.orc_sql:
            print(f"  - DuckDB: `{q.duck_sql}`")

    return 0 if all(same == "yes" for _, _, same, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
