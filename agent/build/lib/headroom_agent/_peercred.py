"""The uid (and pid where available) of the process at the other end of a Unix socket."""

from __future__ import annotations

import socket
import struct
import sys

# macOS <sys/un.h>: SOL_LOCAL level, LOCAL_PEERCRED returns struct xucred, LOCAL_PEERPID a pid_t.
_SOL_LOCAL = 0
_LOCAL_PEERCRED = 0x001
_LOCAL_PEERPID = 0x002
# struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; union {...}; }
# is 76 to 88 bytes depending on the SDK; the kernel copies min(buffer, struct), so ask for more.
_XUCRED_BUFFER = 128
_XUCRED_VERSION = 0


class PeerCredUnavailable(Exception):
    """The platform gave no credentials for the peer; the agent refuses such connections."""


def parse_xucred(raw: bytes) -> int:
    """``cr_uid`` of a macOS ``struct xucred``; raises PeerCredUnavailable on a short or unknown struct."""
    if len(raw) < 8:
        raise PeerCredUnavailable(f"LOCAL_PEERCRED returned {len(raw)} bytes, expected at least 8")
    version, uid = struct.unpack_from("=II", raw, 0)
    if version != _XUCRED_VERSION:
        raise PeerCredUnavailable(f"unexpected xucred version {version}")
    return int(uid)


def peer_uid_pid(conn: socket.socket) -> tuple[int, int | None]:
    """Returns ``(uid, pid)`` of the connected peer; ``pid`` is None where the OS does not say."""
    if sys.platform.startswith("linux"):
        so_peercred = getattr(socket, "SO_PEERCRED", 17)
        raw = conn.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return uid, pid
    if sys.platform == "darwin":
        level = getattr(socket, "SOL_LOCAL", _SOL_LOCAL)
        raw = conn.getsockopt(level, getattr(socket, "LOCAL_PEERCRED", _LOCAL_PEERCRED), _XUCRED_BUFFER)
        uid = parse_xucred(raw)
        try:
            raw_pid = conn.getsockopt(level, _LOCAL_PEERPID, struct.calcsize("i"))
            peer_pid: int | None = struct.unpack("i", raw_pid)[0]
        except OSError:
            peer_pid = None
        return uid, peer_pid
    raise PeerCredUnavailable(f"peer credentials are not implemented on {sys.platform}")
