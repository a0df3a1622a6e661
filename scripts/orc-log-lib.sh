# Shared by the drop-in scripts in this directory (sourced, not run).
# Keep this file next to the scripts when copying them elsewhere.

# tmux_ ARGS...: tmux, on the private server $TMUX_SOCKET when it is set.
tmux_() {
    if [[ -n "${TMUX_SOCKET:-}" ]]; then
        command tmux -L "$TMUX_SOCKET" "$@"
    else
        command tmux "$@"
    fi
}

# orc_log ARGS...: runs orc-log ($ORC_LOG, default `orc-log` on PATH),
# retrying for up to ~2 s while another process holds the database (nothing
# was appended then, so a retry is safe).
orc_log() {
    local bin="${ORC_LOG:-orc-log}" err status attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        status=0
        err=$("$bin" "$@" 2>&1 >/dev/null) || status=$?
        if [[ $status -eq 0 ]]; then
            [[ -z "$err" ]] || printf '%s\n' "$err" >&2
            return 0
        fi
        [[ "$err" == *"is in use by"* && $attempt -lt 10 ]] || break
        sleep 0.2
    done
    [[ -z "$err" ]] || printf '%s\n' "$err" >&2
    return "$status"
}

# require_pane TARGET: exits 1 with a message naming TARGET when tmux cannot
# reach it (no such session, window or pane, or no tmux server), so nothing
# is typed, scheduled or logged for a pane that does not exist.
require_pane() {
    local err
    # send-keys without keys resolves TARGET exactly as delivery will and
    # types nothing (display-message would fall back to the current pane).
    if ! err=$(tmux_ send-keys -t "$1" 2>&1 >/dev/null); then
        echo "error: tmux cannot reach '$1'${TMUX_SOCKET:+ on socket $TMUX_SOCKET}: ${err:-no such pane}" >&2
        exit 1
    fi
}
