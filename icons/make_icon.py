#!/usr/bin/env python3
"""Draws Headroom's app icon, icons/source.png (1024x1024 RGBA), with the standard library only.

The motif is the tray icon's: a ring gauge of used memory that runs from green through yellow
to red, around a dot, on a dark rounded-square body (the macOS icon grid: an 824 px body on a
1024 px canvas, with a soft shadow). Edges are anti-aliased from signed distances.

Regenerate every size with:  cd src-tauri && npx tauri icon ../icons/source.png -o icons
"""

import math
import os
import struct
import sys
import zlib

SIZE = 1024
C = SIZE / 2
BODY_HALF = 412          # 824 px body
BODY_EXP = 5.0           # superellipse exponent (close to Apple's squircle)
RING_R = 262             # ring centre-line radius
RING_W = 92              # ring width
ARC_END = 0.72           # how far round the gauge is filled
DOT_R = 84

TOP = (22, 32, 51)       # body gradient, top
BOTTOM = (10, 15, 26)    # body gradient, bottom
GREEN = (52, 199, 89)
YELLOW = (255, 204, 0)
RED = (255, 59, 48)


def clamp01(v):
    return 0.0 if v < 0 else 1.0 if v > 1 else v


def mix(a, b, t):
    return tuple(a[i] + (b[i] - a[i]) * t for i in range(3))


def gauge_color(f):
    """Colour along the filled arc, f in 0..1: green, then yellow, then red."""
    if f < 0.5:
        return mix(GREEN, YELLOW, f / 0.5)
    return mix(YELLOW, RED, (f - 0.5) / 0.5)


def body_sd(x, y):
    """Approximate signed distance to the superellipse body (negative inside)."""
    nx, ny = abs(x - C) / BODY_HALF, abs(y - C) / BODY_HALF
    r = (nx ** BODY_EXP + ny ** BODY_EXP) ** (1 / BODY_EXP)
    return (r - 1) * BODY_HALF


def turn(dx, dy):
    """Fraction of a turn clockwise from 12 o'clock."""
    a = math.atan2(dx, -dy)
    return (a % math.tau) / math.tau


def over(dst, src, alpha):
    """Composites colour src with alpha over dst (r, g, b, a), straight alpha."""
    r, g, b, a = dst
    out_a = alpha + a * (1 - alpha)
    if out_a <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    k = a * (1 - alpha)
    return (
        (src[0] * alpha + r * k) / out_a,
        (src[1] * alpha + g * k) / out_a,
        (src[2] * alpha + b * k) / out_a,
        out_a,
    )


def arc_end_point():
    a = ARC_END * math.tau
    return C + RING_R * math.sin(a), C - RING_R * math.cos(a)


END_X, END_Y = arc_end_point()
START_X, START_Y = C, C - RING_R


def pixel(x, y):
    px, py = x + 0.5, y + 0.5
    col = (0.0, 0.0, 0.0, 0.0)
    # Shadow: the body shape, lowered and blurred.
    sd_shadow = body_sd(px, py - 14)
    shadow = 0.45 * clamp01(1 - (sd_shadow + 6) / 34)
    col = over(col, (0, 0, 0), shadow)
    sd = body_sd(px, py)
    body = clamp01(0.5 - sd)
    if body <= 0:
        return col
    col = over(col, mix(TOP, BOTTOM, py / SIZE), body)
    dx, dy = px - C, py - C
    d = math.hypot(dx, dy)
    ring = clamp01(0.5 - (abs(d - RING_R) - RING_W / 2))
    f = turn(dx, dy)
    cap = RING_W / 2
    in_caps = max(
        clamp01(0.5 - (math.hypot(px - START_X, py - START_Y) - cap)),
        clamp01(0.5 - (math.hypot(px - END_X, py - END_Y) - cap)),
    )
    filled = ring if f <= ARC_END else 0.0
    filled = max(filled, in_caps)
    track = ring * (1 - filled)
    if track > 0:
        col = over(col, (255, 255, 255), 0.13 * track)
    if filled > 0:
        t = f / ARC_END if f <= ARC_END else (0.0 if f > 0.9 else 1.0)
        col = over(col, gauge_color(clamp01(t)), filled)
    dot = clamp01(0.5 - (d - DOT_R))
    if dot > 0:
        col = over(col, GREEN, dot)
    return col


def png(width, height, rows):
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "source.png")
    rows = []
    for y in range(SIZE):
        row = bytearray()
        for x in range(SIZE):
            r, g, b, a = pixel(x, y)
            row += bytes((round(r), round(g), round(b), round(a * 255)))
        rows.append(row)
    with open(out, "wb") as f:
        f.write(png(SIZE, SIZE, rows))
    print(out)


if __name__ == "__main__":
    main()
