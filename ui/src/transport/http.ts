import type { ActionOutcome, Config, EnabledEnvironment, Event, HistoryPoint, LimitKind, LoadedConfig, Snapshot } from '../api-types';
import { PATHS, EVENTS } from './names';
import { openStream, type StreamOptions } from './sse';
import { ApiError, outcomes, type StreamHandlers, type Transport } from './types';
import { httpInsights } from './insights';

export interface HttpOptions {
  /** Origin (and optional prefix) of `headroom serve`; defaults to the page's origin. */
  base?: string;
  /** Bearer token (the page was opened with `?token=…`). */
  token?: string | null;
  fetch?: typeof fetch;
  stream?: Partial<Pick<StreamOptions, 'minDelayMs' | 'maxDelayMs' | 'idleTimeoutMs'>>;
}

/** The message a person reads for an error body: `{error}`, `{message}`, `{errors:[…]}` or text. */
export function errorMessage(body: unknown, fallback: string): string {
  if (typeof body === 'string' && body.trim()) return body.trim();
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.error === 'string') return b.error;
    if (typeof b.message === 'string') return b.message;
    if (Array.isArray(b.errors)) {
      return b.errors
        .map((e) => (typeof e === 'string' ? e : (e as { message?: string })?.message ?? JSON.stringify(e)))
        .join('\n');
    }
  }
  return fallback;
}

/** Transport for `headroom serve`: JSON over HTTP, live data over Server-Sent Events. */
export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly token: string | null;
  private readonly doFetch: typeof fetch;
  readonly insights = httpInsights(<T>(path: string) => this.request<T>('GET', path));

  constructor(private readonly opts: HttpOptions = {}) {
    this.base = (opts.base ?? globalThis.location?.origin ?? '').replace(/\/$/, '');
    this.token = opts.token ?? null;
    this.doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.doFetch(this.base + path, {
        method,
        headers: this.headers(body === undefined ? undefined : { 'Content-Type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(`Headroom is not answering (${e instanceof Error ? e.message : String(e)})`, 0, null);
    }
    const text = await res.text();
    let parsed: unknown = text;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) {
      try { parsed = JSON.parse(text); } catch { /* keep the text */ }
    }
    if (!res.ok) {
      throw new ApiError(errorMessage(parsed, `HTTP ${res.status} ${res.statusText}`.trim()), res.status, parsed);
    }
    return parsed as T;
  }

  snapshot() { return this.request<Snapshot>('GET', PATHS.snapshot); }
  history(sinceSecs: number) {
    return this.request<HistoryPoint[]>('GET', `${PATHS.history}?since=${Math.round(sinceSecs)}`);
  }
  events() { return this.request<Event[]>('GET', PATHS.events); }
  config() { return this.request<LoadedConfig>('GET', PATHS.config); }
  putConfig(config: Config, dryRun = false) {
    return this.request<unknown>('PUT', dryRun ? `${PATHS.config}?dry_run=1` : PATHS.config, config);
  }
  // Actions answer `{freed, succeeded, failed, outcomes: ActionOutcome[]}`; views get the outcomes.
  async clearCache(pids: number[] = []): Promise<ActionOutcome[]> {
    return outcomes(await this.request<unknown>('POST', PATHS.clearCache, { pids }));
  }
  async setLimit(kind: LimitKind, bytes: number, pids: number[] = []): Promise<ActionOutcome[]> {
    return outcomes(await this.request<unknown>('POST', PATHS.limit, { kind, bytes, pids }));
  }
  enableAgent(pid: number) { return this.request<EnabledEnvironment>('POST', PATHS.enableAgent, { pid }); }

  /** The stream URL; carries `?token=` too, for servers that check it there (EventSource). */
  streamUrl(): string {
    const q = this.token ? `?token=${encodeURIComponent(this.token)}` : '';
    return `${this.base}${PATHS.stream}${q}`;
  }

  subscribe(h: StreamHandlers): () => void {
    return openStream({
      url: this.streamUrl(),
      headers: this.token ? { Authorization: `Bearer ${this.token}` } : undefined,
      fetch: this.doFetch,
      ...this.opts.stream,
      onStatus: (s) => h.status?.(s),
      onMessage: (m) => {
        let data: unknown;
        try { data = JSON.parse(m.data); } catch { return; }
        if (m.event === EVENTS.snapshot) h.snapshot(data as Snapshot);
        else if (m.event === EVENTS.journal) h.journal(data as Event);
      },
    });
  }
}
