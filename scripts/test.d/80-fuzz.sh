#!/usr/bin/env bash
# Fuzz suite: runs every cargo-fuzz target in fuzz/ for a short fixed budget and fails
# on the first crash. Longer runs: fuzz/README.md.
#
#   scripts/test.d/80-fuzz.sh                 # FUZZ_SECS=20 per target (8 targets, < 3 min)
#   FUZZ_SECS=600 scripts/test.d/80-fuzz.sh   # a longer run
#   FUZZ_SECS=0 scripts/test.d/80-fuzz.sh     # skip (says so loudly)
#
# libFuzzer needs nightly compiler flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1 (set below, for this build only). The sanitizer is off in this short run
# (safe Rust: panics, overflow checks and debug assertions are what we look for, and ASan halves
# the executions per second); FUZZ_SANITIZER=address turns it on.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS="${FUZZ_SECS:-20}"
SAN="${FUZZ_SANITIZER:-none}"
case "$SECS" in (*[!0-9]*|'') echo "FUZZ_SECS must be whole seconds, got '$SECS'" >&2; exit 2;; esac
if [ "$SECS" = 0 ]; then
  echo "!!!!!! FUZZING SKIPPED (FUZZ_SECS=0) !!!!!!"
  exit 0
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "cargo-fuzz missing: installing it from crates.io (a few minutes, once)"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

TARGETS=$(cd fuzz && cargo fuzz list)
echo "building fuzz targets (sanitizer: $SAN)"
(cd fuzz && cargo fuzz build -s "$SAN")

failed=()
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t"
  echo "== fuzz $t for ${SECS}s"
  # The first directory receives new inputs (ignored by git); seeds/ is read only.
  if ! (cd fuzz && cargo fuzz run -s "$SAN" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        2>"corpus/$t.log"); then
    echo "!! $t crashed; reproducer in fuzz/artifacts/$t/:" >&2
    ls "fuzz/artifacts/$t" >&2 || true
    tail -n 40 "fuzz/corpus/$t.log" >&2
    failed+=("$t")
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "fuzz/corpus/$t.log" | tr '\n' ' '
    echo
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: CRASHES in ${failed[*]} (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/<file>)" >&2
  exit 1
fi
echo "fuzz: $(echo $TARGETS | wc -w) targets × ${SECS}s, no crash"
