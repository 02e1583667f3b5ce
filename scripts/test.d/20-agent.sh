#!/usr/bin/env bash
# Python agent (agent/): pytest with real MLX, real Unix sockets and real subprocesses,
# plus mypy --strict when mypy is installed in .venv.
# Assumes .venv exists with: pip install "mlx[cpu]" mlx-lm pytest -e agent/  (scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ! -x .venv/bin/python ]]; then
    echo "20-agent: .venv is missing; run scripts/setup.sh first" >&2
    exit 1
fi
if .venv/bin/python -m mypy --version >/dev/null 2>&1; then
    (cd agent && ../.venv/bin/python -m mypy --strict headroom_agent _headroom_hook.py tests)
else
    echo "20-agent: mypy not installed in .venv: type check SKIPPED (pip install mypy)"
fi
.venv/bin/python -m pytest -q -rs agent/tests "$@"   # -rs prints why a test was skipped
