#!/usr/bin/env python3
"""Generate a large, deterministic NDJSON event log for the SQL benchmarks.

Usage:
    python3 benches/sql/make_large_ndjson.py --out /tmp/events-210k.ndjson
    python3 benches/sql/make_large_ndjson.py --events 3000 --out /tmp/small.ndjson --seed 1

Options:
    --events N    number of events (lines) to write, default 210000
    --out FILE    output NDJSON file (required)
    --seed S      random seed, default 1; the same N, seed and fixture give the same bytes
    --hours H     time span covered by the timestamps, default 6
    --fixture F   source fixture, default tests/fixtures/tmux-session-a.ndjson under the
                  repository root (found from this script's location)

The log is built from the fixture in "rounds". Each round reuses the fixture's 146 capture
events in their original order (real pane contents, delta-friendly), with the sessions renamed
per round (orch -> orch0..orch5, proj -> proj0..proj5: 12 sessions, 24 targets in all), and
mixes in twice as many non-capture events:

- lifecycle: the fixture's session/window/agent openings at the start of a round, window and
  session closings at its end, and some window_renamed / agent_registered in between;
- messages between the round's panes with varied texts; about one in ten contains the word
  "status" (so `text LIKE '%status%'` matches a minority);
- markers, schedules (due a few minutes later), schedule_fired for schedules that fell due,
  and crashes with a Python traceback excerpt.

Exactly N // 3 events are captures. Every line has `ts` (RFC 3339, microseconds, UTC),
strictly increasing over about --hours hours, so a per-minute histogram has hundreds of
buckets. Lines carry only the fields `orc-log ingest` accepts (schemas/event-v1.schema.json),
no `id`, and there are no blank lines, so orc-log's seq equals the line number.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "tmux-session-a.ndjson"

SESSION_SETS = 6  # rounds cycle through orch0/proj0 .. orch5/proj5
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# Non-capture events in the middle of a round, by weight.
MIDDLE_KINDS = [
    ("message", 70),
    ("marker", 7),
    ("schedule", 6),
    ("schedule_fired", 6),
    ("window_renamed", 5),
    ("crash", 3),
    ("agent_registered", 3),
]

TASKS = ["auth refactor", "login page", "CSV export", "flaky test", "db migration",
         "release notes", "API docs", "rate limiter", "cache layer", "CI pipeline"]
STATES = ["in progress", "blocked on review", "done", "waiting for CI", "50% done",
          "needs a decision", "failing on arm64"]
MODULES = ["api", "auth", "billing", "cli", "core", "db", "export", "web"]
FUNCS = ["main", "handle", "run", "load_config", "connect", "render", "parse_args"]
ERRORS = [
    ("ModuleNotFoundError", "No module named 'missing_agent_module'"),
    ("KeyError", "'user_id'"),
    ("ValueError", "invalid literal for int() with base 10: 'abc'"),
    ("ConnectionRefusedError", "[Errno 111] Connection refused"),
    ("AttributeError", "'NoneType' object has no attribute 'id'"),
]
STATUS_TEXTS = [
    "status?",
    "status update please: where is the {task}?",
    "status: {task} is {state}",
    "{task} status -> {state}",
    "send me a short status report on {task}, then continue",
]
OTHER_TEXTS = [
    "run the tests in {module}/ and report failures",
    "please review {module}/handlers.py before lunch",
    "ack",
    "done: {task}",
    "rebase onto main and push when green",
    "cargo build finished in {n}s",
    "restart the dev server on port {port}",
    "ls -la /usr/{module} | head -n {n}",
    "grep -rn 'TODO' {module}/ | wc -l",
    "commit {hash}: {task}",
    "LGTM, merging",
    "can you pair with the eng pane on the {task}? it's \"almost\" done",
    "plan:\n1. fix {task}\n2. add tests\n3. open PR, ping me",
    "résumé of the {task}: 3 files, 120 lines ✓",
]
MARKER_LABELS = ["review point", "deploy {n}", "checkpoint {n}", "sprint {n} start",
                 "incident {n}", "handover"]
WINDOW_NAMES = ["pm", "eng", "server", "tests", "logs", "review", "build"]
ROLES = ["engineer", "reviewer", "tester", "project_manager"]


def load_fixture(path: Path) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    """Split the fixture into (openings, captures, closings, message texts)."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    openings = [e for e in events
                if e["kind"] in ("session_opened", "window_opened", "agent_registered")]
    captures = [e for e in events if e["kind"] == "capture"]
    texts = [e["text"] for e in events if e["kind"] == "message"]
    targets = sorted({e["target"] for e in openings if "target" in e})
    sessions = sorted({e["session"] for e in openings if e["kind"] == "session_opened"})
    closings = ([{"kind": "window_closed", "target": t} for t in targets]
                + [{"kind": "session_closed", "session": s} for s in sessions])
    return openings, captures, closings, texts


def rename(event: dict, suffix: str) -> dict:
    """Copy of `event` with every session name given `suffix` (orch -> orch3)."""
    out = {k: v for k, v in event.items() if k != "ts"}
    if "session" in out:
        out["session"] += suffix
    if "target" in out:
        session, rest = out["target"].split(":", 1)
        out["target"] = f"{session}{suffix}:{rest}"
    return out


