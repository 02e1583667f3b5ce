"""Shared helpers: real subprocesses running real MLX, real Unix-socket clients."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
PYTHON = sys.executable


class Client:
    """A newline-delimited JSON client over a real Unix socket."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self) -> dict[str, Any] | None:
        """The next response line as JSON, or None at EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Sends one request and returns the whole response object (checks the id is echoed)."""
        self.next_id += 1
        self.send_raw((json.dumps({"id": self.next_id, "op": op, **args}) + "\n").encode())
        response = self.read_line()
        assert response is not None, f"connection closed while waiting for {op}"
        assert response["id"] == self.next_id, response
        return response

    def result(self, op: str, **args: Any) -> dict[str, Any]:
        """``call`` that expects success and returns ``result``."""
        response = self.call(op, **args)
        assert response["ok"] is True, response
        result: dict[str, Any] = response["result"]
        return result

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    """A fresh, short runtime directory (socket paths must fit in sun_path)."""
    path = tempfile.mkdtemp(prefix="hr-", dir="/tmp")
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def agent_env(runtime_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADROOM_")}
    env["HEADROOM_RUNTIME_DIR"] = runtime_dir
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def sock_path(runtime_dir: str, pid: int) -> str:
    return os.path.join(runtime_dir, f"agent-{pid}.sock")


def write_script(directory: Path | str, name: str, body: str) -> Path:
    path = Path(directory) / name
    path.write_text(textwrap.dedent(body))
    return path


class Proc:
    """A running Python child that printed ``READY <pid>``."""

    def __init__(self, popen: subprocess.Popen[str], runtime_dir: str) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.path = sock_path(runtime_dir, popen.pid)

    def send(self, line: str) -> str:
        """Writes a stdin command to a workload and returns its one-line reply."""
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()
        return self.popen.stdout.readline().strip()

    def own_cache(self) -> int:
        reply = self.send("cache")
        assert reply.startswith("CACHE "), reply
        return int(reply.split()[1])

    def client(self) -> Client:
        return Client(self.path)

    def finish(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Closes stdin and returns (status, stdout rest, stderr)."""
        out, err = self.popen.communicate(timeout=timeout)
        return self.popen.returncode, out, err

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.communicate(timeout=10)


def spawn(args: list[str], runtime_dir: str, cwd: str | None = None, **env: str) -> Proc:
    """Starts ``python ARGS`` and waits for its ``READY <pid>`` line."""
    popen = subprocess.Popen(
        [PYTHON, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent_env(runtime_dir, **env),
        cwd=cwd,
    )
    assert popen.stdout is not None
    line = popen.stdout.readline().strip()
    if line != f"READY {popen.pid}":
        popen.kill()
        _, err = popen.communicate(timeout=10)
        raise AssertionError(f"child did not get ready: {line!r}\nstderr:\n{err}")
    return Proc(popen, runtime_dir)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Children to kill after the test, whatever happens."""
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


@pytest.fixture
def builder(runtime_dir: str, procs: list[Proc]) -> Proc:
    """A cache_builder workload holding a 16 MiB MLX cache, agent attached."""
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "16MiB"], runtime_dir)
    procs.append(proc)
    return proc


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def run_python(args: list[str], runtime_dir: str, cwd: str | None = None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, *args], capture_output=True, text=True, env=agent_env(runtime_dir, **env), cwd=cwd, timeout=timeout
    )
