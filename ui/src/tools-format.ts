// Text and arithmetic for the "Wired limit" and "Will it fit?" panels. The sentences mirror
// the CLI's (`headroom wired-limit`, `headroom fit`: crates/headroom-cli/src/{wired_cmd,fit_cmd}.rs)
// so the UI and the terminal say the same thing for the same numbers.
import type { ApplyOutcome } from './bindings/ApplyOutcome';
import type { FitReport } from './bindings/FitReport';
import type { WiredLimitInfo } from './bindings/WiredLimitInfo';
import { formatBytes } from './format';

const MIB = 2 ** 20;

/** Said wherever the sysctl does not exist (the CLI's NOT_AVAILABLE). */
export const NOT_AVAILABLE = 'not available on this platform (iogpu.wired_limit_mb is a macOS sysctl)';

/** `49152 MB (48.0 GB)`. */
export function mbText(mb: number | bigint): string {
  const n = Number(mb);
  return `${n} MB (${formatBytes(n * MIB)})`;
}

/** The value of `iogpu.wired_limit_mb` for a person. */
export function wiredCurrent(i: WiredLimitInfo): string {
  if (i.current_mb == null) return i.supported ? 'unknown' : NOT_AVAILABLE;
  if (i.current_mb === 0) return '0 (the macOS default is in force)';
  return mbText(i.current_mb);
}

/** The command that sets `mb` (0: back to the macOS default). */
export function wiredCommand(mb: number | bigint): string {
  const n = Number(mb);
  return n === 0 ? 'headroom wired-limit reset' : `headroom wired-limit set ${n}`;
}

/** The suggestion's headline, as `headroom wired-limit show` prints it. */
export function suggestionText(i: WiredLimitInfo): string | null {
  if (!i.suggestion) return null;
  const mb = Number(i.suggestion.mb);
  if (mb === 0) return 'keep the macOS default';
  return i.supported ? mbText(mb) : `${mbText(mb)} on a Mac with this much memory`;
}

/** What setting the limit did (ApplyOutcome::describe). */
export function applyText(o: ApplyOutcome): string {
  switch (o.outcome) {
    case 'applied':
      return Number(o.mb) === 0
        ? 'iogpu.wired_limit_mb is 0 again: the macOS default is in force'
        : `iogpu.wired_limit_mb is now ${Number(o.mb)} (${formatBytes(Number(o.mb) * MIB)}), read back from sysctl`;
    case 'mismatch':
      return `asked for ${Number(o.requested_mb)} MB but sysctl reads back ${Number(o.read_back_mb)} MB: the kernel did not take the value`;
    case 'cancelled':
      return 'cancelled at the password prompt: nothing changed';
    case 'failed':
      return `could not set the wired limit: ${o.message}`;
    case 'unverified':
      return `set ${Number(o.requested_mb)} MB but could not read it back: ${o.message}`;
  }
}

/** The verdict sentence (`headroom fit`'s "Verdict" line). */
export function verdictLine(r: FitReport): string {
  switch (r.verdict) {
    case 'fits':
      return 'Fits';
    case 'does_not_fit':
      return 'Does not fit on this machine';
    case 'fits_if': {
      const steps: string[] = [];
      if (r.raise_wired_limit_to_mb != null) {
        const mb = r.raise_wired_limit_to_mb;
        steps.push(`raise the wired limit to ${mb} MB (${wiredCommand(mb)})`);
      }
      if (r.close.length) {
        steps.push(`close ${r.close.map((c) => `${c.name} (${formatBytes(c.footprint)})`).join(', ')}`);
      }
      return `Fits if you ${steps.join(' and ')}`;
    }
  }
}

/** Positions (percent of the scale) of the estimate's parts and the machine's budgets. */
export interface FitBars {
  weights: number;
  kv: number;
  overhead: number;
  /** The GPU wired limit in force, when known. */
  wired: number | null;
  /** Memory available now, when known. */
  available: number | null;
  /** The scale's full width, bytes. */
  scale: number;
}

/** The bar: the largest of the total, the wired limit and what is available is 100 %. */
export function fitBars(r: FitReport): FitBars {
  const b = r.budget;
  const scale = Math.max(r.total, b.wired_limit ?? 0, b.available ?? 0, 1);
  const pct = (v: number) => Math.min(100, Math.max(0, (v / scale) * 100));
  return {
    weights: pct(r.weights),
    kv: pct(r.kv_cache),
    overhead: pct(r.overhead),
    wired: b.has_wired_limit && b.wired_limit != null ? pct(b.wired_limit) : null,
    available: b.available != null ? pct(b.available) : null,
    scale,
  };
}

export type Field<T> = { ok: true; value: T } | { ok: false; error: string };

/** An optional whole number field: empty → undefined; anything else must be in `min..=max`. */
export function wholeNumber(text: string, what: string, min: number, max: number): Field<number | undefined> {
  const t = text.trim().replace(/[_,\s]/g, '');
  if (t === '') return { ok: true, value: undefined };
  if (!/^\d+$/.test(t)) return { ok: false, error: `${what}: ${JSON.stringify(text.trim())} is not a whole number` };
  const n = Number(t);
  if (n < min || n > max) return { ok: false, error: `${what}: ${n} is outside ${min}..=${max}` };
  return { ok: true, value: n };
}

/** A parameter count as the engine reads it (70B, 7b, 1.5B, 500M, 13000000000), or why not. */
export function paramCount(text: string): Field<number> {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmbgt]?)\s*$/i.exec(text);
  const mult: Record<string, number> = { '': 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };
  const v = m ? Number(m[1]) * mult[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isFinite(v) || v < 1 || v > 1e15) {
    return { ok: false, error: `invalid parameter count ${JSON.stringify(text.trim())}: expected a number with an optional unit K, M, B or T (70B, 7b, 1.5B, 500M)` };
  }
  return { ok: true, value: Math.round(v) };
}
