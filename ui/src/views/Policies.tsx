import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Config, LoadedConfig, PolicySuggestion } from '../api-types';
import { formToPolicy, issuesByKey, matchText, newPolicy, policyFieldKey, policyToForm, type FieldErrors, type PolicyForm } from '../config-form';
import type { Store } from '../store';
import { SaveBar } from './Alerts';
import { useConfig } from './useConfig';

/** Settings › MLX policies: limits and idle trims every matching MLX process gets, set once. */
export function Policies({ store }: { store: Store }) {
  const cfg = useConfig(store.transport);
  if (!cfg.loaded) return null;
  return <PoliciesEditor key={JSON.stringify(cfg.loaded.config.policies)} cfg={cfg} loaded={cfg.loaded} />;
}

type Cfg = ReturnType<typeof useConfig>;

function PoliciesEditor({ cfg, loaded }: { cfg: Cfg; loaded: LoadedConfig }) {
  const initial = useMemo(() => ({
    enabled: !!loaded.config.policies?.enabled,
    list: (loaded.config.policies?.list ?? []).map(policyToForm),
  }), [loaded]);
  const [f, setF] = useState(initial);
  const [dirty, setDirty] = useState(false);
  const { doc, local } = useMemo(() => {
    const errors: FieldErrors = {};
    const out: Config = { ...loaded.config, policies: { enabled: f.enabled, list: f.list.map((p, i) => formToPolicy(p, i, errors)) } };
    return { doc: out, local: errors };
  }, [f, loaded]);
  const hasLocal = Object.keys(local).length > 0;
  useEffect(() => { if (dirty) cfg.validate(hasLocal ? null : doc); }, [doc, dirty]);
  const engine = cfg.check.state === 'invalid'
    ? issuesByKey(cfg.check.issues, (k) => policyFieldKey(k) !== null || k === 'policies.enabled')
    : { fields: {} as FieldErrors, other: [] as string[] };
  const errors: FieldErrors = { ...engine.fields, ...local };
  const blocked = !!loaded.error;
  const canSave = dirty && !blocked && !hasLocal && !cfg.saving && cfg.check.state !== 'invalid' && cfg.check.state !== 'checking';
  const update = (next: typeof f) => { setF(next); setDirty(true); };
  const setPolicy = (i: number, patch: Partial<PolicyForm>) => update({ ...f, list: f.list.map((p, j) => (j === i ? { ...p, ...patch } : p)) });
  const suggestion = loaded.suggested_policy;
  const adoptSuggestion = (s: PolicySuggestion) => {
    const list = [...(loaded.config.policies?.list ?? []), s.policy];
    void cfg.save({ ...loaded.config, policies: { enabled: true, list } });
  };

  return (
    <form class="settings-form policies" aria-label="MLX policies" onSubmit={(e) => { e.preventDefault(); if (canSave) void cfg.save(doc).then((ok) => ok && setDirty(false)); }}>
      <h2>MLX policies</h2>
      <p class="muted small">
        Limits and an idle cache trim that every matching MLX process gets when its agent appears, once per process.
        A limit set by hand on a process wins until that process exits. Nothing is applied while this is off.
      </p>
      <label class="check">
        <input type="checkbox" checked={f.enabled} data-testid="policies-enabled" onChange={(e) => update({ ...f, enabled: (e.target as HTMLInputElement).checked })} />
        Apply MLX policies
      </label>
      {suggestion && f.list.length === 0 && !dirty ? (
        <div class="suggestion" data-testid="policy-suggestion">
          <p><strong>Suggested:</strong> {matchText(suggestion.policy)} — {describe(suggestion.policy)}</p>
          <ul class="small muted">{suggestion.sources.map((s) => <li key={s.key}>{s.source}</li>)}</ul>
          <button type="button" class="primary" disabled={blocked || cfg.saving} onClick={() => adoptSuggestion(suggestion)}>
            Turn on with this policy
          </button>
        </div>
      ) : null}
      {f.list.map((p, i) => <PolicyFields key={i} i={i} p={p} errors={errors} set={(patch) => setPolicy(i, patch)}
        remove={() => update({ ...f, list: f.list.filter((_, j) => j !== i) })} />)}
      <button type="button" onClick={() => update({ ...f, list: [...f.list, newPolicy(f.list)] })}>Add a policy</button>
      <SaveBar check={cfg.check} other={engine.other} dirty={dirty} canSave={canSave} saving={cfg.saving} saved={cfg.saved}
        blocked={blocked} localCount={Object.keys(local).length} saveLabel="Save policies" statusId="policies-status"
        onRevert={() => { setF(initial); setDirty(false); cfg.validate(null); }} />
    </form>
  );
}

