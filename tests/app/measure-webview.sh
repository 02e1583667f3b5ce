#!/usr/bin/env bash
# Measures the menu-bar app (release build) on Linux under Xvfb and a private D-Bus session,
# with a D-Bus peer playing the tray host (tests/app/desktop_peer.py; the popover is opened
# from the tray menu's "Open Headroom" like a desktop does, and closed like a window manager
# does). Two configurations of the same binary, side by side in one run:
#   kept:    HEADROOM_WEBVIEW_KEEP_SECS=forever — the web view, once opened, stays (the
#            behaviour before the popover dropped it; WebKit's web and network processes live
#            on while the popover is hidden);
#   dropped: the web view goes KEEP seconds after the popover was hidden (default 5 here so the
#            run is short; the app's default is 45 s).
# For each: the popover is opened once and closed, then after the keep time (and WARMUP s)
# idle CPU over DURATION s (utime+stime of the app and every descendant, % of one core), PSS
# (/proc/PID/smaps_rollup) and RSS of each process, threads and open fds of the app.
# Then: click to first painted sample (the app's log: from the request to the moment the
# popover is shown with its page painted with a sample; an open that reached the 2 s bound
# counts with that time) over CYCLES opens with a fresh web
# view and CYCLES warm re-opens (kept web view); and 50 open/close cycles with a fresh web
# view each time: the app process's PSS, RSS and fds before and after.
# Writes artifacts/app/measure.txt (and measure.json for benches/report.py). tests/app/measure.sh
# measures the popover open on each view.
#   DURATION (120) WARMUP (10) KEEP (5) CYCLES (15) LOOPS (50)
#   STEPS ("kept dropped cycles"): which of the three parts run; a part left out prints "-".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${HEADROOM_APP_BIN:-$TARGET_DIR/release/headroom-app}
ARTIFACTS=${ARTIFACTS:-$ROOT/artifacts/app}
DURATION=${DURATION:-120} WARMUP=${WARMUP:-10} KEEP=${KEEP:-5} CYCLES=${CYCLES:-15} LOOPS=${LOOPS:-50}
STEPS=${STEPS:-kept dropped cycles}
VENV_PY=${HEADROOM_VENV_PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$ARTIFACTS"

if [[ -z "${HEADROOM_MEASURE_INNER:-}" ]]; then
    if [[ "${HEADROOM_APP_SKIP_BUILD:-0}" != 1 ]]; then
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build -q --release -p headroom-app)
    fi
    "$VENV_PY" -c 'import dbus_fast' 2>/dev/null || { echo "measure.sh: needs $VENV_PY with dbus_fast (scripts/setup.sh)" >&2; exit 1; }
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
APP_PID="" PEER_PID=""
trap '[[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null; [[ -n "$PEER_PID" ]] && kill "$PEER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share
export XDG_CACHE_HOME=$WORK/home/.cache XDG_RUNTIME_DIR=$WORK/run LANG=en_US.UTF-8
export HEADROOM_CONFIG=$WORK/config.toml HEADROOM_DATA_DIR=$WORK/data HEADROOM_LOG=${MEASURE_LOG:-info}
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf '[sampling]\ninterval_ms = 1000\n' > "$HEADROOM_CONFIG"

"$VENV_PY" "$HERE/desktop_peer.py" serve "$WORK/notes.jsonl" >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
for _ in $(seq 100); do grep -q '^READY' "$WORK/peer.log" && break; sleep 0.1; done

