// A Server-Sent Events reader over `fetch`, with reconnection and backoff.
//
// Why not `EventSource`: it cannot send an `Authorization` header, it retries forever at a
// fixed interval without telling the page, and it does not exist in Node (tests). Reading the
// `text/event-stream` body ourselves is ~60 lines and lets the UI say what is happening.

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** Incremental parser for the `text/event-stream` format (WHATWG HTML §9.2.6). */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  /** Reconnection time the server asked for with `retry:`, if any. */
  retry: number | undefined;

  constructor(private readonly onMessage: (m: SseMessage) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    let start = 0;
    for (;;) {
      const cr = this.buf.indexOf('\r', start);
      const lf = this.buf.indexOf('\n', start);
      let end: number;
      let next: number;
      if (cr === -1 && lf === -1) break;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR at the very end may be the first half of CRLF: wait for more.
        if (cr === this.buf.length - 1) break;
        end = cr;
        next = this.buf[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buf.slice(start, end));
      start = next;
    }
    this.buf = this.buf.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) {
        this.onMessage({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event': this.event = value; break;
      case 'data': this.data.push(value); break;
      case 'id': if (!value.includes('\0')) this.id = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break;
    }
  }
}

export type StreamState = 'connecting' | 'open' | 'retrying' | 'closed';

export interface StreamStatus {
  state: StreamState;
  /** Consecutive failed attempts (0 once a connection delivered data). */
  failures: number;
  /** Milliseconds until the next attempt, when retrying. */
  retryInMs?: number;
  /** Why the last connection ended, for a person. */
  error?: string;
}

export interface StreamOptions {
  url: string;
  headers?: Record<string, string>;
  onMessage(m: SseMessage): void;
  onStatus?(s: StreamStatus): void;
  /** First retry delay; doubles per failure up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Reconnect when nothing (not even a keep-alive comment) arrives for this long. */
  idleTimeoutMs?: number;
  fetch?: typeof fetch;
}

/** Backoff delay for the n-th consecutive failure (1-based), with ±20 % jitter. */
export function backoffDelay(failures: number, minMs: number, maxMs: number, rnd = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * rnd()));
}

/**
 * Opens the stream and keeps it open until the returned function is called: on an error,
 * an end of stream or silence longer than `idleTimeoutMs` it waits (backoff) and reconnects.
 */
export function openStream(opts: StreamOptions): () => void {
  const minDelay = opts.minDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 5000;
  const idleTimeout = opts.idleTimeoutMs ?? 30000;
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  let closed = false;
  let failures = 0;
  let controller: AbortController | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  const status = (s: StreamStatus) => { if (!closed) opts.onStatus?.(s); };

  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => controller?.abort(new Error(`no data for ${idleTimeout / 1000} s`)), idleTimeout);
  };

  const connect = async () => {
    retryTimer = null;
    if (closed) return;
    controller = new AbortController();
    const signal = controller.signal;
    status({ state: 'connecting', failures });
    let error = 'the stream ended';
    let serverRetry: number | undefined;
    try {
      armIdle();
      const res = await doFetch(opts.url, {
        headers: { Accept: 'text/event-stream', ...opts.headers },
        cache: 'no-store',
        signal,
      });
      if (!res.ok || !res.body) {
        throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let opened = false;
      const parser = new SseParser((m) => {
        if (!opened) {
          opened = true;
          failures = 0;
          status({ state: 'open', failures: 0 });
        }
        opts.onMessage(m);
      });
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          armIdle();
          parser.push(decoder.decode(value, { stream: true }));
        }
      } finally {
        serverRetry = parser.retry;
        reader.cancel().catch(() => {});
      }
    } catch (e) {
      if (closed) return;
      const reason = signal.aborted ? signal.reason : e;
      error = reason instanceof Error ? reason.message : String(reason);
    } finally {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
    }
    if (closed) return;
    failures += 1;
    const delay = Math.max(serverRetry ?? 0, backoffDelay(failures, minDelay, maxDelay));
    status({ state: 'retrying', failures, retryInMs: delay, error });
    retryTimer = setTimeout(connect, delay);
  };

  void connect();
  return () => {
    if (closed) return;
    closed = true;
    if (retryTimer) clearTimeout(retryTimer);
    if (idleTimer) clearTimeout(idleTimer);
    controller?.abort(new Error('closed'));
    opts.onStatus?.({ state: 'closed', failures });
  };
}
