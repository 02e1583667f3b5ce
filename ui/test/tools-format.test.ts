import { describe, expect, it } from 'vitest';
import type { FitReport } from '../src/bindings/FitReport';
import type { WiredLimitInfo } from '../src/bindings/WiredLimitInfo';
import {
  applyText, fitBars, mbText, NOT_AVAILABLE, paramCount, suggestionText, verdictLine, wholeNumber,
  wiredCommand, wiredCurrent,
} from '../src/tools-format';
import { fitParams, fitPath } from '../src/transport/machine';

const GIB = 2 ** 30;

const info = (over: Partial<WiredLimitInfo> = {}): WiredLimitInfo => ({
  supported: true, current_mb: 0, effective: null, effective_source: '', physical: 64 * GIB,
  min_mb: 1024, max_mb: 57344, suggestion: { mb: 49152 as unknown as bigint, reasoning: ['a', 'b'] },
  resets_at_reboot: 'resets', reapply_on_start: false, configured_mb: null, sysctl: 'iogpu.wired_limit_mb',
  running: [], ...over,
});

const report = (over: Partial<FitReport> = {}): FitReport => ({
  budget: { physical: 64 * GIB, available: 40 * GIB, wired_limit: 48 * GIB, has_wired_limit: true },
  verdict: 'fits', close: [], raise_wired_limit_to_mb: null, reasons: [],
  weights: 35e9, kv_cache: 2.5 * GIB, overhead: 8 * GIB, total: 35e9 + 10.5 * GIB,
  overhead_parts: { quant_scales: 0, activations: 0, runtime: 0 }, params: 70e9, bits: 4,
  context: 8192, kv_bits: 16, shape: { layers: 80, kv_heads: 8, head_dim: 128 },
  weights_source: '', shape_source: '', ...over,
});

describe('wired limit text mirrors `headroom wired-limit`', () => {
  it('shows MB with GB as the CLI does', () => {
    expect(mbText(49152)).toBe('49152 MB (48.0 GB)');
    expect(wiredCurrent(info())).toBe('0 (the macOS default is in force)');
    expect(wiredCurrent(info({ current_mb: 49152 }))).toBe('49152 MB (48.0 GB)');
    expect(wiredCurrent(info({ supported: false, current_mb: null }))).toBe(NOT_AVAILABLE);
  });
  it('suggests with the command, or for a Mac with this much memory', () => {
    expect(suggestionText(info())).toBe('49152 MB (48.0 GB)');
    expect(suggestionText(info({ supported: false }))).toBe('49152 MB (48.0 GB) on a Mac with this much memory');
    expect(suggestionText(info({ suggestion: { mb: 0 as unknown as bigint, reasoning: [] } }))).toBe('keep the macOS default');
    expect(suggestionText(info({ suggestion: null }))).toBeNull();
    expect(wiredCommand(49152)).toBe('headroom wired-limit set 49152');
    expect(wiredCommand(0)).toBe('headroom wired-limit reset');
  });
  it('describes every outcome', () => {
    expect(applyText({ outcome: 'applied', mb: 49152 as unknown as bigint })).toBe('iogpu.wired_limit_mb is now 49152 (48.0 GB), read back from sysctl');
    expect(applyText({ outcome: 'applied', mb: 0 as unknown as bigint })).toContain('macOS default');
    expect(applyText({ outcome: 'cancelled' })).toBe('cancelled at the password prompt: nothing changed');
    expect(applyText({ outcome: 'failed', message: 'x' })).toBe('could not set the wired limit: x');
    expect(applyText({ outcome: 'mismatch', requested_mb: 2048 as unknown as bigint, read_back_mb: 0 as unknown as bigint })).toContain('reads back 0 MB');
  });
});

describe('will it fit', () => {
  it('says the verdict as `headroom fit` does', () => {
    expect(verdictLine(report())).toBe('Fits');
    expect(verdictLine(report({ verdict: 'does_not_fit' }))).toBe('Does not fit on this machine');
    expect(verdictLine(report({
      verdict: 'fits_if', raise_wired_limit_to_mb: 49152, close: [{ name: 'chrome', footprint: 3 * GIB }],
    }))).toBe('Fits if you raise the wired limit to 49152 MB (headroom wired-limit set 49152) and close chrome (3.0 GB)');
  });
  it('scales the bar to the largest of total, wired limit and available', () => {
    const b = fitBars(report({ weights: 24 * GIB, kv_cache: 0, overhead: 0, total: 24 * GIB }));
    expect(b.scale).toBe(48 * GIB);
    expect(b.weights).toBe(50);
    expect(b.wired).toBe(100);
    expect(b.available).toBeCloseTo(83.33, 1);
    const linux = fitBars(report({ budget: { physical: 1, available: null, wired_limit: null, has_wired_limit: false } }));
    expect(linux.wired).toBeNull();
    expect(linux.available).toBeNull();
    expect(linux.weights + linux.kv + linux.overhead).toBeCloseTo(100, 6);
  });
  it('reads parameter counts like the engine', () => {
    expect(paramCount('70B')).toEqual({ ok: true, value: 70e9 });
    expect(paramCount(' 1.5b ')).toEqual({ ok: true, value: 1.5e9 });
    expect(paramCount('500M')).toEqual({ ok: true, value: 5e8 });
    expect(paramCount('13000000000')).toEqual({ ok: true, value: 13e9 });
    expect(paramCount('lots').ok).toBe(false);
    expect(paramCount('0').ok).toBe(false);
  });
  it('checks whole numbers and leaves empty optional fields out', () => {
    expect(wholeNumber('', 'layers', 1, 1000)).toEqual({ ok: true, value: undefined });
    expect(wholeNumber('8,192', 'context', 1, 1e8)).toEqual({ ok: true, value: 8192 });
    expect(wholeNumber('-3', 'layers', 1, 1000)).toEqual({ ok: false, error: 'layers: "-3" is not a whole number' });
    expect(wholeNumber('0', 'context', 1, 1e8)).toEqual({ ok: false, error: 'context: 0 is outside 1..=100000000' });
  });
  it('builds the query under the HTTP names', () => {
    expect(fitParams({ params: ' 70B ', bits: 4, kvHeads: 8 })).toEqual([['params', '70B'], ['bits', '4'], ['kv_heads', '8']]);
    expect(fitPath({ params: '1.5B', bits: 4, context: 8192, kvBits: 16, layers: 28, headDim: 128 }))
      .toBe('/api/fit?params=1.5B&bits=4&context=8192&kv_bits=16&layers=28&head_dim=128');
  });
});
