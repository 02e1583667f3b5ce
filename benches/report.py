#!/usr/bin/env python3
"""Runs every Headroom benchmark in one go and prints one Markdown table.

Each figure is measured next to its peer or floor in the same run (interleaved where the
sub-bench allows it), repeated, and reported as the median with its spread (min–max over the
repetitions). The table is printed and written to benches/REPORT.md. A sub-bench that is
missing or fails becomes a row saying so: nothing is dropped silently.

Called by benches/report.sh (which installs tools and builds first); environment knobs are
documented in benches/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
VENV_PY = ROOT / ".venv" / "bin" / "python"
REPEATS = int(os.environ.get("REPORT_REPEATS", "5"))
SERVE_SECS = int(os.environ.get("REPORT_SERVE_SECS", "60"))
QUICK = os.environ.get("REPORT_QUICK") == "1"


@dataclass
class Row:
    """One line of the report."""

    figure: str
    value: str
    peer: str = "—"
    ratio: str = "—"
    target: str = "—"
    verdict: str = ""


def log(msg: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[report {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    """`median unit (min–max, n=N)`."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f} {unit}"
    return f"{med:.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f}, n={len(values)})"


def run(cmd: list[str], timeout: int, env: dict | None = None) -> tuple[int, str]:
    """Runs `cmd` in the repository; returns (status, stdout+stderr)."""
    log("$ " + " ".join(cmd))
    try:
        p = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    except OSError as e:
        return 127, str(e)
    return p.returncode, p.stdout + p.stderr


def machine() -> list[str]:
    """The machine, described."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {model}{mem}",
        f"- Kernel: {platform.system()} {platform.release()} {platform.machine()}",
        f"- Load average at start: {load} (other work on the machine inflates absolute "
        "times; ratios are measured interleaved in this run)",
        f"- Toolchain: {rustc}; Python {platform.python_version()}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


# ---------------------------------------------------------------- per-sample cost


SAMPLE_RE = {
    "raw": re.compile(r"\| raw read of the kernel files \(floor\) \| ([\d.]+) \|"),
    "full": re.compile(r"\| headroom full sample \(read \+ parse \+ derive\) \| ([\d.]+) \|"),
    "sysinfo": re.compile(r"\| sysinfo refresh_memory \| ([\d.]+) \|"),
}

PSUTIL_LOOP = """
import time, psutil
N = 300
rounds = []
for _ in range(15):
    t = time.perf_counter()
    for _ in range(N):
        psutil.virtual_memory(); psutil.swap_memory()
    rounds.append((time.perf_counter() - t) / N * 1e6)
