"""Where agent sockets live and the checks that make that place safe to use."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from typing import NamedTuple

SOCKET_PREFIX = "agent-"
SOCKET_SUFFIX = ".sock"

# sun_path is 104 bytes on macOS and 108 on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107


class UnsafeRuntimeDir(Exception):
    """The runtime directory cannot be used safely; the message says why and how to fix it."""


# confstr(3) selector of the user's private cache directory (Apple Libc include/unistd.h);
# CPython's os.confstr_names may lack the name, and os.confstr accepts the number.
CS_DARWIN_USER_CACHE_DIR = 65538

# The longest socket name an agent can have: agent-<2**32 - 1>.sock.
_LONGEST_SOCKET_NAME = "agent-4294967295.sock"


class DirState(NamedTuple):
    """What lstat finds at a path: enough to decide whether it may be used."""

    is_dir: bool
    uid: int
    mode: int


def darwin_user_dir() -> str | None:
    """macOS: ``confstr(_CS_DARWIN_USER_CACHE_DIR)``, the user's private directory under /var/folders.

    It does not depend on TMPDIR (Apple Libc gen/confstr.c asks __dirhelper), is created 0700
    and, unlike _CS_DARWIN_USER_TEMP_DIR, is "not automatically cleaned by the system"
    (confstr(3)): an agent's socket must survive days. None elsewhere or when it fails.
    """
    if sys.platform != "darwin":
        return None
    selector = os.confstr_names.get("CS_DARWIN_USER_CACHE_DIR", CS_DARWIN_USER_CACHE_DIR)
    try:
        value = os.confstr(selector)
    except (OSError, ValueError):
        return None
    return value if value and os.path.isabs(value) else None


def dir_state(path: str) -> DirState | None:
    """The state of ``path`` (lstat), None when nothing is there."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return DirState(stat.S_ISDIR(st.st_mode), st.st_uid, stat.S_IMODE(st.st_mode))


def fallback_dir(uid: int) -> str:
    """``/tmp/headroom-<uid>``, used when the platform offers no per-user directory."""
    return f"/tmp/headroom-{uid}"


def max_socket_path(platform: str) -> int:
    """Longest socket path: sun_path is 104 bytes on macOS, 108 on Linux, NUL included."""
    return 103 if platform in ("darwin", "macos") else 107


def choose_runtime_dir(
    platform: str, env: Mapping[str, str], user_dir: str | None, uid: int, fallback: DirState | None
) -> str:
    """The runtime directory: a pure function, the same as the Rust client's ``choose_runtime_dir``.

    Both are tested against ``tests/shared/runtime_dir_cases.json``. In order:
    ``HEADROOM_RUNTIME_DIR``; on macOS ``<user_dir>/headroom`` (TMPDIR is not trusted: it
    differs between processes of one user); on Linux ``$XDG_RUNTIME_DIR/headroom`` when
    absolute; ``/tmp/headroom-<uid>`` when missing or a directory of this user no one else can
    write; otherwise (another user created it first, or it is unsafe) the user's cache
    directory (``$XDG_CACHE_HOME`` or ``~/.cache``, ``~/Library/Caches/Headroom`` on macOS)
    ``/headroom/run`` when socket paths there fit; otherwise UnsafeRuntimeDir naming the path
    and the fix.
    """
    macos = platform in ("darwin", "macos")
    override = env.get("HEADROOM_RUNTIME_DIR", "")
    if override:
        return override
    if macos:
        if user_dir and os.path.isabs(user_dir):
            return os.path.join(user_dir, "headroom")
    else:
        xdg = env.get("XDG_RUNTIME_DIR", "")
        if xdg and os.path.isabs(xdg):
            return os.path.join(xdg, "headroom")
    fallback_path = fallback_dir(uid)
    why = _fallback_problem(fallback, uid)
    if why is None:
        return fallback_path
    fix = "remove it, or set XDG_RUNTIME_DIR or HEADROOM_RUNTIME_DIR to a directory you own"
    alternative = _cache_run_dir(macos, env)
    if alternative is None:
        raise UnsafeRuntimeDir(f"{fallback_path} {why} and no home directory is known for another; {fix}")
    limit = max_socket_path(platform)
    if len(os.path.join(alternative, _LONGEST_SOCKET_NAME).encode()) > limit:
        raise UnsafeRuntimeDir(
            f"{fallback_path} {why}, and socket paths under {alternative} would be longer than {limit} bytes; {fix}"
        )
    return alternative


def _fallback_problem(state: DirState | None, uid: int) -> str | None:
    if state is None:
        return None
    if not state.is_dir:
        return "is not a directory"
    if state.uid != uid:
        return f"is owned by uid {state.uid}, not by this user (uid {uid})"
    if state.mode & 0o022:
        return f"has mode {state.mode:04o}, writable by group or others"
    return None


def _cache_run_dir(macos: bool, env: Mapping[str, str]) -> str | None:
    def absolute(key: str) -> str | None:
        value = env.get(key, "")
        return value if value and os.path.isabs(value) else None

    home = absolute("HOME")
    if macos:
        return os.path.join(home, "Library", "Caches", "Headroom", "run") if home else None
    cache = absolute("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home else None)
    return os.path.join(cache, "headroom", "run") if cache else None


def default_runtime_dir(env: Mapping[str, str], platform: str, uid: int) -> str:
    """The runtime directory of this process: :func:`choose_runtime_dir` with confstr and lstat."""
    return choose_runtime_dir(platform, env, darwin_user_dir(), uid, dir_state(fallback_dir(uid)))


def prepare_runtime_dir(env: Mapping[str, str], platform: str, uid: int) -> str:
    """Chooses, creates and checks the runtime directory; returns it.

    If another user creates ``/tmp/headroom-<uid>`` between the choice and ``mkdir``, the
    choice is made once more (it then falls on the cache directory, as the client's does).
    """
    path = default_runtime_dir(env, platform, uid)
    try:
        return ensure_runtime_dir(path)
    except UnsafeRuntimeDir:
        if path != fallback_dir(uid):
            raise
        return ensure_runtime_dir(default_runtime_dir(env, platform, uid))


def socket_path(runtime_dir: str, pid: int) -> str:
    """``<runtime_dir>/agent-<pid>.sock``."""
    return os.path.join(runtime_dir, f"{SOCKET_PREFIX}{pid}{SOCKET_SUFFIX}")


def check_dir_stat(path: str, st: os.stat_result, uid: int) -> None:
    """Raises UnsafeRuntimeDir unless ``st`` is a directory owned by ``uid`` that no one else can write."""
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeRuntimeDir(f"runtime directory {path!r} is not a directory (a symlink or file is refused)")
    if st.st_uid != uid:
        raise UnsafeRuntimeDir(
            f"runtime directory {path!r} is owned by uid {st.st_uid}, not by this user (uid {uid}); "
            "remove it or set HEADROOM_RUNTIME_DIR to a directory you own"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise UnsafeRuntimeDir(
            f"runtime directory {path!r} has mode {mode:04o}, writable by group or others; "
            f"run `chmod 700 {path}` or remove it"
        )


def ensure_runtime_dir(path: str) -> str:
    """Creates ``path`` with mode 0700 if missing, checks it, tightens it to 0700; returns it."""
    uid = os.getuid()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, 0o700, exist_ok=True)
    st = os.lstat(path)
    check_dir_stat(path, st, uid)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def remove_stale_socket(path: str) -> None:
    """Removes a leftover socket at ``path`` (same pid of an earlier process); refuses anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        raise UnsafeRuntimeDir(f"{path!r} exists and is not a socket of this user; remove it by hand")
    os.unlink(path)
