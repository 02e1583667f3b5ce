//! Every operation a shell exposes — the command line, `headroom serve`, the app and through
//! them the web UI — each with a typed request, a typed answer and one typed error
//! ([`OpError`], naming the bad parameter as a [`Param`]). Shells only map their input to a
//! request (arguments, a route's query or body, a command's arguments), call the operation on
//! a [`Backend`] and render the answer; the answers and errors are exported to TypeScript.
//!
//! | operation | request | answer |
//! |---|---|---|
//! | [`snapshot`] | — | [`Snapshot`] (sample, thresholds, MLX processes) |
//! | [`health`] | — | [`Health`] |
//! | [`doctor`] | — | [`DoctorReport`] |
//! | [`fit`] | [`FitRequest`] | [`FitReport`] |
//! | [`top`] | [`TopRequest`] | [`TopRow`]s |
//! | [`wired_limit`], [`wired_limit_check`], [`wired_limit_set`] ([`wired_limit_set_via`] for `sudo` over SSH), [`wired_limit_remember`] | [`WiredCheckRequest`], [`WiredSetRequest`] | [`WiredLimitInfo`], MB, [`ApplyOutcome`], [`Remembered`] |
//! | [`history`] | [`HistoryQuery`] | [`HistoryPoint`]s |
//! | [`events`] | [`EventQuery`] | [`Event`]s |
//! | [`clear_cache`], [`set_limit`] | [`ClearCacheRequest`], [`LimitRequest`] | [`ActionSummary`] |
//! | [`config`], [`config_save`] | [`ConfigSaveRequest`] | [`LoadedConfig`], [`ConfigSaved`] |
//! | [`enable_agent`] | [`EnableAgentRequest`] | [`EnabledEnvironment`] |

mod backend;
mod error;
mod local;
mod table;

pub use backend::{Backend, BoxFuture};
pub use error::{ErrorKind, OpError, Param};
pub use local::Local;
pub use table::{
    capabilities, endpoints, typescript, Names, Op, EVENTS, EVENT_JOURNAL, EVENT_SNAPSHOT, TABLE,
};

use crate::agents::install::{self, EnabledEnvironment, InstallError};
use crate::agents::{ActionOutcome, LimitKind};
use crate::config::{Config, LoadedConfig};
use crate::doctor::{self, DoctorContext, DoctorReport};
use crate::engine::EngineStatus;
use crate::events::Event;
use crate::fit::{self, FitInput, FitReport};
use crate::history::{EventQuery, HistoryPoint, HistoryQuery};
use crate::snapshot::Snapshot;
use crate::top::{self, TopRow};
use crate::units::{format_bytes, parse_size};
use crate::wired::{self, ApplyOutcome, CheckedMb, WiredLimitInfo};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ts_rs::TS;

/// Largest `max_points` of a history query (and the shells' default for graphs).
pub const HISTORY_POINTS: (u32, u32) = (1000, 100_000);
/// Default and largest `limit` of a journal query.
pub const EVENT_LIMIT: (u32, u32) = (100, 10_000);
/// Default and largest `n` of [`top`].
pub const TOP_ROWS: (u32, u32) = (10, 1000);
/// Said where `iogpu.wired_limit_mb` does not exist.
pub const NOT_AVAILABLE: &str =
    "not available on this platform (iogpu.wired_limit_mb is a macOS sysctl)";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, OpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpError::unavailable(format!("reading processes failed: {e}")))
}

/// The snapshot operations judge (see [`Backend::snapshot`]).
pub async fn snapshot(b: &dyn Backend) -> Result<Arc<Snapshot>, OpError> {
    b.snapshot().await
}

/// The host's health (`GET /api/health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Health {
    /// `ok` once a sample was taken, `starting` before.
    pub status: String,
    /// Headroom's version.
    pub version: String,
    /// Seconds since the host started.
    #[ts(type = "number")]
    pub uptime_seconds: u64,
    /// When the latest sample was taken.
    pub last_sample: Option<DateTime<Utc>>,
    /// Whether the web UI is built into this binary.
    pub ui_built: bool,
    /// The engine's health.
    pub engine: EngineStatus,
}

