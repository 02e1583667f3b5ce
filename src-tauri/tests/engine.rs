//! The commands against the real in-process engine (live sampler, SQLite history, config
//! file), on the mock runtime, in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_app::state::AppState;
use headroom_core::engine::{self, EngineHandle, EngineOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;

fn invoke(
    w: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(w, request).map(|b| b.deserialize::<Value>().unwrap())
}

#[test]
fn commands_drive_the_real_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, "# mine\n[sampling]\ninterval_ms = 200\n").unwrap();
    let opts = EngineOptions {
        config_path: config_path.clone(),
        data_dir: dir.path().join("data"),
        runtime_dir: dir.path().join("run"),
    };
    let handle: EngineHandle = tauri::async_runtime::block_on(async { engine::start(opts) });
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.latest().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let app = headroom_app::with_commands(mock_builder())
        .manage(AppState::new(Arc::new(handle.clone()), Instant::now()))
        .build(mock_context(noop_assets()))
        .unwrap();
    let w = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();

    let snap = invoke(&w, "get_snapshot", json!({})).unwrap();
    assert!(snap["memory"]["total"].as_u64().unwrap() > 0, "{snap}");

    let loaded = invoke(&w, "get_config", json!({})).unwrap();
    assert_eq!(loaded["config"]["sampling"]["interval_ms"], 200);
    let mut doc = loaded["config"].clone();
    doc["app"]["title"] = json!("free_gb");
    let saved = invoke(&w, "put_config", json!({"config": doc})).unwrap();
    assert_eq!(saved["saved"], true);
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(
        text.contains("# mine") && text.contains("free_gb"),
        "{text}"
    );

    doc["sampling"]["interval_ms"] = json!(0);
    let err = invoke(&w, "put_config", json!({"config": doc})).unwrap_err();
    assert_eq!(err["status"], 400);
    assert!(
        err["error"].as_str().unwrap().contains("interval_ms"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        text,
        "a rejected config is not saved"
    );

    assert!(invoke(&w, "get_history", json!({"since": 60}))
        .unwrap()
        .is_array());
    assert!(invoke(&w, "get_events", json!({})).unwrap().is_array());
    assert_eq!(
        invoke(&w, "clear_cache", json!({})).unwrap(),
        json!({"outcomes": [], "succeeded": 0, "failed": 0, "freed": 0})
    );

    tauri::async_runtime::block_on(handle.shutdown());
}
