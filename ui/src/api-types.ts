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
export type { ActionOutcome } from './bindings/ActionOutcome';
export type { AgentError } from './bindings/AgentError';
export type { LimitKind } from './bindings/LimitKind';

/* eslint-disable @typescript-eslint/no-explicit-any */
// PENDING bindings: `any` (not a hand-written copy) until the generated file lands; then the
// line becomes `export type { X } from './bindings/X'` and tsc checks every use.
/** PENDING (engine `history::HistoryPoint`). */
export type HistoryPoint = any;
/** PENDING (engine `config::LoadedConfig`): what `GET /api/config` returns. */
export type LoadedConfig = any;
/** PENDING (engine `config::Config`). */
export type Config = any;
/** PENDING (engine `rules::Rule`). */
export type Rule = any;
/** PENDING (engine `rules::Metric`). */
export type Metric = string;
/** PENDING (engine `rules::Action`). */
export type Action = any;
/** PENDING (engine `config::ConfigIssue`). */
export type ConfigIssue = any;
