#!/usr/bin/env bash
# schedule_with_note.sh — schedule an orchestrator check-in and log it to orc-log.
#
# A drop-in replacement for the orchestrator's schedule_with_note.sh: the note
# is written to a file, and a detached background job sleeps MINUTES, types a
# reminder ("Time for orchestrator check! ...", with the note) into TARGET,
# waits 1 s and sends Enter. orc-log records
#     orc-log emit schedule --target TARGET --note NOTE --in MINUTESm
# at once, and, when the reminder has been typed,
#     orc-log emit schedule-fired --target TARGET --note NOTE
#
# Usage: schedule_with_note.sh MINUTES NOTE [TARGET]
#   MINUTES  delay in minutes, may be fractional (`15`, `0.5`, `.05`)
#   NOTE     what the check-in is about
#   TARGET   the pane to remind (default: tmux-orc:0, the orchestrator window)
#
# Environment:
#   ORC_LOG        the orc-log binary (default: `orc-log` on PATH)
#   ORC_LOG_DB     the database orc-log writes to (passed through unchanged)
#   ORC_NOTE_FILE  where the note is written (default:
#                  ${XDG_STATE_HOME:-~/.local/state}/orc-log/next_check_note.txt);
#                  the background job's errors go to the same path + `.log`
#   TMUX_SOCKET    when set, every tmux call is `tmux -L "$TMUX_SOCKET" ...`
#                  (a private tmux server, e.g. in tests)
#
# Prints `SCHEDULED_PID:<pid>` (the background job) like the original.
# Exit status: 0 scheduled and logged; 1 tmux cannot reach TARGET (nothing
# scheduled or logged; the reason is printed on stderr); 2 wrong arguments;
# 3 scheduled but orc-log could not log it (a warning is printed on stderr —
# do not schedule again); other non-zero: nothing was scheduled. When the
# reminder cannot be typed at its time (the pane closed meanwhile), the job
# logs nothing and writes the error to the note file's `.log`.
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") MINUTES NOTE [TARGET]" >&2
    echo "example: $(basename "$0") 15 'check on the frontend tests' tmux-orc:0" >&2
    exit 2
}

# tmux_, require_pane and orc_log.
# shellcheck source=orc-log-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/orc-log-lib.sh"

[[ $# -ge 2 && $# -le 3 ]] || usage
MINUTES="$1"
NOTE="$2"
TARGET="${3:-tmux-orc:0}"
[[ "$MINUTES" =~ ^[0-9]*\.?[0-9]*$ && "$MINUTES" =~ [0-9] ]] || {
    echo "error: MINUTES must be a non-negative number, got '$MINUTES'" >&2
    usage
}
[[ -n "$TARGET" ]] || usage
require_pane "$TARGET"
# orc-log wants a digit on both sides of the point: .5 -> 0.5, 5. -> 5.0
[[ "$MINUTES" == .* ]] && MINUTES="0$MINUTES"
[[ "$MINUTES" == *. ]] && MINUTES="${MINUTES}0"
SECS=$(awk -v m="$MINUTES" 'BEGIN { printf "%.3f", m * 60 }')

NOTE_FILE="${ORC_NOTE_FILE:-${XDG_STATE_HOME:-$HOME/.local/state}/orc-log/next_check_note.txt}"
mkdir -p "$(dirname "$NOTE_FILE")"
{
    echo "=== Next Check Note ($(date)) ==="
    echo "Scheduled for: $MINUTES minutes"
    echo
    echo "$NOTE"
} >"$NOTE_FILE"

echo "Scheduling check in $MINUTES minutes with note: $NOTE"

status=0
if ! orc_log emit schedule --target="$TARGET" --note="$NOTE" --in="${MINUTES}m"; then
    echo "warning: the check-in is scheduled but orc-log (${ORC_LOG:-orc-log}) could not log it" >&2
    status=3
fi

# One line: a newline in the note would submit the reminder early.
REMINDER="Time for orchestrator check! Note: ${NOTE//$'\n'/ } (full note: cat $NOTE_FILE)"

# The background job: immune to SIGHUP (like nohup), its output off the
# caller's terminal/pipes so that `$(schedule_with_note.sh ...)` returns at once.
(
    trap '' HUP
    sleep "$SECS"
    if ! tmux_ send-keys -t "$TARGET" -- "$REMINDER" || ! { sleep 1; tmux_ send-keys -t "$TARGET" Enter; }; then
        echo "$(date): error: tmux could not deliver the check-in to $TARGET; not logged as fired" >&2
        exit 1
    fi
    if ! orc_log emit schedule-fired --target="$TARGET" --note="$NOTE"; then
        echo "$(date): warning: check-in for $TARGET fired but orc-log could not log it" >&2
        exit 3
    fi
) </dev/null >/dev/null 2>>"$NOTE_FILE.log" &
SCHEDULE_PID=$!
disown "$SCHEDULE_PID" 2>/dev/null || true

RUN_TIME=$(date -d "@$(($(date +%s) + ${SECS%.*}))" +%H:%M:%S 2>/dev/null ||
    date -r "$(($(date +%s) + ${SECS%.*}))" +%H:%M:%S 2>/dev/null || echo unknown)
echo "Scheduled successfully - process detached (PID: $SCHEDULE_PID)"
echo "SCHEDULED_PID:$SCHEDULE_PID"
echo "Will run at approximately: $RUN_TIME"
exit "$status"
