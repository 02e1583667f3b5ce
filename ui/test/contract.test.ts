// The names the UI shares with the two backends, checked against their Rust sources so a
// rename on either side fails here rather than in the app.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, EVENTS, PATHS } from '../src/transport/names';

const repo = join(__dirname, '../..');
const read = (p: string) => (existsSync(join(repo, p)) ? readFileSync(join(repo, p), 'utf8') : null);

describe('names shared with the backends', () => {
  it('every HTTP path is routed by headroom serve', () => {
    const lib = read('crates/headroom-server/src/lib.rs');
    if (!lib) return;
    for (const path of Object.values(PATHS)) {
      const sub = path.replace(/^\/api/, '').replace(/[-/]/g, (c) => `\\${c}`);
      expect(lib, path).toMatch(new RegExp(`\\.route\\(\\s*"${sub}"`));
    }
  });

  it('every Tauri command is registered by the app, and every event is emitted by it', () => {
    const lib = read('src-tauri/src/lib.rs');
    if (!lib) return;
    for (const cmd of Object.values(COMMANDS)) expect(lib, cmd).toContain(`commands::${cmd},`);
    const sources = ['src-tauri/src/live.rs', 'src-tauri/src/window.rs'].map(read).join('\n');
    for (const ev of Object.values(EVENTS)) expect(sources, ev).toMatch(new RegExp(`pub const EVENT_\\w+: &str = "${ev}";`));
    // Views are shown by URL hash, which App follows.
    expect(read('src-tauri/src/window.rs') ?? 'location.hash').toContain('location.hash');
  });

  it('the SSE event names are the ones serve writes', () => {
    const stream = read('crates/headroom-server/src/stream.rs');
    if (!stream) return;
    expect(stream).toContain(`data_event("${EVENTS.snapshot}"`);
    expect(stream).toContain(`data_event("${EVENTS.journal}"`);
  });
});
