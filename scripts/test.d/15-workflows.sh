#!/usr/bin/env bash
# The GitHub workflows (.github/workflows/*.yml) pass actionlint (installed into .venv by
# scripts/setup.sh). The macOS workflow has never run: this only proves it is well formed.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/actionlint ] || { echo "actionlint missing: run scripts/setup.sh" >&2; exit 1; }
.venv/bin/actionlint -version | head -n 1
.venv/bin/actionlint .github/workflows/*.yml
echo "actionlint: $(ls .github/workflows/*.yml | wc -l) workflows clean"
