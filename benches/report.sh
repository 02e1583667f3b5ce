#!/usr/bin/env bash
# One command for every Headroom benchmark: prints one Markdown table of each figure
# next to its peer or floor measured in the same run, and writes it to benches/REPORT.md.
#
#   bash benches/report.sh                 # everything (~25 min on 2 busy cores)
#   bash benches/report.sh per-sample HTTP # only these sections (nothing written)
#   REPORT_QUICK=1 bash benches/report.sh  # shorter runs (1 simulated soak day, fewer rounds)
#
# Knobs: REPORT_REPEATS (5), REPORT_SERVE_SECS (60), REPORT_SOAK_DAYS (7). See benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $2 (for $1)" >&2
    apt-get install -y -q "$2" >/dev/null || echo "!! could not install $2: its rows will say so" >&2
  else
    echo "!! $1 missing (apt-get install $2): its rows will say so" >&2
  fi
}
need hyperfine hyperfine
[ -x /usr/bin/prometheus-node-exporter ] || need prometheus-node-exporter prometheus-node-exporter
need curl curl
# psutil is the Python peer (scripts/setup.sh installs it with the rest of .venv).
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import psutil' 2>/dev/null; then
  echo "installing psutil into .venv (the Python peer)" >&2
  .venv/bin/pip install -q --disable-pip-version-check psutil || echo "!! psutil not installed: its rows will say so" >&2
fi

echo "building release binaries and benches (shared target dir: waits for other builds)" >&2
cargo build --release -q -p headroom-cli
cargo bench -q -p headroom-core --no-run >/dev/null 2>&1 || true
cargo bench -q -p headroom-server --no-run >/dev/null 2>&1 || true
exec python3 benches/report.py "$@"
