"""The operations of protocol version 1, run against the real ``mlx.core`` of this process."""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _protocol as p
from ._requirements import wired_limit_applies
from ._sizes import format_size
from ._version import __version__

Handler = Callable[[dict[str, Any]], dict[str, Any]]

# Operations that change the process; cooperative mode queues them until tick().
ACTIONS = ("clear_cache", "set_cache_limit", "set_memory_limit", "set_wired_limit", "reset_peak")
QUERIES = ("hello", "stats")
ALL_OPS = QUERIES + ACTIONS

_LIMIT_OPS = {
    "set_cache_limit": "cache_limit",
    "set_memory_limit": "memory_limit",
    "set_wired_limit": "wired_limit",
}
_SETTERS = ("set_cache_limit", "set_wired_limit", "set_memory_limit")
_HUGE = 1 << 62  # a cache limit that never trims; used to read the current one


def physical_memory() -> int | None:
    """Installed RAM in bytes, or None when the OS does not say."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return int(pages) * int(page_size)


def validate_bytes(request: dict[str, Any], limit: int | None) -> int:
    """The request's ``bytes``: a JSON integer in ``[0, limit]``; raises OpError otherwise."""
    allowed = f"an integer from 0 to {limit} (physical memory)" if limit is not None else "a non-negative integer"
    if "bytes" not in request:
        raise p.OpError(p.INVALID_ARGUMENT, f'missing "bytes": expected {allowed}')
    value = request["bytes"]
    if type(value) is not int:
        raise p.OpError(p.INVALID_ARGUMENT, f'invalid "bytes" {_json_repr(value)}: expected {allowed}')
    if value < 0 or (limit is not None and value > limit):
        raise p.OpError(p.INVALID_ARGUMENT, f'invalid "bytes" {value}: expected {allowed}')
    return value


def _json_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)[:80] + " (a string)"
    if isinstance(value, float):
        return f"{value!r} (a float)"
    return f"{value!r}"[:80]


def wired_refusal(requested: int, device_info: dict[str, Any], mlx_message: str) -> p.OpError:
    """The error answered when MLX refuses a wired limit above the recommended working set."""
    max_ws = device_info.get("max_recommended_working_set_size")
    where = f" ({format_size(max_ws)}, {max_ws} bytes)" if isinstance(max_ws, int) else ""
    # MLX reads the recommended working set once per process (device_info() keeps it in a
    # function-local static, mlx/backend/metal/device_info.cpp), so raising the system limit
    # does not help this process: only a process started afterwards sees the new ceiling.
    return p.OpError(
        p.WIRED_LIMIT_REFUSED,
        f"MLX refused a wired limit of {format_size(requested)} ({requested} bytes): it is above the "
        f"GPU's recommended working set{where} that this process read when it started; ask for at "
        f"most that, or raise the system limit (`headroom wired-limit set`) and restart this process "
        f"to use the new limit (MLX said: {mlx_message})",
    )


