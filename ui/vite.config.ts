import { defineConfig } from 'vitest/config';

// Static, relative output: `ui/dist` is embedded in the Rust binaries (`headroom serve`,
// the Tauri app) and served from any path, so every asset URL is relative.
export default defineConfig({
  base: './',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 150,
  },
  server: {
    // `npm run dev` against a running `headroom serve` on its default port.
    proxy: { '/api': 'http://127.0.0.1:9178' },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 15000,
  },
});
