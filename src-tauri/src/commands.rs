//! The commands the web UI calls, named in the operations table (`headroom_core::ops::TABLE`,
//! generated into `ui/src/bindings/operations.ts`). Each maps its arguments to an operation's
//! request and answers the operation's typed answer or [`OpError`]; the UI sends camelCase
//! argument names, which Tauri maps to these snake_case ones.

use crate::backend::OpError;
use crate::state::AppState;
use headroom_core::agents::install::EnabledEnvironment;
use headroom_core::agents::LimitKind;
use headroom_core::config::LoadedConfig;
use headroom_core::doctor::DoctorReport;
use headroom_core::events::Event;
use headroom_core::fit::FitReport;
use headroom_core::history::{EventQuery, HistoryPoint, HistoryQuery};
use headroom_core::ops::{
    self, ActionSummary, ClearCacheRequest, ConfigSaveRequest, ConfigSaved, EnableAgentRequest,
    FitRequest, LimitRequest, Param, TopRequest, WiredCheckRequest, WiredSetRequest,
};
use headroom_core::top::TopRow;
use headroom_core::wired::{ApplyOutcome, WiredLimitInfo};
use headroom_core::Snapshot;
use serde_json::Value;
use std::time::Duration;
use tauri::State;

/// History further back than this is refused (the database keeps 30 days of minutes).
const MAX_HISTORY: Duration = Duration::from_secs(31 * 86_400);

/// The latest snapshot; 503 before the first sample.
#[tauri::command]
pub async fn get_snapshot(state: State<'_, AppState>) -> Result<Snapshot, OpError> {
    Ok((*ops::snapshot(&*state.backend).await?).clone())
}

/// History for the last `since` seconds (default one hour).
#[tauri::command]
pub async fn get_history(
    state: State<'_, AppState>,
    since: Option<u64>,
) -> Result<Vec<HistoryPoint>, OpError> {
    let since = Duration::from_secs(since.unwrap_or(3600));
    if since.is_zero() || since > MAX_HISTORY {
        return Err(OpError::bad_param(
            Param::Since,
            format!(
                "invalid since {}: expected 1 to {} seconds",
                since.as_secs(),
                MAX_HISTORY.as_secs()
            ),
        ));
    }
    let q = HistoryQuery {
        since_ms: Some(ops::ms_ago(since)),
        until_ms: None,
        max_points: Some(ops::HISTORY_POINTS.0),
    };
    ops::history(&*state.backend, q).await
}

/// The event journal (the newest entries), oldest first.
#[tauri::command]
pub async fn get_events(state: State<'_, AppState>) -> Result<Vec<Event>, OpError> {
    let q = EventQuery {
        since_ms: None,
        limit: Some(ops::EVENT_LIMIT.0),
    };
    ops::events(&*state.backend, q).await
}

/// The page has painted its first sample: a new popover waiting off screen is shown.
#[tauri::command]
pub fn page_painted<R: tauri::Runtime>(app: tauri::AppHandle<R>) {
    crate::window::page_painted(&app);
}

/// The configuration in force, its file and why the file is not in force, if it is not.
#[tauri::command]
pub fn get_config(state: State<'_, AppState>) -> LoadedConfig {
    ops::config(&*state.backend)
}

/// Validates `config` and, unless `dry_run`, saves and applies it (the tray picks up the
/// title, icon style, launch at login and HTTP server settings at once).
#[tauri::command]
pub async fn put_config(
    state: State<'_, AppState>,
    config: Value,
    dry_run: Option<bool>,
) -> Result<ConfigSaved, OpError> {
    let req = ConfigSaveRequest {
        config,
        dry_run: dry_run.unwrap_or(false),
    };
    let saved = ops::config_save(&*state.backend, req).await?;
    if saved.saved {
        state.settings_changed.notify_one();
    }
    Ok(saved)
}

