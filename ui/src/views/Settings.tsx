import { useEffect, useMemo, useState } from 'preact/hooks';
import type { IconStyle, LoadedConfig, TitleFormat } from '../api-types';
import { ICON_STYLES, TITLES, formToSettings, issuesByKey, settingsToForm, type FieldErrors, type SettingsForm } from '../config-form';
import type { Store } from '../store';
import { LoadError, SaveBar } from './Alerts';
import { Policies } from './Policies';
import { useConfig } from './useConfig';

const FIELDS: Record<string, keyof SettingsForm> = {
  'sampling.interval_ms': 'interval',
  'app.title': 'title',
  'app.icon_style': 'iconStyle',
  'app.launch_at_login': 'launchAtLogin',
  'app.http_server': 'httpServer',
  'server.listen': 'listen',
};

export function Settings({ store }: { store: Store }) {
  const cfg = useConfig(store.transport);
  return (
    <section aria-label="Settings" class="settings">
      {cfg.fetchError ? <p class="error" role="alert">Cannot read the configuration: {cfg.fetchError}</p> : null}
      {cfg.loaded ? <LoadError loaded={cfg.loaded} /> : null}
      {cfg.loaded ? <SettingsEditor key={JSON.stringify(cfg.loaded.config)} cfg={cfg} loaded={cfg.loaded} /> : <p class="muted">Loading…</p>}
      <Policies store={store} />
      <p class="muted small">
        Connected through {store.transport.kind === 'tauri' ? 'the Headroom app' : 'headroom serve'}
        {cfg.loaded?.path ? <> · config <code>{cfg.loaded.path}</code></> : null}
      </p>
    </section>
  );
}

function SettingsEditor({ cfg, loaded }: { cfg: ReturnType<typeof useConfig>; loaded: LoadedConfig }) {
  const initial = useMemo(() => settingsToForm(loaded.config), [loaded]);
  const [f, setF] = useState<SettingsForm>(initial);
  const [dirty, setDirty] = useState(false);
  const { doc, local } = useMemo(() => {
    const errors: FieldErrors = {};
    return { doc: formToSettings(loaded.config, f, errors), local: errors };
  }, [f, loaded]);
  const hasLocal = Object.keys(local).length > 0;
  useEffect(() => { if (dirty) cfg.validate(hasLocal ? null : doc); }, [doc, dirty]);
  const engine = cfg.check.state === 'invalid' ? issuesByKey(cfg.check.issues, (k) => k in FIELDS) : { fields: {} as FieldErrors, other: [] as string[] };
  const errors: FieldErrors = { ...engine.fields, ...local };
  const set = (patch: Partial<SettingsForm>) => { setF((x) => ({ ...x, ...patch })); setDirty(true); };
  const blocked = !!loaded.error;
  const canSave = dirty && !blocked && !hasLocal && !cfg.saving && cfg.check.state !== 'invalid' && cfg.check.state !== 'checking';
  const err = (k: string) => errors[k];

  return (
    <form class="settings-form" aria-label="Settings" onSubmit={(e) => { e.preventDefault(); if (canSave) void cfg.save(doc).then((ok) => ok && setDirty(false)); }}>
      <h2>Sampling</h2>
      <div class="field">
        <label for="set-interval">Sample memory every <span class="muted">(e.g. 1s, 500ms)</span></label>
        <input id="set-interval" value={f.interval} onInput={(e) => set({ interval: (e.target as HTMLInputElement).value })}
          aria-invalid={err('sampling.interval_ms') ? true : undefined} aria-describedby="set-interval-err" />
        {err('sampling.interval_ms') ? <span id="set-interval-err" class="field-error" role="alert">{err('sampling.interval_ms')}</span> : null}
      </div>
      <h2>Menu bar <span class="muted small">(takes effect in the app)</span></h2>
      <div class="field">
        <label for="set-title">Title beside the icon</label>
        <select id="set-title" value={f.title} onChange={(e) => set({ title: (e.target as HTMLSelectElement).value as TitleFormat })}>
          {TITLES.map((t) => <option key={t.value} value={t.value}>{t.label}</option>)}
        </select>
        {err('app.title') ? <span class="field-error" role="alert">{err('app.title')}</span> : null}
      </div>
      <div class="field">
        <label for="set-icon">Icon</label>
        <select id="set-icon" value={f.iconStyle} onChange={(e) => set({ iconStyle: (e.target as HTMLSelectElement).value as IconStyle })}>
          {ICON_STYLES.map((t) => <option key={t.value} value={t.value}>{t.label}</option>)}
        </select>
      </div>
      <label class="check"><input type="checkbox" checked={f.launchAtLogin} onChange={(e) => set({ launchAtLogin: (e.target as HTMLInputElement).checked })} /> Launch at login</label>
      <label class="check"><input type="checkbox" checked={f.httpServer} onChange={(e) => set({ httpServer: (e.target as HTMLInputElement).checked })} /> Serve the dashboard over HTTP from the app</label>
      <div class="field">
        <label for="set-listen">HTTP address <span class="muted">(loopback unless a token is set)</span></label>
        <input id="set-listen" value={f.listen} spellcheck={false} onInput={(e) => set({ listen: (e.target as HTMLInputElement).value })}
          aria-invalid={err('server.listen') ? true : undefined} aria-describedby="set-listen-err" />
        {err('server.listen') ? <span id="set-listen-err" class="field-error" role="alert">{err('server.listen')}</span> : null}
      </div>
      <SaveBar check={cfg.check} other={engine.other} dirty={dirty} canSave={canSave} saving={cfg.saving} saved={cfg.saved}
        blocked={blocked} localCount={Object.keys(local).length}
        onRevert={() => { setF(initial); setDirty(false); cfg.validate(null); }} />
    </form>
  );
}
