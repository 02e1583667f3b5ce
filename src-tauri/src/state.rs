//! State shared by the commands, the tray and the window (managed by Tauri).

use crate::backend::Backend;
use headroom_core::wired::CheckedMb;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The GPU wired limit the menu offers to re-apply (decided once, at the first sample).
    reapply_offer: Mutex<Option<CheckedMb>>,
}

impl AppState {
    /// State around `backend`, with the window hidden.
    pub fn new(backend: Arc<dyn Backend>, started: Instant) -> Self {
        Self {
            backend,
            settings_changed: Arc::new(Notify::new()),
            window_visible: AtomicBool::new(false),
            started,
            reapply_offer: Mutex::new(None),
        }
    }

    /// The wired limit the menu offers to re-apply, if any.
    pub fn reapply_offer(&self) -> Option<CheckedMb> {
        self.reapply_offer.lock().ok().and_then(|o| *o)
    }

    /// Offers (or withdraws, with `None`) re-applying a wired limit from the menu.
    pub fn set_reapply_offer(&self, offer: Option<CheckedMb>) {
        if let Ok(mut o) = self.reapply_offer.lock() {
            *o = offer;
        }
    }

    /// Withdraws the offer and returns it (a click takes it once).
    pub fn take_reapply_offer(&self) -> Option<CheckedMb> {
        self.reapply_offer.lock().ok().and_then(|mut o| o.take())
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
