// Application state fed by the transport: the latest snapshot, when it arrived, the stream's
// health, the journal, and a bounded live series for the 10-minute chart. Bounded
// everywhere so the page's memory stays flat however long it streams.

import type { Event, Snapshot } from './api-types';
import type { StreamStatus, Transport } from './transport';
import { useEffect, useRef, useState } from 'preact/hooks';
import { SERIES, SNAPSHOT_VALUE } from './chart-series';

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

/** How long without a sample before data counts as stale: 3 sample intervals, at least 5 s. */
function staleAfterMs(intervalMs: number): number {
  return Math.max(5000, 3 * intervalMs);
}

/** Whether data is stale: nothing for 3 sample intervals (and at least 5 s). */
export function staleSeconds(s: Pick<State, 'receivedAt' | 'intervalMs'>, now: number): number | null {
  if (s.receivedAt == null) return null;
  const age = now - s.receivedAt;
  return age > staleAfterMs(s.intervalMs) ? age / 1000 : null;
}

/**
 * Milliseconds until the staleness shown should next be looked at: when fresh, the moment it
 * turns stale (one timer per sample, not a clock ticking every second); when stale, the next
 * whole second of "last update N s ago"; `null` before the first sample.
 */
export function staleCheckIn(s: Pick<State, 'receivedAt' | 'intervalMs'>, now: number): number | null {
  if (s.receivedAt == null) return null;
  const age = now - s.receivedAt;
  const after = staleAfterMs(s.intervalMs);
  if (age <= after) return after - age + 1;
  return 1000 - (age % 1000) + 1;
}


/** A fixed-capacity ring of samples, read out as uPlot's column arrays: seconds since the
 * epoch, then one column per chart series (`SERIES`, in its order). */
export class LiveSeries {
  private readonly t: Float64Array;
  private readonly cols: Float64Array[];
  private start = 0;
  length = 0;
  /** Samples pushed since creation (a reader that saw `pushed - 1` needs only `last()`). */
  pushed = 0;
  constructor(readonly capacity = 720) {
    this.t = new Float64Array(capacity);
    this.cols = SERIES.map(() => new Float64Array(capacity));
  }
  push(s: Snapshot, atMs = Date.parse(s.at)): void {
    const at = atMs / 1000;
    if (!Number.isFinite(at)) return;
    if (this.length > 0 && at <= this.t[(this.start + this.length - 1) % this.capacity]!) return;
    const i = (this.start + this.length) % this.capacity;
    this.t[i] = at;
    SERIES.forEach((series, k) => { this.cols[k]![i] = SNAPSHOT_VALUE[series.key]?.(s) ?? Number.NaN; });
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
    this.pushed += 1;
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
  /** The newest point as [time, ...columns] (NaN as null), or null when empty. */
  last(): (number | null)[] | null {
    if (this.length === 0) return null;
    const i = (this.start + this.length - 1) % this.capacity;
    return [this.t[i]!, ...this.cols.map((c) => (Number.isNaN(c[i]!) ? null : c[i]!))];
  }
  clear(): void { this.start = 0; this.length = 0; this.pushed += 1; }
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
  /** `Date.parse` of the latest snapshot's `at` (parsed once, on arrival). */
  private atMs = Number.NaN;
  /** A change arrived while the page was hidden: listeners hear of it when it is shown. */
  private pending = false;
  /** Who waits for a first sample (or the reason there is none): see `firstSample`. */
  private waiters: (() => void)[] = [];

  /**
   * `doc` tells whether the page is visible (`document` in a browser): while hidden, state
   * still follows the stream but no listener runs, so nothing renders that nobody sees.
   */
  constructor(
    readonly transport: Transport,
    private readonly now = () => Date.now(),
    private readonly doc: VisibilitySource | undefined = typeof document === 'undefined' ? undefined : document,
  ) {}

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    if (this.waiters.length && (this.state.snapshot || this.state.loadError)) {
      for (const w of this.waiters.splice(0)) w();
    }
    if (this.doc?.visibilityState === 'hidden') {
      this.pending = true;
      return;
    }
    this.pending = false;
    for (const l of this.listeners) l();
  }

  onSnapshot(s: Snapshot): void {
    const at = Date.parse(s.at);
    let intervalMs = this.state.intervalMs;
    if (this.state.snapshot) {
      const d = at - this.atMs;
      // Smooth, and ignore gaps (a reconnect) and replays.
      if (d > 0 && d < 10 * 60_000) intervalMs = Math.round(0.8 * intervalMs + 0.2 * d);
    }
    this.atMs = at;
    this.live.push(s, at);
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
    if (this.doc?.visibilityState === 'hidden') return;
    if (this.pending) this.set({});
    if (this.state.receivedAt != null && this.now() - this.state.receivedAt < this.state.intervalMs * 1.5) return;
    this.transport.snapshot().then((s) => {
      if (!this.state.snapshot || Date.parse(s.at) > this.atMs) this.onSnapshot(s);
    }, () => {});
  };

