import { useEffect, useState } from 'preact/hooks';
import type { HistoryPoint } from '../api-types';
import type { Store } from '../store';
import type { ChartData } from './Chart';

// uPlot (half of the JavaScript) loads after the first render, as its own chunk.
type ChartView = (typeof import('./Chart'))['Chart'];
let chartModule: Promise<ChartView> | null = null;
const loadChart = () => (chartModule ??= import('./Chart').then((m) => m.Chart));

const RANGES = [
  { id: '10m', label: '10 min', secs: 600 },
  { id: '1h', label: '1 hour', secs: 3600 },
  { id: '24h', label: '24 hours', secs: 86400 },
] as const;
type RangeId = (typeof RANGES)[number]['id'];

/** Charts of the last 10 minutes, 1 hour and 24 hours. */
export function History({ store }: { store: Store }) {
  const [range, setRange] = useState<RangeId>('10m');
  const [data, setData] = useState<ChartData | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const secs = RANGES.find((r) => r.id === range)!.secs;
  const [Chart, setChart] = useState<ChartView | null>(null);
  useEffect(() => {
    let alive = true;
    void loadChart().then((c) => { if (alive) setChart(() => c); });
    return () => { alive = false; };
  }, []);

  useEffect(() => {
    let alive = true;
    let hist: ChartData | null = null;
    const show = () => {
      const since = Date.now() / 1000 - secs;
      const live = store.live.columns(since);
      setData(hist ? mergeColumns(hist, live) : live);
    };
    const load = async () => {
      const fromHistory = await store.transport.history(secs).then(historyColumns, () => null);
      if (!alive) return;
      hist = fromHistory && fromHistory[0]!.length > 0 ? fromHistory : null;
      // Without history from the backend: what this page has seen since it opened.
      setNote(hist || range === '10m' ? null : 'History is not available; showing what this page has seen.');
      show();
    };
    void load();
    // 10 min follows the stream; longer ranges refresh once a minute.
    const unsub = range === '10m' ? store.subscribe(() => { if (alive) show(); }) : null;
    const timer = range === '10m' ? null : setInterval(load, 60_000);
    return () => { alive = false; unsub?.(); if (timer) clearInterval(timer); };
  }, [range, store, secs]);

  return (
    <section class="history" aria-label="History">
      <div class="seg-control" role="radiogroup" aria-label="Chart range">
        {RANGES.map((r) => (
          <button key={r.id} role="radio" aria-checked={range === r.id} onClick={() => setRange(r.id)}>
            {r.label}
          </button>
        ))}
      </div>
      {data && Chart ? <Chart data={data} range={secs} /> : <div class="chart-placeholder" />}
      {note ? <p class="muted small">{note}</p> : null}
    </section>
  );
}

/** Turns `/api/history` points (`t` in ms since the epoch) into chart columns. */
export function historyColumns(points: HistoryPoint[] | { points: HistoryPoint[] }): ChartData | null {
  const list = Array.isArray(points) ? points : points?.points;
  if (!Array.isArray(list)) return null;
  const cols: (number | null)[][] = [[], [], [], [], []];
  for (const p of list) {
    if (typeof p.t !== 'number') return null;
    cols[0]!.push(p.t / 1000);
    cols[1]!.push(p.used ?? null);
    cols[2]!.push(p.compressed ?? null);
    cols[3]!.push(p.swap_used ?? null);
    cols[4]!.push(p.mlx_cache ?? null);
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
