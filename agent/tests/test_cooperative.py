"""Cooperative mode: actions wait for headroom_agent.tick() on the host thread."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from conftest import WORKLOADS, Client, Proc, spawn

MIB = 1 << 20


class Pending:
    """A request sent from a background thread; ``response`` is filled when it is answered."""

    def __init__(self, path: str, op: str, **args: Any) -> None:
        self.response: dict[str, Any] | None = None
        self.answered = threading.Event()
        self.elapsed = 0.0
        self.thread = threading.Thread(target=self._run, args=(path, op, args), daemon=True)
        self.thread.start()

    def _run(self, path: str, op: str, args: dict[str, Any]) -> None:
        started = time.monotonic()
        with Client(path, timeout=60) as c:
            self.response = c.call(op, **args)
        self.elapsed = time.monotonic() - started
        self.answered.set()


def _wait_pending(c: Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending: list[dict[str, Any]] = c.result("stats")["pending"]
        if len(pending) == count:
            return pending
        time.sleep(0.02)
    raise AssertionError(f"expected {count} pending actions")


@pytest.fixture
def coop(runtime_dir: str, procs: list[Proc]) -> Proc:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "8MiB", "--cooperative"], runtime_dir)
    procs.append(proc)
    return proc


def test_actions_wait_for_tick_and_run_there(coop: Proc) -> None:
    with coop.client() as c:
        assert c.result("hello")["cooperative"] is True
        cache = coop.own_cache()
        clear = Pending(coop.path, "clear_cache")
        pending = _wait_pending(c, 1)
        assert pending[0]["op"] == "clear_cache" and pending[0]["id"] == 1 and pending[0]["queued_for"] >= 0
        assert not clear.answered.wait(0.3)  # still waiting: nothing ran behind the host's back
        assert coop.own_cache() == cache > 0
        assert coop.send("tick") == "TICK 1"
        assert clear.answered.wait(10)
        assert clear.response is not None and clear.response["ok"] is True
        assert clear.response["result"]["freed"] == cache
        assert coop.own_cache() == 0
        assert c.result("stats")["pending"] == []
        assert coop.send("tick") == "TICK 0"


def test_queries_are_answered_without_a_tick(coop: Proc) -> None:
    with coop.client() as c:
        started = time.monotonic()
        assert c.result("stats")["cooperative"] is True
        assert c.result("hello")["pid"] == coop.pid
        assert time.monotonic() - started < 2


def test_several_actions_run_in_order_in_one_tick(coop: Proc) -> None:
    with coop.client() as c:
        first = Pending(coop.path, "set_cache_limit", bytes=3 * MIB)
        _wait_pending(c, 1)
        second = Pending(coop.path, "set_cache_limit", bytes=5 * MIB)
        _wait_pending(c, 2)
        assert coop.send("tick") == "TICK 2"
        assert first.answered.wait(10) and second.answered.wait(10)
        assert first.response is not None and second.response is not None
        assert second.response["result"]["previous"] == 3 * MIB
        assert c.result("stats")["cache_limit"] == 5 * MIB


def test_bad_arguments_and_unknown_ops_are_answered_at_once(coop: Proc) -> None:
    with coop.client() as c:
        bad = c.call("set_memory_limit", bytes=-5)
        assert bad["error"]["code"] == "invalid_argument"
        unknown = c.call("compact")
        assert unknown["error"]["code"] == "unknown_op"
        assert c.result("stats")["pending"] == []


def test_queued_action_times_out_and_is_dropped(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn(
        [str(WORKLOADS / "cache_builder.py"), "4MiB", "--cooperative"], runtime_dir, HEADROOM_COOPERATIVE_TIMEOUT="0.5"
    )
    procs.append(proc)
    with proc.client() as c:
        response = c.call("clear_cache")
        assert response["ok"] is False and response["error"]["code"] == "timeout"
        assert "headroom_agent.tick()" in response["error"]["message"]
        assert c.result("stats")["pending"] == []
        assert proc.send("tick") == "TICK 0"  # the dropped action never runs later
        assert proc.own_cache() > 0


def test_host_that_ticks_regularly_answers_quickly(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "4MiB", "--cooperative", "--tick-every", "0.05"], runtime_dir)
    procs.append(proc)
    with proc.client() as c:
        started = time.monotonic()
        assert c.result("clear_cache")["cache_after"] == 0
        assert time.monotonic() - started < 2


def test_tick_runs_actions_on_the_calling_thread_in_process(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import headroom_agent
    import mlx.core as mx

    monkeypatch.setenv("HEADROOM_RUNTIME_DIR", runtime_dir)
    path = headroom_agent.start(cooperative=True, cooperative_timeout=20)
    assert path is not None
    try:
        a = mx.ones((256, 1024))
        mx.eval(a)
        del a
        assert mx.get_cache_memory() > 0
        pending = Pending(path, "clear_cache")
        with Client(path) as c:
            _wait_pending(c, 1)
        assert mx.get_cache_memory() > 0
        assert headroom_agent.tick() == 1
        assert mx.get_cache_memory() == 0  # done by the time tick() returned, on this thread
        assert pending.answered.wait(10)
        assert pending.response is not None and pending.response["ok"] is True
    finally:
        headroom_agent.stop()


def test_stop_answers_queued_actions(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import headroom_agent

    monkeypatch.setenv("HEADROOM_RUNTIME_DIR", runtime_dir)
    path = headroom_agent.start(cooperative=True)
    assert path is not None
    try:
        pending = Pending(path, "reset_peak")
        with Client(path) as c:
            _wait_pending(c, 1)
    finally:
        headroom_agent.stop()
    assert pending.answered.wait(10)
    assert pending.response is not None and pending.response["error"]["code"] == "shutting_down"
    assert not os.path.exists(path)


def test_tick_is_cheap_when_nothing_is_queued(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import headroom_agent

    monkeypatch.setenv("HEADROOM_RUNTIME_DIR", runtime_dir)
    assert headroom_agent.start(cooperative=True) is not None
    try:
        n = 100_000
        started = time.perf_counter()
        for _ in range(n):
            headroom_agent.tick()
        per_call = (time.perf_counter() - started) / n
    finally:
        headroom_agent.stop()
    print(f"tick() with an empty queue: {per_call * 1e9:.0f} ns")
    assert per_call < 20e-6
