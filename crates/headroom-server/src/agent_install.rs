//! `POST /api/agent/enable` ("Enable for this Python" in the MLX view) and
//! `GET /api/agent/environments`: thin wrappers of `headroom_core::agents::install` (routed in
//! `lib.rs`).

use crate::api::{json_body, ApiError};
use crate::backend::Backend;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use headroom_core::agents::install::{self, InstallError};
use headroom_core::config;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableRequest {
    pid: u32,
}

/// `POST /api/agent/enable` with `{"pid": N}`: enables the agent for the Python environment of
/// MLX process N (one listed without an agent in the latest sample).
pub async fn enable<B: Backend>(
    State(s): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: EnableRequest = json_body(&headers, body, s.body_limit)?;
    let snap = s.backend.latest().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no sample taken yet; retry in a second",
        )
    })?;
    let result = tokio::task::spawn_blocking(move || {
        install::enable_for_process(&snap, req.pid, &config::data_dir())
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(env) => Ok(Json(env).into_response()),
        Err(e @ InstallError::Io { .. }) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
    }
}

/// `GET /api/agent/environments`: where the agent is enabled (`headroom agent status`).
pub async fn environments<B: Backend>(State(_s): State<AppState<B>>) -> Result<Response, ApiError> {
    let list = tokio::task::spawn_blocking(|| install::status(&config::data_dir()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(list).into_response())
}
