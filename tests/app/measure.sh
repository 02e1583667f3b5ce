#!/usr/bin/env bash
# Measures the menu-bar app (release build) on Linux under Xvfb and a private D-Bus session:
#   - launch → tray icon and launch → first sample (the app's own log, ms since main);
#   - idle CPU with the window hidden at 1 s sampling: utime+stime of the app and every
#     descendant (WebKit's web and network processes) from /proc, over DURATION seconds,
#     as a percentage of one core;
#   - resident memory (VmRSS) of each process at the end.
# Writes artifacts/app/measure.txt. DURATION defaults to 300 (5 minutes).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/headroom-app
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts/app}
DURATION=${DURATION:-300}
WARMUP=${WARMUP:-15}
mkdir -p "$ARTIFACTS"

if [[ -z "${HEADROOM_MEASURE_INNER:-}" ]]; then
    if [[ "${HEADROOM_APP_SKIP_BUILD:-0}" != 1 ]]; then
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build -q --release -p headroom-app)
    fi
    for n in $(seq 150 190); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break; done
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
    set +e
    DISPLAY=:$n HEADROOM_MEASURE_INNER=1 dbus-run-session -- bash "${BASH_SOURCE[0]}" 2>"$ARTIFACTS/measure-dbus.log"
    status=$?
    set -e
    exit $status
fi

WORK=$(mktemp -d /tmp/headroom-app-measure.XXXXXX)
APP_PID=""
trap '[[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export XDG_CACHE_HOME=$WORK/home/.cache XDG_RUNTIME_DIR=$WORK/run LANG=en_US.UTF-8
export HEADROOM_CONFIG=$WORK/config.toml HEADROOM_DATA_DIR=$WORK/data
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf '[sampling]\ninterval_ms = 1000\n' > "$HEADROOM_CONFIG"

"$BIN" >"$WORK/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 300); do grep -aq "first sample" "$WORK/app.log" && break; sleep 0.1; done
tray=$(grep -ao 'tray icon ready [0-9]* ms' "$WORK/app.log" | grep -o '[0-9]*' | head -1)
first=$(grep -ao 'first sample [0-9]* ms' "$WORK/app.log" | grep -o '[0-9]*' | head -1)
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
s0=$(date +%s.%N)
sleep "$DURATION"
s1=$(date +%s.%N)
PIDS=($(tree))
hz=$(getconf CLK_TCK)
secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')

{
    echo "headroom-app release, window hidden, 1 s sampling, $(nproc) cores, $(date -u +%FT%TZ)"
    echo "launch -> tray icon: ${tray:-?} ms; launch -> first sample: ${first:-?} ms (since main)"
    echo "per process over ${secs%.*} s (CPU % of one core, VmRSS):"
    total_ticks=0; total_rss=0
    for p in "${PIDS[@]}"; do
        [[ -r /proc/$p/status ]] || continue
        d=$(( $(ticks "$p") - ${T0[$p]:-0} ))
        rss=$(awk '/VmRSS/ {print $2}' /proc/"$p"/status)
        total_ticks=$((total_ticks + d)); total_rss=$((total_rss + rss))
        name=$(tr '\0' ' ' < /proc/"$p"/cmdline | awk '{print $1}' | xargs basename)
        awk -v p="$p" -v n="$name" -v d="$d" -v hz="$hz" -v s="$secs" -v r="$rss" \
            'BEGIN {printf "  %-7s %-22s %7.3f %%  %7.1f MB\n", p, n, d / hz / s * 100, r / 1024}'
    done
    awk -v d="$total_ticks" -v hz="$hz" -v s="$secs" -v r="$total_rss" \
        'BEGIN {printf "  all processes                  %7.3f %%  %7.1f MB\n", d / hz / s * 100, r / 1024}'
} | tee "$ARTIFACTS/measure.txt"
kill -TERM "$APP_PID"; wait "$APP_PID" || true; APP_PID=""
