//! A real server on loopback, real requests for every endpoint and every refusal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::http::{call, get, read_until, send_json, Conn};
use common::{start, TOKEN};
use headroom_server::{ServeOptions, Server};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_health_metrics_and_ui_answer() {
    let s = start(None).await;
    let r = get(s.addr, "/api/snapshot").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").starts_with("application/json"));
    let snap = r.json();
    assert!(snap["memory"]["total"].as_u64().unwrap_or(0) > 0, "{snap}");

    let h = get(s.addr, "/api/health").await.json();
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));

    let m = get(s.addr, "/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .starts_with("application/openmetrics-text"));
    assert!(
        m.text().contains("headroom_memory_total_bytes "),
        "{}",
        m.text()
    );

    let page = get(s.addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.text().contains("<html") || page.text().contains("<!doctype"));
    if !headroom_server::ui::UI_BUILT {
        // Built without ui/dist (clean clone, no Node): the placeholder says how to build it.
        assert!(page.text().contains("UI not built: run"), "{}", page.text());
    }
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(get(s.addr, "/no-such-file.js").await.status, 404);
    let missing = get(s.addr, "/api/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("/api/nope"));
    let wrong = call(s.addr, "DELETE", "/api/snapshot", &[], None).await;
    assert_eq!(wrong.status, 405, "{}", wrong.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_events_validate_their_parameters() {
    let s = start(None).await;
    for q in ["since=1h&max_points=10", "since=600", "since=10m"] {
        let r = get(s.addr, &format!("/api/history?{q}")).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert!(r.json().is_array(), "{q}: {}", r.text());
    }
    let r = get(s.addr, "/api/history?since=yesterday").await;
    assert_eq!(r.status, 400);
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(e.contains("since") && e.contains("yesterday"), "{e}");
    let r = get(s.addr, "/api/history?max_points=0").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("from 1 to"), "{}", r.text());
    let r = get(s.addr, "/api/history?sinse=1h").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("sinse"), "{}", r.text());

    let r = get(s.addr, "/api/events?since=1d&limit=5").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().is_array());
    let r = get(s.addr, "/api/events?limit=-1").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("\\\"-1\\\""), "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_get_put_and_dry_run() {
    let s = start(None).await;
    let cfg = get(s.addr, "/api/config").await;
    assert_eq!(cfg.status, 200);
    let view = cfg.json();
    for k in ["config", "path", "error"] {
        assert!(view.get(k).is_some(), "{k} missing: {view}");
    }
    let doc = view["config"].to_string();
    let r = send_json(s.addr, "PUT", "/api/config?dry_run=1", &doc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["valid"], true);

    let mut bad = view["config"].clone();
    bad["no_such_key"] = serde_json::json!(1);
    let r = send_json(s.addr, "PUT", "/api/config?dry_run=1", &bad.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let body = r.json();
    assert!(
        body["issues"].as_array().is_some_and(|i| !i.is_empty()),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("no_such_key"),
        "{body}"
    );

    let file = s.dir.path().join("config.toml");
    assert!(
        !file.exists(),
        "dry runs and refused documents write nothing"
    );
    let r = send_json(s.addr, "PUT", "/api/config", &bad.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!file.exists(), "an invalid document is not saved");
    let r = send_json(s.addr, "PUT", "/api/config", &doc).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let saved = r.json();
    assert_eq!(saved["saved"], true);
    assert_eq!(saved["path"], file.display().to_string());
    assert!(
        std::fs::metadata(&file).unwrap().len() > 0,
        "config file written"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_answer_and_validate() {
    let s = start(None).await;
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", r#"{"pids":[]}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send_json(
        s.addr,
        "POST",
        "/api/actions/limit",
        r#"{"kind":"cache","size":"64MiB","pids":[]}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send_json(
        s.addr,
        "POST",
        "/api/actions/limit",
        r#"{"kind":"bogus","bytes":1}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("bogus"), "{}", r.text());
    let r = send_json(s.addr, "POST", "/api/actions/limit", r#"{"kind":"cache"}"#).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("exactly one"), "{}", r.text());
    let r = send_json(
        s.addr,
        "POST",
        "/api/actions/limit",
        r#"{"kind":"cache","size":"lots"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("lots"), "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_naming_the_problem() {
    let s = start(None).await;
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", "{\"pids\": [1,").await;
    assert_eq!(r.status, 400);
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(e.contains("not valid JSON") && e.contains("line 1"), "{e}");
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", r#"{"pid":[1]}"#).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown field `pid`"), "{}", r.text());
    let r = send_json(
        s.addr,
        "POST",
        "/api/actions/clear-cache",
        r#"{"pids":["x"]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        s.addr,
        "POST",
        "/api/actions/clear-cache",
        &[("content-type", "text/plain")],
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(r.text().contains("application/json"), "{}", r.text());
    let big = format!("{{\"pids\":[{}1]}}", "1,".repeat(40_000));
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("65536"), "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_origin_are_checked() {
    let s = start(None).await;
    let r = call(
        s.addr,
        "GET",
        "/api/snapshot",
        &[("host", "evil.example:9178")],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("evil.example"), "{}", r.text());
    let port = s.addr.port();
    let localhost = format!("localhost:{port}");
    let r = call(
        s.addr,
        "GET",
        "/api/snapshot",
        &[("host", &localhost)],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(s.addr, "GET", "/api/snapshot", &[("host", "")], None).await;
    assert_eq!(r.status, 400, "missing Host: {}", r.text());

    let post = |origin: String| async move {
        call(
            s.addr,
            "POST",
            "/api/actions/clear-cache",
            &[("content-type", "application/json"), ("origin", &origin)],
            Some("{}"),
        )
        .await
    };
    let r = post("http://evil.example".into()).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("Origin"), "{}", r.text());
    assert_eq!(post("null".into()).await.status, 403);
    assert_eq!(post(format!("http://{localhost}")).await.status, 200);
    // A read from a foreign page is not refused by Origin (the browser does not let it read
    // the answer: no CORS headers are sent).
    let r = call(
        s.addr,
        "GET",
        "/api/snapshot",
        &[("origin", "http://evil.example")],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_everywhere_but_a_loopback_metrics_read() {
    let s = start(Some(TOKEN)).await;
    for path in [
        "/api/snapshot",
        "/",
        "/api/stream",
        "/api/health",
        "/api/config",
    ] {
        let r = get(s.addr, path).await;
        assert_eq!(r.status, 401, "{path}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("missing token"));
        assert_eq!(r.header("www-authenticate"), "Bearer realm=\"headroom\"");
    }
    // A local Prometheus scrapes without credentials.
    let r = get(s.addr, "/metrics").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("headroom_build_info"));
    let wrong = call(
        s.addr,
        "GET",
        "/api/snapshot",
        &[("authorization", "Bearer nope")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("wrong token"));
    let bearer = format!("Bearer {TOKEN}");
    let r = call(
        s.addr,
        "GET",
        "/api/health",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", "{}").await;
    assert_eq!(r.status, 401);
    // A page load with ?token= works and sets the cookie the page's own requests then carry.
    let page = get(s.addr, &format!("/?token={TOKEN}")).await;
    assert_eq!(page.status, 200);
    let cookie = page.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let jar = cookie.split(';').next().unwrap().to_owned();
    let r = call(s.addr, "GET", "/api/snapshot", &[("cookie", &jar)], None).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_loopback_without_token_is_refused() {
    let opts = ServeOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..ServeOptions::default()
    };
    let e = Server::bind(opts).await.err().expect("refused").to_string();
    assert!(e.contains("0.0.0.0:0") && e.contains("--token"), "{e}");
    let opts = ServeOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        token: Some(TOKEN.into()),
        ..ServeOptions::default()
    };
    assert!(Server::bind(opts).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_snapshots_and_keep_alives_then_ends_on_shutdown() {
    let s = start(Some(TOKEN)).await;
    let mut conn = Conn::open(s.addr).await;
    let path = format!("/api/stream?token={TOKEN}");
    let resp = conn.start("GET", &path, &[], None).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "text/event-stream");
    let mut body = resp.into_body();
    let text = read_until(&mut body, Duration::from_secs(15), |t| {
        t.matches("event: snapshot").count() >= 3 && t.contains("\n:")
    })
    .await;
    assert!(text.matches("event: snapshot").count() >= 3, "{text}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let snap: serde_json::Value = serde_json::from_str(data).expect("snapshot JSON");
    assert!(snap["memory"]["total"].as_u64().is_some());
    assert!(text.contains("\n:"), "keep-alive comment expected: {text}");
    // Stopping the server ends the stream (no hang in graceful shutdown).
    s.stop().await;
    let rest = read_until(&mut body, Duration::from_secs(5), |_| false).await;
    let _ = rest;
}

/// Polls `/api/snapshot` until the process `pid` shows as attached with a cache reading.
async fn wait_attached(addr: std::net::SocketAddr, pid: u32) -> serde_json::Value {
    for _ in 0..120 {
        let snap = get(addr, "/api/snapshot").await.json();
        let found = snap["mlx"].as_array().and_then(|a| {
            a.iter()
                .find(|p| p["pid"] == pid && p["attached"] == true && p["cache"].is_u64())
                .cloned()
        });
        if let Some(p) = found {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("pid {pid} never showed as attached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_work_on_a_real_mlx_process_and_reach_the_stream_and_metrics() {
    let Some(py) = common::mlx::venv_python("actions_work_on_a_real_mlx_process") else {
        return;
    };
    let s = start(None).await;
    let mut w = common::mlx::Workload::start(&py, &s.dir.path().join("run"), "64MiB");
    let before = w.cache();
    assert!(before >= 60 << 20, "workload cache {before}");
    let p = wait_attached(s.addr, w.pid).await;
    assert!(p["cache"].as_u64().unwrap() >= 60 << 20, "{p}");
    let metrics = get(s.addr, "/metrics").await.text();
    let label = format!("headroom_mlx_cache_bytes{{pid=\"{}\"", w.pid);
    assert!(metrics.contains(&label), "{metrics}");
    assert!(metrics.contains("headroom_agents_attached 1"), "{metrics}");

    let mut conn = Conn::open(s.addr).await;
    let mut stream = conn
        .start("GET", "/api/stream", &[], None)
        .await
        .into_body();
    let body = format!("{{\"pids\":[{}]}}", w.pid);
    let r = send_json(s.addr, "POST", "/api/actions/clear-cache", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["succeeded"], 1, "{out}");
    assert!(out["freed"].as_u64().unwrap() >= 60 << 20, "{out}");
    assert_eq!(w.cache(), 0, "the process's own reading after clear-cache");
    let text = read_until(&mut stream, Duration::from_secs(10), |t| {
        t.contains("event: journal") && t.contains("action_taken")
    })
    .await;
    assert!(text.contains("\"type\":\"action_taken\""), "{text}");

    let body = format!(
        "{{\"kind\":\"cache\",\"size\":\"32MiB\",\"pids\":[{}]}}",
        w.pid
    );
    let r = send_json(s.addr, "POST", "/api/actions/limit", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["succeeded"], 1, "{out}");
    assert_eq!(out["outcomes"][0]["current"], 32u64 << 20, "{out}");
    let events = get(s.addr, "/api/events?since=1h").await.json();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"]["type"].as_str())
        .collect();
    assert!(kinds.contains(&"action_taken"), "{events}");
    assert!(kinds.contains(&"agent_attached"), "{events}");
    let metrics = get(s.addr, "/metrics").await.text();
    assert!(
        metrics.contains("headroom_journal_events_total{kind=\"action_taken\",severity=\"info\"}"),
        "{metrics}"
    );
    s.stop().await;
}