def format_ts(micros: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Generator:
    def __init__(self, fixture: Path, seed: int, total: int, hours: float):
        self.openings, self.captures, self.closings, self.fixture_texts = load_fixture(fixture)
        self.rng = random.Random(seed)
        start = dt.datetime.fromisoformat(
            json.loads(fixture.read_text().splitlines()[0])["ts"].replace("Z", "+00:00"))
        self.now = (start - EPOCH) // dt.timedelta(microseconds=1)
        self.mean_gap = hours * 3600e6 / max(total, 1)
        self.pending = collections.deque()  # (due micros, target, note) of open schedules
        self.kinds, self.weights = zip(*MIDDLE_KINDS)

    # -- the stream -------------------------------------------------------------------

    def events(self, total: int):
        """Yield `total` events (dicts with ts), exactly total // 3 of them captures."""
        n_caps, n_others = total // 3, total - total // 3
        per_round = len(self.captures)
        r = 0
        while n_caps > 0 or n_others > 0:
            caps = min(per_round, n_caps)
            others = min(2 * per_round, n_others) if n_caps > per_round else n_others
            yield from self.round(r, caps, others)
            n_caps -= caps
            n_others -= others
            r += 1

    def round(self, r: int, n_caps: int, n_others: int):
        suffix = str(r % SESSION_SETS)
        targets = sorted({rename(e, suffix)["target"] for e in self.captures})
        openings = [rename(e, suffix) for e in self.openings]
        closings = [rename(e, suffix) for e in self.closings]
        # A short last round keeps what fits: openings first, then closings.
        openings = openings[:n_others]
        closings = closings[:max(0, n_others - len(openings))]
        n_middle = n_others - len(openings) - len(closings)
        captures = [rename(e, suffix) for e in self.captures[:n_caps]]

        for event in openings:
            yield self.stamp(event)
        # Spread the captures evenly among the middle events.
        total, emitted = len(captures) + n_middle, 0
        for i in range(total):
            if (i + 1) * len(captures) // total > emitted:
                yield self.stamp(captures[emitted])
                emitted += 1
            else:
                self.tick()
                yield self.middle(r, targets)
        for event in closings:
            yield self.stamp(event)

    # -- single events ------------------------------------------------------------------

    def tick(self) -> None:
        self.now += max(1, round(self.rng.expovariate(1.0 / self.mean_gap)))

    def stamp(self, event: dict) -> dict:
        self.tick()
        return {**event, "ts": format_ts(self.now)}

    def fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            task=rng.choice(TASKS), state=rng.choice(STATES), module=rng.choice(MODULES),
            n=rng.randint(2, 400), port=rng.randint(3000, 9999),
            hash=f"{rng.getrandbits(28):07x}")

    def middle(self, r: int, targets: list[str]) -> dict:
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        target = rng.choice(targets)
        if kind == "schedule_fired" and not (self.pending and self.pending[0][0] <= self.now):
            kind = "message"  # nothing due yet
        event: dict
        if kind == "message":
            if rng.random() < 0.1:
                text = self.fill(rng.choice(STATUS_TEXTS))
            elif rng.random() < 0.2:
                text = rng.choice(self.fixture_texts)
            else:
                text = self.fill(rng.choice(OTHER_TEXTS))
            event = {"kind": "message", "from": rng.choice(targets), "to": target, "text": text}
        elif kind == "marker":
            event = {"kind": "marker", "label": self.fill(rng.choice(MARKER_LABELS))}
            if rng.random() < 0.5:
                event["target"] = target
        elif kind == "schedule":
            note = self.fill("check {task} progress")
            due = self.now + rng.randint(60, 1800) * 1_000_000
            self.pending.append((due, target, note))
            event = {"kind": "schedule", "target": target, "note": note, "due": format_ts(due)}
        elif kind == "schedule_fired":
            _, fired_target, note = self.pending.popleft()
            event = {"kind": "schedule_fired", "target": fired_target, "note": note}
        elif kind == "window_renamed":
            event = {"kind": "window_renamed", "target": target,
                     "name": rng.choice(WINDOW_NAMES)}
        elif kind == "crash":
            error, detail = rng.choice(ERRORS)
            excerpt = (
                "Traceback (most recent call last):\n"
                f'  File "/srv/app/{rng.choice(MODULES)}.py", line {rng.randint(1, 900)}, '
                f"in {rng.choice(FUNCS)}\n"
                f"{error}: {detail}\nbash-5.2# ")
            event = {"kind": "crash", "target": target, "reason": "traceback in pane",
                     "detector": "traceback-pattern", "excerpt": excerpt}
        else:  # agent_registered
            role = rng.choice(ROLES)
            event = {"kind": "agent_registered", "target": target, "role": role,
                     "name": f"{target.split(':')[0]}-{role}-{r}"}
        event["ts"] = format_ts(self.now)
        return event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=210_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    args = parser.parse_args()
    if args.events < 1:
        parser.error("--events must be at least 1")

    gen = Generator(args.fixture, args.seed, args.events, args.hours)
    counts: collections.Counter[str] = collections.Counter()
    first = last = None
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for event in gen.events(args.events):
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            counts[event["kind"]] += 1
            first = first or event["ts"]
            last = event["ts"]

    total = sum(counts.values())
    assert total == args.events, (total, args.events)
    assert counts["capture"] == args.events // 3, counts
    print(f"wrote {total} events to {args.out} ({args.out.stat().st_size:,} bytes), "
          f"{first} .. {last}", file=sys.stderr)
    for kind, n in counts.most_common():
        print(f"  {kind:17} {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
