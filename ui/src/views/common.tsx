import type { ComponentChildren } from 'preact';
import type { PressureLevel } from '../api-types';

export const PRESSURE_WORD: Record<PressureLevel, string> = {
  normal: 'Normal',
  warn: 'Warning',
  critical: 'Critical',
};

export function PressureBadge({ level }: { level: PressureLevel | null }) {
  const word = level ? PRESSURE_WORD[level] : 'Unknown';
  return (
    <span class={`badge ${level ?? 'unknown'}`} data-testid="pressure" aria-label={`Memory pressure: ${word}`}>
      <span class="dot" aria-hidden="true" />
      {word}
    </span>
  );
}

/** A labelled figure in a definition list: fixed-width, tabular digits. */
export function Stat({ label, value, sub, testid, bytes }: {
  label: string; value: string; sub?: ComponentChildren; testid?: string; bytes?: number | null;
}) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd data-testid={testid} data-bytes={bytes ?? undefined}>
        <span class="num">{value}</span>
        {sub ? <span class="sub">{sub}</span> : null}
      </dd>
    </div>
  );
}
