// Starts the real things the UI talks to: `target/debug/headroom serve` on a free loopback
// port with its own temporary config, data and runtime directories, and a real MLX process
// with the Headroom agent (agent/tests/workloads/cache_builder.py in the repo's .venv).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const REPO = resolve(__dirname, '../..');
export const BIN = join(REPO, 'target/debug/headroom');
const PYTHON = join(REPO, '.venv/bin/python');
const CACHE_BUILDER = join(REPO, 'agent/tests/workloads/cache_builder.py');

/** Builds the CLI once per run; returns why `serve` cannot run, or null when it can. */
export function serveUnavailable(): string | null {
  if (process.env.HEADROOM_E2E_NO_BUILD !== '1') {
    const b = spawnSync('cargo', ['build', '-q', '-p', 'headroom-cli'], { cwd: REPO, stdio: 'inherit' });
    if (b.status !== 0) return `cargo build -p headroom-cli failed (exit ${b.status})`;
  }
  if (!existsSync(BIN)) return `${BIN} does not exist`;
  const h = spawnSync(BIN, ['serve', '--help'], { encoding: 'utf8' });
  if (h.status !== 0) return `\`headroom serve\` is not available yet: ${(h.stderr || h.stdout).trim().split('\n')[0]}`;
  return null;
}

export function mlxUnavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} missing (python3 -m venv .venv && .venv/bin/pip install "mlx[cpu]")`;
  if (!existsSync(CACHE_BUILDER)) return `${CACHE_BUILDER} missing`;
  return null;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One temporary Headroom installation: directories, config file, environment. */
export class Env {
  readonly root = mkdtempSync(join(tmpdir(), 'headroom-e2e-'));
  readonly configFile = join(this.root, 'config/headroom.toml');
  readonly dataDir = join(this.root, 'data');
  // Short: unix socket paths are limited to ~104 bytes.
  readonly runtimeDir = mkdtempSync('/tmp/hr-rt-');
  get vars(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HEADROOM_CONFIG: this.configFile,
      HEADROOM_DATA_DIR: this.dataDir,
      HEADROOM_RUNTIME_DIR: this.runtimeDir,
      RUST_LOG: process.env.RUST_LOG ?? 'info',
    };
  }
  writeConfig(text: string) {
    spawnSync('mkdir', ['-p', join(this.root, 'config')]);
    writeFileSync(this.configFile, text);
  }
  readConfig(): string | null {
    return existsSync(this.configFile) ? readFileSync(this.configFile, 'utf8') : null;
  }
  cleanup() {
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}

/** A running `headroom serve`; `stop()` and `start()` again keep the same port. */
export class Serve {
  proc: ChildProcess | null = null;
  log = '';
  constructor(readonly env: Env, readonly port: number, readonly extraArgs: string[] = [], readonly token: string | null = null) {}
  /** The owner's one-step login URL, as `headroom serve --print-url` prints it. */
  loginUrl = '';
  /** The secret it carries (the per-user secret file's, or `token`). */
  secret = '';
  get url() { return `http://127.0.0.1:${this.port}`; }

  /** A page URL that logs in as the owner: `suffix` is `#view` or `?a=b#view`. */
  pageUrl(suffix = ''): string {
    const [query, hash] = suffix.split('#');
    const extra = query.startsWith('?') ? `${query.slice(1)}&` : '';
    return `${this.url}/?${extra}token=${encodeURIComponent(this.secret)}${hash === undefined ? '' : `#${hash}`}`;
  }

  async start(): Promise<void> {
    const tokenArgs = this.token ? ['--token', this.token] : [];
    const listen = ['--listen', `127.0.0.1:${this.port}`];
    // The same login URL a user gets: from the secret file `serve` uses (created 0600 if missing).
    const printed = spawnSync(BIN, ['serve', '--print-url', ...listen, ...tokenArgs], { env: this.env.vars, encoding: 'utf8' });
    if (printed.status !== 0) throw new Error(`headroom serve --print-url failed: ${printed.stderr}`);
    this.loginUrl = printed.stdout.trim();
    this.secret = new URL(this.loginUrl).searchParams.get('token') ?? '';
    const args = ['serve', ...listen, ...tokenArgs, ...this.extraArgs];
    const proc = spawn(BIN, args, { env: this.env.vars, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => { this.log += d; });
    proc.stderr!.on('data', (d) => { this.log += d; });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`headroom serve exited with ${proc.exitCode}:\n${this.log}`);
      try {
        const r = await fetch(`${this.url}/api/snapshot`, { headers: { Authorization: `Bearer ${this.secret}` } });
        if (r.ok) return;
      } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error(`headroom serve did not answer within 30 s:\n${this.log}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }

  async api<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
    const headers = new Headers(init?.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${this.secret}`);
    const r = await fetch(this.url + path, { ...init, headers });
    const text = await r.text();
    let body: unknown = text;
    try { body = JSON.parse(text); } catch { /* text */ }
    return { status: r.status, body: body as T };
  }
}

