import type { Store } from '../store';

export function Settings({ store }: { store: Store }) {
  return (
    <section aria-label="Settings" class="settings">
      <p class="muted">Connected through {store.transport.kind === 'tauri' ? 'the Headroom app' : 'headroom serve'}.</p>
    </section>
  );
}
