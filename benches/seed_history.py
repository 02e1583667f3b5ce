#!/usr/bin/env python3
"""Fills a Headroom history database with 24 hours of 1 s samples ending now, so a benchmark
can show the 24-hour chart as a user who left Headroom running for a day sees it.

usage: seed_history.py DATA_DIR [HOURS]

Writes DATA_DIR/history.db (created; refuses to touch an existing one). The values follow this
machine's /proc/meminfo total with a slow daily swing and some per-second noise: real-looking
numbers, not a real day. The engine rolls them up into minute rows at its first maintenance,
as it does for its own samples (history/store.rs `maintain`).
"""

from __future__ import annotations

import math
import os
import random
import re
import sqlite3
import sys
import time
from pathlib import Path

# The stored columns in storage order (crates/headroom-core/src/history/schema.rs `COLS`).
COLS = ["used", "available", "app", "wired", "compressed", "cached", "free", "swap_used", "pressure",
        "free_pct_x100", "swapin_rate", "swapout_rate", "compression_rate", "mlx_cache"]


def mem_total() -> int:
    m = re.search(r"^MemTotal:\s+(\d+) kB$", Path("/proc/meminfo").read_text(), re.M)
    if not m:
        raise SystemExit("no MemTotal in /proc/meminfo")
    return int(m.group(1)) * 1024


def rows(hours: float, now_ms: int, total: int):
    rnd = random.Random(1)
    n = int(hours * 3600)
    for i in range(n):
        t = now_ms - (n - i) * 1000
        day = math.sin(2 * math.pi * i / 86400)
        used = int(total * (0.45 + 0.15 * day) + rnd.gauss(0, total * 0.002))
        wired = int(total * 0.08)
        compressed = int(total * max(0.0, 0.05 * day))
        cached = int(total * 0.2)
        free = max(0, total - used - cached)
        mlx = int(total * 0.1 * (1 + day)) if (i // 1800) % 2 else 0
        yield (t, used, total - used, used - wired - compressed, wired, compressed, cached, free,
               0, 0, int(free / total * 10000), 0, 0, 0, mlx)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    data = Path(sys.argv[1])
    hours = float(sys.argv[2]) if len(sys.argv) == 3 else 24.0
    if not 0 < hours <= 24:
        print(f"hours {hours}: expected more than 0 and at most 24 (the full-rate window)", file=sys.stderr)
        return 2
    db = data / "history.db"
    if db.exists():
        print(f"{db} exists: not touching it", file=sys.stderr)
        return 1
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    con = sqlite3.connect(db)
    cols = ", ".join(f"{c} INTEGER" for c in COLS)
    con.execute(f"CREATE TABLE samples (t INTEGER PRIMARY KEY, {cols})")
    marks = ", ".join("?" * (len(COLS) + 1))
    con.executemany(f"INSERT INTO samples VALUES ({marks})", rows(hours, int(time.time() * 1000), mem_total()))
    con.commit()
    con.close()
    os.chmod(db, 0o600)
    print(f"seeded {db}: {hours:g} h of 1 s samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
