//! Launch at login, as the system has it. On macOS 13+ the app bundle registers itself with
//! `SMAppService.mainApp` (Apple: "SMAppService", ServiceManagement; the registration names
//! the bundle, not a path, so it survives the app being moved or translocated) and the menu's
//! check mark reads `SMAppService.mainApp.status`; on Linux the XDG autostart entry of
//! tauri-plugin-autostart is the system's state.

/// The login item's state, as the system reports it (`SMAppService.Status` on macOS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginItemState {
    /// Registered and allowed: the app starts at login.
    Enabled,
    /// Registered, but the person has to allow it in System Settings › General › Login Items.
    RequiresApproval,
    /// Not registered.
    NotRegistered,
    /// The system cannot find the app's service (an unbundled binary).
    NotFound,
}

/// What the menu shows for a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckMark {
    /// Whether the item is checked: only when the app will really start at login.
    pub checked: bool,
    /// The item's label.
    pub label: &'static str,
    /// Whether clicking it can do anything.
    pub enabled: bool,
}

/// The menu item for `state`.
pub fn check_mark(state: LoginItemState) -> CheckMark {
    match state {
        LoginItemState::Enabled => CheckMark {
            checked: true,
            label: "Launch at login",
            enabled: true,
        },
        LoginItemState::RequiresApproval => CheckMark {
            checked: false,
            label: "Launch at login (allow in System Settings › Login Items)",
            enabled: true,
        },
        LoginItemState::NotRegistered => CheckMark {
            checked: false,
            label: "Launch at login",
            enabled: true,
        },
        LoginItemState::NotFound => CheckMark {
            checked: false,
            label: "Launch at login (needs the installed app)",
            enabled: false,
        },
    }
}

/// Whether a click on the item asks to register (`true`) or unregister (`false`): a pending
/// approval is registered already, so a click keeps it and repeats where to allow it.
pub fn click_registers(state: LoginItemState) -> bool {
    !matches!(state, LoginItemState::Enabled)
}

#[cfg(target_os = "macos")]
mod system {
    use super::LoginItemState;
    use smappservice_rs::{AppService, ServiceManagementError, ServiceStatus, ServiceType};

    pub fn state() -> LoginItemState {
        match AppService::new(ServiceType::MainApp).status() {
            ServiceStatus::Enabled => LoginItemState::Enabled,
            ServiceStatus::RequiresApproval => LoginItemState::RequiresApproval,
            ServiceStatus::NotRegistered => LoginItemState::NotRegistered,
            ServiceStatus::NotFound => LoginItemState::NotFound,
        }
    }

    pub fn set(enable: bool) -> Result<(), String> {
        let service = AppService::new(ServiceType::MainApp);
        let result = if enable {
            service.register()
        } else {
            service.unregister()
        };
        match result {
            Ok(()) | Err(ServiceManagementError::AlreadyRegistered) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(not(target_os = "macos"))]
mod system {
    use super::LoginItemState;

    #[cfg(any(windows, target_os = "linux"))]
    pub fn state_of<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> LoginItemState {
        use tauri_plugin_autostart::ManagerExt;
        match app.autolaunch().is_enabled() {
            Ok(true) => LoginItemState::Enabled,
            Ok(false) => LoginItemState::NotRegistered,
            Err(_) => LoginItemState::NotFound,
        }
    }

    #[cfg(any(windows, target_os = "linux"))]
    pub fn set_for<R: tauri::Runtime>(
        app: &tauri::AppHandle<R>,
        enable: bool,
    ) -> Result<(), String> {
        use tauri_plugin_autostart::ManagerExt;
        let auto = app.autolaunch();
        let result = if enable {
            auto.enable()
        } else {
            auto.disable()
        };
        result.map_err(|e| e.to_string())
    }
}

/// The login item's state now.
pub fn state<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> LoginItemState {
    #[cfg(target_os = "macos")]
    {
        let _ = app;
        system::state()
    }
    #[cfg(not(target_os = "macos"))]
    system::state_of(app)
}

/// Registers (`true`) or unregisters the login item; returns the state now in force.
pub fn set<R: tauri::Runtime>(app: &tauri::AppHandle<R>, enable: bool) -> LoginItemState {
    #[cfg(target_os = "macos")]
    let result = system::set(enable);
    #[cfg(not(target_os = "macos"))]
    let result = system::set_for(app, enable);
    if let Err(e) = result {
        log::warn!("cannot change launch at login: {e}");
    }
    let now = state(app);
    if now == LoginItemState::RequiresApproval {
        log::info!("launch at login: allow Headroom in System Settings › General › Login Items");
    }
    log::info!("launch at login: {now:?}");
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_mark_follows_the_system() {
        assert!(check_mark(LoginItemState::Enabled).checked);
        for s in [
            LoginItemState::RequiresApproval,
            LoginItemState::NotRegistered,
            LoginItemState::NotFound,
        ] {
            assert!(!check_mark(s).checked, "{s:?} must not look enabled");
        }
        assert!(check_mark(LoginItemState::RequiresApproval)
            .label
            .contains("System Settings"));
        assert!(!check_mark(LoginItemState::NotFound).enabled);
    }

    #[test]
    fn a_click_registers_unless_enabled() {
        assert!(!click_registers(LoginItemState::Enabled));
        assert!(click_registers(LoginItemState::NotRegistered));
        assert!(click_registers(LoginItemState::RequiresApproval));
    }
}
