//! `/metrics` scraped by a real Prometheus and checked by `promtool check metrics`.
//!
//! Needs Debian's `prometheus` package (`/usr/bin/prometheus`, `/usr/bin/promtool`); without
//! it the tests print SKIPPED loudly, and fail under `HEADROOM_E2E_REQUIRED=1` (scripts/setup.sh
//! installs it; scripts/test.sh sets that).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::http::{call, free_port, get};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tool(name: &str) -> Option<String> {
    let path = format!("/usr/bin/{name}");
    if Path::new(&path).exists() {
        Some(path)
    } else {
        common::real_parts::missing(
            "prometheus scrape",
            &format!("{path} not installed (apt-get install prometheus)"),
        );
        None
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(bin: &str, dir: &Path, target: SocketAddr) -> (KillOnDrop, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: headroom\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    \
             authorization:\n      type: Bearer\n      credentials: {token}\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            token = common::TOKEN
        ),
    )
    .expect("config");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    (KillOnDrop(child), addr)
}

async fn query(prom: SocketAddr, promql: &str) -> Option<serde_json::Value> {
    let q: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let conn = tokio::net::TcpStream::connect(prom).await.ok()?;
    drop(conn);
    let r = get(prom, &format!("/api/v1/query?query={q}")).await;
    serde_json::from_slice(&r.body).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_metrics() {
    let Some(bin) = tool("prometheus") else {
        return;
    };
    // With a token, as a remote Prometheus would scrape (deploy/prometheus.yml).
    let s = common::start(Some(common::TOKEN)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_prom, prom) = start_prometheus(&bin, dir.path(), s.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(v) = query(prom, "headroom_memory_total_bytes").await {
            let value = v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned);
            if let Some(total) = value.and_then(|t| t.parse::<f64>().ok()) {
                let bearer = format!("Bearer {}", common::TOKEN);
                let snap = call(
                    s.addr,
                    "GET",
                    "/api/snapshot",
                    &[("authorization", &bearer)],
                    None,
                )
                .await
                .json();
                assert_eq!(Some(total as u64), snap["memory"]["total"].as_u64());
                check_dashboard_queries(prom).await;
                s.stop().await;
                return;
            }
            last = Some(v);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    panic!("Prometheus never stored headroom_memory_total_bytes; last answer {last:?}\n{log}");
}

/// Every query of `deploy/grafana-dashboard.json` is valid PromQL and the core ones have data.
async fn check_dashboard_queries(prom: SocketAddr) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana-dashboard.json"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let panels = dash["panels"].as_array().expect("panels");
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr").replace("$instance", ".*");
            let v = query(prom, &expr).await.expect("answer");
            assert_eq!(v["status"], "success", "{expr}: {v}");
        }
    }
    let v = query(prom, "headroom_pressure_level")
        .await
        .expect("answer");
    assert!(
        !v["data"]["result"].as_array().expect("result").is_empty(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_check_metrics_is_clean() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let s = common::start(None).await;
    // Let a journal entry or two and a second sample arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = call(s.addr, "GET", "/metrics", &[], None).await;
    assert_eq!(r.status, 200);
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&r.body)
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool failed:\n{report}\n---\n{}",
        r.text()
    );
    assert!(report.trim().is_empty(), "promtool findings:\n{report}");
    s.stop().await;
}
