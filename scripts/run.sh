#!/usr/bin/env bash
# Sets up a fresh machine and runs Headroom: the menu-bar app on a desktop (macOS, or Linux
# with a display), else `headroom watch` in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
has_display() { [ "$(uname -s)" = Darwin ] || [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; }
if [ -d src-tauri ] && has_display; then
  cargo build --release -p headroom-app
  exec target/release/headroom-app "$@"
fi
cargo build --release -p headroom-cli
exec target/release/headroom watch "$@"
