import type {
  ActionSummary, Config, ConfigSaved, EnabledEnvironment, Event, HistoryPoint, LimitKind, LoadedConfig, OpError, Snapshot,
} from '../api-types';
import { COMMANDS, EVENTS } from './names';
import { ApiError, type StreamHandlers, type Transport } from './types';
import { errorMessage } from './http';
import { tauriMachine } from './machine';

type Invoke = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
type Listen = <T>(event: string, cb: (e: { payload: T }) => void) => Promise<() => void>;

/** Whether the page runs inside the Tauri app. */
export function isTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/**
 * Transport for the menu-bar app: Tauri commands and events. `invoke`/`listen` are passed
 * in (from `@tauri-apps/api`, loaded only inside the app) so tests can provide fakes.
 * Command arguments are camelCase here; Tauri maps them to the Rust snake_case names.
 */
export class TauriTransport implements Transport {
  readonly kind = 'tauri' as const;
  readonly machine = tauriMachine(<T>(cmd: string, args?: Record<string, unknown>) => this.call<T>(cmd, args));
  constructor(private readonly invokeFn: Invoke, private readonly listenFn: Listen) {}

  private async call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.invokeFn<T>(cmd, args);
    } catch (e) {
      // Commands reject with the operation's OpError; Tauri itself rejects with a string
      // (a missing argument, an unknown command).
      const body: Partial<OpError> = e && typeof e === 'object' ? (e as Partial<OpError>) : { error: String(e) };
      throw new ApiError(errorMessage(body, 'the app refused the request'), body.status ?? 400, body);
    }
  }

  snapshot() { return this.call<Snapshot>(COMMANDS.snapshot); }
  history(sinceSecs: number) { return this.call<HistoryPoint[]>(COMMANDS.history, { since: Math.round(sinceSecs) }); }
  events() { return this.call<Event[]>(COMMANDS.events); }
  config() { return this.call<LoadedConfig>(COMMANDS.config); }
  putConfig(config: Config, dryRun = false) { return this.call<ConfigSaved>(COMMANDS.putConfig, { config, dryRun }); }
  // Actions answer an ActionSummary; views get the per-process outcomes, as from the HTTP API.
  async clearCache(pids: number[] = []) { return (await this.call<ActionSummary>(COMMANDS.clearCache, { pids })).outcomes; }
  async setLimit(kind: LimitKind, bytes: number, pids: number[] = []) {
    return (await this.call<ActionSummary>(COMMANDS.setLimit, { kind, bytes, pids })).outcomes;
  }
  enableAgent(pid: number) { return this.call<EnabledEnvironment>(COMMANDS.enableAgent, { pid }); }
  painted() { this.call<null>(COMMANDS.pagePainted).catch(() => { /* the app also watches the title */ }); }

  subscribe(h: StreamHandlers): () => void {
    let closed = false;
    const unlisteners: (() => void)[] = [];
    const add = (p: Promise<() => void>) => {
      p.then((un) => (closed ? un() : unlisteners.push(un))).catch((e) => {
        h.status?.({ state: 'retrying', failures: 1, error: String(e) });
      });
    };
    h.status?.({ state: 'connecting', failures: 0 });
    add(this.listenFn<Snapshot>(EVENTS.snapshot, (e) => h.snapshot(e.payload)));
    add(this.listenFn<Event>(EVENTS.journal, (e) => h.journal(e.payload)));
    h.status?.({ state: 'open', failures: 0 });
    return () => {
      closed = true;
      for (const un of unlisteners.splice(0)) un();
      h.status?.({ state: 'closed', failures: 0 });
    };
  }
}

/** Loads `@tauri-apps/api` (a separate chunk, fetched only inside the app) and builds the transport. */
export async function createTauriTransport(): Promise<TauriTransport> {
  const [{ invoke }, { listen }] = await Promise.all([
    import('@tauri-apps/api/core'),
    import('@tauri-apps/api/event'),
  ]);
  return new TauriTransport(invoke as Invoke, listen as unknown as Listen);
}
