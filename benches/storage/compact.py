#!/usr/bin/env python3
"""Retention side by side: orc-log `compact` against NDJSON + zstd and DuckDB on the same events.

Usage:
    python3 benches/storage/make_set.py --events 1000000 --hours 3 --out /tmp/set-3h.ndjson
    python3 benches/storage/compact.py --orc-log target/release/orc-log \\
        --ndjson /tmp/set-3h.ndjson --workdir /tmp/compact-bench [--python PY] [--json OUT]

Two rules (make_set.py's timestamps are fixed in the past, so an age rule would expire them
all): `--rule capture` (default), `retention set --kind capture --max-count N` with N a third
of the captures (about the last hour of a 3-hour set: the older captures expire, interleaved
with every other kind, which stays); `--rule bytes`, `retention set --max-bytes` a third of
the database (the oldest events of every kind expire). The alternatives drop the same events.
Every step is one whole process, timed from start to exit, with its peak RSS (os.wait4):

1. orc-log: `ingest`, `seal`, `state` and `metrics` (a database as `serve` keeps it: sealed,
   with projection checkpoints), then the rule and `compact`; `du -b` of the database before and after, `verify` after.
2. NDJSON + zstd (the files users keep otherwise): the set as one `zstd -3` stream; retention
   = decompress, drop the expired lines, compress again (`zstd -dc | filter | zstd -3`).
3. DuckDB (--python must have the duckdb package; default .ci/venv/bin/python when present):
   the set loaded into one table; retention = `DELETE` of the expired rows + `CHECKPOINT`
   (DuckDB keeps the file's size: freed blocks are reused, not returned), and the way to get
   the bytes back, a copy into a new file (`ATTACH` + `CREATE TABLE AS`).

Prints a Markdown table; --json writes the raw numbers. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str] | str, shell: bool = False) -> tuple[float, int, str]:
    """Runs a command to its end: (wall seconds, peak RSS bytes of it and its children, stdout)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = p.stdout.read() if p.stdout else ""
    err = p.stderr.read() if p.stderr else ""
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"failed ({status}): {cmd}\n{err}")
    return wall, usage.ru_maxrss * 1024, out


