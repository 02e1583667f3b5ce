"""The start-up hook ``headroom agent enable`` installs (``_headroom_hook``), in real processes.

Each test runs a fresh interpreter that installs the hook as ``site`` would (the ``.pth``
import line calls ``_headroom_hook.install()``; the PEP 829 ``.start`` entry point is the same
callable, see ``pep829_site.py``), then imports real MLX or not.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
from pathlib import Path

from conftest import PYTHON, Client, agent_env, sock_path

HERE = Path(__file__).resolve().parent
AGENT_DIR = HERE.parent

# Installs the hook the way the .pth line does, from the folder in argv[1] (first on the path,
# so that the hook and agent of that folder win over the ones this test suite runs from).
PREAMBLE = "import sys; sys.path.insert(0, sys.argv[1]); import _headroom_hook; _headroom_hook.install()\n"

# Threads and sockets of this process, from the kernel (imports nothing that could start one).
SELF_REPORT = """
import os, json
def link(fd):  # an agent thread may close a descriptor between the listing and the read
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
fds = [link(fd) for fd in os.listdir("/proc/self/fd")]
print(json.dumps({"threads": len(os.listdir("/proc/self/task")), "sockets": [f for f in fds if f.startswith("socket:")],
                  "agent_loaded": "headroom_agent" in sys.modules, "watchers": sum(type(f).__name__ == "MlxImportWatcher" for f in sys.meta_path)}))
"""


def run(code: str, runtime_dir: str, agent_dir: Path = AGENT_DIR, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", PREAMBLE + code, str(agent_dir)],
        capture_output=True,
        text=True,
        env=agent_env(runtime_dir, **env),
        timeout=120,
    )


def report(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return parsed


def test_a_python_that_never_imports_mlx_starts_no_thread_and_opens_no_socket(runtime_dir: str) -> None:
    r = report(run("import json, email.message, collections\n" + SELF_REPORT, runtime_dir))
    assert r == {"threads": 1, "sockets": [], "agent_loaded": False, "watchers": 1}, r
    assert os.listdir(runtime_dir) == []


def test_importing_mlx_core_starts_the_agent_and_the_hook_leaves_nothing_behind(runtime_dir: str) -> None:
    code = """
import os, time
import mlx.core as mx
loader = type(mx.__loader__).__name__
spec_loader = type(mx.__spec__.loader).__name__
print(json.dumps({"pid": os.getpid(), "loader": loader, "spec_loader": spec_loader}), flush=True)
sys.stdin.read()
""" + SELF_REPORT
    proc = subprocess.Popen(
        [PYTHON, "-c", PREAMBLE + "import json\n" + code, str(AGENT_DIR)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent_env(runtime_dir),
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline())
        # The socket exists when the import returns: the agent starts inside the import.
        path = sock_path(runtime_dir, proc.pid)
        assert os.path.exists(path)
        with Client(path) as c:
            stats = c.result("stats")
        assert stats["pid"] == proc.pid and stats["target"] is None
        # The module looks as if loaded without the hook.
        assert first["loader"] == first["spec_loader"] == "ExtensionFileLoader", first
        out, err = proc.communicate("", timeout=30)
        assert proc.returncode == 0 and out.strip(), (proc.returncode, out, err)
        last = json.loads(out.splitlines()[-1])
        assert last["agent_loaded"] is True and last["watchers"] == 0, last
        assert err == "", err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_the_agent_comes_from_the_hooks_folder(runtime_dir: str, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(AGENT_DIR / "headroom_agent", folder / "headroom_agent")
    shutil.copy(AGENT_DIR / "_headroom_hook.py", folder)
    r = run("import mlx.core\nprint(sys.modules['headroom_agent'].__file__)", runtime_dir, folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(folder / "headroom_agent" / "__init__.py")


def test_installing_twice_watches_once(runtime_dir: str) -> None:
    r = report(run("_headroom_hook.install(); _headroom_hook.install()\n" + SELF_REPORT, runtime_dir))
    assert r["watchers"] == 1


def test_headroom_agent_0_opts_a_process_out(runtime_dir: str) -> None:
    r = report(run("import mlx.core\n" + SELF_REPORT, runtime_dir, HEADROOM_AGENT="0"))
    assert r["agent_loaded"] is False and r["watchers"] == 0 and r["sockets"] == [], r
    assert os.listdir(runtime_dir) == []


def test_a_broken_agent_folder_leaves_the_host_running_with_one_stderr_line(runtime_dir: str, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(AGENT_DIR / "headroom_agent", folder / "headroom_agent")
    shutil.copy(AGENT_DIR / "_headroom_hook.py", folder)
    (folder / "headroom_agent" / "__init__.py").write_text("this is not python(\n")
    r = run("import mlx.core as mx\nprint('host still runs', mx.array([1, 2]).sum().item())", runtime_dir, folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "host still runs 3"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("headroom: agent not started"), r.stderr
    # A second failure in the same process (the package deleted) is not logged again.
    shutil.rmtree(folder / "headroom_agent")
    r = run("import _headroom_hook as h\nimport mlx.core\nh.start_agent(); h.start_agent()\nprint('ok')", runtime_dir, folder)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr


def test_an_unsafe_runtime_directory_is_one_stderr_line_not_an_exception(tmp_path: Path) -> None:
    unsafe = tmp_path / "rt"
    unsafe.mkdir(mode=0o777)
    os.chmod(unsafe, 0o777)
    r = run("import mlx.core\nprint('ok')", str(unsafe))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "runtime directory" in lines[0], r.stderr


def test_the_start_entry_point_called_as_pep_829_site_does(runtime_dir: str, tmp_path: Path) -> None:
    site_dir = tmp_path / "site-packages"
    site_dir.mkdir()
    # What `headroom agent enable` writes, in short: a path line + guarded import line, and
    # the matching .start file. Under PEP 829 the import line must not run (one watcher).
    (site_dir / "headroom-agent.pth").write_text(f"# test\n{AGENT_DIR}\nimport sys; sys.stderr.write('IMPORT LINE RAN\\n')\n")
    (site_dir / "headroom-agent.start").write_text("# test\n_headroom_hook:install\n")
    code = "import sys\n" + SELF_REPORT.replace("print(json", "import json; print(json")
    # -S: no site processing but ours; MLX comes from this interpreter's own site-packages.
    env = agent_env(runtime_dir, PYTHONPATH=os.pathsep.join(site.getsitepackages()))
    r = subprocess.run(
        [PYTHON, "-S", str(HERE / "pep829_site.py"), str(site_dir), code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "IMPORT LINE RAN" not in r.stderr
    assert r.stdout.splitlines()[:2] == ["ENTRY_POINTS _headroom_hook:install", "IMPORT_LINES 0"]
    assert json.loads(r.stdout.splitlines()[-1])["watchers"] == 1
    served = "import os, mlx.core; print('SERVED', os.path.exists(os.path.join(os.environ['HEADROOM_RUNTIME_DIR'], f'agent-{os.getpid()}.sock')))"
    r = subprocess.run(
        [PYTHON, "-S", str(HERE / "pep829_site.py"), str(site_dir), served],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines()[-1] == "SERVED True", r.stdout
