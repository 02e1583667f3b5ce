import { Component, h, type FunctionComponent } from 'preact';
import type { PressureLevel } from '../api-types';
import { shallowEqual } from '../store';

/**
 * `render`, re-rendered only when `equal(old props, new props)` is false (a parent's render
 * with the same values does not reach it). Like `preact/compat`'s `memo`, without compat.
 */
export function memo<P extends object>(render: FunctionComponent<P>, equal: (a: P, b: P) => boolean = shallowEqual): FunctionComponent<P> {
  class Memo extends Component<P> {
    override shouldComponentUpdate(next: P): boolean {
      return !equal(this.props as P, next);
    }
    override render(props: P) {
      return h(render, props);
    }
  }
  (Memo as unknown as { displayName: string }).displayName = `Memo(${render.name})`;
  return Memo as unknown as FunctionComponent<P>;
}

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

/** A labelled figure in a definition list: fixed-width, tabular digits. Flat props, so a
 * figure whose text did not change is not re-rendered. */
export const Stat = memo(function Stat({ label, value, sub, testid, bytes }: {
  label: string; value: string; sub?: string; testid?: string; bytes?: number | null;
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
}, shallowEqual);
