"""Start options from arguments and environment variables."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from ._sizes import parse_size

DEFAULT_COOPERATIVE_TIMEOUT = 30.0

ENV_LIMITS = {
    "cache_limit": "HEADROOM_CACHE_LIMIT",
    "memory_limit": "HEADROOM_MEMORY_LIMIT",
    "wired_limit": "HEADROOM_WIRED_LIMIT",
}
ENV_COOPERATIVE = "HEADROOM_COOPERATIVE"
ENV_COOPERATIVE_TIMEOUT = "HEADROOM_COOPERATIVE_TIMEOUT"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Options:
    """Validated start options; a limit of None leaves MLX's own value alone."""

    cache_limit: int | None = None
    memory_limit: int | None = None
    wired_limit: int | None = None
    cooperative: bool = False
    cooperative_timeout: float = DEFAULT_COOPERATIVE_TIMEOUT

    def limits(self) -> dict[str, int]:
        """The limits to apply, by protocol op name (``set_cache_limit`` ...)."""
        pairs = (
            ("set_cache_limit", self.cache_limit),
            ("set_memory_limit", self.memory_limit),
            ("set_wired_limit", self.wired_limit),
        )
        return {op: value for op, value in pairs if value is not None}


def check_limit(name: str, value: int, phys: int | None) -> int:
    """Raises ValueError if ``value`` is above physical memory."""
    if phys is not None and value > phys:
        raise ValueError(f"invalid {name} {value}: expected at most {phys} bytes (physical memory)")
    return value


def parse_timeout(value: object, name: str) -> float:
    """A positive number of seconds; raises ValueError naming the value otherwise."""
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"invalid {name} {value!r}: expected a positive number of seconds, e.g. 30") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"invalid {name} {value!r}: expected a positive number of seconds, e.g. 30")
    return seconds


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        warnings.warn(f"headroom_agent: ignoring {name}={raw!r}: expected 1/0, true/false, yes/no", RuntimeWarning, stacklevel=3)
    return False


def _env_size(env: Mapping[str, str], key: str, phys: int | None) -> int | None:
    var = ENV_LIMITS[key]
    raw = env.get(var, "").strip()
    if not raw:
        return None
    try:
        return check_limit(var, parse_size(raw, var), phys)
    except ValueError as exc:
        warnings.warn(f"headroom_agent: ignoring {exc}", RuntimeWarning, stacklevel=3)
        return None


def resolve(
    env: Mapping[str, str],
    phys: int | None,
    cache_limit: int | str | None = None,
    memory_limit: int | str | None = None,
    wired_limit: int | str | None = None,
    cooperative: bool | None = None,
    cooperative_timeout: float | None = None,
) -> Options:
    """Options from explicit arguments (which win) and the environment.

    A bad explicit argument raises ValueError; a bad environment variable is ignored with a
    RuntimeWarning, so a typo in the environment never stops the host program.
    """
    explicit = {"cache_limit": cache_limit, "memory_limit": memory_limit, "wired_limit": wired_limit}
    limits: dict[str, int | None] = {}
    for key, value in explicit.items():
        if value is None:
            limits[key] = _env_size(env, key, phys)
        else:
            limits[key] = check_limit(key, parse_size(value, key), phys)
    coop = _env_bool(env, ENV_COOPERATIVE) if cooperative is None else bool(cooperative)
    if cooperative_timeout is not None:
        timeout = parse_timeout(cooperative_timeout, "cooperative_timeout")
    else:
        timeout = _env_timeout(env)
    return Options(limits["cache_limit"], limits["memory_limit"], limits["wired_limit"], coop, timeout)


def _env_timeout(env: Mapping[str, str]) -> float:
    raw = env.get(ENV_COOPERATIVE_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_COOPERATIVE_TIMEOUT
    try:
        return parse_timeout(raw, ENV_COOPERATIVE_TIMEOUT)
    except ValueError as exc:
        warnings.warn(f"headroom_agent: ignoring {exc}", RuntimeWarning, stacklevel=3)
        return DEFAULT_COOPERATIVE_TIMEOUT
