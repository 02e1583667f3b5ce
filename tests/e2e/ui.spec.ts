// The web UI in Debian's Chromium against a real `headroom serve` and a real MLX process.
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, AXE, Env, MlxWorkload, Serve, freePort, loud, memTotal, mlxUnavailable, serveUnavailable } from './harness';

test.describe.configure({ mode: 'serial' });

let env: Env;
let serve: Serve;
let mlx: MlxWorkload;
let skipped: string | null = null;

test.beforeAll(async () => {
  test.setTimeout(600_000); // a cold `cargo build` on two cores
  skipped = serveUnavailable() ?? mlxUnavailable();
  if (skipped) {
    console.error(loud(skipped));
    if (process.env.HEADROOM_E2E_REQUIRED === '1') throw new Error(skipped);
    return;
  }
  env = new Env();
  mlx = new MlxWorkload(env);
  await mlx.start('256MiB');
  serve = new Serve(env, await freePort());
  await serve.start();
});

test.beforeEach(() => { test.skip(skipped !== null, skipped ?? ''); });

test.afterAll(async () => {
  if (skipped) return;
  await serve?.stop();
  await mlx?.stop();
  if (process.env.HEADROOM_E2E_KEEP !== '1') env?.cleanup();
  else console.log(`kept ${env.root}; serve log:\n${serve.log}`);
});

const open = async (page: Page, view = 'overview') => {
  await page.goto(serve.pageUrl(`#${view}`));
  await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
};

const live = (page: Page) => page.getByRole('status').filter({ hasText: /^Live$/ });

test('the overview shows the same total memory as /proc/meminfo', async ({ page }) => {
  const total = memTotal();
  const { body } = await serve.api<{ memory: { total: number } }>('/api/snapshot');
  expect(body.memory.total).toBe(total);
  await open(page);
  const cell = page.getByTestId('total');
  await expect(cell).toHaveAttribute('data-bytes', String(total));
  const gb = Math.round((total / 2 ** 30) * 10) / 10;
  await expect(cell).toHaveText(`${gb.toFixed(1)} GB`);
  await expect(page.getByRole('tab', { name: /Overview/ })).toHaveAttribute('aria-selected', 'true');
});

test('first render is fast and the page is live', async ({ page }) => {
  // A first (cold) load, then warm reloads; first render = the first sample painted,
  // measured from navigation start (Performance API).
  const runs: { firstRender: number; domContentLoaded: number }[] = [];
  for (let i = 0; i < 6; i += 1) {
    await page.goto(serve.pageUrl(`?run=${i}#overview`));
    await page.waitForFunction(() => performance.getEntriesByName('headroom:first-render').length > 0);
    runs.push(await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { firstRender: performance.getEntriesByName('headroom:first-render')[0]!.startTime, domContentLoaded: nav.domContentLoadedEventEnd };
    }));
  }
  await expect(live(page)).toBeVisible();
  const warm = runs.slice(1).map((r) => r.firstRender).sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)]!;
  const result = { cold: runs[0]!.firstRender, warmMedian: median, runs };
  console.log(`first render: cold ${result.cold.toFixed(0)} ms, warm median ${median.toFixed(0)} ms (${warm.map((x) => x.toFixed(0)).join(', ')})`);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'first-render.json'), JSON.stringify(result, null, 2));
  // 300 ms is the target; the default budget leaves room for a loaded two-core test box.
  expect(median).toBeLessThan(Number(process.env.HEADROOM_FIRST_RENDER_BUDGET_MS ?? 1000));
});

test('the MLX process appears with its agent', async ({ page }) => {
  await open(page, 'mlx');
  const row = page.getByTestId(`proc-${mlx.pid}`);
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(row.getByRole('button', { name: /Clear cache/ })).toBeEnabled();
  await expect(row.getByTestId('cache')).not.toHaveText('0 B');
});

