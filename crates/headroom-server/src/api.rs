//! The JSON API under `/api`: each route maps its query or body to an operation's typed
//! request (`headroom_core::ops`), calls it on the engine and answers its typed answer as
//! JSON, or its [`OpError`] with the matching status. Paths come from the operations table
//! ([`Op`]); unknown paths list every endpoint.

use crate::backend::Backend;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use headroom_core::history::{EventQuery, HistoryQuery};
use headroom_core::ops::{
    self, ClearCacheRequest, ConfigSaveRequest, EnableAgentRequest, FitRequest, LimitRequest, Op,
    OpError, Param, TopRequest,
};
use headroom_core::units::parse_duration;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// An error answer: the operation's [`OpError`] as JSON, with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: OpError,
}

impl ApiError {
    /// An error with any status (not one an operation gives: routing, media type, size).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: OpError {
                status: status.as_u16(),
                ..OpError::bad_request(message)
            },
        }
    }
}

impl From<OpError> for ApiError {
    fn from(body: OpError) -> Self {
        let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type Params = Query<HashMap<String, String>>;
type Answer = Result<Response, ApiError>;

fn json<T: Serialize>(value: &T) -> Answer {
    Ok(Json(value).into_response())
}

/// An answer as JSON, to edit before it is sent (hiding secrets).
fn to_value<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
    })
}

/// Refuses query parameters other than `allowed` (and `token`), naming them.
fn only(params: &HashMap<String, String>, allowed: &[Param]) -> Result<(), OpError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "token" && !allowed.iter().any(|p| p.name() == *k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    let allowed: Vec<&str> = allowed.iter().map(|p| p.name()).collect();
    Err(OpError::bad_param(
        Param::Unknown,
        format!("unknown query parameter(s) {unknown:?}; allowed: {allowed:?}"),
    ))
}

/// An optional whole-number parameter.
fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    param: Param,
) -> Result<Option<T>, OpError> {
    let Some(v) = params.get(param.name()).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    v.trim().parse::<T>().map(Some).map_err(|_| {
        OpError::bad_param(
            param,
            format!("invalid value {v:?}; expected a whole number"),
        )
    })
}

/// An optional duration parameter (`90s`, `1h`, or seconds).
fn duration(params: &HashMap<String, String>, param: Param) -> Result<Option<Duration>, OpError> {
    params
        .get(param.name())
        .map(|v| parse_duration(v).map_err(|e| OpError::bad_param(param, e)))
        .transpose()
}

/// Decodes a JSON request body; a field that does not decode is named as the parameter.
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
    if let Ok(doc) = serde_json::from_slice::<Value>(&bytes) {
        if !doc.is_object() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "request body must be a JSON object {{...}}, not {}; see the endpoint list \
                     for its fields",
                    json_kind(&doc)
                ),
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().iter().next().map(|s| s.to_string());
        let param = field.and_then(|f| serde_json::from_value::<Param>(f.into()).ok());
        let mut err = OpError::bad_request(format!(
            "request body is not valid JSON for this endpoint: {}",
            e.inner()
        ));
        err.param = param;
        ApiError::from(err)
    })
}

/// "an array", "a string", … for error messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `GET /api/snapshot`.
pub async fn snapshot<B: Backend>(State(s): State<AppState<B>>) -> Answer {
    json(&*ops::snapshot(&*s.backend).await?)
}

/// `GET /api/history?since=1h|<secs>&max_points=N`.
pub async fn history<B: Backend>(State(s): State<AppState<B>>, Query(p): Params) -> Answer {
    only(&p, &[Param::Since, Param::MaxPoints])?;
    let since = duration(&p, Param::Since)?.unwrap_or(Duration::from_secs(3600));
    let q = HistoryQuery {
        since_ms: Some(ops::ms_ago(since)),
        until_ms: None,
        max_points: Some(number(&p, Param::MaxPoints)?.unwrap_or(ops::HISTORY_POINTS.0)),
    };
    json(&ops::history(&*s.backend, q).await?)
}

/// `GET /api/events?since=…&limit=N`.
pub async fn events<B: Backend>(State(s): State<AppState<B>>, Query(p): Params) -> Answer {
    only(&p, &[Param::Since, Param::Limit])?;
    let q = EventQuery {
        since_ms: duration(&p, Param::Since)?.map(ops::ms_ago),
        limit: Some(number(&p, Param::Limit)?.unwrap_or(ops::EVENT_LIMIT.0)),
    };
    json(&ops::events(&*s.backend, q).await?)
}

/// `GET /api/config`: the configuration in force, its file and its problem; secrets hidden.
pub async fn get_config<B: Backend>(State(s): State<AppState<B>>) -> Answer {
    let mut view = to_value(&ops::config(&*s.backend))?;
    crate::security::redact_config(&mut view["config"]);
    json(&view)
}

