"""headroom_agent: lets Headroom see and manage this process's MLX allocator.

Start it with ``headroom_agent.start()`` or run a program under it with
``python -m headroom_agent run script.py ARGS...`` / ``python -m headroom_agent run -m module ARGS...``.
It serves protocol version 1 (docs/PROTOCOL.md) on ``<runtime dir>/agent-<pid>.sock``.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import stat
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType

from . import _config, _paths, _requirements
from ._coop import ActionQueue
from ._ops import Ops, physical_memory
from ._protocol import PROTOCOL_VERSION, OpError
from ._server import Server, debug
from ._version import __version__

__all__ = ["PROTOCOL_VERSION", "__version__", "is_running", "socket_path", "start", "stop", "tick"]

_FATAL_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


@dataclass
class _Agent:
    server: Server
    ops: Ops
    queue: ActionQueue | None
    path: str
    inode: int
    owner_pid: int


_lock = threading.RLock()
_agent: _Agent | None = None
_hooks_installed = False


def start(
    cache_limit: int | str | None = None,
    memory_limit: int | str | None = None,
    wired_limit: int | str | None = None,
    cooperative: bool | None = None,
    cooperative_timeout: float | None = None,
) -> str | None:
    """Starts the agent once per process and returns its socket path (None if it could not start).

    Limits are bytes or sizes such as ``"512MiB"``/``"2GB"`` (powers of 1024); an argument left
    as None falls back to ``HEADROOM_CACHE_LIMIT``/``HEADROOM_MEMORY_LIMIT``/``HEADROOM_WIRED_LIMIT``,
    and ``cooperative`` to ``HEADROOM_COOPERATIVE=1``. Calling start() again returns the same
    path and applies any limits passed explicitly. A bad explicit argument raises ValueError;
    anything else that stops the agent (no MLX, an unsafe runtime directory) only warns, so the
    host program always keeps running.
    """
    global _agent
    phys = physical_memory()
    explicit = {"cache_limit": cache_limit, "memory_limit": memory_limit, "wired_limit": wired_limit}
    with _lock:
        if _agent is not None and _agent.owner_pid == os.getpid():
            options = _config.resolve({}, phys, cache_limit, memory_limit, wired_limit, False, cooperative_timeout)
            if cooperative is not None and bool(cooperative) != (_agent.queue is not None):
                warnings.warn("headroom_agent: already running; its cooperative mode cannot change", RuntimeWarning, stacklevel=2)
            _apply_limits(_agent.ops, options, explicit_only=explicit)
            return _agent.path
        options = _config.resolve(os.environ, phys, cache_limit, memory_limit, wired_limit, cooperative, cooperative_timeout)
        try:
            _agent = _launch(options)
        except Exception as exc:
            warnings.warn(f"headroom_agent: not started: {exc}", RuntimeWarning, stacklevel=2)
            return None
        _install_hooks()
        debug(f"listening on {_agent.path} (cooperative={options.cooperative})")
        return _agent.path


def _launch(options: _config.Options) -> _Agent:
    try:
        import mlx.core as mx
    except Exception as exc:
        raise RuntimeError(f"cannot import mlx.core ({exc}); install it with `pip install mlx`") from None
    too_old = _requirements.mlx_version_problem(str(getattr(mx, "__version__", "")))
    if too_old is not None:
        raise RuntimeError(too_old)
    runtime_dir = _paths.prepare_runtime_dir(os.environ, sys.platform, os.getuid())
    path = _paths.socket_path(runtime_dir, os.getpid())
    if len(path.encode()) > _paths.MAX_SOCKET_PATH:
        raise _paths.UnsafeRuntimeDir(
            f"socket path {path!r} is longer than {_paths.MAX_SOCKET_PATH} bytes; set HEADROOM_RUNTIME_DIR to a shorter directory"
        )
    listener = _bind(path)
    queue = ActionQueue(options.cooperative_timeout) if options.cooperative else None
    try:
        ops = Ops(mx, options.cooperative, queue.pending if queue is not None else list)
        _apply_limits(ops, options)
        server = Server(listener, path, ops, queue)
        server.start()
    except BaseException:
        listener.close()
        _unlink_if_ours(path, os.stat(path).st_ino if os.path.exists(path) else -1)
        raise
    return _Agent(server, ops, queue, path, os.stat(path).st_ino, os.getpid())


def _bind(path: str) -> socket.socket:
    _paths.remove_stale_socket(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        os.chmod(path, 0o600)  # the directory is 0700, so no one else could reach it meanwhile
        listener.listen(128)  # bursts of non-blocking connects (32+ clients) must not see EAGAIN
    except BaseException:
        listener.close()
        raise
    return listener


def _apply_limits(ops: Ops, options: _config.Options, explicit_only: Mapping[str, object] | None = None) -> None:
    for op, value in options.limits().items():
        if explicit_only is not None and explicit_only.get(op[len("set_") :]) is None:
            continue
        try:
            ops.run(op, {"bytes": value})
        except OpError as exc:
            warnings.warn(f"headroom_agent: {op} {value} at start failed: {exc.message}", RuntimeWarning, stacklevel=3)


def _set_target(target: str) -> None:
    """Records what ``python -m headroom_agent run`` runs (``stats.target``)."""
    agent = _agent
    if agent is not None:
        agent.ops.target = target


def tick() -> int:
    """Runs actions queued in cooperative mode on the calling thread; returns how many ran.

    Call it at a safe point of the host's loop (between generation steps). It costs one length
    check when nothing is queued, and returns 0 when the agent is not running or not cooperative.
    """
    agent = _agent
    if agent is None or agent.queue is None:
        return 0
    return agent.queue.run_pending(agent.ops.run)


def stop() -> None:
    """Stops the agent, removes its socket and restores MLX's setters. Safe to call at any time."""
    global _agent
    with _lock:
        agent, _agent = _agent, None
    if agent is None or agent.owner_pid != os.getpid():
        return
    _shutdown(agent)
    agent.ops.uninstall()


