//! What the HTTP layer needs from the engine, as a small trait.
//!
//! The server is written against [`Backend`] so that its routing, security and encoding do not
//! depend on the engine's internals; `headroom_core::engine::EngineHandle` implements it (see
//! `engine_backend.rs`). Values the HTTP layer only passes through (history points, action
//! outcomes, configuration) travel as JSON, so the engine's own types and messages reach the
//! client unchanged.

use futures_util::stream::BoxStream;
use headroom_core::events::Event;
use headroom_core::Snapshot;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One item of the engine's live feed.
#[derive(Debug, Clone)]
pub enum Feed {
    /// A new sample.
    Snapshot(Arc<Snapshot>),
    /// A journal entry (rule fired or resolved, action taken, agent attached, …).
    Journal(Arc<Event>),
    /// This subscriber fell behind and missed this many items.
    Lagged(u64),
}

/// The configuration as loaded, with the reason it could not be loaded, if any.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    /// The configuration in force (defaults when the file failed to load).
    pub config: Value,
    /// The file it was loaded from (or would be saved to).
    pub path: Option<String>,
    /// Why the file could not be loaded; `None` when it loaded cleanly or does not exist.
    pub error: Option<String>,
    /// The individual problems behind `error` (the engine's `ConfigIssue`s), if any.
    pub issues: Vec<Value>,
}

/// The state of one alert rule, for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGauge {
    /// Rule id.
    pub rule: String,
    /// The process concerned, for per-process rules.
    pub pid: Option<u32>,
    /// Whether the rule is currently fired (not yet recovered).
    pub firing: bool,
}

/// The engine operations the HTTP server uses.
pub trait Backend: Send + Sync + 'static {
    /// The most recent snapshot, if a sample was taken yet.
    fn latest(&self) -> Option<Arc<Snapshot>>;
    /// A live feed of snapshots and journal entries, starting now.
    fn subscribe(&self) -> BoxStream<'static, Feed>;
    /// The configuration in force, its file and its load error.
    fn config(&self) -> ConfigView;
    /// Validates a configuration document; `Ok` holds it as the engine normalised it, `Err`
    /// the engine's list of issues (each naming the key, the value and what is allowed).
    fn validate_config(&self, doc: &Value) -> Result<Value, Vec<Value>>;
    /// Validates and saves a configuration document, then applies it.
    fn put_config(&self, doc: Value) -> impl Future<Output = Result<(), Vec<Value>>> + Send;
    /// History points from `since` ago until now, at most `max_points` of them.
    fn history(&self, since: Duration, max_points: usize) -> impl Future<Output = Value> + Send;
    /// Journal entries from `since` ago (all kept when `None`), newest last, at most `limit`.
    fn events(
        &self,
        since: Option<Duration>,
        limit: usize,
    ) -> impl Future<Output = Vec<Event>> + Send;
    /// Clears the MLX cache of `pids` (all attached processes when empty); one outcome each.
    fn clear_cache(&self, pids: Vec<u32>) -> impl Future<Output = Value> + Send;
    /// Sets an MLX limit of `kind` to `bytes` in `pids` (all attached when empty). `Err` names
    /// a `kind` the engine does not know and the kinds it does.
    fn set_limit(
        &self,
        kind: &str,
        bytes: u64,
        pids: Vec<u32>,
    ) -> impl Future<Output = Result<Value, String>> + Send;
    /// The state of every alert rule.
    fn rule_states(&self) -> Vec<RuleGauge>;
    /// A short health summary (sampling, storage, config) for `/api/health`.
    fn status(&self) -> Value;
    /// Stops sampling and flushes history.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
