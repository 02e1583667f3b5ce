import { describe, expect, it } from 'vitest';
import { HISTORY_KEYS, METRICS } from '../src/bindings/metrics';
import { CHART_STYLE, NOT_CHARTED, SERIES, SNAPSHOT_VALUE, chartSeries, shortLabel } from '../src/chart-series';
import { historyColumns } from '../src/views/History';
import { ChartWindow } from '../src/chart-data';
import { LiveSeries } from '../src/store';
import type { HistoryPoint } from '../src/api-types';

describe('chart series and the metric registry', () => {
  it('gives every history metric of the registry a chart style or a reason to leave it out', () => {
    const missing = HISTORY_KEYS.filter((k) => !CHART_STYLE.some((s) => s.key === k) && !NOT_CHARTED[k]);
    expect(missing).toEqual([]);
  });
  it('styles and excludes only history metrics, each once, and charts only bytes', () => {
    const styled = CHART_STYLE.map((s) => s.key);
    expect(new Set(styled).size).toBe(styled.length);
    for (const k of [...styled, ...Object.keys(NOT_CHARTED)]) expect(HISTORY_KEYS).toContain(k);
    for (const k of styled) {
      expect(NOT_CHARTED[k]).toBeUndefined();
      expect(METRICS.find((m) => m.key === k)?.unit).toBe('bytes');
    }
  });
  it('reads every charted metric from a live snapshot', () => {
    expect(SERIES.filter((s) => !SNAPSHOT_VALUE[s.key]).map((s) => s.key)).toEqual([]);
  });
  it('keeps the default lines, their order and legend names', () => {
    expect(SERIES.filter((s) => s.shown).map((s) => s.label)).toEqual(['Used', 'Compressed', 'Swap', 'MLX cache']);
    expect(chartSeries().map((s) => s.key)).toEqual(SERIES.map((s) => s.key));
  });
  it('offers a bytes metric the registry gains, off by default, under its registry label', () => {
    const added = { ...METRICS[0]!, key: 'gpu_resident', label: 'GPU resident memory', history: 'gpu_resident' };
    const rate = { ...METRICS[0]!, key: 'fault_rate', label: 'Fault rate', unit: 'rate' as const, history: 'fault_rate' };
    const series = chartSeries([...HISTORY_KEYS, added.key, rate.key], [...METRICS, added, rate]);
    expect(series.map((s) => s.key)).toEqual([...SERIES.map((s) => s.key), 'gpu_resident']);
    expect(series.at(-1)).toMatchObject({ label: 'GPU resident memory', shown: false });
  });
  it('takes labels from the registry unless a shorter legend name is set', () => {
    expect(shortLabel('wired')).toBe(METRICS.find((m) => m.key === 'wired')!.label);
    expect(shortLabel('swap_used')).toBe('Swap');
  });
  it('turns history points into one column per chart series, in its order', () => {
    const point = { t: 2000, samples: 1 } as Record<string, number>;
    HISTORY_KEYS.forEach((k, i) => { point[k] = (i + 1) * 1000; });
    const cols = historyColumns([point as unknown as HistoryPoint])!;
    expect(cols.length).toBe(SERIES.length + 1);
    expect(cols[0]).toEqual([2]);
    SERIES.forEach((s, k) => expect(cols[k + 1]).toEqual([point[s.key]]));
  });
  it('sizes the chart window and the live series to the chart series', () => {
    expect(new ChartWindow().data.length).toBe(SERIES.length + 1);
    expect(new LiveSeries(2).columns().length).toBe(SERIES.length + 1);
  });
});
