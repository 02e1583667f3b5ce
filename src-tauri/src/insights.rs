//! Issue 7 in the app: the GPU wired limit, "will it fit?", the doctor and what holds memory
//! (`ui/src/transport/insights.ts` calls these), and the one privileged action only the app
//! offers: setting `iogpu.wired_limit_mb`.
//!
//! The answers are the ones `headroom serve` gives (`headroom_server::insights`, which these
//! call): same core functions, same validation messages. Setting the limit is validated with
//! [`wired::check`] / [`wired::validate`], confirmed by the user in the UI, then applied with
//! [`wired::apply`] (macOS asks for the administrator password for exactly one fixed command)
//! and read back; elsewhere it answers "not available on this platform".

use crate::backend::{Backend, CommandError};
use crate::state::AppState;
use headroom_core::doctor::{DoctorContext, DoctorReport, Severity};
use headroom_core::fit::{self, FitReport};
use headroom_core::top::{self, TopRow};
use headroom_core::wired::{self, ApplyOutcome, CheckedMb, WiredLimitInfo};
use headroom_core::Snapshot;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tauri::State;

/// Said where the sysctl does not exist (as `headroom wired-limit` says it).
pub const NOT_AVAILABLE: &str =
    "not available on this platform (iogpu.wired_limit_mb is a macOS sysctl)";

/// Largest `n` of [`get_top`].
pub const TOP_MAX: usize = 1000;

fn latest(backend: &dyn Backend) -> Result<Arc<Snapshot>, CommandError> {
    backend
        .latest()
        .ok_or_else(|| CommandError::unavailable("no sample taken yet; retry in a second"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::unavailable(format!("reading processes failed: {e}")))
}

/// The wired-limit info of the latest snapshot and the configuration in force.
pub fn wired_limit(backend: &dyn Backend) -> Result<WiredLimitInfo, CommandError> {
    let snap = latest(backend)?;
    Ok(wired::info(&snap, &backend.config().config.wired_limit))
}

/// The fit parameters under the HTTP API's names (so both shells share one validation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FitArgs {
    /// Parameter count: `70B`, `7b`, `1.5B`, `500M`.
    pub params: String,
    /// Weight bits.
    pub bits: Option<u32>,
    /// Context length in tokens.
    pub context: Option<u64>,
    /// KV cache bits.
    pub kv_bits: Option<u32>,
    /// Transformer layers.
    pub layers: Option<u32>,
    /// Key/value heads.
    pub kv_heads: Option<u32>,
    /// Dimension of one attention head.
    pub head_dim: Option<u32>,
}

impl FitArgs {
    /// As query parameters (`kv_bits`, `kv_heads`, `head_dim`).
    pub fn query(&self) -> HashMap<String, String> {
        let mut q = HashMap::from([("params".to_string(), self.params.clone())]);
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                q.insert(k.to_string(), v);
            }
        };
        put("bits", self.bits.map(|v| v.to_string()));
        put("context", self.context.map(|v| v.to_string()));
        put("kv_bits", self.kv_bits.map(|v| v.to_string()));
        put("layers", self.layers.map(|v| v.to_string()));
        put("kv_heads", self.kv_heads.map(|v| v.to_string()));
        put("head_dim", self.head_dim.map(|v| v.to_string()));
        q
    }
}

/// Estimates and judges against this machine (the latest snapshot, other apps read now).
pub async fn fit_here(backend: &dyn Backend, args: &FitArgs) -> Result<FitReport, CommandError> {
    let est = headroom_server::insights::fit_estimate(&args.query())
        .map_err(CommandError::bad_request)?;
    let snap = latest(backend)?;
    blocking(move || fit::judge_here(&est, &snap)).await
}

/// The doctor's report from the latest snapshot and the engine's last hour of history.
pub async fn doctor(backend: &dyn Backend) -> Result<DoctorReport, CommandError> {
    let snap = latest(backend)?;
    let points = backend
        .history(Duration::from_secs(3600))
        .await
        .unwrap_or_default();
    headroom_server::insights::doctor_here(&snap, &points)
        .await
        .map_err(CommandError::unavailable)
}

/// The `n` apps holding the most memory (1..=[`TOP_MAX`], default 10).
pub async fn top_rows(n: Option<usize>) -> Result<Vec<TopRow>, CommandError> {
    let n = n.unwrap_or(10);
    if !(1..=TOP_MAX).contains(&n) {
        return Err(CommandError::bad_request(format!(
            "n: invalid value {n}; expected a whole number from 1 to {TOP_MAX}"
        )));
    }
    blocking(move || top::top(n)).await
}

