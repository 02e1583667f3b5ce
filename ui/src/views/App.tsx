import { useEffect, useRef, useState } from 'preact/hooks';
import type { Store } from '../store';
import { staleSeconds, useNow, useStore } from '../store';
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

export function App({ store }: { store: Store }) {
  const state = useStore(store);
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

  const s = state.snapshot;
  const now = useNow(1000);
  const stale = staleSeconds(state, now) != null;
  useEffect(() => {
    if (s && !performance.getEntriesByName('headroom:first-render').length) {
      performance.mark('headroom:first-render');
    }
    if (s) {
      const used = s.memory.used != null && s.memory.total ? `${percent(s.memory.used / s.memory.total)} used · ` : '';
      document.title = `${used}${s.pressure.level ? PRESSURE_WORD[s.pressure.level] : 'Unknown'} — Headroom`;
    }
  }, [s]);

  return (
    <div class={`shell${stale ? ' is-stale' : ''}`}>
      <header class="top">
        <h1>Headroom</h1>
        <PressureBadge level={s?.pressure.level ?? null} />
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
            {t.id === 'mlx' && s && s.mlx.length > 0 ? (
              <>
                {' '}<span class="count">{s.mlx.length}</span>
                <span class="sr-only"> process{s.mlx.length === 1 ? '' : 'es'}</span>
              </>
            ) : null}
          </button>
        ))}
      </div>
      </nav>
      <main>
      <div id={`panel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`} class="panel" tabIndex={-1}>
        {state.loadError && !s ? (
          <p class="error" role="alert">Cannot reach Headroom: {state.loadError}</p>
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
  const state = useStore(store);
  const now = useNow(1000);
  const stale = staleSeconds(state, now);
  const st = state.stream;
  if (stale == null && st.state === 'open') {
    return <span class="live" role="status" aria-live="polite"><span class="dot" aria-hidden="true" />Live</span>;
  }
  if (stale == null && state.receivedAt == null) {
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