rounds.sort()
print(rounds[len(rounds) // 2])
"""


def psutil_per_call() -> float | None:
    """psutil's virtual_memory()+swap_memory() per call, µs (median of 15 rounds × 300)."""
    if not VENV_PY.exists():
        return None
    code, out = run([str(VENV_PY), "-c", PSUTIL_LOOP], 300)
    try:
        return float(out.strip().splitlines()[-1]) if code == 0 else None
    except (ValueError, IndexError):
        return None


def per_sample() -> list[Row]:
    """Sample bench (raw read, full sample, sysinfo) alternated with psutil's Python loop."""
    got: dict[str, list[float]] = {"raw": [], "full": [], "sysinfo": [], "psutil": []}
    failure = ""
    for i in range(REPEATS):
        log(f"per-sample cost, repetition {i + 1}/{REPEATS}")
        code, out = run(["cargo", "bench", "-q", "-p", "headroom-core", "--bench", "sample"], 1200)
        if code != 0:
            failure = out.strip().splitlines()[-1:] or ["?"]
            failure = f"cargo bench --bench sample failed ({code}): {failure[0]}"
            break
        for key, rx in SAMPLE_RE.items():
            m = rx.search(out)
            if m:
                got[key].append(float(m.group(1)))
        p = psutil_per_call()
        if p is not None:
            got["psutil"].append(p)
    if failure or not got["full"]:
        return [Row("one system sample (µs)", f"**FAILED**: {failure or 'no output parsed'}")]
    med = {k: statistics.median(v) for k, v in got.items() if v}
    rows = [
        Row("one system sample: read + parse + derive", spread(got["full"], "µs"),
            "raw read of the same kernel files: " + spread(got["raw"], "µs"),
            f"{med['full'] / med['raw']:.2f}× floor", "≤ 1.30× floor",
            verdict(med["full"] / med["raw"] <= 1.3)),
        Row("sysinfo `refresh_memory` (peer, fewer fields)", spread(got["sysinfo"], "µs"),
            "headroom full sample", f"{med['sysinfo'] / med['full']:.2f}× headroom"),
    ]
    if "psutil" in med:
        r = med["psutil"] / med["full"]
        floor = med["psutil"] / med["raw"]
        rows.append(Row("psutil `virtual_memory()+swap_memory()` per call (peer, Python loop)",
                        spread(got["psutil"], "µs"),
                        f"headroom full sample (the raw read floor alone is {floor:.1f}× cheaper "
                        "than psutil: the most any reader of these files can be)",
                        f"headroom {r:.1f}× cheaper", "≥ 10× cheaper", verdict(r >= 10)))
    else:
        rows.append(Row("psutil per call", "**MISSING**: .venv/bin/python with psutil not found"))
    return rows


def overhead_verdict(median: float, mean: float) -> str:
    """Met when median and mean are under 1 %, not met when both are at or above it; otherwise
    the run's noise is larger than the target and it says so."""
    if median < 1.0 and mean < 1.0:
        return "met"
    if median >= 1.0 and mean >= 1.0:
        return "**NOT met**"
    return "inconclusive: median and mean disagree (noise > 1 %)"


def verdict(ok: bool) -> str:
    """Met / NOT met."""
    return "met" if ok else "**NOT met**"


# ---------------------------------------------------------------- whole process


def headroom_bin() -> Path:
    return TARGET / "release" / "headroom"


def whole_process() -> list[Row]:
    """`headroom status --json` vs `free -b` vs one-shot psutil, hyperfine rounds interleaved."""
    bin_ = headroom_bin()
    if not bin_.exists():
        return [Row("`headroom status --json` (whole process)", f"**MISSING**: {bin_} not built")]
    if not shutil.which("hyperfine"):
        return [Row("`headroom status --json` (whole process)", "**MISSING**: hyperfine not installed")]
    tmp = tempfile.mkdtemp(prefix="hr-report-")
    env = {"HEADROOM_CONFIG": f"{tmp}/config.toml", "HEADROOM_DATA_DIR": f"{tmp}/data",
           "HEADROOM_RUNTIME_DIR": f"{tmp}/run"}
    py = str(VENV_PY) if VENV_PY.exists() else "python3"
    cmds = {
        "headroom": f"{bin_} status --json",
        "free": "free -b",
        "psutil": f"{py} -c 'import psutil; psutil.virtual_memory(); psutil.swap_memory()'",
    }
    got: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(REPEATS):
        log(f"whole process, hyperfine round {i + 1}/{REPEATS}")
        out = Path(tmp) / f"hf{i}.json"
        code, text = run(["hyperfine", "-N", "--warmup", "3", "--runs", "20", "--export-json",
                          str(out), *cmds.values()], 900, env)
        if code != 0:
            return [Row("`headroom status --json` (whole process)",
                        f"**FAILED**: hyperfine ({code}): {text.strip()[-200:]}")]
        results = json.loads(out.read_text())["results"]
        for key, res in zip(cmds, results):
            got[key].append(res["median"] * 1e3)
    med = {k: statistics.median(v) for k, v in got.items()}
    return [
        Row("`headroom status --json`, whole process", spread(got["headroom"], "ms", 2),
            "`free -b`: " + spread(got["free"], "ms", 2),
            f"{med['headroom'] / med['free']:.2f}× `free`"),
        Row("psutil one-shot Python process (peer)", spread(got["psutil"], "ms", 1),
            "`headroom status --json`",
            f"headroom {med['psutil'] / med['headroom']:.1f}× faster",
            "headroom faster", verdict(med["headroom"] < med["psutil"])),
    ]


# ---------------------------------------------------------------- agents


AGENT_RE = re.compile(r"^(stats round trip, 1 agent, one connection|poll\(\), 1 agent|poll\(\), \d+ agents concurrently)\s+n=\d+\s+p50\s+([\d.]+) µs\s+p99\s+([\d.]+) µs", re.M)
AMPLIFIED_RE = re.compile(r"overhead of (\d+) Hz polling .*?wall-clock loss median ([-\d.]+) % \(mean ([-\d.]+) %\); "
                          r"per-CPU-second loss median ([-\d.]+) % \(mean ([-\d.]+) %\); scaled to 1 Hz: "
                          r"wall-clock ([-\d.]+) % \(mean ([-\d.]+) %\), per-CPU-second ([-\d.]+) % \(mean ([-\d.]+) %\)")
OVERHEAD_RE = re.compile(r"wall-clock loss median ([-\d.]+) % \(mean ([-\d.]+) %\); per-CPU-second loss median ([-\d.]+) % \(mean ([-\d.]+) %\)")
CPU_RE = re.compile(r"CPU the MLX process spends per stats request: ([\d.]+) µs \(at 1 Hz: ([\d.]+) %")


def agents() -> list[Row]:
    """The agents bench: stats round trip 1/32 agents and the MLX workload overhead at 1 Hz."""
    env = {} if not QUICK else {"HEADROOM_BENCH_ROUNDS": "4"}
    code, out = run(["cargo", "bench", "-q", "-p", "headroom-core", "--bench", "agents"], 2400, env)
    if code != 0 or not AGENT_RE.search(out):
        why = "no agents output (is .venv with mlx missing?)" if code == 0 else f"exit {code}"
        return [Row("agent `stats` round trip / MLX overhead",
                    f"**FAILED**: cargo bench --bench agents: {why}: {out.strip()[-200:]}")]
    rows = []
    for label, p50, p99 in AGENT_RE.findall(out):
        rows.append(Row(f"agent {label}", f"p50 {float(p50):.0f} µs (p99 {float(p99):.0f} µs)",
                        "1 s sampling period", f"{float(p50) / 1e4:.3f} % of the period"))
    m = CPU_RE.search(out)
    if m:
        rows.append(Row("CPU an MLX process spends per `stats` answer", f"{float(m.group(1)):.0f} µs",
                        "1 Hz polling", f"{float(m.group(2)):.4f} % of one core"))
    m = OVERHEAD_RE.search(out)
    if m:
        wm, wa, cm, ca = (float(x) for x in m.groups())
        rows.append(Row("MLX workload (tiny mlx-lm) slowdown from 1 Hz polling",
                        f"{cm:.2f} % per CPU-second (mean {ca:.2f} %); wall clock {wm:.2f} % (mean {wa:.2f} %)",
                        "same workload, no polling, phases alternated",
                        f"{100 - cm:.2f} % of unpolled speed", "< 1 %", overhead_verdict(cm, ca)))
    else:
        rows.append(Row("MLX workload overhead", "**FAILED**: no overhead line in bench output"))
    m = AMPLIFIED_RE.search(out)
    if m:
        hz = m.group(1)
        wm, wa, cm, ca, swm, swa, scm, sca = (float(x) for x in m.groups()[1:])
        rows.append(Row(f"MLX workload slowdown at {hz} Hz polling (magnified {hz}×), scaled to 1 Hz",
                        f"{scm:.4f} % per CPU-second (mean {sca:.4f} %); wall clock {swm:.4f} % (mean {swa:.4f} %)",
                        f"measured at {hz} Hz: {cm:.2f} % per CPU-second (mean {ca:.2f} %), wall clock {wm:.2f} % (mean {wa:.2f} %)",
                        f"{100 - scm:.4f} % of unpolled speed at 1 Hz", "< 1 %",
                        overhead_verdict(max(scm, swm), max(sca, swa))))
    else:
        rows.append(Row("MLX workload overhead, magnified", "**FAILED**: no magnified overhead line in bench output"))
    return rows


# ---------------------------------------------------------------- serve


HTTP_RE = re.compile(r"^(headroom|node_exporter) (/\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)", re.M)


def http() -> list[Row]:
    """`cargo bench -p headroom-server`: /metrics latency against node_exporter."""
    env = {"HEADROOM_BENCH_N": "600"} if QUICK else {}
    code, out = run(["cargo", "bench", "-q", "-p", "headroom-server"], 1800, env)
    found = {f"{who} {path}": (float(p50), float(p99), int(size))
             for who, path, _n, p50, p99, _mean, size in HTTP_RE.findall(out)}
    if code != 0 or "headroom /metrics" not in found:
        return [Row("`/metrics` scrape latency", f"**FAILED**: cargo bench -p headroom-server ({code}): {out.strip()[-200:]}")]
    p50, p99, size = found["headroom /metrics"]
    node = found.get("node_exporter /metrics")
    rows = []
    if node:
        rows.append(Row("`/metrics` scrape, loopback keep-alive", f"p50 {p50:.0f} µs (p99 {p99:.0f} µs), {size} B",
                        f"node_exporter (meminfo, pressure, vmstat collectors): p50 {node[0]:.0f} µs (p99 {node[1]:.0f} µs), {node[2]} B",
                        f"{p50 / node[0]:.2f}× node_exporter"))
    else:
        rows.append(Row("`/metrics` scrape", f"p50 {p50:.0f} µs (p99 {p99:.0f} µs)",
                        "**MISSING**: node_exporter row (apt-get install prometheus-node-exporter)"))
    snap = found.get("headroom /api/snapshot")
    if snap:
        rows.append(Row("`/api/snapshot` (JSON)", f"p50 {snap[0]:.0f} µs (p99 {snap[1]:.0f} µs), {snap[2]} B",
                        "headroom `/metrics`", f"{snap[0] / p50:.2f}× /metrics"))
    return rows


SERVE_RE = {
    "cpu": re.compile(r"CPU\s+([\d.]+) % of one core"),
    "hwm": re.compile(r"max RSS \(VmHWM\)\s+([\d.]+) MB\s+\(RSS at end ([\d.]+) MB\)"),
    "db": re.compile(r"DB growth\s+([\d.]+) MB/day"),
}


def proc_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def node_exporter_idle(secs: int) -> tuple[float, float] | str:
    """CPU % of one core and RSS MB of node_exporter scraped every 5 s over `secs`."""
    exe = "/usr/bin/prometheus-node-exporter"
    if not Path(exe).exists():
        return "node_exporter not installed"
    import socket
    import urllib.request
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                          "--collector.meminfo", "--collector.pressure", "--collector.vmstat"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        time.sleep(5)
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), proc_ticks(p.pid)
        while time.monotonic() - t0 < secs:
            try:
                urllib.request.urlopen(url, timeout=5).read()
            except OSError:
                pass
            time.sleep(5)
        el, c1 = time.monotonic() - t0, proc_ticks(p.pid)
        rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p.pid}/status").read_text()).group(1))
        return (c1 - c0) / hz / el * 100, rss / 1024
    finally:
        p.terminate()
        p.wait()


