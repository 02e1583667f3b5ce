//! State shared by the commands, the tray and the window (managed by Tauri).

use crate::backend::Backend;
use crate::popover::{HiddenTicket, Keeper, Rect};
use headroom_core::wired::CheckedMb;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The app's shared state.
pub struct AppState {
    /// The engine.
    pub backend: Arc<dyn Backend>,
    /// Signalled after a configuration was saved, so the app applies its settings.
    pub settings_changed: Arc<Notify>,
    /// Whether the popover is shown (snapshots are sent to it only then), and the timers
    /// that drop its web view.
    popover: Mutex<Keeper>,
    /// When the popover being created was asked for (it shows once painted).
    pending_show: Mutex<Option<Instant>>,
    /// Where the tray icon is, when the tray reported it (macOS).
    tray_rect: Mutex<Option<Rect>>,
    /// Administrator prompts opened from the popover and not answered yet.
    admin_prompts: Arc<AtomicUsize>,
    /// How long the hidden popover keeps its web view (`None`: for the app's life).
    pub keep: Option<Duration>,
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
            popover: Mutex::new(Keeper::default()),
            pending_show: Mutex::new(None),
            tray_rect: Mutex::new(None),
            admin_prompts: Arc::new(AtomicUsize::new(0)),
            keep: Some(crate::popover::DEFAULT_KEEP),
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

    /// With the hidden popover keeping its web view for `keep` (`None`: for the app's life).
    pub fn with_keep(mut self, keep: Option<Duration>) -> Self {
        self.keep = keep;
        self
    }

    /// Whether the main window is shown.
    pub fn window_visible(&self) -> bool {
        self.popover.lock().is_ok_and(|k| k.visible())
    }

    /// Records that the popover was shown.
    pub fn popover_shown(&self) {
        if let Ok(mut k) = self.popover.lock() {
            k.shown();
        }
    }

    /// Records that the popover was hidden; the ticket for its drop timer.
    pub fn popover_hidden(&self) -> HiddenTicket {
        match self.popover.lock() {
            Ok(mut k) => k.hidden(),
            Err(poisoned) => poisoned.into_inner().hidden(),
        }
    }

    /// Records that the page was released while its window stays, and the address it
    /// showed (see [`Keeper`]).
    pub fn page_released(&self, url: Option<String>) {
        if let Ok(mut k) = self.popover.lock() {
            k.page_released(url);
        }
    }

    /// Whether the window's page is loaded (events may be sent to it).
    pub fn page_loaded(&self) -> bool {
        self.popover.lock().is_ok_and(|k| k.page_loaded())
    }

    /// Whether this open must load the page again (once per release), with the address
    /// the page showed.
    pub fn take_reload(&self) -> Option<Option<String>> {
        self.popover.lock().ok().and_then(|mut k| k.take_reload())
    }

    /// Whether the web view may be dropped: hidden since `ticket` and not being opened.
    pub fn may_drop_web_view(&self, ticket: HiddenTicket) -> bool {
        self.pending_show().is_none() && self.popover.lock().is_ok_and(|k| k.may_drop(ticket))
    }

    /// When the popover being created was asked for.
    pub fn pending_show(&self) -> Option<Instant> {
        self.pending_show.lock().ok().and_then(|p| *p)
    }

    /// Records (or clears) a popover being created.
    pub fn set_pending_show(&self, requested: Option<Instant>) {
        if let Ok(mut p) = self.pending_show.lock() {
            *p = requested;
        }
    }

    /// Where the tray icon is, if the tray reported it.
    pub fn tray_rect(&self) -> Option<Rect> {
        self.tray_rect.lock().ok().and_then(|r| *r)
    }

    /// Records where the tray icon is.
    pub fn set_tray_rect(&self, rect: Rect) {
        if let Ok(mut r) = self.tray_rect.lock() {
            *r = Some(rect);
        }
    }

    /// Administrator prompts open now.
    pub fn admin_prompts_open(&self) -> usize {
        self.admin_prompts.load(Ordering::SeqCst)
    }

    /// Marks an administrator prompt open until the guard is dropped (the popover stays open
    /// meanwhile, see [`crate::popover::hides_on_blur`]).
    pub fn admin_prompt(&self) -> AdminPrompt {
        self.admin_prompts.fetch_add(1, Ordering::SeqCst);
        AdminPrompt(self.admin_prompts.clone())
    }

    /// Milliseconds since the app started.
    pub fn elapsed_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }
}

/// An administrator prompt that is up; dropping it marks it answered.
pub struct AdminPrompt(Arc<AtomicUsize>);

impl Drop for AdminPrompt {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
