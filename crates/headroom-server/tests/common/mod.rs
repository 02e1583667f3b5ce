//! Shared test helpers: a real server on loopback over a real backend, and a real client.

#![allow(dead_code)]

pub mod http;
pub mod mlx;
#[path = "../../../headroom-core/tests/real_parts/mod.rs"]
pub mod real_parts;

use headroom_core::engine::{start as start_engine, EngineHandle, EngineOptions};
use headroom_server::{ServeOptions, Server};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-token-0123456789";

/// A running server; dropping `stop` stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops in time")
            .expect("server task");
    }
}

/// Engine options with every file in `dir`.
pub fn engine_options(dir: &std::path::Path) -> EngineOptions {
    EngineOptions {
        config_path: dir.join("config.toml"),
        data_dir: dir.join("data"),
        runtime_dir: dir.join("run"),
    }
}

/// Starts the real engine (files in a temporary directory) and a server on a free loopback
/// port.
pub async fn start(token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<EngineHandle> = Arc::new(start_engine(engine_options(dir.path())));
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        token: token.map(str::to_owned),
        keep_alive: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = Server::bind(opts).await.expect("bind");
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let b = Arc::clone(&backend);
        server
            .run(backend, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        headroom_server::Backend::shutdown(&*b).await;
    });
    wait_for_sample(addr).await;
    Running {
        addr,
        stop: Some(tx),
        task,
        dir,
    }
}

async fn wait_for_sample(addr: SocketAddr) {
    for _ in 0..100 {
        let r = http::call(
            addr,
            "GET",
            "/api/snapshot",
            &[("authorization", &format!("Bearer {TOKEN}"))],
            None,
        )
        .await;
        if r.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no snapshot within 10 s");
}