/// `PUT /api/config[?dry_run=1]`: validates (and unless dry-run, saves and applies).
pub async fn put_config<B: Backend>(
    State(s): State<AppState<B>>,
    Query(p): Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    only(&p, &[Param::DryRun])?;
    let dry_run = match p.get("dry_run").map(String::as_str) {
        None | Some("0" | "false") => false,
        Some("1" | "true" | "") => true,
        Some(v) => {
            return Err(OpError::bad_param(
                Param::DryRun,
                format!("invalid value {v:?}; expected 1, true, 0 or false"),
            )
            .into())
        }
    };
    let mut config = json_body(&headers, body, s.body_limit)?;
    let current = to_value(&ops::config(&*s.backend).config)?;
    crate::security::restore_secrets(&mut config, &current);
    let saved = ops::config_save(&*s.backend, ConfigSaveRequest { config, dry_run }).await?;
    let mut answer = to_value(&saved)?;
    crate::security::redact_config(&mut answer["config"]);
    json(&answer)
}

/// `POST /api/actions/clear-cache` with `{"pids": [...]}` (empty or absent: every agent).
pub async fn clear_cache<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let req: ClearCacheRequest = json_body(&headers, body, s.body_limit)?;
    json(&ops::clear_cache(&*s.backend, req).await?)
}

/// `POST /api/agent/enable` with `{"pid": N}`: "Enable for this Python" for MLX process N.
pub async fn enable_agent<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let req: EnableAgentRequest = json_body(&headers, body, s.body_limit)?;
    json(&ops::enable_agent(&*s.backend, req).await?)
}

/// `POST /api/actions/limit` with `{"kind": "cache", "bytes": n | "size": "512MiB", "pids": [...]}`.
pub async fn set_limit<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let req: LimitRequest = json_body(&headers, body, s.body_limit)?;
    json(&ops::set_limit(&*s.backend, req).await?)
}

/// `GET /api/health`.
pub async fn health<B: Backend>(State(s): State<AppState<B>>) -> Answer {
    let uptime = s.started.elapsed().as_secs();
    json(&ops::health(&*s.backend, uptime, crate::ui::UI_BUILT))
}

/// `GET /api/wired-limit`. Setting the limit is not offered over HTTP: it needs administrator
/// rights and a local click (`headroom wired-limit set …`, or the app).
pub async fn wired_limit<B: Backend>(State(s): State<AppState<B>>, Query(p): Params) -> Answer {
    only(&p, &[])?;
    json(&ops::wired_limit(&*s.backend).await?)
}

/// `GET /api/fit?params=&bits=&context=&kv_bits=&layers=&kv_heads=&head_dim=`.
pub async fn fit<B: Backend>(State(s): State<AppState<B>>, Query(p): Params) -> Answer {
    use Param::{Bits, Context, HeadDim, KvBits, KvHeads, Layers, Params as Count};
    only(
        &p,
        &[Count, Bits, Context, KvBits, Layers, KvHeads, HeadDim],
    )?;
    let req = FitRequest {
        params: p.get(Count.name()).cloned(),
        bits: number(&p, Bits)?,
        context: number(&p, Context)?,
        kv_bits: number(&p, KvBits)?,
        layers: number(&p, Layers)?,
        kv_heads: number(&p, KvHeads)?,
        head_dim: number(&p, HeadDim)?,
        path: None,
    };
    json(&ops::fit(&*s.backend, &req).await?)
}

/// `GET /api/doctor`: from the engine's latest snapshot and its last hour of history.
pub async fn doctor<B: Backend>(State(s): State<AppState<B>>, Query(p): Params) -> Answer {
    only(&p, &[])?;
    json(&ops::doctor(&*s.backend).await?)
}

/// `GET /api/top?n=10`: computed only when asked.
pub async fn top(Query(p): Params) -> Answer {
    only(&p, &[Param::N])?;
    let req = TopRequest {
        n: number(&p, Param::N)?,
    };
    json(&ops::top(req).await?)
}

/// The `/api` routes, each at its path in the operations table (the stream is added by the
/// caller, with its own state).
pub fn routes<B: Backend>() -> Router<AppState<B>> {
    Router::new()
        .route(Op::Snapshot.api_path(), get(snapshot::<B>))
        .route(Op::History.api_path(), get(history::<B>))
        .route(Op::Events.api_path(), get(events::<B>))
        .route(
            Op::Config.api_path(),
            get(get_config::<B>).put(put_config::<B>),
        )
        .route(
            Op::ClearCache.api_path(),
            axum::routing::post(clear_cache::<B>),
        )
        .route(Op::SetLimit.api_path(), axum::routing::post(set_limit::<B>))
        .route(Op::Health.api_path(), get(health::<B>))
        .route(Op::WiredLimit.api_path(), get(wired_limit::<B>))
        .route(Op::Fit.api_path(), get(fit::<B>))
        .route(Op::Doctor.api_path(), get(doctor::<B>))
        .route(Op::Top.api_path(), get(top))
        .route(
            Op::EnableAgent.api_path(),
            axum::routing::post(enable_agent::<B>),
        )
}

/// Any other `/api/…` path.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; endpoints: {}",
            uri.path(),
            ops::endpoints()
        ),
    )
}

/// A known path with another method.
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not accept {method}; endpoints: {}",
            uri.path(),
            ops::endpoints()
        ),
    )
}
