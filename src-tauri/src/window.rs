//! The popover window: shown under the tray icon, hidden when it loses focus or is closed
//! (closing never quits), and the only consumer of per-sample `snapshot` events.

use crate::state::AppState;
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewWindow, WindowEvent};
use tauri_plugin_positioner::{Position, WindowExt};

/// The label of the main window (`tauri.conf.json`).
pub const MAIN: &str = "main";

/// Event asking the UI to show a view (`"alerts"`, `"overview"`, …).
pub const EVENT_NAVIGATE: &str = "navigate";

fn main_window<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    app.get_webview_window(MAIN)
}

/// Shows the window under the tray icon (top-right corner when the tray has not reported
/// its position, e.g. on Linux) and focuses it.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let Some(w) = main_window(app) else {
        log::warn!("no main window to show");
        return;
    };
    if w.move_window(Position::TrayBottomCenter).is_err() {
        if let Err(e) = w.move_window(Position::TopRight) {
            log::debug!("cannot position the window: {e}");
        }
    }
    if let Err(e) = w.show().and_then(|()| w.set_focus()) {
        log::warn!("cannot show the window: {e}");
    }
    app.state::<AppState>().set_window_visible(true);
}

/// Shows the window on the view `view` (the UI listens to [`EVENT_NAVIGATE`]).
pub fn show_view<R: Runtime>(app: &AppHandle<R>, view: &str) {
    show(app);
    if let Err(e) = app.emit_to(MAIN, EVENT_NAVIGATE, view) {
        log::debug!("cannot ask the UI to show {view}: {e}");
    }
}

/// Hides the window (the app keeps running in the tray).
pub fn hide<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = main_window(app) {
        if let Err(e) = w.hide() {
            log::warn!("cannot hide the window: {e}");
        }
    }
    app.state::<AppState>().set_window_visible(false);
}

/// Shows the window when hidden, hides it when shown (a click on the tray icon).
pub fn toggle<R: Runtime>(app: &AppHandle<R>) {
    let visible = main_window(app).is_some_and(|w| w.is_visible().unwrap_or(false));
    if visible {
        hide(app);
    } else {
        show(app);
    }
}

/// Window events of the main window: close hides, losing focus hides (popover behaviour).
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if window.label() != MAIN {
        return;
    }
    match event {
        WindowEvent::CloseRequested { api, .. } => {
            api.prevent_close();
            hide(window.app_handle());
        }
        WindowEvent::Focused(false) if hide_on_blur() => hide(window.app_handle()),
        _ => {}
    }
}

/// Whether losing focus hides the window: yes, unless `HEADROOM_APP_PIN=1` keeps it open
/// (handy on Linux desktops without a tray popover, and for screenshots).
fn hide_on_blur() -> bool {
    std::env::var("HEADROOM_APP_PIN").map_or(true, |v| v != "1")
}
