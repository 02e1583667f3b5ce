//! Journal events: what happened and when (rules, actions, agents, configuration, storage).
//!
//! The engine emits them, the history stores them, `headroom events`, `/api/events`, the
//! stream and native notifications show them. `message` is written for a person.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How much an event matters to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Severity {
    /// Worth recording.
    Info,
    /// Worth a look.
    Warning,
    /// Needs action.
    Critical,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Event {
    /// When it happened.
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    /// How much it matters.
    pub severity: Severity,
    /// What happened, machine-readable.
    pub kind: EventKind,
    /// What happened, for a person (e.g. "Cleared 2.1 GB of MLX cache in 2 processes").
    pub message: String,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum EventKind {
    /// A rule's condition held long enough and it fired.
    RuleFired {
        /// Rule id.
        rule: String,
        /// Metric name.
        metric: String,
        /// The value that breached.
        value: f64,
        /// The threshold it breached.
        threshold: f64,
        /// The process concerned, for per-process rules.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        pid: Option<u32>,
    },
    /// A fired rule's value crossed its recovery threshold; the rule is re-armed.
    RuleResolved {
        /// Rule id.
        rule: String,
        /// The value at recovery.
        value: f64,
        /// The process concerned, for per-process rules.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        pid: Option<u32>,
    },
    /// An action ran (by a rule or on request).
    ActionTaken {
        /// The rule that triggered it, or none when a person asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        rule: Option<String>,
        /// `clear_cache`, `set_cache_limit`, …
        action: String,
        /// Bytes freed in total (cache clears).
        #[ts(type = "number")]
        freed: u64,
        /// Processes where it succeeded.
        succeeded: u32,
        /// Processes where it failed.
        failed: u32,
    },
    /// An MLX agent appeared.
    AgentAttached {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
    },
    /// An MLX agent went away.
    AgentLeft {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
    },
    /// The configuration file could not be loaded or saved; defaults are in force.
    ConfigError {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: String,
    },
    /// The history database failed; history is kept in memory meanwhile.
    StorageError {
        /// What failed.
        error: String,
    },
    /// The history database works again.
    StorageRecovered,
    /// An MLX policy was applied to a process (some limits may have been refused).
    PolicyApplied {
        /// Policy id.
        policy: String,
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
        /// Each limit set or refused, with its value before and after.
        changes: Vec<LimitChange>,
    },
    /// A policy's idle trim cleared an idle process's MLX cache.
    IdleTrimmed {
        /// Policy id.
        policy: String,
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
        /// Bytes freed.
        #[ts(type = "number")]
        freed: u64,
    },
}

/// One limit a policy set (or tried to): the value before and after, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LimitChange {
    /// `cache`, `memory` or `wired`.
    pub limit: String,
    /// The value asked for, bytes.
    #[ts(type = "number")]
    pub wanted: u64,
    /// The value before (MLX's setter returns it), bytes.
    #[ts(type = "number | null")]
    pub previous: Option<u64>,
    /// The value after, bytes.
    #[ts(type = "number | null")]
    pub current: Option<u64>,
    /// Why it was not set (the agent's message), if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<String>,
}

impl Event {
    /// An event that happens now.
    pub fn now(severity: Severity, kind: EventKind, message: impl Into<String>) -> Self {
        Self {
            at: Utc::now(),
            severity,
            kind,
            message: message.into(),
        }
    }
}