/// The host's health, given how long it has run and whether it serves the web UI.
pub fn health(b: &dyn Backend, uptime_seconds: u64, ui_built: bool) -> Health {
    let latest = b.latest();
    Health {
        status: if latest.is_some() { "ok" } else { "starting" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds,
        last_sample: latest.map(|l| l.at),
        ui_built,
        engine: b.status(),
    }
}

/// Milliseconds since the Unix epoch, `ago` before now.
pub fn ms_ago(ago: Duration) -> i64 {
    let ago = i64::try_from(ago.as_millis()).unwrap_or(i64::MAX);
    Utc::now().timestamp_millis().saturating_sub(ago)
}

/// The doctor: the snapshot, the compressed-memory trend from the host's last hour of history
/// (else its last two samples), other apps read now, and the attached agents' command lines.
pub async fn doctor(b: &dyn Backend) -> Result<DoctorReport, OpError> {
    let snap = b.snapshot().await?;
    let q = HistoryQuery {
        since_ms: Some(ms_ago(Duration::from_secs(3600))),
        until_ms: None,
        max_points: Some(120),
    };
    let points = b.history(q).await.unwrap_or_default();
    let rows = blocking(|| top::group(&top::processes())).await?;
    // Policy refusals from the journal of the last week (a one-shot host applies no policy;
    // the engine's own snapshot carries them too), per-process history from the database.
    let week = EventQuery {
        since_ms: Some(ms_ago(Duration::from_secs(7 * 86_400))),
        limit: Some(EVENT_LIMIT.1),
    };
    let events = b.events(week).await.unwrap_or_default();
    let db = PathBuf::from(b.status().storage.path);
    let data_dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(crate::config::data_dir, std::path::Path::to_path_buf);
    let process_history = blocking(move || doctor::process_history(&data_dir, Utc::now())).await?;
    let ctx = DoctorContext {
        compressed_trend: doctor::trend_from_history(&points),
        top: Some(rows),
        cmdlines: doctor::agent_cmdlines(&b.runtime_dir()).await,
        outside_mlx_before: doctor::outside_mlx_before(
            &process_history,
            Utc::now().timestamp_millis(),
        ),
        process_history,
        policy_refusals: doctor::policy_refusals(&events),
    };
    Ok(doctor::report(&snap, &ctx))
}

/// "Will it fit?": a parameter count (or, from the command line, a model folder) with
/// optional bits, context and shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct FitRequest {
    /// Parameter count: `70B`, `7b`, `1.5B`, `500M` (required without a model folder).
    pub params: Option<String>,
    /// Weight bits: 2, 3, 4, 5, 6, 8, 16, 32 (default: the folder's, else 16).
    pub bits: Option<u32>,
    /// Context length in tokens (default 8192).
    #[ts(type = "number | null")]
    pub context: Option<u64>,
    /// KV cache bits: 4, 8, 16, 32 (default 16).
    pub kv_bits: Option<u32>,
    /// Transformer layers.
    pub layers: Option<u32>,
    /// Key/value heads.
    pub kv_heads: Option<u32>,
    /// Dimension of one attention head.
    pub head_dim: Option<u32>,
    /// A local model folder (config.json + .safetensors): the command line only.
    #[serde(skip)]
    #[ts(skip)]
    pub path: Option<PathBuf>,
}

impl FitRequest {
    /// The estimate's input; a model folder is read here.
    pub fn input(&self) -> Result<FitInput, OpError> {
        let folder = match &self.path {
            Some(p) => Some(fit::read_model_folder(p).map_err(fit_error)?),
            None => None,
        };
        let params = match self.params.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Some(fit::parse_params(v).map_err(fit_error)?),
            _ if folder.is_some() => None,
            _ => {
                return Err(OpError::bad_param(
                    Param::Params,
                    "required, the parameter count such as 70B, 7b, 1.5B or 500M",
                ))
            }
        };
        Ok(FitInput {
            params,
            bits: self.bits,
            context: self.context.unwrap_or(8192),
            kv_bits: self.kv_bits.unwrap_or(16),
            layers: self.layers,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            folder,
        })
    }
}

