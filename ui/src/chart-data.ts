// The columns a chart shows, updated in place, and when a new sample is worth a redraw.
// No DOM here: the chart view (views/Chart.tsx, uPlot) draws from these.

import { SERIES } from './chart-series';

/** uPlot columns: seconds since epoch, then one per chart series (`SERIES`, in its order). */
export type ChartData = (number | null)[][];

/** Points older than the window are dropped once this many have piled up (one splice). */
const TRIM_BATCH = 64;

/**
 * A chart's columns, kept in the same arrays for the chart's whole life: a new sample is
 * appended (and old points dropped in batches) instead of the window being rebuilt, and a
 * history load copies into the same arrays. Listeners hear of each change.
 */
export class ChartWindow {
  readonly data: ChartData;
  /** Bumped when the columns are replaced wholesale (not on append). */
  generation = 0;
  private listeners = new Set<() => void>();

  constructor(columns = SERIES.length + 1) {
    this.data = Array.from({ length: columns }, () => []);
  }

  get length(): number {
    return this.data[0]!.length;
  }

  /** The newest time shown, or -Infinity when empty. */
  lastTime(): number {
    const t = this.data[0]!;
    return t.length ? (t[t.length - 1] as number) : Number.NEGATIVE_INFINITY;
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Copies `cols` into the chart's own arrays (they stay the same objects). */
  replace(cols: ChartData): void {
    this.data.forEach((col, k) => {
      col.length = 0;
      const from = cols[k] ?? [];
      for (let i = 0; i < from.length; i += 1) col.push(from[i]!);
    });
    this.generation += 1;
    this.emit();
  }

  /**
   * Appends `point` ([time, ...values]) when newer than the last one; points before
   * `sinceSec` are dropped in batches. Returns whether anything was appended.
   */
  append(point: (number | null)[], sinceSec: number): boolean {
    const t = point[0];
    if (typeof t !== 'number' || !(t > this.lastTime())) return false;
    this.data.forEach((col, k) => col.push(point[k] ?? null));
    const times = this.data[0]!;
    let old = 0;
    while (old < times.length && (times[old] as number) < sinceSec) old += 1;
    if (old >= TRIM_BATCH) for (const col of this.data) col.splice(0, old);
    this.emit();
    return true;
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

/** What a chart last drew: the right edge of its time axis and each series' newest value. */
export interface Drawn {
  xMax: number;
  ys: (number | null)[];
}

/**
 * Whether a redraw would change what is seen: the time axis moved by a whole device pixel,
 * or a series' newest value moved by one vertically (or appeared or vanished). Below that the
 * chart is left as it is: at 10 minutes over ~330 pixels one sample moves it ~0.5 px, at 24
 * hours ~0.004 px.
 */
export function redrawDue(drawn: Drawn | null, next: Drawn, pxPerSec: number, pxPerUnit: number): boolean {
  if (!drawn) return true;
  if (Math.abs(next.xMax - drawn.xMax) * pxPerSec >= 1) return true;
  return next.ys.some((y, k) => {
    const was = drawn.ys[k] ?? null;
    if ((y == null) !== (was == null)) return true;
    return y != null && was != null && Math.abs(y - was) * pxPerUnit >= 1;
  });
}

/** Each series' newest value in `data` (null where the column is empty). */
export function newestValues(data: ChartData): (number | null)[] {
  return data.slice(1).map((col) => (col.length ? (col[col.length - 1] ?? null) : null));
}
