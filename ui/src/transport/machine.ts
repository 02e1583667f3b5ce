// The answers about this machine — the GPU wired limit, "will it fit?", the doctor and what
// holds memory — over either transport. `headroom serve` answers them read-only; only the app
// can set the wired limit (it needs administrator rights and a local click). Names come from
// the generated operations table.
import type { ApplyOutcome } from '../bindings/ApplyOutcome';
import type { DoctorReport } from '../bindings/DoctorReport';
import type { FitReport } from '../bindings/FitReport';
import type { TopRow } from '../bindings/TopRow';
import type { WiredLimitInfo } from '../bindings/WiredLimitInfo';
import { COMMANDS, PATHS } from './names';
import { ApiError } from './types';

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
  return `${PATHS.fit}?${fitParams(q).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
}

export interface MachineTransport {
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
export function httpMachine(get: <T>(path: string) => Promise<T>): MachineTransport {
  return {
    canSetWiredLimit: false,
    wiredLimit: () => get<WiredLimitInfo>(PATHS.wiredLimit),
    fit: (q) => get<FitReport>(fitPath(q)),
    doctor: () => get<DoctorReport>(PATHS.doctor),
    top: (n = 10) => get<TopRow[]>(`${PATHS.top}?n=${Math.round(n)}`),
    checkWiredLimit: () => notHere('Setting the wired limit'),
    setWiredLimit: () => notHere('Setting the wired limit'),
  };
}

/** The app side, over the transport's own command call (errors as ApiError). */
export function tauriMachine(call: <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>): MachineTransport {
  return {
    canSetWiredLimit: true,
    wiredLimit: () => call<WiredLimitInfo>(COMMANDS.wiredLimit),
    fit: (q) => call<FitReport>(COMMANDS.fit, { ...q, params: q.params.trim() }),
    doctor: () => call<DoctorReport>(COMMANDS.doctor),
    top: (n = 10) => call<TopRow[]>(COMMANDS.top, { n: Math.round(n) }),
    checkWiredLimit: (size) => call<number>(COMMANDS.checkWiredLimit, { size }),
    setWiredLimit: (mb) => call<ApplyOutcome>(COMMANDS.setWiredLimit, { mb }),
  };
}
