// What the live page costs in headless Chromium against a running `headroom serve`:
//   - CPU % of one core of the browser's renderer and GPU processes (utime+stime from
//     /proc/<pid>/stat) over `--secs` seconds after `--warmup` seconds;
//   - Performance.getMetrics deltas over the same window (ScriptDuration, LayoutDuration,
//     RecalcStyleDuration, TaskDuration) per second, i.e. per update at 1 s sampling;
//   - then a DevTools trace of `--trace` seconds: the renderer main thread's scripting,
//     style + layout, paint and total busy time in each 1 s sample period, median and p95.
//
//   node scripts/measure-page.mjs --url "$(headroom serve --print-url)" [--view overview|history24h|mlx]
//        [--variant NAME=DIST_DIR ...] [--warmup 20] [--secs 60] [--trace 20] [--json]
//        [--save-trace PREFIX]   (writes PREFIX-NAME.json, loadable in DevTools' Performance panel)
//
// `--url` is the owner's login URL (`?token=` with the per-user secret); variants' pages carry
// the same query, so their API calls (forwarded to `serve`) are the owner's too.
// Without --variant the page is the one `serve` embeds. Each `--variant NAME=DIR` serves that
// built UI (`ui/dist` of some revision) from a small local server that forwards /api to
// `--url`; all variants run at once, each in its own browser, so they share one window of
// machine load (side by side). Prints one line per variant, or JSON with --json.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

