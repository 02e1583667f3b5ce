// The names the UI shares with the backends come from one generated table
// (`src/bindings/operations.ts`, written by `cargo test -p headroom-core export_bindings` from
// crates/headroom-core/src/ops/table.rs). Here both transports are driven through every
// operation against recording fakes: each request must use a command, or a method and path,
// of that table, and every operation of the table must be reachable from the UI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, EVENTS, METHODS, PATHS } from '../src/bindings/operations';
import { HttpTransport } from '../src/transport/http';
import { TauriTransport } from '../src/transport/tauri';
import type { Transport } from '../src/transport/types';
import type { Config } from '../src/api-types';

const generated = readFileSync(join(__dirname, '../src/bindings/operations.ts'), 'utf8');

/** Calls every operation a view can reach; failures are fine (the fakes answer `{}`). */
async function everyOperation(t: Transport) {
  const calls: Promise<unknown>[] = [
    t.snapshot(), t.history(60), t.events(), t.config(), t.putConfig({} as Config, true),
    t.clearCache([1]), t.setLimit('cache', 1, [1]), t.enableAgent(1),
    t.machine!.wiredLimit(), t.machine!.fit({ params: '7B' }), t.machine!.doctor(), t.machine!.top(3),
    t.machine!.checkWiredLimit('8GB'), t.machine!.setWiredLimit(0),
  ];
  t.painted?.();
  await Promise.allSettled(calls);
}

describe('the generated operations table', () => {
  it('is the generated file, and names events for both the app and the stream', () => {
    expect(generated.startsWith('// Generated from crates/headroom-core/src/ops/table.rs')).toBe(true);
    expect(EVENTS).toEqual({ snapshot: 'snapshot', journal: 'journal' });
    expect(Object.keys(METHODS).sort()).toEqual(Object.keys(PATHS).sort());
  });

  it('the HTTP transport uses only the table\'s routes, and all of those a view needs', async () => {
    const seen: string[] = [];
    const fetch = (async (url: string, init: RequestInit) => {
      seen.push(`${init.method} ${new URL(url).pathname}`);
      return new Response('{"outcomes":[]}', { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof globalThis.fetch;
    await everyOperation(new HttpTransport({ base: 'http://127.0.0.1:1', fetch }));
    const routes = Object.entries(PATHS).map(([k, p]) => `${METHODS[k as keyof typeof METHODS]} ${p}`);
    for (const s of seen) expect(routes, s).toContain(s);
    const unused = routes.filter((r) => !seen.includes(r));
    // Health is for monitors and the stream is opened by subscribe().
    expect(unused.sort()).toEqual([`GET ${PATHS.health}`, `GET ${PATHS.stream}`]);
  });

  it('the app transport uses only the table\'s commands, and all of them', async () => {
    const seen: string[] = [];
    const invoke = async <T>(cmd: string) => { seen.push(cmd); return { outcomes: [] } as T; };
    const listen = async () => () => {};
    await everyOperation(new TauriTransport(invoke, listen));
    expect([...new Set(seen)].sort()).toEqual(Object.values(COMMANDS).sort());
  });
});
