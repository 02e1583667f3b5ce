//! The app's answers about this machine — wired limit, "will it fit?", the doctor, what holds
//! memory — through Tauri's IPC on the mock runtime, with the UI's camelCase arguments. The
//! operations behind them are the core's (`headroom_core::ops`), the same `headroom serve`
//! answers with; a stand-in engine gives the snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{linux, mac, Fake, GIB};
use headroom_app::menu_model::menu_finding_line;
use headroom_app::state::AppState;
use headroom_core::ops::NOT_AVAILABLE;
use headroom_core::snapshot::PressureLevel;
use headroom_core::Snapshot;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;

struct Harness {
    _app: tauri::App<tauri::test::MockRuntime>,
    window: tauri::WebviewWindow<tauri::test::MockRuntime>,
}

fn harness(fake: Fake) -> Harness {
    let state = AppState::new(Arc::new(fake), Instant::now());
    let app = headroom_app::with_commands(mock_builder())
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
fn the_uis_arguments_reach_the_operations() {
    let h = harness(Fake::new(Some(linux(16 * GIB))));
    let w = h.invoke("get_wired_limit", json!({})).unwrap();
    assert_eq!(w["supported"], false);
    assert_eq!(w["physical"], json!(16 * GIB));
    assert_eq!(w["max_mb"], json!(12 * 1024));
    let f = h
        .invoke(
            "get_fit",
            json!({"params": "7B", "bits": 8, "context": 4096, "kvBits": 8,
                   "layers": 32, "kvHeads": 8, "headDim": 128}),
        )
        .unwrap();
    assert_eq!(f["weights"], json!(7_000_000_000u64));
    assert_eq!(f["kv_cache"], json!(2 * 32 * 8 * 128 * 4096));
    for (args, param) in [
        (json!({"params": "7B", "kvBits": 3}), "kv_bits"),
        (json!({"params": "7B", "headDim": 0}), "head_dim"),
        (json!({"bits": 4}), "params"),
    ] {
        let e = h.invoke("get_fit", args.clone()).unwrap_err();
        assert_eq!(e["status"], 400, "{args}");
        assert_eq!(e["param"], param, "{args}: {e}");
        assert!(e["error"].as_str().unwrap().starts_with(param), "{e}");
    }
    let top = h.invoke("get_top", json!({"n": 2})).unwrap();
    assert!(!top.as_array().unwrap().is_empty() && top.as_array().unwrap().len() <= 2);
    let e = h.invoke("get_top", json!({"n": 0})).unwrap_err();
    assert_eq!(e["param"], "n");
    let d = h.invoke("get_doctor", json!({})).unwrap();
    assert!(d["checks"].as_array().unwrap().len() >= 7, "{d}");
    // Validation works everywhere; setting needs the sysctl.
    assert_eq!(
        h.invoke("check_wired_limit", json!({"size": "8GB"}))
            .unwrap(),
        json!(8192)
    );
    let e = h
        .invoke("check_wired_limit", json!({"size": "8"}))
        .unwrap_err();
    assert_eq!(
        (e["status"].clone(), e["param"].clone()),
        (json!(400), json!("size"))
    );
    for mb in [0, 8192] {
        let e = h
            .invoke("set_wired_limit", json!({ "mb": mb }))
            .unwrap_err();
        assert_eq!(e["error"], NOT_AVAILABLE);
        assert_eq!(e["kind"], "not_supported");
    }
}

#[test]
fn a_mac_snapshot_gives_the_wired_limit_with_the_configuration() {
    let fake = Fake::new(Some(mac()));
    fake.config.lock().unwrap().wired_limit.value_mb = Some(49152);
    let h = harness(fake);
    let m = h.invoke("get_wired_limit", json!({})).unwrap();
    assert_eq!(m["supported"], true);
    assert_eq!(m["current_mb"], 0);
    assert_eq!(m["configured_mb"], 49152);
    assert_eq!(m["suggestion"]["mb"], 49152);
    for (size, mb) in [("48GB", 49152), ("49152", 49152)] {
        assert_eq!(
            h.invoke("check_wired_limit", json!({ "size": size }))
                .unwrap(),
            mb
        );
    }
    for bad in ["48", "abc", "100GB", "-1"] {
        let e = h
            .invoke("check_wired_limit", json!({ "size": bad }))
            .unwrap_err();
        assert_eq!(e["status"], 400, "{bad}");
    }
    // Too large for 64 GB: refused before any privileged command runs.
    let e = h
        .invoke("set_wired_limit", json!({"mb": 65536}))
        .unwrap_err();
    assert!(e["error"].as_str().unwrap().contains("65536 MB"), "{e}");
    assert_eq!(e["param"], "mb");
    let none = harness(Fake::new(None));
    let e = none.invoke("get_wired_limit", json!({})).unwrap_err();
    assert_eq!(e["status"], 503);
}

#[test]
fn the_menus_doctor_line_is_the_most_severe_finding() {
    let mut s: Snapshot = linux(16 * GIB);
    s.pressure.level = Some(PressureLevel::Critical);
    let line = menu_finding_line(&s).unwrap();
    assert!(line.contains("Memory pressure is critical"), "{line}");
    assert_eq!(menu_finding_line(&linux(16 * GIB)), None);
}
