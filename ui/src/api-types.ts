// The types the UI exchanges with a backend. Everything that exists in Rust is imported
// from the generated bindings (ts-rs, `cargo test -p headroom-core export_bindings`);
// nothing here re-declares a Rust type.

export type { Snapshot } from './bindings/Snapshot';
export type { MlxProcess } from './bindings/MlxProcess';
export type { PressureLevel } from './bindings/PressureLevel';
export type { Event } from './bindings/Event';
export type { EventKind } from './bindings/EventKind';
export type { Severity } from './bindings/Severity';
export type { ActionOutcome } from './bindings/ActionOutcome';
export type { AgentError } from './bindings/AgentError';
export type { LimitKind } from './bindings/LimitKind';
export type { EnabledEnvironment } from './bindings/EnabledEnvironment';

export type { HistoryPoint } from './bindings/HistoryPoint';
export type { LoadedConfig } from './bindings/LoadedConfig';
export type { Config } from './bindings/Config';
export type { Rule } from './bindings/Rule';
export type { Metric } from './bindings/Metric';
export type { Comparison } from './bindings/Comparison';
export type { Scope } from './bindings/Scope';
export type { ConfigIssue } from './bindings/ConfigIssue';
export type { TitleFormat } from './bindings/TitleFormat';
export type { IconStyle } from './bindings/IconStyle';

export type { Action } from './bindings/Action';
export type { Policy } from './bindings/Policy';
export type { Policies } from './bindings/Policies';
export type { PolicySuggestion } from './bindings/PolicySuggestion';
export type { PolicyStatus } from './bindings/PolicyStatus';
export type { LimitOrigin } from './bindings/LimitOrigin';

export type { ActionSummary } from './bindings/ActionSummary';
export type { ConfigSaved } from './bindings/ConfigSaved';
export type { OpError } from './bindings/OpError';
export type { Param } from './bindings/Param';
export type { Health } from './bindings/Health';
