"""What the agent needs from MLX and the OS, as pure functions tested on every platform.

- **MLX version**: the agent calls the memory API at the top level of ``mlx.core``
  (``get_active_memory``, ``get_cache_memory``, ``get_peak_memory``, ``clear_cache``,
  ``set_cache_limit``, ``set_wired_limit``, ...). MLX moved these out of ``mlx.core.metal``
  in 0.24.1 (ml-explore/mlx pull request 1982, "move memory APIs into top level mlx.core"), so
  older releases are refused with a message that names both versions and the fix.
- **Wired limit**: MLX documents ``set_wired_limit`` as only useful on macOS 15.0 or higher
  (the docstring in ``python/src/memory.cpp``), and it does nothing on its CPU and CUDA
  builds; :func:`wired_limit_applies` says where it has an effect.
"""

from __future__ import annotations

import re

MIN_MLX_VERSION = (0, 24, 1)
"""The oldest MLX release whose memory API is at the top level of ``mlx.core``."""

MIN_MACOS_FOR_WIRED_LIMIT = (15, 0)
"""MLX: ``set_wired_limit`` is only useful on macOS 15.0 or higher."""


def parse_version(text: str) -> tuple[int, ...] | None:
    """The leading dotted numbers of a version string (``"0.25.0.dev20250101+g1"`` -> (0, 25, 0))."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def mlx_version_problem(version: str) -> str | None:
    """Why this MLX is too old for the agent, or None when it is recent enough.

    An unreadable version is accepted (a development build may report anything); the calls
    that would fail then fail with MLX's own error.
    """
    parsed = parse_version(version)
    if parsed is None or parsed >= MIN_MLX_VERSION:
        return None
    need = _dotted(MIN_MLX_VERSION)
    return (
        f"headroom_agent needs MLX {need} or newer, and this process has MLX {version} "
        f"(its memory functions are still under mlx.core.metal); upgrade with "
        f"`pip install -U 'mlx>={need}'`"
    )


def wired_limit_applies(accelerator: str | None, platform: str, macos_version: str) -> bool:
    """Whether MLX's wired limit has an effect here: Metal on macOS 15.0 or later.

    ``accelerator`` is ``"metal"``, ``"cuda"`` or None; ``platform`` is ``sys.platform``;
    ``macos_version`` is ``platform.mac_ver()[0]`` (empty off macOS).
    """
    if accelerator != "metal" or platform != "darwin":
        return False
    parsed = parse_version(macos_version)
    return parsed is not None and parsed >= MIN_MACOS_FOR_WIRED_LIMIT
