import { describe, expect, it } from 'vitest';
import {
  ago, durationInput, sizeField, formatBytes, formatRate, parseDuration, parseSize, sizeInput,
} from '../src/format';

// Cases copied from the Rust unit tests in crates/headroom-core/src/units.rs, plus the
// rounding edges where JavaScript's toFixed and Rust's `{:.1}` disagree.
describe('formatBytes mirrors headroom_core::units::format_bytes', () => {
  it('uses one decimal and MB under a GB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512 * 2 ** 20)).toBe('512.0 MB');
    expect(formatBytes(17_179_869_184)).toBe('16.0 GB');
    expect(formatBytes(2 ** 30 - 1)).toBe('1024.0 MB');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
  });
  it('rounds an exact tie to even, like Rust (toFixed would round up)', () => {
    expect(formatBytes(1.25 * 2 ** 30)).toBe('1.2 GB');
    expect(formatBytes(2.75 * 2 ** 30)).toBe('2.8 GB');
    expect(formatBytes(1.75 * 2 ** 20)).toBe('1.8 MB');
    expect(formatBytes(0.25 * 2 ** 20 + 2 ** 20)).toBe('1.2 MB');
    expect(formatBytes(1.25 * 2 ** 30 + 1)).toBe('1.3 GB');
  });
  it('formats large memories', () => {
    expect(formatBytes(192 * 2 ** 30)).toBe('192.0 GB');
    expect(formatBytes(2 ** 40)).toBe('1024.0 GB');
  });
  it('formats rates like format_rate', () => {
    expect(formatRate(1536)).toBe('1.5 KB/s');
    expect(formatRate(0)).toBe('0 B/s');
    expect(formatRate(-5)).toBe('0 B/s');
    expect(formatRate(Number.NaN)).toBe('0 B/s');
    expect(formatRate(0.5)).toBe('1 B/s');
  });
});

describe('parseSize mirrors parse_size', () => {
  it('accepts the sizes people write', () => {
    const cases: [string, number][] = [
      ['0', 0], ['1048576', 2 ** 20], ['512MiB', 512 * 2 ** 20], ['512MB', 512 * 2 ** 20],
      ['512 M', 512 * 2 ** 20], ['2GB', 2 * 2 ** 30], ['1.5G', 3 * 2 ** 29], ['1t', 2 ** 40],
      ['64k', 64 * 1024], [' 2gib ', 2 * 2 ** 30], ['1.', 1], ['.5K', 512], ['10b', 10],
    ];
    for (const [input, want] of cases) expect(parseSize(input), input).toEqual({ ok: true, value: want });
  });
  it('rejects bad sizes with the engine message naming the value', () => {
    for (const input of ['', 'abc', '-1', '12XB', '.', '1.2.3G', '99999999999T', '1\u212A', '5 GB/s']) {
      const r = parseSize(input);
      expect(r.ok, input).toBe(false);
      if (!r.ok) {
        expect(r.error).toContain(JSON.stringify(input));
        expect(r.error).toContain('512MiB');
      }
    }
    const r = parseSize('12XB');
    expect(r).toEqual({
      ok: false,
      error: 'invalid size "12XB": expected a non-negative number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (powers of 1024), e.g. 512MiB, 2GB, 1.5G, 0',
    });
  });
  it('round-trips what sizeInput prints', () => {
    for (const b of [0, 1, 1000, 1024, 512 * 2 ** 20, 3 * 2 ** 29, 2 ** 40, 123456789, 64 * 2 ** 20 + 1]) {
      const r = parseSize(sizeInput(b));
      expect(r, sizeInput(b)).toEqual({ ok: true, value: b });
    }
    expect(sizeInput(512 * 2 ** 20)).toBe('512MB');
    expect(sizeInput(3 * 2 ** 29)).toBe('1.5GB');
  });
  it('shows current limits short', () => {
    expect(sizeField(512 * 2 ** 20)).toBe('512MB');
    expect(sizeField(0)).toBe('0');
    expect(sizeField(20_219_835_187)).toBe('18.8GB');
  });
});

describe('parseDuration mirrors parse_duration', () => {
  it('accepts durations', () => {
    expect(parseDuration('1s')).toEqual({ ok: true, value: 1 });
    expect(parseDuration('250ms')).toEqual({ ok: true, value: 0.25 });
    expect(parseDuration('2')).toEqual({ ok: true, value: 2 });
    expect(parseDuration('1h')).toEqual({ ok: true, value: 3600 });
    expect(parseDuration('2 min')).toEqual({ ok: true, value: 120 });
  });
  it('rejects bad durations naming the value', () => {
    for (const bad of ['0', '0s', 'abc', '1y', '-1s', '', '400d']) {
      const r = parseDuration(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.error).toContain(JSON.stringify(bad));
    }
    expect(parseDuration('1y')).toEqual({
      ok: false,
      error: 'invalid duration "1y": unknown unit; expected a positive number with an optional unit ms, s, m, h or d, e.g. 1s, 500ms, 2m',
    });
  });
  it('prints durations that parse back', () => {
    for (const s of [0.5, 1, 30, 60, 90, 3600, 86400]) {
      expect(parseDuration(durationInput(s))).toEqual({ ok: true, value: s });
    }
  });
  it('says how long ago', () => {
    expect(ago(0)).toBe('0 s ago');
    expect(ago(59.9)).toBe('59 s ago');
    expect(ago(125)).toBe('2 min ago');
    expect(ago(7300)).toBe('2 h ago');
  });
});