def serve_idle() -> list[Row]:
    """scripts/measure-serve.sh (1 s sampling, history on, scraped every 5 s) next to
    node_exporter scraped every 5 s over the same window."""
    import threading
    peer: dict[str, object] = {}
    t = threading.Thread(target=lambda: peer.update(r=node_exporter_idle(SERVE_SECS)))
    t.start()
    code, out = run(["bash", "scripts/measure-serve.sh", str(SERVE_SECS), "--scrape"], SERVE_SECS + 900)
    t.join()
    m = {k: rx.search(out) for k, rx in SERVE_RE.items()}
    if code != 0 or not m["cpu"]:
        return [Row("`headroom serve` idle CPU", f"**FAILED**: scripts/measure-serve.sh ({code}): {out.strip()[-200:]}")]
    cpu = float(m["cpu"].group(1))
    r = peer.get("r")
    peer_txt = (f"node_exporter scraped every 5 s: {r[0]:.3f} % CPU, {r[1]:.1f} MB RSS"
                if isinstance(r, tuple) else f"**MISSING**: {r}")
    rows = [Row(f"`headroom serve` idle CPU over {SERVE_SECS} s (1 s sampling, history, /metrics every 5 s)",
                f"{cpu:.3f} % of one core", peer_txt,
                f"{cpu / r[0]:.1f}× node_exporter" if isinstance(r, tuple) and r[0] > 0 else "—",
                "< 0.3 %", verdict(cpu < 0.3))]
    if m["hwm"]:
        rows.append(Row("`headroom serve` resident memory", f"peak {m['hwm'].group(1)} MB, end {m['hwm'].group(2)} MB",
                        peer_txt.split(", ")[-1] if isinstance(r, tuple) else "—"))
    if m["db"]:
        day = float(m["db"].group(1))
        # The database grows by whole pages: a short window may see no new page at all.
        page_day = 4096 / SERVE_SECS * 86400 / 1048576
        rows.append(Row("`headroom serve` history growth (extrapolated)",
                        f"{day:.2f} MB/day" if day > 0 else
                        f"not resolved in {SERVE_SECS} s (under one 4 KiB page, i.e. < {page_day:.1f} MB/day)",
                        "the history bench's bytes per day (below)"))
    return rows