def du(path: Path) -> int:
    """Apparent size of every file under path (du -b)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", required=True)
    ap.add_argument("--ndjson", required=True)
    ap.add_argument("--workdir", required=True)
    default_py = Path(__file__).resolve().parents[2] / ".ci/venv/bin/python"
    ap.add_argument("--python", default=str(default_py) if default_py.exists() else "python3")
    ap.add_argument(
        "--rule",
        default="capture",
        choices=["capture", "bytes"],
        help="capture (default): captures but the newest third; bytes: --max-bytes a third of the database",
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ndjson = Path(args.ndjson)
    orc = [args.orc_log, "--db", str(work / "orc")]
    r: dict[str, float] = {}

    # Which events expire: all but the newest third of the rule's kind, by
    # line (seq = line number).
    needle = '"kind":"capture"' if args.rule == "capture" else ""
    lines = [i + 1 for i, line in enumerate(ndjson.open()) if needle in line]
    keep = len(lines) // 3
    last_old = lines[len(lines) - keep - 1]
    r["events"] = sum(1 for _ in ndjson.open())
    r["rule_events"] = len(lines)
    r["expired"] = len(lines) - keep

    # 1. orc-log
    timed(orc + ["ingest", str(ndjson)])
    timed(orc + ["seal"])
    # The projection checkpoints a served database keeps.
    timed(orc + ["state"])
    timed(orc + ["metrics"])
    r["orc_before_bytes"] = du(work / "orc")
    if args.rule == "capture":
        timed(orc + ["retention", "set", "--kind", "capture", "--max-count", str(keep)])
    else:
        timed(orc + ["retention", "set", "--max-bytes", str(r["orc_before_bytes"] // 3)])
    r["orc_compact_s"], r["orc_compact_rss"], out = timed(orc + ["compact"])
    print(out, file=sys.stderr)
    r["orc_after_bytes"] = du(work / "orc")
    r["orc_expired"] = int(json.loads(timed(orc + ["query", "--format", "json", "SELECT count(*) AS n FROM events WHERE expired"])[2])[0]["n"])
    if args.rule == "bytes":
        # The alternatives drop the same events: the oldest orc-log expired.
        last_old = int(json.loads(timed(orc + ["query", "--format", "json", "SELECT max(seq) AS s FROM events WHERE expired"])[2])[0]["s"])
    r["orc_verify_s"], r["orc_verify_rss"], out = timed(orc + ["verify"])
    print(out, file=sys.stderr)

    # 2. NDJSON + zstd -3
    z = work / "set.ndjson.zst"
    timed(["zstd", "-3", "-q", "-f", str(ndjson), "-o", str(z)])
    r["zstd_before_bytes"] = du(z)
    filt_py = work / "filter.py"
    filt_py.write_text(
        "import sys\n"
        f"needle = {needle!r}\n"
        "for i, l in enumerate(sys.stdin, 1):\n"
        f"    if i > {last_old} or needle not in l:\n"
        "        sys.stdout.write(l)\n"
    )
    filt = f"{sys.executable} {filt_py}"
    z2 = work / "kept.ndjson.zst"
    r["zstd_rewrite_s"], r["zstd_rewrite_rss"], _ = timed(f"zstd -dc {z} | {filt} | zstd -3 -q -o {z2}", shell=True)
    r["zstd_after_bytes"] = du(z2)

    # 3. DuckDB
    duck = work / "duck.duckdb"
    load = (
        "import duckdb, sys\n"
        f"c = duckdb.connect('{duck}')\n"
        f"c.execute(\"CREATE TABLE log AS SELECT row_number() OVER () AS seq, * FROM read_json('{ndjson}', format='newline_delimited', union_by_name=true, maximum_object_size=16777216)\")\n"
        "c.execute('CHECKPOINT')\n"
    )
    timed([args.python, "-c", load])
    r["duck_before_bytes"] = du(duck)
    kind_sql = " AND kind = 'capture'" if needle else ""
    delete = (
        "import duckdb\n"
        f"c = duckdb.connect('{duck}')\n"
        f"c.execute(\"DELETE FROM log WHERE seq <= {last_old}{kind_sql}\")\n"
        "c.execute('CHECKPOINT')\n"
    )
    r["duck_delete_s"], r["duck_delete_rss"], _ = timed([args.python, "-c", delete])
    r["duck_after_delete_bytes"] = du(duck)
    copy = work / "copy.duckdb"
    recopy = (
        "import duckdb\n"
        f"c = duckdb.connect('{duck}')\n"
        f"c.execute(\"ATTACH '{copy}' AS new\")\n"
        "c.execute('CREATE TABLE new.log AS SELECT * FROM log')\n"
        "c.execute('CHECKPOINT new')\n"
    )
    r["duck_copy_s"], r["duck_copy_rss"], _ = timed([args.python, "-c", recopy])
    r["duck_after_copy_bytes"] = du(copy)

    mb = lambda b: f"{b / 1e6:,.1f} MB"  # noqa: E731
    rule = f"--kind capture --max-count {keep:,}" if args.rule == "capture" else f"--max-bytes {r['orc_before_bytes'] // 3:,}"
    print(f"{int(r['events']):,} events; rule {rule}: orc-log expired {r['orc_expired']:,} bodies (through seq {last_old:,})\n")
    print("| | before | after | freed | time | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| orc-log `compact` | {mb(r['orc_before_bytes'])} | {mb(r['orc_after_bytes'])} | "
          f"{1 - r['orc_after_bytes'] / r['orc_before_bytes']:.1%} | {r['orc_compact_s']:.1f} s | {r['orc_compact_rss'] / 2**20:.0f} MiB |")
    print(f"| NDJSON + zstd -3, rewritten | {mb(r['zstd_before_bytes'])} | {mb(r['zstd_after_bytes'])} | "
          f"{1 - r['zstd_after_bytes'] / r['zstd_before_bytes']:.1%} | {r['zstd_rewrite_s']:.1f} s | {r['zstd_rewrite_rss'] / 2**20:.0f} MiB |")
    print(f"| DuckDB `DELETE` + `CHECKPOINT` | {mb(r['duck_before_bytes'])} | {mb(r['duck_after_delete_bytes'])} | "
          f"{1 - r['duck_after_delete_bytes'] / r['duck_before_bytes']:.1%} | {r['duck_delete_s']:.1f} s | {r['duck_delete_rss'] / 2**20:.0f} MiB |")
    print(f"| DuckDB, then copied to a new file | {mb(r['duck_before_bytes'])} | {mb(r['duck_after_copy_bytes'])} | "
          f"{1 - r['duck_after_copy_bytes'] / r['duck_before_bytes']:.1%} | +{r['duck_copy_s']:.1f} s | {r['duck_copy_rss'] / 2**20:.0f} MiB |")
    print(f"\norc-log verify after: {r['orc_verify_s']:.1f} s; orc-log after / NDJSON.zst after: "
          f"{r['orc_after_bytes'] / r['zstd_after_bytes']:.2f}x; / DuckDB copied: {r['orc_after_bytes'] / r['duck_after_copy_bytes']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
