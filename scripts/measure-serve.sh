#!/usr/bin/env bash
# Measures `headroom serve` at its default 1 s sampling with history on, for N seconds
# (default 600): CPU % of one core (utime+stime from /proc/<pid>/stat), max RSS (VmHWM) and
# the history database growth, extrapolated per day. Linux only (reads /proc).
#
#   scripts/measure-serve.sh [SECONDS] [--scrape]
#   HEADROOM_BIN=target/release/headroom scripts/measure-serve.sh 600   # skip the build
#
# --scrape also fetches /metrics every 5 s, as a Prometheus would. Targets: under
# 0.3 % of one core and 30 MB resident over 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-600}"
SCRAPE="${2:-}"
case "$DURATION" in (*[!0-9]*|'') echo "usage: $0 [SECONDS] [--scrape]; got seconds '$DURATION'" >&2; exit 2;; esac
[ -r /proc/self/stat ] || { echo "needs Linux /proc" >&2; exit 2; }

# HEADROOM_BIN=path/to/headroom measures that binary instead of building a release one.
if [ -n "${HEADROOM_BIN:-}" ]; then
  BIN="$HEADROOM_BIN"
else
  cargo build --release -q -p headroom-cli
  BIN="${CARGO_TARGET_DIR:-target}/release/headroom"
fi
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export HEADROOM_DATA_DIR="$WORK/data" HEADROOM_CONFIG="$WORK/config.toml"
"$BIN" serve --listen "127.0.0.1:$PORT" 2>"$WORK/serve.log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The owner's credential: the per-user secret serve creates in its data directory.
health() { curl -fsS -H "Authorization: Bearer $(cat "$WORK/data/serve-token" 2>/dev/null)" "http://127.0.0.1:$PORT/api/health"; }
for _ in $(seq 100); do
  health >/dev/null 2>&1 && break
  sleep 0.1
done
health >/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }

TCK="$(getconf CLK_TCK)"
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }   # utime + stime (fields after "comm")
db_bytes() { find "$HEADROOM_DATA_DIR" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
# Size of history.db alone after moving the WAL into it (a checkpoint from a second connection
# is safe under WAL). Without the sqlite3 CLI: the database + WAL size, which overstates.
DB="$HEADROOM_DATA_DIR/history.db"
settled_bytes() {
  if command -v sqlite3 >/dev/null && [ -f "$DB" ]; then
    sqlite3 -cmd '.timeout 5000' "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
    stat -c %s "$DB"
  else
    db_bytes
  fi
}
kb() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }

sleep 5   # start-up (first scans, database creation) is not part of the steady state
Q0="$(settled_bytes)"; T0="$(date +%s.%N)"; C0="$(ticks)"; D0="$(db_bytes)"
echo "measuring pid $PID for ${DURATION}s (port $PORT, data in $HEADROOM_DATA_DIR)${SCRAPE:+, scraping /metrics every 5 s}"
END=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$END" ]; do
  [ -n "$SCRAPE" ] && curl -fsS "http://127.0.0.1:$PORT/metrics" >/dev/null
  sleep 5
done
T1="$(date +%s.%N)"; C1="$(ticks)"; D1="$(db_bytes)"; Q1="$(settled_bytes)"
HWM="$(kb VmHWM)"; RSS="$(kb VmRSS)"

kill -TERM "$PID"
S0="$(date +%s.%N)"
wait "$PID" && STATUS=0 || STATUS=$?
S1="$(date +%s.%N)"
D2="$(db_bytes)"   # after the clean stop: history flushed, WAL checkpointed
FILES="$(find "$HEADROOM_DATA_DIR" -type f -printf '%f %s bytes\n' | sort | tr '\n' ';')"

awk -v t0="$T0" -v t1="$T1" -v c0="$C0" -v c1="$C1" -v tck="$TCK" -v d0="$D0" -v d1="$D1" \
    -v hwm="$HWM" -v rss="$RSS" -v s0="$S0" -v s1="$S1" -v st="$STATUS" -v d2="$D2" -v files="$FILES" -v q0="$Q0" -v q1="$Q1" 'BEGIN {
  el = t1 - t0
  printf "elapsed             %.0f s\n", el
  printf "CPU                 %.3f %% of one core (%d ticks at %d Hz)\n", (c1 - c0) / tck / el * 100, c1 - c0, tck
  printf "max RSS (VmHWM)     %.1f MB   (RSS at end %.1f MB)\n", hwm / 1024, rss / 1024
  printf "history files       %.1f KB -> %.1f KB while running (database + WAL), %.1f KB after stop (%s)\n", d0 / 1024, d1 / 1024, d2 / 1024, files
  printf "history.db settled  %.1f KB -> %.1f KB (WAL checkpointed at both ends)\n", q0 / 1024, q1 / 1024
  printf "DB growth           %.2f MB/day extrapolated from the settled database (%.0f bytes per second)\n", (q1 - q0) / el * 86400 / 1048576, (q1 - q0) / el
  printf "                    database + WAL while running would extrapolate to %.1f MB/day (the WAL is bounded and reused)\n", (d1 - d0) / el * 86400 / 1048576
  printf "                    (retention caps it once the 24 h full-rate window fills)\n"
  printf "SIGTERM -> exit     %.2f s, status %d\n", s1 - s0, st
}'
echo "--- serve log (last lines)"; tail -n 5 "$WORK/serve.log"
