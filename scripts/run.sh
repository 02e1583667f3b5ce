#!/usr/bin/env bash
# Sets up a fresh machine and runs Headroom: on macOS the menu-bar app as a real bundle
# (Headroom.app, so notifications, launch at login and single-instance work as they will for
# users); on Linux with a display the app's binary; else `headroom watch` in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(uname -s)" = Darwin ] && [ -d src-tauri ]; then
  exec bash scripts/bundle-macos.sh --open "$@"
fi
if [ -d src-tauri ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  cargo build --release -p headroom-app
  exec target/release/headroom-app "$@"
fi
cargo build --release -p headroom-cli
exec target/release/headroom watch "$@"
