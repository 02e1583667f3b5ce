//! What the app needs from the engine, as a small object-safe trait.
//!
//! Commands, the tray and notifications are written against [`Backend`]; the engine
//! implements it (`engine.rs`) and command tests use a fake. Answers have the same JSON shape
//! as `headroom serve`'s API, so the UI's two transports see the same values.

use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::LoadedConfig;
use headroom_core::events::Event;
use headroom_core::Snapshot;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A boxed, sendable future (the trait must be object-safe to live in Tauri state).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One item of the engine's live feed: a snapshot or a journal entry.
pub use headroom_core::engine::EngineEvent as Feed;

/// An error a command answers with; the UI shows `error` and, for a rejected configuration,
/// each issue (key, value and what is allowed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandError {
    /// What went wrong, for a person.
    pub error: String,
    /// The HTTP-like status the UI's error type carries (400 bad request, 503 unavailable).
    pub status: u16,
    /// The engine's individual problems (configuration validation), as `/api/config` gives
    /// them: key, value, what is allowed, message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Value>,
}

impl CommandError {
    /// A bad request (status 400).
    pub fn bad_request(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            status: 400,
            issues: Vec::new(),
        }
    }

    /// The engine could not do it now (status 503).
    pub fn unavailable(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            status: 503,
            issues: Vec::new(),
        }
    }
}

/// The engine operations the app uses.
pub trait Backend: Send + Sync + 'static {
    /// The most recent snapshot, if a sample was taken yet.
    fn latest(&self) -> Option<Arc<Snapshot>>;
    /// A live feed of snapshots and journal entries, starting now.
    fn subscribe(&self) -> broadcast::Receiver<Feed>;
    /// The configuration in force, its file and its load error.
    fn config(&self) -> LoadedConfig;
    /// Validates a configuration document and, unless `dry_run`, saves and applies it.
    /// Answers like `PUT /api/config`: `{"valid": true, "config"}` for a dry run,
    /// `{"saved": true, "path", "config"}` otherwise.
    fn put_config(&self, doc: Value, dry_run: bool) -> BoxFuture<'_, Result<Value, CommandError>>;
    /// History points from `since` ago until now.
    fn history(&self, since: Duration) -> BoxFuture<'_, Result<Value, CommandError>>;
    /// The journal (the latest entries), oldest first.
    fn events(&self) -> BoxFuture<'_, Result<Vec<Event>, CommandError>>;
    /// Clears the MLX cache of `pids` (all attached processes when empty).
    fn clear_cache(
        &self,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>>;
    /// Sets an MLX limit in `pids` (all attached processes when empty).
    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>>;
    /// Stops sampling and flushes history.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}
