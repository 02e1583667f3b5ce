import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Config, LoadedConfig, Metric } from '../api-types';
import {
  LEVELS, METRICS, formToRule, issuesByKey, newRule, ruleFieldKey, ruleToForm, unitOf, type FieldErrors, type RuleForm,
} from '../config-form';
import type { Store } from '../store';
import { Journal } from './Journal';
import { useConfig, type Check } from './useConfig';

export function Alerts({ store }: { store: Store }) {
  const cfg = useConfig(store.transport);
  return (
    <section aria-label="Alerts" class="alerts">
      {cfg.fetchError ? <p class="error" role="alert">Cannot read the configuration: {cfg.fetchError}</p> : null}
      {cfg.loaded ? <LoadError loaded={cfg.loaded} /> : null}
      {cfg.loaded ? <RulesEditor key={JSON.stringify(cfg.loaded.config.rules)} cfg={cfg} loaded={cfg.loaded} /> : <p class="muted">Loading rules…</p>}
      <Journal store={store} />
    </section>
  );
}

/** A config file that failed to load: its error, and that it is left alone. */
export function LoadError({ loaded }: { loaded: LoadedConfig }) {
  if (!loaded.error) return null;
  return (
    <div class="load-error" role="alert" data-testid="config-error">
      <strong>The configuration file could not be loaded</strong>
      <code class="cmd">{loaded.path}</code>
      <pre>{loaded.error}</pre>
      <p class="small">
        Headroom is running on the defaults shown here and leaves the file exactly as it is.
        Fix it in an editor (<code>headroom config check</code> explains each problem); saving from here is off until then.
      </p>
    </div>
  );
}

type Cfg = ReturnType<typeof useConfig>;

function RulesEditor({ cfg, loaded }: { cfg: Cfg; loaded: LoadedConfig }) {
  const initial = useMemo(() => (loaded.config.rules ?? []).map(ruleToForm), [loaded]);
  const [rules, setRules] = useState<RuleForm[]>(initial);
  const [dirty, setDirty] = useState(false);

  // The document the form describes, and the fields that did not parse.
  const { doc, local } = useMemo(() => {
    const errors: FieldErrors = {};
    const out: Config = { ...loaded.config, rules: rules.map((r, i) => formToRule(r, i, errors)) };
    return { doc: out, local: errors };
  }, [rules, loaded]);
  const hasLocal = Object.keys(local).length > 0;

  useEffect(() => {
    if (dirty) cfg.validate(hasLocal ? null : doc);
  }, [doc, dirty]);

  const engine = cfg.check.state === 'invalid'
    ? issuesByKey(cfg.check.issues, (k) => ruleFieldKey(k) !== null)
    : { fields: {} as FieldErrors, other: [] as string[] };
  const errors: FieldErrors = { ...engine.fields, ...local };

  const update = (i: number, patch: Partial<RuleForm>) => {
    setRules((rs) => rs.map((r, k) => (k === i ? { ...r, ...patch } : r)));
    setDirty(true);
  };
  const blocked = !!loaded.error;
  const canSave = dirty && !blocked && !hasLocal && !cfg.saving && cfg.check.state !== 'invalid' && cfg.check.state !== 'checking';

  return (
    <form class="rules" aria-label="Alert rules" onSubmit={(e) => { e.preventDefault(); if (canSave) void cfg.save(doc).then((ok) => ok && setDirty(false)); }}>
      <div class="row-between">
        <h2>Rules</h2>
        <button type="button" onClick={() => { setRules((rs) => [...rs, newRule(rs)]); setDirty(true); }}>Add rule</button>
      </div>
      {rules.length === 0 ? <p class="muted small">No rules: Headroom will not alert.</p> : null}
      {rules.map((r, i) => (
        <RuleCard key={r.base.id ?? i} r={r} i={i} errors={errors} onChange={(p) => update(i, p)}
          onRemove={() => { setRules((rs) => rs.filter((_, k) => k !== i)); setDirty(true); }} />
      ))}
      <SaveBar
        check={cfg.check} other={engine.other} dirty={dirty} canSave={canSave} saving={cfg.saving}
        saved={cfg.saved} blocked={blocked} localCount={Object.keys(local).length}
        onRevert={() => { setRules(initial); setDirty(false); cfg.validate(null); }}
      />
    </form>
  );
}

