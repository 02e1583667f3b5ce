// The types the UI exchanges with a backend. Everything that exists in Rust is imported
// from the generated bindings (ts-rs, `cargo test -p headroom-core export_bindings`);
// nothing here re-declares a Rust type. The few shapes below marked PENDING are stand-ins
// for bindings another engineer is adding; each is replaced by an import when it lands.

export type { Snapshot } from './bindings/Snapshot';
export type { MlxProcess } from './bindings/MlxProcess';
export type { PressureLevel } from './bindings/PressureLevel';
export type { Event } from './bindings/Event';
export type { EventKind } from './bindings/EventKind';
export type { Severity } from './bindings/Severity';

/** PENDING (engine: `HistoryPoint`): one point of `/api/history`. */
export type HistoryPoint = Record<string, unknown>;
/** PENDING (engine: `Config` + its load error): what `GET /api/config` returns. */
export type ConfigView = Record<string, unknown>;
/** PENDING (engine: `Config`): the document `PUT /api/config` takes. */
export type Config = Record<string, unknown>;
/** PENDING (agents: `ActionOutcome`): what an action returns. */
export type ActionOutcome = Record<string, unknown>;
/** PENDING (agents: `LimitKind`). */
export type LimitKind = 'cache' | 'memory' | 'wired';
