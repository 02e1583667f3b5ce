// The HTTP + SSE transport against a real little HTTP server on loopback: requests,
// auth, errors, the stream, reconnection with backoff, idle timeout and unsubscribe.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, HttpTransport, TauriTransport } from '../src/transport';
import { SseParser, backoffDelay, type SseMessage, type StreamStatus } from '../src/transport/sse';
import type { Config, Event, Snapshot } from '../src/api-types';

const snap = (n: number): Snapshot => ({
  platform: 'linux',
  at: new Date(1_700_000_000_000 + n * 1000).toISOString(),
  memory: { total: 16 * 2 ** 30, used: n, app: null, wired: null, compressed: null, cached: null, free: null, available: null },
  swap: { total: 0, used: 0 },
  pressure: { level: 'normal', free_percent: 50 },
  rates: { swapins: null, swapouts: null, compressions: null, decompressions: null, pageins: null },
  gpu: { wired_limit: null, recommended_working_set: null },
  mlx: [],
  unavailable: [],
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

class TestServer {
  server: Server;
  port = 0;
  clients = new Set<ServerResponse>();
  requests: { method?: string; url?: string; auth?: string; body: string }[] = [];
  streamConnects = 0;
  streamMode: 'normal' | 'silent' | 'close-after-one' | '500' = 'normal';
  routes = new Map<string, Handler>();

  constructor() {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
        const path = (req.url ?? '').split('?')[0] ?? '';
        if (path === '/api/stream') return this.stream(req, res);
        const h = this.routes.get(`${req.method} ${path}`);
        if (h) return h(req, res);
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such endpoint"}');
      });
    });
  }

  stream(_req: IncomingMessage, res: ServerResponse) {
    this.streamConnects += 1;
    if (this.streamMode === '500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.flushHeaders();
    if (this.streamMode === 'silent') { this.clients.add(res); res.on('close', () => this.clients.delete(res)); return; }
    // A snapshot split across writes, CRLF line endings, a comment and a journal event.
    const data = JSON.stringify(snap(this.streamConnects));
    res.write(`: hello\r\nevent: snapshot\r\ndata: ${data.slice(0, 10)}`);
    setTimeout(() => {
      res.write(`${data.slice(10)}\r\n\r\n`);
      const ev: Event = { at: new Date().toISOString(), severity: 'info', kind: { type: 'storage_recovered' }, message: 'ok' };
      res.write(`event: journal\ndata: ${JSON.stringify(ev)}\n\n`);
      if (this.streamMode === 'close-after-one') res.end();
    }, 5);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  push(n: number) {
    for (const c of this.clients) c.write(`event: snapshot\ndata: ${JSON.stringify(snap(n))}\n\n`);
  }

  async listen(port = 0) {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close() {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  get base() { return `http://127.0.0.1:${this.port}`; }
}

const until = async (cond: () => boolean, ms = 5000, what = 'condition') => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const start = async (port = 0) => { const s = await new TestServer().listen(port); cleanups.push(() => s.close()); return s; };

describe('SseParser', () => {
  it('parses fields, multi-line data, comments, CR/CRLF/LF and chunk boundaries', () => {
    const got: SseMessage[] = [];
    const p = new SseParser((m) => got.push(m));
    const text = ': comment\nevent: a\ndata: 1\ndata: 2\n\ndata:x\r\n\r\nevent: b\rdata: y\r\rretry: 1500\nid: 7\ndata\n\n';
    for (const ch of text) p.push(ch); // worst case: one character at a time
    expect(got).toEqual([
      { event: 'a', data: '1\n2', id: undefined },
      { event: 'message', data: 'x', id: undefined },
      { event: 'b', data: 'y', id: undefined },
      { event: 'message', data: '', id: '7' },
    ]);
    expect(p.retry).toBe(1500);
  });
  it('backs off exponentially up to the cap', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, 500, 5000, mid))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
    expect(backoffDelay(1, 500, 5000, () => 0)).toBe(400);
    expect(backoffDelay(1, 500, 5000, () => 1)).toBe(600);
  });
});

