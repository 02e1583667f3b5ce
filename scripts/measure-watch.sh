#!/usr/bin/env bash
# Measures `headroom watch --interval 1s` over N seconds (default 60): CPU % of one core
# (utime+stime from /proc/<pid>/stat) and resident memory (VmHWM, VmRSS). Linux only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cargo build -q --release -p headroom-cli
target/release/headroom watch --interval 1s >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 2 # let it start; measure steady state
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" -v rss="$rss" -v hwm="$hwm" 'BEGIN {
  printf "headroom watch --interval 1s over %.0f s: CPU %.3f %% of one core (%d ticks of 1/%d s), RSS %.1f MB, peak RSS %.1f MB\n",
    b - a, 100 * t / hz / (b - a), t, hz, rss / 1024, hwm / 1024 }'
