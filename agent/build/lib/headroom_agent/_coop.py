"""Cooperative mode: actions wait in a queue until the host calls ``tick()`` at a safe point."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import _protocol as p

Runner = Callable[[str, dict[str, Any]], dict[str, Any]]

_PENDING, _RUNNING, _DONE, _CANCELLED = "pending", "running", "done", "cancelled"


class Action:
    """One queued request; the connection thread waits on it, ``tick()`` runs it."""

    def __init__(self, req_id: Any, op: str, request: dict[str, Any]) -> None:
        self.req_id = req_id
        self.op = op
        self.request = request
        self.queued_at = time.monotonic()
        self.state = _PENDING
        self.result: dict[str, Any] | None = None
        self.error: p.OpError | None = None
        self.done = threading.Event()


class ActionQueue:
    """A FIFO of actions shared by connection threads (producers) and the host thread (tick)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._items: deque[Action] = deque()
        # Reentrant: a SIGTERM handler on the host thread may call fail_all() (via stop) while
        # that same thread is inside run_pending(); a plain Lock would deadlock there.
        self._lock = threading.RLock()

    def submit_and_wait(self, action: Action) -> dict[str, Any]:
        """Queues ``action`` and blocks until tick() ran it; raises OpError on timeout."""
        with self._lock:
            self._items.append(action)
        if action.done.wait(self.timeout):
            return self._outcome(action)
        with self._lock:
            if action.state == _PENDING:
                action.state = _CANCELLED
                self._remove(action)
                raise p.OpError(
                    p.TIMEOUT,
                    f"{action.op} waited {self.timeout:g} s in the cooperative queue and was dropped: "
                    "the host did not call headroom_agent.tick()",
                )
        action.done.wait()  # tick() is running it right now; its outcome is moments away
        return self._outcome(action)

    @staticmethod
    def _outcome(action: Action) -> dict[str, Any]:
        if action.error is not None:
            raise action.error
        assert action.result is not None
        return action.result

    def _remove(self, action: Action) -> None:
        try:
            self._items.remove(action)
        except ValueError:
            pass

    def run_pending(self, runner: Runner) -> int:
        """Runs every action queued so far on the calling thread; returns how many ran."""
        if not self._items:  # fast path: tick() in a hot loop costs one length check
            return 0
        with self._lock:
            batch = list(self._items)
            self._items.clear()
            for action in batch:
                action.state = _RUNNING
        for action in batch:
            try:
                action.result = runner(action.op, action.request)
            except p.OpError as exc:
                action.error = exc
            except Exception as exc:  # never let an action take the host down
                action.error = p.OpError(p.INTERNAL, f"{action.op} failed: {type(exc).__name__}: {exc}")
            action.state = _DONE
            action.done.set()
        return len(batch)

    def fail_all(self, code: str, message: str) -> None:
        """Answers every queued action with an error (used when the agent stops)."""
        with self._lock:
            batch = list(self._items)
            self._items.clear()
        for action in batch:
            action.error = p.OpError(code, message)
            action.state = _DONE
            action.done.set()

    def pending(self) -> list[dict[str, Any]]:
        """What ``stats`` reports as ``pending``: each queued op, its id and its age in seconds."""
        now = time.monotonic()
        with self._lock:
            return [
                {"op": a.op, "id": a.req_id, "queued_for": round(now - a.queued_at, 3)} for a in self._items
            ]
