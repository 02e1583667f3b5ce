import type { Store } from '../store';
import { Journal } from './Journal';

export function Alerts({ store }: { store: Store }) {
  return (
    <section aria-label="Alerts" class="alerts">
      <p class="muted">Alert rules appear here once the engine's config API is available.</p>
      <Journal store={store} />
    </section>
  );
}
