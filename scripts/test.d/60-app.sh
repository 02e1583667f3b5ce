#!/usr/bin/env bash
# The menu-bar app (src-tauri/): unit tests (icon pixels, title, menu model,
# notifications), command tests through tauri::test on the mock runtime (a fake engine and the
# real one), clippy on Linux, the macOS type-check, then the smoke test of the real app under
# Xvfb (tests/app/smoke.sh: window screenshot, live samples, the tray's "Clear MLX cache"
# clicked over dbusmenu on a real MLX process and the notifications delivered, close-to-hide,
# single instance, clean SIGTERM, the popover's web view dropped after its keep time, the .deb
# unpacked and its binary started). Run from anywhere; ui/dist should be built first (50-ui.sh) or the window
# shows the fallback page.
#   HEADROOM_APP_TARGET_DIR  cargo target dir for the app (default: $CARGO_TARGET_DIR or target/)
#   HEADROOM_APP_SMOKE=0     skip the smoke test
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${HEADROOM_APP_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}
cargo test -p headroom-app
cargo clippy -p headroom-app --all-targets -- -D warnings
if rustup target list --installed 2>/dev/null | grep -qx aarch64-apple-darwin && command -v clang >/dev/null; then
    # DOCS_RS=1 makes mac-notification-sys (under the notification plugin) skip compiling its
    # Objective-C file, which needs the macOS SDK (Cocoa/Cocoa.h) that Linux does not have.
    # Type-check only: a real macOS build must never set it. All the app's code is checked.
    DOCS_RS=1 cargo clippy -p headroom-app --all-targets --target aarch64-apple-darwin -- -D warnings
else
    echo "60-app: macOS type-check SKIPPED (rustup target add aarch64-apple-darwin; apt-get install clang)"
fi
if [[ "${HEADROOM_APP_SMOKE:-1}" != 0 ]]; then
    # The Debian package, from the debug build just made (the Tauri CLI from src-tauri's
    # package.json; scripts/setup.sh installs it): the smoke test unpacks it into a scratch
    # root and starts the installed binary.
    (cd src-tauri && { [ -x node_modules/.bin/tauri ] || npm ci --no-audit --no-fund --loglevel=error; } \
        && npx tauri build --debug --bundles deb --ci)
    HEADROOM_APP_DEB=$(ls -t "$CARGO_TARGET_DIR"/debug/bundle/deb/*.deb | head -1) bash tests/app/smoke.sh
fi
