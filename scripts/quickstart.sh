#!/usr/bin/env bash
# Quickstart: build orc-log, ingest the bundled real tmux recording into the
# default database, and show what it holds. Until `orc-log demo` (a live,
# private tmux session) lands, this is the main job of README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p orc-log
bin=target/release/orc-log
echo "== ingest tests/fixtures/tmux-session-a.ndjson"
"$bin" ingest tests/fixtures/tmux-session-a.ndjson
echo "== stats"
"$bin" stats
echo "== last 10 events"
"$bin" tail -n 10
echo "== crashes"
"$bin" tail --kind crash
echo "== verify"
"$bin" verify
