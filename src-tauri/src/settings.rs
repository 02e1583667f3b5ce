//! The app's own settings (`[app]`, and `[server]` for the optional HTTP server) and applying
//! them when they change: title and icon style (the tray redraws), launch at login, and the
//! HTTP server.

use crate::actions;
use crate::tray::TrayView;
use headroom_core::config::{App as AppSettings, Config};
use headroom_core::engine::EngineHandle;
use tauri::{AppHandle, Manager, Runtime};

/// The settings in force and what was started for them.
pub struct Applied {
    current: AppSettings,
    server: Option<crate::server::Running>,
}

impl Applied {
    /// Applies `config` at start. Launch at login is left as the system has it (the menu's
    /// check mark shows it); it changes only when the setting changes.
    pub fn start<R: Runtime>(app: &AppHandle<R>, config: &Config) -> Self {
        let mut applied = Self {
            current: config.app.clone(),
            server: None,
        };
        applied.sync_server(app, config);
        applied
    }

    /// The settings in force.
    pub fn current(&self) -> &AppSettings {
        &self.current
    }

    /// Applies `config` where it differs from the settings in force.
    pub fn update<R: Runtime>(
        &mut self,
        app: &AppHandle<R>,
        config: &Config,
        tray: Option<&TrayView<R>>,
    ) {
        if config.app.launch_at_login != self.current.launch_at_login {
            let now = actions::set_launch_at_login(app, config.app.launch_at_login);
            if let Some(tray) = tray {
                tray.show_launch_at_login(now);
            }
        }
        self.current = config.app.clone();
        self.sync_server(app, config);
    }

    /// Starts, stops or restarts the HTTP server to match `config`.
    fn sync_server<R: Runtime>(&mut self, app: &AppHandle<R>, config: &Config) {
        let wanted = config.app.http_server.then_some(&config.server);
        let running = self.server.as_ref().map(crate::server::Running::settings);
        if running == wanted {
            return;
        }
        if let Some(old) = self.server.take() {
            old.stop();
        }
        let (Some(settings), Some(engine)) = (wanted, app.try_state::<EngineHandle>()) else {
            return;
        };
        self.server = crate::server::start(&engine, settings);
    }
}
