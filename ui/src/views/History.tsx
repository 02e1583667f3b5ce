import { useEffect, useRef, useState } from 'preact/hooks';
import type { Store } from '../store';
import { Chart, type ChartData } from './Chart';

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
  const timer = useRef<ReturnType<typeof setInterval>>();

  useEffect(() => {
    let alive = true;
    const load = async () => {
      const since = Date.now() / 1000 - secs;
      const fromHistory = await store.transport.history(secs).then(historyColumns, () => null);
      if (!alive) return;
      if (fromHistory && fromHistory[0]!.length > 1) {
        setData(fromHistory);
        setNote(null);
      } else {
        // No history from the backend (yet): what this page has seen since it opened.
        setData(store.live.columns(since));
        setNote(range === '10m' ? null : 'History is not available; showing what this page has seen.');
      }
    };
    void load();
    // 10 min follows the stream; longer ranges refresh once a minute.
    const unsub = range === '10m'
      ? store.subscribe(() => {
          if (!alive) return;
          setData(store.live.columns(Date.now() / 1000 - secs));
        })
      : null;
    timer.current = range === '10m' ? undefined : setInterval(load, 60_000);
    return () => { alive = false; unsub?.(); if (timer.current) clearInterval(timer.current); };
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
      {data ? <Chart data={data} range={secs} /> : <div class="chart-placeholder" />}
      {note ? <p class="muted small">{note}</p> : null}
    </section>
  );
}

/** Turns `/api/history` points into chart columns; null when the shape is not understood. */
export function historyColumns(points: Record<string, unknown>[]): ChartData | null {
  if (!Array.isArray(points)) return null;
  const cols: (number | null)[][] = [[], [], [], [], []];
  for (const p of points) {
    const t = typeof p.at === 'string' ? Date.parse(p.at) / 1000 : typeof p.t === 'number' ? p.t : Number.NaN;
    if (!Number.isFinite(t)) return null;
    const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : null);
    cols[0]!.push(t);
    cols[1]!.push(num('used'));
    cols[2]!.push(num('compressed'));
    cols[3]!.push(num('swap_used'));
    cols[4]!.push(num('mlx_cache'));
  }
  return cols;
}
