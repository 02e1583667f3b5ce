// Playwright end-to-end tests of the web UI against a real `headroom serve` and a real
// MLX process. Debian's Chromium is used; no browser is ever downloaded.
//   cd ui && npm run e2e        (scripts/test.d/50-ui.sh runs it)
import { defineConfig } from '@playwright/test';
import { resolve } from 'node:path';

const ARTIFACTS = resolve(__dirname, '../../artifacts/ui');

export default defineConfig({
  testDir: __dirname,
  testMatch: /.*\.spec\.ts$/,
  outputDir: resolve(ARTIFACTS, 'test-results'),
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    viewport: { width: 360, height: 560 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
    trace: 'off',
    screenshot: 'only-on-failure',
  },
});