test('"Clear cache" brings the process\'s own cache to zero and shows the bytes freed', async ({ page }) => {
  expect(await mlx.cache()).toBeGreaterThan(0);
  await open(page, 'mlx');
  const row = page.getByTestId(`proc-${mlx.pid}`);
  await expect(row.getByTestId('cache')).not.toHaveText('0 B', { timeout: 30_000 });
  await row.getByRole('button', { name: /Clear cache/ }).click();
  await expect(row.getByTestId('flash')).toHaveText(/Freed \d+(\.\d)? (GB|MB|KB|B)/);
  await expect(row.getByTestId('flash')).not.toHaveText(/Freed 0 B/);
  expect(await mlx.cache()).toBe(0);
  await expect(row.getByTestId('cache')).toHaveText('0 B', { timeout: 15_000 });
  // The journal records it too.
  await page.getByRole('tab', { name: /Alerts/ }).click();
  await expect(page.getByRole('region', { name: 'Event journal' })).toContainText(/Cleared \d+(\.\d)? (GB|MB|KB) of MLX cache/);
});

test('a process without the agent is shown with the command that attaches it', async ({ page }) => {
  const bare = new MlxWorkload(env);
  try {
    const pid = await bare.start('16MiB', '--no-agent');
    let hint: string | undefined;
    await expect.poll(async () => {
      const { body } = await serve.api<{ mlx: { pid: number; hint?: string }[] }>('/api/snapshot');
      hint = body.mlx.find((p) => p.pid === pid)?.hint;
      return hint ?? null;
    }, { timeout: 30_000 }).not.toBeNull();
    await open(page, 'mlx');
    const row = page.getByTestId(`proc-${pid}`);
    await expect(row).toContainText('No agent');
    await expect(row.locator('code')).toHaveText(hint!);
    await expect(row.getByRole('button', { name: /Clear cache/ })).toHaveCount(0);
  } finally {
    await bare.stop();
  }
});

test('the cache limit is edited inline, validated as typed and applied to the process', async ({ page }) => {
  await open(page, 'mlx');
  const row = page.getByTestId(`proc-${mlx.pid}`);
  const field = row.getByRole('textbox', { name: 'Cache limit' });
  await field.fill('lots');
  await expect(row.getByRole('alert')).toHaveText(/^invalid size "lots": expected a non-negative number/);
  await expect(row.getByRole('button', { name: /Set cache limit/ })).toBeDisabled();
  await field.fill('100MB');
  await expect(row.getByRole('alert')).toHaveCount(0);
  await field.press('Enter');
  await expect(row.getByTestId('flash')).toHaveText(/^Cache limit .*→ 100\.0 MB$/);
  await expect.poll(async () => {
    const { body } = await serve.api<{ mlx: { pid: number; cache_limit?: number }[] }>('/api/snapshot');
    return body.mlx.find((p) => p.pid === mlx.pid)?.cache_limit;
  }, { timeout: 15_000 }).toBe(100 * 2 ** 20);
  await expect(field).toHaveValue('100MB');
});

test('an invalid threshold shows the engine\'s error and saves nothing', async ({ page }) => {
  const before = env.readConfig();
  const { body: loaded } = await serve.api<{ config: { rules: { id: string; threshold: number }[] } }>('/api/config');
  const i = loaded.config.rules.findIndex((r) => r.id === 'free-low');
  expect(i).toBeGreaterThanOrEqual(0);
  // What the engine itself says about this value.
  const doc = structuredClone(loaded.config);
  doc.rules[i]!.threshold = 150;
  const dry = await serve.api<{ issues: { key: string; message: string }[] }>('/api/config?dry_run=1', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc),
  });
  expect(dry.status).toBe(400);
  const message = dry.body.issues.find((x) => x.key === `rules[${i}].threshold`)!.message;

  await open(page, 'alerts');
  const rule = page.getByTestId('rule-free-low');
  await rule.locator('summary').click();
  const threshold = rule.getByLabel(/^Threshold/);
  await threshold.fill('150');
  await expect(rule.getByRole('alert')).toHaveText(message);
  await expect(threshold).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();
  await threshold.press('Enter');
  // Sizes that do not parse get parse_size's own message, before any request.
  const swap = page.getByTestId('rule-swap-used');
  await swap.locator('summary').click();
  await swap.getByLabel(/^Threshold/).fill('12XB');
  await expect(swap.getByRole('alert')).toHaveText(/^invalid size "12XB": expected a non-negative number with an optional unit B, K\/KB\/KiB/);
  await expect(page.getByRole('button', { name: 'Save', exact: true })).toBeDisabled();
  await page.waitForTimeout(1000);
  expect(env.readConfig()).toBe(before);
  const { body: after } = await serve.api<{ config: { rules: { threshold: number }[] } }>('/api/config');
  expect(after.config.rules[i]!.threshold).toBe(loaded.config.rules[i]!.threshold);
});

