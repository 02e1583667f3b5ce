"""``python -m headroom_agent run [OPTIONS] (script.py | -m module) [ARGS...]``.

Starts the agent, then runs the target as ``python script.py ARGS...`` or ``python -m module
ARGS...`` would: same ``sys.argv``, ``__name__ == "__main__"``, exit status and exceptions.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
from dataclasses import dataclass, field

from . import _set_target, start
from ._config import parse_timeout
from ._version import __version__

USAGE = """\
usage: python -m headroom_agent run [OPTIONS] script.py [ARGS...]
       python -m headroom_agent run [OPTIONS] -m module [ARGS...]
       python -m headroom_agent --version

Runs a Python program unchanged with the Headroom agent started in its process.

options (each also settable through the environment variable shown):
  --cache-limit SIZE           MLX cache limit, e.g. 512MiB, 2GB, 1.5G, 0  (HEADROOM_CACHE_LIMIT)
  --memory-limit SIZE          MLX memory limit                           (HEADROOM_MEMORY_LIMIT)
  --wired-limit SIZE           MLX wired limit                            (HEADROOM_WIRED_LIMIT)
  --cooperative                queue actions until the program calls headroom_agent.tick()
                                                                          (HEADROOM_COOPERATIVE=1)
  --cooperative-timeout SECS   drop a queued action after SECS (default 30)
                                                                          (HEADROOM_COOPERATIVE_TIMEOUT)
Sizes use powers of 1024 (GB = GiB)."""

_VALUE_OPTIONS = {
    "--cache-limit": "cache_limit",
    "--memory-limit": "memory_limit",
    "--wired-limit": "wired_limit",
    "--cooperative-timeout": "cooperative_timeout",
}


class UsageError(Exception):
    """A bad command line; the message says what is wrong."""


@dataclass
class Command:
    """A parsed ``run`` command line."""

    target: str
    is_module: bool
    args: list[str]
    options: dict[str, str] = field(default_factory=dict)
    cooperative: bool | None = None


def parse_run(argv: list[str]) -> Command:
    """Parses the words after ``run``; raises UsageError naming the bad word."""
    options: dict[str, str] = {}
    cooperative: bool | None = None
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "-m":
            if i + 1 >= len(argv):
                raise UsageError("-m needs a module name, e.g. -m mlx_lm.server")
            return Command(argv[i + 1], True, argv[i + 2 :], options, cooperative)
        if word == "--":
            i += 1
            break
        if word == "--cooperative":
            cooperative = True
            i += 1
            continue
        name, eq, value = word.partition("=")
        if name in _VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value")
                value = argv[i + 1]
                i += 1
            options[_VALUE_OPTIONS[name]] = value
            i += 1
            continue
        if word.startswith("-"):
            raise UsageError(f"unknown option {word!r}")
        break
    if i >= len(argv):
        raise UsageError("missing the program to run: a script path or -m module")
    return Command(argv[i], False, argv[i + 1 :], options, cooperative)


def _start_agent(cmd: Command) -> None:
    timeout = cmd.options.get("cooperative_timeout")
    try:
        seconds = parse_timeout(timeout, "--cooperative-timeout") if timeout is not None else None
        start(
            cache_limit=cmd.options.get("cache_limit"),
            memory_limit=cmd.options.get("memory_limit"),
            wired_limit=cmd.options.get("wired_limit"),
            cooperative=cmd.cooperative,
            cooperative_timeout=seconds,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_script(path: str, args: list[str]) -> None:
    """Runs ``path`` as ``python path args...`` would."""
    if not os.path.exists(path):
        sys.stderr.write(f"{sys.executable}: can't open file {os.path.abspath(path)!r}: [Errno 2] No such file or directory\n")
        raise SystemExit(2)
    sys.argv = [path, *args]
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    runpy.run_path(path, run_name="__main__")


def run_module(module: str, args: list[str]) -> None:
    """Runs ``module`` as ``python -m module args...`` would."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        sys.stderr.write(f"{sys.executable}: No module named {module}\n")
        raise SystemExit(1)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> None:
    """Entry point; the target's own SystemExit and exceptions pass through untouched."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        raise SystemExit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"headroom_agent {__version__}")
        return
    if argv[0] != "run":
        sys.stderr.write(f"unknown command {argv[0]!r}: expected `run`\n\n{USAGE}\n")
        raise SystemExit(2)
    try:
        cmd = parse_run(argv[1:])
        _start_agent(cmd)
    except UsageError as exc:
        sys.stderr.write(f"headroom_agent: {exc}\n\n{USAGE}\n")
        raise SystemExit(2) from None
    _set_target(f"-m {cmd.target}" if cmd.is_module else cmd.target)
    if cmd.is_module:
        run_module(cmd.target, cmd.args)
    else:
        run_script(cmd.target, cmd.args)


if __name__ == "__main__":
    main(sys.argv[1:])
