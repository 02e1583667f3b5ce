import type { Snapshot } from '../api-types';
import { percent, rate, size } from '../format';
import type { Store } from '../store';
import { shallowEqual, useSelected } from '../store';
import { memo, Stat } from './common';
import { History } from './History';
import { shortLabel } from '../chart-series';

/** The memory bar's parts, keyed by metric registry key; labels are the registry's (short forms). */
const PARTS = (['app', 'wired', 'compressed', 'cached', 'free'] as const).map((key) => ({ key, label: shortLabel(key) }));

/**
 * What the Overview shows of a snapshot, as text: a sample that changes none of it (bytes
 * moving under the shown precision) does not re-render the view. The exact bytes in
 * `data-bytes` are those of the sample that last changed the text, so they always match it.
 */
export function overviewText(s: Snapshot | null): string {
  if (!s) return '';
  const m = s.memory;
  const frac = m.used != null && m.total ? m.used / m.total : null;
  const mlxCache = s.mlx.reduce((a, p) => a + (p.cache ?? 0), 0);
  const bar = barView(m);
  return [
    size(m.used), size(m.total), percent(frac), s.pressure.free_percent == null ? '' : Math.round(s.pressure.free_percent),
    size(s.swap.used), size(s.swap.total), rate(s.rates.swapouts), size(m.compressed), rate(s.rates.compressions),
    size(m.available), size(mlxCache), s.mlx.filter((p) => p.attached).length, s.mlx.length,
    s.gpu.wired_limit ?? '', s.pressure.psi_some_avg10?.toFixed(1) ?? '', s.pressure.psi_full_avg10?.toFixed(1) ?? '',
    ...PARTS.map((p) => `${bar[p.key]}:${bar[`w_${p.key}`]}`), s.unavailable.join(','),
  ].join('|');
}

/** `overviewText` of each snapshot compared, worked out once per snapshot. */
const texts = new WeakMap<Snapshot, string>();
function textOf(s: Snapshot | null): string {
  if (!s) return '';
  let t = texts.get(s);
  if (t === undefined) texts.set(s, (t = overviewText(s)));
  return t;
}
const sameOverview = (a: Snapshot | null, b: Snapshot | null) => a === b || (a != null && b != null && textOf(a) === textOf(b));

export function Overview({ store }: { store: Store }) {
  const s = useSelected(store, (st) => st.snapshot, sameOverview);
  if (!s) return <p class="muted">Waiting for the first sample…</p>;
  const m = s.memory;
  const frac = m.used != null && m.total ? m.used / m.total : null;
  const mlxCache = s.mlx.reduce((a, p) => a + (p.cache ?? 0), 0);
  const attached = s.mlx.filter((p) => p.attached).length;
  return (
    <section aria-label="Overview" class="overview">
      <p class="headline">
        <span class="num big" data-testid="used" data-bytes={m.used ?? undefined}>{size(m.used)}</span>
        {' used of '}
        <span class="num" data-testid="total" data-bytes={m.total ?? undefined}>{size(m.total)}</span>
        <span class="muted num"> ({percent(frac)})</span>
        {s.pressure.free_percent != null ? (
          <span class="muted num" data-testid="free-percent"> · {Math.round(s.pressure.free_percent)}% free</span>
        ) : null}
      </p>
      <MemoryBar {...barView(m)} />
      <dl class="stats">
        <Stat label="Swap used" testid="swap" bytes={s.swap.used}
          value={size(s.swap.used)}
          sub={`of ${size(s.swap.total)} · out ${rate(s.rates.swapouts)}`} />
        <Stat label="Compressed" testid="compressed" bytes={m.compressed}
          value={size(m.compressed)}
          sub={`compress ${rate(s.rates.compressions)}`} />
        <Stat label="Available" testid="available" bytes={m.available} value={size(m.available)} />
        <Stat label="MLX cache" testid="mlx-cache" bytes={mlxCache}
          value={attached ? size(mlxCache) : '—'}
          sub={`${attached} of ${s.mlx.length} attached`} />
        {s.gpu.wired_limit != null ? (
          <Stat label="GPU wired limit" testid="gpu-wired"
            value={s.gpu.wired_limit === 0 ? 'macOS default' : size(s.gpu.wired_limit)} />
        ) : null}
        {s.pressure.psi_some_avg10 != null ? (
          <Stat label="Stalled (PSI 10 s)" value={`${s.pressure.psi_some_avg10.toFixed(1)}%`}
            sub={s.pressure.psi_full_avg10 != null ? `full ${s.pressure.psi_full_avg10.toFixed(1)}%` : undefined} />
        ) : null}
      </dl>
      <History store={store} />
      <Help unavailable={s.unavailable.join('\n')} />
    </section>
  );
}

type PartKey = (typeof PARTS)[number]['key'];
/** What the memory bar shows: each part's text and its width in steps of a quarter percent. */
type BarView = Record<PartKey, string> & Record<`w_${PartKey}`, number>;

/** Widths finer than a quarter percent (under a pixel of the bar) are not shown: a sample
 * that moves a part by less does not repaint the bar. */
const WIDTH_STEP = 0.25;

/** The bar's view of `m`: flat strings and numbers, so an unchanged bar is not re-rendered. */
export function barView(m: Snapshot['memory']): BarView {
  const total = m.total ?? 0;
  const view = {} as Record<string, string | number>;
  let left = 100;
  for (const p of PARTS) {
    const v = m[p.key];
    view[p.key] = size(v);
    let w = 0;
    if (total > 0 && v != null && v > 0) {
      w = Math.min(left, Math.round(((v / total) * 100) / WIDTH_STEP) * WIDTH_STEP);
      left -= w;
    }
    view[`w_${p.key}`] = w;
  }
  return view as BarView;
}

const BAR_LABEL = `Memory by kind, sizes in the legend: ${PARTS.map((p) => p.label).join(', ')}`;

const MemoryBar = memo(function MemoryBar(v: BarView) {
  return (
    <figure class="membar" aria-label="Memory breakdown">
      {/* The sizes are in the legend below: a label that changed with every sample would be
          announced to assistive technology each second. */}
      <div class="bar" role="img" aria-label={BAR_LABEL}>
        {PARTS.map((p) => {
          const w = v[`w_${p.key}`];
          return w > 0 ? <span key={p.key} class={`seg ${p.key}`} style={{ width: `${w}%` }} /> : null;
        })}
      </div>
      <figcaption>
        <ul class="legend">
          {PARTS.map((p) => (
            <li key={p.key}>
              <span class={`swatch ${p.key}`} aria-hidden="true" />
              <span class="lbl">{p.label}</span>
              <span class="num" data-testid={`part-${p.key}`}>{v[p.key]}</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}, shallowEqual);

const Help = memo(function Help({ unavailable }: { unavailable: string }) {
  const list = unavailable ? unavailable.split('\n') : [];
  return (
    <details class="help">
      <summary>Numbers look wrong?</summary>
      <p>
        Sizes are in GB and MB of 1024 (what Activity Monitor shows). “Used” is Activity
        Monitor’s Memory Used on macOS and total − available on Linux.
      </p>
      <p>
        If something still looks off, run <code>headroom capture -o capture.json</code> and
        attach <code>capture.json</code> to your report: it holds the raw counters behind this
        sample, so we can replay exactly what you see. For MLX figures, add{' '}
        <code>--with-mlx</code>.
      </p>
      {list.length ? (
        <>
          <p>Not available on this machine:</p>
          <ul class="unavailable">{list.map((u) => <li key={u}>{u}</li>)}</ul>
        </>
      ) : null}
    </details>
  );
});
