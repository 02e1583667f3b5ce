"""The workload scripts other engineers' Rust tests use, exercised here with the agent."""

from __future__ import annotations

import time

from conftest import WORKLOADS, Client, Proc, spawn


def test_tiny_llm_under_run_mode_moves_the_numbers(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn(
        ["-m", "headroom_agent", "run", str(WORKLOADS / "tiny_llm.py"), "--report-every", "0.2"], runtime_dir
    )
    procs.append(proc)
    assert proc.popen.stdout is not None
    report = proc.popen.stdout.readline().split()
    assert report[0] == "TPS" and float(report[1]) >= 0 and report[2] == "TOKENS"
    with Client(proc.path) as c:
        first = c.result("stats")
        assert first["peak"] > 0 and first["active"] > 0  # the model's weights are live
        c.result("reset_peak")
        seen_peaks: set[int] = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen_peaks) < 2:
            seen_peaks.add(c.result("stats")["peak"])
            time.sleep(0.05)
        assert len(seen_peaks) >= 2, "peak memory did not move while generating"
        assert c.result("clear_cache")["cache_after"] >= 0
    assert proc.popen.poll() is None  # generation goes on


def test_tiny_llm_stops_after_n_tokens(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn([str(WORKLOADS / "tiny_llm.py"), "--tokens", "40", "--agent", "--report-every", "100"], runtime_dir)
    procs.append(proc)
    code, out, err = proc.finish(timeout=60)
    assert code == 0, err
    done = out.strip().splitlines()[-1].split()
    assert done[0] == "DONE" and done[1] == "40" and float(done[2]) > 0


def test_cache_builder_commands(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "3MiB"], runtime_dir)
    procs.append(proc)
    assert 3 << 20 <= proc.own_cache() < 4 << 20
    assert proc.send("build 10MiB").startswith("BUILT ")
    assert proc.own_cache() >= 10 << 20
    assert proc.send("clear") == "CLEARED 0"
    assert proc.send("frobnicate").startswith("ERROR unknown command")
    assert proc.popen.stdin is not None
    proc.popen.stdin.write("exit 3\n")
    code, _, _ = proc.finish()
    assert code == 3
