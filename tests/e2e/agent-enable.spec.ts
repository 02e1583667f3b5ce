// "Enable for this Python" in the MLX view, against a real `headroom serve` and a real MLX
// program started plainly in a scratch venv: the click turns the agent on for that Python,
// and after the program restarts it shows as attached with its cache.
import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, BIN, Env, PlainMlx, ScratchVenv, Serve, freePort, loud, mlxUnavailable, serveUnavailable } from './harness';

test.describe.configure({ mode: 'serial' });

let env: Env;
let serve: Serve;
let venv: ScratchVenv;
let skipped: string | null = null;

test.beforeAll(async () => {
  test.setTimeout(600_000);
  skipped = serveUnavailable() ?? mlxUnavailable();
  if (skipped) {
    console.error(loud(skipped));
    if (process.env.HEADROOM_E2E_REQUIRED === '1') throw new Error(skipped);
    return;
  }
  env = new Env();
  venv = new ScratchVenv();
  venv.create();
  serve = new Serve(env, await freePort());
  await serve.start();
});

test.beforeEach(() => { test.skip(skipped !== null, skipped ?? ''); });

test.afterAll(async () => {
  if (skipped) return;
  await serve?.stop();
  spawnSync(BIN, ['agent', 'disable', '--all'], { env: env.vars });
  venv?.cleanup();
  env?.cleanup();
});

test('an MLX program without the agent is enabled with one click and attached after a restart', async ({ page }) => {
  let first: PlainMlx | null = await venv.start(env);
  let second: PlainMlx | null = null;
  try {
    await page.goto(serve.pageUrl('#mlx'));
    const row = page.getByTestId(`proc-${first.pid}`);
    await expect(row).toContainText('No agent', { timeout: 30_000 });
    const button = row.getByRole('button', { name: /Enable for this Python/ });
    await expect(button).toBeVisible();
    await button.click();
    await expect(row.getByTestId('flash')).toHaveText(new RegExp(`^Enabled for ${venv.dir}/bin/python3? \\(Python 3\\.\\d+\\.\\d+\\): restart it to see its cache$`));
    await expect(button).toHaveCount(0);
    expect(existsSync(join(venv.site, 'headroom-agent.pth'))).toBe(true);
    expect(existsSync(join(venv.site, 'headroom-agent.start'))).toBe(true);
    // The running program is left as it is: still no agent in it.
    expect(await first.ask('agent', 'AGENT')).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'mlx-enable-clicked.png'), fullPage: true });

    // The restart: same command line, nothing else changed.
    await first.stop();
    first = null;
    second = await venv.start(env);
    const own = await second.ask('cache', 'CACHE');
    const row2 = page.getByTestId(`proc-${second.pid}`);
    const cache = row2.getByTestId('cache');
    await expect(cache).toHaveAttribute('data-bytes', /^\d+$/, { timeout: 30_000 });
    const shown = Number(await cache.getAttribute('data-bytes'));
    expect(Math.abs(shown - own)).toBeLessThanOrEqual(own / 100);
    await expect(row2.getByRole('button', { name: /Clear cache/ })).toBeVisible();
    await expect(row2.getByRole('button', { name: /Enable for this Python/ })).toHaveCount(0);
    await expect(row2.getByTestId('outside-mlx')).toHaveAttribute('data-bytes', /^\d+$/);
    await page.screenshot({ path: join(ARTIFACTS, 'mlx-enable-attached.png'), fullPage: true });
  } finally {
    await first?.stop();
    await second?.stop();
  }
});

test('the enable route refuses a pid that is not an MLX process without an agent', async () => {
  const r = await serve.api<{ error: string; param: string | null }>('/api/agent/enable', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pid: 1 }),
  });
  expect(r.status).toBe(400);
  expect(r.body.param).toBe('pid');
  expect(r.body.error).toContain('not an MLX process of yours');
  const bad = await serve.api<{ error: string }>('/api/agent/enable', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ python: '/bin/sh' }),
  });
  expect(bad.status).toBe(400);
});
