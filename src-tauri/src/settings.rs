//! The app's own settings (`[app]` in the config) and applying them when they change:
//! title and icon style (the tray redraws), launch at login, and the optional HTTP server.

use crate::actions;
use crate::tray::TrayView;
use headroom_core::config::App as AppSettings;
use tauri::{AppHandle, Runtime};

/// The settings in force and what was started for them.
pub struct Applied {
    current: AppSettings,
    server: Option<crate::server::Running>,
}

impl Applied {
    /// Applies `settings` at start. Launch at login is left as the system has it (the menu's
    /// check mark shows it); it changes only when the setting changes.
    pub fn start<R: Runtime>(app: &AppHandle<R>, settings: AppSettings) -> Self {
        let server = settings.http_server.then(|| crate::server::start(app)).flatten();
        Self {
            current: settings,
            server,
        }
    }

    /// The settings in force.
    pub fn current(&self) -> &AppSettings {
        &self.current
    }

    /// Applies `new` where it differs from the settings in force.
    pub fn update<R: Runtime>(
        &mut self,
        app: &AppHandle<R>,
        new: AppSettings,
        tray: Option<&TrayView<R>>,
    ) {
        if new.launch_at_login != self.current.launch_at_login {
            let now = actions::set_launch_at_login(app, new.launch_at_login);
            if let Some(tray) = tray {
                tray.show_launch_at_login(now);
            }
        }
        if new.http_server != self.current.http_server {
            match self.server.take() {
                Some(running) => running.stop(),
                None => self.server = crate::server::start(app),
            }
        }
        self.current = new;
    }
}