APP_RE = re.compile(r"all processes\s+([\d.]+) %\s+([\d.]+) MB")


def app_idle() -> list[Row]:
    """tests/app/measure-webview.sh (Xvfb, a D-Bus tray host, 1 s sampling): the same binary with the
    popover's web view kept (the behaviour before) and dropped after its keep time, side by
    side; click to first painted sample; 50 open/close cycles."""
    script = ROOT / "tests" / "app" / "measure-webview.sh"
    if not script.exists():
        return [Row("app idle CPU / PSS", "**MISSING**: tests/app/measure-webview.sh not in the tree",
                    "—", "—", "≤ 60 MB PSS", "not measured")]
    env = {"DURATION": str(SERVE_SECS), "WARMUP": "10"}
    if (TARGET / "release" / "headroom-app").exists():
        env["HEADROOM_APP_SKIP_BUILD"] = "1"
    code, out = run(["bash", str(script)], 2 * SERVE_SECS + 2400, env)
    path = ROOT / "artifacts" / "app" / "measure.json"
    if code != 0 or not path.exists():
        return [Row("app idle", f"**FAILED**: tests/app/measure-webview.sh ({code}): {out.strip()[-200:]}")]
    return app_rows(json.loads(path.read_text()))


def app_rows(m: dict) -> list[Row]:
    """The report's rows from measure-webview.sh's measure.json."""
    kept, dropped, cyc = m["kept"], m["dropped"], m["cycles"]
    mb = lambda kb: kb / 1024  # noqa: E731
    fresh, warm = m["fresh_open_ms"], m["warm_open_ms"]
    # Growth counts from the 10th cycle: the first opens start WebKit's memory monitor, which
    # opens its files once (see tests/app/measure-webview.sh).
    mid = cyc.get("after_10") or {"pss_kb": cyc["pss_kb"][0], "fds": cyc["fds"][0]}
    pss_growth = mb(cyc["pss_kb"][1] - mid["pss_kb"])
    fd_growth = cyc["fds"][1] - mid["fds"]
    secs = m["duration_s"]
    return [
        Row(f"app idle over {secs} s, popover closed, web view dropped {dropped['keep_secs']} s after (all its processes)",
            f"{dropped['cpu_percent']:.3f} % of one core, {mb(dropped['pss_kb']):.1f} MB PSS ({mb(dropped['rss_kb']):.0f} MB RSS), 1 process",
            f"web view kept (before): {kept['cpu_percent']:.3f} %, {mb(kept['pss_kb']):.1f} MB PSS ({mb(kept['rss_kb']):.0f} MB RSS), 3 processes",
            f"{mb(kept['pss_kb']) / max(mb(dropped['pss_kb']), 0.1):.1f}× less PSS",
            "≤ 60 MB PSS, CPU not higher",
            verdict(mb(dropped["pss_kb"]) <= 60 and dropped["cpu_percent"] <= kept["cpu_percent"] * 1.1)),
        Row("click to first painted sample, fresh page",
            f"median {fresh['median']} ms ({fresh['min']}–{fresh['max']}, n={fresh['n']}, "
            f"{fresh.get('unpainted', 0)} shown unpainted at the 2 s bound)",
            f"warm re-open (kept web view): median {warm['median']} ms ({warm['min']}–{warm['max']}, n={warm['n']})",
            "—", "≤ 300 ms", verdict(fresh["n"] > 0 and float(fresh["median"]) <= 300)),
        Row(f"{cyc['n']} open/close cycles (fresh page each), app process",
            f"PSS {mb(cyc['pss_kb'][0]):.1f} → {mb(mid['pss_kb']):.1f} (10th) → {mb(cyc['pss_kb'][1]):.1f} MB, "
            f"fds {cyc['fds'][0]} → {mid['fds']} (10th) → {cyc['fds'][1]}",
            "—", "—", "no growth", verdict(pss_growth <= 1 and fd_growth <= 0)),
    ]


