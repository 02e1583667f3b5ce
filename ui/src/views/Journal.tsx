import type { Event } from '../api-types';
import type { Store } from '../store';
import { useSelected } from '../store';

const SEVERITY_WORD = { info: 'Info', warning: 'Warning', critical: 'Critical' } as const;

function time(at: string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return at;
  const sameDay = d.toDateString() === new Date().toDateString();
  const hm = local(d, 'time', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? hm : `${local(d, 'date', { month: 'short', day: 'numeric' })} ${hm}`;
}

/** Formats in the user's locale; a locale Intl rejects (WebKit under LANG=C reports "C") falls back to en-US. */
function local(d: Date, part: 'time' | 'date', opts: Intl.DateTimeFormatOptions): string {
  const format = (locales: string[]) =>
    part === 'time' ? d.toLocaleTimeString(locales, opts) : d.toLocaleDateString(locales, opts);
  try {
    return format([]);
  } catch {
    return format(['en-US']);
  }
}

/** The event journal, newest first. */
export function Journal({ store, limit = 50 }: { store: Store; limit?: number }) {
  const journal = useSelected(store, (s) => s.journal);
  return (
    <section class="journal" aria-label="Event journal">
      <h2>Journal</h2>
      {journal.length === 0 ? <p class="muted small">Nothing has happened yet.</p> : (
        <ol class="events">
          {journal.slice(0, limit).map((e: Event, i) => (
            <li key={`${e.at}-${i}`} class={`ev ${e.severity}`}>
              <span class="sev" role="img" aria-label={SEVERITY_WORD[e.severity]} title={SEVERITY_WORD[e.severity]} />
              <time dateTime={e.at} class="num muted">{time(e.at)}</time>
              <span class="msg">{e.message}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
