// Development stand-in for `headroom serve` (NOT used by the tests): serves ui/dist and
// /api/snapshot + /api/stream from `target/debug/headroom status --json`, or from a
// fabricated MLX-heavy sample with `--fake`. For looking at the UI without the daemon.
//   node scripts/dev-backend.mjs [--port 9178] [--fake]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { extname, join, normalize } from 'node:path';

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] || 9178);
const fake = args.includes('--fake');
const dist = new URL('../dist/', import.meta.url).pathname;
const bin = new URL('../../target/debug/headroom', import.meta.url).pathname;
const GIB = 2 ** 30;
let tick = 0;
const events = [];
let config = {
  sampling: { interval_ms: 1000, mlx_poll_ms: 1000, mlx_rescan_ms: 5000 },
  server: { listen: '127.0.0.1:9178' },
  app: { title: 'used_percent', icon_style: 'color', launch_at_login: false, http_server: false },
  history: { full_rate_hours: 24, minute_days: 30, max_db_mb: 256 },
  wired_limit: { reapply_on_start: false },
  linux_pressure: { critical_full_avg10: 10, critical_available_percent: 5, warn_some_avg10: 10, warn_available_percent: 15 },
  rules: [
    { id: 'pressure-warn', name: 'Memory pressure is elevated', metric: 'pressure_level', comparison: 'above', threshold: 0, recovery: 0, for_secs: 10, samples: 1, cooldown_secs: 600, actions: [{ type: 'notify' }, { type: 'clear_cache', scope: 'all' }], enabled: true },
    { id: 'free-low', name: 'Free memory is below 15%', metric: 'free_percent', comparison: 'below', threshold: 15, recovery: 20, for_secs: 10, samples: 1, cooldown_secs: 600, actions: [{ type: 'notify' }], enabled: true },
    { id: 'swap-used', name: 'Swap use is above 1 GB', metric: 'swap_used', comparison: 'above', threshold: 2 ** 30, recovery: 2 ** 29, for_secs: 0, samples: 1, cooldown_secs: 3600, actions: [{ type: 'notify' }], enabled: true },
  ],
};
// A rough stand-in for the engine's validation, enough to see the form's error states.
function issues(doc) {
  const out = [];
  (doc.rules ?? []).forEach((r, i) => {
    if (r.metric === 'free_percent' && !(r.threshold >= 0 && r.threshold <= 100)) {
      const key = `rules[${i}].threshold`;
      out.push({ key, value: String(r.threshold), allowed: '0 to 100', message: `${key} = ${r.threshold}: out of range; allowed: 0 to 100` });
    }
  });
  return out;
}

function fabricate() {
  tick += 1;
  const cache = (1.2 + Math.sin(tick / 20)) * GIB;
  return {
    platform: 'macos', at: new Date().toISOString(),
    memory: { total: 64 * GIB, used: 41.3 * GIB + Math.sin(tick / 10) * GIB, app: 28.4 * GIB, wired: 9.1 * GIB, compressed: 3.8 * GIB, cached: 14.2 * GIB, free: 8.5 * GIB, available: 22.7 * GIB },
    swap: { total: 4 * GIB, used: 1.3 * GIB }, pressure: { level: tick % 60 < 40 ? 'normal' : 'warn', free_percent: 35 },
    rates: { swapins: 0, swapouts: 12_345, compressions: 2.5 * 2 ** 20, decompressions: 1.1 * 2 ** 20, pageins: 6 * 2 ** 20 },
    gpu: { wired_limit: 0, recommended_working_set: 48 * GIB },
    mlx: [
      { pid: 4242, name: 'mlx_lm.server', attached: true, footprint: 22.1 * GIB, active: 18.4 * GIB, cache, peak: 20.2 * GIB, cache_limit: 2 * GIB, memory_limit: 48 * GIB, wired_limit: 0, backend: 'gpu', mlx_version: '0.32.0' },
      { pid: 5151, name: 'python3 chat_with_a_very_long_name.py', attached: false, footprint: 3.2 * GIB, hint: 'python -m headroom_agent run chat.py' },
    ],
    unavailable: [],
  };
}

function sample() {
  if (fake) return Promise.resolve(fabricate());
  return new Promise((res, rej) => execFile(bin, ['status', '--json'], (e, out) => (e ? rej(e) : res(JSON.parse(out)))));
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const clients = new Set();
setInterval(async () => {
  const s = await sample();
  for (const c of clients) c.write(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
}, 1000);

createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const json = (v, code = 200) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(v));
  if (path === '/api/snapshot') return json(await sample());
  if (path === '/api/events') return json(events);
  if (path === '/api/history') return json([]);
  if (path === '/api/config' && req.method === 'GET') return json({ config, path: '/tmp/dev-headroom.toml', error: fake && process.env.BROKEN ? 'TOML parse error at line 3, column 9: expected `=`' : null, issues: [] });
  if (path === '/api/config' && req.method === 'PUT') {
    let body = '';
    for await (const c of req) body += c;
    const doc = JSON.parse(body);
    const bad = issues(doc);
    if (bad.length) return json({ error: bad[0].message, kind: 'bad_request', status: 400, param: 'config', issues: bad }, 400);
    if (!req.url.includes('dry_run')) config = doc;
    return json({ valid: true, saved: !req.url.includes('dry_run'), path: '/tmp/dev-headroom.toml', config: doc });
  }
  if (path === '/api/actions/clear-cache') {
    const ev = { at: new Date().toISOString(), severity: 'info', kind: { type: 'action_taken', action: 'clear_cache', freed: 1.2 * GIB, succeeded: 1, failed: 0 }, message: 'Cleared 1.2 GB of MLX cache in 1 process' };
    events.push(ev);
    for (const c of clients) c.write(`event: journal\ndata: ${JSON.stringify(ev)}\n\n`);
    return json({ failed: 0, freed: 1.2 * GIB, succeeded: 1, outcomes: [{ pid: 4242, name: 'mlx_lm.server', ok: true, freed: 1.2 * GIB, previous: 1.2 * GIB, current: 0, error: null }] });
  }
  if (path === '/api/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(': hi\n\n');
    clients.add(res);
    res.on('close', () => clients.delete(res));
    return;
  }
  if (path.startsWith('/api/')) return json({ error: 'not in the dev backend' }, 404);
  const file = normalize(join(dist, path === '/' ? 'index.html' : path));
  if (!file.startsWith(dist)) return res.writeHead(403).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch { res.writeHead(404).end('not found'); }
}).listen(port, '127.0.0.1', () => console.log(`dev backend on http://127.0.0.1:${port}/`));
