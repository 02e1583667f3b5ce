//! State shared by the commands, the tray and the window (managed by Tauri).

use crate::backend::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The app's shared state.
pub struct AppState {
    /// The engine.
    pub backend: Arc<dyn Backend>,
    /// Signalled after a configuration was saved, so the app applies its settings.
    pub settings_changed: Arc<Notify>,
    /// Whether the main window is shown; snapshots are sent to it only then.
    window_visible: AtomicBool,
    /// When the app started (for the launch timings in the log).
    pub started: Instant,
}

impl AppState {
    /// State around `backend`, with the window hidden.
    pub fn new(backend: Arc<dyn Backend>, started: Instant) -> Self {
        Self {
            backend,
            settings_changed: Arc::new(Notify::new()),
            window_visible: AtomicBool::new(false),
            started,
        }
    }

    /// Whether the main window is shown.
    pub fn window_visible(&self) -> bool {
        self.window_visible.load(Ordering::Relaxed)
    }

    /// Records whether the main window is shown.
    pub fn set_window_visible(&self, visible: bool) {
        self.window_visible.store(visible, Ordering::Relaxed);
    }

    /// Milliseconds since the app started.
    pub fn elapsed_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }
}
