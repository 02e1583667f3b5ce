"""Runtime directory and socket permissions, unsafe directories, peer-credential refusal."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest
from conftest import WORKLOADS, Client, Proc, run_python, spawn, write_script

from headroom_agent import _paths

START = """\
import json, os, sys, warnings, headroom_agent
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    path = headroom_agent.start()
print(json.dumps({"path": path, "warnings": [str(w.message) for w in caught]}))
sys.exit(5)
"""

OTHER_USER = "hr-agent-test"


def _start_in(runtime_dir: str, tmp_path: Path) -> tuple[int, dict[str, object]]:
    result = run_python([str(write_script(tmp_path, "start.py", START))], runtime_dir)
    return result.returncode, json.loads(result.stdout)


def test_directory_created_0700_and_socket_0600(runtime_dir: str, procs: list[Proc]) -> None:
    nested = os.path.join(runtime_dir, "a", "hr")
    proc = spawn([str(WORKLOADS / "cache_builder.py"), "1MiB"], nested)
    procs.append(proc)
    assert stat.S_IMODE(os.stat(nested).st_mode) == 0o700
    st = os.lstat(proc.path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()


def test_own_readable_directory_is_tightened_to_0700(runtime_dir: str, tmp_path: Path) -> None:
    os.chmod(runtime_dir, 0o755)
    status, seen = _start_in(runtime_dir, tmp_path)
    assert status == 5 and seen["path"] is not None
    assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777])
def test_group_or_other_writable_directory_is_refused(runtime_dir: str, tmp_path: Path, mode: int) -> None:
    os.chmod(runtime_dir, mode)
    status, seen = _start_in(runtime_dir, tmp_path)
    assert status == 5  # the host carries on
    assert seen["path"] is None
    warned = str(seen["warnings"])
    assert "writable by group or others" in warned and runtime_dir in warned, seen
    assert os.listdir(runtime_dir) == []
    assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == mode  # not "fixed" behind the user's back


def test_symlinked_directory_is_refused(runtime_dir: str, tmp_path: Path) -> None:
    real = os.path.join(runtime_dir, "real")
    os.mkdir(real, 0o700)
    link = os.path.join(runtime_dir, "link")
    os.symlink(real, link)
    status, seen = _start_in(link, tmp_path)
    assert (status, seen["path"]) == (5, None)
    assert "not a directory" in str(seen["warnings"])


def test_directory_owned_by_someone_else_is_refused(runtime_dir: str, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    os.chown(runtime_dir, 65534, 65534)
    status, seen = _start_in(runtime_dir, tmp_path)
    assert (status, seen["path"]) == (5, None)
    assert "owned by uid 65534" in str(seen["warnings"])


def test_something_else_at_the_socket_path_is_left_alone(runtime_dir: str, tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "squat.py",
        """\
        import os, warnings, headroom_agent
        p = os.path.join(os.environ["HEADROOM_RUNTIME_DIR"], f"agent-{os.getpid()}.sock")
        open(p, "w").write("not a socket")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(headroom_agent.start(), open(p).read(), [str(w.message) for w in caught])
        """,
    )
    result = run_python([str(script)], runtime_dir)
    assert result.stdout.startswith("None not a socket"), result.stderr
    assert "is not a socket of this user" in result.stdout


def test_too_long_socket_path_is_refused_with_a_hint(tmp_path: Path) -> None:
    deep = "/tmp/" + "d" * 120
    status, seen = _start_in(deep, tmp_path)
    try:
        assert (status, seen["path"]) == (5, None)
        assert "HEADROOM_RUNTIME_DIR" in str(seen["warnings"]) and "longer than" in str(seen["warnings"])
    finally:
        if os.path.isdir(deep):
            os.rmdir(deep)


def test_run_mode_with_unsafe_directory_still_runs_the_target(runtime_dir: str, tmp_path: Path) -> None:
    os.chmod(runtime_dir, 0o777)
    script = write_script(tmp_path, "target.py", "import sys\nprint('target ran')\nsys.exit(6)\n")
    result = run_python(["-m", "headroom_agent", "run", str(script)], runtime_dir)
    assert (result.returncode, result.stdout) == (6, "target ran\n")
    assert "headroom_agent: not started" in result.stderr


RUNTIME_DIR_CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "tests" / "shared" / "runtime_dir_cases.json").read_text()
)["cases"]


@pytest.mark.parametrize("case", RUNTIME_DIR_CASES, ids=[c["name"] for c in RUNTIME_DIR_CASES])
def test_runtime_dir_follows_the_table_shared_with_the_rust_client(case: dict[str, Any]) -> None:
    f = case["fallback"]
    fallback = None if f is None else _paths.DirState(f["is_dir"], f["uid"], int(f["mode"], 8))
    args = (case["platform"], case["env"], case["user_dir"], case["uid"], fallback)
    want = case["expect"]["dir"]
    if want is not None:
        assert _paths.choose_runtime_dir(*args) == want
    else:
        with pytest.raises(_paths.UnsafeRuntimeDir) as refused:
            _paths.choose_runtime_dir(*args)
        for part in case["expect"]["error_contains"]:
            assert part in str(refused.value)


def test_a_fallback_directory_someone_else_made_first_moves_agents_to_the_cache(tmp_path: Path) -> None:
    # A uid that owns nothing: /tmp/headroom-<uid> made by this (other) user is "someone else's".
    uid = 3_999_999_917
    taken = _paths.fallback_dir(uid)
    os.makedirs(taken, exist_ok=True)
    try:
        env = {"HOME": str(tmp_path)}
        state = _paths.dir_state(taken)
        assert state is not None and state.uid == os.getuid() != uid
        assert _paths.default_runtime_dir(env, "linux", uid) == str(tmp_path / ".cache" / "headroom" / "run")
        with pytest.raises(_paths.UnsafeRuntimeDir, match=f"{taken} is owned by uid"):
            _paths.default_runtime_dir({}, "linux", uid)
    finally:
        os.rmdir(taken)


def test_this_machine_resolves_to_a_directory_the_client_would_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADROOM_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    assert _paths.default_runtime_dir(os.environ, "linux", 4242) == "/run/user/4242/headroom"
    assert _paths.darwin_user_dir() is None  # not macOS here


# -- another user -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    if os.getuid() != 0:
        pytest.skip("not root: cannot create another user to test peer-credential refusal")
    created = False
    try:
        entry = pwd.getpwnam(OTHER_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            pytest.skip(f"useradd failed: {made.stderr.strip()}")
        created = True
        entry = pwd.getpwnam(OTHER_USER)
    yield entry
    if created:
        subprocess.run(["userdel", OTHER_USER], capture_output=True)


def _as_user(user: pwd.struct_passwd, path: str) -> dict[str, object]:
    """Connects to ``path`` from a forked child running as ``user``; returns what it saw."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to the other user, talk to the agent, report through the pipe
        outcome: dict[str, object] = {}
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            with Client(path, timeout=5) as c:
                try:
                    c.send_raw(b'{"id":1,"op":"stats"}\n')
                except BrokenPipeError:  # the agent may refuse and close before reading
                    pass
                outcome["first"] = c.read_line()
                outcome["then"] = c.read_line()
        except Exception as exc:
            outcome["exception"] = type(exc).__name__
        os.write(write_fd, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    seen: dict[str, object] = json.loads(data)
    return seen


def test_other_user_cannot_reach_the_socket(other_user: pwd.struct_passwd, builder: Proc) -> None:
    seen = _as_user(other_user, builder.path)
    assert seen == {"exception": "PermissionError"}


def test_other_user_is_refused_by_peer_credentials(other_user: pwd.struct_passwd, builder: Proc, runtime_dir: str) -> None:
    # Open the file-system gates on purpose so that only the agent's own check stands.
    os.chmod(runtime_dir, 0o711)
    os.chmod(builder.path, 0o666)
    seen = _as_user(other_user, builder.path)
    first = seen.get("first")
    assert isinstance(first, dict), seen
    assert first["ok"] is False and first["error"]["code"] == "permission_denied"
    assert f"peer uid {other_user.pw_uid}" in first["error"]["message"]
    assert seen["then"] is None  # and the connection is closed
    with builder.client() as c:  # the owner is still served
        assert c.result("stats")["pid"] == builder.pid