fn fit_error(e: fit::FitError) -> OpError {
    OpError::bad_param(e.param, e.message)
}

/// Estimates the model's memory and judges it against this machine (the snapshot, other
/// apps read now).
pub async fn fit(b: &dyn Backend, req: &FitRequest) -> Result<FitReport, OpError> {
    let input = req.input()?;
    let est = fit::estimate(&input).map_err(fit_error)?;
    let snap = b.snapshot().await?;
    blocking(move || fit::judge_here(&est, &snap)).await
}

/// What holds memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct TopRequest {
    /// How many apps (1 to 1000, default 10).
    pub n: Option<u32>,
}

/// The `n` apps holding the most memory, computed now.
pub async fn top(req: TopRequest) -> Result<Vec<TopRow>, OpError> {
    let (default, max) = TOP_ROWS;
    let n = req.n.unwrap_or(default);
    if !(1..=max).contains(&n) {
        return Err(OpError::bad_param(
            Param::N,
            format!("invalid value {n}; expected a whole number from 1 to {max}"),
        ));
    }
    let rows = blocking(move || top::top(n as usize)).await?;
    if rows.is_empty() {
        return Err(OpError::unavailable("no process footprint could be read"));
    }
    Ok(rows)
}

/// The GPU wired limit of the snapshot, with the configuration's `wired_limit` section.
pub async fn wired_limit(b: &dyn Backend) -> Result<WiredLimitInfo, OpError> {
    let snap = b.snapshot().await?;
    Ok(wired::info(&snap, &b.config().config.wired_limit))
}

/// A GPU wired limit to validate, as typed (`49152`, `48GB`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct WiredCheckRequest {
    /// MB as a whole number, or a size with a unit.
    pub size: String,
}

/// Validates a wired limit for this machine: the MB to set (validation works everywhere;
/// only [`wired_limit_set`] needs the sysctl).
pub async fn wired_limit_check(b: &dyn Backend, req: &WiredCheckRequest) -> Result<u64, OpError> {
    let info = wired_limit(b).await?;
    wired::check(&req.size, info.physical)
        .map(CheckedMb::get)
        .map_err(|e| OpError::bad_param(Param::Size, e.0))
}

/// Set the GPU wired limit (after the person confirmed it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct WiredSetRequest {
    /// MB; 0 returns to the macOS default.
    #[ts(type = "number")]
    pub mb: u64,
}

/// Validates `req.mb` for this machine again, runs the one privileged command (macOS asks for
/// the administrator password) and reads the value back.
pub async fn wired_limit_set(
    b: &dyn Backend,
    req: WiredSetRequest,
) -> Result<ApplyOutcome, OpError> {
    wired_limit_set_via(b, req, wired::PrivilegeRoute::AdminDialog).await
}

/// [`wired_limit_set`] with the way to ask for administrator rights chosen by the caller
/// (`sudo` on a terminal over SSH, or only the command to print: [`wired::privilege_route`]).
pub async fn wired_limit_set_via(
    b: &dyn Backend,
    req: WiredSetRequest,
    route: wired::PrivilegeRoute,
) -> Result<ApplyOutcome, OpError> {
    let info = wired_limit(b).await?;
    if !info.supported {
        let why = wired::why_unsupported(&info).unwrap_or(NOT_AVAILABLE);
        return Err(OpError::not_supported(why));
    }
    let mb = if req.mb == 0 {
        CheckedMb::RESET
    } else {
        let physical = info.physical.ok_or_else(|| {
            OpError::unavailable(format!(
                "cannot check wired limit {} MB: the physical memory size is unknown",
                req.mb
            ))
        })?;
        wired::validate(req.mb, physical).map_err(|e| OpError::bad_param(Param::Mb, e.0))?
    };
    apply_wired_limit(mb, route).await
}

