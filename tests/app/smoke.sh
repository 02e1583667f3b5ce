#!/usr/bin/env bash
# Smoke test of the real menu-bar app on Linux, under Xvfb and a private D-Bus session:
#   1. build and start `headroom-app --show` with a throw-away HOME, config and data dir;
#   2. wait for the tray and the first sample (log), and for the window to be mapped;
#   3. screenshot the screen (artifacts/app/window.png) and check it is not blank;
#   4. check live samples: `/api/snapshot` of the app's HTTP server twice with a changing
#      `at` (or, without the server, two different per-sample log lines);
#   5. close the window like a window manager does (WM_DELETE_WINDOW): it must hide and the
#      app must keep running;
#   6. launch a second instance: it must exit and bring the first one's window back;
#   7. SIGTERM: the app must exit with status 0.
#
# Environment: HEADROOM_APP_PROFILE=release|debug (default debug), CARGO_TARGET_DIR,
# ARTIFACTS (default artifacts/app), HEADROOM_APP_SKIP_BUILD=1 to use an existing binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROFILE=${HEADROOM_APP_PROFILE:-debug}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts/app}
BIN=$TARGET_DIR/$PROFILE/headroom-app
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[app smoke] %s\n' "$*"; }
fail() {
    printf '[app smoke] FAIL: %s\n' "$*"
    if [[ -n "${WORK:-}" && -f "$WORK/app.log" ]]; then
        cp "$WORK/app.log" "$ARTIFACTS/app.log"
        grep -av 'DEBUG\] sample' "$WORK/app.log" | tail -n 30
    fi
    exit 1
}

for tool in Xvfb dbus-run-session xwininfo curl python3 /usr/bin/import; do
    command -v "$tool" >/dev/null || fail "missing $tool (scripts/setup.sh installs it)"
done

if [[ -z "${HEADROOM_SMOKE_INNER:-}" && "${HEADROOM_APP_SKIP_BUILD:-0}" != 1 ]]; then
    flag=(); [[ "$PROFILE" == release ]] && flag=(--release)
    say "building headroom-app ($PROFILE)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build -q -p headroom-app "${flag[@]}")
fi
[[ -x "$BIN" ]] || fail "no binary at $BIN"

mkdir -p "$ARTIFACTS"
# A display of our own, then a private D-Bus session on it (single-instance, tray,
# notifications); the session bus's chatter goes to artifacts/app/dbus.log.
if [[ -z "${HEADROOM_SMOKE_INNER:-}" ]]; then
    for n in $(seq 90 140); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break; done
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
    [[ -e /tmp/.X11-unix/X$n ]] || fail "Xvfb did not start"
    set +e
    DISPLAY=:$n HEADROOM_SMOKE_INNER=1 dbus-run-session -- bash "${BASH_SOURCE[0]}" 2>"$ARTIFACTS/dbus.log"
    status=$?
    set -e
    exit $status
fi

