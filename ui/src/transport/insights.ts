// Issue 7's answers about this machine — the GPU wired limit, "will it fit?", the doctor and
// what holds memory — over either transport. `headroom serve` answers them read-only; only the
// app can set the wired limit (it needs administrator rights and a local click).
import type { ApplyOutcome } from '../bindings/ApplyOutcome';
import type { DoctorReport } from '../bindings/DoctorReport';
import type { FitReport } from '../bindings/FitReport';
import type { TopRow } from '../bindings/TopRow';
import type { WiredLimitInfo } from '../bindings/WiredLimitInfo';
import { ApiError } from './types';

/** HTTP paths of `headroom serve` (all GET). */
export const INSIGHT_PATHS = {
  wiredLimit: '/api/wired-limit',
  fit: '/api/fit',
  doctor: '/api/doctor',
  top: '/api/top',
} as const;

/** Tauri commands of the app (`src-tauri/src/insights.rs`). */
export const INSIGHT_COMMANDS = {
  wiredLimit: 'get_wired_limit',
  fit: 'get_fit',
  doctor: 'get_doctor',
  top: 'get_top',
  checkWiredLimit: 'check_wired_limit',
  setWiredLimit: 'set_wired_limit',
} as const;

/** What "Will it fit?" asks: `params` like `70B`; the rest optional (the engine's defaults). */
export interface FitQuery {
  params: string;
  bits?: number;
  context?: number;
  kvBits?: number;
  layers?: number;
  kvHeads?: number;
  headDim?: number;
}

/** The query's parameters under their HTTP names, leaving out what is not given. */
export function fitParams(q: FitQuery): [string, string][] {
  const out: [string, string][] = [['params', q.params.trim()]];
  const add = (k: string, v: number | undefined) => {
    if (v != null && Number.isFinite(v)) out.push([k, String(v)]);
  };
  add('bits', q.bits);
  add('context', q.context);
  add('kv_bits', q.kvBits);
  add('layers', q.layers);
  add('kv_heads', q.kvHeads);
  add('head_dim', q.headDim);
  return out;
}

/** `/api/fit?params=70B&bits=4…`, percent-encoded. */
export function fitPath(q: FitQuery): string {
  return `${INSIGHT_PATHS.fit}?${fitParams(q).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
}

export interface InsightsTransport {
  /** Whether this backend can set the system wired limit (the app only). */
  readonly canSetWiredLimit: boolean;
  wiredLimit(): Promise<WiredLimitInfo>;
  fit(q: FitQuery): Promise<FitReport>;
  doctor(): Promise<DoctorReport>;
  /** The `n` apps holding the most memory (computed on request). */
  top(n?: number): Promise<TopRow[]>;
  /**
   * Validates a size as `headroom wired-limit set` does (`49152`, `48GB`) and answers the MB
   * to set; rejects with the engine's message. The app only.
   */
  checkWiredLimit(size: string): Promise<number>;
  /** Sets `iogpu.wired_limit_mb` (0 resets); macOS asks for the administrator password. */
  setWiredLimit(mb: number): Promise<ApplyOutcome>;
}

const notHere = (what: string) =>
  Promise.reject(new ApiError(
    `${what} is not offered over HTTP: it needs administrator rights. Run the command shown, or use the Headroom app.`,
    405, null,
  ));

/** The HTTP side, over the transport's own GET (token, errors). */
export function httpInsights(get: <T>(path: string) => Promise<T>): InsightsTransport {
  return {
    canSetWiredLimit: false,
    wiredLimit: () => get<WiredLimitInfo>(INSIGHT_PATHS.wiredLimit),
    fit: (q) => get<FitReport>(fitPath(q)),
    doctor: () => get<DoctorReport>(INSIGHT_PATHS.doctor),
    top: (n = 10) => get<TopRow[]>(`${INSIGHT_PATHS.top}?n=${Math.round(n)}`),
    checkWiredLimit: () => notHere('Setting the wired limit'),
    setWiredLimit: () => notHere('Setting the wired limit'),
  };
}

/** The app side, over the transport's own command call (errors as ApiError). */
export function tauriInsights(call: <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>): InsightsTransport {
  return {
    canSetWiredLimit: true,
    wiredLimit: () => call<WiredLimitInfo>(INSIGHT_COMMANDS.wiredLimit),
    fit: (q) => call<FitReport>(INSIGHT_COMMANDS.fit, { ...q, params: q.params.trim() }),
    doctor: () => call<DoctorReport>(INSIGHT_COMMANDS.doctor),
    top: (n = 10) => call<TopRow[]>(INSIGHT_COMMANDS.top, { n: Math.round(n) }),
    checkWiredLimit: (size) => call<number>(INSIGHT_COMMANDS.checkWiredLimit, { size }),
    setWiredLimit: (mb) => call<ApplyOutcome>(INSIGHT_COMMANDS.setWiredLimit, { mb }),
  };
}
