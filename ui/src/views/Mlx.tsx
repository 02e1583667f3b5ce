import { useRef, useState } from 'preact/hooks';
import type { ActionOutcome, LimitKind, MlxProcess, PolicyStatus } from '../api-types';
import { formatBytes, parseSize, size, sizeField } from '../format';
import { memo } from './common';
import type { Store } from '../store';
import { shallowEqual, useSelected } from '../store';

/** What an action did, for a person: "Freed 1.2 GB" / "Freed 1.2 GB in 2 processes", failures named. */
export function outcomeText(outcomes: ActionOutcome[] | null | undefined, kind?: LimitKind): string {
  const list: ActionOutcome[] = Array.isArray(outcomes) ? outcomes : outcomes ? [outcomes] : [];
  if (list.length === 0) return 'No process with the agent to act on';
  const ok = list.filter((o) => o.ok);
  const failed = list.filter((o) => !o.ok);
  const parts: string[] = [];
  if (ok.length) {
    if (kind) {
      const o = ok[0]!;
      const before = o.previous != null ? `${size(o.previous)} → ` : '';
      parts.push(`${kind[0]!.toUpperCase()}${kind.slice(1)} limit ${before}${size(o.current)}${ok.length > 1 ? ` in ${ok.length} processes` : ''}`);
    } else {
      const freed = ok.reduce((a: number, o: ActionOutcome) => a + (o.freed ?? 0), 0);
      parts.push(`Freed ${formatBytes(freed)}${ok.length > 1 ? ` in ${ok.length} processes` : ''}`);
    }
  }
  for (const f of failed) {
    parts.push(`${f.name} (${f.pid}): ${f.error?.message ?? 'failed'}`);
  }
  return parts.join('; ');
}

type Flash = { text: string; error?: boolean; done?: boolean };

/** The MLX processes of the latest sample; re-renders only when one of them changed. */
function mlxList(st: { snapshot: { mlx: MlxProcess[] } | null }): MlxProcess[] | null {
  return st.snapshot?.mlx ?? null;
}

/** The same figures, field by field; the policy state (a new object every sample) by value. */
export function sameProc(a: MlxProcess, b: MlxProcess | undefined): boolean {
  if (!b) return false;
  const { policy: pa, ...ra } = a;
  const { policy: pb, ...rb } = b;
  return shallowEqual(ra, rb) && (pa === pb || JSON.stringify(pa) === JSON.stringify(pb));
}

/** Same processes with the same figures (each compared field by field). */
export function sameProcesses(a: MlxProcess[] | null, b: MlxProcess[] | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((p, i) => sameProc(p, b[i]));
}

/** What a process row needs to act: clear its cache, set a limit (one stable function). */
type Act = (pid: number, kind?: LimitKind, bytes?: number) => void;

