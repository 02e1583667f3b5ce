//! What operations need from a host: the one [`Backend`] trait. The long-running engine
//! ([`EngineHandle`], hosted by `headroom serve` and the app) implements it, and so does the
//! command line's one-shot [`Local`](super::Local) backend, which samples when asked and reads
//! the history database directly.

use super::OpError;
use crate::agents::{ActionOutcome, LimitKind};
use crate::config::{Config, ConfigIssue, LoadedConfig};
use crate::engine::{EngineEvent, EngineHandle, EngineStatus};
use crate::events::Event;
use crate::history::{EventQuery, HistoryPoint, HistoryQuery};
use crate::rules::RuleState;
use crate::snapshot::Snapshot;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A boxed, sendable future (the trait is object-safe: the app keeps `Arc<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A host of the operations: where snapshots, configuration, history and MLX actions come from.
pub trait Backend: Send + Sync + 'static {
    /// The snapshot operations judge: the engine's latest sample (an error before the first),
    /// or for a one-shot host a sample taken now, with MLX processes and configured
    /// thresholds applied.
    fn snapshot(&self) -> BoxFuture<'_, Result<Arc<Snapshot>, OpError>>;
    /// The latest snapshot without sampling, if there is one (live feed, `/metrics`, tray).
    fn latest(&self) -> Option<Arc<Snapshot>>;
    /// Snapshots and journal entries from now on (a one-shot host never sends any).
    fn subscribe(&self) -> broadcast::Receiver<EngineEvent>;
    /// The configuration in force, its file and its problem, if any.
    fn config(&self) -> LoadedConfig;
    /// Saves an already validated configuration (keeping the file's comments) and applies it.
    fn save_config(&self, config: Config) -> BoxFuture<'_, Result<(), Vec<ConfigIssue>>>;
    /// History points in the query's range.
    fn history(&self, q: HistoryQuery) -> BoxFuture<'_, Result<Vec<HistoryPoint>, OpError>>;
    /// Journal entries, oldest first.
    fn events(&self, q: EventQuery) -> BoxFuture<'_, Result<Vec<Event>, OpError>>;
    /// Clears the MLX cache of `pids` (every attached process when empty).
    fn clear_cache(&self, pids: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>>;
    /// Sets an MLX limit of `kind` to `bytes` in `pids` (every attached process when empty).
    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>>;
    /// The state of every enabled alert rule.
    fn rule_states(&self) -> Vec<RuleState>;
    /// The host's health: configuration, storage, agents, samples.
    fn status(&self) -> EngineStatus;
    /// Where MLX agents put their sockets.
    fn runtime_dir(&self) -> PathBuf;
    /// Stops sampling and flushes history.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

impl Backend for EngineHandle {
    fn snapshot(&self) -> BoxFuture<'_, Result<Arc<Snapshot>, OpError>> {
        let latest = EngineHandle::latest(self).ok_or_else(OpError::no_sample);
        Box::pin(async move { latest })
    }

    fn latest(&self) -> Option<Arc<Snapshot>> {
        EngineHandle::latest(self)
    }

    fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        EngineHandle::subscribe(self)
    }

    fn config(&self) -> LoadedConfig {
        EngineHandle::config(self)
    }

    fn save_config(&self, config: Config) -> BoxFuture<'_, Result<(), Vec<ConfigIssue>>> {
        Box::pin(EngineHandle::put_config(self, config))
    }

    fn history(&self, q: HistoryQuery) -> BoxFuture<'_, Result<Vec<HistoryPoint>, OpError>> {
        Box::pin(async move { Ok(EngineHandle::history(self, q).await) })
    }

    fn events(&self, q: EventQuery) -> BoxFuture<'_, Result<Vec<Event>, OpError>> {
        Box::pin(async move { Ok(EngineHandle::events(self, q).await) })
    }

    fn clear_cache(&self, pids: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async move { Ok(EngineHandle::clear_cache(self, pids).await) })
    }

    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async move { Ok(EngineHandle::set_limit(self, kind, bytes, pids).await) })
    }

    fn rule_states(&self) -> Vec<RuleState> {
        EngineHandle::rule_states(self)
    }

    fn status(&self) -> EngineStatus {
        EngineHandle::status(self)
    }

    fn runtime_dir(&self) -> PathBuf {
        self.options().runtime_dir.clone()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(EngineHandle::shutdown(self))
    }
}
