//! The optional HTTP server (`app.http_server = true`): `headroom serve`'s API, `/metrics`
//! and web UI, served from the app's own engine with the `[server]` settings (listen address,
//! token). Started and stopped as the setting changes.
//!
//! It follows `headroom serve`'s rules: without `server.token`, the per-user secret file in
//! the data directory is the token (the same file, so one browser login serves both), and
//! only a loopback `GET /metrics` is answered without it. `headroom serve --print-url` prints
//! the login URL.

use headroom_core::config::Server as ServerSettings;
use headroom_core::engine::EngineHandle;
use headroom_server::{secret, ServeOptions, Server};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running server.
pub struct Running {
    stop: oneshot::Sender<()>,
    settings: ServerSettings,
}

impl Running {
    /// Stops the server (open streams end, the engine keeps running).
    pub fn stop(self) {
        // The server may have stopped on its own (bind failed); nothing to stop then.
        let _ = self.stop.send(());
        log::info!("HTTP server stopping");
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &ServerSettings {
        &self.settings
    }
}

/// The server options for `settings`, with the per-user secret in `secret_file` when the
/// settings give no token (loopback only); an unusable listen address or secret is an error
/// naming it.
pub fn options(settings: &ServerSettings, secret_file: &Path) -> Result<ServeOptions, String> {
    let listen: SocketAddr = settings.listen.parse().map_err(|_| {
        format!(
            "server.listen {:?} is not an address like 127.0.0.1:9178",
            settings.listen
        )
    })?;
    // A non-loopback address needs a token in the settings (validation says so).
    let token = match &settings.token {
        Some(t) => Some(t.clone()),
        None if !listen.ip().is_loopback() => None,
        None => Some(
            secret::load_or_create(secret_file).map_err(|e| format!("the per-user secret {e}"))?,
        ),
    };
    Ok(ServeOptions {
        listen,
        token,
        ..ServeOptions::default()
    })
}

/// Starts serving `engine` with `settings` on the async runtime; `None` (logged) when the
/// settings cannot work. Binding errors (port in use) are logged by the server task.
pub fn start(engine: &EngineHandle, settings: &ServerSettings) -> Option<Running> {
    let secret_file = secret::default_path(&headroom_core::config::data_dir());
    let opts = match options(settings, &secret_file) {
        Ok(o) => o,
        Err(e) => {
            log::warn!("HTTP server not started: {e}");
            return None;
        }
    };
    let engine = Arc::new(engine.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tauri::async_runtime::spawn(async move {
        let server = match Server::bind(opts).await {
            Ok(s) => s,
            Err(e) => return log::warn!("HTTP server not started: {e}"),
        };
        log::info!("HTTP server listening on http://{}/", server.local_addr());
        let shutdown = async {
            // A dropped sender (app quitting) stops the server too.
            let _ = stopped.await;
        };
        if let Err(e) = server.run(engine, shutdown).await {
            log::warn!("HTTP server stopped: {e}");
        }
    });
    Some(Running {
        stop,
        settings: settings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_settings_and_name_a_bad_address() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("data/serve-token");
        let mut s = ServerSettings::default();
        let o = options(&s, &file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.listen.to_string(), "127.0.0.1:9178");
        let secret = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            o.token.as_deref(),
            Some(secret.trim()),
            "the per-user secret"
        );
        s.token = Some("settings-token-0123456789".into());
        let o = options(&s, &file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.token.as_deref(), Some("settings-token-0123456789"));
        s.listen = "localhost:x".into();
        let e = options(&s, &file).err().unwrap_or_default();
        assert!(e.contains("\"localhost:x\""), "{e}");
    }
}