def is_running() -> bool:
    """Whether this process serves an agent socket."""
    agent = _agent
    return agent is not None and agent.owner_pid == os.getpid()


def socket_path() -> str | None:
    """The socket path of the running agent, or None."""
    agent = _agent
    return agent.path if agent is not None and agent.owner_pid == os.getpid() else None


def _shutdown(agent: _Agent) -> None:
    try:
        agent.server.stop()
    except Exception as exc:
        debug(f"stop failed: {exc!r}")
    _unlink_if_ours(agent.path, agent.inode)


def _unlink_if_ours(path: str, inode: int) -> None:
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and st.st_ino == inode:
            os.unlink(path)
    except OSError:
        pass


# -- process lifecycle ---------------------------------------------------------------------------
def _at_exit() -> None:
    """atexit: runs on normal exit, sys.exit() and after an uncaught exception."""
    agent = _agent
    if agent is not None and agent.owner_pid == os.getpid():
        _shutdown(agent)


def _on_fatal_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP with no handler of the host: remove the socket, then die of the signal."""
    _at_exit()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_in_child() -> None:
    """A forked child has no agent thread; it must not serve or remove its parent's socket."""
    global _agent, _lock
    agent, _agent = _agent, None
    _lock = threading.RLock()
    if agent is not None:
        try:
            agent.server.listener.close()
        except OSError:
            pass


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    if threading.current_thread() is not threading.main_thread():
        debug("started off the main thread: no SIGTERM handler (the socket is removed at exit only)")
        return
    for signum in _FATAL_SIGNALS:
        try:
            # Only where the default action (death without atexit) is in force: a host's own
            # handler, or SIG_IGN, stays untouched, and the host's exit path runs atexit.
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _on_fatal_signal)
        except (ValueError, OSError) as exc:
            debug(f"cannot install handler for signal {signum}: {exc!r}")
