"""Socket cleanup (normal exit, exception, SIGTERM), signal etiquette, fork, and idle CPU."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WORKLOADS, Client, Proc, run_python, sock_path, spawn, write_script

HOLD = """\
import os, sys, headroom_agent
headroom_agent.start()
print(f"READY {os.getpid()}", flush=True)
line = sys.stdin.readline().strip()
if line == "raise":
    raise RuntimeError("host failed")
if line.startswith("exit"):
    sys.exit(int(line.split()[1]))
"""


def _agent_socks(runtime_dir: str) -> list[str]:
    return [n for n in os.listdir(runtime_dir) if n.startswith("agent-")]


@pytest.mark.parametrize("command, status", [("", 0), ("exit 4", 4), ("raise", 1)])
def test_socket_removed_on_exit_and_exception(runtime_dir: str, procs: list[Proc], tmp_path: Path, command: str, status: int) -> None:
    proc = spawn([str(write_script(tmp_path, "hold.py", HOLD))], runtime_dir)
    procs.append(proc)
    assert os.path.exists(proc.path)
    assert proc.popen.stdin is not None
    proc.popen.stdin.write(command + "\n")
    code, _, err = proc.finish()
    assert code == status, err
    if command == "raise":
        assert "RuntimeError: host failed" in err
    assert not os.path.exists(proc.path)
    assert _agent_socks(runtime_dir) == []


@pytest.fixture
def default_signal_actions() -> Iterator[None]:
    """Children start with SIGTERM/SIGHUP at their default action, as under a normal shell:
    under `nohup` (or a CI runner ignoring SIGHUP) they would inherit SIG_IGN, which the agent
    rightly leaves alone, and the signal would do nothing."""
    old = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, action in old.items():
        signal.signal(s, action)


@pytest.mark.usefixtures("default_signal_actions")
@pytest.mark.parametrize("mode, signum", [("start", signal.SIGTERM), ("run", signal.SIGTERM), ("start", signal.SIGHUP)])
def test_sigterm_removes_socket_and_dies_of_the_signal(runtime_dir: str, procs: list[Proc], mode: str, signum: int) -> None:
    args = [str(WORKLOADS / "cache_builder.py"), "1MiB"]
    proc = spawn(args if mode == "start" else ["-m", "headroom_agent", "run", *args], runtime_dir)
    procs.append(proc)
    assert os.path.exists(proc.path)
    proc.popen.send_signal(signum)
    assert proc.popen.wait(timeout=10) == -signum
    assert not os.path.exists(proc.path)


def test_sigterm_while_a_client_is_connected(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "1MiB"], runtime_dir)
    procs.append(proc)
    with Client(proc.path) as c:
        c.result("hello")
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=10) == -signal.SIGTERM
        assert c.read_line() is None
    assert not os.path.exists(proc.path)


def test_host_sigterm_handler_is_left_in_charge(runtime_dir: str, procs: list[Proc], tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "graceful.py",
        """\
        import os, signal, sys, time, headroom_agent
        got = []
        def on_term(signum, frame):
            got.append(signum)
        signal.signal(signal.SIGTERM, on_term)
        headroom_agent.start()
        assert signal.getsignal(signal.SIGTERM) is on_term
        print(f"READY {os.getpid()}", flush=True)
        while not got:
            time.sleep(0.01)
        print("GRACEFUL", flush=True)
        sys.stdin.readline()
        sys.exit(3)
        """,
    )
    proc = spawn([str(script)], runtime_dir)
    procs.append(proc)
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.popen.stdout is not None
    assert proc.popen.stdout.readline().strip() == "GRACEFUL"
    assert os.path.exists(proc.path)  # the host decided to keep running: so does the agent
    with Client(proc.path) as c:
        assert c.result("hello")["pid"] == proc.pid
    code, _, err = proc.finish()
    assert code == 3, err
    assert not os.path.exists(proc.path)


def test_ignored_sigterm_stays_ignored(runtime_dir: str, procs: list[Proc], tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "ignore.py",
        """\
        import os, signal, sys, headroom_agent
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        headroom_agent.start()
        print(f"READY {os.getpid()}", flush=True)
        sys.stdin.readline()
        """,
    )
    proc = spawn([str(script)], runtime_dir)
    procs.append(proc)
    proc.popen.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.popen.poll() is None and os.path.exists(proc.path)
    code, _, _ = proc.finish()
    assert code == 0 and not os.path.exists(proc.path)


def test_start_from_a_thread_still_cleans_up_at_exit(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "threaded.py",
        """\
        import os, threading, headroom_agent
        box = []
        t = threading.Thread(target=lambda: box.append(headroom_agent.start())); t.start(); t.join()
        print(box[0] is not None and os.path.exists(box[0]))
        """,
    )
    result = run_python([str(script)], runtime_dir)
    assert result.stdout == "True\n", result.stderr
    assert _agent_socks(runtime_dir) == []


def test_forked_child_neither_serves_nor_removes_the_parent_socket(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "forker.py",
        """\
        import os, sys, headroom_agent
        path = headroom_agent.start()
        pid = os.fork()
        if pid == 0:
            ok = not headroom_agent.is_running() and headroom_agent.tick() == 0
            child_path = headroom_agent.start()  # a child may start its own agent
            ok = ok and child_path != path and os.path.exists(child_path)
            import json, socket, mlx.core as mx
            mx.set_cache_limit(3 << 20)  # the child's agent tracks the child's own setter calls
            c = socket.socket(socket.AF_UNIX); c.connect(child_path); c.sendall(b'{"id":1,"op":"stats"}\\n')
            ok = ok and json.loads(c.makefile().readline())["result"]["cache_limit"] == 3 << 20
            sys.exit(0 if ok else 9)
        _, status = os.waitpid(pid, 0)
        child_sock = os.path.join(os.path.dirname(path), f"agent-{pid}.sock")
        print(os.waitstatus_to_exitcode(status), os.path.exists(path), os.path.exists(child_sock))
        """,
    )
    result = run_python([str(script)], runtime_dir)
    assert result.stdout.split() == ["0", "True", "False"], result.stderr
    assert _agent_socks(runtime_dir) == []


def test_stale_socket_of_a_dead_process_with_the_same_pid_is_replaced(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "stale.py",
        """\
        import os, socket, headroom_agent
        d = os.environ["HEADROOM_RUNTIME_DIR"]
        stale = socket.socket(socket.AF_UNIX); stale.bind(os.path.join(d, f"agent-{os.getpid()}.sock")); stale.close()
        path = headroom_agent.start()
        c = socket.socket(socket.AF_UNIX); c.connect(path); c.sendall(b'{"id":1,"op":"hello"}\\n')
        print(b'"ok":true' in c.recv(4096))
        """,
    )
    result = run_python([str(script)], runtime_dir)
    assert result.stdout == "True\n", result.stderr


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc to read CPU time")
def test_no_cpu_while_idle(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "4MiB"], runtime_dir)
    procs.append(proc)
    with Client(proc.path) as idle_client:  # an open, idle connection must not cost CPU either
        idle_client.result("stats")
        time.sleep(0.2)
        before = _cpu_seconds(proc.pid)
        time.sleep(2.0)
        used = _cpu_seconds(proc.pid) - before
        print(f"idle CPU over 2 s (whole process, agent thread + idle connection thread): {used:.3f} s")
        assert used <= 0.02
        assert idle_client.result("hello")["pid"] == proc.pid


def test_agent_threads_are_daemons_and_end_with_their_connection(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "threads.py",
        """\
        import socket, threading, time, headroom_agent
        path = headroom_agent.start()
        def agent_threads():
            return sorted((t.name, t.daemon) for t in threading.enumerate() if t.name.startswith("headroom-agent"))
        c = socket.socket(socket.AF_UNIX); c.connect(path); c.sendall(b'{"id":1,"op":"hello"}\\n'); c.recv(4096)
        print(agent_threads())
        c.close()
        deadline = time.monotonic() + 5
        while len(agent_threads()) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        print(agent_threads())
        """,
    )
    result = run_python([str(script)], runtime_dir)
    lines = result.stdout.splitlines()
    assert lines == [
        "[('headroom-agent', True), ('headroom-agent-conn', True)]",
        "[('headroom-agent', True)]",
    ], result.stderr


def test_stop_wakes_the_accept_thread(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import headroom_agent

    monkeypatch.setenv("HEADROOM_RUNTIME_DIR", runtime_dir)
    path = headroom_agent.start()
    assert path is not None
    try:
        held = socket.socket(socket.AF_UNIX)
        held.connect(path)
        held.sendall(b'{"id":1,"op":"hello"}\n')
        assert b'"ok":true' in held.recv(4096)
    finally:
        headroom_agent.stop()
    assert held.recv(4096) == b""  # open connections are closed too
    held.close()
    assert not any(t.name == "headroom-agent" for t in threading.enumerate())
    assert sock_path(runtime_dir, os.getpid()) == path and not os.path.exists(path)


SIGMASKS = """\
import json, os, signal, threading, headroom_agent
headroom_agent.start()
def blocked(tid):
    with open(f"/proc/self/task/{tid}/status") as f:
        mask = int(next(l for l in f if l.startswith("SigBlk:")).split()[1], 16)
    return sorted(s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if mask >> (s - 1) & 1)
agent = next(t for t in threading.enumerate() if t.name == "headroom-agent")
print(json.dumps([blocked(threading.main_thread().native_id), blocked(agent.native_id)]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads thread signal masks from /proc")
def test_host_signals_always_reach_a_host_thread(runtime_dir: str, tmp_path: Path) -> None:
    # A SIGTERM the kernel hands to the agent's thread would not wake a host blocked in a read
    # (seen as a flaky hang): the agent's threads block the host's signals, the host's don't.
    done = run_python([str(write_script(tmp_path, "masks.py", SIGMASKS))], runtime_dir)
    assert done.returncode == 0, done.stderr
    main, agent = json.loads(done.stdout)
    assert main == [], "the host's main thread must keep its signals"
    assert agent == [signal.SIGHUP, signal.SIGINT, signal.SIGTERM]
