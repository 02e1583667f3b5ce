// Application state fed by the transport: the latest snapshot, when it arrived, the stream's
// health, the journal, and a bounded live series for the 10-minute chart. Bounded
// everywhere so the page's memory stays flat however long it streams.

import type { Event, Snapshot } from './api-types';
import type { StreamStatus, Transport } from './transport';
import { useEffect, useState } from 'preact/hooks';

export const JOURNAL_MAX = 200;

export interface State {
  snapshot: Snapshot | null;
  /** `Date.now()` when the latest snapshot arrived. */
  receivedAt: number | null;
  /** Estimated sampling interval (ms), from the spacing of snapshot timestamps. */
  intervalMs: number;
  stream: StreamStatus;
  /** Newest first, at most JOURNAL_MAX. */
  journal: Event[];
  /** Set when the first snapshot could not be fetched. */
  loadError: string | null;
}

/** Whether data is stale: nothing for 3 sample intervals (and at least 5 s). */
export function staleSeconds(s: Pick<State, 'receivedAt' | 'intervalMs'>, now: number): number | null {
  if (s.receivedAt == null) return null;
  const age = now - s.receivedAt;
  return age > Math.max(5000, 3 * s.intervalMs) ? age / 1000 : null;
}

/** Columns of the live chart (seconds since epoch, then bytes). */
export const SERIES = ['used', 'compressed', 'swap', 'mlxCache'] as const;
export type SeriesName = (typeof SERIES)[number];

/** A fixed-capacity ring of samples, read out as uPlot's column arrays. */
export class LiveSeries {
  private readonly t: Float64Array;
  private readonly cols: Float64Array[];
  private start = 0;
  length = 0;
  constructor(readonly capacity = 720) {
    this.t = new Float64Array(capacity);
    this.cols = SERIES.map(() => new Float64Array(capacity));
  }
  push(s: Snapshot): void {
    const at = Date.parse(s.at) / 1000;
    if (!Number.isFinite(at)) return;
    if (this.length > 0 && at <= this.t[(this.start + this.length - 1) % this.capacity]!) return;
    const i = (this.start + this.length) % this.capacity;
    this.t[i] = at;
    const v = [s.memory.used, s.memory.compressed, s.swap.used, s.mlx.reduce((a, p) => a + (p.cache ?? 0), 0)];
    v.forEach((x, k) => { this.cols[k]![i] = x ?? Number.NaN; });
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
  }
  /** Points newer than `sinceSec` as [times, ...columns]; NaN (unavailable) becomes null. */
  columns(sinceSec = 0): (number | null)[][] {
    const out: (number | null)[][] = [[], ...SERIES.map(() => [])];
    for (let n = 0; n < this.length; n += 1) {
      const i = (this.start + n) % this.capacity;
      if (this.t[i]! < sinceSec) continue;
      out[0]!.push(this.t[i]!);
      this.cols.forEach((c, k) => out[k + 1]!.push(Number.isNaN(c[i]!) ? null : c[i]!));
    }
    return out;
  }
  clear(): void { this.start = 0; this.length = 0; }
}

type Listener = () => void;

export class Store {
  state: State = {
    snapshot: null,
    receivedAt: null,
    intervalMs: 1000,
    stream: { state: 'connecting', failures: 0 },
    journal: [],
    loadError: null,
  };
  readonly live = new LiveSeries();
  private listeners = new Set<Listener>();
  private stop: (() => void) | null = null;