/** Parsed command line: `--key value` pairs, `--variant` repeatable, `--json` a switch. */
export function parseArgs(argv) {
  const o = { url: '', view: 'overview', variants: [], warmup: 20, secs: 60, trace: 20, json: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--url') o.url = next();
    else if (a === '--view') o.view = next();
    else if (a === '--variant') {
      const v = next();
      const eq = v.indexOf('=');
      if (eq < 1) throw new Error(`--variant ${v}: expected NAME=DIST_DIR`);
      o.variants.push({ name: v.slice(0, eq), dist: v.slice(eq + 1) });
    } else if (['--warmup', '--secs', '--trace'].includes(a)) {
      const n = Number(next());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a} ${argv[i]}: expected seconds >= 0`);
      o[a.slice(2)] = n;
    } else if (a === '--json') o.json = true;
    else if (a === '--save-trace') o.saveTrace = next();
    else throw new Error(`unknown argument ${a} (see the comment at the top of this script)`);
  }
  if (!o.url) throw new Error('--url of a running `headroom serve` is required');
  if (!['overview', 'history24h', 'mlx'].includes(o.view)) throw new Error(`--view ${o.view}: expected overview, history24h or mlx`);
  return o;
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

/** Serves `dist` and forwards everything under /api (streams included) to `upstream`. */
export function serveDist(dist, upstream) {
  const up = new URL(upstream);
  const server = createServer((req, res) => {
    if (req.url.startsWith('/api/')) {
      // As if the page came from `serve` itself (it checks Host and Origin).
      const headers = { ...req.headers, host: up.host };
      if (headers.origin) headers.origin = up.origin;
      delete headers.referer;
      const fwd = request({ host: up.hostname, port: up.port, path: req.url, method: req.method, headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      fwd.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(fwd);
      return;
    }
    const path = normalize(join(dist, decodeURIComponent(req.url.split('?')[0] === '/' ? '/index.html' : req.url.split('?')[0])));
    if (!path.startsWith(dist) || !existsSync(path) || !statSync(path).isFile()) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)));
}

/** Starts Chromium with a DevTools port; resolves with the process and its websocket URL. */
function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'headroom-page-'));
  const proc = spawn(CHROMIUM, [...FLAGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((res, rej) => {
    let err = '';
    const t = setTimeout(() => rej(new Error(`chromium did not start: ${err.slice(-300)}`)), 30_000);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(t); res({ proc, ws: m[1], profile }); }
    });
    proc.on('exit', (c) => rej(new Error(`chromium exited (${c}): ${err.slice(-300)}`)));
  });
}

/** The process and its descendants: pid → Chromium process type (`browser` for the root). */
function processTree(root) {
  const out = new Map();
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop();
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser';
    const sub = /--utility-sub-type=([\w.]+)/.exec(cmd)?.[1];
    out.set(pid, sub ? `${type}:${sub.split('.').pop()}` : type);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (c) todo.push(Number(c));
      } catch { /* gone */ }
    }
  }
  return out;
}

function ticks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch { return null; }
}

const CLK_TCK = 100; // USER_HZ on Linux (getconf CLK_TCK): /proc/<pid>/stat counts in these

/** The short process type a CPU figure is filed under: renderer, gpu, browser, utility. */
const typeKey = (type) => (type.startsWith('renderer') ? 'renderer' : type === 'gpu-process' ? 'gpu' : type.split(':')[0]);

/** CPU ticks of each thread of the renderer and GPU processes, keyed `type/thread name`
 * (numbered pool threads folded together: `ThreadPoolForegroundWorker`, not one per id). */
function threadTicks(tree) {
  const out = new Map();
  for (const [pid, type] of tree) {
    const key = typeKey(type);
    if (key !== 'renderer' && key !== 'gpu') continue;
    let tids = [];
    try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) {
      let name = '?';
      try { name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/\d+$/, ''); } catch { continue; }
      const t = ticks(`${pid}/task/${tid}`);
      if (t == null) continue;
      out.set(`${pid}:${tid}`, { name: `${key}/${name}`, t });
    }
  }
  return out;
}

/** CPU ticks per process type (and per renderer/GPU thread) over a window: call once to
 * start, the result to stop. */
function cpuWindow(root) {
  const tree0 = processTree(root);
  const start = new Map([...tree0.keys()].map((p) => [p, ticks(p) ?? 0]));
  const threads0 = threadTicks(tree0);
  const t0 = performance.now();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const byType = {};
    const tree = processTree(root);
    for (const [pid, type] of tree) {
      const now = ticks(pid);
      if (now == null) continue;
      const key = typeKey(type);
      byType[key] = (byType[key] ?? 0) + (now - (start.get(pid) ?? 0)) / CLK_TCK / secs * 100;
    }
    const byThread = {};
    for (const [id, { name, t }] of threadTicks(tree)) {
      const d = t - (threads0.get(id)?.t ?? 0);
      if (d > 0) byThread[name] = (byThread[name] ?? 0) + d / CLK_TCK / secs * 100;
    }
    return { secs, byType, byThread };
  };
}

// Trace events by what DevTools calls them (Scripting, Rendering = style + layout, Painting).
const SCRIPT = new Set(['FunctionCall', 'EvaluateScript', 'TimerFire', 'EventDispatch', 'FireAnimationFrame',
  'RunMicrotasks', 'v8.callFunction', 'v8.run', 'V8.Execute', 'FireIdleCallback', 'v8.evaluateModule']);
const STYLE_LAYOUT = new Set(['UpdateLayoutTree', 'RecalculateStyles', 'Layout', 'ParseAuthorStyleSheet', 'InvalidateLayout', 'ScheduleStyleRecalculation']);
const PAINT = new Set(['Paint', 'PrePaint', 'Layerize', 'UpdateLayer', 'PaintImage', 'CompositeLayers', 'Commit', 'RasterTask']);

/** Total length of the union of [start, end) intervals, clipped to [lo, hi). */
function unionLength(intervals, lo, hi) {
  const xs = intervals.map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)]).filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of xs) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

function percentile(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}
const median = (v) => percentile(v, 0.5);

/**
 * Per 1 s sample period of a Chromium trace: milliseconds of scripting, style + layout,
 * paint and total busy time (top-level tasks) on the busiest renderer main thread.
 */
export function perUpdate(events, periodMs = 1000) {
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || typeof e.dur !== 'number' || !mains.has(`${e.pid}:${e.tid}`)) continue;
    const k = `${e.pid}:${e.tid}`;
    if (!byThread.has(k)) byThread.set(k, []);
    byThread.get(k).push(e);
  }
  const main = [...byThread.values()].sort((a, b) => b.filter((e) => SCRIPT.has(e.name)).length - a.filter((e) => SCRIPT.has(e.name)).length)[0] ?? [];
  if (!main.length) return { periods: 0 };
  const t0 = Math.min(...main.map((e) => e.ts));
  const t1 = Math.max(...main.map((e) => e.ts + e.dur));
  const n = Math.floor((t1 - t0) / (periodMs * 1000));
  const spans = (set) => main.filter((e) => set === null ? e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask' : set.has(e.name)).map((e) => [e.ts, e.ts + e.dur]);
  const kinds = { script: spans(SCRIPT), styleLayout: spans(STYLE_LAYOUT), paint: spans(PAINT), busy: spans(null) };
  const out = { periods: n };
  for (const [k, iv] of Object.entries(kinds)) {
    const per = [];
    for (let i = 0; i < n; i += 1) {
      const lo = t0 + i * periodMs * 1000;
      per.push(unionLength(iv, lo, lo + periodMs * 1000) / 1000);
    }
    out[k] = { median: median(per), p95: percentile(per, 0.95), mean: per.reduce((a, b) => a + b, 0) / (n || 1) };
  }
  return out;
}

async function trace(cdp, secs) {
  const events = [];
  cdp.on('Tracing.dataCollected', (d) => events.push(...d.value));
  const done = new Promise((res) => cdp.once('Tracing.tracingComplete', res));
  await cdp.send('Tracing.start', {
    categories: 'devtools.timeline,disabled-by-default-devtools.timeline,toplevel,v8.execute,blink,cc',
    transferMode: 'ReportEvents',
  });
  await new Promise((r) => setTimeout(r, secs * 1000));
  await cdp.send('Tracing.end');
  await done;
  return events;
}

async function metrics(cdp) {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(m.map((x) => [x.name, x.value]));
}

/** Opens the page on `view` and waits until it shows live data. */
async function open(page, base, view) {
  await page.setViewportSize({ width: 360, height: 560 });
  await page.goto(`${base}#${view === 'mlx' ? 'mlx' : 'overview'}`);
  await page.waitForSelector('[data-testid=pressure]:not(.unknown)', { timeout: 30_000 });
  if (view === 'history24h') {
    await page.getByRole('radio', { name: '24 hours' }).click();
    await page.waitForTimeout(500);
  }
  if (view === 'mlx') await page.waitForSelector('[data-testid^=proc-]', { timeout: 30_000 }).catch(() => {});
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const variants = o.variants.length ? o.variants : [{ name: 'serve', dist: null }];
  const runs = [];
  const cleanup = [];
  try {
    for (const v of variants) {
      let base = o.url;
      if (v.dist) {
        if (!existsSync(join(v.dist, 'index.html'))) throw new Error(`--variant ${v.name}: ${v.dist}/index.html missing (build the UI first)`);
        const server = await serveDist(normalize(v.dist), o.url);
        cleanup.push(() => server.close());
        base = `http://127.0.0.1:${server.address().port}/${new URL(o.url).search}`;
      }
      const b = await launch();
      cleanup.push(() => { b.proc.kill(); rmSync(b.profile, { recursive: true, force: true }); });
      const browser = await chromium.connectOverCDP(b.ws);
      const page = browser.contexts()[0].pages()[0] ?? await browser.contexts()[0].newPage();
      await open(page, base, o.view);
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Performance.enable');
      runs.push({ v, b, page, cdp });
    }
    await new Promise((r) => setTimeout(r, o.warmup * 1000));
    const stops = runs.map((r) => ({ r, stop: cpuWindow(r.b.proc.pid) }));
    const m0 = await Promise.all(runs.map((r) => metrics(r.cdp)));
    await new Promise((r) => setTimeout(r, o.secs * 1000));
    const m1 = await Promise.all(runs.map((r) => metrics(r.cdp)));
    const cpu = stops.map((s) => s.stop());
    const traces = await Promise.all(runs.map((r) => (o.trace > 0 ? trace(r.cdp, o.trace) : Promise.resolve([]))));
    if (o.saveTrace) traces.forEach((t, i) => writeFileSync(`${o.saveTrace}-${runs[i].v.name}.json`, JSON.stringify({ traceEvents: t })));
    const results = runs.map((r, i) => {
      const per = (k) => ((m1[i][k] - m0[i][k]) * 1000) / cpu[i].secs; // ms per second = per update at 1 Hz
      const c = cpu[i].byType;
      return {
        variant: r.v.name, view: o.view, secs: Math.round(cpu[i].secs),
        cpu: { rendererGpu: (c.renderer ?? 0) + (c.gpu ?? 0), renderer: c.renderer ?? 0, gpu: c.gpu ?? 0, all: Object.values(c).reduce((a, b) => a + b, 0), threads: cpu[i].byThread },
        metricsPerSecondMs: { script: per('ScriptDuration'), layout: per('LayoutDuration'), recalcStyle: per('RecalcStyleDuration'), task: per('TaskDuration') },
        trace: perUpdate(traces[i]),
      };
    });
    if (o.json) console.log(JSON.stringify(results));
    else for (const r of results) console.log(describe(r));
  } finally {
    for (const c of cleanup.reverse()) { try { c(); } catch { /* already gone */ } }
  }
}

const f = (x, d = 2) => (x == null ? '?' : x.toFixed(d));

/** One human line per variant. */
export function describe(r) {
  const t = r.trace;
  return `${r.variant} ${r.view}: renderer+GPU ${f(r.cpu.rendererGpu)} % of one core (renderer ${f(r.cpu.renderer)}, GPU ${f(r.cpu.gpu)}, all browser processes ${f(r.cpu.all)}) over ${r.secs} s; `
    + `per update: script ${f(t.script?.median)} ms median, ${f(t.script?.p95)} ms p95; style+layout ${f(t.styleLayout?.median)}/${f(t.styleLayout?.p95)} ms; `
    + `paint ${f(t.paint?.median)}/${f(t.paint?.p95)} ms; main thread busy ${f(t.busy?.median)}/${f(t.busy?.p95)} ms (${t.periods} periods); `
    + `getMetrics per s: script ${f(r.metricsPerSecondMs.script)} ms, layout ${f(r.metricsPerSecondMs.layout)} ms, style ${f(r.metricsPerSecondMs.recalcStyle)} ms, task ${f(r.metricsPerSecondMs.task)} ms; `
    + `threads (% of one core): ${Object.entries(r.cpu.threads ?? {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${f(v)}`).join(', ')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(() => process.exit(0), (e) => { console.error(`measure-page: ${e.message}`); process.exit(1); });
}