WORK=$(mktemp -d /tmp/headroom-app-smoke.XXXXXX)
APP_PID=""
cleanup() {
    [[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export XDG_CACHE_HOME=$WORK/home/.cache XDG_RUNTIME_DIR=$WORK/run
export HEADROOM_CONFIG=$WORK/config.toml HEADROOM_DATA_DIR=$WORK/data HEADROOM_LOG=debug
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cat > "$HEADROOM_CONFIG" <<EOF
[sampling]
interval_ms = 1000

[app]
http_server = true

[server]
listen = "127.0.0.1:$PORT"
EOF

# The page's console goes to the log (a script error fails the test); a real locale, since
# WebKit passes LANG=C to the page as the language tag "C", which Intl rejects.
export HEADROOM_WEBVIEW_CONSOLE=1 LANG=en_US.UTF-8

LOG_FILE=$XDG_DATA_HOME/dev.headroom.app/logs/headroom.log
say "starting $BIN --show on $DISPLAY"
START_NS=$(date +%s%N)
"$BIN" --show >"$WORK/app.log" 2>&1 &
APP_PID=$!

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    for _ in $(seq $((secs * 10))); do "$@" && return 0; kill -0 "$APP_PID" 2>/dev/null || fail "app died while waiting for $what"; sleep 0.1; done
    fail "timed out waiting for $what"
}
logged() { grep -aq "$1" "$WORK/app.log"; }
wait_for 60 "the tray icon" logged "tray icon ready"
wait_for 30 "the first sample" logged "first sample"
say "$(grep -ao 'tray icon ready.*' "$WORK/app.log" | head -1); $(grep -ao 'first sample.*' "$WORK/app.log" | head -1)"

# The main window: a mapped top-level named "Headroom".
window_id() { xwininfo -root -tree | awk '/"Headroom": \(/ && $0 ~ /[0-9]+x[0-9]+\+/ {print $1}' | while read -r id; do
    xwininfo -id "$id" | grep -q 'IsViewable' && echo "$id"; done | head -1; }
mapped() { [[ -n "$(window_id)" ]]; }
wait_for 30 "the window to be mapped" mapped
WID=$(window_id)
say "window $WID mapped after $(( ($(date +%s%N) - START_NS) / 1000000 )) ms"

# Screenshot of the screen, and of the window alone; retry while the web view paints. The
# window's own pixels must vary (a blank page is one flat colour).
geometry() { xwininfo -id "$WID" | awk '/Absolute upper-left X/ {x=$NF} /Absolute upper-left Y/ {y=$NF}
    /Width:/ {w=$NF} /Height:/ {h=$NF} END {printf "%dx%d+%d+%d", w, h, x, y}'; }
SCREEN=$ARTIFACTS/screen.png SHOT=$ARTIFACTS/window.png
ok=0
for _ in $(seq 30); do
    sleep 1
    /usr/bin/import -window root "$SCREEN"
    /usr/bin/convert "$SCREEN" -crop "$(geometry)" +repage "$SHOT"
    sd=$(/usr/bin/convert "$SHOT" -format '%[fx:standard_deviation]' info:)
    if python3 -c "import sys; sys.exit(0 if float('$sd') > 0.05 else 1)"; then ok=1; break; fi
done
[[ $ok == 1 ]] || fail "the window looks blank (standard deviation $sd)"
sleep 2  # let the charts and the MLX scan land, then keep that picture
/usr/bin/import -window root "$SCREEN"
/usr/bin/convert "$SCREEN" -crop "$(geometry)" +repage "$SHOT"
sd=$(/usr/bin/convert "$SHOT" -format '%[fx:standard_deviation]' info:)
say "screenshot $SHOT ($(geometry), standard deviation $sd)"
if grep -aq 'CONSOLE JS ERROR' "$WORK/app.log"; then fail "script error in the page: $(grep -a 'CONSOLE JS ERROR' "$WORK/app.log" | head -1)"; fi

# Live samples.
if grep -aq "HTTP server listening" "$WORK/app.log"; then
    at() { curl -sf "http://127.0.0.1:$PORT/api/snapshot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["at"])'; }
    a=$(at) || fail "GET /api/snapshot failed"; sleep 2.2; b=$(at) || fail "GET /api/snapshot failed"
    [[ "$a" != "$b" ]] || fail "/api/snapshot did not change: $a"
    say "live samples over HTTP: $a -> $b"
else
    n=$(grep -ac 'sample at=' "$WORK/app.log" || true); sleep 2.2
    m=$(grep -ac 'sample at=' "$WORK/app.log" || true)
    (( m > n && m >= 2 )) || fail "no live samples in the log ($n then $m)"
    say "live samples in the log: $n -> $m lines ($(grep -ao 'sample at=[^ ]*' "$WORK/app.log" | tail -1))"
fi
[[ -s "$LOG_FILE" ]] || fail "no log file at $LOG_FILE"

# Close like a window manager: hidden, still running.
python3 "$HERE/xclose.py" "$WID"
wait_for 10 "the window to hide" bash -c "xwininfo -id $WID | grep -q IsUnMapped"
sleep 1
kill -0 "$APP_PID" || fail "closing the window quit the app"
say "window closed: hidden, app still running"

# A second launch exits and shows the first instance's window.
timeout 20 "$BIN" >"$WORK/second.log" 2>&1 || fail "second launch failed: $(cat "$WORK/second.log")"
wait_for 10 "the first instance to show its window" mapped
say "second launch focused the first instance"

# SIGTERM quits cleanly.
kill -TERM "$APP_PID"
set +e; wait "$APP_PID"; status=$?; set -e
APP_PID=""
[[ $status == 0 ]] || fail "exit status $status after SIGTERM"
logged "stopped" || fail "no clean stop in the log"
say "SIGTERM: exit status 0"
cp "$WORK/app.log" "$ARTIFACTS/app.log"
say "ok"
