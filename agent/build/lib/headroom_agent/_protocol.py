"""Wire format of protocol version 1: newline-delimited JSON objects (see docs/PROTOCOL.md)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

PROTOCOL_VERSION = 1
# Longest accepted request line in bytes, not counting the terminating "\n".
MAX_LINE_BYTES = 64 * 1024
_RECV_CHUNK = 16 * 1024

# Error codes (docs/PROTOCOL.md, "Errors").
BAD_JSON = "bad_json"
BAD_REQUEST = "bad_request"
UNKNOWN_OP = "unknown_op"
INVALID_ARGUMENT = "invalid_argument"
WIRED_LIMIT_REFUSED = "wired_limit_refused"
LINE_TOO_LONG = "line_too_long"
PERMISSION_DENIED = "permission_denied"
TIMEOUT = "timeout"
BUSY = "busy"
SHUTTING_DOWN = "shutting_down"
MLX_ERROR = "mlx_error"
INTERNAL = "internal"


class OpError(Exception):
    """An error answered to the client as ``{"code": ..., "message": ...}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LineTooLong(Exception):
    """A request line exceeded MAX_LINE_BYTES."""


def encode(obj: dict[str, Any]) -> bytes:
    """One response line: compact JSON followed by ``\\n``."""
    return (json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def ok_response(req_id: Any, result: dict[str, Any]) -> bytes:
    return encode({"id": req_id, "ok": True, "result": result})


def error_response(req_id: Any, code: str, message: str) -> bytes:
    return encode({"id": req_id, "ok": False, "error": {"code": code, "message": message}})


def parse_request(line: bytes) -> tuple[Any, str, dict[str, Any]]:
    """Returns ``(id, op, request)``; raises OpError (with the id when one was readable)."""
    try:
        request = json.loads(line.decode("utf-8"))
    except Exception as exc:  # UnicodeDecodeError, JSONDecodeError, RecursionError, huge ints
        raise OpError(BAD_JSON, f"request is not valid UTF-8 JSON: {_short(exc)}") from None
    if not isinstance(request, dict):
        raise OpError(BAD_REQUEST, f"request must be a JSON object, got {type(request).__name__}")
    op = request.get("op")
    if not isinstance(op, str):
        raise _WithId(request.get("id"), BAD_REQUEST, f'request needs a string "op", got {op!r}')
    return request.get("id"), op, request


class _WithId(OpError):
    """An OpError raised after the request id was read."""

    def __init__(self, req_id: Any, code: str, message: str) -> None:
        super().__init__(code, message)
        self.req_id = req_id


def request_id_of(exc: OpError) -> Any:
    """The request id an OpError from parse_request belongs to (None if unreadable)."""
    return exc.req_id if isinstance(exc, _WithId) else None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def read_lines(conn: socket.socket) -> Iterator[bytes]:
    """Yields request lines (without ``\\n``) until EOF; raises LineTooLong past MAX_LINE_BYTES.

    Blocks in ``recv`` without a timeout: an idle connection costs no CPU.
    """
    buf = bytearray()
    while True:
        chunk = conn.recv(_RECV_CHUNK)
        if not chunk:
            return
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                break
            if len(buf) + nl - start > MAX_LINE_BYTES:
                raise LineTooLong()
            buf += chunk[start:nl]
            line = bytes(buf)
            buf.clear()
            start = nl + 1
            yield line
        buf += chunk[start:]
        if len(buf) > MAX_LINE_BYTES:
            raise LineTooLong()
