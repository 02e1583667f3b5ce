// JS heap of the page while it streams, after a forced GC: at 1 minute and at N minutes.
// Opt-in (it takes N minutes): HEADROOM_E2E_HEAP_MINUTES=10 npm run e2e -- heap
import { expect, test } from '@playwright/test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, Env, MlxWorkload, Serve, freePort, loud, mlxUnavailable, serveUnavailable } from './harness';

const minutes = Number(process.env.HEADROOM_E2E_HEAP_MINUTES ?? 0);

test('the page heap stays flat while streaming', async ({ page }) => {
  test.skip(!minutes, 'set HEADROOM_E2E_HEAP_MINUTES to measure the heap over that many minutes');
  test.setTimeout((minutes + 12) * 60_000);
  const why = serveUnavailable() ?? mlxUnavailable();
  if (why) console.error(loud(why));
  test.skip(why !== null, why ?? '');
  const env = new Env();
  const mlx = new MlxWorkload(env);
  const serve = new Serve(env, await freePort());
  try {
    await mlx.start('64MiB');
    await serve.start();
    await page.goto(serve.pageUrl('#overview'));
    await expect(page.getByTestId('pressure')).not.toHaveClass(/unknown/);
    const cdp = await page.context().newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const h = await cdp.send('Runtime.getHeapUsage');
      return h.usedSize;
    };
    const samples: { minute: number; usedBytes: number; domNodes: number }[] = [];
    const count = () => page.evaluate(() => document.querySelectorAll('*').length);
    for (let m = 1; m <= minutes; m += 1) {
      await page.waitForTimeout(60_000);
      samples.push({ minute: m, usedBytes: await heap(), domNodes: await count() });
      console.log(`heap after ${m} min: ${(samples.at(-1)!.usedBytes / 2 ** 20).toFixed(2)} MiB, ${samples.at(-1)!.domNodes} DOM nodes`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'heap.json'), JSON.stringify({ minutes, samples }, null, 2));
    const first = samples[0]!.usedBytes;
    const last = samples.at(-1)!.usedBytes;
    // Flat: within 1 MiB (or 15 %) of the 1-minute figure.
    expect(last - first).toBeLessThan(Math.max(2 ** 20, first * 0.15));
  } finally {
    await serve.stop();
    await mlx.stop();
    env.cleanup();
  }
});
