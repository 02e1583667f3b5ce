//! `headroom serve`: the engine over HTTP on loopback.
//!
//! - JSON API under `/api` ([`api`]), live Server-Sent Events at `/api/stream` ([`stream`]),
//!   Prometheus text at `/metrics` ([`metrics`]) and the embedded web UI at `/` ([`ui`]).
//! - Every request passes [`security::guard`]: method, `Host` check, the per-user secret
//!   ([`secret`]) unless the request is a loopback `GET /metrics`, `Origin` check on writes;
//!   bodies are limited to [`ServeOptions::body_limit`].
//! - Connections are accepted by [`transport`]: timeouts, a connection cap below the
//!   open-file limit, and writes that cannot raise SIGPIPE.
//! - The server is written against [`Backend`]; `headroom_core`'s engine implements it.
#![deny(missing_docs)]

pub mod api;
pub mod backend;
pub mod metrics;
pub mod options;
pub mod secret;
pub mod security;
pub mod service;
pub mod stream;
pub mod transport;
pub mod ui;

pub use backend::{Backend, Feed, RuleGauge};
pub use options::{ConnLimits, OptionsError, ServeOptions, DEFAULT_LISTEN, DEFAULT_PORT};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long open requests may take to finish once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every handler sees.
pub struct AppState<B> {
    /// The engine.
    pub backend: Arc<B>,
    /// Journal counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Largest request body, in bytes (for error messages).
    pub body_limit: usize,
    /// SSE keep-alive interval.
    pub keep_alive: Duration,
    /// Becomes `true` when the server stops (ends SSE streams).
    pub stop: watch::Receiver<bool>,
    /// When the server started.
    pub started: Instant,
}

impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            metrics: self.metrics.clone(),
            body_limit: self.body_limit,
            keep_alive: self.keep_alive,
            stop: self.stop.clone(),
            started: self.started,
        }
    }
}

async fn metrics_handler<B: Backend>(State(s): State<AppState<B>>) -> impl IntoResponse {
    let snap = s.backend.latest();
    let body = s
        .metrics
        .render(snap.as_deref(), &backend::rule_gauges(&*s.backend));
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body)
}

/// The complete application: routes, body limit and security checks.
pub fn router<B: Backend>(state: AppState<B>, opts: &ServeOptions) -> Router {
    let guard = Arc::new(security::Guard {
        token: opts.token.clone(),
        hosts: opts.host_policy(),
    });
    let api = api::routes::<B>()
        .route(
            headroom_core::ops::Op::Stream.api_path(),
            get(stream::stream::<B>),
        )
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    Router::new()
        .nest("/api", api)
        .route("/metrics", get(metrics_handler::<B>))
        .fallback(ui::serve_asset)
        .layer(DefaultBodyLimit::max(opts.body_limit))
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
        .with_state(state)
}

/// Why the server could not start or stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    /// The options were refused (see [`ServeOptions::validate`]).
    Options(OptionsError),
    /// The address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The server failed while running.
    Io(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Options(e) => write!(f, "{e}"),
            Self::Bind(addr, e) if e.kind() == std::io::ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {addr}: the address is in use (another `headroom serve`?); \
                 stop it or choose another port with --listen 127.0.0.1:<port>"
            ),
            Self::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            Self::Io(e) => write!(f, "server error: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    opts: ServeOptions,
}

impl Server {
    /// Validates the options, raises the soft open-file limit where allowed, lowers the
    /// connection cap below it, and binds the address (port 0 picks a free one).
    pub async fn bind(opts: ServeOptions) -> Result<Self, ServeError> {
        opts.validate().map_err(ServeError::Options)?;
        let mut limits = opts.limits;
        limits.max_connections =
            transport::connection_cap(limits.max_connections, transport::raise_open_file_limit());
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|e| ServeError::Bind(opts.listen, e))?;
        let listen = listener.local_addr().map_err(ServeError::Io)?;
        Ok(Self {
            listener,
            opts: ServeOptions {
                listen,
                limits,
                ..opts
            },
        })
    }

    /// The connection limits in force (the cap as lowered for the open-file limit).
    pub fn limits(&self) -> ConnLimits {
        self.opts.limits
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.opts.listen
    }

    /// Serves until `shutdown` completes, then ends open streams and returns. The caller
    /// shuts the engine down afterwards (history flush).
    pub async fn run<B: Backend>(
        self,
        backend: Arc<B>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (stop_tx, stop) = watch::channel(false);
        let state = AppState {
            metrics: metrics::Metrics::default(),
            backend: Arc::clone(&backend),
            body_limit: self.opts.body_limit,
            keep_alive: self.opts.keep_alive,
            stop,
            started: Instant::now(),
        };
        let counter = tokio::spawn(
            state
                .metrics
                .clone()
                .count_journal(backend::feed(&*backend)),
        );
        let app = router(state, &self.opts);
        let stop = stop_tx.subscribe();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        transport::serve(self.listener, app, self.opts.limits, stop, SHUTDOWN_GRACE).await;
        counter.abort();
        Ok(())
    }
}
