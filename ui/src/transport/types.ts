import type {
  ActionOutcome, Config, ConfigSaved, EnabledEnvironment, Event, HistoryPoint, LimitKind, LoadedConfig, OpError, Snapshot,
} from '../api-types';
import type { StreamStatus } from './sse';
import type { MachineTransport } from './machine';

export type { StreamStatus } from './sse';

/** Handlers of the live stream: one snapshot per sample and journal events as they happen. */
export interface StreamHandlers {
  snapshot(s: Snapshot): void;
  journal(e: Event): void;
  status?(s: StreamStatus): void;
}

/**
 * What an error answer carries: the operation's OpError (kind, the parameter at fault, the
 * configuration issues); an answer from outside the operations (a proxy, the security
 * checks) may carry only some of it, or nothing.
 */
export type ErrorBody = Partial<OpError>;

/** An error answered by the backend: HTTP status (or 0) and its decoded body. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: ErrorBody | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * How views talk to the backend. Two implementations: HTTP + SSE for `headroom serve`,
 * Tauri commands + events for the app. Views never know which one runs.
 */
export interface Transport {
  readonly kind: 'http' | 'tauri';
  snapshot(): Promise<Snapshot>;
  /** History for the last `sinceSecs` seconds. */
  history(sinceSecs: number): Promise<HistoryPoint[]>;
  events(): Promise<Event[]>;
  config(): Promise<LoadedConfig>;
  /**
   * Saves (or with `dryRun` only validates) a config. Rejects with ApiError(400) whose body
   * is `{error, issues: ConfigIssue[]}`: the engine's own messages.
   */
  putConfig(config: Config, dryRun?: boolean): Promise<ConfigSaved>;
  /** Clears the MLX cache of these processes (all attached ones when empty): one outcome each. */
  clearCache(pids?: number[]): Promise<ActionOutcome[]>;
  setLimit(kind: LimitKind, bytes: number, pids?: number[]): Promise<ActionOutcome[]>;
  /**
   * "Enable for this Python": turns the agent on for the Python environment of MLX process
   * `pid` (one without an agent); its programs get the agent when they next start.
   */
  enableAgent(pid: number): Promise<EnabledEnvironment>;
  /**
   * Tells the app the page has painted its first sample, so a new popover waiting off screen
   * is shown at once (only the app has it; a browser page has nothing to tell).
   */
  painted?(): void;
  /** Subscribes to the live stream; the returned function unsubscribes (always call it). */
  subscribe(h: StreamHandlers): () => void;
  /** Wired limit, "will it fit?", doctor, top: `transport/machine.ts`. */
  readonly machine?: MachineTransport;
}
