//! The UI's commands through Tauri's IPC, on the mock runtime (`tauri::test`), against a
//! fake engine that records what it was asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{mac, Fake};
use headroom_app::state::AppState;
use headroom_core::config::Config;
use headroom_core::ops::TABLE;
use headroom_core::Snapshot;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

fn snapshot() -> Snapshot {
    let mut s = mac();
    s.memory.total = Some(16 << 30);
    s
}

struct Harness {
    _app: tauri::App<tauri::test::MockRuntime>,
    window: WebviewWindow<tauri::test::MockRuntime>,
    fake: Arc<Fake>,
    changed: Arc<tokio::sync::Notify>,
}

fn harness(latest: Option<Snapshot>) -> Harness {
    let fake = Arc::new(Fake::new(latest));
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
        self.fake.calls()
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
    assert_eq!(
        e,
        json!({"error": "no sample taken yet; retry in a second", "kind": "unavailable",
               "status": 503, "param": null, "issues": []})
    );
}

#[test]
fn get_history_checks_since_and_passes_it_on() {
    let h = harness(Some(snapshot()));
    let points = h.invoke("get_history", json!({"since": 600})).unwrap();
    assert_eq!(points, serde_json::to_value(&h.fake.history).unwrap());
    assert_eq!(points[0]["used"], json!(10u64 << 30));
    h.invoke("get_history", json!({})).unwrap();
    let e = h.invoke("get_history", json!({"since": 0})).unwrap_err();
    assert_eq!(
        (e["status"].clone(), e["param"].clone()),
        (json!(400), json!("since"))
    );
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
    assert_eq!(h.calls(), vec!["events limit=Some(100)"]);
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
    assert_eq!(
        (saved["valid"].clone(), saved["saved"].clone()),
        (json!(true), json!(false))
    );
    assert!(!h.settings_signalled(), "a dry run applies nothing");
    assert!(h.calls().is_empty(), "a dry run saves nothing");
    let saved = h.invoke("put_config", json!({"config": doc})).unwrap();
    assert_eq!(saved["saved"], true);
    assert_eq!(saved["path"], "/tmp/headroom-test/config.toml");
    assert!(h.settings_signalled());
    assert_eq!(h.calls(), vec!["save_config title=FreeGb"]);
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
        "kind: invalid limit kind \"huge\": expected cache, memory or wired"
    );
    assert_eq!(e["param"], "kind");
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

#[test]
fn every_command_of_the_operations_table_is_registered_and_granted() {
    let h = harness(Some(snapshot()));
    let caps: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/capabilities/default.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let granted: Vec<&str> = caps["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| p.starts_with("allow-"))
        .collect();
    let commands: Vec<&str> = TABLE.iter().filter_map(|n| n.command).collect();
    for cmd in &commands {
        // A registered command answers (or names a missing argument); an unknown one does not.
        let answer = h.invoke(cmd, json!({}));
        let text = answer.map_or_else(|e| e.to_string(), |v| v.to_string());
        assert!(!text.contains("not found"), "{cmd}: {text}");
        let permission = format!("allow-{}", cmd.replace('_', "-"));
        assert!(
            granted.contains(&permission.as_str()),
            "{permission} not granted"
        );
    }
    assert_eq!(granted.len(), commands.len(), "{granted:?}");
    let unknown = h.invoke("get_nothing", json!({})).unwrap_err().to_string();
    assert!(unknown.contains("not found"), "{unknown}");
}
