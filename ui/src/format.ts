// Numbers as people read and write them. These mirror `headroom_core::units`
// (crates/headroom-core/src/units.rs) exactly, so the UI and the CLI print the same text
// for the same sample: powers of 1024 labelled GB/MB/KB (Activity Monitor's convention),
// one decimal, rounding an exact tie to even like Rust's `{:.1}`.

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const TIB = 1024 * GIB;

/** `value / unit` with one decimal, rounded exactly as Rust's `format!("{:.1}")` does. */
function oneDecimal(value: number, unit: number): string {
  // Exact integer arithmetic: value*10 / unit, remainder decides, ties go to even.
  const n = BigInt(Math.trunc(value)) * 10n;
  const u = BigInt(unit);
  let q = n / u;
  const r2 = (n % u) * 2n;
  if (r2 > u || (r2 === u && q % 2n === 1n)) q += 1n;
  const whole = q / 10n;
  const tenth = q % 10n;
  return `${whole}.${tenth}`;
}

/** `12.3 GB` at or above 1 GB, `512.0 MB` below, `1.5 KB`, `0 B`; like `format_bytes`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return 'n/a';
  const b = Math.trunc(bytes);
  if (b >= GIB) return `${oneDecimal(b, GIB)} GB`;
  if (b >= MIB) return `${oneDecimal(b, MIB)} MB`;
  if (b >= KIB) return `${oneDecimal(b, KIB)} KB`;
  return `${b} B`;
}

/** `n/a` for a missing value (as the CLI prints), the formatted size otherwise. */
export function size(bytes: number | null | undefined): string {
  return bytes == null ? 'n/a' : formatBytes(bytes);
}

/** Bytes per second: `1.2 MB/s`; like `format_rate` (negative, NaN → 0). */
export function formatRate(bytesPerSec: number): string {
  // Rust's f64::round rounds half away from zero; for positive values that is floor(x + 0.5)
  // except at the float edge, which Math.round handles the same way for x > 0.
  const rounded = Number.isFinite(bytesPerSec) && bytesPerSec > 0 ? Math.round(bytesPerSec) : 0;
  return `${formatBytes(rounded)}/s`;
}

/** `n/a` for a missing rate, the formatted rate otherwise. */
export function rate(bytesPerSec: number | null | undefined): string {
  return bytesPerSec == null ? 'n/a' : formatRate(bytesPerSec);
}

/** `x` with no decimals as Rust's `{:.0}` prints it (an exact .5 rounds to even). */
export function noDecimals(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const t = Math.trunc(x);
  let r = Math.round(x);
  if (Math.abs(x - t) === 0.5) r = t % 2 === 0 ? t : t + Math.sign(x);
  return String(Object.is(r, -0) ? 0 : r);
}

/** A percentage with no decimals: `42%`, as the CLI prints `used_fraction`. */
export function percent(fraction: number | null | undefined): string {
  return fraction == null || !Number.isFinite(fraction) ? 'n/a' : `${noDecimals(fraction * 100)}%`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Rust's `{:?}` of a string, for the error messages (quotes and escapes). */
function debugQuote(s: string): string {
  return JSON.stringify(s);
}

/**
 * Parses a memory size like `parse_size`: `0`, `1048576`, `512MiB`, `512MB`, `512 M`, `2GB`,
 * `1.5G`, `1T` (case-insensitive units, powers of 1024). The error text is the engine's.
 */
export function parseSize(input: string): Parsed<number> {
  const s = input.trim();
  const bad = (): Parsed<number> => ({
    ok: false,
    error:
      `invalid size ${debugQuote(input)}: expected a non-negative number with an optional unit ` +
      'B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (powers of 1024), e.g. 512MiB, 2GB, 1.5G, 0',
  });
  const m = /^[0-9.]*/.exec(s);
  const num = m ? m[0] : '';
  const unit = s.slice(num.length).trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
  const mults: Record<string, number> = {
    '': 1, b: 1,
    k: KIB, kb: KIB, kib: KIB,
    m: MIB, mb: MIB, mib: MIB,
    g: GIB, gb: GIB, gib: GIB,
    t: TIB, tb: TIB, tib: TIB,
  };
  const mult = Object.prototype.hasOwnProperty.call(mults, unit) ? mults[unit] : undefined;
  if (mult === undefined) return bad();
  if (num === '' || num === '.') return bad();
  // Rust's f64 parser accepts `1.`, `.5`, `1.5`; it rejects `1.2.3`.
  if (!/^(\d+\.?\d*|\.\d+)$/.test(num)) return bad();
  const f = Number(num) * mult;
  // u64::MAX ≈ 1.8e19; JS numbers are exact only to 2^53, which no memory size reaches.
  if (!Number.isFinite(f) || f >= 18446744073709551615) return bad();
  return { ok: true, value: Math.round(f) };
}

/**
 * Parses a duration like `parse_duration`: `1s`, `500ms`, `2m`, `1h`, `1d`, or bare seconds.
 * Returns seconds.
 */
export function parseDuration(input: string): Parsed<number> {
  const s = input.trim();
  const bad = (why: string): Parsed<number> => ({
    ok: false,
    error:
      `invalid duration ${debugQuote(input)}: ${why}; expected a positive number with an optional unit ` +
      'ms, s, m, h or d, e.g. 1s, 500ms, 2m',
  });
  const m = /^[0-9.]*/.exec(s);
  const num = m ? m[0] : '';
  const unit = s.slice(num.length).trim();
  const per: Record<string, number> = { ms: 0.001, '': 1, s: 1, m: 60, min: 60, h: 3600, d: 86400 };
  const k = Object.prototype.hasOwnProperty.call(per, unit) ? per[unit] : undefined;
  if (k === undefined) return bad('unknown unit');
  if (!/^(\d+\.?\d*|\.\d+)$/.test(num)) return bad('not a number');
  const secs = Number(num) * k;
  if (!Number.isFinite(secs) || secs <= 0) return bad('must be greater than zero');
  if (secs > 366 * 86400) return bad('longer than a year');
  return { ok: true, value: secs };
}

/** A size the way a person would type it back into a field: `512MB`, `1.5GB`, `0`. */
export function sizeInput(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, label] of [[GIB, 'GB'], [MIB, 'MB'], [KIB, 'KB']] as const) {
    if (bytes >= unit && bytes % (unit / 1024) === 0) {
      const v = bytes / unit;
      // Keep it exact when typed back: up to 3 decimals, else fall back to a smaller unit.
      const text = String(Math.round(v * 1000) / 1000);
      if (Math.round(Number(text) * unit) === bytes) return `${text}${label}`;
    }
  }
  return String(bytes);
}

/** Seconds as a person writes them: `1s`, `500ms`, `2m`, `1h`, `1d`. */
export function durationInput(secs: number): string {
  if (secs < 1) return `${Math.round(secs * 1000)}ms`;
  if (secs % 86400 === 0) return `${secs / 86400}d`;
  if (secs % 3600 === 0) return `${secs / 3600}h`;
  if (secs % 60 === 0) return `${secs / 60}m`;
  return `${secs}s`;
}

/** "3 s ago", "2 min ago", "1 h ago". */
export function ago(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/**
 * A size for a field that shows a current value (an MLX limit): exact when short (`512MB`,
 * `1.5GB`), else rounded like `formatBytes` (`18.8GB`). Only sent back if the person edits it.
 */
export function sizeField(bytes: number): string {
  const exact = sizeInput(bytes);
  if (bytes === 0 || /^\d{1,4}(\.\d)?(GB|MB|KB)$/.test(exact)) return exact;
  return formatBytes(bytes).replace(' ', '');
}