#[cfg(target_os = "macos")]
async fn apply_wired_limit(
    mb: CheckedMb,
    route: wired::PrivilegeRoute,
) -> Result<ApplyOutcome, OpError> {
    blocking(move || wired::apply_via(&mut wired::SystemRunner, mb, route)).await
}

#[cfg(not(target_os = "macos"))]
async fn apply_wired_limit(
    _mb: CheckedMb,
    _route: wired::PrivilegeRoute,
) -> Result<ApplyOutcome, OpError> {
    Err(OpError::not_supported(NOT_AVAILABLE))
}

/// Where a remembered wired limit was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Remembered {
    /// The configuration file.
    pub path: String,
    /// `wired_limit.value_mb`.
    #[ts(type = "number")]
    pub mb: u64,
}

/// Saves `mb` as `wired_limit.value_mb` with `reapply_on_start = true`, so the app offers to
/// set it again after a reboot. A configuration file with problems is not overwritten.
pub async fn wired_limit_remember(b: &dyn Backend, mb: u64) -> Result<Remembered, OpError> {
    let loaded = b.config();
    if let Some(e) = loaded.error {
        return Err(OpError::unavailable(format!(
            "{} has a problem: {e}",
            loaded.path.display()
        )));
    }
    let mut cfg = loaded.config;
    cfg.wired_limit = crate::config::WiredLimitConfig {
        reapply_on_start: true,
        value_mb: Some(mb),
    };
    b.save_config(cfg).await.map_err(OpError::config)?;
    Ok(Remembered {
        path: loaded.path.display().to_string(),
        mb,
    })
}

/// History points: validates `max_points` (1 to 100000) and the range.
pub async fn history(b: &dyn Backend, q: HistoryQuery) -> Result<Vec<HistoryPoint>, OpError> {
    let (_, max) = HISTORY_POINTS;
    if let Some(n) = q.max_points.filter(|n| !(1..=max).contains(n)) {
        return Err(OpError::bad_param(
            Param::MaxPoints,
            format!("invalid value {n}; expected a whole number from 1 to {max}"),
        ));
    }
    if let (Some(s), Some(u)) = (q.since_ms, q.until_ms) {
        if s > u {
            return Err(OpError::bad_param(
                Param::Until,
                format!("{u} is before since {s}"),
            ));
        }
    }
    b.history(q).await
}

/// Journal entries, oldest first: validates `limit` (1 to 10000).
pub async fn events(b: &dyn Backend, q: EventQuery) -> Result<Vec<Event>, OpError> {
    let (_, max) = EVENT_LIMIT;
    if let Some(n) = q.limit.filter(|n| !(1..=max).contains(n)) {
        return Err(OpError::bad_param(
            Param::Limit,
            format!("invalid value {n}; expected a whole number from 1 to {max}"),
        ));
    }
    b.events(q).await
}

/// Which processes to clear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(export)]
pub struct ClearCacheRequest {
    /// Only these processes; empty: every process with the agent.
    pub pids: Vec<u32>,
}

/// What an MLX action did: each process's outcome, how many succeeded and failed, bytes freed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ActionSummary {
    /// One outcome per process.
    pub outcomes: Vec<ActionOutcome>,
    /// Processes where it succeeded.
    pub succeeded: u32,
    /// Processes where it failed.
    pub failed: u32,
    /// Bytes freed in total (cache clears).
    #[ts(type = "number")]
    pub freed: u64,
}

impl From<Vec<ActionOutcome>> for ActionSummary {
    fn from(outcomes: Vec<ActionOutcome>) -> Self {
        let succeeded = outcomes.iter().filter(|o| o.ok).count();
        Self {
            succeeded: u32::try_from(succeeded).unwrap_or(u32::MAX),
            failed: u32::try_from(outcomes.len() - succeeded).unwrap_or(u32::MAX),
            freed: crate::units::saturating_sum(outcomes.iter().filter_map(|o| o.freed)),
            outcomes,
        }
    }
}

