#!/usr/bin/env bash
# Builds Headroom.app (and with --dmg the disk image) with the Tauri CLI, ad-hoc signed
# (`bundle.macOS.signingIdentity: "-"` in src-tauri/tauri.conf.json; APPLE_SIGNING_IDENTITY
# overrides it for a real identity). With --open, quits a running Headroom and opens the new
# bundle. Prints the bundle's path. macOS only; see docs/MACOS_BUNDLE.md.
#   bash scripts/bundle-macos.sh [--dmg] [--open] [-- app arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -s)" = Darwin ] || { echo "bundle-macos.sh: macOS only (on Linux: npx tauri build --bundles deb)" >&2; exit 2; }
bundles=app open=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dmg) bundles=app,dmg ;;
    --open) open=1 ;;
    --) shift; break ;;
    *) break ;;
  esac
  shift
done
[ -d ui/dist ] || (cd ui && npm run build --silent)
(cd src-tauri && { [ -x node_modules/.bin/tauri ] || npm ci --no-audit --no-fund --loglevel=error; } \
  && npx tauri build --bundles "$bundles")
APP=target/release/bundle/macos/Headroom.app
[ -d "$APP" ] || { echo "bundle-macos.sh: no bundle at $APP" >&2; exit 1; }
codesign --verify --verbose=1 "$APP" >&2 || echo "bundle-macos.sh: WARNING: codesign cannot verify $APP" >&2
echo "$APP"
if [ "$open" = 1 ]; then
  osascript -e 'tell application id "dev.headroom.Headroom" to quit' >/dev/null 2>&1 || true
  open -n "$APP" --args "$@"
fi