def json_safe(value: Any) -> Any:
    """``value`` with anything JSON cannot carry turned into a string."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def process_name() -> str:
    """The OS's name for this process (Linux ``comm``), else the interpreter's file name."""
    try:
        with open("/proc/self/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        argv0 = (getattr(sys, "orig_argv", None) or [sys.executable])[0]
        return os.path.basename(argv0 or sys.executable)


class Ops:
    """Runs protocol operations on ``mlx.core`` and tracks limits MLX has no getter for."""

    def __init__(self, mx: Any, cooperative: bool, pending: Callable[[], list[dict[str, Any]]]) -> None:
        self.mx = mx
        self.cooperative = cooperative
        self._pending = pending
        self._lock = threading.Lock()
        self.phys = physical_memory() or self._device_memory()
        self.started_at = time.time()
        self.target: str | None = None
        self._orig: dict[str, Callable[..., Any]] = {}
        self._wrapped: list[tuple[Any, str, Callable[..., Any], Callable[..., Any]]] = []
        self._install_setters()
        self.cache_limit = self._read_cache_limit()
        # MLX has no getter for the wired limit, and probing it (set 0, put it back) would
        # unwire and rewire a loaded model on Metal: it is unknown until someone sets it.
        self.wired_limit: int | None = None
        self._memory_limit: int | None = None
        # Limits the host's own code has set (through the wrapped setters), oldest first.
        self.set_by_process: list[str] = []
        self.handlers: dict[str, Handler] = {
            "hello": self.hello,
            "stats": self.stats,
            "clear_cache": self.clear_cache,
            "set_cache_limit": self.set_cache_limit,
            "set_memory_limit": self.set_memory_limit,
            "set_wired_limit": self.set_wired_limit,
            "reset_peak": self.reset_peak,
        }

    def _device_memory(self) -> int | None:
        """``device_info()["memory_size"]`` (Metal), when the OS gives no physical-memory figure."""
        size = self.device_info().get("memory_size")
        return size if isinstance(size, int) and size > 0 else None

    # -- tracking the setters MLX has no getter for ------------------------------------------
    def _install_setters(self) -> None:
        """Wraps mlx.core's setters so limits the host sets itself show up in ``stats``.

        A wrapper left by an earlier agent (a forked parent's) is replaced, not wrapped again.
        """
        for module in (self.mx, getattr(self.mx, "metal", None)):
            for name in _SETTERS:
                current = getattr(module, name, None) if module is not None else None
                if current is None:
                    continue
                original = current.__wrapped__ if getattr(current, "_headroom_wrapper", False) else current
                if module is self.mx:
                    self._orig[name] = original
                wrapper = self._tracking_wrapper(name, original)
                try:
                    setattr(module, name, wrapper)
                except (AttributeError, TypeError):
                    continue
                self._wrapped.append((module, name, original, wrapper))

    def _tracking_wrapper(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        ops = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            previous = original(*args, **kwargs)
            value = args[0] if args else next(iter(kwargs.values()), None)
            if isinstance(value, int) and not isinstance(value, bool):
                ops._remember(name, value)
            return previous

        wrapper._headroom_wrapper = True  # type: ignore[attr-defined]
        wrapper.__name__ = getattr(original, "__name__", name)
        wrapper.__doc__ = getattr(original, "__doc__", None)
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        return wrapper

    def _remember(self, name: str, value: int) -> None:
        word = name.removeprefix("set_").removesuffix("_limit")
        if word not in self.set_by_process:
            self.set_by_process.append(word)
        if name == "set_cache_limit":
            self.cache_limit = value
        elif name == "set_wired_limit":
            self.wired_limit = value
        else:
            self._memory_limit = value

    def uninstall(self) -> None:
        """Puts mlx.core's original setters back (only where ours are still in place)."""
        for module, name, original, wrapper in self._wrapped:
            if getattr(module, name, None) is wrapper:
                setattr(module, name, original)
        self._wrapped.clear()

    def _read_cache_limit(self) -> int:
        previous = int(self._orig["set_cache_limit"](_HUGE))
        self._orig["set_cache_limit"](previous)
        return previous

    # -- operations ----------------------------------------------------------------------------
    def hello(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocol": p.PROTOCOL_VERSION,
            "agent_version": __version__,
            "pid": os.getpid(),
            "ops": list(ALL_OPS),
            "cooperative": self.cooperative,
            "max_line_bytes": p.MAX_LINE_BYTES,
        }

    def memory_limit(self) -> int:
        getter = getattr(self.mx, "get_memory_limit", None)
        if getter is not None:
            return int(getter())
        return self._memory_limit or 0

    def device_info(self) -> dict[str, Any]:
        info = getattr(self.mx, "device_info", None)
        if info is None:
            return {}
        try:
            result = json_safe(info())
        except Exception:
            return {}
        return result if isinstance(result, dict) else {}

    def backend(self) -> str:
        """``"gpu"`` or ``"cpu"``: the type of MLX's default device."""
        kind = str(self.mx.default_device().type)
        return kind.rsplit(".", 1)[-1]

    def accelerator(self) -> str | None:
        """``"metal"`` or ``"cuda"`` when that GPU backend is available, else None."""
        for name in ("metal", "cuda"):
            module = getattr(self.mx, name, None)
            try:
                if module is not None and module.is_available():
                    return name
            except Exception:
                continue
        return None

    def stats(self, request: dict[str, Any]) -> dict[str, Any]:
        mx = self.mx
        return {
            "pid": os.getpid(),
            "name": process_name(),
            "cmdline": list(getattr(sys, "orig_argv", None) or sys.argv),
            "prefix": sys.prefix,
            "target": self.target,
            "mlx_version": str(getattr(mx, "__version__", "unknown")),
            "backend": self.backend(),
            "accelerator": self.accelerator(),
            "device_info": self.device_info(),
            "physical_memory": self.phys,
            "active": int(mx.get_active_memory()),
            "cache": int(mx.get_cache_memory()),
            "peak": int(mx.get_peak_memory()),
            "memory_limit": self.memory_limit(),
            "cache_limit": self.cache_limit,
            "wired_limit": self.wired_limit,
            "wired_limit_applies": self.wired_limit_applies(),
            "set_by_process": list(self.set_by_process),
            "cpu_time": time.process_time(),
            "cooperative": self.cooperative,
            "pending": self._pending(),
            "agent_version": __version__,
            "protocol": p.PROTOCOL_VERSION,
            "started_at": self.started_at,
        }

    def clear_cache(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            before = int(self.mx.get_cache_memory())
            self.mx.clear_cache()
            after = int(self.mx.get_cache_memory())
        return {"freed": max(before - after, 0), "cache_before": before, "cache_after": after}

    def set_cache_limit(self, request: dict[str, Any]) -> dict[str, Any]:
        value = validate_bytes(request, self.phys)
        with self._lock:
            mlx_previous = int(self._orig["set_cache_limit"](value))
            self.cache_limit = value
        return {"previous": mlx_previous, "current": value}

    def set_memory_limit(self, request: dict[str, Any]) -> dict[str, Any]:
        value = validate_bytes(request, self.phys)
        with self._lock:
            mlx_previous = int(self._orig["set_memory_limit"](value))
            self._memory_limit = value
            current = self.memory_limit()
        return {"previous": mlx_previous, "current": current}

    def wired_limit_applies(self) -> bool:
        """Whether MLX's wired limit has an effect in this process (Metal, macOS 15 or later)."""
        return wired_limit_applies(self.accelerator(), sys.platform, platform.mac_ver()[0])

    def set_wired_limit(self, request: dict[str, Any]) -> dict[str, Any]:
        value = validate_bytes(request, self.phys)
        with self._lock:
            try:
                mlx_previous = int(self._orig["set_wired_limit"](value))
            except (ValueError, RuntimeError) as exc:
                raise wired_refusal(value, self.device_info(), str(exc)) from None
            # The value last set (tracked through every setter) where known; else what MLX
            # returned (CPU and CUDA builds always return 0).
            previous = self.wired_limit if self.wired_limit is not None else mlx_previous
            self.wired_limit = value
        # CPU and CUDA builds, and Metal below macOS 15, accept the value without effect:
        # `applies` says so.
        return {"previous": previous, "current": value, "applies": self.wired_limit_applies()}

    def reset_peak(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            before = int(self.mx.get_peak_memory())
            self.mx.reset_peak_memory()
            after = int(self.mx.get_peak_memory())
        return {"peak_before": before, "peak_after": after}

    def validate(self, op: str, request: dict[str, Any]) -> None:
        """Raises OpError for an unknown op or bad arguments, before an action is queued."""
        if op not in self.handlers:
            raise p.OpError(p.UNKNOWN_OP, f"unknown op {op!r}; known ops: {', '.join(ALL_OPS)}")
        if op in _LIMIT_OPS:
            validate_bytes(request, self.phys)

    def run(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        """Runs ``op``; raises OpError for unknown ops, bad arguments and MLX failures."""
        handler = self.handlers.get(op)
        if handler is None:
            raise p.OpError(p.UNKNOWN_OP, f"unknown op {op!r}; known ops: {', '.join(ALL_OPS)}")
        try:
            return handler(request)
        except p.OpError:
            raise
        except Exception as exc:
            raise p.OpError(p.MLX_ERROR, f"{op} failed: {type(exc).__name__}: {exc}") from None
