// Issue 7's names shared with the backends (ui/src/transport/insights.ts), checked against the
// Rust sources: serve's routes and query parameters, the app's commands, their arguments and
// permissions.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSIGHT_COMMANDS, INSIGHT_PATHS, fitParams } from '../src/transport/insights';

const repo = join(__dirname, '../..');
const read = (p: string) => (existsSync(join(repo, p)) ? readFileSync(join(repo, p), 'utf8') : null);
const all = { params: '7B', bits: 4, context: 1, kvBits: 16, layers: 1, kvHeads: 1, headDim: 1 };

describe('insights names shared with the backends', () => {
  it('serve routes every path and accepts every fit parameter', () => {
    const src = read('crates/headroom-server/src/insights.rs');
    if (!src) return;
    for (const path of Object.values(INSIGHT_PATHS)) {
      expect(src, path).toContain(`.route("${path.replace(/^\/api/, '')}"`);
    }
    for (const [k] of fitParams(all)) expect(src, k).toContain(`"${k}"`);
  });

  it('the app registers every command, lists it in build.rs and grants it', () => {
    const lib = read('src-tauri/src/lib.rs');
    const build = read('src-tauri/build.rs');
    const caps = read('src-tauri/capabilities/default.json');
    const src = read('src-tauri/src/insights.rs');
    if (!lib || !build || !caps || !src) return;
    for (const cmd of Object.values(INSIGHT_COMMANDS)) {
      expect(lib, cmd).toContain(`insights::${cmd},`);
      expect(build, cmd).toContain(`"${cmd}"`);
      expect(caps, cmd).toContain(`"allow-${cmd.replace(/_/g, '-')}"`);
      expect(src, cmd).toContain(`pub ${cmd === 'get_wired_limit' || cmd === 'check_wired_limit' ? '' : 'async '}fn ${cmd}(`);
    }
    // get_fit's arguments: the UI's camelCase keys are Tauri's mapping of these names.
    for (const [k] of fitParams(all)) expect(src, k).toMatch(new RegExp(`\\b${k}: (String|Option<u\\d+>),`));
  });
});
