"""The socket server: one daemon thread blocked in ``accept``, one daemon thread per connection."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import _protocol as p
from ._coop import Action, ActionQueue
from ._ops import ACTIONS, Ops
from ._peercred import peer_uid_pid

MAX_CONNECTIONS = 64
# Signals sent to the whole process, which belong to the host's main thread: the kernel may
# deliver them to any thread that does not block them, and Python runs their handlers only
# in the main thread, which a signal taken by our thread does not wake from a blocking read.
HOST_SIGNALS = {s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")) if s is not None}
# After refusing a connection: how much of the peer's unread input to discard, and for how
# long, so the peer reads the error line and a clean EOF rather than a reset.
DRAIN_BYTES = 1 << 20
DRAIN_SECONDS = 1.0

_debug_enabled = os.environ.get("HEADROOM_AGENT_DEBUG", "") not in ("", "0")


def debug(message: str) -> None:
    """Writes ``message`` to stderr when HEADROOM_AGENT_DEBUG is set; never raises."""
    if not _debug_enabled:
        return
    try:
        sys.stderr.write(f"[headroom_agent {os.getpid()}] {message}\n")
        sys.stderr.flush()
    except Exception:
        pass


class Server:
    """Serves protocol version 1 on a bound, listening Unix socket."""

    def __init__(self, listener: socket.socket, path: str, ops: Ops, queue: ActionQueue | None) -> None:
        self.listener = listener
        self.path = path
        self.ops = ops
        self.queue = queue
        self.stopping = False
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept_loop, name="headroom-agent", daemon=True)

    def start(self) -> None:
        # The agent's threads (this one and the connection threads it starts, which inherit
        # its signal mask) never take the host's signals.
        with _host_signals_blocked():
            self.thread.start()

    # -- accepting -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()  # blocks: no CPU while idle
            except OSError as exc:
                if self.stopping:
                    return
                debug(f"accept failed: {exc!r}")
                if exc.errno in (9, 22):  # EBADF/EINVAL: the listener is gone
                    return
                threading.Event().wait(0.05)  # e.g. EMFILE: back off instead of spinning
                continue
            except BaseException as exc:  # pragma: no cover - never take the host down
                debug(f"accept loop error: {exc!r}")
                threading.Event().wait(0.05)
                continue
            if self.stopping:
                conn.close()
                return
            self._spawn(conn)

    def _spawn(self, conn: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            self._send_quietly(conn, p.error_response(None, p.BUSY, f"too many connections (at most {MAX_CONNECTIONS})"))
            conn.close()
            return
        try:
            threading.Thread(target=self._serve_conn, args=(conn,), name="headroom-agent-conn", daemon=True).start()
        except Exception as exc:
            debug(f"cannot start connection thread: {exc!r}")
            self._slots.release()
            conn.close()

    # -- one connection ------------------------------------------------------------------------
    def _serve_conn(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)
        try:
            if self._peer_allowed(conn) and self._serve_lines(conn):
                return
            self._drain(conn)
        except Exception as exc:
            debug(f"connection error: {exc!r}")
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass
            self._slots.release()

    def _peer_allowed(self, conn: socket.socket) -> bool:
        try:
            uid, pid = peer_uid_pid(conn)
        except Exception as exc:
            self._send_quietly(conn, p.error_response(None, p.PERMISSION_DENIED, f"cannot verify the peer's user: {exc}"))
            return False
        if uid != os.getuid():
            debug(f"refused peer uid {uid} pid {pid}")
            self._send_quietly(
                conn,
                p.error_response(
                    None, p.PERMISSION_DENIED, f"peer uid {uid} is not this process's user (uid {os.getuid()})"
                ),
            )
            return False
        return True

    def _serve_lines(self, conn: socket.socket) -> bool:
        """Serves requests until EOF (True) or a line too long was refused (False)."""
        try:
            for line in p.read_lines(conn):
                if not line.strip():
                    continue
                conn.sendall(self.handle_line(line))
                if self.stopping:
                    return True
            return True
        except p.LineTooLong:
            self._send_quietly(
                conn,
                p.error_response(
                    None, p.LINE_TOO_LONG, f"request line longer than {p.MAX_LINE_BYTES} bytes; closing the connection"
                ),
            )
            return False

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        """Half-closes, then discards a bounded amount of input so the peer sees EOF, not a reset."""
        try:
            conn.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + DRAIN_SECONDS
            left = DRAIN_BYTES
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                conn.settimeout(remaining)
                chunk = conn.recv(min(left, 65536))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:
            pass

    def handle_line(self, line: bytes) -> bytes:
        """The response line for one request line; never raises."""
        req_id: Any = None
        try:
            req_id, op, request = p.parse_request(line)
            return p.ok_response(req_id, self._dispatch(req_id, op, request))
        except p.OpError as exc:
            return p.error_response(req_id if req_id is not None else p.request_id_of(exc), exc.code, exc.message)
        except Exception as exc:
            debug(f"internal error: {exc!r}")
            return p.error_response(req_id, p.INTERNAL, f"{type(exc).__name__}: {exc}")

    def _dispatch(self, req_id: Any, op: str, request: dict[str, Any]) -> dict[str, Any]:
        if self.queue is not None and op in ACTIONS:
            if self.stopping:
                raise p.OpError(p.SHUTTING_DOWN, "the agent is stopping")
            self.ops.validate(op, request)  # bad arguments are answered at once, not after a tick
            return self.queue.submit_and_wait(Action(req_id, op, request))
        return self.ops.run(op, request)

    @staticmethod
    def _send_quietly(conn: socket.socket, data: bytes) -> None:
        try:
            conn.sendall(data)
        except OSError:
            pass

    # -- stopping ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stops accepting, wakes the accept thread, answers queued actions, drops connections."""
        self.stopping = True
        if self.queue is not None:
            self.queue.fail_all(p.SHUTTING_DOWN, "the agent is stopping")
        self._wake_accept()
        try:
            self.listener.close()
        except OSError:
            pass
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RD)  # wakes recv(); answers still being sent go out
            except OSError:
                pass
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=1.0)

    def _wake_accept(self) -> None:
        # Closing a socket does not wake a thread blocked in accept() everywhere; connecting does.
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(self.path)
        except OSError:
            pass


@contextlib.contextmanager
def _host_signals_blocked() -> Iterator[None]:
    """Blocks HOST_SIGNALS in the calling thread meanwhile (threads started inherit the mask)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # pragma: no cover - not POSIX
        yield
        return
    old = mask(signal.SIG_BLOCK, HOST_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)