  constructor(readonly transport: Transport, private readonly now = () => Date.now()) {}

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }

  onSnapshot(s: Snapshot): void {
    const prev = this.state.snapshot;
    let intervalMs = this.state.intervalMs;
    if (prev) {
      const d = Date.parse(s.at) - Date.parse(prev.at);
      // Smooth, and ignore gaps (a reconnect) and replays.
      if (d > 0 && d < 10 * 60_000) intervalMs = Math.round(0.8 * intervalMs + 0.2 * d);
    }
    this.live.push(s);
    this.set({ snapshot: s, receivedAt: this.now(), intervalMs, loadError: null });
  }

  onJournal(e: Event): void {
    this.set({ journal: [e, ...this.state.journal].slice(0, JOURNAL_MAX) });
  }

  async refreshJournal(): Promise<void> {
    try {
      const events = await this.transport.events();
      // The API returns oldest first; keep newest first.
      const sorted = [...events].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
      this.set({ journal: sorted.slice(0, JOURNAL_MAX) });
    } catch {
      /* the stream status already says the backend is away */
    }
  }

  private onShow = () => {
    // A window shown again (the app's popover gets updates only while visible): fetch the
    // current sample at once rather than showing the old one as stale until the next.
    if (typeof document !== 'undefined' && document.visibilityState === 'hidden') return;
    if (this.state.receivedAt != null && this.now() - this.state.receivedAt < this.state.intervalMs * 1.5) return;
    this.transport.snapshot().then((s) => {
      const cur = this.state.snapshot;
      if (!cur || Date.parse(s.at) > Date.parse(cur.at)) this.onSnapshot(s);
    }, () => {});
  };

  /** Fetches a first snapshot and the journal, then follows the stream. */
  start(): void {
    if (this.stop) return;
    if (typeof window !== 'undefined') {
      window.addEventListener('focus', this.onShow);
      document.addEventListener('visibilitychange', this.onShow);
    }
    this.transport.snapshot().then(
      (s) => { if (!this.state.snapshot) this.onSnapshot(s); },
      (e: unknown) => {
        if (this.state.snapshot) return;
        const msg = e instanceof Error ? e.message : String(e);
        // 503: serve is up but has not sampled yet; the stream brings the first sample.
        const status = (e as { status?: number }).status;
        this.set({ loadError: status === 503 ? null : msg });
      },
    );
    void this.refreshJournal();
    let wasDown = false;
    this.stop = this.transport.subscribe({
      snapshot: (s) => this.onSnapshot(s),
      journal: (e) => this.onJournal(e),
      status: (st) => {
        if (st.state === 'retrying') wasDown = true;
        if (st.state === 'open' && wasDown) {
          wasDown = false;
          void this.refreshJournal(); // events missed while away
        }
        this.set({ stream: st });
      },
    });
  }

  close(): void {
    this.stop?.();
    this.stop = null;
    if (typeof window !== 'undefined') {
      window.removeEventListener('focus', this.onShow);
      document.removeEventListener('visibilitychange', this.onShow);
    }
  }
}

/** Re-renders the calling component whenever the store changes. */
export function useStore(store: Store): State {
  const [, force] = useState(0);
  const rendered = store.state;
  useEffect(() => subscribeSince(store, rendered, () => force((n) => n + 1)), [store]);
  return rendered;
}

/**
 * Subscribes `rerender` to `store`, and calls it at once when the state changed after
 * `rendered` was drawn: effects run after the first paint, and a fresh page's first
 * snapshot can land in between (the app's new popover would then wait for the next sample).
 */
export function subscribeSince(store: Pick<Store, 'subscribe' | 'state'>, rendered: State, rerender: () => void): () => void {
  const unsubscribe = store.subscribe(rerender);
  if (store.state !== rendered) rerender();
  return unsubscribe;
}

/** The part of `document` a visible-only ticker needs (a fake one in tests). */
export interface VisibilitySource {
  readonly visibilityState: DocumentVisibilityState;
  addEventListener(type: 'visibilitychange', cb: () => void): void;
  removeEventListener(type: 'visibilitychange', cb: () => void): void;
}

/**
 * Calls `tick` every `ms` while `doc` is visible; hidden, no timer runs at all (the app's
 * popover spends most of its life hidden). Shown again, it ticks at once, then every `ms`.
 * Returns the function that stops it.
 */
export function tickWhileVisible(doc: VisibilitySource | undefined, ms: number, tick: () => void): () => void {
  let id: ReturnType<typeof setInterval> | undefined;
  let started = false;
  const run = () => {
    const visible = !doc || doc.visibilityState !== 'hidden';
    if (visible && id === undefined) {
      if (started) tick(); // shown again: the clock is behind
      id = setInterval(tick, ms);
    } else if (!visible && id !== undefined) {
      clearInterval(id);
      id = undefined;
    }
  };
  run();
  started = true;
  doc?.addEventListener('visibilitychange', run);
  return () => {
    doc?.removeEventListener('visibilitychange', run);
    if (id !== undefined) clearInterval(id);
  };
}

/** A clock that ticks every `ms` while the component is mounted and the page visible (for "N s ago"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(
    () => tickWhileVisible(typeof document === 'undefined' ? undefined : document, ms, () => setNow(Date.now())),
    [ms],
  );
  return now;
}
