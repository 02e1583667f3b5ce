//! MLX processes: in-process agents reached over Unix sockets, and processes that loaded MLX
//! without one.
//!
//! - [`discovery`]: the per-user runtime directory and its `agent-<pid>.sock` files.
//! - [`client`]: one verified connection to one agent (credentials checked on both ends,
//!   bounded reads).
//! - [`protocol`]: protocol version 1 (`docs/PROTOCOL.md`).
//! - [`scan`]: MLX processes without an agent, and footprints.
//! - [`install`]: `headroom agent enable | disable | status`: the agent in every process of a
//!   Python environment, through a `.pth` hook.
//! - [`attach`]: `headroom agent attach PID`: the agent in a running Python ≥ 3.14 process
//!   (`sys.remote_exec`, PEP 768).
//! - [`MlxMonitor`]: polls every agent concurrently with hard timeouts, rescans processes at a
//!   slower pace, and runs actions (`clear_cache`, limits, `reset_peak`).

pub mod attach;
pub mod client;
pub mod discovery;
pub mod install;
mod monitor;
pub mod protocol;
pub mod scan;
pub mod sys;

pub use discovery::runtime_dir;
pub use monitor::{MlxMonitor, MAX_AGENT_BYTES};

use crate::snapshot::{MlxProcess, Snapshot};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What one [`MlxMonitor::poll`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MlxPoll {
    /// Every MLX process: attached ones with allocator numbers, others with a hint.
    pub processes: Vec<MlxProcess>,
    /// Agents that appeared or left since the previous poll.
    pub changes: Vec<AgentChange>,
    /// Metal's recommended working set (`max_recommended_working_set_size`) as an attached
    /// agent reports it; `None` without a Metal agent.
    pub recommended_working_set: Option<u64>,
    /// Why part of the picture is missing (an unsafe runtime directory, …).
    pub problems: Vec<String>,
    /// What attached agents said about their process beyond the snapshot's numbers, by pid
    /// (what policies match on).
    pub facts: std::collections::BTreeMap<u32, AgentFacts>,
}

/// What an agent reports about its process that policies need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentFacts {
    /// The command line.
    pub cmdline: Vec<String>,
    /// The Python environment (`sys.prefix`).
    pub python_prefix: Option<String>,
    /// Installed RAM, bytes.
    pub physical_memory: Option<u64>,
    /// Limits the process's own code has set.
    pub set_by_process: Vec<LimitKind>,
    /// CPU time the process has used, seconds.
    pub cpu_secs: Option<f64>,
}

/// An agent appearing or leaving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum AgentChange {
    /// An agent answered for the first time.
    Attached {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
    },
    /// An agent that had answered is gone (its socket was removed or its process died).
    Left {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
    },
}

/// Which MLX limit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum LimitKind {
    /// `mx.set_cache_limit`.
    Cache,
    /// `mx.set_memory_limit`.
    Memory,
    /// `mx.set_wired_limit`.
    Wired,
}

impl LimitKind {
    /// The protocol op that sets this limit.
    pub fn op(self) -> &'static str {
        match self {
            Self::Cache => "set_cache_limit",
            Self::Memory => "set_memory_limit",
            Self::Wired => "set_wired_limit",
        }
    }

    /// The word people use: `cache`, `memory`, `wired`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Memory => "memory",
            Self::Wired => "wired",
        }
    }

    /// The kind a word names (`cache`, `memory`, `wired`).
    pub fn from_word(w: &str) -> Option<Self> {
        [Self::Cache, Self::Memory, Self::Wired]
            .into_iter()
            .find(|k| k.word() == w)
    }
}

/// An error answered by an agent (`code` from `docs/PROTOCOL.md`) or found by the client
/// (`timeout`, `io`, `closed`, `protocol`, `line_too_long`, `permission_denied`,
/// `not_attached`, `no_such_process`, `connection_refused`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentError {
    /// Machine-readable code.
    pub code: String,
    /// What happened, naming the bad value and what is allowed.
    pub message: String,
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The result of one action on one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ActionOutcome {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Whether the action succeeded.
    pub ok: bool,
    /// Bytes freed (`clear_cache`).
    #[ts(type = "number | null")]
    pub freed: Option<u64>,
    /// The value before: the limit, the cache before clearing, the peak before reset.
    #[ts(type = "number | null")]
    pub previous: Option<u64>,
    /// The value after.
    #[ts(type = "number | null")]
    pub current: Option<u64>,
    /// Why it failed.
    pub error: Option<AgentError>,
}

/// Each failed outcome as `name (pid N): why` (the journal's and the notifications' words).
pub fn failures(outcomes: &[ActionOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| {
            let why = o
                .error
                .as_ref()
                .map_or("unknown error".into(), ToString::to_string);
            format!("{} (pid {}): {why}", o.name, o.pid)
        })
        .collect()
}

/// Fills `snapshot.mlx` and `snapshot.gpu.recommended_working_set` from a poll, marks the
/// processes that need a restart to use the system wired limit, and lists the poll's
/// problems in `snapshot.unavailable`.
pub fn attach_mlx(snapshot: &mut Snapshot, poll: &MlxPoll) {
    snapshot.mlx = poll.processes.clone();
    crate::wired::mark_restart_needed(snapshot);
    if poll.recommended_working_set.is_some() {
        snapshot.gpu.recommended_working_set = poll.recommended_working_set;
    }
    for p in &poll.problems {
        snapshot.mark_unavailable("mlx", p);
    }
}
