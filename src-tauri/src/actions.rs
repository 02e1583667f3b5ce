//! What the native menu's action items do, and showing notifications.

use crate::login_item::{self, LoginItemState};
use crate::notify::Notification;
use crate::state::AppState;
use headroom_core::ops::{self, ClearCacheRequest, ConfigSaveRequest, WiredSetRequest};
use serde_json::Value;
use tauri::{AppHandle, Manager, Runtime};

/// Shows a native notification (and logs it; a system without a notification service only
/// gets the log line).
pub fn show_notification<R: Runtime>(app: &AppHandle<R>, n: &Notification) {
    log::info!(
        "notification: {} — {}",
        n.title,
        n.body.replace('\n', " / ")
    );
    #[cfg(feature = "native-notifications")]
    native_notification(app, n);
    #[cfg(not(feature = "native-notifications"))]
    let _ = app;
}

#[cfg(feature = "native-notifications")]
fn native_notification<R: Runtime>(app: &AppHandle<R>, n: &Notification) {
    // Without the plugin (the command tests' mock app) the log line is all there is.
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else {
        return;
    };
    let shown = notifications.builder().title(&n.title).body(&n.body).show();
    if let Err(e) = shown {
        log::warn!("cannot show the notification: {e}");
    }
}

/// "Clear MLX cache" from the menu: clears every attached process and says what it freed.
pub fn clear_all_caches<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let backend = app.state::<AppState>().backend.clone();
        let body = match ops::clear_cache(&*backend, ClearCacheRequest::default()).await {
            Ok(summary) => summary.clear_sentence(),
            Err(e) => format!("Could not clear the MLX cache: {}", e.error),
        };
        let n = Notification {
            title: "Headroom".to_owned(),
            body,
        };
        show_notification(&app, &n);
    });
}

/// "Re-apply GPU wired limit…" from the menu: takes the offer (so it is asked once), then the
/// wired-limit operation checks the value again against this machine and sets it (macOS asks for the administrator
/// password) and says what happened. Nothing runs without that click.
pub fn reapply_wired_limit<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let Some(offer) = state.take_reapply_offer() else {
        return log::debug!("no wired limit to re-apply");
    };
    let backend = state.backend.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let req = WiredSetRequest { mb: offer.get() };
        let body = match ops::wired_limit_set(&*backend, req).await {
            Ok(outcome) => {
                log::info!(
                    "re-apply wired limit {}: {}",
                    offer.get(),
                    outcome.describe()
                );
                outcome.describe()
            }
            Err(e) => e.error,
        };
        let n = Notification {
            title: "GPU wired limit".to_owned(),
            body,
        };
        show_notification(&app, &n);
    });
}

/// "Launch at login" from the menu: flips the login item and saves the choice in the config
/// (`app.launch_at_login`) so the settings view agrees.
pub fn toggle_launch_at_login<R: Runtime>(app: &AppHandle<R>) {
    let enable = login_item::click_registers(login_item::state(app));
    set_launch_at_login(app, enable);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let backend = app.state::<AppState>().backend.clone();
        let loaded = backend.config();
        if let Some(error) = loaded.error {
            // Never overwrite a file the person has to fix; the login item is set anyway.
            return log::warn!("launch at login not saved: the config file has a problem: {error}");
        }
        let mut config = match serde_json::to_value(loaded.config) {
            Ok(doc) => doc,
            Err(e) => return log::warn!("cannot save launch at login: {e}"),
        };
        config["app"]["launch_at_login"] = Value::Bool(enable);
        let req = ConfigSaveRequest {
            config,
            dry_run: false,
        };
        if let Err(e) = ops::config_save(&*backend, req).await {
            log::warn!("cannot save launch at login in the config: {}", e.error);
        }
    });
}

/// Registers or unregisters the app as a login item; returns the state now in force.
pub fn set_launch_at_login<R: Runtime>(app: &AppHandle<R>, enable: bool) -> LoginItemState {
    login_item::set(app, enable)
}
