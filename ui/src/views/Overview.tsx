import type { Snapshot } from '../api-types';
import { percent, rate, size } from '../format';
import type { Store } from '../store';
import { useStore } from '../store';
import { Stat } from './common';
import { History } from './History';

const PARTS = [
  { key: 'app', label: 'App' },
  { key: 'wired', label: 'Wired' },
  { key: 'compressed', label: 'Compressed' },
  { key: 'cached', label: 'Cached' },
  { key: 'free', label: 'Free' },
] as const;

export function Overview({ store }: { store: Store }) {
  const { snapshot: s } = useStore(store);
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
      <MemoryBar s={s} />
      <dl class="stats">
        <Stat label="Swap used" testid="swap" bytes={s.swap.used}
          value={size(s.swap.used)}
          sub={<>of {size(s.swap.total)} · out {rate(s.rates.swapouts)}</>} />
        <Stat label="Compressed" testid="compressed" bytes={m.compressed}
          value={size(m.compressed)}
          sub={<>compress {rate(s.rates.compressions)}</>} />
        <Stat label="Available" testid="available" bytes={m.available} value={size(m.available)} />
        <Stat label="MLX cache" testid="mlx-cache" bytes={mlxCache}
          value={attached ? size(mlxCache) : '—'}
          sub={<>{attached} of {s.mlx.length} attached</>} />
        {s.gpu.wired_limit != null ? (
          <Stat label="GPU wired limit" testid="gpu-wired"
            value={s.gpu.wired_limit === 0 ? 'macOS default' : size(s.gpu.wired_limit)} />
        ) : null}
        {s.pressure.psi_some_avg10 != null ? (
          <Stat label="Stalled (PSI 10 s)" value={`${s.pressure.psi_some_avg10.toFixed(1)}%`}
            sub={s.pressure.psi_full_avg10 != null ? <>full {s.pressure.psi_full_avg10.toFixed(1)}%</> : undefined} />
        ) : null}
      </dl>
      <History store={store} />
      <Help s={s} />
    </section>
  );
}

function MemoryBar({ s }: { s: Snapshot }) {
  const m = s.memory;
  const total = m.total ?? 0;
  let left = 100;
  return (
    <figure class="membar" aria-label="Memory breakdown">
      <div class="bar" role="img" aria-label={PARTS.map((p) => `${p.label} ${size(m[p.key])}`).join(', ')}>
        {total > 0 ? PARTS.map((p) => {
          const v = m[p.key];
          if (v == null || v <= 0) return null;
          const w = Math.min(left, (v / total) * 100);
          left -= w;
          return <span key={p.key} class={`seg ${p.key}`} style={{ width: `${w}%` }} />;
        }) : null}
      </div>
      <figcaption>
        <ul class="legend">
          {PARTS.map((p) => (
            <li key={p.key}>
              <span class={`swatch ${p.key}`} aria-hidden="true" />
              <span class="lbl">{p.label}</span>
              <span class="num" data-testid={`part-${p.key}`}>{size(m[p.key])}</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}

function Help({ s }: { s: Snapshot }) {
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
      {s.unavailable.length ? (
        <>
          <p>Not available on this machine:</p>
          <ul class="unavailable">{s.unavailable.map((u) => <li key={u}>{u}</li>)}</ul>
        </>
      ) : null}
    </details>
  );
}
