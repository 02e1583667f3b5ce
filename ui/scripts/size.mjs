// Gzipped size of the built UI (ui/dist), every file counted; fails above the budget.
//   node scripts/size.mjs [--budget-kb 150]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const i = process.argv.indexOf('--budget-kb');
const budget = (i > 0 ? Number(process.argv[i + 1]) : 150) * 1024;
const files = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
};
walk(dist);
let raw = 0;
let gz = 0;
for (const f of files.sort()) {
  const b = readFileSync(f);
  const z = gzipSync(b, { level: 9 }).length;
  raw += b.length;
  gz += z;
  console.log(`${relative(dist, f).padEnd(36)} ${(b.length / 1024).toFixed(1).padStart(7)} KB  gzip ${(z / 1024).toFixed(1).padStart(6)} KB`);
}
console.log(`${'total'.padEnd(36)} ${(raw / 1024).toFixed(1).padStart(7)} KB  gzip ${(gz / 1024).toFixed(1).padStart(6)} KB (budget ${budget / 1024} KB)`);
if (gz > budget) {
  console.error(`ui/dist is ${(gz / 1024).toFixed(1)} KB gzipped, over the ${budget / 1024} KB budget`);
  process.exit(1);
}