test('a valid threshold is saved to the config file', async ({ page }) => {
  await open(page, 'alerts');
  const rule = page.getByTestId('rule-free-low');
  await rule.locator('summary').click();
  await rule.getByLabel(/^Threshold/).fill('12');
  await expect(page.getByTestId('config-status')).toHaveText('Valid — not saved yet');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByTestId('config-status')).toHaveText(/^Saved/);
  const text = env.readConfig();
  expect(text, 'config file written').not.toBeNull();
  expect(text).toContain('free-low');
  expect(text).toMatch(/threshold\s*=\s*12(\.0)?\s/);
  const { body } = await serve.api<{ config: { rules: { id: string; threshold: number }[] }; error: string | null }>('/api/config');
  expect(body.error).toBeNull();
  expect(body.config.rules.find((r) => r.id === 'free-low')!.threshold).toBe(12);
});

test('every view is reachable by keyboard and has no accessibility violations', async ({ page }) => {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await open(page);
    // Every tab in order, then back to the first: ArrowRight moves focus and selection.
    const names = (await page.getByRole('tab').allTextContents()).map((t) => t.replace(/\d.*$/, '').trim());
    expect(names.slice(0, 4)).toEqual(['Overview', 'MLX', 'Alerts', 'Settings']);
    for (let i = 1; i <= names.length; i += 1) {
      const current = names[i - 1]!;
      const view = names[i % names.length]!;
      await page.getByRole('tab', { name: new RegExp(`^${current}`) }).focus();
      await page.keyboard.press('ArrowRight');
      const tab = page.getByRole('tab', { name: new RegExp(`^${view}`) });
      await expect(tab).toBeFocused();
      await expect(tab).toHaveAttribute('aria-selected', 'true');
      await expect(page.getByRole('tabpanel')).toBeVisible();
      if (view === 'Alerts') await page.locator('details.rule summary').first().click();
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        type Result = { violations: { id: string; nodes: { target: string[]; failureSummary?: string }[] }[] };
        const r = await (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<Result> } })
          .axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => `${n.target.join(' ')} (${(n.failureSummary ?? '').replace(/\s+/g, ' ').trim()})`).join(', ')}`);
      });
      expect(violations, `${view} (${colorScheme})`).toEqual([]);
    }
  }
});

test('stopping serve shows the stale state; starting it again recovers', async ({ page }) => {
  await open(page);
  await expect(live(page)).toBeVisible();
  await serve.stop();
  const stale = page.getByTestId('stale');
  await expect(stale).toBeVisible({ timeout: 20_000 });
  await expect(stale).toHaveText(/Stale — last update \d+ s ago/);
  await serve.start();
  await expect(stale).toBeHidden({ timeout: 20_000 });
  await expect(live(page)).toBeVisible();
});

test('screenshots of each view, light and dark, at 360×560', async ({ browser }) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const colorScheme of ['light', 'dark'] as const) {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 560 }, colorScheme });
    const page = await ctx.newPage();
    for (const view of ['overview', 'mlx', 'alerts', 'settings']) {
      await open(page, view);
      await expect(page.getByRole('tabpanel')).toBeVisible();
      await page.waitForTimeout(view === 'overview' ? 2500 : 1000);
      await page.screenshot({ path: join(ARTIFACTS, `${view}-${colorScheme}.png`) });
    }
    await ctx.close();
  }
});