impl ActionSummary {
    /// One sentence for a notification: what was cleared, what failed and why.
    pub fn clear_sentence(&self) -> String {
        if self.outcomes.is_empty() {
            return "No MLX process has the agent attached; nothing to clear".to_owned();
        }
        let processes = |n: u32| {
            if n == 1 {
                "1 process".to_owned()
            } else {
                format!("{n} processes")
            }
        };
        let mut text = if self.succeeded > 0 {
            format!(
                "Cleared {} of MLX cache in {}",
                format_bytes(self.freed),
                processes(self.succeeded)
            )
        } else {
            "Could not clear the MLX cache".to_owned()
        };
        let failed = crate::agents::failures(&self.outcomes);
        if !failed.is_empty() {
            let n = u32::try_from(failed.len()).unwrap_or(u32::MAX);
            text += &format!("; failed in {}: {}", processes(n), failed.join(", "));
        }
        text
    }
}

/// "Enable for this Python": the MLX process whose environment gets the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnableAgentRequest {
    /// An MLX process without an agent, as the latest snapshot lists it.
    pub pid: u32,
}

/// Enables the agent for the Python environment of an MLX process of the latest snapshot
/// ([`install::enable_for_process`]: the interpreter is found from the process, never named
/// by the caller); its programs get the agent when they next start.
pub async fn enable_agent(
    b: &dyn Backend,
    req: EnableAgentRequest,
) -> Result<EnabledEnvironment, OpError> {
    let snap = b.snapshot().await?;
    let data_dir = crate::config::data_dir();
    blocking(move || install::enable_for_process(&snap, req.pid, &data_dir))
        .await?
        .map_err(|e| match e {
            InstallError::NoSuchProcess { .. } => OpError::bad_param(Param::Pid, e),
            InstallError::Io { .. } => OpError::unavailable(e.to_string()),
            other => OpError::bad_request(other.to_string()),
        })
}

/// Clears MLX caches.
pub async fn clear_cache(
    b: &dyn Backend,
    req: ClearCacheRequest,
) -> Result<ActionSummary, OpError> {
    Ok(b.clear_cache(req.pids).await?.into())
}

/// Set an MLX limit: the size as bytes or as text (exactly one of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct LimitRequest {
    /// Which limit.
    pub kind: LimitKind,
    /// The limit in bytes.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub bytes: Option<u64>,
    /// The limit as text: `512MiB`, `2GB`, `0`.
    #[serde(default)]
    pub size: Option<String>,
    /// Only these processes; empty: every process with the agent.
    #[serde(default)]
    pub pids: Vec<u32>,
}

/// Sets an MLX limit.
pub async fn set_limit(b: &dyn Backend, req: LimitRequest) -> Result<ActionSummary, OpError> {
    let bytes = match (req.bytes, req.size.as_deref()) {
        (Some(b), None) => b,
        (None, Some(size)) => parse_size(size).map_err(|e| OpError::bad_param(Param::Size, e))?,
        _ => {
            return Err(OpError::bad_param(
                Param::Size,
                "give the limit as \"bytes\": 536870912 or as \"size\": \"512MiB\" (exactly one)",
            ))
        }
    };
    Ok(b.set_limit(req.kind, bytes, req.pids).await?.into())
}

/// The configuration in force, its file and why the file is not in force, if it is not.
pub fn config(b: &dyn Backend) -> LoadedConfig {
    b.config()
}

/// Validate (and unless `dry_run`, save and apply) a configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ConfigSaveRequest {
    /// The document, as `GET /api/config`'s `config` gives it (keys may be left out).
    #[ts(as = "Config")]
    pub config: serde_json::Value,
    /// Only validate.
    #[serde(default)]
    pub dry_run: bool,
}

/// A configuration validated, and saved unless it was a dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ConfigSaved {
    /// Always true: an invalid document is an error.
    pub valid: bool,
    /// Whether it was saved and applied (false for a dry run).
    pub saved: bool,
    /// The configuration file.
    pub path: String,
    /// The configuration as the engine normalised it.
    pub config: Config,
}

