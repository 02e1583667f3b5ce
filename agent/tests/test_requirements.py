"""What the agent needs from MLX and the OS: version floor, where the wired limit applies, no probing."""

from __future__ import annotations

import os
from typing import Any

import pytest
from conftest import run_python

from headroom_agent import _ops, _requirements

MIB = 1 << 20


@pytest.mark.parametrize(
    "version, too_old",
    [
        ("0.32.4", False),
        ("0.24.1", False),
        ("0.25.0.dev20250101+g1a2b3c", False),
        ("1.0", False),
        ("0.24.0", True),
        ("0.22.1", True),
        ("0.9", True),
        ("unknown", False),  # unreadable: MLX's own errors speak later
    ],
)
def test_mlx_version_floor(version: str, too_old: bool) -> None:
    problem = _requirements.mlx_version_problem(version)
    assert (problem is not None) is too_old
    if problem is not None:
        assert "0.24.1 or newer" in problem and version in problem
        assert "pip install -U 'mlx>=0.24.1'" in problem


@pytest.mark.parametrize(
    "accelerator, platform, macos, applies",
    [
        ("metal", "darwin", "15.0", True),
        ("metal", "darwin", "26.1", True),
        ("metal", "darwin", "14.7.2", False),  # MLX: only useful on macOS 15.0 or higher
        ("metal", "darwin", "13.6", False),
        ("metal", "darwin", "", False),
        (None, "darwin", "15.3", False),  # MLX's CPU build on a Mac
        ("cuda", "linux", "", False),
        (None, "linux", "", False),
    ],
)
def test_wired_limit_applies_only_on_metal_from_macos_15(
    accelerator: str | None, platform: str, macos: str, applies: bool
) -> None:
    assert _requirements.wired_limit_applies(accelerator, platform, macos) is applies


def test_the_agent_never_probes_the_wired_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting 0 and restoring would unwire and rewire a loaded model on Metal: never done."""
    import mlx.core as mx

    calls: list[int] = []
    real = mx.set_wired_limit

    def counting(limit: int) -> Any:
        calls.append(limit)
        return real(limit)

    monkeypatch.setattr(mx, "set_wired_limit", counting)
    ops = _ops.Ops(mx, False, list)
    try:
        assert calls == [], "starting the agent called set_wired_limit"
        assert ops.stats({})["wired_limit"] is None, "unknown until someone sets it"
        answer = ops.set_wired_limit({"bytes": 64 * MIB})
        assert calls == [64 * MIB]
        assert answer["previous"] == 0 and answer["current"] == 64 * MIB
        assert answer["applies"] is ops.wired_limit_applies() is False  # Linux: never applies
        assert ops.stats({})["wired_limit"] == 64 * MIB
        mx.set_wired_limit(0)  # the host's own call is tracked, not probed
        assert ops.stats({})["wired_limit"] == 0
        assert calls == [64 * MIB, 0]
    finally:
        ops.uninstall()


def test_an_mlx_too_old_is_refused_with_the_reason(runtime_dir: str) -> None:
    script = (
        "import warnings, mlx.core as mx\n"
        "mx.__version__ = '0.23.0'\n"
        "import headroom_agent\n"
        "warnings.simplefilter('always')\n"
        "print('started:', headroom_agent.start())\n"
    )
    done = run_python(["-c", script], runtime_dir)
    assert done.returncode == 0, done.stderr
    assert "started: None" in done.stdout
    assert "needs MLX 0.24.1 or newer" in done.stderr and "MLX 0.23.0" in done.stderr, done.stderr
    assert not any(name.endswith(".sock") for name in os.listdir(runtime_dir))