# ---------------------------------------------------------------- live page and open window

LIVE_VIEWS = [("overview", "Overview (10-minute chart live)"),
              ("history24h", "Overview with the 24-hour chart"),
              ("mlx", "MLX tab, 8 processes with the agent")]
LIVE_SECS = int(os.environ.get("REPORT_LIVE_SECS", "60"))
LIVE_WARMUP = int(os.environ.get("REPORT_LIVE_WARMUP", "20"))
MLX_AGENTS = 8


def start_agents(runtime_dir: str, n: int, secs: int) -> list[subprocess.Popen]:
    """`n` real MLX processes under the agent (tests/app/mlx_holder.py, 16 MiB of cache each),
    reporting to the Headroom that uses `runtime_dir`; returns once all hold their cache."""
    py = str(VENV_PY) if VENV_PY.exists() else "python3"
    env = {**os.environ, "HEADROOM_RUNTIME_DIR": runtime_dir, "PYTHONPATH": str(ROOT / "agent")}
    procs = [subprocess.Popen([py, "-m", "headroom_agent", "run", str(ROOT / "tests/app/mlx_holder.py"), "16", str(secs)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    for p in procs:
        line = p.stdout.readline() if p.stdout else ""
        if not line.startswith("HOLDING"):
            raise RuntimeError(f"an MLX process under the agent did not start (said {line.strip()!r})")
    return procs


def page_figures(r: dict) -> tuple[str, str]:
    """(CPU text, per-update text) of one measure-page.mjs result."""
    c, t = r["cpu"], r["trace"]
    cpu = f"{c['rendererGpu']:.2f} % of one core (renderer {c['renderer']:.2f}, GPU {c['gpu']:.2f})"
    per = (f"scripting {t['script']['median']:.2f} ms median, {t['script']['p95']:.2f} ms p95; main thread busy "
           f"{t['busy']['median']:.1f} ms median, {t['busy']['p95']:.1f} ms p95 ({t['periods']} sample periods)")
    return cpu, per


def live_page() -> list[Row]:
    """The web UI live in headless Chromium at the popover's size against `headroom serve` (1 s
    sampling, 24 h of seeded history, 8 real MLX agents for the MLX tab): renderer + GPU CPU and
    per-update trace figures (ui/scripts/measure-page.mjs). REPORT_PAGE_BASELINE=DIST_DIR adds
    another build of the UI, measured at the same time in its own browser."""
    bin_ = headroom_bin()
    if not bin_.exists():
        return [Row("live page in Chromium", f"**MISSING**: {bin_} not built")]
    if not Path("/usr/bin/chromium").exists() and not os.environ.get("CHROMIUM"):
        return [Row("live page in Chromium", "**MISSING**: /usr/bin/chromium (apt-get install chromium)")]
    import socket
    tmp = tempfile.mkdtemp(prefix="hr-page-", dir="/tmp")
    env = {**os.environ, "HEADROOM_CONFIG": f"{tmp}/config.toml", "HEADROOM_DATA_DIR": f"{tmp}/data",
           "HEADROOM_RUNTIME_DIR": f"{tmp}/run"}
    Path(f"{tmp}/config.toml").write_text("[sampling]\ninterval_ms = 1000\n")
    run(["python3", "benches/seed_history.py", f"{tmp}/data", "24"], 300)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    serve = subprocess.Popen([str(bin_), "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    baseline = os.environ.get("REPORT_PAGE_BASELINE")
    rows: list[Row] = []
    agents: list[subprocess.Popen] = []
    try:
        time.sleep(3)
        # The owner's login URL (the per-user secret serve uses), as a user would open it.
        login_url = subprocess.run([str(bin_), "serve", "--print-url", "--listen", f"127.0.0.1:{port}"],
                                   env=env, capture_output=True, text=True, check=True).stdout.strip()
        for view, label in LIVE_VIEWS:
            if view == "mlx":
                agents = start_agents(f"{tmp}/run", MLX_AGENTS, LIVE_SECS + LIVE_WARMUP + 300)
            args = ["node", "ui/scripts/measure-page.mjs", "--url", login_url, "--view", view,
                    "--warmup", str(LIVE_WARMUP), "--secs", str(LIVE_SECS), "--trace", "20", "--json"]
            if baseline:
                args += ["--variant", f"this={ROOT / 'ui' / 'dist'}", "--variant", f"baseline={baseline}"]
            code, out = run(args, LIVE_SECS + LIVE_WARMUP + 600)
            line = next((x for x in out.splitlines() if x.startswith("[{")), None)
            if code != 0 or not line:
                rows.append(Row(f"live page, {label}", f"**FAILED**: measure-page.mjs ({code}): {out.strip()[-200:]}"))
                continue
            results = {r["variant"]: r for r in json.loads(line)}
            mine = results.get("this") or results.get("serve")
            peer = results.get("baseline")
            cpu, per = page_figures(mine)
            peer_cpu, peer_per = page_figures(peer) if peer else ("—", "—")
            ratio = (f"{peer['cpu']['rendererGpu'] / mine['cpu']['rendererGpu']:.1f}× less"
                     if peer and mine["cpu"]["rendererGpu"] > 0 else "—")
            rows.append(Row(f"live page in Chromium over {LIVE_SECS} s, {label}: renderer + GPU",
                            cpu, f"baseline UI: {peer_cpu}" if peer else "—", ratio, "≤ 1 %",
                            verdict(mine["cpu"]["rendererGpu"] <= 1.0)))
            rows.append(Row(f"live page, {label}: per update (trace)", per,
                            f"baseline UI: {peer_per}" if peer else "—"))
    finally:
        for p in agents:
            p.terminate()
        serve.terminate()
        serve.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def app_open() -> list[Row]:
    """tests/app/measure.sh with the popover open on each view (Xvfb, 1 s sampling; the app and
    its WebKit processes). REPORT_APP_BASELINE=BINARY measures another build at the same time
    (its own Xvfb and D-Bus session)."""
    script = ROOT / "tests" / "app" / "measure.sh"
    binary = TARGET / "release" / "headroom-app"
    if not binary.exists():
        return [Row("app, window open", f"**MISSING**: {binary} not built")]
    baseline = os.environ.get("REPORT_APP_BASELINE")
    rows = []
    for view, label in LIVE_VIEWS:
        base_env = {"DURATION": str(LIVE_SECS), "WARMUP": str(LIVE_WARMUP), "WINDOW": "open", "VIEW": view,
                    "AGENTS": str(MLX_AGENTS)}
        jobs = {"this": {**base_env, "HEADROOM_APP_BIN": str(binary)}}
        if baseline:
            jobs["baseline"] = {**base_env, "HEADROOM_APP_BIN": baseline,
                                "ARTIFACTS": str(ROOT / "artifacts" / "app" / "baseline")}
        log(f"$ tests/app/measure.sh WINDOW=open VIEW={view} ({', '.join(jobs)} side by side)")
        procs = {k: subprocess.Popen(["bash", str(script)], cwd=ROOT, env={**os.environ, **e},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for k, e in jobs.items()}
        got = {}
        for k, p in procs.items():
            out, _ = p.communicate(timeout=LIVE_SECS + LIVE_WARMUP + 900)
            m = APP_RE.search(out)
            got[k] = float(m.group(1)) if p.returncode == 0 and m else out.strip()[-200:]
        mine, peer = got["this"], got.get("baseline")
        if not isinstance(mine, float):
            rows.append(Row(f"app, window open on {label}", f"**FAILED**: tests/app/measure.sh: {mine}"))
            continue
        rows.append(Row(f"app with the window open over {LIVE_SECS} s, {label} (app + WebKit processes)",
                        f"{mine:.2f} % of one core",
                        f"baseline build: {peer:.2f} %" if isinstance(peer, float) else "app idle, window hidden (row above)",
                        f"{peer / mine:.1f}× less" if isinstance(peer, float) and mine > 0 else "—",
                        "≤ 2 %", verdict(mine <= 2.0)))
    return rows


# ---------------------------------------------------------------- history and soak


HIST_RE = {
    "record": re.compile(r"record\(\) on the sampler thread: median (\d+) ns \(min (\d+), max (\d+)"),
    "write": re.compile(r"write cost per sample .*?: median ([\d.]+) us \(min ([\d.]+), max ([\d.]+)"),
    "day": re.compile(r"bytes per day at 1 s: ([\d.]+) MiB full-rate \+ ([\d.]+) MiB of minute rows"),
    "steady": re.compile(r"steady-state size .*?: ([\d.]+) MiB"),
}


def history() -> list[Row]:
    code, out = run(["cargo", "bench", "-q", "-p", "headroom-core", "--bench", "history"], 1200)
    m = {k: rx.search(out) for k, rx in HIST_RE.items()}
    if code != 0 or not m["write"]:
        return [Row("history write cost", f"**FAILED**: cargo bench --bench history ({code}): {out.strip()[-200:]}")]
    rows = []
    if m["record"]:
        a, lo, hi = m["record"].groups()
        rows.append(Row("history `record()` on the sampling path", f"{a} ns ({lo}–{hi})",
                        "1 s sampling period", f"{int(a) / 1e7:.5f} % of the period"))
    w, lo, hi = m["write"].groups()
    rows.append(Row("history write per sample (writer thread, WAL, batched)", f"{w} µs ({lo}–{hi})",
                    "1 s sampling period", f"{float(w) / 1e4:.4f} % of one core"))
    if m["day"]:
        full, minute = m["day"].groups()
        rows.append(Row("history database per day at 1 s", f"{full} MiB full rate + {minute} MiB minute rows",
                        f"steady state (24 h full rate + 30 days of minutes): {m['steady'].group(1) if m['steady'] else '?'} MiB"))
    return rows


SOAK_RE = re.compile(r"^SOAK (.*)$", re.M)


def soak() -> list[Row]:
    """The 7-simulated-day soak (an #[ignore]d test), its start/end resources."""
    days = os.environ.get("REPORT_SOAK_DAYS", "1" if QUICK else "7")
    code, out = run(["cargo", "test", "-q", "--release", "-p", "headroom-core", "--test", "soak",
                     "--", "--ignored", "--nocapture", "soak_full"], 7200, {"HEADROOM_SOAK_DAYS": days})
    lines = SOAK_RE.findall(out)
    if code != 0 or not lines:
        return [Row(f"soak ({days} simulated days)", f"**FAILED** ({code}): {out.strip()[-300:]}")]
    return [Row(f"soak, {days} simulated days at 1 s ({k})", v) for k, v in
            (line.split(": ", 1) for line in lines if ": " in line)]


# ---------------------------------------------------------------- main


SECTIONS = [("per-sample cost", per_sample), ("whole process", whole_process), ("agents", agents),
            ("HTTP", http), ("serve idle", serve_idle), ("app idle", app_idle),
            ("live page", live_page), ("app open", app_open),
            ("history", history), ("soak", soak)]


def table(rows: list[Row]) -> list[str]:
    out = ["| figure | measured (median, spread) | peer / floor in the same run | ratio | target | |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.figure, r.value, r.peer, r.ratio, r.target, r.verdict]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return out


def document(head: list[str], rows: list[Row], started: float, pending: list[str]) -> str:
    """The Markdown report; `pending` names sections not run yet (a partial report says so)."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    status = (f"**Partial report: still to run: {', '.join(pending)}**" if pending
              else f"Load average at end: {load}")
    return "\n".join([
        "# Headroom benchmark report", "",
        "Generated by `bash benches/report.sh` — do not edit by hand.", "", *head,
        f"- {status}; total time {(time.time() - started) / 60:.1f} min; "
        f"repetitions per interleaved figure: {REPEATS}", "", *table(rows), ""])


def main() -> int:
    only = set(sys.argv[1:])
    head = machine()
    for line in head:
        log(line)
    rows: list[Row] = []
    started = time.time()
    chosen = [(n, f) for n, f in SECTIONS if not only or n.split()[0] in only]
    for i, (name, fn) in enumerate(chosen):
        log(f"== {name}")
        try:
            rows += fn()
        except Exception as e:  # a broken sub-bench is a row, never a silent gap
            rows.append(Row(name, f"**FAILED**: {type(e).__name__}: {e}"))
        if not only:  # written after every section: an interrupted run still leaves a report
            pending = [n for n, _ in chosen[i + 1:]]
            (ROOT / "benches" / "REPORT.md").write_text(document(head, rows, started, pending))
    text = document(head, rows, started, [])
    print(text)
    if not only:
        (ROOT / "benches" / "REPORT.md").write_text(text)
        log("written to benches/REPORT.md")
    failed = sum("**FAILED**" in r.value for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
