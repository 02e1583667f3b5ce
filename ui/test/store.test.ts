import { describe, expect, it, vi } from 'vitest';
import {
  JOURNAL_MAX, LiveSeries, Store, shallowEqual, type State, staleCheckIn, staleSeconds, watchSelected, watchStale,
} from '../src/store';
import type { Config, Event, Snapshot } from '../src/api-types';
import type { StreamHandlers, Transport } from '../src/transport';
import { ChartWindow } from '../src/chart-data';
import { followLive, mergeColumns } from '../src/views/History';
import { barView, overviewText } from '../src/views/Overview';
import { pageTitle } from '../src/views/App';
import { sameProcesses } from '../src/views/Mlx';
import { memo } from '../src/views/common';

const snap = (sec: number, used = sec): Snapshot => ({
  platform: 'linux', at: new Date(sec * 1000).toISOString(),
  memory: { total: 100, used, app: null, wired: null, compressed: null, cached: null, free: null, available: null },
  swap: { total: 0, used: 0 }, pressure: { level: 'normal', free_percent: 50 },
  rates: { swapins: null, swapouts: null, compressions: null, decompressions: null, pageins: null },
  gpu: { wired_limit: null, recommended_working_set: null },
  mlx: [{ pid: 1, name: 'p', attached: true, footprint: 10, cache: 5, restart_for_wired_limit: false },
    { pid: 2, name: 'q', attached: false, footprint: 10, restart_for_wired_limit: false }],
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
  enableAgent = async () => { throw new Error('not used'); };
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

describe('the first frame', () => {
  it('waits for the first sample, even on a hidden page, and no longer than its bound', async () => {
    vi.useFakeTimers();
    try {
      const doc = new FakeDoc();
      doc.visibilityState = 'hidden';
      const store = new Store(new FakeTransport(), () => 0, doc);
      let ready = false;
      void store.firstSample(1000).then(() => { ready = true; });
      await vi.advanceTimersByTimeAsync(500);
      expect(ready).toBe(false);
      store.onSnapshot(snap(1));
      await vi.advanceTimersByTimeAsync(0);
      expect(ready).toBe(true);

      const empty = new Store(new FakeTransport(), () => 0, doc);
      let late = false;
      void empty.firstSample(1000).then(() => { late = true; });
      await vi.advanceTimersByTimeAsync(999);
      expect(late).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(late).toBe(true);
      const failed = new Store(new FakeTransport(), () => 0, doc);
      failed.set({ loadError: 'refused' });
      await expect(failed.firstSample(1000)).resolves.toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});

class FakeDoc extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';
  set(v: DocumentVisibilityState) { this.visibilityState = v; this.dispatchEvent(new Event('visibilitychange')); }
}

describe('updates reach only what changed', () => {
  it('a selection is told of changes to what it picked, not of every sample', () => {
    const t = new FakeTransport();
    const store = new Store(t, () => 0, undefined);
    store.onSnapshot(snap(1));
    const levels: string[] = [];
    const stop = watchSelected(store, () => (s) => s.snapshot?.pressure.level ?? 'none', Object.is, (l) => levels.push(l));
    for (let i = 2; i < 10; i += 1) store.onSnapshot(snap(i)); // a new snapshot object each time
    expect(levels).toEqual([]);
    const warn = snap(10);
    warn.pressure.level = 'warn';
    store.onSnapshot(warn);
    store.onSnapshot({ ...snap(11), pressure: { level: 'warn', free_percent: 10 } });
    expect(levels).toEqual(['warn']);
    stop();
    store.onSnapshot(snap(12));
    expect(levels).toEqual(['warn']);
  });

  it('while the page is hidden the state follows the stream and no listener runs; shown, one update', () => {
    const doc = new FakeDoc();
    const t = new FakeTransport();
    const store = new Store(t, () => Date.now(), doc);
    store.start();
    let calls = 0;
    store.subscribe(() => { calls += 1; });
    t.h!.snapshot(snap(1));
    expect(calls).toBe(1);
    doc.set('hidden');
    for (let i = 2; i <= 6; i += 1) t.h!.snapshot(snap(i));
    expect(calls).toBe(1);
    expect(store.state.snapshot!.at).toBe(snap(6).at);
    expect(store.live.pushed).toBe(6);
    doc.set('visible');
    expect(calls).toBe(2);
    store.close();
  });

  it('the memory bar view is equal when what it shows is equal, although the bytes moved', () => {
    const m = (used: number, app: number) => ({ total: 16 * 2 ** 30, used, app, wired: 2 ** 30, compressed: 0, cached: 2 ** 30, free: 2 ** 32, available: 2 ** 33 });
    const a = barView(m(8 * 2 ** 30, 5 * 2 ** 30));
    const b = barView(m(8 * 2 ** 30 + 4096, 5 * 2 ** 30 + 4096));
    expect(shallowEqual(a, b)).toBe(true);
    const c = barView(m(9 * 2 ** 30, 6 * 2 ** 30));
    expect(shallowEqual(a, c)).toBe(false);
    expect(c.w_app).toBe(37.5);
  });

  it('a memoised component skips a render with equal props and not one with changed props', () => {
    const Row = memo((p: { label: string; value: string }) => p.value as unknown as preact.VNode);
    const inst = new (Row as unknown as new (p: object) => { props: object; shouldComponentUpdate(n: object): boolean })({ label: 'Used', value: '1.2 GB' });
    expect(inst.shouldComponentUpdate({ label: 'Used', value: '1.2 GB' })).toBe(false);
    expect(inst.shouldComponentUpdate({ label: 'Used', value: '1.3 GB' })).toBe(true);
  });

  it('MLX rows compare field by field', () => {
    const a = snap(1).mlx;
    expect(sameProcesses(a, snap(2).mlx)).toBe(true);
    const b = snap(2).mlx;
    b[0]!.cache = 6;
    expect(sameProcesses(a, b)).toBe(false);
    expect(sameProcesses(a, a.slice(0, 1))).toBe(false);
    // The policy state is a new object every sample: compared by value.
    const status = (source: 'policy' | 'manual') => ({
      policy: 'every-mlx-process',
      limits_source: [{ limit: 'cache' as const, source, why: '' }],
    });
    const c = snap(3).mlx, d = snap(4).mlx;
    c[0]!.policy = status('policy');
    d[0]!.policy = status('policy');
    expect(sameProcesses(c, d)).toBe(true);
    d[0]!.policy = status('manual');
    expect(sameProcesses(c, d)).toBe(false);
  });
});

describe('the live chart', () => {
  it('appends each new sample to the same arrays instead of rebuilding the window', () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(100_000);
      const store = new Store(new FakeTransport(), () => Date.now(), undefined);
      for (let i = 1; i <= 50; i += 1) store.onSnapshot(snap(i));
      const win = new ChartWindow();
      const columns = vi.spyOn(store.live, 'columns');
      const stop = followLive(store, win, 600, null, true);
      expect(columns).toHaveBeenCalledTimes(1); // the first fill
      const arrays = [...win.data];
      let changes = 0;
      win.subscribe(() => { changes += 1; });
      for (let i = 51; i <= 60; i += 1) store.onSnapshot(snap(i, i * 10));
      expect(columns).toHaveBeenCalledTimes(1);
      expect(changes).toBe(10);
      expect(win.data.every((c, k) => c === arrays[k])).toBe(true);
      expect(win.data[0]!.slice(-2)).toEqual([59, 60]);
      expect(win.data[1]!.slice(-1)).toEqual([600]);
      expect(win.generation).toBe(1);
      // Samples the chart did not see one by one (e.g. while hidden): rebuilt once, same arrays.
      store.live.push(snap(61));
      store.onSnapshot(snap(62));
      expect(columns).toHaveBeenCalledTimes(2);
      expect(win.data[0]!.slice(-2)).toEqual([61, 62]);
      expect(win.data.every((c, k) => c === arrays[k])).toBe(true);
      stop();
      store.onSnapshot(snap(63));
      expect(win.length).toBe(62);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('staleness without a clock', () => {
  it('waits for the moment data turns stale, then ticks each second; hidden, no timer', () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(0);
      const doc = new FakeDoc();
      const t = new FakeTransport();
      const store = new Store(t, () => Date.now(), doc);
      store.start();
      const seen: (number | null)[] = [];
      const stop = watchStale(store, doc, (s) => seen.push(s));
      expect(seen).toEqual([null]);
      expect(vi.getTimerCount()).toBe(0); // nothing to wait for before the first sample
      // Ten samples a second apart: one timer at a time, re-armed by each, never a tick.
      for (let i = 1; i <= 10; i += 1) {
        vi.advanceTimersByTime(1000);
        t.h!.snapshot(snap(i));
        expect(vi.getTimerCount()).toBe(1);
      }
      expect(seen).toEqual([null]);
      expect(staleCheckIn(store.state, Date.now())).toBe(5001);
      vi.advanceTimersByTime(5000);
      expect(seen).toEqual([null]);
      vi.advanceTimersByTime(1);
      expect(seen).toEqual([null, 5]);
      vi.advanceTimersByTime(3000);
      expect(seen).toEqual([null, 5, 6, 7, 8]);
      doc.set('hidden');
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(60_000);
      expect(seen).toEqual([null, 5, 6, 7, 8]);
      doc.set('visible');
      expect(seen.at(-1)).toBe(68);
      t.h!.snapshot(snap(100));
      expect(seen.at(-1)).toBeNull();
      stop();
      store.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('what the live views re-render for', () => {
  const GB = 2 ** 30;
  const big = (sec: number, used: number): Snapshot => {
    const s = snap(sec, used);
    return { ...s, memory: { ...s.memory, total: 16 * GB } };
  };

  it('the Overview text ignores bytes below the shown precision and follows every shown figure', () => {
    // A few KB apart: the same "4.0 GB used of 16.0 GB (25%)".
    const a = big(1, 4 * GB);
    const b = big(2, 4 * GB + 4096);
    expect(overviewText(a)).toBe(overviewText(b));
    expect(overviewText(big(3, 5 * GB))).not.toBe(overviewText(a));
    const slower = { ...b, rates: { ...b.rates, compressions: 2 ** 20 } };
    expect(overviewText(slower)).not.toBe(overviewText(b));
    const fewer = { ...b, mlx: b.mlx.slice(1) };
    expect(overviewText(fewer)).not.toBe(overviewText(b));
    expect(overviewText(null)).toBe('');
  });

  it('the page title is worked out apart from the shell', () => {
    const st = (s: Snapshot | null): State => ({
      snapshot: s, receivedAt: null, intervalMs: 1000, stream: { state: 'open', failures: 0 }, journal: [], loadError: null,
    });
    expect(pageTitle(st(null))).toBeNull();
    expect(pageTitle(st(big(1, 4 * GB)))).toBe('25% used · Normal — Headroom');
  });
});
