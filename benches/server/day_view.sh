#!/bin/bash
# One busy day (the 2M-event set): the size and time of the web Team page's API
# (/api/team), and of time travel (/api/team?at=, state --at), as issue 25 targets
# (< 1 MB and 100 ms; < 500 ms). Three runs each.
#
#   python3 benches/storage/make_set.py --out /tmp/proj/set-2m.ndjson
#   cargo build --release -p orc-log
#   benches/server/day_view.sh target/release/orc-log /tmp/proj/set-2m.ndjson /tmp/proj/day
set -euo pipefail
B=${1:?usage: day_view.sh ORC_LOG SET.ndjson WORKDIR [AT] [PORT]}
SET=${2:?usage: day_view.sh ORC_LOG SET.ndjson WORKDIR [AT] [PORT]}
WORK=${3:?usage: day_view.sh ORC_LOG SET.ndjson WORKDIR [AT] [PORT]}
T=${4:-2026-11-21T11:00:00Z}
PORT=${5:-18642}
D=$WORK/db
rm -rf "$D"; mkdir -p "$WORK"
/usr/bin/time -f "ingest %e s" "$B" --db "$D" ingest "$SET" > /dev/null
"$B" --db "$D" state --format json > /dev/null   # the first fold stores the checkpoints
"$B" --db "$D" serve --http "127.0.0.1:$PORT" > "$WORK/serve.out" 2> "$WORK/serve.err" &
SP=$!
trap 'kill $SP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q ready "$WORK/serve.out" 2>/dev/null && break; sleep 0.2; done
sleep 1
curl -s -o /dev/null "http://127.0.0.1:$PORT/api/team"   # the web follower catches up
for _ in 1 2 3; do curl -s -o /dev/null -w "api/team %{size_download} bytes %{time_total} s\n" "http://127.0.0.1:$PORT/api/team"; done
for _ in 1 2 3; do curl -s -o /dev/null -w "api/team?at=$T %{size_download} bytes %{time_total} s\n" "http://127.0.0.1:$PORT/api/team?at=$T"; done
for _ in 1 2 3; do /usr/bin/time -f "state --at $T (through serve) %e s" "$B" --db "$D" state --at "$T" --format json > /dev/null; done
