import type {
  ActionOutcome, ActionSummary, Config, ConfigSaved, EnabledEnvironment, Event, HistoryPoint, LimitKind, LoadedConfig, Snapshot,
} from '../api-types';
import { EVENTS, METHODS, PATHS } from './names';
import { openStream, type StreamOptions } from './sse';
import { ApiError, type ErrorBody, type StreamHandlers, type Transport } from './types';
import { httpMachine } from './machine';

export interface HttpOptions {
  /** Origin (and optional prefix) of `headroom serve`; defaults to the page's origin. */
  base?: string;
  /** Bearer token (the page was opened with `?token=…`). */
  token?: string | null;
  fetch?: typeof fetch;
  stream?: Partial<Pick<StreamOptions, 'minDelayMs' | 'maxDelayMs' | 'idleTimeoutMs'>>;
}

/**
 * The body of an error answer: the operation's OpError as sent, or from elsewhere (a proxy,
 * plain text) the parts that are there.
 */
export function errorBody(text: string, isJson: boolean): ErrorBody | null {
  if (isJson) {
    try {
      const v: ErrorBody | string | null = JSON.parse(text);
      if (v && typeof v === 'object') return v;
    } catch { /* not JSON after all: keep the text */ }
  }
  return text.trim() ? { error: text.trim() } : null;
}

/** The message a person reads for an error body (its `error`, else the fallback). */
export function errorMessage(body: ErrorBody | null, fallback: string): string {
  return typeof body?.error === 'string' && body.error ? body.error : fallback;
}

/** Transport for `headroom serve`: JSON over HTTP, live data over Server-Sent Events. */
export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly token: string | null;
  private readonly doFetch: typeof fetch;
  readonly machine = httpMachine(<T>(path: string) => this.request<T>('GET', path));

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

  private async request<T>(method: string, path: string, body?: object): Promise<T> {
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
    const isJson = (res.headers.get('content-type') ?? '').includes('json');
    if (!res.ok) {
      const body = errorBody(text, isJson);
      throw new ApiError(errorMessage(body, `HTTP ${res.status} ${res.statusText}`.trim()), res.status, body);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`Headroom answered ${path} with something that is not JSON`, res.status, null);
    }
  }

  snapshot() { return this.request<Snapshot>(METHODS.snapshot, PATHS.snapshot); }
  history(sinceSecs: number) {
    return this.request<HistoryPoint[]>(METHODS.history, `${PATHS.history}?since=${Math.round(sinceSecs)}`);
  }
  events() { return this.request<Event[]>(METHODS.events, PATHS.events); }
  config() { return this.request<LoadedConfig>(METHODS.config, PATHS.config); }
  putConfig(config: Config, dryRun = false) {
    return this.request<ConfigSaved>(METHODS.putConfig, dryRun ? `${PATHS.putConfig}?dry_run=1` : PATHS.putConfig, config);
  }
  // Actions answer an ActionSummary; views get the per-process outcomes.
  async clearCache(pids: number[] = []): Promise<ActionOutcome[]> {
    return (await this.request<ActionSummary>(METHODS.clearCache, PATHS.clearCache, { pids })).outcomes;
  }
  async setLimit(kind: LimitKind, bytes: number, pids: number[] = []): Promise<ActionOutcome[]> {
    return (await this.request<ActionSummary>(METHODS.setLimit, PATHS.setLimit, { kind, bytes, pids })).outcomes;
  }
  enableAgent(pid: number) { return this.request<EnabledEnvironment>(METHODS.enableAgent, PATHS.enableAgent, { pid }); }

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
        try {
          if (m.event === EVENTS.snapshot) h.snapshot(JSON.parse(m.data) as Snapshot);
          else if (m.event === EVENTS.journal) h.journal(JSON.parse(m.data) as Event);
        } catch { /* a broken message is skipped; the next sample follows */ }
      },
    });
  }
}
