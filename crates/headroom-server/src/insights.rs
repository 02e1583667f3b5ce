//! Read-only answers about this machine (issue 7), under `/api`:
//!
//! - `GET /api/wired-limit` → `WiredLimitInfo` (the sysctl, the limit in force, physical
//!   memory, the suggestion with its reasoning). Setting the limit is not offered over HTTP:
//!   it needs administrator rights and a local click (`headroom wired-limit set …`, or the app).
//! - `GET /api/fit?params=70B&bits=4[&context=8192&kv_bits=16&layers=&kv_heads=&head_dim=]`
//!   → `FitReport` (400 naming the bad parameter).
//! - `GET /api/doctor` → `DoctorReport`, from the engine's latest snapshot (no second sample);
//!   the compressed-memory trend comes from the engine's history.
//! - `GET /api/top?n=10` → `TopRow[]`, computed only when asked.
//!
//! Process lists are read on a blocking thread. Every route passes the same security checks
//! as the rest of the API (the router's middleware).

use crate::api::{only, ApiError};
use crate::backend::Backend;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use headroom_core::agents::runtime_dir;
use headroom_core::config::WiredLimitConfig;
use headroom_core::doctor::{self, DoctorContext, DoctorReport, Trend};
use headroom_core::fit::{self, FitEstimate, FitInput};
use headroom_core::snapshot::Snapshot;
use headroom_core::{top, wired};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Default and largest `n` of `/api/top`.
pub const TOP_ROWS: (usize, usize) = (10, 1000);

/// The routes, merged into the `/api` router.
pub fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route("/wired-limit", get(wired_limit::<B>))
        .route("/fit", get(fit_report::<B>))
        .route("/doctor", get(doctor_report::<B>))
        .route("/top", get(top_rows))
}

type Params = Query<HashMap<String, String>>;

/// Parses an optional number parameter, naming it when it is not a whole number.
fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    let Some(v) = params.get(key).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    v.trim()
        .parse::<T>()
        .map(Some)
        .map_err(|_| format!("{key}: invalid value {v:?}; expected a whole number"))
}

fn latest<B: Backend>(s: &AppState<B>) -> Result<Arc<Snapshot>, ApiError> {
    s.backend.latest().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no sample taken yet; retry in a second",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading processes failed: {e}"),
        )
    })
}

/// The `wired_limit` section of the configuration in force (defaults when unreadable).
fn wired_config<B: Backend>(s: &AppState<B>) -> WiredLimitConfig {
    s.backend
        .config()
        .config
        .get("wired_limit")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// `GET /api/wired-limit`.
pub async fn wired_limit<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    only(&p, &[]).map_err(ApiError::bad_request)?;
    let snap = latest(&s)?;
    Ok(Json(wired::info(&snap, &wired_config(&s))).into_response())
}

/// The estimate's input from query parameters (HTTP names); errors name the parameter.
/// Shared with the app's `get_fit` command, so both answer with the same messages.
pub fn fit_input(p: &HashMap<String, String>) -> Result<FitInput, String> {
    let allowed = [
        "params", "bits", "context", "kv_bits", "layers", "kv_heads", "head_dim",
    ];
    only(p, &allowed)?;
    let params = match p.get("params").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => fit::parse_params(v).map_err(|e| format!("params: {e}"))?,
        None => {
            return Err(
                "params: required, the parameter count such as 70B, 7b, 1.5B or 500M".into(),
            )
        }
    };
    let n = |key: &str| number::<u32>(p, key);
    Ok(FitInput {
        params: Some(params),
        bits: n("bits")?,
        context: number::<u64>(p, "context")?.unwrap_or(8192),
        kv_bits: n("kv_bits")?.unwrap_or(16),
        layers: n("layers")?,
        kv_heads: n("kv_heads")?,
        head_dim: n("head_dim")?,
        folder: None,
    })
}

/// The query parameter a core estimate error is about.
fn fit_error_param(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("kv bits") {
        "kv_bits"
    } else if m.contains("bits") {
        "bits"
    } else if m.contains("context") {
        "context"
    } else if m.contains("layers") {
        "layers"
    } else if m.contains("kv heads") || m.contains("kv_heads") || m.contains("key/value") {
        "kv_heads"
    } else if m.contains("head dim") || m.contains("head_dim") {
        "head_dim"
    } else {
        "params"
    }
}

/// Validates the query and estimates; errors start with the parameter's name.
pub fn fit_estimate(p: &HashMap<String, String>) -> Result<FitEstimate, String> {
    let input = fit_input(p)?;
    fit::estimate(&input).map_err(|e| format!("{}: {}", fit_error_param(&e.0), e.0))
}

/// `GET /api/fit?params=&bits=&context=&kv_bits=&layers=&kv_heads=&head_dim=`.
pub async fn fit_report<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let est = fit_estimate(&p).map_err(ApiError::bad_request)?;
    let snap = latest(&s)?;
    let report = blocking(move || fit::judge_here(&est, &snap)).await?;
    Ok(Json(report).into_response())
}

