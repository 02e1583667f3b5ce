"""A real MLX process for the app smoke test: fills MLX's allocator cache, then waits.

usage: python -m headroom_agent run tests/app/mlx_holder.py [SIZE_MIB] [MAX_SECS]

Allocates SIZE_MIB (default 96) MiB in 1 MiB arrays, evaluates and frees them, so MLX keeps
the buffers in its cache; prints ``HOLDING <pid> <cache bytes>`` and sleeps (at most MAX_SECS,
default 300, so a forgotten process goes away by itself). The agent the command line started
clears the cache when Headroom asks; this script never does.
"""

from __future__ import annotations

import os
import sys
import time

import mlx.core as mx

CHUNK = 1 << 20


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 96
    max_secs = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
    previous = mx.set_cache_limit(2 * size_mib * CHUNK)  # room for the whole cache
    if previous > 2 * size_mib * CHUNK:
        mx.set_cache_limit(previous)
    arrays = [mx.zeros((CHUNK // 4,), dtype=mx.float32) for _ in range(size_mib)]
    mx.eval(*arrays)
    del arrays
    print(f"HOLDING {os.getpid()} {mx.get_cache_memory()}", flush=True)
    deadline = time.monotonic() + max_secs
    while time.monotonic() < deadline:
        time.sleep(1)


if __name__ == "__main__":
    main()
