import { useEffect, useMemo, useState } from 'preact/hooks';
import type { HistoryPoint } from '../api-types';
import { ChartWindow, type ChartData } from '../chart-data';
import { SERIES } from '../chart-series';
import { memo } from './common';
import type { Store } from '../store';
import { watchSelected } from '../store';

// uPlot (half of the JavaScript) loads after the first render, as its own chunk.
type ChartView = (typeof import('./Chart'))['Chart'];
let chartModule: Promise<ChartView> | null = null;
const loadChart = () => (chartModule ??= import('./Chart').then((m) => m.Chart));

/**
 * The chart ranges. 10 min follows the stream; the longer ones reload from the history every
 * `refreshSecs`: about the time one pixel of the ~300 px wide plot stands for (12 s at
 * 1 hour, 288 s at 24 hours), at least a minute. A 24-hour reload reads a day of samples on
 * the backend and sends 1000 points (~0.5 MB of JSON): reloaded every minute, that was
 * most of what the 24-hour view cost beyond the 10-minute one, for a chart that had moved by
 * a fifth of a pixel.
 */
const RANGES = [
  { id: '10m', label: '10 min', secs: 600, refreshSecs: 0 },
  { id: '1h', label: '1 hour', secs: 3600, refreshSecs: 60 },
  { id: '24h', label: '24 hours', secs: 86400, refreshSecs: 300 },
] as const;
type RangeId = (typeof RANGES)[number]['id'];

/**
 * Keeps `win` showing the last `secs` seconds: `history` (from the backend, or null) up to
 * where the page's own live series starts, then the live series. With `follow`, each new
 * sample is appended to the same arrays (the whole window is rebuilt only after a gap, e.g.
 * samples that arrived while the page was hidden). Returns the function that stops it.
 */
export function followLive(store: Store, win: ChartWindow, secs: number, history: ChartData | null, follow: boolean): () => void {
  let seen = store.live.pushed;
  const fill = () => {
    seen = store.live.pushed;
    const live = store.live.columns(Date.now() / 1000 - secs);
    win.replace(history ? mergeColumns(history, live) : live);
  };
  fill();
  if (!follow) return () => {};
  return watchSelected(store, () => (s) => s.snapshot, Object.is, () => {
    const pushed = store.live.pushed;
    if (pushed === seen) return;
    const last = store.live.last();
    if (pushed === seen + 1 && last) {
      seen = pushed;
      win.append(last, Date.now() / 1000 - secs);
    } else {
      fill();
    }
  });
}

/** Charts of the last 10 minutes, 1 hour and 24 hours. Memoised: it follows the store
 * itself, so the Overview's per-sample render does not reach it. */
export const History = memo(function History({ store }: { store: Store }) {
  const [range, setRange] = useState<RangeId>('10m');
  const [ready, setReady] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const { secs, refreshSecs } = RANGES.find((r) => r.id === range)!;
  const [Chart, setChart] = useState<ChartView | null>(null);
  // One set of arrays for the chart's life: uPlot is handed the same columns on every update.
  const win = useMemo(() => new ChartWindow(), []);
  useEffect(() => {
    let alive = true;
    void loadChart().then((c) => { if (alive) setChart(() => c); });
    return () => { alive = false; };
  }, []);

  useEffect(() => {
    let alive = true;
    let stop = () => {};
    const load = async () => {
      const fromHistory = await store.transport.history(secs).then(historyColumns, () => null);
      if (!alive) return;
      const hist = fromHistory && fromHistory[0]!.length > 0 ? fromHistory : null;
      // Without history from the backend: what this page has seen since it opened.
      setNote(hist || range === '10m' ? null : 'History is not available; showing what this page has seen.');
      stop();
      // 10 min follows the stream; longer ranges reload every `refreshSecs`.
      stop = followLive(store, win, secs, hist, refreshSecs === 0);
      setReady(true);
    };
    void load();
    const timer = refreshSecs === 0 ? null : setInterval(load, refreshSecs * 1000);
    return () => { alive = false; stop(); if (timer) clearInterval(timer); };
  }, [range, store, secs, refreshSecs, win]);

  return (
    <section class="history" aria-label="History">
      <div class="seg-control" role="radiogroup" aria-label="Chart range">
        {RANGES.map((r) => (
          <button key={r.id} role="radio" aria-checked={range === r.id} onClick={() => setRange(r.id)}>
            {r.label}
          </button>
        ))}
      </div>
      {ready && Chart ? <Chart win={win} range={secs} /> : <div class="chart-placeholder" />}
      {note ? <p class="muted small">{note}</p> : null}
    </section>
  );
});

/** Turns `/api/history` points (`t` in ms since the epoch) into chart columns, one per
 * chart series (`SERIES`, in its order). */
export function historyColumns(points: HistoryPoint[] | { points: HistoryPoint[] }): ChartData | null {
  const list = Array.isArray(points) ? points : points?.points;
  if (!Array.isArray(list)) return null;
  const cols: (number | null)[][] = [[], ...SERIES.map(() => [])];
  for (const p of list) {
    if (typeof p.t !== 'number') return null;
    cols[0]!.push(p.t / 1000);
    SERIES.forEach((series, k) => cols[k + 1]!.push(p[series.key] ?? null));
  }
  return cols;
}

/** History up to where the live series starts, then the live series. */
export function mergeColumns(hist: ChartData, live: ChartData): ChartData {
  const first = live[0]!.length ? live[0]![0]! : Number.POSITIVE_INFINITY;
  let n = 0;
  while (n < hist[0]!.length && (hist[0]![n] as number) < first) n += 1;
  return hist.map((col, k) => col.slice(0, n).concat(live[k] ?? []));
}
