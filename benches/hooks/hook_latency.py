#!/usr/bin/env python3
"""How long does `orc-log hook` hold up a Claude Code agent?

Claude Code waits for each hook command before it goes on, so the hook's
whole-process time is what an agent feels on every tool call. This runs
`orc-log hook` many times, with realistic payloads (PreToolUse/PostToolUse
pairs of a Bash call with a few KiB of output, prompts, stops), the way
Claude Code does (a new process, payload on stdin, wait for exit), and
prints p50/p99/max in ms:

1. with `orc-log serve` running (the recommended set-up; issue 15's target:
   p99 under 20 ms);
2. without a server (the hook opens the database itself);
3. the process floor: `orc-log --version`, the same binary doing nothing.

Side by side, the same payload piped to `true` gives the cost of
spawning any hook at all.

    cargo build --release -p orc-log
    python3 benches/hooks/hook_latency.py --orc-log target/release/orc-log --workdir /tmp/hookbench
"""

import argparse
import json
import os
import shutil
import subprocess
import time


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def payloads(n, run):
    out = []
    for i in range(n):
        common = {"session_id": "bench-session", "transcript_path": "/tmp/t.jsonl", "cwd": "/work"}
        kind = i % 4
        if kind == 0:
            out.append(dict(common, hook_event_name="UserPromptSubmit", prompt=f"step {i}: fix the tests " * 5))
        elif kind == 1:
            out.append(dict(common, hook_event_name="PreToolUse", tool_name="Bash", tool_use_id=f"toolu_{run}_{i}",
                            tool_input={"command": f"cargo test -p crate{i}", "description": "run tests"}))
        elif kind == 2:
            out.append(dict(common, hook_event_name="PostToolUse", tool_name="Bash", tool_use_id=f"toolu_{run}_{i - 1}",
                            tool_input={"command": f"cargo test -p crate{i}"},
                            tool_response={"stdout": "test result: ok. 42 passed\n" * 100, "stderr": ""}))
        else:
            out.append(dict(common, hook_event_name="Stop", stop_hook_active=False))
    return [json.dumps(p).encode() for p in out]


def run_all(argv, inputs, env, quiet=True):
    times = []
    for data in inputs:
        t = time.perf_counter()
        p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        times.append((time.perf_counter() - t) * 1000)
        if p.returncode != 0 or (quiet and p.stdout):
            raise SystemExit(f"{argv} failed: {p.returncode} {p.stdout!r} {p.stderr!r}")
    return times


def line(label, times):
    return (f"{label:<34} n={len(times):<5} p50={pct(times, 50):6.2f} ms  p99={pct(times, 99):6.2f} ms"
            f"  max={max(times):6.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orc-log", required=True, help="the orc-log binary")
    ap.add_argument("--workdir", required=True, help="scratch directory (emptied)")
    ap.add_argument("--hooks", type=int, default=1000, help="hook runs per phase (default 1000)")
    args = ap.parse_args()
    orc = os.path.abspath(args.orc_log)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    db = os.path.join(args.workdir, "db")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "ORC_LOG_SPOOL", "RUST_LOG")}
    env["ORC_LOG_DB"] = db
    subprocess.run([orc, "emit", "marker", "--label", "bench"], check=True, env=env, stdout=subprocess.DEVNULL)
    inputs = payloads(args.hooks, "served")
    hook = [orc, "hook", "--target", "bench:0.0"]
    floor_true = run_all(["true"], inputs[:200], env)
    floor_version = run_all([orc, "--version"], [b""] * 200, env, quiet=False)
    server = subprocess.Popen([orc, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert server.stdout.readline() == b"ready\n"
    try:
        served = run_all(hook, inputs, env)
    finally:
        server.terminate()
        server.wait()
    direct = run_all(hook, payloads(args.hooks, "direct"), env)
    count = subprocess.run([orc, "query", "--format", "csv", "SELECT count(*) FROM events WHERE kind <> 'marker'"],
                           env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    spool = os.path.join(args.workdir, "db.hook-spool.ndjson")
    spooled = sum(1 for _ in open(spool)) if os.path.exists(spool) else 0
    print(line("orc-log hook, server running", served))
    print(line("orc-log hook, no server (direct)", direct))
    print(line("floor: orc-log --version", floor_version))
    print(line("floor: true (any hook at all)", floor_true))
    print(f"hook events in the log: {count} of {2 * args.hooks} hooks run; spooled: {spooled}")


if __name__ == "__main__":
    main()
