//! The popover window: shown under the tray icon, hidden when it loses focus or is closed
//! (closing never quits), and the only consumer of per-sample `snapshot` events.

use crate::state::AppState;
use tauri::{AppHandle, Manager, PhysicalPosition, Runtime, WebviewWindow, WindowEvent};
use tauri_plugin_positioner::{Position, WindowExt};

/// The label of the main window (`tauri.conf.json`).
pub const MAIN: &str = "main";

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
    // Positioned after `show`: before its first mapping GTK reports a zero size, which
    // would put the window off screen.
    if let Err(e) = w.show().and_then(|()| w.set_focus()) {
        log::warn!("cannot show the window: {e}");
    }
    place(&w);
    app.state::<AppState>().set_window_visible(true);
}

/// Moves the window under the tray icon, or to the top-right corner of its screen when the
/// tray has not reported where it is (Linux indicators do not).
fn place<R: Runtime>(w: &WebviewWindow<R>) {
    if w.move_window(Position::TrayBottomCenter).is_ok() {
        return;
    }
    if let Err(e) = top_right(w) {
        log::debug!("cannot position the window: {e}");
    }
}

/// The top-right corner, computed from the inner size: before GTK realizes a window
/// without decorations its outer size reads as zero, which the positioner would use.
fn top_right<R: Runtime>(w: &WebviewWindow<R>) -> tauri::Result<()> {
    let Some(monitor) = w.current_monitor()?.or(w.primary_monitor()?) else {
        return Ok(());
    };
    let size = w.inner_size()?;
    let x = corner(monitor.position().x, monitor.size().width, size.width);
    w.set_position(PhysicalPosition::new(x, monitor.position().y))
}

/// The x of a window `width` wide at the right edge of a screen at `screen_x`, `screen_width`
/// wide (never left of the screen).
pub fn corner(screen_x: i32, screen_width: u32, width: u32) -> i32 {
    let free = i64::from(screen_width) - i64::from(width);
    i32::try_from(i64::from(screen_x) + free.max(0)).unwrap_or(screen_x)
}

/// With `HEADROOM_WEBVIEW_CONSOLE=1`, the page's console messages go to stdout (Linux), so
/// a script error in the UI shows in the smoke test's log.
pub fn console_to_stdout<R: Runtime>(app: &AppHandle<R>) {
    if std::env::var("HEADROOM_WEBVIEW_CONSOLE").as_deref() != Ok("1") {
        return;
    }
    let Some(w) = main_window(app) else { return };
    #[cfg(target_os = "linux")]
    {
        let result = w.with_webview(|webview| {
            use webkit2gtk::{SettingsExt, WebViewExt};
            if let Some(settings) = webview.inner().settings() {
                settings.set_enable_write_console_messages_to_stdout(true);
            }
        });
        if let Err(e) = result {
            log::warn!("cannot copy the page's console: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    drop(w);
}

/// Shows the window on the view `view` (`alerts`, `mlx`, …): the UI follows the URL hash.
pub fn show_view<R: Runtime>(app: &AppHandle<R>, view: &str) {
    show(app);
    let Some(w) = main_window(app) else { return };
    let script = format!("location.hash = {};", serde_json::Value::from(view));
    if let Err(e) = w.eval(&script) {
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

#[cfg(test)]
mod tests {
    use super::corner;

    #[test]
    fn corner_keeps_the_window_on_screen() {
        assert_eq!(corner(0, 1280, 380), 900);
        assert_eq!(corner(1920, 1280, 380), 2820);
        assert_eq!(corner(0, 300, 380), 0);
    }
}
