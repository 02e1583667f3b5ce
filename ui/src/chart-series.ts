// The History chart's series. What a metric *is* (key, label, unit) comes from the engine's
// metric registry (`bindings/metrics.ts`, generated from `crates/headroom-core/src/metrics.rs`);
// this file holds only presentation: colour, which lines are on by default, line order, the
// short name a legend uses, and how the page reads a metric from a live snapshot.

import type { Snapshot } from './api-types';
import { HISTORY_KEYS, METRICS, type MetricInfo } from './bindings/metrics';

/** A metric a history point carries. */
export type HistoryKey = (typeof HISTORY_KEYS)[number];

/** How a charted metric is drawn, in line order: `css` names its colour variable, `shown`
 *  whether the line is on when the page opens. */
export const CHART_STYLE: readonly { key: HistoryKey; css: string; shown: boolean }[] = [
  { key: 'used', css: '--c-used', shown: true },
  { key: 'compressed', css: '--c-compressed', shown: true },
  { key: 'swap_used', css: '--c-swap', shown: true },
  { key: 'mlx_cache', css: '--c-mlx', shown: true },
  { key: 'available', css: '--accent-bg', shown: false },
  { key: 'app', css: '--c-app', shown: false },
  { key: 'wired', css: '--c-wired', shown: false },
  { key: 'cached', css: '--c-cached', shown: false },
  { key: 'free', css: '--warn', shown: false },
];

/** History metrics the chart leaves out, and why: its one axis is bytes. */
export const NOT_CHARTED: Partial<Record<HistoryKey, string>> = {
  pressure: 'a level (0-2), not bytes',
  free_percent: 'a percentage, not bytes',
  swapin_rate: 'bytes per second, not bytes',
  swapout_rate: 'bytes per second, not bytes',
  compression_rate: 'bytes per second, not bytes',
  pagein_rate: 'bytes per second, not bytes',
};

/** Shorter names where the registry's label is too long for a legend. */
const SHORT_LABEL: Partial<Record<string, string>> = {
  app: 'App',
  cached: 'Cached',
  swap_used: 'Swap',
  mlx_cache: 'MLX cache',
};

/** Colour of a metric the registry gained before `CHART_STYLE` did. */
const FALLBACK_CSS = '--fg-muted';

/** The registry's entry for `key` (every generated key has one). */
export function metricInfo(key: string): MetricInfo | undefined {
  return METRICS.find((m) => m.key === key);
}

/** The legend's name for a registry metric: a short form, or the registry's label. */
export function shortLabel(key: string): string {
  return SHORT_LABEL[key] ?? metricInfo(key)?.label ?? key;
}

/** How the page reads each charted metric from a live snapshot (the engine's history stores
 *  the same numbers). */
export const SNAPSHOT_VALUE: Partial<Record<HistoryKey, (s: Snapshot) => number | null>> = {
  used: (s) => s.memory.used,
  available: (s) => s.memory.available,
  app: (s) => s.memory.app,
  wired: (s) => s.memory.wired,
  compressed: (s) => s.memory.compressed,
  cached: (s) => s.memory.cached,
  free: (s) => s.memory.free,
  swap_used: (s) => s.swap.used,
  mlx_cache: (s) => s.mlx.reduce((a, p) => a + (p.cache ?? 0), 0),
};

/** One line of the chart. */
export interface ChartSeries {
  key: HistoryKey;
  label: string;
  css: string;
  shown: boolean;
}

/** Every history metric in bytes not left out by `NOT_CHARTED`: styled ones in `CHART_STYLE`
 *  order, then any the registry has that it does not, in registry order (off by default). */
export function chartSeries(keys: readonly string[] = HISTORY_KEYS, metrics: readonly MetricInfo[] = METRICS): ChartSeries[] {
  const info = (k: string) => metrics.find((m) => m.key === k);
  const charted = (keys as HistoryKey[]).filter((k) => !(k in NOT_CHARTED) && info(k)?.unit === 'bytes');
  const styled = CHART_STYLE.filter((s) => charted.includes(s.key));
  const rest = charted.filter((k) => !styled.some((s) => s.key === k)).map((key) => ({ key, css: FALLBACK_CSS, shown: false }));
  return [...styled, ...rest].map((s) => ({ ...s, label: SHORT_LABEL[s.key] ?? info(s.key)?.label ?? s.key }));
}

/** The chart's lines; the columns of the live and history data follow this order. */
export const SERIES: readonly ChartSeries[] = chartSeries();
