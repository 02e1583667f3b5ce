#!/usr/bin/env bash
# Python agent (agent/): pytest with real MLX, real Unix sockets and real subprocesses.
# Assumes .venv exists with: pip install "mlx[cpu]" mlx-lm pytest -e agent/  (scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ! -x .venv/bin/python ]]; then
    echo "20-agent: .venv is missing; run scripts/setup.sh first" >&2
    exit 1
fi
exec .venv/bin/python -m pytest -q agent/tests "$@"
