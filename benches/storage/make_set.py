#!/usr/bin/env python3
"""Generate a large, realistic, deterministic NDJSON event set for the storage benchmark.

Usage:
    python3 benches/storage/make_set.py --out /tmp/set-2m.ndjson
    python3 benches/storage/make_set.py --events 200000 --out /tmp/set-200k.ndjson --seed 1

Options:
    --events N      number of events (lines) to write, default 2000000
    --out FILE      output NDJSON file (required; never check the output in)
    --seed S        random seed, default 1; the same options and fixture give the same bytes
    --hours H       time span covered by the timestamps, default 24
    --sessions N    tmux sessions, default 40 (4 panes each: 160 panes)
    --captures F    share of events that are pane captures, default 0.35
    --fixture F     source fixture, default tests/fixtures/tmux-session-a.ndjson under the
                    repository root (found from this script's location)

The set looks like a day of a busy orchestrator host (the 210k-event set of
benches/sql/make_large_ndjson.py is its smaller, 6-hour sibling; this script reuses its texts):

- Sessions team00..team39, each with four windows (pane .0 each) that replay the fixture's
  four recorded panes: window 0 orch:0.0 (orchestrator shell), 1 proj:0.0 (a `watch` of
  date/free/uptime), 2 proj:1.0 (engineer shell), 3 proj:2.0 (HTTP server log).
- About --captures of the events are captures. Each capture goes to one pane, chosen by how
  busy the pane is (its fixture pane's capture count times a per-session factor), and is that
  pane's next frame of its recording, looping; so a pane's consecutive captures are the
  recording's consecutive frames: delta-friendly like a real recorder's. Contents vary per
  session (prompt, host name, port) and per frame: clock texts in the recording (`23:04:27`,
  `Fri Nov 20`, `20/Nov/2026`) show the capture's own time, and for a while after a crash the
  pane shows the crash's traceback under its content.
- The rest, interleaved at random: messages between a session's panes (about one in ten asks
  for a "status"), schedules (due 1-30 minutes later; one in ten never fires),
  schedule_fired for schedules that fell due, markers, crashes with a Python traceback,
  lifecycle (all sessions open at the start; window renames, agent re-registrations and now
  and then a whole session restart: windows and session closed, then opened again).

Every line has `ts` (RFC 3339, microseconds, UTC), strictly increasing over about --hours
hours. Lines carry only fields `orc-log ingest` accepts (schemas/event-v1.schema.json), no
`id`, and there are no blank lines, so orc-log's seq equals the line number. 2,000,000
events (about 0.8 GB) take about a minute.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import datetime as dt
import json
import random
import re
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "tmux-session-a.ndjson"
sys.path.insert(0, str(REPO_ROOT / "benches" / "sql"))
import make_large_ndjson as base  # noqa: E402  (texts and templates shared with the SQL set)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# The fixture's panes, in window order, with the window names and agent roles they get.
FIXTURE_PANES = ["orch:0.0", "proj:0.0", "proj:1.0", "proj:2.0"]
WINDOWS = [("orchestrator", "orchestrator"), ("pm", "project_manager"),
           ("eng", "engineer"), ("server", None)]
PROMPTS = ["bash-5.2#", "root@{s}:~#", "{s}$", "[{s} ~]$", "dev@{s}:/srv/app$"]

# Non-capture events, by weight.
OTHER_KINDS = [
    ("message", 62.0),
    ("schedule", 9.0),
    ("schedule_fired", 9.0),
    ("marker", 6.0),
    ("window_renamed", 1.5),
    ("crash", 1.2),
    ("agent_registered", 1.0),
    ("session_restart", 0.05),
]

# Clock texts in the fixture's pane contents, replaced by the capture's own time.
CLOCK = re.compile(r"(Fri Nov 20)|(20/Nov/2026)|\b(2[0-3]):([0-5]\d):([0-5]\d)\b")


class Pane:
    """One pane: its target and its recording (fixture frames as JSON line pieces)."""

    def __init__(self, target: str, frames: list[tuple[str, str, bool, int]]):
        self.target = target
        # (prefix up to "content":, JSON-encoded content, has clock text, fixture time in s)
        self.frames = frames
        self.next = 0
        self.crash_shown = 0  # captures left that show the last crash's traceback
        self.crash_json = ""


class Generator:
    fill = base.Generator.fill  # a template with random task, state, module, n, port, hash

    def __init__(self, fixture: Path, seed: int, total: int, hours: float, sessions: int,
                 capture_share: float):
        events = [json.loads(line) for line in fixture.read_text().splitlines() if line.strip()]
        self.fixture_texts = [e["text"] for e in events if e["kind"] == "message"]
        recordings = {t: [e for e in events if e["kind"] == "capture" and e.get("target") == t]
                      for t in FIXTURE_PANES}
        start = dt.datetime.fromisoformat(events[0]["ts"].replace("Z", "+00:00"))
        self.now = (start - EPOCH) // dt.timedelta(microseconds=1)
        self.rng = random.Random(seed)
        self.capture_share = capture_share
        self.mean_gap = hours * 3600e6 / max(total, 1)
        self.sessions = [f"team{g:02d}" for g in range(sessions)]
        self.panes: list[Pane] = []
        weights = []
        for g, session in enumerate(self.sessions):
            busy = self.rng.uniform(0.4, 1.6)
            for w, fixture_target in enumerate(FIXTURE_PANES):
                rec = recordings[fixture_target]
                self.panes.append(self.make_pane(g, session, w, rec))
                weights.append(busy * max(1, len(rec)))
        self.cum_weights = []
        acc = 0.0
        for w in weights:
            acc += w
            self.cum_weights.append(acc)
        self.targets = [p.target for p in self.panes]
        self.pending = collections.deque()  # (due micros, target, note) of open schedules
        self.queue: collections.deque = collections.deque()  # burst events still to emit
        self.kinds, kind_weights = zip(*OTHER_KINDS)
        self.kind_cum = [sum(kind_weights[:i + 1]) for i in range(len(kind_weights))]
        self.restarts = collections.Counter()
        self._sec = -1
        self._sec_text = ""

    def make_pane(self, g: int, session: str, w: int, rec: list[dict]) -> Pane:
        prompt = PROMPTS[g % len(PROMPTS)].format(s=session)
        port = str(18000 + 37 * g)
        target = f"{session}:{w}.0"
        frames = []
        for e in rec:
            content = (e["content"].replace("bash-5.2#", prompt).replace("18777", port)
                       .replace("vm:", f"{session}:"))
            prefix = json.dumps({"kind": "capture", "target": target, "width": e["width"],
                                 "height": e["height"], "cursor_x": e["cursor_x"],
                                 "cursor_y": e["cursor_y"]}, separators=(",", ":"))
            fixture_s = int(dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
                            .timestamp())
            frames.append((prefix[:-1] + ',"content":',
                           json.dumps(content, ensure_ascii=False),
                           CLOCK.search(content) is not None, fixture_s))
        return Pane(target, frames)

    # -- time -------------------------------------------------------------------------------

    def tick(self) -> None:
        self.now += max(1, round(self.rng.expovariate(1.0 / self.mean_gap)))

    def ts(self, micros: int | None = None) -> str:
        micros = self.now if micros is None else micros
        sec, frac = divmod(micros, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._sec_text = (EPOCH + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._sec_text}.{frac:06d}Z"

    # -- the stream -------------------------------------------------------------------------

    def lines(self, total: int):
        """Yield `total` NDJSON lines (without newline) and their kinds."""
        for session in self.sessions:
            self.queue.extend(self.session_opening(session, 0))
        for _ in range(total):
            self.tick()
            if self.queue:
                event = self.queue.popleft()
            elif self.rng.random() < self.capture_share:
                yield self.capture(), "capture"
                continue
            else:
                event = self.other()
            event["ts"] = self.ts()
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")), event["kind"]

    def session_opening(self, session: str, restart: int) -> list[dict]:
        out = [{"kind": "session_opened", "session": session}]
        for w, (name, role) in enumerate(WINDOWS):
            target = f"{session}:{w}.0"
            out.append({"kind": "window_opened", "target": target, "name": name})
            if role:
                out.append({"kind": "agent_registered", "target": target, "role": role,
                            "name": f"{session}-{name}" + (f"-r{restart}" if restart else "")})
        return out

    def capture(self) -> str:
        rng = self.rng
        pane = self.panes[bisect.bisect_left(self.cum_weights,
                                             rng.random() * self.cum_weights[-1])]
        prefix, content, has_clock, fixture_s = pane.frames[pane.next]
        pane.next = (pane.next + 1) % len(pane.frames)
        if has_clock:
            shift = self.now // 1_000_000 - fixture_s
            content = CLOCK.sub(lambda m: self.clock(m, shift), content)
        if pane.crash_shown:
            pane.crash_shown -= 1
            content = content[:-1] + pane.crash_json
        return f'{prefix}{content},"ts":"{self.ts()}"}}'

    def clock(self, m: re.Match, shift: int) -> str:
        day = EPOCH + dt.timedelta(microseconds=self.now)
        if m.group(1):
            return day.strftime("%a %b %d")
        if m.group(2):
            return day.strftime("%d/%b/%Y")
        s = (int(m.group(3)) * 3600 + int(m.group(4)) * 60 + int(m.group(5)) + shift) % 86400
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def other(self) -> dict:
        rng = self.rng
        kind = self.kinds[bisect.bisect_left(self.kind_cum, rng.random() * self.kind_cum[-1])]
        g = rng.randrange(len(self.sessions))
        session = self.sessions[g]
        window = rng.choice((0, 1, 1, 2, 2, 2, 3))
        target = f"{session}:{window}.0"
        if kind == "schedule_fired" and not (self.pending and self.pending[0][0] <= self.now):
            kind = "message"  # nothing due yet
        if kind == "message":
            if rng.random() < 0.1:
                text = self.fill(rng.choice(base.STATUS_TEXTS))
            elif rng.random() < 0.2:
                text = rng.choice(self.fixture_texts)
            else:
                text = self.fill(rng.choice(base.OTHER_TEXTS))
            sender = f"{session}:{rng.choice((0, 1, 2))}.0"
            return {"kind": "message", "from": sender, "to": target, "text": text}
        if kind == "schedule":
            note = self.fill("check {task} progress")
            due = self.now + rng.randint(60, 1800) * 1_000_000
            if rng.random() < 0.9:  # the rest never fire
                self.pending.append((due, target, note))
            return {"kind": "schedule", "target": target, "note": note, "due": self.ts(due)}
        if kind == "schedule_fired":
            _, fired_target, note = self.pending.popleft()
            return {"kind": "schedule_fired", "target": fired_target, "note": note}
        if kind == "marker":
            event = {"kind": "marker", "label": self.fill(rng.choice(
                base.MARKER_LABELS))}
            if rng.random() < 0.5:
                event["target"] = target
            return event
        if kind == "window_renamed":
            return {"kind": "window_renamed", "target": target,
                    "name": rng.choice(base.WINDOW_NAMES)}
        if kind == "crash":
            error, detail = rng.choice(base.ERRORS)
            excerpt = ("Traceback (most recent call last):\n"
                       f'  File "/srv/app/{rng.choice(base.MODULES)}.py", line '
                       f"{rng.randint(1, 900)}, in {rng.choice(base.FUNCS)}\n"
                       f"{error}: {detail}\n")
            pane = self.panes[g * len(FIXTURE_PANES) + window]
            pane.crash_shown = rng.randint(2, 12)
            pane.crash_json = json.dumps("\n" + excerpt, ensure_ascii=False)[1:]
            return {"kind": "crash", "target": target, "reason": "traceback in pane",
                    "detector": "traceback-pattern", "excerpt": excerpt}
        if kind == "agent_registered":
            name, role = WINDOWS[window]
            role = role or rng.choice(base.ROLES)
            return {"kind": "agent_registered", "target": target, "role": role,
                    "name": f"{session}-{name}"}
        # session_restart: close every window and the session, open them again.
        self.restarts[session] += 1
        closing = [{"kind": "window_closed", "target": f"{session}:{w}.0"}
                   for w in range(len(WINDOWS))]
        closing.append({"kind": "session_closed", "session": session})
        burst = closing + self.session_opening(session, self.restarts[session])
        self.queue.extend(burst[1:])
        return burst[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--captures", type=float, default=0.35)
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    args = parser.parse_args()
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    if not 0 <= args.captures <= 1:
        parser.error("--captures must be between 0 and 1")

    started = time.perf_counter()
    gen = Generator(args.fixture, args.seed, args.events, args.hours, args.sessions,
                    args.captures)
    counts: collections.Counter[str] = collections.Counter()
    first = last = ""
    buf: list[str] = []
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for line, kind in gen.lines(args.events):
            buf.append(line)
            counts[kind] += 1
            if len(buf) >= 10_000:
                out.write("\n".join(buf))
                out.write("\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf))
            out.write("\n")
    with open(args.out, "rb") as f:
        first = json.loads(f.readline())["ts"]
        f.seek(max(0, args.out.stat().st_size - 1_000_000))
        last = json.loads(f.read().splitlines()[-1])["ts"]

    total = sum(counts.values())
    assert total == args.events, (total, args.events)
    print(f"wrote {total:,} events to {args.out} ({args.out.stat().st_size:,} bytes), "
          f"{first} .. {last}, {len(gen.panes)} panes in {len(gen.sessions)} sessions, "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    for kind, n in counts.most_common():
        print(f"  {kind:17} {n:>9,}  {100 * n / total:5.1f}%", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
