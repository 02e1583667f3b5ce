#!/usr/bin/env bash
# Measures the menu-bar app (release build) on Linux under Xvfb and a private D-Bus session:
#   - launch → tray icon and launch → first sample (the app's own log, ms since main);
#   - idle CPU at 1 s sampling: utime+stime of the app and every descendant (WebKit's web
#     and network processes) from /proc, over DURATION seconds after WARMUP, as a
#     percentage of one core (and the X server's, on its own line);
#   - resident memory (VmRSS) of each process at the end.
# WINDOW=hidden (default) or open: the popover shown and kept open (HEADROOM_APP_SHOW=1,
# HEADROOM_APP_PIN=1) on VIEW=overview (default), history24h (24 h of history seeded by
# benches/seed_history.py, the 24-hour range chosen) or mlx (the MLX tab, with AGENTS real
# MLX processes under the agent, default 8). Views are chosen with the mouse (xdotool), as a
# person would; a screenshot of each is kept (measure-open-VIEW.png). HEADROOM_APP_BIN measures that binary instead of building one.
# Writes artifacts/app/measure.txt (measure-open-VIEW.txt when open). DURATION defaults to
# 300 (5 minutes).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${HEADROOM_APP_BIN:-$TARGET_DIR/release/headroom-app}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts/app}
DURATION=${DURATION:-300}
WARMUP=${WARMUP:-15}
WINDOW=${WINDOW:-hidden}
VIEW=${VIEW:-overview}
AGENTS=${AGENTS:-8}
case "$WINDOW:$VIEW" in
    hidden:overview | open:overview | open:history24h | open:mlx) ;;
    *) echo "WINDOW=$WINDOW VIEW=$VIEW: expected WINDOW=hidden, or WINDOW=open with VIEW=overview, history24h or mlx" >&2; exit 2 ;;
esac
OUT=$ARTIFACTS/measure.txt
[[ $WINDOW == open ]] && OUT=$ARTIFACTS/measure-open-$VIEW.txt
mkdir -p "$ARTIFACTS"

if [[ -z "${HEADROOM_MEASURE_INNER:-}" ]]; then
    if [[ "${HEADROOM_APP_SKIP_BUILD:-0}" != 1 && -z "${HEADROOM_APP_BIN:-}" ]]; then
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build -q --release -p headroom-app)
    fi
    for n in $(seq 150 190); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break; done
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
    set +e
    DISPLAY=:$n XVFB_PID=$XVFB_PID HEADROOM_MEASURE_INNER=1 dbus-run-session -- bash "${BASH_SOURCE[0]}" 2>"$ARTIFACTS/measure-dbus.log"
    status=$?
    set -e
    exit $status
fi

WORK=$(mktemp -d /tmp/headroom-app-measure.XXXXXX)
APP_PID=""
MLX_PIDS=()
stop_all() {
    [[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null
    for p in "${MLX_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    cp "$WORK/app.log" "${OUT%.txt}.app.log" 2>/dev/null
    rm -rf "$WORK"
}
trap stop_all EXIT
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export XDG_CACHE_HOME=$WORK/home/.cache XDG_RUNTIME_DIR=$WORK/run LANG=en_US.UTF-8
export HEADROOM_CONFIG=$WORK/config.toml HEADROOM_DATA_DIR=$WORK/data
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf '[sampling]\ninterval_ms = 1000\n' > "$HEADROOM_CONFIG"

if [[ $VIEW == history24h ]]; then
    python3 "$ROOT/benches/seed_history.py" "$HEADROOM_DATA_DIR" 24 >/dev/null
fi
if [[ $VIEW == mlx ]]; then
    # Real MLX processes with the agent, each holding 16 MiB of MLX cache.
    PY=$ROOT/.venv/bin/python
    [[ -x $PY ]] || { echo "measure.sh: $PY missing (scripts/setup.sh creates it)" >&2; exit 1; }
    for _ in $(seq "$AGENTS"); do
        PYTHONPATH=$ROOT/agent "$PY" -m headroom_agent run "$ROOT/tests/app/mlx_holder.py" 16 $((DURATION + WARMUP + 300)) \
            >"$WORK/mlx.$_.log" 2>&1 &
        MLX_PIDS+=($!)
    done
    for _ in $(seq 600); do
        (( $(cat "$WORK"/mlx.*.log 2>/dev/null | grep -c HOLDING) >= AGENTS )) && break
        sleep 0.2
    done
fi

if [[ $WINDOW == open ]]; then
    HEADROOM_APP_SHOW=1 HEADROOM_APP_PIN=1 "$BIN" >"$WORK/app.log" 2>&1 &
else
    "$BIN" >"$WORK/app.log" 2>&1 &
fi
APP_PID=$!
for _ in $(seq 300); do grep -aq "first sample" "$WORK/app.log" && break; sleep 0.1; done
tray=$(grep -ao 'tray icon ready [0-9]* ms' "$WORK/app.log" | grep -o '[0-9]*' | head -1)
first=$(grep -ao 'first sample [0-9]* ms' "$WORK/app.log" | grep -o '[0-9]*' | head -1)
if [[ $WINDOW == open ]]; then
    # The view is chosen with the mouse, as a person would: a click on the MLX tab or on the
    # "24 hours" range (positions in the 380 px wide popover, light theme), repeated until the
    # clicked control shows as selected (the page may still be loading), then the pointer
    # leaves the window.
    win=$(xdotool search --sync --onlyvisible --name Headroom | head -1)
    # The window's place on the screen (read again each time: it is moved under the tray
    # once shown).
    place() {
        local g
        g=$(xdotool getwindowgeometry --shell "$win")
        X=$(sed -n 's/^X=//p' <<<"$g") Y=$(sed -n 's/^Y=//p' <<<"$g")
    }
    white() { # x y in the window: whether that pixel is white
        [[ $(import -window root -crop "1x1+$((X + $1))+$((Y + $2))" txt:- 2>/dev/null) == *"#FFFFFF"* ]]
    }
    # Clicks (x, y) until the control there shows as selected: white for a tab (the others
    # grey), grey for a range button (the others white). A second control (x2, y2) must show
    # the other way, so a blank, still loading window never passes.
    click_until() { # x y selected-is-white(1|0) x2 y2
        for _ in $(seq 40); do
            place
            xdotool mousemove "$((X + $1))" "$((Y + $2))" click 1
            sleep 0.5
            if (( $3 )); then
                white "$(($1 - 8))" "$(($2 - 9))" && ! white "$4" "$5" && return 0
            else
                ! white "$(($1 - 8))" "$(($2 - 9))" && white "$4" "$5" && return 0
            fi
            sleep 0.5
        done
        echo "measure.sh: could not select the $VIEW view by clicking" >&2
        exit 1
    }
    case $VIEW in
        mlx) click_until 108 61 1 30 52 ;;           # the MLX tab; the Overview tab
        history24h) click_until 306 423 0 25 415 ;;  # "24 hours"; "10 min"
    esac
    xdotool mousemove 0 799
    sleep 1
    import -window root "$ARTIFACTS/measure-open-$VIEW.png" 2>/dev/null || true
