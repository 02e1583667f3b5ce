"""A real MLX process with the agent: builds an allocator cache of a given size, then waits.

usage: python cache_builder.py SIZE [--cache-limit SIZE] [--cooperative] [--tick-every SECS] [--no-agent]

SIZE is bytes or 64MiB/1GB/1.5G (powers of 1024). Prints ``READY <pid>`` once the cache is
built, then answers one line per command read from stdin until stdin closes (exit 0):
  cache        -> CACHE <bytes>           (this process's own mx.get_cache_memory())
  cachelimit   -> CACHELIMIT <bytes>      (the cache limit in force: MLX has no getter, so
                                           mx.set_cache_limit's return value, then put back)
  stats        -> STATS <json>            (active, cache, peak, memory_limit as MLX reports them)
  build SIZE   -> BUILT <cache bytes>     (allocate, evaluate and free SIZE more bytes)
  clear        -> CLEARED <cache bytes>
  tick         -> TICK <actions run>      (headroom_agent.tick(), for cooperative mode)
  exit [CODE]  -> exits with CODE (default 0)
With --tick-every SECS the main thread also calls headroom_agent.tick() every SECS.
Without --cache-limit the cache limit is raised to twice SIZE (at least MLX's default) so
the cache can hold SIZE.
"""

from __future__ import annotations

import json
import os
import select
import sys

import mlx.core as mx

import headroom_agent
from headroom_agent._sizes import parse_size

CHUNK = 1 << 20  # bytes per array: 262144 float32


def build_cache(size: int) -> int:
    """Allocates ``size`` bytes in 1 MiB arrays, evaluates and frees them; returns the cache size."""
    arrays = []
    remaining = size
    while remaining > 0:
        n = min(CHUNK, remaining)
        arrays.append(mx.zeros((max(n // 4, 1),), dtype=mx.float32))
        remaining -= n
    mx.eval(*arrays)
    del arrays
    return int(mx.get_cache_memory())


def answer(line: str) -> str | None:
    """The reply to one stdin command (None: nothing to print)."""
    words = line.split()
    if not words:
        return None
    cmd = words[0]
    if cmd == "cache":
        return f"CACHE {mx.get_cache_memory()}"
    if cmd == "cachelimit":
        # MLX's own setter (not the agent's tracking wrapper): this is the process's reading.
        setter = getattr(mx.set_cache_limit, "__wrapped__", mx.set_cache_limit)
        previous = setter(1 << 62)
        setter(previous)
        return f"CACHELIMIT {previous}"
    if cmd == "stats":
        stats = {
            "active": mx.get_active_memory(),
            "cache": mx.get_cache_memory(),
            "peak": mx.get_peak_memory(),
            "memory_limit": mx.get_memory_limit(),
        }
        return "STATS " + json.dumps(stats)
    if cmd == "build" and len(words) == 2:
        return f"BUILT {build_cache(parse_size(words[1], 'build size'))}"
    if cmd == "clear":
        mx.clear_cache()
        return f"CLEARED {mx.get_cache_memory()}"
    if cmd == "tick":
        return f"TICK {headroom_agent.tick()}"
    if cmd == "exit":
        raise SystemExit(int(words[1]) if len(words) > 1 else 0)
    return f"ERROR unknown command {line.strip()!r}"


def parse_args(argv: list[str]) -> dict[str, str]:
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    opts: dict[str, str] = {"size": argv[0]}
    i = 1
    while i < len(argv):
        word = argv[i]
        if word in ("--cooperative", "--no-agent"):
            opts[word[2:]] = "1"
        elif word in ("--cache-limit", "--tick-every") and i + 1 < len(argv):
            opts[word[2:]] = argv[i + 1]
            i += 1
        else:
            raise SystemExit(f"unknown argument {word!r}\n{__doc__}")
        i += 1
    return opts


def main() -> None:
    opts = parse_args(sys.argv[1:])
    size = parse_size(opts["size"], "SIZE")
    limit = parse_size(opts["cache-limit"], "--cache-limit") if "cache-limit" in opts else max(2 * size, 32 << 20)
    if "no-agent" in opts:
        mx.set_cache_limit(limit)
    else:
        headroom_agent.start(cache_limit=limit, cooperative=True if "cooperative" in opts else None)
    build_cache(size)
    print(f"READY {os.getpid()}", flush=True)
    tick_every = float(opts["tick-every"]) if "tick-every" in opts else None
    pending = b""
    while True:
        if tick_every is not None:
            readable, _, _ = select.select([0], [], [], tick_every)
            headroom_agent.tick()
            if not readable:
                continue
        chunk = os.read(0, 4096)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            reply = answer(line.decode())
            if reply is not None:
                print(reply, flush=True)


if __name__ == "__main__":
    main()
