#!/usr/bin/env bash
# macOS link check without a Mac: every C symbol the macOS build of the core and the CLI
# imports must exist in libSystem (zig's libSystem.tbd) or be listed apart by name
# (CoreFoundation, libsqlite3). Compiles for aarch64-apple-darwin without linking, lists
# undefined symbols with rustup's llvm-nm (scripts/macos_symbols.py). Then proves the check
# can fail: an object that calls a function macOS does not have must be refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
host=$(rustc -vV | sed -n 's/^host: //p')
NM="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-nm"
SYSROOT_LIB="$(rustc --print sysroot)/lib/rustlib/aarch64-apple-darwin/lib"
[ -x "$NM" ] || { echo "llvm-nm missing: scripts/setup.sh adds rustup's llvm-tools" >&2; exit 1; }
[ -d "$SYSROOT_LIB" ] || { echo "aarch64-apple-darwin target missing: run scripts/setup.sh" >&2; exit 1; }
TBD=$(.venv/bin/python -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "lib/libc/darwin/libSystem.tbd"))')
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# The binary's own object, and every rlib it depends on (from cargo's artifact messages).
# `-C linker=true`: no macOS linker exists here; the object is all we need.
# No debug info: only symbol names are read (faster, and a fraction of the disk).
CARGO_PROFILE_DEV_DEBUG=0 SDKROOT=/nonexistent cargo rustc -q -p headroom-cli --bin headroom --target aarch64-apple-darwin --locked \
  --message-format=json-render-diagnostics -- --emit="obj=$work/headroom.o" -C linker=true > "$work/cargo.json"
.venv/bin/python - "$work/cargo.json" > "$work/rlibs" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact":
        for f in m["filenames"]:
            if "/aarch64-apple-darwin/" in f and f.endswith(".rlib"):
                print(f)
PY
# The standard library the binary links (not test, proc_macro, getopts, panic_abort, ...).
std_rlibs=()
for c in std panic_unwind object memchr addr2line gimli cfg_if rustc_demangle std_detect hashbrown \
         rustc_std_workspace_alloc miniz_oxide adler2 unwind libc rustc_std_workspace_core alloc core compiler_builtins; do
  for f in "$SYSROOT_LIB"/lib"$c"-*.rlib; do [ -e "$f" ] && std_rlibs+=("$f"); done
done
mapfile -t rlibs < "$work/rlibs"
echo "checking $((${#rlibs[@]} + ${#std_rlibs[@]} + 1)) objects against $TBD"
.venv/bin/python scripts/macos_symbols.py --llvm-nm "$NM" --tbd "$TBD" "$work/headroom.o" "${rlibs[@]}" "${std_rlibs[@]}"

# The check must refuse a declared FFI function that macOS does not have.
cat > "$work/bogus.rs" <<'RS'
extern "C" {
    fn headroom_symbol_check_no_such_function() -> i32;
}
#[no_mangle]
pub extern "C" fn headroom_symbol_check_caller() -> i32 {
    // SAFETY: never run; this object only exists to be refused by the symbol check.
    unsafe { headroom_symbol_check_no_such_function() }
}
RS
rustc --edition 2021 --crate-type lib --target aarch64-apple-darwin --emit "obj=$work/bogus.o" "$work/bogus.rs"
if .venv/bin/python scripts/macos_symbols.py --llvm-nm "$NM" --tbd "$TBD" "$work/headroom.o" "${rlibs[@]}" "${std_rlibs[@]}" "$work/bogus.o" > "$work/bogus.out"; then
  cat "$work/bogus.out"; echo "symbol check accepted a function macOS does not have" >&2; exit 1
fi
grep -q "_headroom_symbol_check_no_such_function" "$work/bogus.out" || { cat "$work/bogus.out"; exit 1; }
echo "a bogus extern function is refused, as it must be"
echo "macOS symbol check: $(( $(date +%s) - started )) s"