  /**
   * Resolves once the state has a first sample or says why it has none (`loadError`), or
   * after `ms` at the latest: the page renders its first frame with data when it can.
   */
  firstSample(ms: number): Promise<void> {
    if (this.state.snapshot || this.state.loadError) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  /** Fetches a first snapshot and the journal, then follows the stream. */
  start(): void {
    if (this.stop) return;
    if (typeof window !== 'undefined') window.addEventListener('focus', this.onShow);
    this.doc?.addEventListener('visibilitychange', this.onShow);
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
    if (typeof window !== 'undefined') window.removeEventListener('focus', this.onShow);
    this.doc?.removeEventListener('visibilitychange', this.onShow);
  }
}

/** Equal when both have the same keys with `Object.is`-equal values (one level deep). */
export function shallowEqual<T>(a: T, b: T): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a) as (keyof T)[];
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && Object.is(a[k], b[k]));
}

/**
 * Calls `onChange` when what `select` picks from the store's state changes (by `equal`),
 * never for a change elsewhere in the state. Returns the function that stops it.
 */
export function watchSelected<T>(
  store: Store,
  select: () => (s: State) => T,
  equal: (a: T, b: T) => boolean,
  onChange: (v: T) => void,
): () => void {
  let last = select()(store.state);
  return store.subscribe(() => {
    const next = select()(store.state);
    if (equal(last, next)) return;
    last = next;
    onChange(next);
  });
}

/**
 * The part of the state `select` picks; the component re-renders only when that changes
 * (by `equal`, `Object.is` unless given), not on every sample.
 */
export function useSelected<T>(store: Store, select: (s: State) => T, equal: (a: T, b: T) => boolean = Object.is): T {
  const [, force] = useState(0);
  const latest = useRef(select);
  latest.current = select;
  const value = select(store.state);
  const shown = useRef(value);
  shown.current = value;
  useEffect(() => {
    const stop = watchSelected(store, () => latest.current, equal, () => force((n) => n + 1));
    // A change between this render and the subscription (effects run after paint).
    if (!equal(shown.current, latest.current(store.state))) force((n) => n + 1);
    return stop;
  }, [store]);
  return value;
}

/** Re-renders the calling component whenever the store changes. */
export function useStore(store: Store): State {
  return useSelected(store, (s) => s, Object.is);
}

/**
 * Follows staleness without a clock running while the data is fresh: one timer waits for
 * the moment it would turn stale (re-armed by each sample); only while stale does it tick,
 * once a second, for "last update N s ago"; hidden, nothing runs. Calls `onChange` with the
 * whole seconds since the last sample when stale, else null, whenever that changes.
 * Returns the function that stops it.
 */
export function watchStale(store: Store, doc: VisibilitySource | undefined, onChange: (staleSecs: number | null) => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shown: number | null | undefined;
  const check = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (doc?.visibilityState === 'hidden') return;
    const now = Date.now();
    const stale = staleSeconds(store.state, now);
    const secs = stale == null ? null : Math.floor(stale);
    if (secs !== shown) { shown = secs; onChange(secs); }
    const wait = staleCheckIn(store.state, now);
    if (wait != null) timer = setTimeout(check, wait);
  };
  check();
  const unwatch = watchSelected(store, () => (s) => s.receivedAt, Object.is, check);
  doc?.addEventListener('visibilitychange', check);
  return () => {
    unwatch();
    doc?.removeEventListener('visibilitychange', check);
    if (timer !== undefined) clearTimeout(timer);
  };
}

const page = (): VisibilitySource | undefined => (typeof document === 'undefined' ? undefined : document);

/** Whole seconds since the last sample while the data is stale, else null (see `watchStale`). */
export function useStale(store: Store): number | null {
  const [stale, setStale] = useState<number | null>(null);
  useEffect(() => watchStale(store, page(), setStale), [store]);
  return stale;
}

/** Whether the data is stale; re-renders only when that flips. */
export function useIsStale(store: Store): boolean {
  const [stale, setStale] = useState(false);
  useEffect(() => watchStale(store, page(), (s) => setStale(s != null)), [store]);
  return stale;
}

/** The part of `document` a visible-only ticker needs (a fake one in tests). */
export interface VisibilitySource {
  readonly visibilityState: DocumentVisibilityState;
  addEventListener(type: 'visibilitychange', cb: () => void): void;
  removeEventListener(type: 'visibilitychange', cb: () => void): void;
}