describe('HttpTransport requests', () => {
  it('sends the bearer token and the documented paths and bodies', async () => {
    const s = await start();
    s.routes.set('GET /api/snapshot', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snap(1))));
    s.routes.set('POST /api/actions/clear-cache', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"failed":0,"freed":42,"outcomes":[{"current":0,"error":null,"freed":42,"name":"python","ok":true,"pid":12,"previous":42}],"succeeded":1}'));
    s.routes.set('POST /api/actions/limit', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    s.routes.set('GET /api/history', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    const t = new HttpTransport({ base: s.base, token: 's3cret' });
    expect((await t.snapshot()).memory.total).toBe(16 * 2 ** 30);
    expect(await t.clearCache([12, 13])).toEqual([{ current: 0, error: null, freed: 42, name: 'python', ok: true, pid: 12, previous: 42 }]);
    await t.clearCache();
    await t.setLimit('cache', 1024, [5]);
    await t.history(3600);
    expect(s.requests.map((r) => [r.method, r.url, r.auth, r.body])).toEqual([
      ['GET', '/api/snapshot', 'Bearer s3cret', ''],
      ['POST', '/api/actions/clear-cache', 'Bearer s3cret', '{"pids":[12,13]}'],
      ['POST', '/api/actions/clear-cache', 'Bearer s3cret', '{"pids":[]}'],
      ['POST', '/api/actions/limit', 'Bearer s3cret', '{"kind":"cache","bytes":1024,"pids":[5]}'],
      ['GET', '/api/history?since=3600', 'Bearer s3cret', ''],
    ]);
    expect(t.streamUrl()).toBe(`${s.base}/api/stream?token=s3cret`);
  });

  it('turns a 400 into an ApiError carrying the engine message and body', async () => {
    const s = await start();
    // The operation's OpError, as `headroom serve` sends it.
    const issue = { key: 'rules[0].threshold', value: '-1', allowed: '0..=100', message: 'rules[0].threshold: -1 is out of range' };
    const body = { error: issue.message, kind: 'bad_request', status: 400, param: 'config', issues: [issue] };
    s.routes.set('PUT /api/config', (_q, r) => r.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    const t = new HttpTransport({ base: s.base });
    const err = await t.putConfig({ rules: [] } as unknown as Config, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).message).toBe('rules[0].threshold: -1 is out of range');
    expect((err as ApiError).body).toEqual(body);
    expect(s.requests[0]?.url).toBe('/api/config?dry_run=1');
  });

  it('reports a backend that is not there', async () => {
    const s = await start();
    const base = s.base;
    await s.close();
    cleanups.pop();
    const err = await new HttpTransport({ base }).snapshot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(0);
    expect((err as ApiError).message).toMatch(/not answering/);
  });
});

