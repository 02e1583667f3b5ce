// The "Tools" view against a real `headroom serve`: "Will it fit?" shows the same
// figures as `headroom fit`, and the wired-limit panel says where the sysctl does not exist.
import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ARTIFACTS, AXE, BIN, Env, Serve, freePort, loud, serveUnavailable } from './harness';

test.describe.configure({ mode: 'serial' });

let env: Env;
let serve: Serve;
let skipped: string | null = null;

test.beforeAll(async () => {
  test.setTimeout(600_000);
  skipped = serveUnavailable();
  if (skipped) {
    console.error(loud(skipped));
    if (process.env.HEADROOM_E2E_REQUIRED === '1') throw new Error(skipped);
    return;
  }
  env = new Env();
  serve = new Serve(env, await freePort());
  await serve.start();
});

test.beforeEach(() => { test.skip(skipped !== null, skipped ?? ''); });

test.afterAll(async () => {
  if (skipped) return;
  await serve?.stop();
  env?.cleanup();
});

/** Opens the Tools tab from the Overview with the keyboard only. */
async function openTools(page: Page) {
  await page.goto(serve.pageUrl('#overview'));
  await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
  const tabs = page.getByRole('tab');
  await tabs.first().focus();
  await page.keyboard.press('End');
  const tools = page.getByRole('tab', { name: 'Tools' });
  await expect(tools).toBeFocused();
  await expect(tools).toHaveAttribute('aria-selected', 'true');
}

test('Will it fit? shows the weights of a 70B model at 4 bits as `headroom fit` does', async ({ page }) => {
  // The CLI's own figure for the same question (35e9 bytes is 32.6 GB in GB of 1024³).
  const cli = spawnSync(BIN, ['fit', '--params', '70B', '--bits', '4', '--json'], { env: env.vars, encoding: 'utf8' });
  const expected = JSON.parse(cli.stdout) as { weights: number; kv_cache: number; total: number; verdict: string };
  expect(expected.weights).toBe(35e9);

  await openTools(page);
  const fit = page.getByRole('region', { name: 'Will it fit?' });
  await expect(fit).toBeVisible();
  await fit.getByLabel('Parameters').fill('70B');
  await fit.getByLabel('Weight bits').selectOption('4');
  await fit.getByLabel('Context (tokens)').fill('8192');
  await fit.getByLabel('Context (tokens)').press('Enter');
  const weights = fit.getByTestId('fit-weights');
  await expect(weights).toHaveText('32.6 GB');
  await expect(weights).toHaveAttribute('data-bytes', String(expected.weights));
  await expect(fit.getByTestId('fit-kv')).toHaveAttribute('data-bytes', String(expected.kv_cache));
  await expect(fit.getByTestId('fit-total')).toHaveAttribute('data-bytes', String(expected.total));
  const verdict = { fits: /^Fits$/, fits_if: /^Fits if you /, does_not_fit: /^Does not fit on this machine$/ }[expected.verdict]!;
  await expect(fit.getByTestId('fit-verdict')).toHaveText(verdict);
  await expect(fit.getByTestId('fit-wired')).toHaveText('none (not macOS)');

  // A bad value is named before anything is sent.
  await fit.getByLabel('Parameters').fill('lots');
  await expect(fit.getByRole('alert')).toContainText('invalid parameter count "lots"');
  await expect(fit.getByRole('button', { name: 'Estimate' })).toBeDisabled();
  await fit.getByLabel('Parameters').fill('70B');
  await fit.getByRole('button', { name: 'Estimate' }).click();
  await expect(weights).toHaveText('32.6 GB');
  await page.screenshot({ path: join(ARTIFACTS, 'tools-fit-light.png'), fullPage: true });
});

test('the wired-limit panel renders on Linux and says it is not available here', async ({ page }) => {
  const { body } = await serve.api<{ supported: boolean; physical: number }>('/api/wired-limit');
  await openTools(page);
  const panel = page.getByRole('region', { name: 'Wired limit' });
  await expect(panel).toBeVisible();
  if (process.platform === 'linux') {
    expect(body.supported).toBe(false);
    await expect(panel.getByTestId('wired-unsupported')).toHaveText(/not available on this platform/);
    await expect(panel.getByTestId('wired-suggested')).toHaveText(/MB \(.* GB\) on a Mac with this much memory$/);
    // Nothing to set here, not even a command to copy.
    await expect(panel.getByRole('button')).toHaveCount(0);
  }
  await expect(panel.getByTestId('wired-physical')).not.toHaveText('n/a');
});

test('the Tools view is keyboard reachable and has no accessibility violations, light and dark', async ({ page }) => {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await openTools(page);
    const fit = page.getByRole('region', { name: 'Will it fit?' });
    await fit.getByLabel('Parameters').fill('7B');
    await fit.getByLabel('Parameters').press('Enter');
    await expect(fit.getByTestId('fit-weights')).toHaveText('3.3 GB'); // 7e9 × 4 bits ÷ 8
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page.getByRole('table')).toBeVisible();
    await page.getByRole('button', { name: 'Run checks' }).click();
    await expect(page.getByRole('button', { name: 'Check again' })).toBeVisible();
    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } })
        .axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    expect(violations, colorScheme).toEqual([]);
    // Nothing wider than the 360 px popover.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, `tools-${colorScheme}.png`), fullPage: true });
  }
});
