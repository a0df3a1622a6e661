#!/usr/bin/env python3
"""Does a zone-less timestamp make date_trunc/date_bin faster than Timestamp(ns, UTC)?

Usage:
    python3 benches/sql/timestamp_zone.py --orc-log target/release/orc-log --db /tmp/sqlbench/orc [--runs 5]

--db is any orc-log database (compare_duckdb.py leaves a 210k-event one in WORKDIR/orc).
Each query runs once untimed, then --runs times as a whole process (`orc-log query ... --format
csv`); the script prints a Markdown table of median (min) wall ms per expression and zone:
  - synthetic rows: generate_series(1, 20,000,000) cast to Timestamp(ns, "UTC") or Timestamp(ns),
    so only the time function differs;
  - the log's `events` table: `ts` as stored (UTC) or cast to a zone-less timestamp.
"""

import argparse
import statistics
import subprocess
import time

ROWS = 20_000_000
SYNTHETIC = ["date_bin(INTERVAL '1 minute', {t})", "date_bin(INTERVAL '1 hour', {t})",
             "date_trunc('minute', {t})", "date_trunc('hour', {t})", "date_trunc('day', {t})"]
ON_LOG = ["date_trunc('hour', {t})", "date_bin(INTERVAL '1 minute', {t})"]


def timed(args, sql, runs):
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        out = subprocess.run([args.orc_log, "--db", args.db, "query", sql, "--format", "csv"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"query failed: {sql}\n{out.stderr}")
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), out.stdout.strip().splitlines()[-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orc-log", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    print("| Rows | Expression | Zone | ms | Distinct buckets |")
    print("|---|---|---|---:|---:|")
    for fn in SYNTHETIC:
        for zone, arrow in [("UTC", 'Some("UTC")'), ("none", "None")]:
            col = f"arrow_cast(value * 1000000, 'Timestamp(Nanosecond, {arrow})')"
            sql = f"SELECT count(DISTINCT {fn.format(t=col)}) FROM generate_series(1, {ROWS})"
            med, low, last = timed(args, sql, args.runs)
            print(f"| synthetic {ROWS:,} | `{fn.format(t='ts')}` | {zone} | {med:,.0f} ({low:,.0f}) | {last} |")
    for fn in ON_LOG:
        for zone, col in [("UTC", "ts"), ("none", "arrow_cast(ts, 'Timestamp(Nanosecond, None)')")]:
            sql = f"SELECT {fn.format(t=col)} AS m, count(*) FROM events GROUP BY m"
            med, low, _ = timed(args, sql, args.runs)
            print(f"| events | `{fn.format(t='ts')}` | {zone} | {med:,.0f} ({low:,.0f}) | |")


if __name__ == "__main__":
    main()
