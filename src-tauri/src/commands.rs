//! The commands the web UI calls (`ui/src/transport/names.ts`); each delegates to the
//! engine through [`Backend`](crate::backend::Backend).

use crate::backend::CommandError;
use crate::state::AppState;
use headroom_core::agents::install::{self, EnabledEnvironment};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config;
use headroom_core::config::LoadedConfig;
use headroom_core::events::Event;
use headroom_core::Snapshot;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tauri::State;

/// What an action answers, as `POST /api/actions/*` does: each process's outcome, how many
/// succeeded and failed, and the bytes freed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    /// One outcome per process.
    pub outcomes: Vec<ActionOutcome>,
    /// Processes where it succeeded.
    pub succeeded: usize,
    /// Processes where it failed.
    pub failed: usize,
    /// Bytes freed in total (cache clears).
    pub freed: u64,
}

impl From<Vec<ActionOutcome>> for ActionResult {
    fn from(outcomes: Vec<ActionOutcome>) -> Self {
        let succeeded = outcomes.iter().filter(|o| o.ok).count();
        Self {
            succeeded,
            failed: outcomes.len() - succeeded,
            freed: outcomes.iter().filter_map(|o| o.freed).sum(),
            outcomes,
        }
    }
}

/// History further back than this is refused (the database keeps 30 days of minutes).
const MAX_HISTORY: Duration = Duration::from_secs(31 * 86_400);

/// The latest snapshot; 503 before the first sample.
#[tauri::command]
pub fn get_snapshot(state: State<'_, AppState>) -> Result<Snapshot, CommandError> {
    state
        .backend
        .latest()
        .map(|s| (*s).clone())
        .ok_or_else(|| CommandError::unavailable("no sample taken yet"))
}

/// History for the last `since` seconds (default one hour).
#[tauri::command]
pub async fn get_history(
    state: State<'_, AppState>,
    since: Option<u64>,
) -> Result<Value, CommandError> {
    let since = Duration::from_secs(since.unwrap_or(3600));
    if since.is_zero() || since > MAX_HISTORY {
        return Err(CommandError::bad_request(format!(
            "invalid since {}: expected 1 to {} seconds",
            since.as_secs(),
            MAX_HISTORY.as_secs()
        )));
    }
    state.backend.history(since).await
}

/// The event journal, newest last.
#[tauri::command]
pub async fn get_events(state: State<'_, AppState>) -> Result<Vec<Event>, CommandError> {
    state.backend.events().await
}

/// The configuration in force, its file and why the file is not in force, if it is not.
#[tauri::command]
pub fn get_config(state: State<'_, AppState>) -> LoadedConfig {
    state.backend.config()
}

/// Validates `config` and, unless `dry_run`, saves and applies it (the tray picks up the
/// title, icon style, launch at login and HTTP server settings at once).
#[tauri::command]
pub async fn put_config(
    state: State<'_, AppState>,
    config: Value,
    dry_run: Option<bool>,
) -> Result<Value, CommandError> {
    let dry_run = dry_run.unwrap_or(false);
    let saved = state.backend.put_config(config, dry_run).await?;
    if !dry_run {
        state.settings_changed.notify_one();
    }
    Ok(saved)
}

/// Clears the MLX cache of `pids` (every attached process when empty or absent).
#[tauri::command]
pub async fn clear_cache(
    state: State<'_, AppState>,
    pids: Option<Vec<u32>>,
) -> Result<ActionResult, CommandError> {
    let outcomes = state.backend.clear_cache(pids.unwrap_or_default()).await?;
    Ok(outcomes.into())
}

/// Sets the MLX `kind` limit (`cache`, `memory` or `wired`) to `bytes` in `pids`.
#[tauri::command]
pub async fn set_limit(
    state: State<'_, AppState>,
    kind: String,
    bytes: u64,
    pids: Option<Vec<u32>>,
) -> Result<ActionResult, CommandError> {
    let kind = parse_kind(&kind)?;
    let outcomes = state
        .backend
        .set_limit(kind, bytes, pids.unwrap_or_default())
        .await?;
    Ok(outcomes.into())
}

/// "Enable for this Python": turns the agent on for the Python environment of MLX process
/// `pid` (one without an agent in the latest sample); its programs get it at their next start.
#[tauri::command]
pub async fn enable_agent(
    state: State<'_, AppState>,
    pid: u32,
) -> Result<EnabledEnvironment, CommandError> {
    let snap = state
        .backend
        .latest()
        .ok_or_else(|| CommandError::unavailable("no sample taken yet"))?;
    tauri::async_runtime::spawn_blocking(move || {
        install::enable_for_process(&snap, pid, &config::data_dir())
    })
    .await
    .map_err(|e| CommandError::unavailable(e.to_string()))?
    .map_err(|e| CommandError::bad_request(e.to_string()))
}

/// Parses a limit kind, naming the bad value and the allowed ones.
fn parse_kind(kind: &str) -> Result<LimitKind, CommandError> {
    serde_json::from_value(Value::from(kind)).map_err(|_| {
        CommandError::bad_request(format!(
            "invalid limit kind {kind:?}: expected cache, memory or wired"
        ))
    })
}