/// Validates a configuration document and, unless `dry_run`, saves and applies it.
pub async fn config_save(b: &dyn Backend, req: ConfigSaveRequest) -> Result<ConfigSaved, OpError> {
    let config = crate::config::validate_json(&req.config).map_err(OpError::config)?;
    if !req.dry_run {
        b.save_config(config.clone())
            .await
            .map_err(OpError::config)?;
    }
    Ok(ConfigSaved {
        valid: true,
        saved: !req.dry_run,
        path: b.config().path.display().to_string(),
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_requests_name_the_bad_parameter_by_value() {
        let param = |r: FitRequest| {
            fit::estimate(&match r.input() {
                Ok(i) => i,
                Err(e) => return e.param,
            })
            .err()
            .map(|e| fit_error(e).param)
            .unwrap_or(None)
        };
        let p = |s: &str| FitRequest {
            params: Some(s.into()),
            ..FitRequest::default()
        };
        assert_eq!(param(FitRequest::default()), Some(Param::Params));
        assert_eq!(param(p("lots")), Some(Param::Params));
        assert_eq!(
            param(FitRequest {
                bits: Some(7),
                ..p("7B")
            }),
            Some(Param::Bits)
        );
        assert_eq!(
            param(FitRequest {
                kv_bits: Some(7),
                ..p("7B")
            }),
            Some(Param::KvBits)
        );
        assert_eq!(
            param(FitRequest {
                context: Some(0),
                ..p("7B")
            }),
            Some(Param::Context)
        );
        assert_eq!(
            param(FitRequest {
                kv_heads: Some(0),
                ..p("7B")
            }),
            Some(Param::KvHeads)
        );
        assert_eq!(
            param(FitRequest {
                head_dim: Some(0),
                ..p("7B")
            }),
            Some(Param::HeadDim)
        );
        assert_eq!(
            param(FitRequest {
                layers: Some(0),
                ..p("7B")
            }),
            Some(Param::Layers)
        );
        assert_eq!(param(p("70B")), None);
        let input = p("70B").input().unwrap();
        assert_eq!(
            (input.params, input.context, input.kv_bits),
            (Some(70_000_000_000), 8192, 16)
        );
    }

    fn outcome(pid: u32, freed: Option<u64>, error: Option<&str>) -> ActionOutcome {
        ActionOutcome {
            pid,
            name: "python3".into(),
            ok: error.is_none(),
            freed,
            previous: freed,
            current: Some(0),
            error: error.map(|m| crate::agents::AgentError {
                code: "timeout".into(),
                message: m.into(),
            }),
        }
    }

    #[test]
    fn a_clear_says_what_was_freed_and_what_failed() {
        let sentence = |o: Vec<ActionOutcome>| ActionSummary::from(o).clear_sentence();
        assert_eq!(
            sentence(vec![]),
            "No MLX process has the agent attached; nothing to clear"
        );
        let gib = 1u64 << 30;
        let two = vec![
            outcome(1, Some(gib), None),
            outcome(2, Some(gib + gib / 10), None),
        ];
        assert_eq!(
            ActionSummary::from(two.clone()),
            ActionSummary {
                outcomes: two.clone(),
                succeeded: 2,
                failed: 0,
                freed: 2 * gib + gib / 10
            }
        );
        assert_eq!(sentence(two), "Cleared 2.1 GB of MLX cache in 2 processes");
        assert_eq!(
            sentence(vec![outcome(1, Some(512 << 20), None), outcome(9, None, Some("no answer"))]),
            "Cleared 512.0 MB of MLX cache in 1 process; failed in 1 process: python3 (pid 9): no answer (timeout)"
        );
        assert!(sentence(vec![outcome(9, None, Some("x"))]).starts_with("Could not clear"));
    }

    #[tokio::test]
    async fn top_refuses_a_count_outside_its_range() {
        let e = top(TopRequest { n: Some(0) }).await.unwrap_err();
        assert_eq!(e.param, Some(Param::N));
        assert!(e.error.contains("from 1 to 1000"), "{}", e.error);
    }
}
