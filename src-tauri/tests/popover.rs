//! The popover's lifecycle through Tauri on the mock runtime, with the real engine: a relaunch
//! (a Finder reopen or a second launch) creates the window from its configuration and shows
//! it; hidden and shown again within the keep time, it keeps its web view. (That the web view
//! and WebKit's processes go after the keep time is checked on the real runtime by
//! tests/app/smoke.sh: the mock runtime does not remove destroyed windows.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_app::state::AppState;
use headroom_app::window::{self, MAIN};
use headroom_app::Relaunch;
use headroom_core::engine::{self, EngineOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime};
use tauri::utils::config::WindowConfig;
use tauri::{App, Manager};

fn app(keep: Duration) -> (App<MockRuntime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        config_path: dir.path().join("config.toml"),
        data_dir: dir.path().join("data"),
        runtime_dir: dir.path().join("run"),
    };
    let engine = tauri::async_runtime::block_on(async { engine::start(opts) });
    let mut context = mock_context(noop_assets());
    context.config_mut().app.windows.push(WindowConfig {
        label: MAIN.into(),
        create: false,
        ..Default::default()
    });
    let state = AppState::new(Arc::new(engine), Instant::now()).with_keep(Some(keep));
    let app = mock_builder().manage(state).build(context).unwrap();
    (app, dir)
}

fn wait(what: &str, secs: u64, ok: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reopen_shows_the_popover_and_a_quick_reopen_keeps_its_web_view() {
    let (app, _dir) = app(Duration::from_millis(800));
    let handle = app.handle().clone();
    let state = || handle.state::<AppState>();
    assert!(
        handle.get_webview_window(MAIN).is_none(),
        "no web view before the first open"
    );

    headroom_app::relaunched(&handle, Relaunch::Reopen);
    wait("the window to be created", 5, || {
        handle.get_webview_window(MAIN).is_some()
    });
    // The mock page never paints: shown at the paint bound.
    wait("the popover to be shown", 5, || state().window_visible());

    window::hide(&handle);
    assert!(!state().window_visible());
    // Shown again within the keep time: the same web view, and the drop timer of the hide
    // must not close it later.
    headroom_app::relaunched(&handle, Relaunch::SecondLaunch);
    wait("the popover to be shown again", 5, || {
        state().window_visible()
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert!(state().window_visible());
    assert!(
        handle.get_webview_window(MAIN).is_some(),
        "a popover shown again within the keep time keeps its web view"
    );
}
