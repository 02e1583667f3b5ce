//! The app's live loop: every engine snapshot updates the tray (and the window while it is
//! shown); journal entries go to the window and become notifications; saved settings are
//! applied at once. Nothing here polls: it waits on the engine's feed.

use crate::backend::Feed;
use crate::notify::Composer;
use crate::state::AppState;
use crate::tray::TrayView;
use crate::window::MAIN;
use crate::{actions, settings};
use headroom_core::events::Event;
use headroom_core::Snapshot;
use std::sync::Arc;
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

/// Event carrying each journal entry to the window.
pub use headroom_core::ops::EVENT_JOURNAL;
/// Event carrying each snapshot to the window (only while it is shown).
pub use headroom_core::ops::EVENT_SNAPSHOT;

/// What the loop keeps between items.
struct Live<R: Runtime> {
    app: AppHandle<R>,
    tray: Option<TrayView<R>>,
    settings: settings::Applied,
    composer: Composer,
    first_sample: bool,
}

/// Starts the loop on the async runtime; `tray` is `None` where there is no tray (tests).
pub fn spawn<R: Runtime>(app: AppHandle<R>, tray: Option<TrayView<R>>) {
    tauri::async_runtime::spawn(run(app, tray));
}

async fn run<R: Runtime>(app: AppHandle<R>, tray: Option<TrayView<R>>) {
    let (backend, changed) = {
        let state = app.state::<AppState>();
        (state.backend.clone(), state.settings_changed.clone())
    };
    let mut rx = backend.subscribe();
    let mut live = Live {
        settings: settings::Applied::start(&app, &backend.config().config),
        app,
        tray,
        composer: Composer::default(),
        first_sample: true,
    };
    live.redraw(backend.latest().as_deref());
    loop {
        tokio::select! {
            item = rx.recv() => match item {
                Ok(Feed::Snapshot(s)) => live.on_snapshot(&s),
                Ok(Feed::Journal(e)) => live.on_journal(&e),
                Err(RecvError::Lagged(n)) => log::debug!("live loop skipped {n} items"),
                Err(RecvError::Closed) => break,
            },
            () = changed.notified() => {
                live.settings.update(&live.app, &backend.config().config, live.tray.as_ref());
                live.redraw(backend.latest().as_deref());
            }
        }
    }
    log::info!("engine feed closed");
}

impl<R: Runtime> Live<R> {
    fn redraw(&mut self, snapshot: Option<&Snapshot>) {
        let offer = self.app.state::<AppState>().reapply_offer();
        if let Some(tray) = self.tray.as_mut() {
            tray.show(snapshot, self.settings.current(), offer);
        }
    }

    /// At the first sample: offers to re-apply the configured GPU wired limit when the
    /// configuration opts in and the value in force differs (asked in the menu, never run).
    fn plan_reapply(&self, s: &Snapshot) {
        let state = self.app.state::<AppState>();
        let config = state.backend.config().config.wired_limit;
        if let Some(mb) = crate::menu_model::reapply_offer(&config, s) {
            log::info!("offering to re-apply the GPU wired limit ({} MB)", mb.get());
            state.set_reapply_offer(Some(mb));
        }
    }

    fn on_snapshot(&mut self, s: &Arc<Snapshot>) {
        if self.first_sample {
            self.first_sample = false;
            let ms = self.app.state::<AppState>().elapsed_ms();
            log::info!("first sample {ms} ms after launch");
            self.plan_reapply(s);
        }
        log::debug!("sample {}", summary(s));
        self.redraw(Some(s));
        if self.app.state::<AppState>().window_visible() {
            if let Err(e) = self.app.emit_to(MAIN, EVENT_SNAPSHOT, &**s) {
                log::debug!("cannot send the snapshot to the window: {e}");
            }
        }
        for n in self.composer.on_tick(Instant::now()) {
            actions::show_notification(&self.app, &n);
        }
    }

    fn on_journal(&mut self, e: &Arc<Event>) {
        log::info!("journal: {:?} {}", e.severity, e.message);
        // A released page reads the journal when it loads again.
        if self.app.state::<AppState>().page_loaded() {
            if let Err(err) = self.app.emit_to(MAIN, EVENT_JOURNAL, &**e) {
                log::debug!("cannot send the journal entry to the window: {err}");
            }
        }
        for n in self.composer.on_event(e, Instant::now()) {
            actions::show_notification(&self.app, &n);
        }
    }
}

/// One line per sample for the debug log (the smoke test reads it when there is no HTTP
/// server): time, used of total, pressure, MLX cache.
pub fn summary(s: &Snapshot) -> String {
    let fmt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |b| b.to_string());
    format!(
        "at={} used={} total={} pressure={} mlx_cache={}",
        s.at.to_rfc3339(),
        fmt(s.memory.used),
        fmt(s.memory.total),
        s.pressure.level.map_or("-", |l| l.word()),
        s.mlx_cache_total()
    )
}
