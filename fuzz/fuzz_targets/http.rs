//! `headroom serve`'s HTTP layer on arbitrary requests: the real router (security guard,
//! query parsing, body limit, JSON body decoding, size parsing, config validation) in front of
//! a fake engine that validates like the real one. No request panics or answers 500.
//!
//! Input: byte 0 picks the endpoint, byte 1 the header variant, the rest is the body (POST,
//! PUT) or the query string / path (GET).
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::stream::{BoxStream, StreamExt};
use headroom_core::config::validate_json;
use headroom_core::events::Event;
use headroom_core::Snapshot;
use headroom_server::{router, AppState, Backend, ConfigView, Feed, RuleGauge, ServeOptions};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// An engine that stores nothing and validates configuration like the real one.
struct Fake;

fn validate(doc: &Value) -> Result<Value, Vec<Value>> {
    match validate_json(doc) {
        Ok(c) => Ok(serde_json::to_value(c).unwrap_or(Value::Null)),
        Err(issues) => Err(issues
            .into_iter()
            .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
            .collect()),
    }
}

impl Backend for Fake {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        None
    }
    fn subscribe(&self) -> BoxStream<'static, Feed> {
        futures_util::stream::empty().boxed()
    }
    fn config(&self) -> ConfigView {
        ConfigView {
            config: json!({}),
            path: None,
            error: None,
            issues: Vec::new(),
        }
    }
    fn validate_config(&self, doc: &Value) -> Result<Value, Vec<Value>> {
        validate(doc)
    }
    async fn put_config(&self, doc: Value) -> Result<(), Vec<Value>> {
        validate(&doc).map(|_| ())
    }
    async fn history(&self, _since: Duration, _max_points: usize) -> Value {
        json!([])
    }
    async fn events(&self, _since: Option<Duration>, _limit: usize) -> Vec<Event> {
        Vec::new()
    }
    async fn clear_cache(&self, pids: Vec<u32>) -> Value {
        json!(pids)
    }
    async fn set_limit(&self, kind: &str, bytes: u64, pids: Vec<u32>) -> Result<Value, String> {
        match kind {
            "cache" | "memory" | "wired" => Ok(json!({"bytes": bytes, "pids": pids})),
            other => Err(format!("unknown kind {other:?}")),
        }
    }
    fn rule_states(&self) -> Vec<RuleGauge> {
        Vec::new()
    }
    fn status(&self) -> Value {
        json!({})
    }
    async fn shutdown(&self) {}
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
