//! The app's issue-7 commands (src/insights.rs) against a fake engine: the same answers and
//! messages as `headroom serve`, and setting the wired limit validated first and refused where
//! the sysctl does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_app::backend::{Backend, BoxFuture, CommandError, Feed};
use headroom_app::insights::{self, FitArgs, NOT_AVAILABLE};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::{Config, LoadedConfig};
use headroom_core::events::Event;
use headroom_core::snapshot::{Platform, PressureLevel};
use headroom_core::Snapshot;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const GIB: u64 = 1 << 30;

struct Fake {
    latest: Option<Arc<Snapshot>>,
    config: Config,
    tx: broadcast::Sender<Feed>,
}

impl Fake {
    fn new(latest: Option<Snapshot>) -> Self {
        Self {
            latest: latest.map(Arc::new),
            config: Config::default(),
            tx: broadcast::channel(4).0,
        }
    }
}

impl Backend for Fake {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.clone()
    }
    fn subscribe(&self) -> broadcast::Receiver<Feed> {
        self.tx.subscribe()
    }
    fn config(&self) -> LoadedConfig {
        LoadedConfig {
            config: self.config.clone(),
            path: "/tmp/headroom-test/config.toml".into(),
            error: None,
            issues: Vec::new(),
            suggested_policy: None,
        }
    }
    fn put_config(&self, _: Value, _: bool) -> BoxFuture<'_, Result<Value, CommandError>> {
        Box::pin(async { Err(CommandError::bad_request("not here")) })
    }
    fn history(&self, _: Duration) -> BoxFuture<'_, Result<Value, CommandError>> {
        Box::pin(async {
            Ok(json!([
                {"t": 0, "samples": 1, "compressed": 1_000_000},
                {"t": 700_000, "samples": 1, "compressed": 2_000_000}
            ]))
        })
    }
    fn events(&self) -> BoxFuture<'_, Result<Vec<Event>, CommandError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn clear_cache(&self, _: Vec<u32>) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn set_limit(
        &self,
        _: LimitKind,
        _: u64,
        _: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn linux(total: u64) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Linux, chrono::Utc::now());
    s.memory.total = Some(total);
    s.memory.available = Some(total / 2);
    s.pressure.level = Some(PressureLevel::Normal);
    s
}

/// A 64 GB Mac with the macOS default in force.
fn mac() -> Snapshot {
    let mut s = Snapshot::empty(Platform::Macos, chrono::Utc::now());
    s.memory.total = Some(64 * GIB);
    s.memory.available = Some(40 * GIB);
    s.gpu.wired_limit = Some(0);
    s.pressure.level = Some(PressureLevel::Normal);
    s
}

#[test]
fn wired_limit_is_read_from_the_snapshot_and_the_configuration() {
    let l = insights::wired_limit(&Fake::new(Some(linux(16 * GIB)))).unwrap();
    assert!(!l.supported);
    assert_eq!(l.physical, Some(16 * GIB));
    assert_eq!(l.max_mb, Some(12 * 1024));
    let mut fake = Fake::new(Some(mac()));
    fake.config.wired_limit.value_mb = Some(49152);
    let m = insights::wired_limit(&fake).unwrap();
    assert!(m.supported);
    assert_eq!(m.current_mb, Some(0));
    assert_eq!(m.configured_mb, Some(49152));
    assert_eq!(m.suggestion.map(|s| s.mb), Some(49152));
    let none = insights::wired_limit(&Fake::new(None)).unwrap_err();
    assert_eq!(none.status, 503);
}

#[test]
fn sizes_are_checked_with_the_engines_messages() {
    let fake = Fake::new(Some(mac()));
    assert_eq!(insights::check(&fake, "48GB").unwrap(), 49152);
    assert_eq!(insights::check(&fake, "49152").unwrap(), 49152);
    for bad in ["48", "abc", "100GB", "-1"] {
        let e = insights::check(&fake, bad).unwrap_err();
        assert_eq!(e.status, 400, "{bad}");
        assert!(!e.error.is_empty(), "{bad}");
    }
    // Validation works everywhere; setting does not.
    assert_eq!(
        insights::check(&Fake::new(Some(linux(16 * GIB))), "8GB").unwrap(),
        8192
    );
}

