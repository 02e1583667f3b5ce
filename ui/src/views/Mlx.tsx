import { useState } from 'preact/hooks';
import type { ActionOutcome, LimitKind, MlxProcess } from '../api-types';
import { formatBytes, parseSize, size, sizeField } from '../format';
import type { Store } from '../store';
import { useStore } from '../store';

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

type Flash = { text: string; error?: boolean };

export function Mlx({ store }: { store: Store }) {
  const { snapshot: s } = useStore(store);
  const [busy, setBusy] = useState<string | null>(null);
  const [flash, setFlash] = useState<Record<string, Flash>>({});
  if (!s) return <p class="muted">Waiting for the first sample…</p>;
  const attached = s.mlx.filter((p) => p.attached);

  const run = async (key: string, f: () => Promise<ActionOutcome[]>, kind?: LimitKind) => {
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
  };

  return (
    <section aria-label="MLX processes" class="mlx">
      <div class="row-between">
        <p class="muted">
          {s.mlx.length === 0 ? 'No MLX processes running.' : `${s.mlx.length} MLX process${s.mlx.length === 1 ? '' : 'es'}, ${attached.length} with the agent`}
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
        {s.mlx.map((p) => (
          <Proc
            key={p.pid}
            p={p}
            busy={busy !== null}
            flash={flash[`p${p.pid}`]}
            onClear={() => run(`p${p.pid}`, () => store.transport.clearCache([p.pid]))}
            onLimit={(kind, bytes) => run(`p${p.pid}`, () => store.transport.setLimit(kind, bytes, [p.pid]), kind)}
          />
        ))}
      </ul>
      {s.mlx.length === 0 ? (
        <p class="muted small">
          Start your MLX program with the agent to see its cache here:{' '}
          <code>python -m headroom_agent run your_script.py</code>
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

function Proc({ p, busy, flash, onClear, onLimit }: {
  p: MlxProcess; busy: boolean; flash: Flash | undefined;
  onClear: () => void; onLimit: (kind: LimitKind, bytes: number) => void;
}) {
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
          <FlashLine f={flash} testid="flash" />
        </>
      ) : (
        <div class="hint">
          <span class="small">No agent attached. Attach it with:</span>
          <code class="cmd">{p.hint ?? 'python -m headroom_agent run your_script.py'}</code>
        </div>
      )}
    </li>
  );
}

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