/// The compressed-memory trend from the engine's history: the last hour when at least ten
/// minutes are recorded, else the last two points.
pub fn trend_from_history(points: &Value) -> Option<Trend> {
    let with: Vec<(i64, u64)> = points
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get("t")?.as_i64()?, p.get("compressed")?.as_u64()?)))
        .collect();
    let (&(t0, c0), &(t1, c1)) = (with.first()?, with.last()?);
    let secs = (t1 - t0) as f64 / 1000.0;
    if secs >= 600.0 {
        return Some(Trend {
            first: c0,
            last: c1,
            secs,
            source: "history".into(),
        });
    }
    let [.., (ta, ca), (tb, cb)] = with.as_slice() else {
        return None;
    };
    let secs = (tb - ta) as f64 / 1000.0;
    (secs > 0.0).then(|| Trend {
        first: *ca,
        last: *cb,
        secs,
        source: "two samples".into(),
    })
}

/// The doctor's report for `snap`: the compressed trend from `history` (the engine's points of
/// the last hour), other apps read now, the attached agents' command lines. Shared with the
/// app's `get_doctor` command.
pub async fn doctor_here(snap: &Snapshot, history: &Value) -> Result<DoctorReport, String> {
    let rows = tokio::task::spawn_blocking(|| top::group(&top::processes()))
        .await
        .map_err(|e| format!("reading processes failed: {e}"))?;
    let ctx = DoctorContext {
        compressed_trend: trend_from_history(history),
        top: Some(rows),
        cmdlines: doctor::agent_cmdlines(&runtime_dir()).await,
        process_history: tokio::task::spawn_blocking(|| {
            doctor::process_history(&headroom_core::config::data_dir(), chrono::Utc::now())
        })
        .await
        .unwrap_or_default(),
        ..DoctorContext::default()
    };
    Ok(doctor::report(snap, &ctx))
}

/// `GET /api/doctor`.
pub async fn doctor_report<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    only(&p, &[]).map_err(ApiError::bad_request)?;
    let snap = latest(&s)?;
    let points = s.backend.history(Duration::from_secs(3600), 120).await;
    let report = doctor_here(&snap, &points)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(report).into_response())
}

/// `GET /api/top?n=10`.
pub async fn top_rows(Query(p): Params) -> Result<Response, ApiError> {
    only(&p, &["n"]).map_err(ApiError::bad_request)?;
    let (default, max) = TOP_ROWS;
    let n = match number::<usize>(&p, "n") {
        Ok(None) => default,
        Ok(Some(n)) if (1..=max).contains(&n) => n,
        _ => {
            return Err(ApiError::bad_request(format!(
                "n: invalid value {:?}; expected a whole number from 1 to {max}",
                p.get("n").map_or("", String::as_str)
            )))
        }
    };
    let rows = blocking(move || top::top(n)).await?;
    Ok(Json(rows).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn fit_input_names_the_bad_parameter() {
        let e = |p: &[(&str, &str)]| fit_estimate(&q(p)).err().unwrap_or_default();
        assert!(e(&[]).contains("params: required"));
        assert!(e(&[("params", "lots")]).contains("params:"));
        assert!(e(&[("params", "7B"), ("bits", "four")]).contains("bits:"));
        assert!(e(&[("params", "7B"), ("context", "-1")]).starts_with("context:"));
        assert!(e(&[("params", "7B"), ("context", "0")]).starts_with("context:"));
        assert!(e(&[("params", "7B"), ("bits", "7")]).starts_with("bits:"));
        assert!(e(&[("params", "7B"), ("kv_bits", "7")]).starts_with("kv_bits:"));
        assert!(e(&[("params", "7B"), ("color", "red")]).contains("color"));
        let ok = fit_input(&q(&[("params", "70B"), ("bits", "4")])).ok();
        assert_eq!(ok.as_ref().and_then(|i| i.params), Some(70_000_000_000));
        assert_eq!(
            ok.as_ref().map(|i| (i.context, i.kv_bits)),
            Some((8192, 16))
        );
    }

    #[test]
    fn estimate_errors_name_their_parameter() {
        assert_eq!(fit_error_param("invalid KV bits 7"), "kv_bits");
        assert_eq!(fit_error_param("invalid bits 7: allowed 2, 3"), "bits");
        assert_eq!(fit_error_param("invalid context 0"), "context");
    }

    #[test]
    fn trend_prefers_an_hour_of_history_else_two_points() {
        let long = json!([
            {"t": 0, "compressed": 100},
            {"t": 300_000, "compressed": null},
            {"t": 900_000, "compressed": 400}
        ]);
        let t = trend_from_history(&long);
        assert_eq!(
            t.as_ref().map(|t| (t.first, t.last, t.source.as_str())),
            Some((100, 400, "history"))
        );
        let short = json!([
            {"t": 0, "compressed": 100},
            {"t": 1_000, "compressed": 150},
            {"t": 3_000, "compressed": 250}
        ]);
        let t = trend_from_history(&short);
        assert_eq!(
            t.as_ref().map(|t| (t.first, t.last, t.secs)),
            Some((150, 250, 2.0))
        );
        assert!(trend_from_history(&json!([{"t": 0, "compressed": 1}])).is_none());
        assert!(trend_from_history(&json!({})).is_none());
    }
}
