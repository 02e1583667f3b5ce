// The "Tools" view: the GPU wired limit, "Will it fit?", the doctor's findings and
// what holds memory. Everything is fetched when asked (or when the view opens), never polled.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DoctorReport } from '../bindings/DoctorReport';
import type { FitReport } from '../bindings/FitReport';
import type { TopRow } from '../bindings/TopRow';
import type { WiredLimitInfo } from '../bindings/WiredLimitInfo';
import { formatBytes, size } from '../format';
import {
  applyText, fitBars, mbText, NOT_AVAILABLE, paramCount, suggestionText, verdictLine, wholeNumber,
  wiredCommand, wiredCurrent,
} from '../tools-format';
import type { Store } from '../store';
import type { MachineTransport } from '../transport/machine';
import './tools.css';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function Tools({ store }: { store: Store }) {
  const t = store.transport.machine;
  if (!t) return <p class="muted">This backend does not answer these questions.</p>;
  return (
    <div class="tools">
      <WiredLimit t={t} />
      <Fit t={t} />
      <Doctor t={t} />
      <Top t={t} />
    </div>
  );
}

/** Loads once when shown; `reload` fetches again. */
function useLoad<T>(f: () => Promise<T>): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    f().then((d) => { if (live) { setData(d); setError(null); } }, (e) => { if (live) setError(message(e)); });
    return () => { live = false; };
  }, [n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

function WiredLimit({ t }: { t: MachineTransport }) {
  const { data: i, error, reload } = useLoad(() => t.wiredLimit());
  return (
    <section class="tool" aria-labelledby="wired-h" data-testid="wired-limit">
      <h2 id="wired-h">Wired limit</h2>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {!i ? (error ? null : <p class="muted">Loading…</p>) : (
        <>
          {!i.supported ? (
            <p class="note" data-testid="wired-unsupported">GPU wired limit: {NOT_AVAILABLE}.</p>
          ) : null}
          <dl class="kv">
            {i.current_mb != null ? (
              <div><dt>{i.sysctl ?? 'iogpu.wired_limit_mb'}</dt><dd class="num" data-testid="wired-current">{wiredCurrent(i)}</dd></div>
            ) : null}
            {i.supported || i.effective != null ? (
              <div><dt>New processes</dt><dd><span class="num">{size(i.effective)}</span> <span class="muted small">({i.effective_source})</span></dd></div>
            ) : null}
            {i.running.map((p) => (
              <div key={p.pid} data-testid="wired-running">
                <dt>{p.name} ({p.pid})</dt>
                <dd>
                  <span class="num">{size(p.working_set)}</span>
                  {p.restart_needed ? <span class="warn small"> restart to use the new limit</span> : null}
                </dd>
              </div>
            ))}
            <div><dt>Physical memory</dt><dd class="num" data-testid="wired-physical">{size(i.physical)}</dd></div>
            {i.max_mb != null ? (
              <div><dt>Accepted values</dt><dd class="num">{i.min_mb}–{i.max_mb} MB</dd></div>
            ) : null}
            {i.suggestion ? (
              <div>
                <dt>Suggested</dt>
                <dd>
                  <span class="num" data-testid="wired-suggested">{suggestionText(i)}</span>
                  <ul class="reasons">{i.suggestion.reasoning.map((r) => <li key={r}>{r}</li>)}</ul>
                </dd>
              </div>
            ) : null}
          </dl>
          {i.supported ? (
            t.canSetWiredLimit ? <WiredForm t={t} info={i} onDone={reload} /> : <WiredCommand info={i} />
          ) : null}
          {i.supported ? <p class="muted small">Note: {i.resets_at_reboot}.</p> : null}
        </>
      )}
    </section>
  );
}

/** On `headroom serve`: the command to run in a terminal (setting needs a local password). */
function WiredCommand({ info }: { info: WiredLimitInfo }) {
  const mb = Number(info.suggestion?.mb ?? 0);
  const cmd = wiredCommand(mb);
  const [copied, setCopied] = useState(false);
  const copy = () => navigator.clipboard?.writeText(cmd).then(() => setCopied(true), () => setCopied(false));
  return (
    <div class="hint">
      <span class="small">Setting it needs an administrator password on this Mac. Run:</span>
      <div class="inline">
        <code class="cmd" data-testid="wired-command">{cmd}</code>
        <button type="button" onClick={copy} aria-label={`Copy the command ${cmd}`}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
    </div>
  );
}

type Pending = { mb: number };

/** In the app: validate (the engine's messages), confirm, set; macOS asks for the password. */
function WiredForm({ t, info, onDone }: { t: MachineTransport; info: WiredLimitInfo; onDone: () => void }) {
  const [text, setText] = useState(() => {
    const s = Number(info.suggestion?.mb ?? 0);
    return s > 0 ? String(s) : '';
  });
  const [err, setErr] = useState<string | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [flash, setFlash] = useState<{ text: string; error: boolean } | null>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);
  // Keyboard users land on the confirmation as soon as it appears.
  useEffect(() => { if (pending) confirmRef.current?.focus(); }, [pending]);

  const check = async (e: Event) => {
    e.preventDefault();
    setFlash(null);
    try {
      setPending({ mb: await t.checkWiredLimit(text) });
      setErr(null);
    } catch (x) {
      setPending(null);
      setErr(message(x));
    }
  };
  const apply = async (mb: number) => {
    setBusy(true);
    try {
      const o = await t.setWiredLimit(mb);
      setFlash({ text: applyText(o), error: o.outcome !== 'applied' });
      onDone();
    } catch (x) {
      setFlash({ text: message(x), error: true });
    } finally {
      setBusy(false);
      setPending(null);
    }
  };
  return (
    <form class="wired-form" onSubmit={check}>
      <label for="wired-size">New limit (MB, or with a unit: 48GB)</label>
      <div class="inline">
        <input id="wired-size" value={text} inputMode="decimal" autoComplete="off" spellcheck={false}
          aria-invalid={err ? true : undefined} aria-describedby="wired-size-err"
          onInput={(e) => { setText((e.target as HTMLInputElement).value); setErr(null); setPending(null); }} />
        <button type="submit" disabled={busy || !text.trim()}>Set…</button>
        <button type="button" disabled={busy} onClick={() => { setErr(null); setPending({ mb: 0 }); }}>Reset…</button>
      </div>
      <span id="wired-size-err" class="field-error" role={err ? 'alert' : undefined}>{err ?? ''}</span>
      {pending ? (
        <div class="confirm" role="group" aria-label="Confirm the wired limit">
          <p>
            {pending.mb === 0 ? 'Reset iogpu.wired_limit_mb to 0 (the macOS default)' : `Set iogpu.wired_limit_mb to ${mbText(pending.mb)}`}?
            {' '}macOS will ask for an administrator password.
          </p>
          <div class="inline">
            <button type="button" class="primary" ref={confirmRef} disabled={busy} onClick={() => apply(pending.mb)}>
              {pending.mb === 0 ? 'Reset' : 'Set'}
            </button>
            <button type="button" disabled={busy} onClick={() => setPending(null)}>Cancel</button>
          </div>
        </div>
      ) : null}
      <p class={`flash ${flash?.error ? 'error' : ''}`} role="status" aria-live="polite">{flash?.text ?? ''}</p>
    </form>
  );
}

