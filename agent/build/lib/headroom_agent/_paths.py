"""Where agent sockets live and the checks that make that place safe to use."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping

SOCKET_PREFIX = "agent-"
SOCKET_SUFFIX = ".sock"

# sun_path is 104 bytes on macOS and 108 on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107


class UnsafeRuntimeDir(Exception):
    """The runtime directory cannot be used safely; the message says why and how to fix it."""


def default_runtime_dir(env: Mapping[str, str], platform: str, uid: int) -> str:
    """The runtime directory for ``env``/``platform``/``uid`` (pure: no file-system access).

    ``HEADROOM_RUNTIME_DIR`` wins; macOS uses ``$TMPDIR/headroom`` (per-user there);
    Linux uses ``$XDG_RUNTIME_DIR/headroom``; otherwise ``/tmp/headroom-<uid>``.
    """
    override = env.get("HEADROOM_RUNTIME_DIR", "")
    if override:
        return override
    if platform == "darwin":
        tmpdir = env.get("TMPDIR", "")
        if tmpdir:
            return os.path.join(tmpdir, "headroom")
    else:
        xdg = env.get("XDG_RUNTIME_DIR", "")
        if xdg:
            return os.path.join(xdg, "headroom")
    return f"/tmp/headroom-{uid}"


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
