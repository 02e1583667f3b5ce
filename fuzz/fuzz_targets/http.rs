//! `headroom serve`'s HTTP layer on arbitrary requests: the real router (security guard,
//! query parsing, body limit, JSON body decoding, size parsing, config validation) in front of
//! a fake engine that validates like the real one. No request panics or answers 500.
//!
//! Input: byte 0 picks the endpoint, byte 1 the header variant, the rest is the body (POST,
//! PUT) or the query string / path (GET).
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::{Config, ConfigIssue, LoadedConfig};
use headroom_core::engine::{EngineEvent, EngineStatus};
use headroom_core::events::Event;
use headroom_core::history::{EventQuery, HistoryPoint, HistoryQuery};
use headroom_core::ops::{BoxFuture, OpError};
use headroom_core::rules::RuleState;
use headroom_core::Snapshot;
use headroom_server::{router, AppState, Backend, ServeOptions};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

/// An engine that stores nothing; the operations in front of it validate as they do for the
/// real one.
struct Fake;

impl Backend for Fake {
    fn snapshot(&self) -> BoxFuture<'_, Result<Arc<Snapshot>, OpError>> {
        Box::pin(async { Err(OpError::no_sample()) })
    }
    fn latest(&self) -> Option<Arc<Snapshot>> {
        None
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
        tokio::sync::broadcast::channel(1).1
    }
    fn config(&self) -> LoadedConfig {
        LoadedConfig {
            config: Config::default(),
            path: PathBuf::from("/nonexistent/config.toml"),
            error: None,
            issues: Vec::new(),
            suggested_policy: None,
        }
    }
    fn save_config(&self, _: Config) -> BoxFuture<'_, Result<(), Vec<ConfigIssue>>> {
        Box::pin(async { Ok(()) })
    }
    fn history(&self, _: HistoryQuery) -> BoxFuture<'_, Result<Vec<HistoryPoint>, OpError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn events(&self, _: EventQuery) -> BoxFuture<'_, Result<Vec<Event>, OpError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn clear_cache(&self, _: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn set_limit(
        &self,
        _: LimitKind,
        _: u64,
        _: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, OpError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn rule_states(&self) -> Vec<RuleState> {
        Vec::new()
    }
    fn status(&self) -> EngineStatus {
        EngineStatus {
            config_error: None,
            config_path: String::new(),
            storage_error: None,
            storage: Default::default(),
            agents: 0,
            samples: 0,
        }
    }
    fn runtime_dir(&self) -> PathBuf {
        PathBuf::from("/nonexistent/run")
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

const ENDPOINTS: [(&str, &str); 7] = [
    ("PUT", "/api/config"),
    ("PUT", "/api/config?dry_run=1"),
    ("POST", "/api/actions/clear-cache"),
    ("POST", "/api/actions/limit"),
    ("GET", "/api/history?"),
    ("GET", "/api/events?"),
    ("GET", "/"),
];

fn request(data: &[u8]) -> Option<Request<Body>> {
    let (&pick, rest) = data.split_first()?;
    let (&variant, rest) = rest.split_first().unwrap_or((&0, &[]));
    let (method, path) = ENDPOINTS[usize::from(pick) % ENDPOINTS.len()];
    let mut b = Request::builder().method(method);
    let body = if method == "GET" {
        let tail = std::str::from_utf8(rest).ok()?;
        if tail.contains("stream") {
            return None; // an SSE stream never ends
        }
        b = b.uri(format!("{path}{tail}"));
        Body::empty()
    } else {
        b = b.uri(path);
        Body::from(rest.to_vec())
    };
    b = b.header("host", "127.0.0.1:8765");
    b = match variant % 4 {
        0 => b.header("content-type", "application/json"),
        1 => b
            .header("content-type", "application/json; charset=utf-8")
            .header("origin", "http://127.0.0.1:8765"),
        2 => b
            .header("content-type", "application/json")
            .header("origin", "http://evil.example"),
        _ => b.header("content-type", "text/plain"),
    };
    b.body(body).ok()
}

fn app() -> axum::Router {
    let opts = ServeOptions {
        body_limit: 64 * 1024,
        ..ServeOptions::default()
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let state = AppState {
        backend: Arc::new(Fake),
        metrics: Default::default(),
        body_limit: opts.body_limit,
        keep_alive: opts.keep_alive,
        stop,
        started: Instant::now(),
    };
    router(state, &opts)
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else {
        return;
    };
    let status = RT.with(|rt| {
        rt.block_on(async {
            let res = app().oneshot(req).await.unwrap_or_else(|e| match e {});
            let status = res.status();
            if status != StatusCode::OK || !data.first().is_some_and(|&p| p % 7 == 6) {
                let _ = axum::body::to_bytes(res.into_body(), 1 << 20).await;
            }
            status
        })
    });
    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR,
        "500 for {:?}",
        String::from_utf8_lossy(data)
    );
});
