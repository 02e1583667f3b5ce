"""Pure parts: sizes, options, framing."""

from __future__ import annotations

import socket
import warnings

import pytest

from headroom_agent import _config, _protocol
from headroom_agent._sizes import format_size, parse_size

MIB = 1 << 20
GIB = 1 << 30


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", 0),
        ("1048576", MIB),
        ("512MiB", 512 * MIB),
        ("512MB", 512 * MIB),
        ("512m", 512 * MIB),
        ("2GB", 2 * GIB),
        ("1.5G", 3 * GIB // 2),
        (" 4 KiB ", 4096),
        ("1T", 1 << 40),
        (".5g", GIB // 2),
        (7, 7),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "-1", "1.2.3", "5 parsecs", "GB", "1e9", -3, True, 1.5, None])
def test_parse_size_rejects_and_names_the_value(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(bad, "cache_limit")
    assert repr(bad) in str(info.value) and "cache_limit" in str(info.value)
    assert "512MiB" in str(info.value)  # says what is allowed


def test_format_size() -> None:
    assert format_size(3 * GIB // 2) == "1.5 GB"
    assert format_size(512 * MIB) == "512.0 MB"
    assert format_size(12) == "12 B"


def test_resolve_prefers_explicit_arguments_over_environment() -> None:
    env = {"HEADROOM_CACHE_LIMIT": "1GB", "HEADROOM_WIRED_LIMIT": "2GB", "HEADROOM_COOPERATIVE": "yes"}
    options = _config.resolve(env, 8 * GIB, cache_limit="64MiB", cooperative=False)
    assert options == _config.Options(64 * MIB, None, 2 * GIB, False, 30.0)
    assert options.limits() == {"set_cache_limit": 64 * MIB, "set_wired_limit": 2 * GIB}


def test_resolve_rejects_explicit_values_above_physical_memory() -> None:
    with pytest.raises(ValueError, match="at most 1073741824 bytes"):
        _config.resolve({}, GIB, memory_limit="2GB")


def test_resolve_warns_about_bad_environment_and_ignores_it() -> None:
    env = {"HEADROOM_MEMORY_LIMIT": "9TB", "HEADROOM_COOPERATIVE_TIMEOUT": "soon"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = _config.resolve(env, GIB)
    assert options == _config.Options()
    text = " ".join(str(w.message) for w in caught)
    assert "HEADROOM_MEMORY_LIMIT" in text and "HEADROOM_COOPERATIVE_TIMEOUT 'soon'" in text


@pytest.mark.parametrize("bad", [0, -1, "x", float("inf"), True])
def test_timeout_must_be_positive_seconds(bad: object) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        _config.parse_timeout(bad, "cooperative_timeout")


def test_read_lines_splits_and_limits() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b'{"x":1}\n\n{"y"')
        a.sendall(b":2}\n" + b"z" * (_protocol.MAX_LINE_BYTES + 1) + b"\n")
        a.shutdown(socket.SHUT_WR)
        lines = _protocol.read_lines(b)
        assert next(lines) == b'{"x":1}'
        assert next(lines) == b""
        assert next(lines) == b'{"y":2}'
        with pytest.raises(_protocol.LineTooLong):
            next(lines)


def test_read_lines_ends_at_eof_dropping_a_partial_line() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b'{"x":1}\n{"half')
        a.close()
        assert list(_protocol.read_lines(b)) == [b'{"x":1}']


def test_parse_request_errors() -> None:
    with pytest.raises(_protocol.OpError) as info:
        _protocol.parse_request(b'{"id": [1], "op": null}')
    assert info.value.code == "bad_request" and _protocol.request_id_of(info.value) == [1]
    assert _protocol.parse_request(b'{"id": 2, "op": "stats", "extra": 1}')[:2] == (2, "stats")


def test_parse_xucred_reads_the_uid_of_a_macos_struct() -> None:
    import struct

    from headroom_agent._peercred import PeerCredUnavailable, parse_xucred

    raw = struct.pack("=IIh2x16I", 0, 501, 1, *([20] + [0] * 15)) + b"\0" * 8  # newer SDKs append a union
    assert parse_xucred(raw) == 501
    with pytest.raises(PeerCredUnavailable, match="4 bytes"):
        parse_xucred(raw[:4])
    with pytest.raises(PeerCredUnavailable, match="version 7"):
        parse_xucred(struct.pack("=II", 7, 501))


def test_peer_uid_pid_on_a_real_socket_pair() -> None:
    import os
    import sys

    from headroom_agent._peercred import peer_uid_pid

    if not sys.platform.startswith("linux") and sys.platform != "darwin":
        pytest.skip(f"no peer credentials on {sys.platform}")
    a, b = socket.socketpair()
    with a, b:
        uid, pid = peer_uid_pid(a)
    assert uid == os.getuid()
    assert pid in (os.getpid(), None)