#[test]
fn setting_is_validated_first_and_refused_without_the_sysctl() {
    let lin = Fake::new(Some(linux(16 * GIB)));
    for mb in [0, 8192] {
        let e = insights::checked_for_set(&lin, mb).unwrap_err();
        assert_eq!(e.error, NOT_AVAILABLE);
        assert_eq!(e.status, 400);
    }
    let mac = Fake::new(Some(mac()));
    assert_eq!(insights::checked_for_set(&mac, 0).unwrap().get(), 0);
    assert_eq!(insights::checked_for_set(&mac, 49152).unwrap().get(), 49152);
    let e = insights::checked_for_set(&mac, 64 * 1024).unwrap_err();
    assert!(e.error.contains("65536 MB"), "{}", e.error);
    let e = insights::checked_for_set(&mac, 100).unwrap_err();
    assert!(e.error.contains("100"), "{}", e.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fit_answers_like_serve() {
    let fake = Fake::new(Some(mac()));
    let args = FitArgs {
        params: "70B".into(),
        bits: Some(4),
        ..FitArgs::default()
    };
    let r = insights::fit_here(&fake, &args).await.unwrap();
    assert_eq!(r.estimate.weights, 35_000_000_000);
    assert_eq!(r.estimate.context, 8192);
    assert_eq!(r.budget.physical, Some(64 * GIB));
    assert_eq!(
        r.estimate.weights + r.estimate.kv_cache + r.estimate.overhead,
        r.estimate.total
    );
    for (args, name) in [
        (FitArgs::default(), "params:"),
        (
            FitArgs {
                params: "7B".into(),
                bits: Some(7),
                ..FitArgs::default()
            },
            "bits:",
        ),
        (
            FitArgs {
                params: "7B".into(),
                context: Some(0),
                ..FitArgs::default()
            },
            "context:",
        ),
    ] {
        let e = insights::fit_here(&fake, &args).await.unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.error.starts_with(name), "{}", e.error);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_top_answer_on_request() {
    let mut s = linux(16 * GIB);
    s.pressure.level = Some(PressureLevel::Critical);
    let report = insights::doctor(&Fake::new(Some(s.clone()))).await.unwrap();
    assert_eq!(report.status, "findings");
    assert_eq!(report.findings[0].id, "pressure");
    let line = insights::menu_finding_line(&s).unwrap();
    assert!(line.contains("Memory pressure is critical"), "{line}");
    assert_eq!(insights::menu_finding_line(&linux(16 * GIB)), None);

    let rows = insights::top_rows(Some(3)).await.unwrap();
    assert!(!rows.is_empty() && rows.len() <= 3);
    assert_eq!(insights::top_rows(Some(0)).await.unwrap_err().status, 400);
    assert_eq!(
        insights::top_rows(Some(1001)).await.unwrap_err().status,
        400
    );
}

/// The commands through Tauri's IPC on the mock runtime, with the UI's camelCase arguments.
mod ipc {
    use super::*;
    use headroom_app::state::AppState;
    use std::time::Instant;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindowBuilder;

    struct Harness {
        _app: tauri::App<tauri::test::MockRuntime>,
        window: tauri::WebviewWindow<tauri::test::MockRuntime>,
    }

    fn harness(latest: Snapshot) -> Harness {
        let state = AppState::new(Arc::new(Fake::new(Some(latest))), Instant::now());
        let app = mock_builder()
            .invoke_handler(tauri::generate_handler![
                insights::get_wired_limit,
                insights::get_fit,
                insights::get_doctor,
                insights::get_top,
                insights::check_wired_limit,
                insights::set_wired_limit,
            ])
            .manage(state)
            .build(mock_context(noop_assets()))
            .unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Harness { _app: app, window }
    }

    impl Harness {
        fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
            let request = InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            };
            get_ipc_response(&self.window, request).map(|b| b.deserialize::<Value>().unwrap())
        }
    }

    #[test]
    fn the_uis_arguments_reach_the_commands() {
        let h = harness(linux(16 * GIB));
        let w = h.invoke("get_wired_limit", json!({})).unwrap();
        assert_eq!(w["supported"], false);
        assert_eq!(w["physical"], json!(16 * GIB));
        let f = h
            .invoke(
                "get_fit",
                json!({"params": "7B", "bits": 8, "context": 4096, "kvBits": 8,
                       "layers": 32, "kvHeads": 8, "headDim": 128}),
            )
            .unwrap();
        assert_eq!(f["weights"], json!(7_000_000_000u64));
        assert_eq!(f["kv_cache"], json!(2 * 32 * 8 * 128 * 4096));
        let e = h
            .invoke("get_fit", json!({"params": "7B", "kvBits": 3}))
            .unwrap_err();
        assert_eq!(e["status"], 400);
        assert!(e["error"].as_str().unwrap().starts_with("kv_bits:"), "{e}");
        let top = h.invoke("get_top", json!({"n": 2})).unwrap();
        assert!(top.as_array().unwrap().len() <= 2);
        let d = h.invoke("get_doctor", json!({})).unwrap();
        assert!(d["checks"].as_array().unwrap().len() >= 7, "{d}");
        assert_eq!(
            h.invoke("check_wired_limit", json!({"size": "8GB"}))
                .unwrap(),
            json!(8192)
        );
        let e = h
            .invoke("check_wired_limit", json!({"size": "8"}))
            .unwrap_err();
        assert_eq!(e["status"], 400);
        let e = h
            .invoke("set_wired_limit", json!({"mb": 8192}))
            .unwrap_err();
        assert_eq!(e["error"], NOT_AVAILABLE);
    }
}
