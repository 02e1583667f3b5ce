//! The engine from `headroom_core`, in-process, behind the app's [`Backend`] trait. Answers
//! and errors have the shapes of `headroom serve`'s API (`crates/headroom-server/src/api.rs`).

use crate::backend::{Backend, BoxFuture, CommandError, Feed};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::{ConfigIssue, LoadedConfig};
use headroom_core::engine::{self, EngineHandle, EngineOptions};
use headroom_core::events::Event;
use headroom_core::history::{EventQuery, HistoryQuery};
use headroom_core::Snapshot;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// At most this many history points per request (as `/api/history`'s default).
pub const HISTORY_POINTS: u32 = 1000;
/// The newest this many journal entries (as `/api/events`'s default).
pub const EVENT_LIMIT: u32 = 100;

/// Starts the engine on Tauri's async runtime with the standard paths
/// (`HEADROOM_CONFIG`, `HEADROOM_DATA_DIR`, `HEADROOM_RUNTIME_DIR` honoured).
pub fn start() -> EngineHandle {
    tauri::async_runtime::block_on(async { engine::start(EngineOptions::from_env()) })
}

/// The error of a rejected configuration: the first problem (and how many more), each
/// problem in `issues`.
pub fn config_error(issues: &[ConfigIssue]) -> CommandError {
    let first = issues
        .first()
        .map_or_else(|| "invalid configuration".to_owned(), |i| i.message.clone());
    let error = match issues.len() {
        0 | 1 => first,
        n => format!("{first} (and {} more problems)", n - 1),
    };
    CommandError {
        error,
        status: 400,
        issues: issues
            .iter()
            .filter_map(|i| serde_json::to_value(i).ok())
            .collect(),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, CommandError> {
    serde_json::to_value(v).map_err(|e| CommandError::unavailable(format!("cannot encode: {e}")))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Backend for EngineHandle {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        EngineHandle::latest(self)
    }

    fn subscribe(&self) -> broadcast::Receiver<Feed> {
        EngineHandle::subscribe(self)
    }

    fn config(&self) -> LoadedConfig {
        EngineHandle::config(self)
    }

    fn put_config(&self, doc: Value, dry_run: bool) -> BoxFuture<'_, Result<Value, CommandError>> {
        Box::pin(async move {
            let config = self.validate_config(&doc).map_err(|i| config_error(&i))?;
            let shown = to_value(&config)?;
            if dry_run {
                return Ok(json!({ "valid": true, "config": shown }));
            }
            EngineHandle::put_config(self, config)
                .await
                .map_err(|i| config_error(&i))?;
            let path = EngineHandle::config(self).path;
            Ok(json!({ "saved": true, "path": path, "config": shown }))
        })
    }

    fn history(&self, since: Duration) -> BoxFuture<'_, Result<Value, CommandError>> {
        let since_ms = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
        let query = HistoryQuery {
            since_ms: Some(now_ms().saturating_sub(since_ms)),
            until_ms: None,
            max_points: Some(HISTORY_POINTS),
        };
        Box::pin(async move { to_value(&EngineHandle::history(self, query).await) })
    }

    fn events(&self) -> BoxFuture<'_, Result<Vec<Event>, CommandError>> {
        let query = EventQuery {
            since_ms: None,
            limit: Some(EVENT_LIMIT),
        };
        Box::pin(async move { Ok(EngineHandle::events(self, query).await) })
    }

    fn clear_cache(
        &self,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        Box::pin(async move { Ok(EngineHandle::clear_cache(self, pids).await) })
    }

    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        Box::pin(async move { Ok(EngineHandle::set_limit(self, kind, bytes, pids).await) })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(EngineHandle::shutdown(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(message: &str) -> ConfigIssue {
        ConfigIssue {
            key: "app.title".into(),
            value: "\"gigabytes\"".into(),
            allowed: "used_percent, used_gb, free_gb, mlx_cache, none".into(),
            message: message.into(),
        }
    }

    #[test]
    fn config_errors_read_like_the_http_api() {
        let one = config_error(&[issue("app.title: bad")]);
        assert_eq!(one.error, "app.title: bad");
        assert_eq!(one.status, 400);
        assert_eq!(one.issues[0]["key"], "app.title");
        let two = config_error(&[issue("first"), issue("second")]);
        assert_eq!(two.error, "first (and 1 more problems)");
        assert_eq!(config_error(&[]).error, "invalid configuration");
    }
}
