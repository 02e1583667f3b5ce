"""Every way to start the agent, and that the host program's own result is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON, WORKLOADS, Client, Proc, agent_env, run_python, sock_path, spawn, write_script

MIB = 1 << 20

# A host that reports what a program sees of itself, then exits with a chosen status.
PROBE = """\
import json, os, sys
info = {"argv": sys.argv, "name": __name__, "path0": sys.path[0],
        "main_file": getattr(sys.modules["__main__"], "__file__", None),
        "main_is_me": sys.modules["__main__"].__dict__ is globals()}
sock = os.path.join(os.environ["HEADROOM_RUNTIME_DIR"], f"agent-{os.getpid()}.sock")
info["agent_socket"] = os.path.exists(sock)
print(json.dumps(info), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "raise":
    raise ValueError("boom from the host")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def _probe(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    first = result.stdout.splitlines()[0]
    parsed: dict[str, object] = json.loads(first)
    return parsed


def test_import_and_start(runtime_dir: str, procs: list[Proc], tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "host.py",
        """\
        import os, sys, headroom_agent
        path = headroom_agent.start(cache_limit="64MiB", memory_limit=2 << 30)
        assert path == headroom_agent.socket_path() and headroom_agent.is_running()
        print(f"READY {os.getpid()}", flush=True)
        sys.stdin.read()
        """,
    )
    proc = spawn([str(script)], runtime_dir)
    procs.append(proc)
    with Client(proc.path) as c:
        stats = c.result("stats")
    assert stats["pid"] == proc.pid
    assert stats["cache_limit"] == 64 * MIB
    assert stats["memory_limit"] == 2 << 30


@pytest.mark.parametrize("args", [["7"], ["0"], ["raise"], []])
def test_run_script_preserves_argv_name_exit_status_and_exceptions(runtime_dir: str, tmp_path: Path, args: list[str]) -> None:
    script = write_script(tmp_path, "probe.py", PROBE)
    plain = run_python([str(script), *args], runtime_dir)
    wrapped = run_python(["-m", "headroom_agent", "run", str(script), *args], runtime_dir)
    assert wrapped.returncode == plain.returncode
    seen_plain, seen_wrapped = _probe(plain), _probe(wrapped)
    assert seen_plain.pop("agent_socket") is False
    assert seen_wrapped.pop("agent_socket") is True
    assert seen_wrapped == seen_plain
    assert seen_wrapped["name"] == "__main__" and seen_wrapped["main_is_me"] is True
    if args == ["raise"]:
        assert plain.returncode == 1
        assert plain.stderr.strip().splitlines()[-1] == "ValueError: boom from the host"
        assert wrapped.stderr.strip().splitlines()[-1] == "ValueError: boom from the host"
    else:
        assert wrapped.stderr == plain.stderr == ""


@pytest.mark.parametrize("args", [["3"], ["raise"], ["0", "--flag", "-m", "x"]])
def test_run_module_behaves_like_python_dash_m(runtime_dir: str, tmp_path: Path, args: list[str]) -> None:
    pkg = tmp_path / "hostpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_script(pkg, "probe.py", PROBE)
    plain = run_python(["-m", "hostpkg.probe", *args], runtime_dir, cwd=str(tmp_path))
    wrapped = run_python(["-m", "headroom_agent", "run", "-m", "hostpkg.probe", *args], runtime_dir, cwd=str(tmp_path))
    assert wrapped.returncode == plain.returncode
    seen_plain, seen_wrapped = _probe(plain), _probe(wrapped)
    assert (seen_plain.pop("agent_socket"), seen_wrapped.pop("agent_socket")) == (False, True)
    assert seen_wrapped == seen_plain
    assert seen_wrapped["argv"] == [str(pkg / "probe.py"), *args]
    if args == ["raise"]:
        assert wrapped.stderr.strip().splitlines()[-1] == "ValueError: boom from the host"


def test_run_package_main(runtime_dir: str, tmp_path: Path) -> None:
    pkg = tmp_path / "apppkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_script(pkg, "__main__.py", "import sys\nprint('pkg main', sys.argv[1:])\nsys.exit(5)\n")
    plain = run_python(["-m", "apppkg", "a"], runtime_dir, cwd=str(tmp_path))
    wrapped = run_python(["-m", "headroom_agent", "run", "-m", "apppkg", "a"], runtime_dir, cwd=str(tmp_path))
    assert (wrapped.returncode, wrapped.stdout) == (plain.returncode, plain.stdout) == (5, "pkg main ['a']\n")


def test_run_mode_serves_the_socket_while_the_target_runs(runtime_dir: str, procs: list[Proc]) -> None:
    proc = spawn(
        ["-m", "headroom_agent", "run", "--cache-limit", "48MiB", "--memory-limit=3GB", str(WORKLOADS / "cache_builder.py"), "8MiB", "--cache-limit", "48MiB"],
        runtime_dir,
    )
    procs.append(proc)
    with Client(proc.path) as c:
        stats = c.result("stats")
        assert stats["cache_limit"] == 48 * MIB
        assert stats["memory_limit"] == 3 << 30
        assert stats["cache"] == proc.own_cache() >= 8 * MIB
        assert stats["cmdline"][1:4] == ["-m", "headroom_agent", "run"]
        assert stats["target"] == str(WORKLOADS / "cache_builder.py")
    status, _, err = proc.finish()
    assert status == 0, err
    assert not os.path.exists(proc.path)


def test_run_module_target_with_real_mlx(runtime_dir: str, procs: list[Proc], tmp_path: Path) -> None:
    write_script(
        tmp_path,
        "mlxhost.py",
        """\
        import os, sys
        import mlx.core as mx
        a = mx.ones((512, 512)); mx.eval(a); del a
        print(f"READY {os.getpid()}", flush=True)
        sys.stdin.read()
        """,
    )
    proc = spawn(["-m", "headroom_agent", "run", "-m", "mlxhost"], runtime_dir, cwd=str(tmp_path))
    procs.append(proc)
    with Client(proc.path) as c:
        assert c.result("stats")["target"] == "-m mlxhost"
        assert c.result("stats")["cache"] >= 512 * 512 * 4
        assert c.result("clear_cache")["cache_after"] == 0


@pytest.mark.parametrize(
    "env, key, expected",
    [
        ({"HEADROOM_CACHE_LIMIT": "100MiB"}, "cache_limit", 100 * MIB),
        ({"HEADROOM_MEMORY_LIMIT": "1.5G"}, "memory_limit", 3 << 29),
        ({"HEADROOM_WIRED_LIMIT": "1048576"}, "wired_limit", MIB),
        ({"HEADROOM_COOPERATIVE": "1"}, "cooperative", True),
        ({"HEADROOM_COOPERATIVE": "0"}, "cooperative", False),
    ],
)
def test_environment_variables(runtime_dir: str, procs: list[Proc], env: dict[str, str], key: str, expected: object) -> None:
    proc = spawn(["-m", "headroom_agent", "run", str(WORKLOADS / "cache_builder.py"), "1MiB", "--cache-limit", "100MiB"], runtime_dir, **env)
    procs.append(proc)
    with Client(proc.path) as c:
        assert c.result("stats")[key] == expected


def test_bad_environment_value_warns_and_the_host_still_runs(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(tmp_path, "ok.py", "import headroom_agent\nprint(headroom_agent.start() is not None)\n")
    result = run_python([str(script)], runtime_dir, HEADROOM_CACHE_LIMIT="lots", HEADROOM_COOPERATIVE="maybe")
    assert result.returncode == 0
    assert result.stdout == "True\n"
    assert "HEADROOM_CACHE_LIMIT 'lots'" in result.stderr
    assert "HEADROOM_COOPERATIVE='maybe'" in result.stderr


def test_explicit_arguments_beat_the_environment(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "explicit.py",
        """\
        import headroom_agent, json, socket
        path = headroom_agent.start(cache_limit=5 << 20, cooperative=False)
        s = socket.socket(socket.AF_UNIX); s.connect(path)
        s.sendall(b'{"id":1,"op":"stats"}\\n')
        r = json.loads(s.makefile().readline())["result"]
        print(r["cache_limit"], r["cooperative"])
        """,
    )
    result = run_python([str(script)], runtime_dir, HEADROOM_CACHE_LIMIT="9MiB", HEADROOM_COOPERATIVE="1")
    assert result.stdout.split() == [str(5 << 20), "False"], result.stderr


@pytest.mark.parametrize(
    "argv, status, fragment",
    [
        (["run", "--cache-limit", "huge", "x.py"], 2, "invalid cache_limit 'huge'"),
        (["run", "--cache-limit", "1TB", "x.py"], 2, "physical memory"),
        (["run", "--cooperative-timeout", "-1", "x.py"], 2, "invalid --cooperative-timeout '-1'"),
        (["run", "--frobnicate", "x.py"], 2, "unknown option '--frobnicate'"),
        (["run"], 2, "missing the program to run"),
        (["run", "-m"], 2, "-m needs a module name"),
        (["walk"], 2, "unknown command 'walk'"),
        ([], 2, "usage:"),
        (["run", "/nonexistent/nope.py"], 2, "can't open file"),
        (["run", "-m", "no_such_module_hr"], 1, "No module named no_such_module_hr"),
    ],
)
def test_run_usage_errors(runtime_dir: str, argv: list[str], status: int, fragment: str) -> None:
    result = run_python(["-m", "headroom_agent", *argv], runtime_dir)
    assert result.returncode == status, result.stderr
    assert fragment in result.stderr
    assert os.listdir(runtime_dir) == [] or all(not n.startswith("agent-") for n in os.listdir(runtime_dir))


def test_help_and_version(runtime_dir: str) -> None:
    helped = run_python(["-m", "headroom_agent", "--help"], runtime_dir)
    assert helped.returncode == 0 and "run [OPTIONS] -m module" in helped.stdout
    version = run_python(["-m", "headroom_agent", "--version"], runtime_dir)
    assert version.returncode == 0 and version.stdout.startswith("headroom_agent 0.")


def test_start_is_idempotent(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "twice.py",
        """\
        import os, threading, json, socket, headroom_agent
        first = headroom_agent.start()
        second = headroom_agent.start()
        third = headroom_agent.start(cache_limit="7MiB")
        threads = [t.name for t in threading.enumerate() if t.name == "headroom-agent"]
        s = socket.socket(socket.AF_UNIX); s.connect(first)
        s.sendall(b'{"id":1,"op":"stats"}\\n')
        stats = json.loads(s.makefile().readline())["result"]
        print(json.dumps({"same": first == second == third, "threads": len(threads),
                          "socks": sorted(os.listdir(os.path.dirname(first))), "cache_limit": stats["cache_limit"]}))
        """,
    )
    result = run_python([str(script)], runtime_dir)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["same"] is True and seen["threads"] == 1
    assert len(seen["socks"]) == 1 and seen["socks"][0].startswith("agent-")
    assert seen["cache_limit"] == 7 * MIB


def test_start_and_stop_in_process(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import headroom_agent
    import mlx.core as mx

    monkeypatch.setenv("HEADROOM_RUNTIME_DIR", runtime_dir)
    original = mx.set_cache_limit
    path = headroom_agent.start()
    try:
        assert path == sock_path(runtime_dir, os.getpid())
        assert mx.set_cache_limit is not original  # tracking wrapper in place
        with Client(path) as c:
            assert c.result("hello")["pid"] == os.getpid()
            previous = mx.set_cache_limit(12 * MIB)  # the host changes it itself...
            assert c.result("stats")["cache_limit"] == 12 * MIB  # ...and stats sees it
            mx.set_cache_limit(previous)
    finally:
        headroom_agent.stop()
    assert not os.path.exists(path)
    assert not headroom_agent.is_running() and headroom_agent.socket_path() is None
    assert mx.set_cache_limit is original
    assert headroom_agent.tick() == 0
    headroom_agent.stop()  # stopping twice is harmless


def test_no_agent_without_start(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(tmp_path, "plain.py", "import headroom_agent, mlx.core\nprint(headroom_agent.is_running(), headroom_agent.tick())\n")
    result = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, env=agent_env(runtime_dir))
    assert result.stdout == "False 0\n" and os.listdir(runtime_dir) == []


def test_run_mode_without_a_working_mlx_still_runs_the_target(runtime_dir: str, tmp_path: Path) -> None:
    broken = tmp_path / "shadow" / "mlx"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this mlx is broken on purpose')\n")
    script = write_script(tmp_path, "nomlx.py", "import sys\nprint('still here')\nsys.exit(4)\n")
    result = run_python(
        ["-m", "headroom_agent", "run", str(script)], runtime_dir, PYTHONPATH=str(tmp_path / "shadow")
    )
    assert (result.returncode, result.stdout) == (4, "still here\n")
    assert "headroom_agent: not started: cannot import mlx.core" in result.stderr
    assert os.listdir(runtime_dir) == []
