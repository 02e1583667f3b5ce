"""Agent benchmarks with real MLX processes (not part of the test-suite; run by hand).

usage: python agent/bench/agent_bench.py [--rounds N] [--window SECS] [--pairs N] [--aa]

--aa never polls (an A/A run that shows the noise floor).

1. ``stats`` round trip over one persistent connection to a cache_builder agent: p50/p99.
2. Overhead on a real workload: a tiny mlx-lm model generating under
   ``python -m headroom_agent run``; windows with no polling alternate with windows polling
   ``stats`` at 1 Hz; prints mean tokens/s of each and the relative loss.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORKLOADS = Path(__file__).resolve().parent.parent / "tests" / "workloads"


def spawn(args: list[str], runtime_dir: str) -> subprocess.Popen[str]:
    env = dict(os.environ, HEADROOM_RUNTIME_DIR=runtime_dir, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != f"READY {proc.pid}":
        proc.kill()
        raise SystemExit(f"workload did not start: {line!r}")
    return proc


def connect(runtime_dir: str, pid: int) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(runtime_dir, f"agent-{pid}.sock"))
    return s


def stats_once(s: socket.socket, buf: bytearray) -> dict[str, object]:
    s.sendall(b'{"id":1,"op":"stats"}\n')
    while b"\n" not in buf:
        buf += s.recv(65536)
    nl = buf.index(b"\n")
    line = bytes(buf[:nl])
    del buf[: nl + 1]
    parsed: dict[str, object] = json.loads(line)
    return parsed


def process_cpu(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trip(runtime_dir: str, rounds: int) -> None:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "16MiB"], runtime_dir)
    try:
        s = connect(runtime_dir, proc.pid)
        buf = bytearray()
        for _ in range(50):
            stats_once(s, buf)
        samples = []
        cpu_before = process_cpu(proc.pid)
        for _ in range(rounds):
            t0 = time.perf_counter()
            stats_once(s, buf)
            samples.append(time.perf_counter() - t0)
        samples.sort()
        p50 = samples[len(samples) // 2] * 1e6
        p99 = samples[int(len(samples) * 0.99)] * 1e6
        print(f"stats round trip, 1 agent, {rounds} requests: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
        if cpu_before is not None:
            per_request = (process_cpu(proc.pid) or 0.0) - cpu_before
            per_request /= rounds
            print(
                f"agent CPU per stats request: {per_request * 1e6:.0f} µs "
                f"(1 Hz polling = {per_request * 100:.4f} % of one core; load-independent bound on overhead)"
            )
        s.close()
    finally:
        proc.kill()
        proc.wait()


def overhead(runtime_dir: str, window: float, pairs: int, aa: bool = False) -> None:
    proc = spawn(
        ["-m", "headroom_agent", "run", str(WORKLOADS / "tiny_llm.py"), "--report-every", "0.5"], runtime_dir
    )
    assert proc.stdout is not None
    polling = threading.Event()
    stop = threading.Event()

    def poller() -> None:
        s = connect(runtime_dir, proc.pid)
        buf = bytearray()
        while not stop.is_set():
            if polling.is_set():
                stats_once(s, buf)
            stop.wait(1.0)

    thread = threading.Thread(target=poller, daemon=True)
    thread.start()
    windows: list[list[float]] = []
    modes: list[bool] = []
    try:
        deadline = time.monotonic() + 3  # warm up
        while time.monotonic() < deadline:
            proc.stdout.readline()
        for i in range(pairs * 2):
            # ABBA order (off,on,on,off,...) so a slow drift does not favour either mode.
            mode = (i % 2 == 1) != (i // 2 % 2 == 1)
            polling.set() if mode and not aa else polling.clear()
            modes.append(mode)
            end = time.monotonic() + window
            windows.append([])
            while time.monotonic() < end:
                ready, _, _ = select.select([proc.stdout], [], [], 1.0)
                if ready:
                    words = proc.stdout.readline().split()
                    if words and words[0] == "TPS":
                        windows[-1].append(float(words[1]))
    finally:
        stop.set()
        proc.kill()
        proc.wait()
    means = [statistics.mean(w) for w in windows]
    off = [m for m, mode in zip(means, modes) if not mode]
    on = [m for m, mode in zip(means, modes) if mode]
    print("window means (tok/s):", " ".join(f"{'P' if mode else '-'}{m:.0f}" for m, mode in zip(means, modes)))
    losses = sorted(100 * (a - b) / a for a, b in zip(off, on))
    print(
        f"tiny mlx-lm model, {pairs} alternating pairs of {window:g} s windows: "
        f"no polling {statistics.mean(off):.1f} tok/s, 1 Hz stats polling {statistics.mean(on):.1f} tok/s, "
        f"median paired loss {statistics.median(losses):+.2f} % (pairs: {', '.join(f'{x:+.1f}' for x in losses)})"
    )


def main() -> None:
    args = sys.argv[1:]
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 2000
    window = float(args[args.index("--window") + 1]) if "--window" in args else 5.0
    runtime_dir = tempfile.mkdtemp(prefix="hrb-", dir="/tmp")
    try:
        round_trip(runtime_dir, rounds)
        overhead(runtime_dir, window, pairs=int(args[args.index('--pairs') + 1]) if '--pairs' in args else 6, aa='--aa' in args)
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
