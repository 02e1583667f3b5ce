#!/usr/bin/env bash
# Smoke test of the real menu-bar app on Linux, under Xvfb and a private D-Bus session:
#   1. build and start `headroom-app` with a throw-away HOME, config and data dir, and a
#      web view kept 3 s after the popover is hidden (HEADROOM_WEBVIEW_KEEP_SECS);
#   2. wait for the tray and the first sample (log);
#   3. the desktop end to end while NO web view exists (the popover was never opened), with a
#      real MLX process under the agent (tests/app/mlx_holder.py, ≥ 64 MB of MLX cache) and a
#      D-Bus peer playing the desktop (tests/app/desktop_peer.py: StatusNotifierWatcher +
#      notification server): the tray registers with it; a rule on the MLX cache notifies
#      once while it stays fired; the native menu's "Clear MLX cache — 1 process, …" is
#      clicked over dbusmenu like a tray host does; the app's snapshot then shows the cache at
#      ~0, the process still alive, and a notification says what was cleared; the app has no
#      WebKit process all along;
#   4. open the popover from the tray menu ("Open Headroom" over dbusmenu; without the peer:
#      `--show`): it is mapped once its page painted a sample; screenshot
#      (artifacts/app/window.png), not blank;
#   5. check live samples: `/api/snapshot` of the app's HTTP server twice with a changing
#      `at` (or, without the server, two different per-sample log lines);
#   6. close the window like a window manager does (WM_DELETE_WINDOW): it must hide, the app
#      keep running, and after the keep time the web view and WebKit's web and network
#      processes must be gone;
#   7. open it again from the tray menu: a fresh page, painted with a sample, not blank; close
#      it, and once released open it from "Alerts…": the page loads again on the Alerts view;
#   8. launch a second instance: it must exit and bring the first one's window back;
#   9. SIGTERM: the app must exit with status 0;
#  10. when a .deb was built (HEADROOM_APP_DEB, or target/<profile>/bundle/deb/*.deb):
#      unpack it into a scratch root (dpkg -x), start the installed binary, and see it alive
#      with its tray registered; SIGTERM, status 0.
#
# Environment: HEADROOM_APP_PROFILE=release|debug (default debug), CARGO_TARGET_DIR,
# ARTIFACTS (default artifacts/app), HEADROOM_APP_SKIP_BUILD=1 to use an existing binary.
# Step 5 needs .venv (MLX, the agent, dbus-fast: scripts/setup.sh); without it the step is
# SKIPPED, or fails when HEADROOM_E2E_REQUIRED=1 (CI). HEADROOM_VENV_PYTHON overrides the
# interpreter (default .venv/bin/python).
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
    for f in peer.log holder.log notifications.jsonl; do
        [[ -n "${WORK:-}" && -f "$WORK/$f" ]] && cp "$WORK/$f" "$ARTIFACTS/$f"
    done
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
APP_PID="" PEER_PID="" HOLDER_PID=""
cleanup() {
    for pid in "$APP_PID" "$HOLDER_PID" "$PEER_PID"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export XDG_CACHE_HOME=$WORK/home/.cache XDG_RUNTIME_DIR=$WORK/run
export HEADROOM_CONFIG=$WORK/config.toml HEADROOM_DATA_DIR=$WORK/data HEADROOM_LOG=debug
export HEADROOM_WEBVIEW_KEEP_SECS=3
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cat > "$HEADROOM_CONFIG" <<EOF
[sampling]
interval_ms = 1000

[app]
http_server = true

[server]
listen = "127.0.0.1:$PORT"

# The only rule (no defaults: none may clear the cache before the menu does): notify, once,
# while the MLX cache of attached processes is above 16 MiB.
[[rules]]
id = "smoke-mlx-cache"
name = "Smoke: MLX cache above 16 MiB"
metric = "mlx_cache_total"
comparison = "above"
threshold = "16MiB"
recovery = "8MiB"
actions = [{ type = "notify" }]
EOF

# Step 5's parts start before the app, as on a desktop: the D-Bus peer (tray watcher and
# notification server) and a real MLX process under the agent, whose socket lands in this
# XDG_RUNTIME_DIR where the app looks.
VENV_PY=${HEADROOM_VENV_PYTHON:-$ROOT/.venv/bin/python}
E2E=0
if [[ -x "$VENV_PY" ]] && "$VENV_PY" -c 'import mlx.core, headroom_agent, dbus_fast' 2>/dev/null; then
    E2E=1
elif [[ "${HEADROOM_E2E_REQUIRED:-0}" == 1 ]]; then
    fail "no .venv with mlx, headroom_agent and dbus_fast at $VENV_PY (run scripts/setup.sh); HEADROOM_E2E_REQUIRED=1"
else
    say "******** SKIPPED: tray menu click, MLX cache clear and notifications (no .venv with mlx, headroom_agent and dbus_fast; run scripts/setup.sh) ********"
fi
NOTES=$WORK/notifications.jsonl
MIB=$((1024 * 1024))
if [[ $E2E == 1 ]]; then
    "$VENV_PY" "$HERE/desktop_peer.py" serve "$NOTES" >"$WORK/peer.log" 2>&1 &
    PEER_PID=$!
    "$VENV_PY" -m headroom_agent run "$HERE/mlx_holder.py" 96 600 >"$WORK/holder.log" 2>&1 &
    HOLDER_PID=$!
    for _ in $(seq 200); do
        grep -q '^READY' "$WORK/peer.log" && grep -q '^HOLDING' "$WORK/holder.log" && break
        kill -0 "$PEER_PID" 2>/dev/null || fail "the D-Bus peer died: $(cat "$WORK/peer.log")"
        kill -0 "$HOLDER_PID" 2>/dev/null || fail "the MLX process died: $(cat "$WORK/holder.log")"
        sleep 0.1
    done
    grep -q '^READY' "$WORK/peer.log" || fail "the D-Bus peer did not start: $(cat "$WORK/peer.log")"
    read -r _ held_pid held_bytes < <(grep -m1 '^HOLDING' "$WORK/holder.log") || fail "the MLX process did not fill its cache: $(cat "$WORK/holder.log")"
    [[ $held_pid == "$HOLDER_PID" ]] || fail "the MLX process is pid $held_pid, expected $HOLDER_PID"
    say "desktop peer on the session bus (StatusNotifierWatcher, Notifications); MLX process $HOLDER_PID under the agent holds $held_bytes bytes of MLX cache"
fi

# The page's console goes to the log (a script error fails the test); a real locale, since
# WebKit passes LANG=C to the page as the language tag "C", which Intl rejects.
export HEADROOM_WEBVIEW_CONSOLE=1 LANG=en_US.UTF-8

LOG_FILE=$XDG_DATA_HOME/dev.headroom.Headroom/logs/headroom.log
# With the desktop peer the popover is opened from the tray menu, as a person does; without
# it, at launch.
SHOW=(); [[ $E2E == 1 ]] || SHOW=(--show)
say "starting $BIN ${SHOW[*]} on $DISPLAY"
START_NS=$(date +%s%N)
"$BIN" "${SHOW[@]}" >"$WORK/app.log" 2>&1 &
APP_PID=$!

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND... (by the clock: COMMAND may be slow)
    local secs=$1 what=$2 end; shift 2
    end=$(( $(date +%s%N) + secs * 1000000000 ))
    while (( $(date +%s%N) < end )); do "$@" && return 0; kill -0 "$APP_PID" 2>/dev/null || fail "app died while waiting for $what"; sleep 0.1; done
    fail "timed out waiting for $what"
}
logged() { grep -aq "$1" "$WORK/app.log"; }
wait_for 60 "the tray icon" logged "tray icon ready"
wait_for 30 "the first sample" logged "first sample"
say "$(grep -ao 'tray icon ready.*' "$WORK/app.log" | head -1); $(grep -ao 'first sample.*' "$WORK/app.log" | head -1)"


