import { describe, expect, it, vi } from 'vitest';
import { JOURNAL_MAX, LiveSeries, Store, staleSeconds, subscribeSince, tickWhileVisible } from '../src/store';
import type { Config, Event, Snapshot } from '../src/api-types';
import type { StreamHandlers, Transport } from '../src/transport';
import { mergeColumns } from '../src/views/History';

const snap = (sec: number, used = sec): Snapshot => ({
  platform: 'linux', at: new Date(sec * 1000).toISOString(),
  memory: { total: 100, used, app: null, wired: null, compressed: null, cached: null, free: null, available: null },
  swap: { total: 0, used: 0 }, pressure: { level: 'normal', free_percent: 50 },
  rates: { swapins: null, swapouts: null, compressions: null, decompressions: null },
  gpu: { wired_limit: null, recommended_working_set: null },
  mlx: [{ pid: 1, name: 'p', attached: true, footprint: 10, cache: 5 }, { pid: 2, name: 'q', attached: false, footprint: 10 }],
  unavailable: [],
});
const ev = (sec: number): Event => ({ at: new Date(sec * 1000).toISOString(), severity: 'info', kind: { type: 'storage_recovered' }, message: `e${sec}` });

describe('staleness', () => {
  it('is stale after 3 intervals and at least 5 s', () => {
    expect(staleSeconds({ receivedAt: null, intervalMs: 1000 }, 10_000)).toBeNull();
    expect(staleSeconds({ receivedAt: 0, intervalMs: 1000 }, 5000)).toBeNull();
    expect(staleSeconds({ receivedAt: 0, intervalMs: 1000 }, 5001)).toBeCloseTo(5.001);
    expect(staleSeconds({ receivedAt: 0, intervalMs: 10_000 }, 29_000)).toBeNull();
    expect(staleSeconds({ receivedAt: 0, intervalMs: 10_000 }, 31_000)).toBe(31);
  });
});

describe('LiveSeries', () => {
  it('keeps the newest `capacity` samples in order and drops replays', () => {
    const s = new LiveSeries(3);
    for (const t of [1, 2, 2, 3, 4, 5]) s.push(snap(t));
    const [t, used, , , mlx] = s.columns();
    expect(t).toEqual([3, 4, 5]);
    expect(used).toEqual([3, 4, 5]);
    expect(mlx).toEqual([5, 5, 5]);
    expect(s.columns(4)[0]).toEqual([4, 5]);
  });
  it('merges history before the live series', () => {
    const hist = [[1, 2, 3, 4], [10, 20, 30, 40], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]];
    const live = [[3, 5], [31, 51], [1, 1], [1, 1], [1, 1]];
    expect(mergeColumns(hist, live)[0]).toEqual([1, 2, 3, 5]);
    expect(mergeColumns(hist, live)[1]).toEqual([10, 20, 31, 51]);
  });
});

class FakeTransport implements Transport {
  readonly kind = 'http' as const;
  h: StreamHandlers | null = null;
  eventsCalls = 0;
  unsubscribed = false;
  snapshot = async () => snap(0);
  history = async () => [];
  events = async () => { this.eventsCalls += 1; return [ev(1), ev(3), ev(2)]; };
  config = async () => ({ config: {} as Config, path: '', error: null, issues: [] });
  putConfig = async (config: Config) => ({ valid: true, saved: true, path: '/tmp/headroom.toml', config });
  clearCache = async () => [];
  setLimit = async () => [];
  subscribe(h: StreamHandlers) { this.h = h; return () => { this.unsubscribed = true; }; }
}

describe('Store', () => {
  it('estimates the interval, records arrival, caps the journal and refetches it after a reconnect', async () => {
    let now = 1000;
    const t = new FakeTransport();
    const store = new Store(t, () => now);
    store.start();
    await new Promise((r) => setTimeout(r, 0));
    expect(store.state.journal.map((e) => e.message)).toEqual(['e3', 'e2', 'e1']);
    for (let i = 1; i <= 30; i += 1) { now += 2000; t.h!.snapshot(snap(i * 2)); }
    expect(store.state.intervalMs).toBeGreaterThan(1800);
    expect(store.state.receivedAt).toBe(now);
    for (let i = 0; i < JOURNAL_MAX + 10; i += 1) t.h!.journal(ev(100 + i));
    expect(store.state.journal).toHaveLength(JOURNAL_MAX);
    expect(store.state.journal[0]!.message).toBe(`e${100 + JOURNAL_MAX + 9}`);
    t.h!.status!({ state: 'retrying', failures: 1 });
    t.h!.status!({ state: 'open', failures: 0 });
    expect(t.eventsCalls).toBe(2);
    store.close();
    expect(t.unsubscribed).toBe(true);
  });
});

describe('tickWhileVisible', () => {
  class FakeDoc extends EventTarget {
    visibilityState: DocumentVisibilityState = 'visible';
    set(v: DocumentVisibilityState) { this.visibilityState = v; this.dispatchEvent(new Event('visibilitychange')); }
  }
  it('runs no timer while the page is hidden and ticks at once when shown', () => {
    vi.useFakeTimers();
    try {
      const doc = new FakeDoc();
      let ticks = 0;
      const stop = tickWhileVisible(doc, 1000, () => { ticks += 1; });
      expect(ticks).toBe(0);
      vi.advanceTimersByTime(3000);
      expect(ticks).toBe(3);
      doc.set('hidden');
      const hiddenAt = ticks;
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(60_000);
      expect(ticks).toBe(hiddenAt);
      doc.set('visible');
      expect(ticks).toBe(hiddenAt + 1);
      vi.advanceTimersByTime(2000);
      expect(ticks).toBe(hiddenAt + 3);
      stop();
      expect(vi.getTimerCount()).toBe(0);
      doc.set('hidden'); doc.set('visible');
      expect(ticks).toBe(hiddenAt + 3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('subscribeSince', () => {
  it('re-renders at once for a snapshot that arrived between the render and the subscription', () => {
    const transport = { snapshot: () => new Promise<Snapshot>(() => {}) } as unknown as Transport;
    const store = new Store(transport);
    const rendered = store.state;
    store.onSnapshot(snap(1));
    const rerender = vi.fn();
    const un = subscribeSince(store, rendered, rerender);
    expect(rerender).toHaveBeenCalledTimes(1);
    store.onSnapshot(snap(2));
    expect(rerender).toHaveBeenCalledTimes(2);
    un();
    const quiet = vi.fn();
    subscribeSince(store, store.state, quiet);
    expect(quiet).not.toHaveBeenCalled();
  });
});
