//! The optional HTTP server (`app.http_server`): the same API as `headroom serve`, from the
//! app's own engine.

use tauri::{AppHandle, Runtime};

/// A running server.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Stops the server.
    pub fn stop(self) {
        // The server may already have stopped on its own; nothing to do then.
        let _ = self.stop.send(());
        log::info!("HTTP server stopped");
    }
}

/// Starts the server; `None` (logged) when it cannot.
pub fn start<R: Runtime>(_app: &AppHandle<R>) -> Option<Running> {
    log::warn!("the HTTP server is not available in this build yet");
    None
}