export function Mlx({ store }: { store: Store }) {
  const procs = useSelected(store, mlxList, sameProcesses);
  const [busy, setBusy] = useState<string | null>(null);
  const [flash, setFlash] = useState<Record<string, Flash>>({});
  // Stable across renders, so an unchanged row is not re-rendered.
  const act = useRef<Act>((pid, kind, bytes) => {
    const key = `p${pid}`;
    if (kind && bytes != null) void run(key, () => store.transport.setLimit(kind, bytes, [pid]), kind);
    else void run(key, () => store.transport.clearCache([pid]));
  }).current;
  const enable = useRef((pid: number) => { void enableAgent(pid); }).current;
  if (!procs) return <p class="muted">Waiting for the first sample…</p>;
  const attached = procs.filter((p) => p.attached);

  async function run(key: string, f: () => Promise<ActionOutcome[]>, kind?: LimitKind) {
    setBusy(key);
    try {
      const o = await f();
      const failed = Array.isArray(o) && o.length > 0 && o.every((x) => !x.ok);
      setFlash((m) => ({ ...m, [key]: { text: outcomeText(o, kind), error: failed } }));
    } catch (e) {
      setFlash((m) => ({ ...m, [key]: { text: e instanceof Error ? e.message : String(e), error: true } }));
    } finally {
      setBusy(null);
    }
  }

  // "Enable for this Python": the agent for the process's whole environment, from its next start.
  async function enableAgent(pid: number) {
    const key = `p${pid}`;
    setBusy(key);
    try {
      const env = await store.transport.enableAgent(pid);
      setFlash((m) => ({ ...m, [key]: { text: `Enabled for ${env.python} (Python ${env.python_version}): restart it to see its cache`, done: true } }));
    } catch (e) {
      setFlash((m) => ({ ...m, [key]: { text: e instanceof Error ? e.message : String(e), error: true } }));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section aria-label="MLX processes" class="mlx">
      <div class="row-between">
        <p class="muted">
          {procs.length === 0 ? 'No MLX processes running.' : `${procs.length} MLX process${procs.length === 1 ? '' : 'es'}, ${attached.length} with the agent`}
        </p>
        <button
          class="primary"
          disabled={attached.length === 0 || busy !== null}
          title={attached.length === 0 ? 'No process has the Headroom agent attached' : undefined}
          onClick={() => run('all', () => store.transport.clearCache([]))}
        >
          Clear all
        </button>
      </div>
      <FlashLine f={flash.all} testid="flash-all" />
      <ul class="procs">
        {procs.map((p) => (
          <Proc key={p.pid} p={p} busy={busy !== null} flash={flash[`p${p.pid}`]} act={act} enable={enable} />
        ))}
      </ul>
      {procs.length === 0 ? (
        <p class="muted small">
          An MLX program shows here once it runs; turn the agent on for its Python with{' '}
          <code>headroom agent enable</code> to see its cache.
        </p>
      ) : null}
    </section>
  );
}

function FlashLine({ f, testid }: { f: Flash | undefined; testid: string }) {
  return (
    <p class={`flash ${f?.error ? 'error' : ''}`} role="status" aria-live="polite" data-testid={testid}>
      {f?.text ?? ''}
    </p>
  );
}

type ProcProps = { p: MlxProcess; busy: boolean; flash: Flash | undefined; act: Act; enable: (pid: number) => void };

/** Whether a row would show the same: same figures, same busy state, same message. */
export function sameProcRow(a: ProcProps, b: ProcProps): boolean {
  return a.busy === b.busy && a.flash === b.flash && a.act === b.act && a.enable === b.enable && sameProc(a.p, b.p);
}

const Proc = memo(function Proc({ p, busy, flash, act, enable }: ProcProps) {
  const onEnable = () => enable(p.pid);
  const onClear = () => act(p.pid);
  const onLimit = (kind: LimitKind, bytes: number) => act(p.pid, kind, bytes);
  return (
    <li class="proc" data-testid={`proc-${p.pid}`} aria-label={`${p.name}, pid ${p.pid}`}>
      <div class="row-between">
        <strong class="pname" title={p.name}>{p.name}</strong>
        <span class="muted num">pid {p.pid}</span>
      </div>
      {p.restart_for_wired_limit ? (
        <p class="small warn" data-testid={`restart-${p.pid}`} title="MLX reads the GPU wired limit once when a process starts">
          GPU wired limit changed: restart to use the new limit
        </p>
      ) : null}
      <dl class="grid4">
        <div><dt>Footprint</dt><dd class="num">{size(p.footprint)}</dd></div>
        <div><dt>Active</dt><dd class="num">{p.attached ? size(p.active) : '—'}</dd></div>
        <div><dt>Cache</dt><dd class="num" data-testid="cache" data-bytes={p.cache}>{p.attached ? size(p.cache) : '—'}</dd></div>
        <div><dt>Peak</dt><dd class="num">{p.attached ? size(p.peak) : '—'}</dd></div>
        {p.outside_mlx != null ? (
          <div title="Footprint MLX's allocator does not count: footprint − (active + cache), e.g. Metal buffers and libraries">
            <dt>Outside MLX</dt><dd class="num" data-testid="outside-mlx" data-bytes={p.outside_mlx}>{size(p.outside_mlx)}</dd>
          </div>
        ) : null}
      </dl>
      {p.attached ? (
        <>
          <div class="limits">
            <LimitField label="Cache limit" kind="cache" pid={p.pid} current={p.cache_limit} disabled={busy} onSet={onLimit} />
            <LimitField label="Memory limit" kind="memory" pid={p.pid} current={p.memory_limit} disabled={busy} onSet={onLimit} />
          </div>
          <div class="row-between">
            <span class="muted small">{[p.backend, p.mlx_version && `MLX ${p.mlx_version}`, p.wired_limit ? `wired limit ${size(p.wired_limit)}` : null].filter(Boolean).join(' · ')}</span>
            <button disabled={busy} onClick={onClear} aria-label={`Clear cache of ${p.name} (pid ${p.pid})`}>Clear cache</button>
          </div>
          {p.policy ? <PolicyLine st={p.policy} /> : null}
          <FlashLine f={flash} testid="flash" />
        </>
      ) : (
        <div class="hint">
          {flash?.done ? null : (
            <div class="row-between">
              <span class="small">No agent: its cache cannot be seen or cleared.</span>
              <button class="primary" disabled={busy} onClick={onEnable} aria-label={`Enable for this Python (${p.name}, pid ${p.pid})`}>
                Enable for this Python
              </button>
            </div>
          )}
          <FlashLine f={flash} testid="flash" />
          {flash?.done ? null : <code class="cmd">{p.hint ?? 'headroom agent enable'}</code>}
        </div>
      )}
    </li>
  );
}, sameProcRow);

/** A size field validated as you type (same rules and messages as the engine's parse_size). */
function LimitField({ label, kind, pid, current, disabled, onSet }: {
  label: string; kind: LimitKind; pid: number; current: number | undefined; disabled: boolean;
  onSet: (kind: LimitKind, bytes: number) => void;
}) {
  const [text, setText] = useState<string | null>(null);
  const value = text ?? (current != null ? sizeField(current) : '');
  const parsed = text == null ? null : parseSize(text);
  const id = `lim-${kind}-${pid}`;
  const submit = (e: Event) => {
    e.preventDefault();
    if (parsed?.ok) { onSet(kind, parsed.value); setText(null); }
  };
  return (
    <form class="limit" onSubmit={submit}>
      <label for={id}>{label}</label>
      <div class="inline">
        <input
          id={id}
          inputMode="decimal"
          autoComplete="off"
          spellcheck={false}
          value={value}
          aria-invalid={parsed ? !parsed.ok : undefined}
          aria-describedby={`${id}-err`}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => { if (e.key === 'Escape') setText(null); }}
        />
        <button type="submit" disabled={disabled || !parsed?.ok} aria-label={`Set ${label.toLowerCase()} of pid ${pid}`}>Set</button>
      </div>
      <span id={`${id}-err`} class="field-error" role={parsed && !parsed.ok ? 'alert' : undefined}>
        {parsed && !parsed.ok ? parsed.error : ''}
      </span>
    </form>
  );
}

const SOURCE_WORDS: Record<string, string> = {
  default: 'MLX default',
  pending: 'being applied',
  policy: 'policy',
  manual: 'set by hand',
  process: 'set by the process',
  refused: 'refused',
  failed: 'failed',
};

/** Which policy applies to a process, where each limit comes from and why, and its last idle trim. */
function PolicyLine({ st }: { st: PolicyStatus }) {
  const trim = st.last_trim;
  return (
    <div class="policy-line small" data-testid="policy-line">
      <span class="muted">{st.policy ? `Policy ${st.policy}` : 'No policy'}</span>
      {st.limits_source.filter((l) => l.source !== 'default').map((l) => (
        <span key={l.limit} class={l.source === 'refused' || l.source === 'failed' ? 'error' : 'muted'} title={l.why}
          data-testid={`limit-source-${l.limit}`}>
          {' · '}{l.limit}: {SOURCE_WORDS[l.source] ?? l.source}
        </span>
      ))}
      {trim ? <span class="muted" data-testid="last-trim">{' · '}idle trim freed {formatBytes(trim.freed)} at {new Date(trim.at_ms).toLocaleTimeString()}</span> : null}
    </div>
  );
}