export function SaveBar({ check, other, dirty, canSave, saving, saved, blocked, localCount, onRevert, saveLabel = 'Save', statusId = 'config-status' }: {
  check: Check; other: string[]; dirty: boolean; canSave: boolean; saving: boolean; saved: string | null;
  blocked: boolean; localCount: number; onRevert: () => void;
  /** The save button's name, when a page has more than one form. */
  saveLabel?: string;
  /** The status line's test id, when a page has more than one form. */
  statusId?: string;
}) {
  let status = '';
  if (saved) status = saved;
  else if (blocked) status = 'Saving is off while the file has an error.';
  else if (localCount) status = `${localCount} field${localCount === 1 ? '' : 's'} to fix`;
  else if (check.state === 'checking') status = 'Checking…';
  else if (check.state === 'valid') status = 'Valid — not saved yet';
  else if (check.state === 'invalid') status = check.message;
  else if (check.state === 'unknown') status = `Could not check: ${check.message}`;
  const bad = check.state === 'invalid' || localCount > 0 || check.state === 'unknown';
  return (
    <div class="savebar">
      {other.length ? <ul class="error small" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul> : null}
      <p class={`small ${bad ? 'error' : saved ? 'ok' : 'muted'}`} role="status" aria-live="polite" data-testid={statusId}>{status}</p>
      <div class="buttons">
        <button type="button" disabled={!dirty || saving} onClick={onRevert}>Revert</button>
        <button type="submit" class="primary" disabled={!canSave}>{saving ? 'Saving…' : saveLabel}</button>
      </div>
    </div>
  );
}

function Field({ id, label, error, children, hint }: { id: string; label: string; error?: string; hint?: string; children: preact.ComponentChildren }) {
  return (
    <div class={`field ${error ? 'invalid' : ''}`}>
      <label for={id}>{label}{hint ? <span class="muted"> {hint}</span> : null}</label>
      {children}
      {error ? <span id={`${id}-err`} class="field-error" role="alert">{error}</span> : null}
    </div>
  );
}

function unitHint(unit: string): string {
  return unit === 'bytes' ? '(e.g. 1GB, 512MB)' : unit === 'rate' ? '(per second, e.g. 10MB)' : unit === 'percent' ? '(%)' : '';
}

