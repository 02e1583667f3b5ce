import uPlot from 'uplot';
import { useEffect, useRef, useState } from 'preact/hooks';
import { size } from '../format';
import { newestValues, redrawDue, type ChartWindow, type Drawn } from '../chart-data';
import { SERIES } from '../chart-series';

const GIB = 2 ** 30;

/** `14:05` in local time. */
function clock(sec: number): string {
  const d = new Date(sec * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Short axis labels: `12G`, `1.5G`, `512M`. */
export function axisLabel(v: number): string {
  if (v >= GIB) return `${Number((v / GIB).toFixed(1))}G`;
  return v > 0 ? `${Math.round(v / 2 ** 20)}M` : '0';
}

function colour(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function useDark(): boolean {
  const mq = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  const [dark, setDark] = useState(mq?.matches ?? false);
  useEffect(() => {
    if (!mq) return;
    const on = () => setDark(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  return dark;
}

/**
 * Redraws `u` from `win` (the same arrays every time) with the time axis ending now, when
 * that changes what is seen (see `redrawDue`) or `force`; returns what was drawn.
 */
function draw(u: uPlot, win: ChartWindow, range: number, drawn: Drawn | null, force: boolean): Drawn | null {
  // Lines switched off do not call for a redraw.
  const ys = newestValues(win.data).map((y, k) => (u.series[k + 1]?.show === false ? null : y));
  const next: Drawn = { xMax: Date.now() / 1000, ys };
  const { min, max } = u.scales.y ?? {};
  const span = max != null && min != null && max > min ? max - min : GIB;
  if (!force && !redrawDue(drawn, next, u.bbox.width / range, u.bbox.height / span)) return drawn;
  u.batch(() => {
    u.setData(win.data as uPlot.AlignedData, false);
    u.setScale('x', { min: next.xMax - range, max: next.xMax });
  });
  return next;
}

/** A time-series chart (uPlot) sized to its container, following light/dark, drawing the
 * columns of `win` (one per `SERIES`) as they grow; the legend switches lines on and off. */
export function Chart({ win, range }: { win: ChartWindow; range: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dark = useDark();
  const [shown, setShown] = useState(() => SERIES.map((l) => l.shown));
  const shownNow = useRef(shown);
  shownNow.current = shown;
  const toggle = (k: number) => {
    const next = shown.map((on, i) => (i === k ? !on : on));
    setShown(next);
    plot.current?.setSeries(k + 1, { show: next[k]! });
  };

  useEffect(() => {
    const el = box.current!;
    const axis = { stroke: colour('--fg-muted'), grid: { stroke: colour('--grid'), width: 1 }, ticks: { show: false } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 140,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 5 } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max || 0, GIB) * 1.05] } },
      axes: [
        { ...axis, size: 24, font: '10px system-ui', values: (_u, vals) => vals.map(clock) },
        { ...axis, size: 36, font: '10px system-ui', values: (_u, vals) => vals.map(axisLabel) },
      ],
      series: [
        {},
        ...SERIES.map((l, k) => ({
          label: l.label,
          show: shownNow.current[k],
          stroke: colour(l.css),
          width: 1.5,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => size(v),
        })),
      ],
    };
    const u = new uPlot(opts, win.data as uPlot.AlignedData, el);
    plot.current = u;
    let width = el.clientWidth;
    const ro = new ResizeObserver(() => {
      // Only a real change of width: observing reports the first size too.
      if (el.clientWidth === width) return;
      width = el.clientWidth;
      u.setSize({ width: Math.max(200, width), height: 140 });
    });
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
    // Recreated on theme change only; data updates go through `draw` below.
  }, [dark]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    let drawn = draw(u, win, range, null, true);
    let generation = win.generation;
    return win.subscribe(() => {
      const replaced = win.generation !== generation;
      generation = win.generation;
      drawn = draw(u, win, range, drawn, replaced);
    });
  }, [win, range, dark]);

  const lines = SERIES.filter((_l, k) => shown[k]).map((l) => l.label).join(', ');
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={`Memory over the last ${range >= 3600 ? `${range / 3600} h` : `${range / 60} min`}: ${lines}`} />
      <figcaption class="legend small" role="group" aria-label="Chart lines">
        {SERIES.map((l, k) => (
          <button key={l.key} type="button" aria-pressed={shown[k]} onClick={() => toggle(k)}>
            <span class="line" style={{ background: `var(${l.css})` }} aria-hidden="true" />{l.label}
          </button>
        ))}
      </figcaption>
    </figure>
  );
}
