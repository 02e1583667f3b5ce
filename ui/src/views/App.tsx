import { useEffect, useRef, useState } from 'preact/hooks';
import type { State, Store } from '../store';
import { shallowEqual, useIsStale, useSelected, useStale, watchSelected } from '../store';
import { ago, percent } from '../format';
import { PRESSURE_WORD, PressureBadge } from './common';
import { Overview } from './Overview';
import { Mlx } from './Mlx';
import { Alerts } from './Alerts';
import { Settings } from './Settings';
import { Tools } from './Tools';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'mlx', label: 'MLX' },
  { id: 'alerts', label: 'Alerts' },
  { id: 'settings', label: 'Settings' },
  { id: 'tools', label: 'Tools' },
] as const;
type TabId = (typeof TABS)[number]['id'];

const fromHash = (): TabId => {
  const h = location.hash.replace(/^#\/?/, '');
  return (TABS.find((t) => t.id === h)?.id ?? 'overview') as TabId;
};

/** What the shell shows of the state: a few values that rarely change (not the title). */
function shellView(s: State) {
  const snap = s.snapshot;
  return {
    level: snap?.pressure.level ?? null,
    mlxCount: snap?.mlx.length ?? 0,
    hasSnapshot: snap != null,
    loadError: s.loadError,
  };
}

/** The document's title: `42.0% used · Normal — Headroom` (null before the first sample). */
export function pageTitle(s: State): string | null {
  const snap = s.snapshot;
  if (!snap) return null;
  const used = snap.memory.used != null && snap.memory.total ? `${percent(snap.memory.used / snap.memory.total)} used · ` : '';
  return `${used}${snap.pressure.level ? PRESSURE_WORD[snap.pressure.level] : 'Unknown'} — Headroom`;
}

export function App({ store }: { store: Store }) {
  // Re-renders when what the shell shows changes, not on every sample: each view follows
  // the store itself.
  const shell = useSelected(store, shellView, shallowEqual);
  const [tab, setTab] = useState<TabId>(fromHash);
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});

  useEffect(() => {
    const onHash = () => setTab(fromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const select = (id: TabId, focus = false) => {
    setTab(id);
    history.replaceState(null, '', `#${id}`);
    if (focus) tabRefs.current[id]?.focus();
  };

  // WAI-ARIA tabs: arrows move between tabs, Home/End jump.
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const n = TABS.length;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1 + n, Home: 0, End: n - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    select(TABS[to % n]!.id, true);
  };

  const stale = useIsStale(store);
  useEffect(() => {
    if (shell.hasSnapshot && !performance.getEntriesByName('headroom:first-render').length) {
      performance.mark('headroom:first-render');
    }
  }, [shell.hasSnapshot]);
  // The title follows the store without re-rendering the shell (it changes with the used
  // percentage, nearly every sample).
  useEffect(() => {
    const show = (t: string | null) => { if (t != null) document.title = t; };
    show(pageTitle(store.state));
    return watchSelected(store, () => pageTitle, Object.is, show);
  }, [store]);

  return (
    <div class={`shell${stale ? ' is-stale' : ''}`}>
      <header class="top">
        <h1>Headroom</h1>
        <PressureBadge level={shell.level} />
        <StreamBanner store={store} />
      </header>
      <nav aria-label="Views">
      <div role="tablist" aria-label="Views" class="tabs" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t.id}
            role="tab"
            id={`tab-${t.id}`}
            ref={(el) => { tabRefs.current[t.id] = el; }}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => select(t.id)}
          >
            {t.label}
            {t.id === 'mlx' && shell.mlxCount > 0 ? (
              <>
                {' '}<span class="count">{shell.mlxCount}</span>
                <span class="sr-only"> process{shell.mlxCount === 1 ? '' : 'es'}</span>
              </>
            ) : null}
          </button>
        ))}
      </div>
      </nav>
      <main>
      <div id={`panel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`} class="panel" tabIndex={-1}>
        {shell.loadError && !shell.hasSnapshot ? (
          <p class="error" role="alert">Cannot reach Headroom: {shell.loadError}</p>
        ) : null}
        {tab === 'overview' ? <Overview store={store} /> : null}
        {tab === 'mlx' ? <Mlx store={store} /> : null}
        {tab === 'alerts' ? <Alerts store={store} /> : null}
        {tab === 'settings' ? <Settings store={store} /> : null}
        {tab === 'tools' ? <Tools store={store} /> : null}
      </div>
      </main>
    </div>
  );
}

/** "Live", or "stale — last update N s ago" with the reconnection state. */
function StreamBanner({ store }: { store: Store }) {
  const view = useSelected(store, (s) => ({ stream: s.stream, received: s.receivedAt != null }), shallowEqual);
  const stale = useStale(store);
  const st = view.stream;
  if (stale == null && st.state === 'open') {
    return <span class="live" role="status" aria-live="polite"><span class="dot" aria-hidden="true" />Live</span>;
  }
  if (stale == null && !view.received) {
    return <span class="live wait" role="status" aria-live="polite">Connecting…</span>;
  }
  if (stale == null) return <span class="live" role="status" aria-live="polite"><span class="dot" aria-hidden="true" />Live</span>;
  const why = st.state === 'retrying' || st.state === 'connecting' ? ' · reconnecting…' : '';
  return (
    <span class="stale" role="status" aria-live="polite" data-testid="stale" title={st.error ? `Last error: ${st.error}` : ''}>
      Stale — last update {ago(stale)}{why}
    </span>
  );
}
