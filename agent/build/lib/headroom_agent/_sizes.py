"""Memory sizes as people write them (``512MiB``, ``2GB``, ``1.5G``, ``0``).

Every unit is a power of 1024, matching the Rust side (``headroom-core::units``) and
Activity Monitor, where "GB" means GiB.
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "tib": 1 << 40,
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")

ALLOWED = (
    "a non-negative integer of bytes or a number with a unit B, K/KB/KiB, M/MB/MiB, "
    "G/GB/GiB or T/TB/TiB (powers of 1024), e.g. 512MiB, 2GB, 1.5G, 0"
)


def parse_size(value: object, name: str = "size") -> int:
    """Returns ``value`` in bytes; accepts an int or a size string.

    Raises ValueError naming ``name``, the bad value and what is allowed.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid {name} {value!r}: expected {ALLOWED}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid {name} {value!r}: expected {ALLOWED}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid {name} {value!r}: expected {ALLOWED}")
    match = _SIZE_RE.match(value)
    if match is None:
        raise ValueError(f"invalid {name} {value!r}: expected {ALLOWED}")
    number, unit = match.group(1), match.group(2).lower()
    if unit not in _UNITS:
        raise ValueError(f"invalid {name} {value!r}: unknown unit {match.group(2)!r}; expected {ALLOWED}")
    multiplier = _UNITS[unit]
    if "." in number:
        return round(float(number) * multiplier)
    return int(number) * multiplier


def format_size(n: int) -> str:
    """Formats bytes for messages: ``1.5 GB`` (GiB), ``512.0 MB`` (MiB) or ``123 B``."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MB"
    return f"{n} B"