fi
sleep "$WARMUP"

# The app and all its descendants.
tree() {
    local pids=("$APP_PID") i=0
    while (( i < ${#pids[@]} )); do
        for c in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    echo "${pids[@]}"
}
ticks() { # utime+stime of one pid, in clock ticks
    [[ -r /proc/$1/stat ]] || { echo 0; return; }
    sed 's/^.*) //' /proc/"$1"/stat | awk '{print $12 + $13}'
}
declare -A T0
PIDS=($(tree))
for p in "${PIDS[@]}"; do T0[$p]=$(ticks "$p"); done
X0=$(ticks "${XVFB_PID:-0}")
s0=$(date +%s.%N)
sleep "$DURATION"
s1=$(date +%s.%N)
X1=$(ticks "${XVFB_PID:-0}")
PIDS=($(tree))
hz=$(getconf CLK_TCK)
secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')

{
    what="window hidden"
    [[ $WINDOW == open ]] && what="window open on $VIEW"
    [[ $VIEW == mlx ]] && what="$what, $AGENTS MLX processes with the agent"
    echo "$(basename "$BIN") ($BIN), $what, 1 s sampling, $(nproc) cores, $(date -u +%FT%TZ)"
    echo "launch -> tray icon: ${tray:-?} ms; launch -> first sample: ${first:-?} ms (since main)"
    echo "per process over ${secs%.*} s (CPU % of one core, VmRSS):"
    total_ticks=0; total_rss=0
    for p in "${PIDS[@]}"; do
        [[ -r /proc/$p/status ]] || continue
        d=$(( $(ticks "$p") - ${T0[$p]:-0} ))
        # A process may end while this runs (a WebKit helper): read what is there, never fail.
        rss=$(awk '/VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || true)
        rss=${rss:-0}
        total_ticks=$((total_ticks + d)); total_rss=$((total_rss + rss))
        name=$(tr '\0' '\n' < /proc/"$p"/cmdline 2>/dev/null | head -1 || true)
        name=${name##*/}
        awk -v p="$p" -v n="$name" -v d="$d" -v hz="$hz" -v s="$secs" -v r="$rss" \
            'BEGIN {printf "  %-7s %-22s %7.3f %%  %7.1f MB\n", p, n, d / hz / s * 100, r / 1024}'
    done
    awk -v d="$total_ticks" -v hz="$hz" -v s="$secs" -v r="$total_rss" \
        'BEGIN {printf "  all processes                  %7.3f %%  %7.1f MB\n", d / hz / s * 100, r / 1024}'
    awk -v d="$((X1 - X0))" -v hz="$hz" -v s="$secs" \
        'BEGIN {printf "  X server (Xvfb, not the app)   %7.3f %%\n", d / hz / s * 100}'
} | tee "$OUT"
kill -TERM "$APP_PID"; wait "$APP_PID" || true; APP_PID=""