function describe(p: { cache?: number | string; memory?: number | string; wired?: number | string; idle_trim?: { after_secs: number; cache_above: number | string } }): string {
  const v = (x: number | string) => (typeof x === 'number' ? `${Math.round(x / 2 ** 20)} MiB` : x);
  const parts: string[] = [];
  if (p.wired != null) parts.push(`wired ${v(p.wired)}`);
  if (p.cache != null) parts.push(`cache ${v(p.cache)}`);
  if (p.memory != null) parts.push(`memory ${v(p.memory)}`);
  if (p.idle_trim) parts.push(`idle trim above ${v(p.idle_trim.cache_above)} after ${p.idle_trim.after_secs} s`);
  return parts.join(', ') || 'nothing';
}

function PolicyFields({ i, p, errors, set, remove }: {
  i: number; p: PolicyForm; errors: FieldErrors; set: (patch: Partial<PolicyForm>) => void; remove: () => void;
}) {
  const key = (k: string) => `policies.list[${i}].${k}`;
  const text = (field: keyof PolicyForm, errKey: string, label: string, hint?: string) => {
    const id = `pol-${i}-${field}`;
    const err = errors[key(errKey)];
    return (
      <div class="field">
        <label for={id}>{label}{hint ? <span class="muted"> ({hint})</span> : null}</label>
        <input id={id} value={p[field] as string} spellcheck={false}
          aria-invalid={err ? true : undefined} aria-describedby={`${id}-err`}
          onInput={(e) => set({ [field]: (e.target as HTMLInputElement).value } as Partial<PolicyForm>)} />
        {err ? <span id={`${id}-err`} class="field-error" role="alert">{err}</span> : null}
      </div>
    );
  };
  return (
    <fieldset class="policy" data-testid={`policy-${i}`}>
      <legend>{p.id || `policy ${i + 1}`}</legend>
      <div class="row-between">
        <label class="check"><input type="checkbox" checked={p.enabled} onChange={(e) => set({ enabled: (e.target as HTMLInputElement).checked })} /> Enabled</label>
        <button type="button" onClick={remove} aria-label={`Remove policy ${p.id}`}>Remove</button>
      </div>
      {text('id', 'id', 'Id', 'letters, digits, - or _')}
      <p class="muted small">Matches: leave all three empty for every MLX process.</p>
      {text('process', 'process', 'Process name', 'exactly, e.g. python3.12')}
      {text('cmdline', 'cmdline', 'Command line', 'a regular expression, e.g. mlx_lm[. ]server')}
      {text('pythonEnv', 'python_env', 'Python environment', 'its sys.prefix, an absolute path')}
      <p class="muted small">Limits: a size (512MiB) or a percentage of physical memory (75%); empty leaves MLX's own.</p>
      {text('cache', 'cache', 'Cache limit')}
      {text('memory', 'memory', 'Memory limit')}
      {text('wired', 'wired', 'Wired limit', 'refused above the GPU\u2019s recommended working set')}
      <label class="check"><input type="checkbox" checked={p.trim} onChange={(e) => set({ trim: (e.target as HTMLInputElement).checked })} /> Idle trim: clear the cache once when the process rests</label>
      {p.trim ? (
        <>
          {text('trimAfter', 'idle_trim.after_secs', 'after resting for', 'e.g. 5m')}
          {text('trimAbove', 'idle_trim.cache_above', 'when its cache is above', 'e.g. 100MiB')}
        </>
      ) : null}
    </fieldset>
  );
}
