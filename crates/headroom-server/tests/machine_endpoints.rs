//! The read-only answers about this machine against a real server: wired limit, fit, doctor,
//! top.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::http::{call, get};
use common::{start, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wired_limit_reports_this_machine() {
    let s = start(None).await;
    let r = get(s.addr, "/api/wired-limit").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let w = r.json();
    let physical = w["physical"].as_u64().unwrap();
    assert!(physical > 0, "{w}");
    assert_eq!(w["min_mb"], 1024, "{w}");
    assert!(w["resets_at_reboot"].as_str().unwrap().contains("reboot"));
    assert!(
        w["suggestion"]["reasoning"].as_array().unwrap().len() >= 2,
        "{w}"
    );
    if cfg!(target_os = "linux") {
        assert_eq!(w["supported"], false, "{w}");
        assert!(w["current_mb"].is_null(), "{w}");
    }
    // Read-only: setting it is not offered over HTTP.
    let put = call(s.addr, "POST", "/api/wired-limit", &[], None).await;
    assert_eq!(put.status, 405, "{}", put.text());
    let bad = get(s.addr, "/api/wired-limit?mb=4096").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("mb"));
    // Unknown paths list these endpoints too.
    let missing = get(s.addr, "/api/wired-limits").await.json();
    let list = missing["error"].as_str().unwrap();
    for names in headroom_core::ops::TABLE {
        if let Some((method, path)) = names.route {
            assert!(list.contains(&format!("{method} {path}")), "{list}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fit_estimates_70b_at_4_bits_and_names_bad_parameters() {
    let s = start(None).await;
    let r = get(s.addr, "/api/fit?params=70B&bits=4").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let f = r.json();
    assert_eq!(f["weights"], 35_000_000_000u64, "{f}");
    let (w, kv, o, t) = (
        f["weights"].as_u64().unwrap(),
        f["kv_cache"].as_u64().unwrap(),
        f["overhead"].as_u64().unwrap(),
        f["total"].as_u64().unwrap(),
    );
    assert_eq!(w + kv + o, t, "{f}");
    assert_eq!(f["context"], 8192);
    assert_eq!(f["kv_bits"], 16);
    assert!(
        ["fits", "fits_if", "does_not_fit"].contains(&f["verdict"].as_str().unwrap()),
        "{f}"
    );
    assert!(f["budget"]["physical"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(f["budget"]["has_wired_limit"], cfg!(target_os = "macos"));

    let shaped = get(
        s.addr,
        "/api/fit?params=7B&bits=8&context=4096&kv_bits=8&layers=32&kv_heads=8&head_dim=128",
    )
    .await
    .json();
    // 2 × 32 layers × 8 heads × 128 dims × 4096 tokens × 1 byte.
    assert_eq!(shaped["kv_cache"], 2 * 32 * 8 * 128 * 4096, "{shaped}");

    for (query, names, param) in [
        ("", "params", "params"),
        ("?params=lots", "params", "params"),
        ("?params=7B&bits=7", "bits", "bits"),
        ("?params=7B&bits=four", "bits", "bits"),
        ("?params=7B&kv_bits=3", "kv_bits", "kv_bits"),
        ("?params=7B&context=0", "context", "context"),
        ("?params=7B&layers=-2", "layers", "layers"),
        ("?params=7B&head_dim=0", "head_dim", "head_dim"),
        ("?params=7B&colour=red", "colour", "unknown"),
    ] {
        let r = get(s.addr, &format!("/api/fit{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let body = r.json();
        let e = body["error"].as_str().unwrap().to_owned();
        assert!(e.starts_with(names) || e.contains(names), "{query}: {e}");
        assert_eq!(body["param"], param, "{query}: {body}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_every_check_from_the_latest_snapshot() {
    let s = start(None).await;
    let r = get(s.addr, "/api/doctor").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json();
    assert!(
        ["healthy", "findings", "unknown"].contains(&d["status"].as_str().unwrap()),
        "{d}"
    );
    let ids: Vec<&str> = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "pressure", "{d}");
    assert!(
        ids.contains(&"wired_limit_low") && ids.contains(&"other_apps"),
        "{d}"
    );
    for f in d["findings"].as_array().unwrap() {
        assert!(f["title"].is_string() && f["action"].is_string(), "{f}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_lists_processes_by_footprint_and_checks_n() {
    let s = start(None).await;
    let r = get(s.addr, "/api/top?n=3").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 3, "{rows:?}");
    let sizes: Vec<u64> = rows
        .iter()
        .map(|r| r["footprint"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    for row in rows {
        assert!(row["name"].is_string(), "{row}");
        assert!(row["pid"].is_u64() || row["pids"].is_array(), "{row}");
    }
    assert_eq!(get(s.addr, "/api/top").await.status, 200);
    for bad in ["0", "1001", "ten"] {
        let r = get(s.addr, &format!("/api/top?n={bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].as_str().unwrap().starts_with("n:"));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_endpoints_pass_the_same_security_checks() {
    let s = start(Some(TOKEN)).await;
    for path in [
        "/api/wired-limit",
        "/api/fit?params=7B",
        "/api/doctor",
        "/api/top",
    ] {
        assert_eq!(get(s.addr, path).await.status, 401, "{path}");
        let bearer = format!("Bearer {TOKEN}");
        let ok = call(s.addr, "GET", path, &[("authorization", &bearer)], None).await;
        assert_eq!(ok.status, 200, "{path}: {}", ok.text());
        let foreign = call(
            s.addr,
            "GET",
            path,
            &[("authorization", &bearer), ("host", "evil.example:80")],
            None,
        )
        .await;
        assert_eq!(foreign.status, 403, "{path}: {}", foreign.text());
    }
    s.stop().await;
}
