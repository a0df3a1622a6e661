#!/usr/bin/env python3
"""Time Apache Spark (local mode) reading an `orc-log export --format parquet` directory.

Usage:
    .ci/venv/bin/python benches/sql/spark_read_export.py DIR [--partitioned] [--cores N]

Prints the SparkSession start time, then for each query the wall time of its
first run (cold: file listing, footers, JIT) and of a second run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

QUERIES = [
    ("count(*) of events", "SELECT count(*) FROM events"),
    ("events by kind", "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY n DESC"),
    ("busiest panes (captures, sum(length(content)))",
     "SELECT target, count(*) AS captures, sum(length(content)) AS chars FROM captures "
     "GROUP BY target ORDER BY captures DESC, target LIMIT 10"),
    ("events per kind per 15 minutes",
     "SELECT timestamp_seconds(unix_seconds(ts) DIV 900 * 900) AS bucket, kind, count(*) AS n "
     "FROM events GROUP BY 1, 2 ORDER BY 1, 2"),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--partitioned", action="store_true", help="DIR has TABLE/day=.../ directories")
    p.add_argument("--cores", type=int, default=2)
    a = p.parse_args()
    os.environ["TZ"] = "UTC"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    t = time.monotonic()
    spark = (
        SparkSession.builder.master(f"local[{a.cores}]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    print(f"spark {spark.version} local[{a.cores}]: session started in {time.monotonic() - t:.1f} s")
    for table in ("events", "captures"):
        path = f"{a.dir}/{table}" if a.partitioned else f"{a.dir}/{table}.parquet"
        spark.read.parquet(path).createOrReplaceTempView(table)
    for name, sql in QUERIES:
        times = []
        for _ in range(2):
            t = time.monotonic()
            rows = spark.sql(sql).collect()
            times.append(time.monotonic() - t)
        print(f"{name:50} {len(rows):>6} rows  first {times[0]:6.2f} s  second {times[1]:6.2f} s")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