/// Clears the MLX cache of `pids` (every attached process when empty or absent).
#[tauri::command]
pub async fn clear_cache(
    state: State<'_, AppState>,
    pids: Option<Vec<u32>>,
) -> Result<ActionSummary, OpError> {
    let req = ClearCacheRequest {
        pids: pids.unwrap_or_default(),
    };
    ops::clear_cache(&*state.backend, req).await
}

/// "Enable for this Python": the agent for the Python environment of MLX process `pid`.
#[tauri::command]
pub async fn enable_agent(
    state: State<'_, AppState>,
    pid: u32,
) -> Result<EnabledEnvironment, OpError> {
    ops::enable_agent(&*state.backend, EnableAgentRequest { pid }).await
}

/// Sets the MLX `kind` limit (`cache`, `memory` or `wired`) to `bytes` in `pids`.
#[tauri::command]
pub async fn set_limit(
    state: State<'_, AppState>,
    kind: String,
    bytes: u64,
    pids: Option<Vec<u32>>,
) -> Result<ActionSummary, OpError> {
    let kind: LimitKind = serde_json::from_value(Value::from(kind.as_str())).map_err(|_| {
        OpError::bad_param(
            Param::Kind,
            format!("invalid limit kind {kind:?}: expected cache, memory or wired"),
        )
    })?;
    let req = LimitRequest {
        kind,
        bytes: Some(bytes),
        size: None,
        pids: pids.unwrap_or_default(),
    };
    ops::set_limit(&*state.backend, req).await
}

/// `iogpu.wired_limit_mb`, the limit in force, physical memory and the suggestion.
#[tauri::command]
pub async fn get_wired_limit(state: State<'_, AppState>) -> Result<WiredLimitInfo, OpError> {
    ops::wired_limit(&*state.backend).await
}

/// Will this model fit? Arguments as the UI sends them (camelCase → snake_case).
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn get_fit(
    state: State<'_, AppState>,
    params: Option<String>,
    bits: Option<u32>,
    context: Option<u64>,
    kv_bits: Option<u32>,
    layers: Option<u32>,
    kv_heads: Option<u32>,
    head_dim: Option<u32>,
) -> Result<FitReport, OpError> {
    let req = FitRequest {
        params,
        bits,
        context,
        kv_bits,
        layers,
        kv_heads,
        head_dim,
        path: None,
    };
    ops::fit(&*state.backend, &req).await
}

/// The doctor's report.
#[tauri::command]
pub async fn get_doctor(state: State<'_, AppState>) -> Result<DoctorReport, OpError> {
    ops::doctor(&*state.backend).await
}

/// The apps holding the most memory.
#[tauri::command]
pub async fn get_top(n: Option<u32>) -> Result<Vec<TopRow>, OpError> {
    ops::top(TopRequest { n }).await
}

/// Validates a size for the wired limit; the UI then asks the user to confirm.
#[tauri::command]
pub async fn check_wired_limit(state: State<'_, AppState>, size: String) -> Result<u64, OpError> {
    ops::wired_limit_check(&*state.backend, &WiredCheckRequest { size }).await
}

/// Sets `iogpu.wired_limit_mb` to `mb` (0: the macOS default) after the user confirmed it in
/// the UI; macOS asks for the administrator password; the value is read back. The popover
/// stays open while the password prompt is up, and the outcome also arrives as a
/// notification (the person may have moved on from the popover).
#[tauri::command]
pub async fn set_wired_limit<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    mb: u64,
) -> Result<ApplyOutcome, OpError> {
    let prompt = state.admin_prompt();
    let result = ops::wired_limit_set(&*state.backend, WiredSetRequest { mb }).await;
    drop(prompt);
    let body = match &result {
        Ok(outcome) => outcome.describe(),
        Err(e) => e.error.clone(),
    };
    log::info!("set_wired_limit {mb}: {body}");
    let note = crate::notify::Notification {
        title: "GPU wired limit".to_owned(),
        body,
    };
    crate::actions::show_notification(&app, &note);
    result
}