function RuleCard({ r, i, errors, onChange, onRemove }: {
  r: RuleForm; i: number; errors: FieldErrors; onChange: (p: Partial<RuleForm>) => void; onRemove: () => void;
}) {
  const unit = unitOf(r.metric);
  const id = (k: string) => `rule-${i}-${k}`;
  const err = (k: string) => errors[`rules[${i}].${k}`];
  const ruleErrors = Object.keys(errors).filter((k) => k.startsWith(`rules[${i}]`));
  const [open, setOpen] = useState(false);
  const isOpen = open || ruleErrors.length > 0;
  const metricLabel = METRICS.find((m) => m.id === r.metric)?.label ?? r.metric;
  const summary = unit === 'level'
    ? `${metricLabel} ${r.comparison} ${LEVELS.find((l) => String(l.value) === r.threshold)?.label ?? r.threshold}`
    : `${metricLabel} ${r.comparison === 'above' ? '>' : '<'} ${r.threshold}${unit === 'percent' ? '%' : unit === 'rate' ? '/s' : ''}`;
  const text = (k: keyof RuleForm, label: string, hint?: string, errKey = k as string) => (
    <Field id={id(k)} label={label} error={err(errKey)} hint={hint}>
      <input id={id(k)} value={r[k] as string} autoComplete="off" spellcheck={false}
        aria-invalid={err(errKey) ? true : undefined} aria-describedby={err(errKey) ? `${id(k)}-err` : undefined}
        onInput={(e) => onChange({ [k]: (e.target as HTMLInputElement).value } as Partial<RuleForm>)} />
    </Field>
  );
  return (
    <details class={`rule ${r.enabled ? '' : 'disabled'} ${ruleErrors.length ? 'has-error' : ''}`} open={isOpen}
      data-testid={`rule-${r.base.id}`}
      onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>
        <span class="rname">{r.name || r.base.id}</span>
        <span class="muted small rsum">{r.enabled ? summary : 'off'}</span>
      </summary>
      <div class="rule-body">
        <div class="row-between">
          <label class="check"><input type="checkbox" checked={r.enabled} onChange={(e) => onChange({ enabled: (e.target as HTMLInputElement).checked })} /> Enabled</label>
          <button type="button" class="link danger" onClick={onRemove} aria-label={`Remove rule ${r.name || r.base.id}`}>Remove</button>
        </div>
        {text('name', 'Name')}
        <div class="two">
          <Field id={id('metric')} label="Metric" error={err('metric')}>
            <select id={id('metric')} value={r.metric} onChange={(e) => onChange({ metric: (e.target as HTMLSelectElement).value as Metric })}>
              {METRICS.map((m) => <option key={m.id} value={m.id}>{m.label}</option>)}
            </select>
          </Field>
          <Field id={id('comparison')} label="When" error={err('comparison')}>
            <select id={id('comparison')} value={r.comparison} onChange={(e) => onChange({ comparison: (e.target as HTMLSelectElement).value as 'above' | 'below' })}>
              <option value="above">above</option>
              <option value="below">below</option>
            </select>
          </Field>
        </div>
        <div class="two">
          {unit === 'level' ? (
            <>
              <LevelSelect id={id('threshold')} label="Threshold" value={r.threshold} error={err('threshold')} onChange={(v) => onChange({ threshold: v })} />
              <LevelSelect id={id('recovery')} label="Recovers at" value={r.recovery} error={err('recovery')} onChange={(v) => onChange({ recovery: v })} optional />
            </>
          ) : (
            <>
              {text('threshold', 'Threshold', unitHint(unit))}
              {text('recovery', 'Recovers at')}
            </>
          )}
        </div>
        <div class="three">
          {text('forText', 'For', '(e.g. 30s)', 'for_secs')}
          {text('samples', 'Samples')}
          {text('cooldown', 'Cooldown', '', 'cooldown_secs')}
        </div>
        <fieldset class="actions">
          <legend>Actions</legend>
          <label class="check"><input type="checkbox" checked={r.notify} onChange={(e) => onChange({ notify: (e.target as HTMLInputElement).checked })} /> Notify</label>
          <div class="inline-check">
            <label class="check"><input type="checkbox" checked={r.clearCache} onChange={(e) => onChange({ clearCache: (e.target as HTMLInputElement).checked })} /> Clear MLX cache</label>
            <select aria-label="Which processes" value={r.clearScope} disabled={!r.clearCache} onChange={(e) => onChange({ clearScope: (e.target as HTMLSelectElement).value as 'all' | 'breaching' })}>
              <option value="all">all processes</option>
              <option value="breaching">the breaching one</option>
            </select>
          </div>
          <div class="inline-check">
            <label class="check"><input type="checkbox" checked={r.setCacheLimit} onChange={(e) => onChange({ setCacheLimit: (e.target as HTMLInputElement).checked })} /> Set cache limit</label>
            <input aria-label="Cache limit" value={r.cacheLimit} disabled={!r.setCacheLimit} onInput={(e) => onChange({ cacheLimit: (e.target as HTMLInputElement).value })} />
          </div>
          {ruleErrors.filter((k) => k.includes('.actions')).map((k) => <span key={k} class="field-error" role="alert">{errors[k]}</span>)}
        </fieldset>
        {err('') || err('id') ? <p class="field-error" role="alert">{err('') || err('id')}</p> : null}
      </div>
    </details>
  );
}

function LevelSelect({ id, label, value, error, onChange, optional }: {
  id: string; label: string; value: string; error?: string; onChange: (v: string) => void; optional?: boolean;
}) {
  return (
    <Field id={id} label={label} error={error}>
      <select id={id} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {optional ? <option value="">same as threshold</option> : null}
        {LEVELS.map((l) => <option key={l.value} value={String(l.value)}>{l.label}</option>)}
      </select>
    </Field>
  );
}
