"""A real MLX program that knows nothing of Headroom: no import of headroom_agent, no setup.

usage: python plain_mlx.py SIZE      (or as a console script whose entry point is ``main``)

Imports ``mlx.core`` and prints ``IMPORTED <unix time>`` right after, builds an allocator cache
of SIZE bytes (``64MiB`` style sizes, powers of 1024), prints ``READY <pid>``, then answers one
line per stdin command until stdin closes:
  cache   -> CACHE <bytes>      (its own mx.get_cache_memory())
  agent   -> AGENT <0|1>        (whether a headroom_agent module is loaded in this process)
  exit    -> exits 0
"""

from __future__ import annotations

import os
import sys
import time

UNITS = {"": 1, "B": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30}


def parse_size(text: str) -> int:
    digits = text.rstrip("KMGiBkmgib")
    return int(float(digits) * UNITS[text[len(digits) :].upper()])


def main() -> int:
    size = parse_size(sys.argv[1] if len(sys.argv) > 1 else "16MiB")
    import mlx.core as mx

    print(f"IMPORTED {time.time()}", flush=True)
    mx.set_cache_limit(max(2 * size, 32 << 20))
    arrays = [mx.zeros((1 << 18,), dtype=mx.float32) for _ in range(max(size >> 20, 1))]
    mx.eval(*arrays)
    del arrays
    print(f"READY {os.getpid()}", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "cache":
            print(f"CACHE {mx.get_cache_memory()}", flush=True)
        elif cmd == "agent":
            print(f"AGENT {int('headroom_agent' in sys.modules)}", flush=True)
        elif cmd == "exit":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