# WebKit's processes among the app's descendants (its web and network processes).
descendants() {
    local pids=("$1") i=0
    while (( i < ${#pids[@]} )); do
        for c in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    echo "${pids[@]:1}"
}
web_processes() {
    local p n out=()
    for p in $(descendants "$APP_PID"); do
        n=$(cat /proc/"$p"/comm 2>/dev/null) || continue
        [[ $n == WebKit* ]] && out+=("$p:$n")
    done
    echo "${out[*]}"
}
no_web_processes() { [[ -z "$(web_processes)" ]]; }
open_from_menu() { "$VENV_PY" "$HERE/desktop_peer.py" click "Open Headroom" >/dev/null || fail "could not click 'Open Headroom' over dbusmenu"; }

# The desktop end to end: tray registration, an alert notified once, "Clear MLX cache" clicked
# in the native menu over dbusmenu, the real MLX process's cache at ~0 afterwards (seen from
# outside, in the app's snapshot), the process alive, and a notification saying so.
if [[ $E2E == 1 ]]; then
    STEP_NS=$(date +%s%N)
    ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
    json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
    # From outside the app: its HTTP server's /api/snapshot, else `headroom status --json`.
    if grep -aq "HTTP server listening" "$WORK/app.log"; then
        snapshot() { curl -sf -H "Authorization: Bearer $(cat "$HEADROOM_DATA_DIR/serve-token")" "http://127.0.0.1:$PORT/api/snapshot"; }
    elif [[ -x "$TARGET_DIR/$PROFILE/headroom" ]]; then
        snapshot() { "$TARGET_DIR/$PROFILE/headroom" status --json; }
    else
        fail "neither the app's HTTP server nor $TARGET_DIR/$PROFILE/headroom to read snapshots from"
    fi
    # The MLX cache of the holder in the snapshot: bytes, or detached / absent.
    holder_cache() { snapshot | python3 -c '
import json, sys
pid = int(sys.argv[1])
found = [p for p in json.load(sys.stdin)["mlx"] if p["pid"] == pid]
print("absent" if not found else found[0].get("cache", "unknown") if found[0].get("attached") else "detached")' "$HOLDER_PID"; }
    cache_at_least() { local c; c=$(holder_cache) && [[ $c =~ ^[0-9]+$ ]] && (( c >= $1 )); }
    cache_below() { local c; c=$(holder_cache) && [[ $c =~ ^[0-9]+$ ]] && (( c < $1 )); }
    menu_item() { "$VENV_PY" "$HERE/desktop_peer.py" menu "Clear MLX cache" 2>/dev/null; }
    count_notes() { local n; n=$(grep -c -- "$1" "$NOTES" 2>/dev/null) || true; echo "${n:-0}"; }
    RULE_TEXT="Smoke: MLX cache above 16 MiB"
    CLEARED_RE='Cleared [0-9.]+ [KMGT]?B of MLX cache in 1 process'
    rule_notified() { (( $(count_notes "$RULE_TEXT") >= 1 )); }
    cleared_notified() { grep -Eq "$CLEARED_RE" "$NOTES" 2>/dev/null; }
    note_of() { grep -E -m1 -- "$1" "$NOTES"; }
    # The rule's state from the app's /metrics (1 fired, 0 armed; "-" without the HTTP server).
    rule_firing() {
        grep -aq "HTTP server listening" "$WORK/app.log" || { echo -; return; }
        curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^headroom_rule_firing\{rule="smoke-mlx-cache"/ {print $NF}'
    }

    registered() { grep -q '^ITEM ' "$WORK/peer.log"; }
    wait_for 20 "the tray to register its StatusNotifierItem with the watcher" registered
    say "tray registered with the StatusNotifierWatcher as $(grep -m1 '^ITEM ' "$WORK/peer.log" | cut -d' ' -f2)"

    wait_for 20 "the app's snapshot to show MLX process $HOLDER_PID attached with ≥ 64 MB of cache" cache_at_least $((64 * MIB))
    menu_ready() { local j; j=$(menu_item) && [[ $j == *'1 process'* && $(json_field "$j" enabled) == True ]]; }
    wait_for 15 "the enabled menu item 'Clear MLX cache — 1 process, …'" menu_ready
    label_before=$(json_field "$(menu_item)" label)
    say "menu item over dbusmenu: '$label_before' (enabled)"

    # The rule fired on the first sample over 16 MiB; alone (no action), it is notified after
    # the app's 5 s wait for an action result. It stays fired while the cache stays: once.
    wait_for 15 "the rule's notification ($RULE_TEXT)" rule_notified
    sleep 3.5  # three more samples with the rule fired
    before=$(holder_cache)
    [[ $before =~ ^[0-9]+$ ]] && (( before >= 64 * MIB )) || fail "the MLX cache went down before the click: $before"
    firing=$(rule_firing)
    [[ $firing == 1 || $firing == - ]] || fail "the rule is not fired in /metrics: '$firing'"
    n=$(count_notes "$RULE_TEXT")
    (( n == 1 )) || fail "the rule was notified $n times while it stayed fired: $(cat "$NOTES")"
    rule_note=$(note_of "$RULE_TEXT")
    rule_age=$(( $(date +%s%N) / 1000000 - $(json_field "$rule_note" at_ms) ))
    say "alert notified once (still fired $rule_age ms after delivery, rule_firing=$firing): $(json_field "$rule_note" summary) | $(json_field "$rule_note" body) (app_name $(json_field "$rule_note" app_name))"
    say "MLX cache of pid $HOLDER_PID before the click: $before bytes"

    # The click, as a tray host sends it.
    click=$("$VENV_PY" "$HERE/desktop_peer.py" click "Clear MLX cache") || fail "could not click 'Clear MLX cache' over dbusmenu"
    clicked_ms=$(json_field "$click" clicked_at_ms)
    CLICK_NS=$((clicked_ms * 1000000))
    wait_for 15 "a notification saying what was cleared" cleared_notified
    cleared_note=$(note_of "$CLEARED_RE")
    note_ms=$(( $(json_field "$cleared_note" at_ms) - clicked_ms ))
    wait_for 10 "the app's snapshot to show the MLX cache of pid $HOLDER_PID at ~0 (< 1 MiB)" cache_below "$MIB"
    zero_ms=$(ms_since "$CLICK_NS")
    after=$(holder_cache)
    kill -0 "$HOLDER_PID" 2>/dev/null || fail "the MLX process $HOLDER_PID is gone: clearing must never kill it"
    ! grep -q Traceback "$WORK/holder.log" || fail "the MLX process failed: $(cat "$WORK/holder.log")"
    body=$(json_field "$cleared_note" body)
    freed=$(grep -Eo 'Cleared [0-9.]+ MB' <<<"$body" | grep -Eo '[0-9.]+' || true)
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 64 else 1)' "$freed" \
        || fail "the notification does not name ≥ 64 MB cleared: $body"
    say "clicked: notification after $note_ms ms: $(json_field "$cleared_note" summary) | $body"
    say "MLX cache of pid $HOLDER_PID: $before -> $after bytes ($zero_ms ms from the click to the app's snapshot); the process is alive and attached"

    label_updated() { local j; j=$(menu_item) && [[ $(json_field "$j" label) != "$label_before" ]]; }
    wait_for 10 "the menu label to follow the cleared cache" label_updated
    say "menu item now: '$(json_field "$(menu_item)" label)'"
    n=$(count_notes "$RULE_TEXT")
    (( n == 1 )) || fail "the rule was notified $n times: $(cat "$NOTES")"
    say "rule after the clear: rule_firing=$(rule_firing) (resolved quietly), rule notifications: $n"
    no_web_processes || fail "WebKit processes exist although the popover was never opened: $(web_processes)"
    say "desktop end to end ok in $(ms_since "$STEP_NS") ms with no web view (no WebKit process); all notifications: $(wc -l <"$NOTES")"
    cp "$NOTES" "$ARTIFACTS/notifications.jsonl"
fi

# Open the popover from the tray menu, like a person.
if [[ $E2E == 1 ]]; then
    OPEN_NS=$(date +%s%N)
    open_from_menu
fi
# The main window: a mapped top-level named "Headroom", on the screen (a new popover waits off
# screen until its page has painted).
window_id() { xwininfo -root -tree | awk '/"Headroom": \(/ && $0 ~ /[0-9]+x[0-9]+\+/ {print $1}' | while read -r id; do
    xwininfo -id "$id" | awk '/IsViewable/ {v=1} /Absolute upper-left X/ {x=$NF} END {exit !(v && x >= 0)}' && echo "$id"; done | head -1; }
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
# The page painted a sample (its title names the pressure level; the app shows a new popover
# once it has, or after 2 s at the latest, which a loaded CI machine can reach).
painted_count() { grep -acE 'popover shown [0-9]+ ms after the request \(fresh page, (painted|title)\)' "$WORK/app.log" || true; }
painted() { (( $(painted_count) > ${1:-0} )); }
wait_for 10 "the page to paint a sample" painted 0
say "$(grep -ao 'popover shown.*' "$WORK/app.log" | tail -1); WebKit processes now: $(web_processes)"
if grep -aq 'CONSOLE JS ERROR' "$WORK/app.log"; then fail "script error in the page: $(grep -a 'CONSOLE JS ERROR' "$WORK/app.log" | head -1)"; fi

# Live samples.
if grep -aq "HTTP server listening" "$WORK/app.log"; then
    # The owner's credential: the per-user secret in the data directory (as `headroom serve`).
    bearer() { echo "Authorization: Bearer $(cat "$HEADROOM_DATA_DIR/serve-token")"; }
    at() { curl -sf -H "$(bearer)" "http://127.0.0.1:$PORT/api/snapshot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["at"])'; }
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
wait_for 20 "the web view to be closed after the keep time (${HEADROOM_WEBVIEW_KEEP_SECS} s)" logged "web view closed"
wait_for 10 "WebKit's web and network processes to exit" no_web_processes
say "web view closed after the keep time; no WebKit process left"

# Open it again: a new web view, shown once painted with a sample.
if [[ $E2E == 1 ]]; then
    before=$(painted_count)
    open_from_menu
    wait_for 30 "the window to be mapped again" mapped
    WID=$(window_id)
    wait_for 10 "the re-opened page to paint a sample" painted "$before"
    ok=0
    for _ in $(seq 20); do
        sleep 0.5
        /usr/bin/import -window root "$SCREEN"
        /usr/bin/convert "$SCREEN" -crop "$(geometry)" +repage "$ARTIFACTS/window-reopened.png"
        sd=$(/usr/bin/convert "$ARTIFACTS/window-reopened.png" -format '%[fx:standard_deviation]' info:)
        if python3 -c "import sys; sys.exit(0 if float('$sd') > 0.05 else 1)"; then ok=1; break; fi
    done
    [[ $ok == 1 ]] || fail "the re-opened window looks blank (standard deviation $sd)"
    say "re-opened: $(grep -ao 'popover shown.*' "$WORK/app.log" | tail -1); screenshot standard deviation $sd"
    python3 "$HERE/xclose.py" "$WID"
    wait_for 10 "the window to hide" bash -c "xwininfo -id $WID | grep -q IsUnMapped"

    # Released again, then opened on a view from the menu ("Alerts…"): the page loads again
    # on that view, not on the one it showed.
    wait_for 20 "the web view to be closed a second time" bash -c "(( \$(grep -ac 'web view closed' '$WORK/app.log') >= 2 ))"
    wait_for 10 "WebKit's web and network processes to exit again" no_web_processes
    before=$(painted_count)
    "$VENV_PY" "$HERE/desktop_peer.py" click "Alerts" >/dev/null || fail "could not click 'Alerts…' over dbusmenu"
    wait_for 30 "the window to be mapped on Alerts" mapped
    WID=$(window_id)
    wait_for 10 "the Alerts page to paint a sample" painted "$before"
    sleep 1
    /usr/bin/import -window root "$SCREEN"
    /usr/bin/convert "$SCREEN" -crop "$(geometry)" +repage "$ARTIFACTS/window-alerts.png"
    logged "cannot load the page again" && fail "the released page was not loaded again: $(grep -a 'cannot load the page again' "$WORK/app.log" | tail -1)"
    # Pixels that differ from the re-opened Overview (ImageMagick prints the count on stderr).
    changed=$(/usr/bin/compare -metric AE "$ARTIFACTS/window-reopened.png" "$ARTIFACTS/window-alerts.png" null: 2>&1 | awk '{print int($1)}' || true)
    (( ${changed:-0} > 5000 )) || fail "the window opened from 'Alerts…' looks like the Overview (${changed:-?} pixels differ)"
    say "opened on Alerts: $(grep -ao 'popover shown.*' "$WORK/app.log" | tail -1); $changed pixels differ from the Overview"
    python3 "$HERE/xclose.py" "$WID"
    wait_for 10 "the window to hide" bash -c "xwininfo -id $WID | grep -q IsUnMapped"
fi

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

# The Debian package: unpacked into a scratch root, its binary started and seen alive with its
# tray registered (the desktop peer counts registrations), then stopped.
DEB=${HEADROOM_APP_DEB:-$(ls -t "$TARGET_DIR/$PROFILE"/bundle/deb/*.deb 2>/dev/null | head -1 || true)}
if [[ -n "$DEB" ]]; then
    [[ -f "$DEB" ]] || fail "no .deb at $DEB"
    ROOTFS=$WORK/rootfs
    dpkg -x "$DEB" "$ROOTFS" || fail "dpkg -x $DEB failed"
    INSTALLED=$ROOTFS/usr/bin/headroom-app
    [[ -x "$INSTALLED" ]] || fail "the package has no usr/bin/headroom-app: $(cd "$ROOTFS" && find . -type f | head)"
    [[ -f "$ROOTFS/usr/share/applications/Headroom.desktop" ]] || fail "the package has no desktop entry"
    items_before=$(grep -c '^ITEM ' "$WORK/peer.log" 2>/dev/null || true)
    "$INSTALLED" >"$WORK/deb.log" 2>&1 &
    APP_PID=$!
    wait_for 60 "the installed app's first sample" grep -aq "first sample" "$WORK/deb.log"
    if [[ $E2E == 1 ]]; then
        deb_registered() { (( $(grep -c '^ITEM ' "$WORK/peer.log" || true) > ${items_before:-0} )); }
        wait_for 20 "the installed app's tray to register" deb_registered
    else
        grep -aq "tray icon ready" "$WORK/deb.log" || fail "the installed app logged no tray"
    fi
    kill -TERM "$APP_PID"
    set +e; wait "$APP_PID"; status=$?; set -e
    APP_PID=""
    [[ $status == 0 ]] || fail "the installed app exited with status $status after SIGTERM: $(tail -5 "$WORK/deb.log")"
    say "package $(basename "$DEB") ($(du -k "$DEB" | cut -f1) KiB): unpacked, the installed binary ran with its tray registered, SIGTERM: status 0"
else
    say "no .deb built (npx tauri build --bundles deb): package step skipped"
fi
if [[ $E2E == 1 ]]; then say "ok"; else say "ok (tray menu click, MLX cache clear and notifications SKIPPED)"; fi
