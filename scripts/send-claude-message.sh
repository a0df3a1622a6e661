#!/usr/bin/env bash
# send-claude-message.sh — type a message into a tmux pane and log it to orc-log.
#
# A drop-in replacement for the orchestrator's send-claude-message.sh: the text
# is typed into TARGET (`tmux send-keys -t TARGET MESSAGE`), then, 0.5 s later,
# Enter is sent. After that the message is recorded with
#     orc-log emit message --from FROM --to TARGET --text MESSAGE
#
# Usage: send-claude-message.sh TARGET MESSAGE...
#   TARGET   a tmux target such as `proj:1` or `proj:1.0` (orc-log stores
#            `session:window` as `session:window.0`)
#   MESSAGE  the text; several arguments are joined with spaces, as before
#
# Environment:
#   ORC_LOG_FROM  sender recorded in the log; default: the current tmux pane
#                 (session:window.pane) when run inside tmux, else `script`
#   ORC_LOG       the orc-log binary (default: `orc-log` on PATH)
#   ORC_LOG_DB    the database orc-log writes to (passed through unchanged)
#   TMUX_SOCKET   when set, every tmux call is `tmux -L "$TMUX_SOCKET" ...`
#                 (a private tmux server, e.g. in tests)
#
# Exit status: 0 delivered and logged; 1 tmux cannot reach TARGET or failed
# (not delivered, not logged; the reason is printed on stderr); 2 wrong arguments; 3 delivered but orc-log failed (a warning is
# printed on stderr — do not resend the message).
set -euo pipefail

usage() {
    echo "usage: $(basename "$0") TARGET MESSAGE..." >&2
    echo "example: $(basename "$0") proj:1 'Please run the tests'" >&2
    exit 2
}

# tmux_, require_pane and orc_log.
# shellcheck source=orc-log-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/orc-log-lib.sh"

[[ $# -ge 2 ]] || usage
case "$1" in -h | --help) usage ;; esac
TARGET="$1"
shift
MESSAGE="$*"
[[ -n "$TARGET" ]] || usage

require_pane "$TARGET"
# Deliver: the text, a pause for the UI to register it, then Enter.
if ! tmux_ send-keys -t "$TARGET" -- "$MESSAGE" || ! { sleep 0.5; tmux_ send-keys -t "$TARGET" Enter; }; then
    echo "error: tmux could not deliver the message to '$TARGET'; it is not logged" >&2
    exit 1
fi
echo "Message sent to $TARGET: $MESSAGE"

if [[ -n "${ORC_LOG_FROM:-}" ]]; then
    FROM="$ORC_LOG_FROM"
elif [[ -n "${TMUX:-}" ]]; then
    FROM=$(tmux_ display-message -p '#{session_name}:#{window_index}.#{pane_index}' 2>/dev/null || true)
    [[ -n "$FROM" ]] || FROM=script
else
    FROM=script
fi

if ! orc_log emit message --from="$FROM" --to="$TARGET" --text="$MESSAGE"; then
    echo "warning: the message was delivered to $TARGET but orc-log (${ORC_LOG:-orc-log}) could not log it" >&2
    exit 3
fi
