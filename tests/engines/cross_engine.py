#!/usr/bin/env python3
"""The same SQL on orc-log, Apache Spark (local mode) and DuckDB, row by row.

Run by tests/integration/engines.rs, which records the logs and makes the
exports; this script gets their paths as one JSON argument:

  bin, db               orc-log and the database every export below came from
  plain, by_day         `export --format parquet` and `... --partition-by day`
  inc_db, incremental   a database grown in three steps with `export --append`
                        after each step, and
  inc_full              one full `--partition-by day` export of that database
  shared, hosts         `export --append --host NAME` of several databases
                        into one directory: {"a": DB, "b": DB}
  by_day_garbled        a copy of by_day whose first and last days are garbage
  scaling, workdir      docs/SCALING.md, whose python block runs in workdir
  readme                README.md: its `sql` blocks are the queries; its
                        `spark-sql` / `duckdb-sql` blocks give the engine's
                        spelling of a query of the same `-- name`

Every check prints one line; any difference exits 1. Timestamps are compared
as instants: orc-log keeps nanoseconds, the exported `ts` is microseconds
(so orc-log's values are truncated to µs before comparing), `ts_ns` must
equal orc-log's nanoseconds exactly in both engines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ["TZ"] = "UTC"
time.tzset()

TABLES = ["events", "captures", "messages", "schedules", "crashes", "markers", "lifecycle"]

# The documented schema (README, docs/SCALING.md): column, orc-log type,
# Spark type, DuckDB type. Every table ends with ts_ns in the export.
TS = ("Timestamp(ns, \"UTC\")", "timestamp", "TIMESTAMP WITH TIME ZONE")
COMMON = [("seq", "UInt64", "bigint", "BIGINT"), ("ts", *TS)]
S = lambda *names: [(c, "Utf8", "string", "VARCHAR") for c in names]  # noqa: E731
U32 = lambda *names: [(c, "UInt32", "int", "INTEGER") for c in names]  # noqa: E731
U64 = lambda *names: [(c, "UInt64", "bigint", "BIGINT") for c in names]  # noqa: E731
BOOL = lambda *names: [(c, "Boolean", "boolean", "BOOLEAN") for c in names]  # noqa: E731
PLACE = S("target", "session") + U32("window", "pane")
SCHEMA = {
    "events": COMMON + S("kind") + PLACE + U64("stored_bytes", "raw_bytes") + BOOL("expired"),
    "captures": COMMON + PLACE + U32("width", "height") + S("content") + U32("lines") + BOOL("expired"),
    "messages": COMMON + S("sender", "recipient", "text") + PLACE,
    "schedules": COMMON + PLACE + S("note") + [("due", *TS)],
    "crashes": COMMON + PLACE + S("reason", "detector", "excerpt"),
    "markers": COMMON + S("label") + PLACE,
    "lifecycle": COMMON + S("kind") + PLACE + S("name", "role"),
}
TS_NS = ("ts_ns", "Int64", "bigint", "BIGINT")

failures: list[str] = []
passed = 0


def check(ok: bool, what: str, detail: str = "") -> None:
    global passed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failures.append(what)
        print(f"FAIL  {what}\n{detail}")


# ---- README queries ----------------------------------------------------------

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


def named_statements(lines: list[str]) -> list[tuple[str, str]]:
    """(name, statement) for each `;`-ended statement, named by its leading `-- comment`."""
    out, name, body = [], None, []
    for line in lines:
        s = line.strip()
        if s.startswith("--") and not body:
            name = s[2:].strip()
        elif s:
            body.append(s)
            if s.endswith(";"):
                out.append((name, " ".join(body)[:-1]))
                name, body = None, []
    return out


def readme_queries(path: str) -> list[tuple[str, dict[str, str]]]:
    queries: list[tuple[str, dict[str, str]]] = []
    variants: dict[str, dict[str, str]] = {"spark": {}, "duckdb": {}}
    for lang, lines in blocks(Path(path).read_text()):
        if lang == "sql":
            queries += [(n, {"orc-log": q}) for n, q in named_statements(lines)]
        elif lang in ("spark-sql", "duckdb-sql"):
            for n, q in named_statements(lines):
                variants[lang.removesuffix("-sql")][n] = q
    names = [n for n, _ in queries]
    for engine, v in variants.items():
        unknown = set(v) - set(names)
        check(not unknown, f"README {engine}-sql blocks name only queries of the sql blocks", str(unknown))
    for n, q in queries:
        q["spark"] = variants["spark"].get(n, q["orc-log"])
        q["duckdb"] = variants["duckdb"].get(n, q["orc-log"])
    return queries


# ---- values --------------------------------------------------------------------

RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")
ISO_DURATION = re.compile(r"^(-)?PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_ns(s: str) -> int:
    m = RFC3339.match(s)
    assert m, s
    secs = int((dt.datetime.fromisoformat(m[1]).replace(tzinfo=dt.timezone.utc) - EPOCH).total_seconds())
    return secs * 10**9 + int((m[2] or "").ljust(9, "0"))


def orc_value(v):
    """orc-log JSON value -> canonical (timestamps and durations as µs, truncated)."""
    if isinstance(v, str):
        if RFC3339.match(v):
            return ("ts", parse_ns(v) // 1000)
        m = ISO_DURATION.match(v)
        if m and v != "PT":
            ns = ((int(m[2] or 0) * 60 + int(m[3] or 0)) * 60 + int(m[4] or 0)) * 10**9 + int((m[5] or "").ljust(9, "0"))
            return ("dur", (-ns if m[1] else ns) // 1000)
    return engine_value(v)


def engine_value(v):
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        d = v - EPOCH
        return ("ts", (d.days * 86400 + d.seconds) * 10**6 + d.microseconds)
    if isinstance(v, dt.timedelta):
        return ("dur", (v.days * 86400 + v.seconds) * 10**6 + v.microseconds)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if hasattr(v, "as_integer_ratio") and not isinstance(v, (int, float)):  # Decimal
        return int(v)
    return v


def sort_key(row):
    return [(x is None, repr(x)) for x in row]


def canonical(rows, conv):
    return sorted((tuple(conv(x) for x in r) for r in rows), key=sort_key)


def orc_query(binary: str, db: str, sql: str) -> list[tuple]:
    out = subprocess.run([binary, "--db", db, "query", sql, "--format", "json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"orc-log query failed: {sql}\n{out.stderr}")
    return [tuple(r.values()) for r in json.loads(out.stdout)]


def compare(what: str, want, got) -> None:
    if want == got:
        check(True, f"{what} ({len(want)} rows)")
        return
    missing = [r for r in want if r not in got][:5]
    extra = [r for r in got if r not in want][:5]
    check(False, what, f"  orc-log rows: {len(want)}, engine rows: {len(got)}\n  only in orc-log: {missing}\n  only in engine: {extra}")


# ---- engines -------------------------------------------------------------------

def spark_session():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.master("local[2]")
        .appName("orc-log-cross-engine")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )


def spark_register(spark, layout: str, root: str) -> None:
    for t in TABLES:
        path = f"{root}/{t}.parquet" if layout == "plain" else f"{root}/{t}"
        spark.read.parquet(path).createOrReplaceTempView(t)


def duck_connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def duck_register(con, layout: str, root: str) -> None:
    for t in TABLES:
        src = (
            f"read_parquet('{root}/{t}.parquet')"
            if layout == "plain"
            else f"read_parquet('{root}/{t}/**/*.parquet', hive_partitioning = true)"
        )
        con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {src}")


def main() -> int:
    cfg = json.loads(sys.argv[1])
    binary, db = cfg["bin"], cfg["db"]
    queries = readme_queries(cfg["readme"])
    check(len(queries) >= 7, f"README has {len(queries)} named queries in its sql blocks")
    orc_answers = {n: canonical(orc_query(binary, db, q["orc-log"]), orc_value) for n, q in queries}

    started = time.monotonic()
    spark = spark_session()
    print(f"spark {spark.version} started in {time.monotonic() - started:.1f} s")
    import duckdb

    print(f"duckdb {duckdb.__version__}")
    con = duck_connect()

    # Schema and timestamps, table by table.
    for t in TABLES:
        want_names = [c for c, *_ in SCHEMA[t]] + ["ts_ns"]
        spark_register(spark, "plain", cfg["plain"])
        sdf = spark.table(t)
        got = [(f.name, f.dataType.simpleString()) for f in sdf.schema.fields]
        check(got == [(c, s) for c, _, s, _ in SCHEMA[t] + [TS_NS]], f"spark schema of {t}", f"  got {got}")
        duck_register(con, "plain", cfg["plain"])
        got = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {t}").fetchall()]
        check(got == [(c, d) for c, _, _, d in SCHEMA[t] + [TS_NS]], f"duckdb schema of {t}", f"  got {got}")
        types = ", ".join(f'arrow_typeof("{c}") AS "{c}"' for c, *_ in SCHEMA[t])
        out = subprocess.run([binary, "--db", db, "query", f"SELECT {types} FROM {t} LIMIT 1", "--format", "json"], capture_output=True, text=True, check=True)
        got = list(json.loads(out.stdout)[0].items())
        check(got == [(c, o) for c, o, _, _ in SCHEMA[t]], f"orc-log columns and types of {t}", f"  got {got}")
        check(want_names[-1] == "ts_ns", f"{t}: the export adds ts_ns")
        # The same instants: ts_ns exact (ns) and ts in µs, in both engines.
        want = sorted((seq, parse_ns(ts)) for seq, ts in orc_query(binary, db, f"SELECT seq, ts FROM {t}"))
        for engine, rows in (
            ("spark", [(int(r[0]), r[1], engine_value(r[2])[1]) for r in spark.sql(f"SELECT seq, ts_ns, ts FROM {t}").collect()]),
            ("duckdb", [(int(r[0]), r[1], engine_value(r[2])[1]) for r in con.execute(f"SELECT seq, ts_ns, ts FROM {t}").fetchall()]),
        ):
            rows.sort()
            check([(s, n) for s, n, _ in rows] == want, f"{engine}: {t}.ts_ns equals orc-log's ts to the nanosecond")
            check([(s, u) for s, _, u in rows] == [(s, n // 1000) for s, n in want], f"{engine}: {t}.ts equals orc-log's ts to the microsecond")

    # docs/SCALING.md: `timestamp_micros(ts_ns DIV 1000)` in Spark rebuilds `ts`.
    spark_register(spark, "plain", cfg["plain"])
    n = spark.sql("SELECT count(*) FROM events WHERE timestamp_micros(ts_ns DIV 1000) <> ts").collect()[0][0]
    check(n == 0, "spark: timestamp_micros(ts_ns DIV 1000) equals ts", f"  {n} rows differ")

    # The README queries on both layouts.
    for layout in ("plain", "by_day"):
        spark_register(spark, "plain" if layout == "plain" else "dir", cfg[layout])
        duck_register(con, "plain" if layout == "plain" else "dir", cfg[layout])
        for n, q in queries:
            spark_rows = canonical([tuple(r) for r in spark.sql(q["spark"]).collect()], engine_value)
            compare(f"spark  {layout:6} {n}", orc_answers[n], spark_rows)
            duck_rows = canonical(con.execute(q["duckdb"]).fetchall(), engine_value)
            compare(f"duckdb {layout:6} {n}", orc_answers[n], duck_rows)

    # Hive partitions prune by day in Spark: files of the other days are never
    # opened (here: replaced by garbage), and the plan lists the filter.
    days = sorted(p.name for p in Path(cfg["by_day_garbled"], "events").iterdir())
    keep = days[1]
    # (The schema comes from the intact export: inferring it would open a garbage footer.)
    schema = spark.read.parquet(f"{cfg['by_day']}/events").schema
    ev = spark.read.schema(schema).parquet(f"{cfg['by_day_garbled']}/events")
    pruned = ev.where(f"day = DATE'{keep.removeprefix('day=')}'")
    plan = pruned._jdf.queryExecution().executedPlan().toString()
    check("PartitionFilters: [isnotnull(day" in plan, "spark plan has PartitionFilters on day", plan)
    want = orc_query(binary, db, f"SELECT count(*) FROM events WHERE to_char(ts, '%Y-%m-%d') = '{keep.removeprefix('day=')}'")[0][0]
    check(pruned.count() == want, f"spark reads {keep} of a tree whose other days are garbage ({want} rows)")
    try:
        ev.count()
        check(False, "spark fails on the garbage when it does not prune (the test's control)")
    except Exception:  # noqa: BLE001
        check(True, "spark fails on the garbage when it does not prune (the test's control)")

    # Incremental exports: three appends of a growing log == one full export.
    inc_db = cfg["inc_db"]
    for t in TABLES:
        cols = ", ".join(c for c, *_ in SCHEMA[t]) + ", ts_ns"
        full = spark.read.parquet(f"{cfg['inc_full']}/{t}").selectExpr(*cols.split(", "), "CAST(day AS STRING) AS day")
        inc = spark.read.parquet(f"{cfg['incremental']}/{t}").selectExpr(*cols.split(", "), "CAST(day AS STRING) AS day")
        a = sorted(tuple(r) for r in full.collect())
        b = sorted(tuple(r) for r in inc.collect())
        n = orc_query(binary, inc_db, f"SELECT count(*) FROM {t}")[0][0]
        check(a == b and len(b) == n and len({r[0] for r in b}) == n,
              f"spark: {t}: the incremental exports equal one full export ({n} rows, no duplicates)",
              f"  full {len(a)}, incremental {len(b)}, distinct seq {len({r[0] for r in b})}, orc-log {n}")
        con.execute(f"CREATE OR REPLACE VIEW inc AS SELECT * FROM read_parquet('{cfg['incremental']}/{t}/**/*.parquet', hive_partitioning = true)")
        got = con.execute("SELECT count(*), count(DISTINCT seq) FROM inc").fetchone()
        check(got == (n, n), f"duckdb: {t}: incremental exports hold {n} rows, no duplicates", f"  got {got}")

    # docs/SCALING.md's Python block, as written (its getOrCreate() gets this
    # session), in the directory where the test ran SCALING.md's commands.
    scaling_py = [lines for lang, lines in blocks(Path(cfg["scaling"]).read_text()) if lang == "python"]
    check(len(scaling_py) == 1, "docs/SCALING.md has one python block")
    os.chdir(cfg["workdir"])
    exec("\n".join(scaling_py[0]), {})  # noqa: S102
    check(True, "docs/SCALING.md's python block runs")

    # Several hosts appending into one directory: the union, no duplicates.
    for t in TABLES:
        df = spark.read.parquet(f"{cfg['shared']}/{t}")
        got = {h: (c, d) for h, c, d in df.groupBy("host").agg({"*": "count", "seq": "approx_count_distinct"}).selectExpr("host", "`count(1)`", "`approx_count_distinct(seq)`").collect()}
        exact = {r[0]: r[1] for r in df.selectExpr("host", "seq").distinct().groupBy("host").count().collect()}
        want = {h: orc_query(binary, hdb, f"SELECT count(*) FROM {t}")[0][0] for h, hdb in cfg["hosts"].items()}
        check({h: c for h, (c, _) in got.items()} == want and exact == want,
              f"spark: {t} over host=a and host=b is the union of both logs {want}, no duplicates",
              f"  rows {got}, distinct seq {exact}")
    for t in TABLES:
        got = con.execute(f"SELECT count(*), count(DISTINCT (host, seq)) FROM read_parquet('shared/{t}/*/*/*.parquet', hive_partitioning = true)").fetchone()
        want = sum(orc_query(binary, hdb, f"SELECT count(*) FROM {t}")[0][0] for hdb in cfg["hosts"].values())
        check(got == (want, want), f"duckdb: {t} over host=a and host=b: {want} rows, no duplicates", f"  got {got}")
    # And the README queries over all hosts equal orc-log on each host, summed
    # where they count (here: events by kind).
    spark.read.parquet(f"{cfg['shared']}/events").createOrReplaceTempView("all_events")
    got = {k: n for k, n in spark.sql("SELECT kind, count(*) FROM all_events GROUP BY kind").collect()}
    want: dict[str, int] = {}
    for hdb in cfg["hosts"].values():
        for k, n in orc_query(binary, hdb, "SELECT kind, count(*) FROM events GROUP BY kind"):
            want[k] = want.get(k, 0) + n
    check(got == want, "spark: events by kind over all hosts equals the sum over the hosts' logs")

    spark.stop()
    print(f"cross-engine: {passed} checks passed, {len(failures)} failed")
    for f in failures:
        print(f"  failed: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