/// Validates `size` as `headroom wired-limit set` does (`49152`, `48GB`): the MB to set.
pub fn check(backend: &dyn Backend, size: &str) -> Result<u64, CommandError> {
    let snap = latest(backend)?;
    wired::check(size, snap.memory.total)
        .map(CheckedMb::get)
        .map_err(|e| CommandError::bad_request(e.0))
}

/// Validates `mb` (0 resets to the macOS default) for this machine; refuses where the sysctl
/// does not exist.
pub fn checked_for_set(backend: &dyn Backend, mb: u64) -> Result<CheckedMb, CommandError> {
    let info = wired_limit(backend)?;
    if !info.supported {
        return Err(CommandError::bad_request(NOT_AVAILABLE));
    }
    if mb == 0 {
        return Ok(CheckedMb::RESET);
    }
    let physical = info.physical.ok_or_else(|| {
        CommandError::bad_request(format!(
            "cannot check wired limit {mb} MB: the physical memory size is unknown"
        ))
    })?;
    wired::validate(mb, physical).map_err(|e| CommandError::bad_request(e.0))
}

/// Runs the privileged command for `mb` and reads it back (macOS asks for the password).
#[cfg(target_os = "macos")]
pub async fn apply_here(mb: CheckedMb) -> Result<ApplyOutcome, CommandError> {
    blocking(move || wired::apply(&mut wired::SystemRunner, mb)).await
}

/// Not available where the sysctl does not exist.
#[cfg(not(target_os = "macos"))]
pub async fn apply_here(_mb: CheckedMb) -> Result<ApplyOutcome, CommandError> {
    Err(CommandError::bad_request(NOT_AVAILABLE))
}

/// The native menu's doctor line for `snapshot`: the most severe finding that needs no process
/// list (pressure, swap, compression, MLX caches, wired limit), when there is one. For the tray's
/// menu model ([`crate::menu_model`]).
pub fn menu_finding_line(snapshot: &Snapshot) -> Option<String> {
    let f = headroom_core::doctor::top_finding(snapshot, &DoctorContext::default())?;
    let mark = match f.severity {
        Severity::Critical => "⚠︎ ",
        Severity::Warning | Severity::Info => "",
    };
    Some(format!("{mark}{}", f.title))
}

/// `iogpu.wired_limit_mb`, the limit in force, physical memory and the suggestion.
#[tauri::command]
pub fn get_wired_limit(state: State<'_, AppState>) -> Result<WiredLimitInfo, CommandError> {
    wired_limit(&*state.backend)
}

/// Will this model fit? Arguments as the UI sends them (camelCase → snake_case).
#[allow(clippy::too_many_arguments)]
#[tauri::command]
pub async fn get_fit(
    state: State<'_, AppState>,
    params: String,
    bits: Option<u32>,
    context: Option<u64>,
    kv_bits: Option<u32>,
    layers: Option<u32>,
    kv_heads: Option<u32>,
    head_dim: Option<u32>,
) -> Result<FitReport, CommandError> {
    let args = FitArgs {
        params,
        bits,
        context,
        kv_bits,
        layers,
        kv_heads,
        head_dim,
    };
    fit_here(&*state.backend, &args).await
}

/// The doctor's report.
#[tauri::command]
pub async fn get_doctor(state: State<'_, AppState>) -> Result<DoctorReport, CommandError> {
    doctor(&*state.backend).await
}

/// The apps holding the most memory.
#[tauri::command]
pub async fn get_top(n: Option<usize>) -> Result<Vec<TopRow>, CommandError> {
    top_rows(n).await
}

/// Validates a size for the wired limit; the UI then asks the user to confirm.
#[tauri::command]
pub fn check_wired_limit(state: State<'_, AppState>, size: String) -> Result<u64, CommandError> {
    check(&*state.backend, &size)
}

/// Sets `iogpu.wired_limit_mb` to `mb` (0: the macOS default) after the user confirmed it in
/// the UI; macOS asks for the administrator password; the value is read back.
/// The popover stays open while macOS's administrator prompt is up, and the outcome also
/// arrives as a notification (the person may have moved on from the popover).
#[tauri::command]
pub async fn set_wired_limit<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    mb: u64,
) -> Result<ApplyOutcome, CommandError> {
    let checked = checked_for_set(&*state.backend, mb)?;
    let prompt = state.admin_prompt();
    let result = apply_here(checked).await;
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
