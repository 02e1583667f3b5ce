//! JSON endpoints under `/api`.

use crate::backend::Backend;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use headroom_core::units::{parse_duration, parse_size};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Default and largest `max_points` of `/api/history`.
pub const HISTORY_POINTS: (usize, usize) = (1000, 100_000);
/// Default and largest `limit` of `/api/events`.
pub const EVENT_LIMIT: (usize, usize) = (100, 10_000);

/// An error answer: `{"error": "...", "issues": [...]}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    issues: Option<Vec<Value>>,
}

impl ApiError {
    /// A 400 naming the problem.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            issues: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(issues) = self.issues {
            body["issues"] = Value::Array(issues);
        }
        (self.status, Json(body)).into_response()
    }
}

type Params = Query<HashMap<String, String>>;

/// Refuses parameters other than `allowed` (and `token`), naming them (shared with
/// `insights`).
pub(crate) fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), String> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "token" && !allowed.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(format!(
        "unknown query parameter(s) {unknown:?}; allowed: {allowed:?}"
    ))
}

fn duration_param(
    params: &HashMap<String, String>,
    key: &str,
) -> Result<Option<Duration>, ApiError> {
    params
        .get(key)
        .map(|v| parse_duration(v).map_err(|e| ApiError::bad_request(format!("{key}: {e}"))))
        .transpose()
}

fn count_param(
    params: &HashMap<String, String>,
    key: &str,
    (default, max): (usize, usize),
) -> Result<usize, ApiError> {
    let Some(v) = params.get(key) else {
        return Ok(default);
    };
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "{key}: invalid value {v:?}; expected a whole number from 1 to {max}"
        ))),
    }
}

/// Decodes a JSON request body, with errors naming the problem.
pub fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type {ct:?} not accepted: send `Content-Type: application/json`"),
        ));
    }
    let bytes = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("request body too large: at most {limit} bytes"),
            )
        } else {
            ApiError::new(status, format!("cannot read request body: {r}"))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

/// `GET /api/snapshot`.
pub async fn snapshot<B: Backend>(State(s): State<AppState<B>>) -> Response {
    match s.backend.latest() {
        Some(snap) => Json(&*snap).into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no sample taken yet; retry in a second",
        )
        .into_response(),
    }
}

/// `GET /api/history?since=1h|<secs>&max_points=N`.
pub async fn history<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    only(&p, &["since", "max_points"]).map_err(ApiError::bad_request)?;
    let since = duration_param(&p, "since")?.unwrap_or(Duration::from_secs(3600));
    let max = count_param(&p, "max_points", HISTORY_POINTS)?;
    Ok(Json(s.backend.history(since, max).await).into_response())
}

/// `GET /api/events?since=…&limit=N`.
pub async fn events<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    only(&p, &["since", "limit"]).map_err(ApiError::bad_request)?;
    let since = duration_param(&p, "since")?;
    let limit = count_param(&p, "limit", EVENT_LIMIT)?;
    Ok(Json(s.backend.events(since, limit).await).into_response())
}

/// `GET /api/config`: `{"config": …, "path": …, "error": …}`.
pub async fn get_config<B: Backend>(State(s): State<AppState<B>>) -> Response {
    Json(s.backend.config()).into_response()
}

/// `PUT /api/config[?dry_run=1]`: validates (and unless dry-run, saves and applies).
pub async fn put_config<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    only(&p, &["dry_run"]).map_err(ApiError::bad_request)?;
    let dry_run = match p.get("dry_run").map(String::as_str) {
        None | Some("0" | "false") => false,
        Some("1" | "true" | "") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "dry_run: invalid value {v:?}; expected 1, true, 0 or false"
            )))
        }
    };
    let doc: Value = json_body(&headers, body, s.body_limit)?;
    let config = s.backend.validate_config(&doc).map_err(config_issues)?;
    if dry_run {
        return Ok(Json(json!({ "valid": true, "config": config })).into_response());
    }
    s.backend.put_config(doc).await.map_err(config_issues)?;
    let path = s.backend.config().path;
    Ok(Json(json!({ "saved": true, "path": path, "config": config })).into_response())
}

fn config_issues(issues: Vec<Value>) -> ApiError {
    let first = issues
        .first()
        .and_then(|i| i.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "invalid configuration".into());
    let n = issues.len();
    let message = if n == 1 {
        first
    } else {
        format!("{first} (and {} more problems)", n - 1)
    };
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        issues: Some(issues),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearCacheRequest {
    #[serde(default)]
    pids: Vec<u32>,
}

/// `POST /api/actions/clear-cache` with `{"pids": [...]}` (empty or absent: every agent).
pub async fn clear_cache<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ClearCacheRequest = json_body(&headers, body, s.body_limit)?;
    Ok(Json(s.backend.clear_cache(req.pids).await).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitRequest {
    kind: String,
    bytes: Option<u64>,
    size: Option<String>,
    #[serde(default)]
    pids: Vec<u32>,
}

/// `POST /api/actions/limit` with `{"kind": "cache", "bytes": n | "size": "512MiB", "pids": [...]}`.
pub async fn set_limit<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: LimitRequest = json_body(&headers, body, s.body_limit)?;
    let bytes =
        match (req.bytes, req.size.as_deref()) {
            (Some(b), None) => b,
            (None, Some(size)) => {
                parse_size(size).map_err(|e| ApiError::bad_request(format!("size: {e}")))?
            }
            _ => return Err(ApiError::bad_request(
                "give the limit as \"bytes\": 536870912 or as \"size\": \"512MiB\" (exactly one)",
            )),
        };
    let result = s
        .backend
        .set_limit(&req.kind, bytes, req.pids)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(result).into_response())
}

/// `GET /api/health`.
pub async fn health<B: Backend>(State(s): State<AppState<B>>) -> Response {
    let latest = s.backend.latest();
    Json(json!({
        "status": if latest.is_some() { "ok" } else { "starting" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": s.started.elapsed().as_secs(),
        "last_sample": latest.map(|l| l.at),
        "ui_built": crate::ui::UI_BUILT,
        "engine": s.backend.status(),
    }))
    .into_response()
}

/// Every endpoint, for error messages.
pub const ENDPOINTS: &str = "GET /api/snapshot, GET /api/history?since=&max_points=, \
GET /api/events?since=&limit=, GET|PUT /api/config[?dry_run=1], POST /api/actions/clear-cache, \
POST /api/actions/limit, GET /api/stream, GET /api/health, GET /api/wired-limit, \
GET /api/fit?params=&bits=&context=&kv_bits=&layers=&kv_heads=&head_dim=, GET /api/doctor, \
GET /api/top?n=, POST /api/agent/enable, GET /api/agent/environments, GET /metrics";

/// Any other `/api/…` path.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; endpoints: {ENDPOINTS}",
            uri.path()
        ),
    )
}

/// A known path with another method.
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not accept {method}; endpoints: {ENDPOINTS}",
            uri.path()
        ),
    )
}
