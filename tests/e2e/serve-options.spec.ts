// The UI against `headroom serve` set up differently: a config file that does not load, a
// token, and the owner's one-step login (the URL `serve --print-url` prints, then a cookie).
import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { ARTIFACTS, Env, Serve, freePort, loud, serveUnavailable } from './harness';

let skipped: string | null = null;
test.beforeAll(() => {
  test.setTimeout(600_000);
  skipped = serveUnavailable();
  if (skipped) {
    console.error(loud(skipped));
    if (process.env.HEADROOM_E2E_REQUIRED === '1') throw new Error(skipped);
  }
});
test.beforeEach(() => { test.skip(skipped !== null, skipped ?? ''); });

test('a config file that failed to load is shown with its error and is not overwritten', async ({ page }) => {
  const env = new Env();
  const broken = '# my settings\n[sampling]\ninterval_ms = "fast"\n';
  env.writeConfig(broken);
  const serve = new Serve(env, await freePort());
  try {
    await serve.start();
    const { body } = await serve.api<{ error: string | null; path: string }>('/api/config');
    expect(body.error, 'serve reports the load error').toBeTruthy();
    await page.goto(serve.pageUrl('#alerts'));
    const banner = page.getByTestId('config-error');
    await expect(banner).toBeVisible();
    await expect(banner).toContainText(body.path);
    await expect(banner.locator('pre')).toHaveText(body.error!);
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-config-error-light.png') });
    // Editing is possible, saving is not.
    const rule = page.locator('details.rule').first();
    await rule.locator('summary').click();
    await rule.getByLabel(/^Name/).fill('Renamed');
    await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();
    await expect(page.getByTestId('config-status')).toHaveText(/Saving is off while the file has an error/);
    await page.goto(`${serve.url}/#settings`); // logged in by the cookie
    await expect(page.getByTestId('config-error')).toBeVisible();
    await page.getByLabel(/Sample memory every/).fill('2s');
    // Settings holds two forms (settings, MLX policies): neither can save a broken file.
    await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();
    await expect(page.getByRole('button', { name: 'Save policies' })).toBeDisabled();
    expect(env.readConfig()).toBe(broken);
  } finally {
    await serve.stop();
    env.cleanup();
  }
});

test('with a token, the page opened with ?token= streams and acts', async ({ page }) => {
  const env = new Env();
  const token = 'e2e-token-0123456789abcdef';
  const serve = new Serve(env, await freePort(), [], token);
  try {
    await serve.start();
    expect((await fetch(`${serve.url}/api/snapshot`)).status).toBe(401);
    await page.goto(`${serve.url}/?token=${token}#overview`);
    await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
    await expect(page.getByRole('status').filter({ hasText: /^Live$/ })).toBeVisible();
    // A state-changing request with the bearer header is accepted.
    const ok = await page.evaluate(async (t) => {
      const r = await fetch('/api/actions/clear-cache', { method: 'POST', headers: { 'content-type': 'application/json', Authorization: `Bearer ${t}` }, body: '{"pids":[]}' });
      return r.status;
    }, token);
    expect(ok).toBe(200);
    // Samples keep arriving over the stream: nothing turns stale (it would after 5 s).
    await page.waitForTimeout(7000);
    await expect(page.getByTestId('stale')).toHaveCount(0);
    await expect(page).toHaveTitle(/used · (Normal|Warning|Critical) — Headroom$/);
  } finally {
    await serve.stop();
    env.cleanup();
  }
});

test('the printed login URL logs the browser in once; a browser without it gets the login page', async ({ page, browser }) => {
  const env = new Env();
  const serve = new Serve(env, await freePort());
  try {
    await serve.start();
    expect(serve.loginUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);
    await page.goto(serve.loginUrl);
    await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'headroom_token');
    expect(cookie?.httpOnly, 'the page script cannot read the secret').toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    // Later visits need nothing more: the cookie carries the secret (page, stream, actions).
    await page.goto(`${serve.url}/#overview`);
    await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
    await expect(page.getByRole('status').filter({ hasText: /^Live$/ })).toBeVisible();
    const status = await page.evaluate(async () => (await fetch('/api/actions/clear-cache', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"pids":[]}',
    })).status);
    expect(status).toBe(200);
    // Another browser (another user's) gets the login page and no data.
    const other = await browser.newContext();
    const stranger = await other.newPage();
    const r = await stranger.goto(`${serve.url}/#overview`);
    expect(r?.status()).toBe(401);
    await expect(stranger.getByRole('heading', { name: /answers only its owner/ })).toBeVisible();
    await other.close();
  } finally {
    await serve.stop();
    env.cleanup();
  }
});
