"""Protocol version 1 against a real MLX process (cache_builder) over a real Unix socket."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import tempfile
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import WORKLOADS, Client, Proc, spawn

from headroom_agent import _ops, _protocol

MIB = 1 << 20
PHYS = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def shared_builder() -> Iterator[Proc]:
    """One cache_builder for the many read-only validation cases (keeps the suite fast)."""
    directory = tempfile.mkdtemp(prefix="hr-", dir="/tmp")
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "4MiB"], directory)
    yield proc
    proc.kill()
    shutil.rmtree(directory, ignore_errors=True)


def test_hello_names_protocol_and_ops(builder: Proc) -> None:
    with builder.client() as c:
        hello = c.result("hello")
    assert hello["protocol"] == 1
    assert hello["pid"] == builder.pid
    assert set(hello["ops"]) == {
        "hello", "stats", "clear_cache", "set_cache_limit", "set_memory_limit", "set_wired_limit", "reset_peak",
    }
    assert hello["cooperative"] is False
    assert hello["max_line_bytes"] == 64 * 1024


def test_stats_match_the_process_own_readings(builder: Proc) -> None:
    own = json.loads(builder.send("stats").split(" ", 1)[1])
    with builder.client() as c:
        stats = c.result("stats")
    assert own["cache"] >= 16 * MIB
    assert stats["cache"] == own["cache"]
    assert stats["active"] == own["active"]
    assert stats["peak"] == own["peak"]
    assert stats["memory_limit"] == own["memory_limit"]
    assert stats["cache_limit"] == 32 * MIB  # cache_builder starts the agent with max(2*size, 32MiB)
    assert stats["pid"] == builder.pid
    assert "cache_builder.py" in " ".join(stats["cmdline"])
    assert stats["backend"] in ("cpu", "gpu")
    assert isinstance(stats["device_info"], dict) and stats["device_info"]
    assert stats["mlx_version"].count(".") >= 1
    assert stats["pending"] == [] and stats["cooperative"] is False
    assert stats["physical_memory"] == PHYS
    json.dumps(stats)  # JSON-safe throughout


def test_clear_cache_through_the_socket_empties_the_process_cache(builder: Proc) -> None:
    before = builder.own_cache()
    assert before >= 16 * MIB
    with builder.client() as c:
        cleared = c.result("clear_cache")
    assert cleared["cache_before"] == before
    assert cleared["freed"] == before - cleared["cache_after"]
    assert builder.own_cache() == 0 == cleared["cache_after"]


def test_set_cache_limit_is_obeyed_by_mlx(builder: Proc) -> None:
    with builder.client() as c:
        c.result("clear_cache")
        changed = c.result("set_cache_limit", bytes=4 * MIB)
        assert changed == {"previous": 32 * MIB, "current": 4 * MIB}
        builder.send("build 24MiB")
        assert 0 < builder.own_cache() <= 4 * MIB
        assert c.result("stats")["cache_limit"] == 4 * MIB


def test_set_memory_limit_and_reset_peak(builder: Proc) -> None:
    with builder.client() as c:
        original = c.result("stats")["memory_limit"]
        changed = c.result("set_memory_limit", bytes=1 << 30)
        assert changed == {"previous": original, "current": 1 << 30}
        assert json.loads(builder.send("stats").split(" ", 1)[1])["memory_limit"] == 1 << 30
        peak = c.result("stats")["peak"]
        assert peak > 0
        reset = c.result("reset_peak")
        assert reset["peak_before"] == peak
        assert reset["peak_after"] == json.loads(builder.send("stats").split(" ", 1)[1])["peak"]


def test_set_wired_limit_tracks_value_and_says_whether_it_applies(builder: Proc) -> None:
    with builder.client() as c:
        assert c.result("stats")["wired_limit"] is None  # unknown: never probed
        first = c.result("set_wired_limit", bytes=256 * MIB)
        assert first["previous"] == 0 and first["current"] == 256 * MIB
        stats = c.result("stats")
        assert first["applies"] is stats["wired_limit_applies"]
        assert stats["wired_limit_applies"] is (stats["accelerator"] == "metal" and sys.platform == "darwin"
                                                and int(platform.mac_ver()[0].split(".")[0] or 0) >= 15)
        assert c.result("set_wired_limit", bytes=0)["previous"] == 256 * MIB
        assert c.result("stats")["wired_limit"] == 0


@pytest.mark.parametrize(
    "value, fragment",
    [
        (True, "true"),
        (1.5, "1.5"),
        (1e6, "1000000.0"),
        ("512MiB", "'512MiB'"),
        (-1, "-1"),
        (PHYS + 1, str(PHYS + 1)),
        (None, "None"),
        ([1], "[1]"),
    ],
)
@pytest.mark.parametrize("op", ["set_cache_limit", "set_memory_limit", "set_wired_limit"])
def test_limits_reject_non_integers_negatives_and_above_physical_memory(
    shared_builder: Proc, op: str, value: object, fragment: str
) -> None:
    with shared_builder.client() as c:
        before = c.result("stats")
        response = c.call(op, bytes=value)
        assert response["ok"] is False
        assert response["error"]["code"] == "invalid_argument"
        message = response["error"]["message"]
        assert fragment in message and str(PHYS) in message, message
        after = c.result("stats")  # still usable, nothing changed
    for key in ("cache_limit", "memory_limit", "wired_limit"):
        assert after[key] == before[key]


def test_limit_without_bytes_and_at_the_bounds(builder: Proc) -> None:
    with builder.client() as c:
        missing = c.call("set_cache_limit")
        assert missing["error"]["code"] == "invalid_argument" and '"bytes"' in missing["error"]["message"]
        assert c.result("set_cache_limit", bytes=0)["current"] == 0
        assert c.result("set_memory_limit", bytes=PHYS)["current"] == PHYS


def test_unknown_op_and_malformed_requests_leave_the_connection_usable(builder: Proc) -> None:
    with builder.client() as c:
        unknown = c.call("defragment")
        assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_op"
        assert "defragment" in unknown["error"]["message"]
        cases = [
            (b"{not json\n", "bad_json"),
            (b"\xff\xfe\n", "bad_json"),
            (b"[1, 2]\n", "bad_request"),
            (b'"hello"\n', "bad_request"),
            (b"[" * 5000 + b"\n", "bad_json"),
        ]
        for raw, code in cases:
            c.send_raw(raw)
            response = c.read_line()
            assert response is not None
            assert response == {"id": None, "ok": False, "error": {"code": code, "message": response["error"]["message"]}}
        c.send_raw(b'{"id": "x", "op": 7}\n')
        bad_op = c.read_line()
        assert bad_op is not None and bad_op["id"] == "x" and bad_op["error"]["code"] == "bad_request"
        assert c.result("hello")["protocol"] == 1


@pytest.mark.parametrize("req_id", ["abc", 0, -3, 12.5, None, [1, "a"], {"k": {"n": 1}}])
def test_request_id_is_echoed_whatever_its_type(shared_builder: Proc, req_id: object) -> None:
    with shared_builder.client() as c:
        c.send_raw((json.dumps({"id": req_id, "op": "hello"}) + "\n").encode())
        response = c.read_line()
    assert response is not None and response["ok"] is True and response["id"] == req_id


def test_missing_id_answers_null(builder: Proc) -> None:
    with builder.client() as c:
        c.send_raw(b'{"op":"hello"}\n')
        response = c.read_line()
    assert response is not None and response["id"] is None and response["ok"] is True


def test_pipelined_and_split_requests(builder: Proc) -> None:
    with builder.client() as c:
        c.send_raw(b'{"id":1,"op":"hello"}\n\n{"id":2,"op":"stats"}\r\n{"id":3,"op":"nope"}\n')
        answers = [c.read_line() for _ in range(3)]
        assert [a["id"] for a in answers if a] == [1, 2, 3]
        assert [a["ok"] for a in answers if a] == [True, True, False]
        for piece in (b'{"id":', b'4,"op"', b':"hel', b'lo"}', b"\n"):
            c.send_raw(piece)
        split = c.read_line()
        assert split is not None and split["id"] == 4 and split["ok"] is True


def test_line_of_exactly_64_kib_is_accepted(builder: Proc) -> None:
    body = b'{"id":9,"op":"hello"}'
    line = body[:-1] + b" " * (_protocol.MAX_LINE_BYTES - len(body)) + b"}"
    assert len(line) == 64 * 1024
    with builder.client() as c:
        c.send_raw(line + b"\n")
        response = c.read_line()
    assert response is not None and response["id"] == 9 and response["ok"] is True


@pytest.mark.parametrize("newline", [True, False])
def test_line_over_64_kib_is_refused_and_the_connection_closed(builder: Proc, newline: bool) -> None:
    line = b'{"id":1,"op":"hello","pad":"' + b"x" * (64 * 1024) + b'"}'
    with builder.client() as c:
        c.send_raw(line + (b"\n" if newline else b""))
        response = c.read_line()
        assert response is not None
        assert response["id"] is None and response["error"]["code"] == "line_too_long"
        assert "65536" in response["error"]["message"]
        assert c.read_line() is None  # closed after the error
    with builder.client() as fresh:  # the agent itself is fine
        assert fresh.result("hello")["pid"] == builder.pid


def test_many_concurrent_connections(builder: Proc) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with builder.client() as c:
                for _ in range(20):
                    assert c.result("stats")["pid"] == builder.pid
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


def test_client_vanishing_mid_request_does_not_hurt_the_agent(builder: Proc) -> None:
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(builder.path)
        s.sendall(b'{"id":1,"op":"stats"}\n{"id":2,"op":"clear')
        s.close()
    with builder.client() as c:
        assert c.result("hello")["pid"] == builder.pid


def test_wired_refusal_message_tells_the_user_what_to_do() -> None:
    err = _ops.wired_refusal(
        96 << 30,
        {"max_recommended_working_set_size": 80 << 30},
        "[metal::set_wired_limit] Setting a wired limit larger than the maximum working set size is not allowed.",
    )
    assert err.code == "wired_limit_refused"
    assert "96.0 GB" in err.message and "80.0 GB" in err.message
    assert "headroom wired-limit set" in err.message
    assert "recommended working set" in err.message
    # MLX keeps the working set it read at start: raising the system limit needs a restart.
    assert "restart this process" in err.message


def test_validate_bytes_is_strict() -> None:
    assert _ops.validate_bytes({"bytes": 0}, 10) == 0
    assert _ops.validate_bytes({"bytes": 10}, 10) == 10
    assert _ops.validate_bytes({"bytes": 1 << 50}, None) == 1 << 50
    for bad in (11, -1, True, False, 1.0, "1", None):
        with pytest.raises(_protocol.OpError) as info:
            _ops.validate_bytes({"bytes": bad}, 10)
        assert info.value.code == "invalid_argument"


def test_json_safe_makes_device_info_serialisable() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    value = _ops.json_safe({"a": float("nan"), "b": (1, Odd()), 3: {"c": float("inf")}, "d": 2.5})
    assert value == {"a": "nan", "b": [1, "odd"], "3": {"c": "inf"}, "d": 2.5}
    json.dumps(value, allow_nan=False)


def test_two_agents_answer_for_their_own_process(builder: Proc, runtime_dir: str, procs: list[Proc]) -> None:
    other = spawn([str(WORKLOADS / "cache_builder.py"), "2MiB"], runtime_dir)
    procs.append(other)
    with Client(other.path) as c2, builder.client() as c1:
        c2.result("clear_cache")
        assert c1.result("stats")["cache"] == builder.own_cache() > 0
        assert other.own_cache() == 0


def test_connections_beyond_the_limit_get_busy(builder: Proc) -> None:
    from headroom_agent._server import MAX_CONNECTIONS

    held = [builder.client() for _ in range(MAX_CONNECTIONS)]
    try:
        for c in held:
            c.result("hello")
        with builder.client() as extra:
            refused = extra.read_line()
            assert refused is not None and refused["error"]["code"] == "busy"
            assert str(MAX_CONNECTIONS) in refused["error"]["message"]
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the freed slot comes back once its thread has finished
            with builder.client() as again:
                try:
                    again.send_raw(b'{"id":1,"op":"hello"}\n')
                    answer = again.read_line()
                except (BrokenPipeError, ConnectionResetError):
                    answer = None  # still refused: the server closed before our request arrived
            if answer is not None and answer["ok"]:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.05)
    finally:
        for c in held:
            c.close()