/** A real MLX process with the agent, holding an allocator cache of `size`. */
export class MlxWorkload {
  proc: ChildProcess | null = null;
  pid = 0;
  private lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];

  constructor(readonly env: Env) {}

  async start(size = '256MiB', ...flags: string[]): Promise<number> {
    const proc = spawn(PYTHON, [CACHE_BUILDER, size, ...flags], { env: { ...this.env.vars, PYTHONPATH: join(REPO, 'agent') }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l); else this.lines.push(l);
    });
    const ready = await this.next(120_000);
    const m = /^READY (\d+)$/.exec(ready);
    if (!m) throw new Error(`cache_builder said ${JSON.stringify(ready)}`);
    this.pid = Number(m[1]);
    return this.pid;
  }

  private next(timeoutMs = 30_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('cache_builder did not answer')), timeoutMs);
      this.waiters.push((x) => { clearTimeout(t); res(x); });
    });
  }

  /** The process's own `mx.get_cache_memory()`. */
  async cache(): Promise<number> {
    this.proc!.stdin!.write('cache\n');
    const l = await this.next();
    const m = /^CACHE (\d+)$/.exec(l);
    if (!m) throw new Error(`cache_builder said ${JSON.stringify(l)}`);
    return Number(m[1]);
  }

  async build(size: string): Promise<number> {
    this.proc!.stdin!.write(`build ${size}\n`);
    return Number((await this.next(60_000)).split(' ')[1]);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.stdin!.end();
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

/** MemTotal from /proc/meminfo, in bytes. */
export function memTotal(): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  if (!m) throw new Error('no MemTotal in /proc/meminfo');
  return Number(m[1]) * 1024;
}

export const ARTIFACTS = join(REPO, 'artifacts/ui');
/** axe-core, for the accessibility checks. */
export const AXE = join(REPO, 'ui/node_modules/axe-core/axe.min.js');

/** The message printed (loudly) when the suite cannot run yet. */
export function loud(why: string): string {
  const bar = '!'.repeat(78);
  return `\n${bar}\n!! UI end-to-end tests SKIPPED: ${why}\n${bar}\n`;
}

/**
 * A scratch Python environment holding real MLX as pip would have installed it: a fresh venv
 * (`python -m venv --without-pip` from the base of the repo's .venv) with .venv's `mlx*`
 * directories hard-linked in, and the `plain_mlx.py` workload (a program that knows nothing
 * of Headroom) in its site-packages.
 */
export class ScratchVenv {
  readonly dir = mkdtempSync('/tmp/hr-venv-');
  readonly python = join(this.dir, 'bin/python');
  site = '';

  create(): void {
    const cfg = readFileSync(join(REPO, '.venv/pyvenv.cfg'), 'utf8');
    const home = /^home\s*=\s*(.+)$/m.exec(cfg)?.[1]?.trim();
    if (!home) throw new Error('.venv/pyvenv.cfg has no home');
    const mk = spawnSync(join(home, 'python3'), ['-m', 'venv', '--without-pip', this.dir], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`venv: ${mk.stderr}`);
    const purelib = (py: string) =>
      spawnSync(py, ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: 'utf8' }).stdout.trim();
    this.site = purelib(this.python);
    const src = purelib(PYTHON);
    const names = spawnSync('ls', [src], { encoding: 'utf8' }).stdout.split('\n')
      .filter((n) => n === 'mlx' || n.startsWith('mlx-') || n.startsWith('mlx_cpu') || n.startsWith('mlx_metal'));
    for (const n of names) {
      if (spawnSync('cp', ['-al', join(src, n), this.site]).status !== 0) {
        spawnSync('cp', ['-R', join(src, n), this.site]);
      }
    }
    spawnSync('cp', [join(REPO, 'agent/tests/workloads/plain_mlx.py'), this.site]);
  }

  /** Starts `python plain_mlx.py SIZE` plainly (only the runtime directory set). */
  async start(env: Env, size = '64MiB'): Promise<PlainMlx> {
    const vars: NodeJS.ProcessEnv = { ...env.vars };
    delete vars.PYTHONPATH;
    const proc = spawn(this.python, [join(this.site, 'plain_mlx.py'), size], { env: vars, stdio: ['pipe', 'pipe', 'inherit'] });
    const p = new PlainMlx(proc);
    await p.ready();
    return p;
  }

  cleanup(): void { rmSync(this.dir, { recursive: true, force: true }); }
}

/** A running `plain_mlx.py` (see agent/tests/workloads/plain_mlx.py). */
export class PlainMlx {
  pid = 0;
  private lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l); else this.lines.push(l);
    });
  }
  private next(timeoutMs = 60_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('plain_mlx did not answer')), timeoutMs);
      this.waiters.push((x) => { clearTimeout(t); res(x); });
    });
  }
  async ready(): Promise<void> {
    for (;;) {
      const l = await this.next();
      const m = /^READY (\d+)$/.exec(l);
      if (m) { this.pid = Number(m[1]); return; }
    }
  }
  async ask(cmd: string, word: string): Promise<number> {
    this.proc.stdin!.write(`${cmd}\n`);
    for (;;) {
      const l = await this.next();
      if (l.startsWith(`${word} `)) return Number(l.split(' ')[1]);
    }
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
