//! `cargo bench -p headroom-server`: latency of `/metrics` and `/api/snapshot` with 8 real MLX
//! agents attached, against node_exporter's meminfo + pressure + vmstat collectors, in one run.
//!
//! Each target gets the same client (one keep-alive HTTP/1.1 connection over loopback),
//! requests alternate between targets in rounds so drift affects them alike, and a table of
//! p50 / p99 / mean / response size is printed. Missing pieces (the Python venv with MLX, the
//! node_exporter binary) are reported and their rows left out; nothing is faked.
//! `HEADROOM_BENCH_N` sets the requests per target (default 2000).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

#[path = "../tests/common/http.rs"]
mod http;

use headroom_core::engine::{start, EngineOptions};
use headroom_server::{ServeOptions, Server};
use http::{free_port, Conn};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGENTS: usize = 8;

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts `n` real MLX processes with the agent, each holding a 16 MiB cache.
fn spawn_agents(n: usize) -> Result<Children, String> {
    let python = repo().join(".venv/bin/python");
    let script = repo().join("agent/tests/workloads/cache_builder.py");
    if !python.exists() || !script.exists() {
        return Err(format!(
            "{} or {} missing (scripts/setup.sh creates the venv)",
            python.display(),
            script.display()
        ));
    }
    let mut kids = Children(Vec::new());
    for _ in 0..n {
        let child = Command::new(&python)
            .args(["-m", "headroom_agent", "run"])
            .arg(&script)
            .arg("16MiB")
            .current_dir(repo().join("agent"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        kids.0.push(child);
    }
    for c in &mut kids.0 {
        let Some(out) = c.stdout.as_mut() else {
            return Err("no stdout".into());
        };
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if !line.starts_with("READY") {
            return Err(format!("agent workload did not start: {line:?}"));
        }
    }
    Ok(kids)
}

fn spawn_node_exporter(port: u16) -> Result<Children, String> {
    let bin = "/usr/bin/prometheus-node-exporter";
    if !Path::new(bin).exists() {
        return Err(format!(
            "{bin} not installed (apt-get install prometheus-node-exporter)"
        ));
    }
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args([
            "--collector.disable-defaults",
            "--collector.meminfo",
            "--collector.pressure",
            "--collector.vmstat",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}"))?;
    Ok(Children(vec![child]))
}

async fn wait_until(addr: SocketAddr, path: &str, ok: impl Fn(&http::Resp) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut c) =
            tokio::time::timeout(Duration::from_secs(2), Conn::open_checked(addr)).await
        {
            if let Some(c) = c.as_mut() {
                let r = c.send("GET", path, &[], None).await;
                if r.status == 200 && ok(&r) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

struct Target {
    label: &'static str,
    conn: Conn,
    path: &'static str,
    micros: Vec<f64>,
    bytes: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(targets: &mut [Target], n: usize) {
    for t in targets.iter_mut() {
        for _ in 0..100 {
            let _ = t.conn.send("GET", t.path, &[], None).await;
        }
    }
    let rounds = 10;
    for _ in 0..rounds {
        for t in targets.iter_mut() {
            for _ in 0..n / rounds {
                let start = Instant::now();
                let r = t.conn.send("GET", t.path, &[], None).await;
                t.micros.push(start.elapsed().as_secs_f64() * 1e6);
                assert_eq!(r.status, 200, "{} {}", t.label, t.path);
                t.bytes = r.body.len();
            }
        }
    }
}

fn print_table(targets: &mut [Target], agents: &str) {
    println!();
    println!("HTTP latency over one keep-alive loopback connection; agents: {agents}");
    println!(
        "{:<34} {:>8} {:>10} {:>10} {:>10} {:>9}",
        "target", "requests", "p50 µs", "p99 µs", "mean µs", "bytes"
    );
    for t in targets.iter_mut() {
        t.micros.sort_by(f64::total_cmp);
        let mean = t.micros.iter().sum::<f64>() / t.micros.len().max(1) as f64;
        println!(
            "{:<34} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>9}",
            format!("{} {}", t.label, t.path),
            t.micros.len(),
            percentile(&t.micros, 0.50),
            percentile(&t.micros, 0.99),
            mean,
            t.bytes
        );
    }
}

fn main() {
    let n: usize = std::env::var("HEADROOM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(n));
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var("HEADROOM_RUNTIME_DIR", dir.path().join("run"));
    std::env::set_var("HEADROOM_DATA_DIR", dir.path().join("data"));
    std::env::set_var("HEADROOM_CONFIG", dir.path().join("config.toml"));
    std::fs::create_dir_all(dir.path().join("run")).expect("runtime dir");
    let (agents, agent_note) = match spawn_agents(AGENTS) {
        Ok(kids) => (
            Some(kids),
            format!("{AGENTS} real MLX processes with headroom_agent"),
        ),
        Err(e) => {
            eprintln!("NOTE: running without agents: {e}");
            (None, format!("none ({e})"))
        }
    };
    let engine = Arc::new(start(EngineOptions::from_env()));
    let server = Server::bind(ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..ServeOptions::default()
    })
    .await
    .expect("bind");
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(Arc::clone(&engine), async {
        let _ = stop_rx.await;
    }));
    let want = if agents.is_some() { AGENTS } else { 0 };
    let attached = wait_until(addr, "/api/snapshot", |r| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let n = v["mlx"]
            .as_array()
            .map(|a| a.iter().filter(|p| p["attached"] == true).count())
            .unwrap_or(0);
        n >= want
    })
    .await;
    assert!(attached, "{want} agents never showed as attached");

    let mut targets = vec![
        Target {
            label: "headroom",
            conn: Conn::open(addr).await,
            path: "/metrics",
            micros: vec![],
            bytes: 0,
        },
        Target {
            label: "headroom",
            conn: Conn::open(addr).await,
            path: "/api/snapshot",
            micros: vec![],
            bytes: 0,
        },
    ];
    let node_port = free_port();
    let node = match spawn_node_exporter(node_port) {
        Ok(kids) => {
            let naddr: SocketAddr = format!("127.0.0.1:{node_port}").parse().expect("addr");
            if wait_until(naddr, "/metrics", |_| true).await {
                targets.push(Target {
                    label: "node_exporter",
                    conn: Conn::open(naddr).await,
                    path: "/metrics",
                    micros: vec![],
                    bytes: 0,
                });
            }
            Some(kids)
        }
        Err(e) => {
            eprintln!("NOTE: no node_exporter row: {e}");
            None
        }
    };
    measure(&mut targets, n).await;
    print_table(&mut targets, &agent_note);
    let _ = stop_tx.send(());
    let _ = serving.await;
    engine.shutdown().await;
    drop(node);
    drop(agents);
}
