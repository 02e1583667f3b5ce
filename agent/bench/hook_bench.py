"""Cost of `headroom agent enable`'s start-up hook, measured side by side (run by hand).

usage: python agent/bench/hook_bench.py --headroom target/debug/headroom [--runs N] [--mlx-runs N]

Builds two scratch venvs from this interpreter's base (``python -m venv --without-pip``), MLX
hard-linked into both from this interpreter's site-packages; runs ``headroom agent enable`` on
one of them (its own data and runtime directories). Then, interleaving the two so that machine
noise hits both alike:

1. start-up of a Python that never imports MLX (``python -c pass``): median wall time of
   N runs each, hooked vs plain, and the difference (target: < 1 ms added);
2. ``import mlx.core`` in a hooked process: how long the import takes, hooked vs plain, and
   how long from the start of the import until the agent answers ``stats`` on its socket
   (target: < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

# Times the import, then asks the agent (if any) for stats: one JSON line.
MLX_PROBE = """
import json, os, socket, time
t0 = time.perf_counter()
import mlx.core
t1 = time.perf_counter()
path = os.path.join(os.environ["HEADROOM_RUNTIME_DIR"], f"agent-{os.getpid()}.sock")
answered = None
if os.path.exists(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"id":1,"op":"stats"}\\n')
    buf = b""
    while not buf.endswith(b"\\n"):
        buf += s.recv(65536)
    answered = time.perf_counter() - t0 if json.loads(buf)["ok"] else None
print(json.dumps({"import": t1 - t0, "stats_after_import_start": answered}))
"""


def scratch_venv(root: Path, name: str) -> Path:
    venv = root / name
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.check_output([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    src = Path(sysconfig.get_paths()["purelib"])
    for entry in src.iterdir():
        if entry.name == "mlx" or entry.name.startswith(("mlx-", "mlx_cpu", "mlx_metal")):
            if subprocess.run(["cp", "-al", str(entry), str(site)]).returncode != 0:
                subprocess.run(["cp", "-R", str(entry), str(site)], check=True)
    return venv / "bin/python"


def wall(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--headroom", required=True, help="path of the headroom binary")
    ap.add_argument("--runs", type=int, default=400, help="start-ups of each interpreter (default 400)")
    ap.add_argument("--mlx-runs", type=int, default=40, help="MLX imports of each (default 40)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hr-hookbench-", dir="/tmp"))
    runtime = root / "rt"
    runtime.mkdir(mode=0o700)
    try:
        plain = scratch_venv(root, "plain")
        hooked = scratch_venv(root, "hooked")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADROOM_", "PYTHON"))}
        env.update(HEADROOM_DATA_DIR=str(root / "data"), HEADROOM_RUNTIME_DIR=str(runtime))
        subprocess.run([args.headroom, "agent", "enable", "--python", str(hooked)], env=env, check=True, stdout=subprocess.DEVNULL)

        for py in (plain, hooked):  # warm the page cache and write .pyc files
            for _ in range(5):
                wall([str(py), "-c", "pass"], env)
        plain_t: list[float] = []
        hooked_t: list[float] = []
        for _ in range(args.runs):
            plain_t.append(wall([str(plain), "-c", "pass"], env))
            hooked_t.append(wall([str(hooked), "-c", "pass"], env))
        mp, mh = statistics.median(plain_t), statistics.median(hooked_t)
        # The hook's own cost inside the process: the .pth import line executed the way site
        # does (exec of the line), timed in a fresh `-S` process; less noisy than wall times.
        site = Path(subprocess.check_output([str(hooked), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        line = next(x for x in (site / "headroom-agent.pth").read_text().splitlines() if x.startswith("import "))
        timer = "import os, sys, time  # what site has imported before it reads .pth files\nt = time.perf_counter()\nexec(sys.argv[1])\nprint(time.perf_counter() - t)"
        inproc = [float(subprocess.check_output([str(hooked), "-S", "-c", timer, line], env=env, text=True)) for _ in range(args.runs // 4)]
        print(f"Python start-up, never importing MLX ({args.runs} runs each, interleaved, medians):")
        print(f"  plain {ms(mp)}   hooked {ms(mh)}   added {ms(mh - mp)}  (ratio {mh / mp:.3f})")
        print(f"  the .pth import line itself, exec'd as site does ({len(inproc)} fresh processes): median {statistics.median(inproc) * 1e6:.0f} us")

        imp_plain: list[float] = []
        imp_hooked: list[float] = []
        answered: list[float] = []
        for _ in range(args.mlx_runs):
            r = json.loads(subprocess.check_output([str(plain), "-c", MLX_PROBE], env=env, text=True))
            imp_plain.append(r["import"])
            r = json.loads(subprocess.check_output([str(hooked), "-c", MLX_PROBE], env=env, text=True))
            imp_hooked.append(r["import"])
            if r["stats_after_import_start"] is None:
                raise SystemExit("the hooked process had no agent")
            answered.append(r["stats_after_import_start"])
        pi, hi, an = statistics.median(imp_plain), statistics.median(imp_hooked), statistics.median(answered)
        print(f"import mlx.core ({args.mlx_runs} runs each, interleaved, medians):")
        print(f"  plain {ms(pi)}   hooked {ms(hi)}   agent start inside the import {ms(hi - pi)}")
        print(f"  from `import mlx.core` to the agent answering stats: {ms(an)} (of which the import itself {ms(hi)}; after the import returns {ms(an - hi)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
