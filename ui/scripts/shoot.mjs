// (Playwright gives each launch a fresh temporary profile, i.e. a fresh --user-data-dir.)
// Screenshots of every view, light and dark, at the popover size (360×560).
//   node scripts/shoot.mjs http://127.0.0.1:9178/ ../artifacts/ui [prefix]
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url = 'http://127.0.0.1:9178/', out = '../artifacts/ui', prefix = ''] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
for (const scheme of ['light', 'dark']) {
  const page = await browser.newPage({ viewport: { width: 360, height: 560 }, colorScheme: scheme });
  for (const view of ['overview', 'mlx', 'alerts', 'settings']) {
    await page.goto(`${url}#${view}`);
    await page.waitForSelector('[data-testid=pressure]:not(.unknown)', { timeout: 10000 }).catch(() => {});
    await page.waitForTimeout(view === 'overview' ? 2500 : 800);
    await page.screenshot({ path: join(out, `${prefix}${view}-${scheme}.png`) });
  }
  await page.close();
}
await browser.close();