describe('HttpTransport stream', () => {
  const subscribe = (t: HttpTransport) => {
    const snaps: Snapshot[] = [];
    const events: Event[] = [];
    const statuses: StreamStatus[] = [];
    const stop = t.subscribe({ snapshot: (s) => snaps.push(s), journal: (e) => events.push(e), status: (s) => statuses.push(s) });
    cleanups.push(stop);
    return { snaps, events, statuses, stop };
  };

  it('delivers snapshots and journal events, and unsubscribing closes the connection', async () => {
    const s = await start();
    const sub = subscribe(new HttpTransport({ base: s.base, token: 'tok' }));
    await until(() => sub.events.length === 1, 5000, 'journal event');
    expect(sub.snaps.map((x) => x.memory.used)).toEqual([1]);
    s.push(2);
    s.push(3);
    await until(() => sub.snaps.length === 3, 5000, 'pushed snapshots');
    expect(sub.statuses.map((x) => x.state)).toEqual(['connecting', 'open']);
    expect(s.requests[0]?.auth).toBe('Bearer tok');
    expect(s.requests[0]?.url).toBe('/api/stream?token=tok');
    sub.stop();
    await until(() => s.clients.size === 0, 5000, 'server to see the close');
    expect(sub.statuses.at(-1)?.state).toBe('closed');
  });

  it('reconnects by itself when the server ends the stream', async () => {
    const s = await start();
    s.streamMode = 'close-after-one';
    const sub = subscribe(new HttpTransport({ base: s.base, stream: { minDelayMs: 20, maxDelayMs: 50 } }));
    await until(() => sub.snaps.length >= 3, 5000, 'three connections');
    expect(s.streamConnects).toBeGreaterThanOrEqual(3);
    const retry = sub.statuses.find((x) => x.state === 'retrying');
    expect(retry?.error).toBe('the stream ended');
    // A connection that delivered data resets the failure count.
    expect(retry?.failures).toBe(1);
  });

  it('backs off while the server is down and recovers when it is back on the same port', async () => {
    let s = await start();
    const port = s.port;
    const sub = subscribe(new HttpTransport({ base: s.base, stream: { minDelayMs: 50, maxDelayMs: 400 } }));
    await until(() => sub.snaps.length === 1, 5000, 'first snapshot');
    await s.close();
    cleanups.pop();
    await until(() => sub.statuses.filter((x) => x.state === 'retrying').length >= 4, 8000, 'retries');
    const delays = sub.statuses.filter((x) => x.state === 'retrying').map((x) => x.retryInMs ?? 0);
    const failures = sub.statuses.filter((x) => x.state === 'retrying').map((x) => x.failures);
    expect(failures.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(delays[3]!).toBeGreaterThan(delays[0]!);
    expect(Math.max(...delays)).toBeLessThanOrEqual(400 * 1.2);
    s = await start(port);
    await until(() => sub.snaps.length === 2, 5000, 'snapshot after restart');
    expect(sub.statuses.at(-1)).toEqual({ state: 'open', failures: 0 });
  });

  it('retries on an HTTP error status, naming it', async () => {
    const s = await start();
    s.streamMode = '500';
    const sub = subscribe(new HttpTransport({ base: s.base, stream: { minDelayMs: 20, maxDelayMs: 40 } }));
    await until(() => s.streamConnects >= 2, 5000, 'second attempt');
    expect(sub.statuses.find((x) => x.state === 'retrying')?.error).toBe('HTTP 500 Internal Server Error');
    s.streamMode = 'normal';
    await until(() => sub.snaps.length === 1, 5000, 'recovery');
  });

  it('reconnects when a connection goes silent', async () => {
    const s = await start();
    s.streamMode = 'silent';
    const sub = subscribe(new HttpTransport({ base: s.base, stream: { minDelayMs: 20, maxDelayMs: 40, idleTimeoutMs: 150 } }));
    await until(() => s.streamConnects >= 2, 5000, 'reconnect after silence');
    expect(sub.statuses.find((x) => x.state === 'retrying')?.error).toBe('no data for 0.15 s');
  });
});

describe('TauriTransport', () => {
  it('uses the command names and always unlistens', async () => {
    // The operation's OpError, as the app's commands reject with it.
    const issue = { key: 'rules[0].threshold', value: '-1', allowed: '0..=100', message: 'rules[0].threshold = -1: out of range' };
    const opError = { error: issue.message, kind: 'bad_request', status: 400, param: 'config', issues: [issue] };
    const calls: [string, unknown][] = [];
    const listeners = new Map<string, (e: { payload: unknown }) => void>();
    let unlistened = 0;
    const t = new TauriTransport(
      (async (cmd: string, args?: unknown) => {
        calls.push([cmd, args]);
        if (cmd === 'put_config') throw opError;
        if (cmd === 'get_snapshot') throw 'no sample taken yet';
        if (cmd === 'clear_cache') return { freed: 5, succeeded: 1, failed: 0, outcomes: [{ pid: 1, name: 'p', ok: true, freed: 5, previous: 5, current: 0, error: null }] };
        if (cmd === 'set_limit') return { freed: 0, succeeded: 0, failed: 0, outcomes: [] };
        return {};
      }) as never,
      (async (ev: string, cb: (e: { payload: unknown }) => void) => { listeners.set(ev, cb); return () => { unlistened += 1; listeners.delete(ev); }; }) as never,
    );
    expect(await t.clearCache([1])).toEqual([{ pid: 1, name: 'p', ok: true, freed: 5, previous: 5, current: 0, error: null }]);
    expect(await t.setLimit('memory', 10, [])).toEqual([]);
    const e1 = await t.snapshot().catch((e: unknown) => e);
    expect((e1 as ApiError).message).toBe('no sample taken yet');
    await t.history(600);
    const err = await t.putConfig({} as Config, true).catch((e: unknown) => e);
    // The same OpError as over HTTP.
    expect((err as ApiError).message).toBe('rules[0].threshold = -1: out of range');
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).body).toEqual(opError);
    expect(calls).toEqual([
      ['clear_cache', { pids: [1] }],
      ['set_limit', { kind: 'memory', bytes: 10, pids: [] }],
      ['get_snapshot', undefined],
      ['get_history', { since: 600 }],
      ['put_config', { config: {}, dryRun: true }],
    ]);
    const got: unknown[] = [];
    const stop = t.subscribe({ snapshot: (s) => got.push(s), journal: (e) => got.push(e) });
    await until(() => listeners.size === 2);
    listeners.get('snapshot')?.({ payload: snap(1) });
    listeners.get('journal')?.({ payload: { message: 'x' } });
    expect(got).toHaveLength(2);
    stop();
    expect(unlistened).toBe(2);
    expect(listeners.size).toBe(0);
    // Unsubscribing before listen() resolved still unlistens.
    const stop2 = t.subscribe({ snapshot: () => {}, journal: () => {} });
    stop2();
    await until(() => unlistened === 4);
  });
});