const BITS = [2, 3, 4, 5, 6, 8, 16, 32];
const KV_BITS = [4, 8, 16, 32];

function Fit({ t }: { t: MachineTransport }) {
  const [params, setParams] = useState('70B');
  const [bits, setBits] = useState('4');
  const [context, setContext] = useState('8192');
  const [kvBits, setKvBits] = useState('16');
  const [layers, setLayers] = useState('');
  const [kvHeads, setKvHeads] = useState('');
  const [headDim, setHeadDim] = useState('');
  const [report, setReport] = useState<FitReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const p = paramCount(params);
  const ctx = wholeNumber(context, 'context', 1, 100_000_000);
  const shape = [
    wholeNumber(layers, 'layers', 1, 100_000),
    wholeNumber(kvHeads, 'KV heads', 1, 100_000),
    wholeNumber(headDim, 'head dim', 1, 100_000),
  ] as const;
  const bad = [p, ctx, ...shape].find((f) => !f.ok) as { ok: false; error: string } | undefined;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (bad) return;
    setBusy(true);
    try {
      setReport(await t.fit({
        params,
        bits: Number(bits),
        context: ctx.ok ? ctx.value : undefined,
        kvBits: Number(kvBits),
        layers: shape[0].ok ? shape[0].value : undefined,
        kvHeads: shape[1].ok ? shape[1].value : undefined,
        headDim: shape[2].ok ? shape[2].value : undefined,
      }));
      setError(null);
    } catch (x) {
      setError(message(x));
      setReport(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="tool" aria-labelledby="fit-h" data-testid="fit">
      <h2 id="fit-h">Will it fit?</h2>
      <form onSubmit={submit} aria-describedby="fit-err">
        <div class="three">
          <div class="field">
            <label for="fit-params">Parameters</label>
            <input id="fit-params" value={params} placeholder="70B" autoComplete="off" spellcheck={false}
              aria-invalid={!p.ok || undefined} onInput={(e) => setParams((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="fit-bits">Weight bits</label>
            <select id="fit-bits" value={bits} onChange={(e) => setBits((e.target as HTMLSelectElement).value)}>
              {BITS.map((b) => <option key={b} value={b}>{b}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="fit-context">Context (tokens)</label>
            <input id="fit-context" value={context} inputMode="numeric" autoComplete="off"
              aria-invalid={!ctx.ok || undefined} onInput={(e) => setContext((e.target as HTMLInputElement).value)} />
          </div>
        </div>
        <details class="more">
          <summary>KV cache bits and model shape</summary>
          <div class="two">
            <div class="field">
              <label for="fit-kv-bits">KV cache bits</label>
              <select id="fit-kv-bits" value={kvBits} onChange={(e) => setKvBits((e.target as HTMLSelectElement).value)}>
                {KV_BITS.map((b) => <option key={b} value={b}>{b}</option>)}
              </select>
            </div>
            <ShapeField id="fit-layers" label="Layers" value={layers} set={setLayers} ok={shape[0].ok} />
            <ShapeField id="fit-kv-heads" label="KV heads" value={kvHeads} set={setKvHeads} ok={shape[1].ok} />
            <ShapeField id="fit-head-dim" label="Head dim" value={headDim} set={setHeadDim} ok={shape[2].ok} />
          </div>
          <p class="muted small">Leave the shape empty to assume the nearest known model's.</p>
        </details>
        <div class="row-between">
          <span id="fit-err" class="field-error" role={bad ? 'alert' : undefined}>{bad?.error ?? ''}</span>
          <button type="submit" class="primary" disabled={busy || !!bad}>Estimate</button>
        </div>
      </form>
      {error ? <p class="error" role="alert" data-testid="fit-error">{error}</p> : null}
      {report ? <FitResult r={report} /> : null}
    </section>
  );
}

function ShapeField({ id, label, value, set, ok }: { id: string; label: string; value: string; set: (v: string) => void; ok: boolean }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} value={value} inputMode="numeric" autoComplete="off" placeholder="auto"
        aria-invalid={!ok || undefined} onInput={(e) => set((e.target as HTMLInputElement).value)} />
    </div>
  );
}

function FitResult({ r }: { r: FitReport }) {
  const b = fitBars(r);
  const budget = r.budget;
  return (
    <div class="fit-result">
      <p class={`verdict ${r.verdict}`} role="status" data-testid="fit-verdict">{verdictLine(r)}</p>
      <figure class="fitbar" aria-label="Estimate against this machine">
        <div class="track" role="img"
          aria-label={`Weights ${formatBytes(r.weights)}, KV cache ${formatBytes(r.kv_cache)}, overhead ${formatBytes(r.overhead)}, total ${formatBytes(r.total)}${b.wired != null ? `, wired limit ${size(budget.wired_limit)}` : ''}${b.available != null ? `, available ${size(budget.available)}` : ''}`}>
          <span class="seg weights" style={{ width: `${b.weights}%` }} />
          <span class="seg kv" style={{ width: `${b.kv}%` }} />
          <span class="seg overhead" style={{ width: `${b.overhead}%` }} />
          {b.wired != null ? <span class="mark wired" style={{ left: `${b.wired}%` }} /> : null}
          {b.available != null ? <span class="mark available" style={{ left: `${b.available}%` }} /> : null}
        </div>
      </figure>
      <dl class="kv">
        <Row cls="weights" label="Weights" value={r.weights} testid="fit-weights" sub={r.weights_source} />
        <Row cls="kv" label="KV cache" value={r.kv_cache} testid="fit-kv"
          sub={`2 × ${r.shape.layers} layers × ${r.shape.kv_heads} KV heads × ${r.shape.head_dim} head dim × ${r.context} tokens × ${r.kv_bits} bits; ${r.shape_source}`} />
        <Row cls="overhead" label="Overhead" value={r.overhead} testid="fit-overhead"
          sub={`quantization scales ${formatBytes(r.overhead_parts.quant_scales)} + activations ${formatBytes(r.overhead_parts.activations)} + runtime ${formatBytes(r.overhead_parts.runtime)}`} />
        <Row label="Total" value={r.total} testid="fit-total" />
        <div>
          <dt><span class="line wired" aria-hidden="true" />GPU wired limit</dt>
          <dd class="num" data-testid="fit-wired">{budget.has_wired_limit ? size(budget.wired_limit) : 'none (not macOS)'}</dd>
        </div>
        <div><dt><span class="line available" aria-hidden="true" />Available now</dt><dd class="num">{size(budget.available)}</dd></div>
        <div><dt>Physical memory</dt><dd class="num">{size(budget.physical)}</dd></div>
      </dl>
      {r.reasons.length ? <ul class="reasons" data-testid="fit-reasons">{r.reasons.map((x) => <li key={x}>{x}</li>)}</ul> : null}
    </div>
  );
}

function Row({ cls, label, value, testid, sub }: { cls?: string; label: string; value: number; testid: string; sub?: string }) {
  return (
    <div>
      <dt>{cls ? <span class={`swatch ${cls}`} aria-hidden="true" /> : null}{label}</dt>
      <dd>
        <span class="num" data-testid={testid} data-bytes={value}>{formatBytes(value)}</span>
        {sub ? <span class="muted small"> ({sub})</span> : null}
      </dd>
    </div>
  );
}

function Doctor({ t }: { t: MachineTransport }) {
  const [r, setR] = useState<DoctorReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try { setR(await t.doctor()); setError(null); } catch (x) { setError(message(x)); } finally { setBusy(false); }
  };
  return (
    <section class="tool" aria-labelledby="doctor-h" data-testid="doctor">
      <div class="row-between">
        <h2 id="doctor-h">Doctor</h2>
        <button type="button" onClick={run} disabled={busy}>{r ? 'Check again' : 'Run checks'}</button>
      </div>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {r ? (
        <div aria-live="polite">
          {r.findings.length === 0 ? (
            <p class={r.status === 'healthy' ? 'ok' : 'muted'}>{r.status === 'healthy' ? 'Healthy: nothing to fix.' : 'Could not check this machine.'}</p>
          ) : (
            <ul class="findings">
              {r.findings.map((f) => (
                <li key={`${f.id}-${f.pid ?? ''}`} class={`finding ${f.severity}`}>
                  <strong>{f.title}</strong>
                  <span class="small muted">{f.evidence.map((e) => `${e.name} ${e.shown}`).join(' · ')}</span>
                  <span class="small">Fix: {f.action}</span>
                  {f.command ? <code class="cmd">{f.command}</code> : null}
                  {f.detail ? <details><summary class="small">Exact lines</summary><pre class="cmd small">{f.detail}</pre></details> : null}
                </li>
              ))}
            </ul>
          )}
          <p class="muted small">{r.checks.filter((c) => c.status === 'skipped').map((c) => `${c.id} skipped (${c.detail})`).join('; ')}</p>
        </div>
      ) : <p class="muted small">Pressure, swap, compressed memory, MLX caches, the wired limit and other apps, in the order to fix them.</p>}
    </section>
  );
}

function Top({ t }: { t: MachineTransport }) {
  const [rows, setRows] = useState<TopRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try { setRows(await t.top(10)); setError(null); } catch (x) { setError(message(x)); } finally { setBusy(false); }
  };
  return (
    <section class="tool" aria-labelledby="top-h" data-testid="top">
      <div class="row-between">
        <h2 id="top-h">What holds memory</h2>
        <button type="button" onClick={run} disabled={busy}>{rows ? 'Refresh' : 'Show'}</button>
      </div>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {rows ? (
        <table class="top-table">
          <caption class="sr-only">Apps by memory footprint</caption>
          <thead><tr><th scope="col">App</th><th scope="col" class="r">Footprint</th><th scope="col" class="r">PID</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.name}-${r.pid ?? r.pids?.[0] ?? ''}`}>
                <td class="name" title={r.name}>{r.name}</td>
                <td class="num r">{formatBytes(r.footprint)}</td>
                <td class="num r muted">{r.pids ? `${r.pids[0]} +${r.pids.length - 1}` : r.pid}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
