//! The UI's commands through Tauri's IPC, on the mock runtime (`tauri::test`), against a
//! fake engine that records what it was asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_app::backend::{Backend, BoxFuture, CommandError, Feed};
use headroom_app::engine::config_error;
use headroom_app::state::AppState;
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::config::{validate_json, Config, LoadedConfig};
use headroom_core::events::Event;
use headroom_core::snapshot::{Platform, PressureLevel};
use headroom_core::Snapshot;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};
use tokio::sync::broadcast;

struct Fake {
    latest: Option<Arc<Snapshot>>,
    calls: Mutex<Vec<String>>,
    tx: broadcast::Sender<Feed>,
}

impl Fake {
    fn new(latest: Option<Snapshot>) -> Arc<Self> {
        Arc::new(Self {
            latest: latest.map(Arc::new),
            calls: Mutex::new(Vec::new()),
            tx: broadcast::channel(4).0,
        })
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn outcomes(freed: Option<u64>) -> Vec<ActionOutcome> {
        vec![ActionOutcome {
            pid: 41,
            name: "python3".into(),
            ok: true,
            freed,
            previous: None,
            current: None,
            error: None,
        }]
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
            config: Config::default(),
            path: "/tmp/headroom-test/config.toml".into(),
            error: None,
            issues: Vec::new(),
            suggested_policy: None,
        }
    }
    fn put_config(&self, doc: Value, dry_run: bool) -> BoxFuture<'_, Result<Value, CommandError>> {
        self.record(format!("put_config dry_run={dry_run}"));
        Box::pin(async move {
            let c = validate_json(&doc).map_err(|i| config_error(&i))?;
            Ok(json!({"valid": dry_run, "config": c}))
        })
    }
    fn history(&self, since: Duration) -> BoxFuture<'_, Result<Value, CommandError>> {
        self.record(format!("history {}", since.as_secs()));
        Box::pin(async { Ok(json!([{"t": 1}])) })
    }
    fn events(&self) -> BoxFuture<'_, Result<Vec<Event>, CommandError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn clear_cache(
        &self,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        self.record(format!("clear_cache {pids:?}"));
        Box::pin(async { Ok(Fake::outcomes(Some(2 << 30))) })
    }
    fn set_limit(
        &self,
        kind: LimitKind,
        bytes: u64,
        pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<Vec<ActionOutcome>, CommandError>> {
        self.record(format!("set_limit {} {bytes} {pids:?}", kind.word()));
        Box::pin(async { Ok(Fake::outcomes(None)) })
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::empty(Platform::Macos, chrono::Utc::now());
    s.memory.total = Some(16 << 30);
    s.memory.used = Some(10 << 30);
    s.pressure.level = Some(PressureLevel::Warn);
    s
}

struct Harness {
    _app: tauri::App<tauri::test::MockRuntime>,
    window: WebviewWindow<tauri::test::MockRuntime>,
    fake: Arc<Fake>,
    changed: Arc<tokio::sync::Notify>,
}

fn harness(latest: Option<Snapshot>) -> Harness {
    let fake = Fake::new(latest);
    let state = AppState::new(fake.clone(), Instant::now());
    let changed = state.settings_changed.clone();
    let app = headroom_app::with_commands(mock_builder())
        .manage(state)
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Harness {
        _app: app,
        window,
        fake,
        changed,
    }
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

    fn calls(&self) -> Vec<String> {
        self.fake.calls.lock().unwrap().clone()
    }

    /// Whether the settings were signalled as changed (consumes the signal).
    fn settings_signalled(&self) -> bool {
        let changed = self.changed.clone();
        tauri::async_runtime::block_on(async move {
            tokio::time::timeout(Duration::from_millis(20), changed.notified())
                .await
                .is_ok()
        })
    }
}

#[test]
fn get_snapshot_returns_the_latest_sample_or_503() {
    let h = harness(Some(snapshot()));
    let s = h.invoke("get_snapshot", json!({})).unwrap();
    assert_eq!(s["memory"]["total"], json!(16u64 << 30));
    assert_eq!(s["pressure"]["level"], "warn");
    assert_eq!(
        h._app
            .state::<AppState>()
            .backend
            .latest()
            .unwrap()
            .memory
            .used,
        Some(10 << 30)
    );

    let h = harness(None);
    let e = h.invoke("get_snapshot", json!({})).unwrap_err();
    assert_eq!(e, json!({"error": "no sample taken yet", "status": 503}));
}

#[test]
fn get_history_checks_since_and_passes_it_on() {
    let h = harness(Some(snapshot()));
    assert_eq!(
        h.invoke("get_history", json!({"since": 600})).unwrap(),
        json!([{"t": 1}])
    );
    assert_eq!(
        h.invoke("get_history", json!({})).unwrap(),
        json!([{"t": 1}])
    );
    let e = h.invoke("get_history", json!({"since": 0})).unwrap_err();
    assert_eq!(e["status"], 400);
    assert!(
        e["error"].as_str().unwrap().contains("invalid since 0"),
        "{e}"
    );
    assert_eq!(h.calls(), vec!["history 600", "history 3600"]);
}

#[test]
fn get_config_and_events() {
    let h = harness(Some(snapshot()));
    let c = h.invoke("get_config", json!({})).unwrap();
    assert_eq!(c["config"]["app"]["title"], "used_percent");
    assert_eq!(c["path"], "/tmp/headroom-test/config.toml");
    assert!(c["error"].is_null());
    assert_eq!(h.invoke("get_events", json!({})).unwrap(), json!([]));
}

#[test]
fn put_config_saves_valid_documents_and_applies_the_settings() {
    let h = harness(Some(snapshot()));
    let mut doc = serde_json::to_value(Config::default()).unwrap();
    doc["app"]["title"] = json!("free_gb");
    let saved = h
        .invoke("put_config", json!({"config": doc, "dryRun": true}))
        .unwrap();
    assert_eq!(saved["config"]["app"]["title"], "free_gb");
    assert!(!h.settings_signalled(), "a dry run applies nothing");
    h.invoke("put_config", json!({"config": doc})).unwrap();
    assert!(h.settings_signalled());
    assert_eq!(
        h.calls(),
        vec!["put_config dry_run=true", "put_config dry_run=false"]
    );
}

#[test]
fn put_config_rejects_bad_documents_with_the_engine_messages() {
    let h = harness(Some(snapshot()));
    let mut doc = serde_json::to_value(Config::default()).unwrap();
    doc["app"]["title"] = json!("gigabytes");
    let e = h.invoke("put_config", json!({"config": doc})).unwrap_err();
    assert_eq!(e["status"], 400);
    let issues = e["issues"].as_array().unwrap();
    assert!(!issues.is_empty());
    assert!(
        issues[0]["message"].as_str().unwrap().contains("gigabytes"),
        "{e}"
    );
    assert!(e["error"].as_str().unwrap().contains("gigabytes"), "{e}");
    assert!(!h.settings_signalled());
}

#[test]
fn clear_cache_and_set_limit_reach_the_engine() {
    let h = harness(Some(snapshot()));
    let r = h.invoke("clear_cache", json!({"pids": [41, 42]})).unwrap();
    assert_eq!(r["freed"], json!(2u64 << 30));
    assert_eq!(r["succeeded"], 1);
    assert_eq!(r["failed"], 0);
    assert_eq!(r["outcomes"][0]["pid"], 41);
    h.invoke("clear_cache", json!({})).unwrap();
    h.invoke(
        "set_limit",
        json!({"kind": "cache", "bytes": 1024, "pids": [7]}),
    )
    .unwrap();
    let e = h
        .invoke("set_limit", json!({"kind": "huge", "bytes": 1}))
        .unwrap_err();
    assert_eq!(
        e["error"],
        "invalid limit kind \"huge\": expected cache, memory or wired"
    );
    assert_eq!(
        h.calls(),
        vec![
            "clear_cache [41, 42]",
            "clear_cache []",
            "set_limit cache 1024 [7]"
        ]
    );
}

#[test]
fn a_missing_argument_is_an_error_not_a_panic() {
    let h = harness(Some(snapshot()));
    let e = h.invoke("set_limit", json!({"kind": "cache"})).unwrap_err();
    assert!(e.to_string().contains("bytes"), "{e}");
}