die() { echo "measure.sh: $*" >&2; [[ -f $WORK/app.log ]] && tail -20 "$WORK/app.log" >&2; exit 1; }
wait_until() { # SECONDS COMMAND...
    local end=$(( $(date +%s) + $1 )); shift
    while (( $(date +%s) < end )); do "$@" && return 0; sleep 0.05; done
    return 1
}
count() { grep -ac -- "$1" "$WORK/app.log" || true; }
tree() {
    local pids=("$APP_PID") i=0
    while (( i < ${#pids[@]} )); do
        for c in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
        i=$((i + 1))
    done
    echo "${pids[@]}"
}
web_gone() { for p in $(tree); do [[ $(cat /proc/"$p"/comm 2>/dev/null) == WebKit* ]] && return 1; done; return 0; }
window_id() { xwininfo -root -tree | awk '/"Headroom": \(/ {print $1}' | while read -r id; do
    xwininfo -id "$id" | awk '/IsViewable/ {v=1} /Absolute upper-left X/ {x=$NF} END {exit !(v && x >= 0)}' && echo "$id"; done | head -1; }
mapped() { [[ -n "$(window_id)" ]]; }
unmapped() { [[ -z "$(window_id)" ]]; }
open_popover() { "$VENV_PY" "$HERE/desktop_peer.py" click "Open Headroom" >/dev/null || die "no 'Open Headroom' in the tray menu"; }
close_popover() { local id; id=$(window_id); [[ -n "$id" ]] && python3 "$HERE/xclose.py" "$id"; wait_until 10 unmapped || die "the popover did not hide"; }
# One open and close; waits for the popover shown with a painted page (new) or shown (kept).
cycle() { # new|kept
    local pattern="popover shown .*(fresh page" n
    [[ $1 == kept ]] && pattern="popover shown .*(kept web view)"
    n=$(count "$pattern")
    open_popover
    wait_until 15 bash -c "(( \$(grep -ac -- '$pattern' '$WORK/app.log' || true) > $n ))" || die "the popover did not open ($1)"
    wait_until 10 mapped || die "the popover is not on screen"
    sleep 0.3
    close_popover
}
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/${3:-smaps_rollup}" 2>/dev/null || echo 0; }
ticks() { [[ -r /proc/$1/stat ]] && sed 's/^.*) //' /proc/"$1"/stat | awk '{print $12 + $13}' || echo 0; }

start_app() { # KEEP_SECS
    : >"$WORK/app.log"
    HEADROOM_WEBVIEW_KEEP_SECS=$1 "$BIN" >"$WORK/app.log" 2>&1 &
    APP_PID=$!
    wait_until 30 grep -aq "first sample" "$WORK/app.log" || die "no first sample"
    wait_until 15 grep -q '^ITEM ' "$WORK/peer.log" || die "the tray did not register"
    sleep 1
}
stop_app() { kill -TERM "$APP_PID"; wait "$APP_PID" || true; APP_PID=""; sleep 1; }

# Idle figures of one configuration: prints "cpu_percent pss_kb rss_kb threads fds" and the
# per-process table to $WORK/$1.txt.
idle() { # NAME
    local p d total_t=0 total_pss=0 total_rss=0 hz secs s0 s1
    declare -A T0
    for p in $(tree); do T0[$p]=$(ticks "$p"); done
    s0=$(date +%s.%N); sleep "$DURATION"; s1=$(date +%s.%N)
    hz=$(getconf CLK_TCK); secs=$(awk -v a="$s0" -v b="$s1" 'BEGIN {print b - a}')
    for p in $(tree); do
        [[ -r /proc/$p/status ]] || continue
        d=$(( $(ticks "$p") - ${T0[$p]:-0} ))
        local pss rss; pss=$(kb "$p" Pss); rss=$(kb "$p" Rss)
        total_t=$((total_t + d)); total_pss=$((total_pss + pss)); total_rss=$((total_rss + rss))
        awk -v p="$p" -v n="$(cat /proc/"$p"/comm)" -v d="$d" -v hz="$hz" -v s="$secs" -v r="$rss" -v q="$pss" \
            'BEGIN {printf "    %-7s %-16s %7.3f %%  PSS %6.1f MB  RSS %6.1f MB\n", p, n, d / hz / s * 100, q / 1024, r / 1024}' >>"$WORK/$1.txt"
    done
    awk -v d="$total_t" -v hz="$hz" -v s="$secs" -v q="$total_pss" -v r="$total_rss" \
        -v th="$(awk '/Threads/ {print $2}' /proc/"$APP_PID"/status)" -v fd="$(ls /proc/"$APP_PID"/fd | wc -l)" \
        'BEGIN {printf "%.3f %d %d %d %d\n", d / hz / s * 100, q, r, th, fd}'
}

want() { [[ " $STEPS " == *" $1 "* ]]; }
kept_cpu=0 kept_pss=0 kept_rss=0 kept_threads=0 kept_fds=0 drop_cpu=0 drop_pss=0 drop_rss=0 drop_threads=0
drop_fds=0 drop_split="-" base_pss=0 base_rss=0 base_fds=0 end_pss=0 end_rss=0 end_fds=0 not_painted=0

# 1. kept: opened once, closed; the web view stays.
: >"$WORK/kept.txt" >"$WORK/dropped.txt" >"$WORK/warm.ms" >"$WORK/fresh.ms"
if want kept; then
start_app forever
cycle new
sleep "$WARMUP"
read -r kept_cpu kept_pss kept_rss kept_threads kept_fds < <(idle kept)
# Warm re-opens while the web view is kept.
for _ in $(seq "$CYCLES"); do cycle kept; sleep 0.5; done
grep -ao 'popover shown [0-9]* ms after the request (kept web view)' "$WORK/app.log" | grep -o '[0-9]\+' >"$WORK/warm.ms"
stop_app
fi

# 2. dropped: opened once, closed; the web view goes after KEEP s.
if want dropped; then
start_app "$KEEP"
cycle new
wait_until $((KEEP + 15)) grep -aq "web view closed" "$WORK/app.log" || die "the web view was not closed"
wait_until 10 web_gone || die "WebKit processes left"
sleep "$WARMUP"
read -r drop_cpu drop_pss drop_rss drop_threads drop_fds < <(idle dropped)
drop_split=$(awk '/^Pss_(Anon|File|Shmem):/ {printf "%s %.1f MB, ", substr($1, 1, length($1) - 1), $2 / 1024}' /proc/"$APP_PID"/smaps_rollup)
stop_app
fi

# 3. Fresh opens, and LOOPS open/close cycles with a web view dropped at once each time.
if want cycles; then
start_app 0
cycle new; wait_until 15 web_gone || die "WebKit processes left"; sleep 2
base_pss=$(kb "$APP_PID" Pss); base_rss=$(kb "$APP_PID" VmRSS status); base_fds=$(ls /proc/"$APP_PID"/fd | wc -l)
fd_kinds() { ls -l /proc/"$APP_PID"/fd | awk 'NR > 1 {print $NF}' | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn; }
[[ -n "${FD_DIFF:-}" ]] && fd_kinds >"$FD_DIFF.before"
mid_pss=0 mid_fds=0
for i in $(seq "$LOOPS"); do
    cycle new
    wait_until 15 web_gone || die "WebKit processes left after cycle $i"
    # After 10 cycles: WebKit's memory monitor has opened its files (/proc/zoneinfo, the
    # cgroup's memory files) once; from here on, growth is per cycle.
    if (( i == 10 )); then sleep 3; mid_pss=$(kb "$APP_PID" Pss); mid_fds=$(ls /proc/"$APP_PID"/fd | wc -l); fi
done
sleep 3
end_pss=$(kb "$APP_PID" Pss); end_rss=$(kb "$APP_PID" VmRSS status); end_fds=$(ls /proc/"$APP_PID"/fd | wc -l)
# Every fresh open counts: one shown unpainted at the bound counts with its time (a lower bound).
grep -ao 'popover shown [0-9]* ms after the request (fresh page' "$WORK/app.log" | grep -o '[0-9]\+' >"$WORK/fresh.ms"
not_painted=$(count "fresh page, not painted yet")
[[ -n "${FD_DIFF:-}" ]] && fd_kinds >"$FD_DIFF"
[[ -n "${APP_LOG_COPY:-}" ]] && cp "$WORK/app.log" "$APP_LOG_COPY"
stop_app
fi

stats() { sort -n "$1" | awk '{a[NR]=$1} END {if (NR == 0) {print "- - - 0"; exit} m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%d %d %d %d\n", m, a[1], a[NR], NR}'; }
read -r fresh_med fresh_min fresh_max fresh_n < <(stats "$WORK/fresh.ms")
read -r warm_med warm_min warm_max warm_n < <(stats "$WORK/warm.ms")

{
    echo "headroom-app release, 1 s sampling, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
    echo "window closed, idle over ${DURATION} s (app + WebKit processes; CPU % of one core, PSS, RSS):"
    awk -v c="$kept_cpu" -v q="$kept_pss" -v r="$kept_rss" -v t="$kept_threads" -v f="$kept_fds" \
        'BEGIN {printf "  kept web view (before):       %6.3f %%  PSS %6.1f MB  RSS %6.1f MB  (app: %d threads, %d fds)\n", c, q/1024, r/1024, t, f}'
    cat "$WORK/kept.txt"
    awk -v c="$drop_cpu" -v q="$drop_pss" -v r="$drop_rss" -v t="$drop_threads" -v f="$drop_fds" -v k="$KEEP" \
        'BEGIN {printf "  web view dropped after %2d s:  %6.3f %%  PSS %6.1f MB  RSS %6.1f MB  (app: %d threads, %d fds)\n", k, c, q/1024, r/1024, t, f}'
    cat "$WORK/dropped.txt"
    echo "    app process after the web view closed: ${drop_split%, }"
    echo "click to first painted sample, fresh page: median $fresh_med ms (min $fresh_min, max $fresh_max, n=$fresh_n, of which shown unpainted at the 2 s bound: $not_painted)"
    echo "click to shown, kept web view (warm re-open): median $warm_med ms (min $warm_min, max $warm_max, n=$warm_n)"
    echo "$LOOPS open/close cycles (web view dropped each time), app process: PSS $((base_pss / 1024)) -> $((mid_pss / 1024)) (after 10) -> $((end_pss / 1024)) MB, RSS $((base_rss / 1024)) -> $((end_rss / 1024)) MB, fds $base_fds -> $mid_fds (after 10) -> $end_fds"
} | tee "$ARTIFACTS/measure$([[ $STEPS == "kept dropped cycles" ]] || echo -partial).txt"
[[ $STEPS == "kept dropped cycles" ]] || exit 0
python3 - "$ARTIFACTS/measure.json" <<EOF
import json, sys
json.dump({
    "kept": {"cpu_percent": $kept_cpu, "pss_kb": $kept_pss, "rss_kb": $kept_rss, "threads": $kept_threads, "fds": $kept_fds},
    "dropped": {"keep_secs": $KEEP, "cpu_percent": $drop_cpu, "pss_kb": $drop_pss, "rss_kb": $drop_rss, "threads": $drop_threads, "fds": $drop_fds},
    "fresh_open_ms": {"median": "$fresh_med", "min": "$fresh_min", "max": "$fresh_max", "n": $fresh_n, "unpainted": $not_painted},
    "warm_open_ms": {"median": "$warm_med", "min": "$warm_min", "max": "$warm_max", "n": $warm_n},
    "cycles": {"n": $LOOPS, "pss_kb": [$base_pss, $end_pss], "rss_kb": [$base_rss, $end_rss], "fds": [$base_fds, $end_fds],
               "after_10": {"pss_kb": $mid_pss, "fds": $mid_fds}},
    "duration_s": $DURATION,
}, open(sys.argv[1], "w"), indent=1)
EOF
