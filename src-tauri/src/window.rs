//! The popover window. Its web view exists only while it is shown and for a short while after
//! (see [`crate::popover`]): created on the first open, shown once the page has painted a
//! sample (never blank), placed before it is shown (no flicker), hidden when it loses focus
//! or is closed (closing never quits), and destroyed — with WebKit's web and network
//! processes — once it has stayed hidden for the keep time. The tray, the native menu,
//! notifications, rules and history live in the app process and need no web view.

use crate::popover::{self, HiddenTicket, Rect};
use crate::state::AppState;
use headroom_core::Snapshot;
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager, PhysicalPosition, Runtime, WebviewUrl, WebviewWindow};
use tauri::{WebviewWindowBuilder, WindowEvent};

/// The label of the main window (`tauri.conf.json`, created on demand: `"create": false`).
pub const MAIN: &str = "main";

fn main_window<R: Runtime>(app: &AppHandle<R>) -> Option<WebviewWindow<R>> {
    app.get_webview_window(MAIN)
}

/// Shows the popover (a click on the tray icon, "Open Headroom", a second launch, a relaunch
/// from Finder); runs on the main thread.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    request(app, None);
}

/// Shows the popover on the view `view` (`alerts`, `tools`, …): the UI follows the URL hash.
pub fn show_view<R: Runtime>(app: &AppHandle<R>, view: &str) {
    request(app, Some(view.to_owned()));
}

fn request<R: Runtime>(app: &AppHandle<R>, view: Option<String>) {
    let requested = Instant::now();
    let handle = app.clone();
    let run = app.run_on_main_thread(move || show_now(&handle, view.as_deref(), requested));
    if let Err(e) = run {
        log::warn!("cannot show the window: {e}");
    }
}

fn show_now<R: Runtime>(app: &AppHandle<R>, view: Option<&str>, requested: Instant) {
    let Some(w) = main_window(app) else {
        return create(app, view, requested);
    };
    if app.state::<AppState>().pending_show().is_some() {
        return; // being created: it shows itself once painted
    }
    if let Some(url) = app.state::<AppState>().take_reload() {
        return reload(app, &w, view, url.as_deref(), requested);
    }
    if let Some(view) = view {
        let script = format!("location.hash = {};", serde_json::Value::from(view));
        if let Err(e) = w.eval(&script) {
            log::debug!("cannot ask the UI to show {view}: {e}");
        }
    }
    reveal(app, &w);
    // The page stopped getting samples while hidden: the newest one at once.
    if let Some(s) = app.state::<AppState>().backend.latest() {
        send_snapshot(app, &s);
    }
    log::info!(
        "popover shown {} ms after the request (kept web view)",
        requested.elapsed().as_millis()
    );
}

/// Sends `snapshot` to the popover's page.
pub fn send_snapshot<R: Runtime>(app: &AppHandle<R>, snapshot: &Snapshot) {
    if let Err(e) = app.emit_to(MAIN, crate::live::EVENT_SNAPSHOT, snapshot) {
        log::debug!("cannot send the snapshot to the window: {e}");
    }
}

/// Creates the window off screen; it moves into place when its page has painted a sample
/// (the page calls `page_painted`, and its title then names the pressure level, see
/// [`popover::painted_title`]), or after [`popover::PAINT_TIMEOUT`] at the latest.
fn create<R: Runtime>(app: &AppHandle<R>, view: Option<&str>, requested: Instant) {
    let Some(mut config) = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
    else {
        return log::warn!("no window named {MAIN} in the configuration");
    };
    if let Some(view) = view {
        config.url = WebviewUrl::App(format!("index.html#{view}").into());
    }
    let state = app.state::<AppState>();
    state.set_pending_show(Some(requested));
    // Mapped, but off every screen until the page has painted: a web view whose window is
    // hidden does not render (WebKit treats the page as hidden: no animation frames,
    // throttled timers), so the page would paint only once shown, and the popover would open
    // blank. Moved into place, then focused, once painted (see `reveal`).
    let built = WebviewWindowBuilder::from_config(app, &config).and_then(|b| {
        b.visible(true)
            .focused(false)
            .position(popover::OFF_SCREEN, popover::OFF_SCREEN)
            .on_document_title_changed(|w, title| {
                log::debug!("page title: {title}");
                if popover::painted_title(&title) {
                    reveal_pending(w.app_handle(), "title");
                }
            })
            .build()
    });
    let w = match built {
        Ok(w) => w,
        Err(e) => {
            state.set_pending_show(None);
            return log::warn!("cannot create the window: {e}");
        }
    };
    console_to_stdout(&w);
    #[cfg(target_os = "macos")]
    crate::macos::float_over_full_screen(&w);
    log::debug!("web view created");
    arm_paint_timeout(app, requested);
}

/// Loads the released page again into the kept window ([`popover::Release::EndWebProcess`]):
/// the window waits off screen, as a new one does, until the page has painted a sample. The
/// page keeps the view it showed unless `view` names another; `url` is the address it showed
/// (the web view forgets it once its web process has ended).
fn reload<R: Runtime>(
    app: &AppHandle<R>,
    w: &WebviewWindow<R>,
    view: Option<&str>,
    url: Option<&str>,
    requested: Instant,
) {
    app.state::<AppState>().set_pending_show(Some(requested));
    let target = view.zip(url).and_then(|(view, url)| {
        let mut url = tauri::Url::parse(url).ok()?;
        url.set_fragment(Some(view));
        Some(url)
    });
    let loaded = w
        .set_position(tauri::LogicalPosition::new(
            popover::OFF_SCREEN,
            popover::OFF_SCREEN,
        ))
        .and_then(|()| w.show())
        .and_then(|()| match target {
            Some(url) => w.navigate(url),
            None => w.reload(),
        });
    if let Err(e) = loaded {
        log::warn!("cannot load the page again: {e}");
    }
    log::debug!(
        "page loading again on {}",
        view.unwrap_or("the view it showed")
    );
    arm_paint_timeout(app, requested);
}

/// Shows the popover after [`popover::PAINT_TIMEOUT`] if its page has not painted by then.
fn arm_paint_timeout<R: Runtime>(app: &AppHandle<R>, requested: Instant) {
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(popover::PAINT_TIMEOUT).await;
        let app = handle.clone();
        let _ = handle.run_on_main_thread(move || {
            if popover::timeout_reveals(app.state::<AppState>().pending_show(), requested) {
                reveal_pending(&app, "not painted yet");
            }
        });
    });
}

/// The page has painted its first sample (it says so through the `page_painted` command):
/// shows the popover if it waits for that.
pub fn page_painted<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    let run = app.run_on_main_thread(move || reveal_pending(&handle, "painted"));
    if let Err(e) = run {
        log::warn!("cannot show the window: {e}");
    }
}

/// Shows the window being created, if it still waits (`why`: what let it show).
fn reveal_pending<R: Runtime>(app: &AppHandle<R>, why: &str) {
    let state = app.state::<AppState>();
    let Some(requested) = state.pending_show() else {
        return;
    };
    let Some(w) = main_window(app) else {
        return state.set_pending_show(None);
    };
    state.set_pending_show(None);
    reveal(app, &w);
    log::info!(
        "popover shown {} ms after the request (fresh page, {why})",
        requested.elapsed().as_millis()
    );
}

/// Places the window, then shows and focuses it.
fn reveal<R: Runtime>(app: &AppHandle<R>, w: &WebviewWindow<R>) {
    place(app, w);
    if let Err(e) = w.show().and_then(|()| w.set_focus()) {
        log::warn!("cannot show the window: {e}");
    }
    app.state::<AppState>().popover_shown();
}

/// Moves the window under the tray icon, or below the menu bar (a top panel) in the
/// top-right corner of its screen's work area when the tray has not reported where it is
/// (Linux indicators do not): see [`popover::origin`].
fn place<R: Runtime>(app: &AppHandle<R>, w: &WebviewWindow<R>) {
    let placed = (|| -> tauri::Result<()> {
        let monitor = match w.current_monitor()? {
            Some(m) => Some(m),
            None => w.primary_monitor()?,
        };
        let Some(monitor) = monitor else {
            return Ok(());
        };
        let work = monitor.work_area();
        let work = Rect {
            x: work.position.x,
            y: work.position.y,
            width: work.size.width,
            height: work.size.height,
        };
        let size = w.inner_size()?;
        let tray = app.state::<AppState>().tray_rect();
        let (x, y) = popover::origin(tray, work, (size.width, size.height));
        w.set_position(PhysicalPosition::new(x, y))
    })();
    if let Err(e) = placed {
        log::debug!("cannot position the window: {e}");
    }
}

/// With `HEADROOM_WEBVIEW_CONSOLE=1`, the page's console messages go to stdout (Linux), so
/// a script error in the UI shows in the smoke test's log.
fn console_to_stdout<R: Runtime>(w: &WebviewWindow<R>) {
    if std::env::var("HEADROOM_WEBVIEW_CONSOLE").as_deref() != Ok("1") {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let result = w.with_webview(|webview| {
            use webkit2gtk::{SettingsExt, WebViewExt};
            if let Some(settings) = webview.inner().settings() {
                settings.set_enable_write_console_messages_to_stdout(true);
            }
        });
        if let Err(e) = result {
            log::warn!("cannot copy the page's console: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = w;
}

/// Hides the window (the app keeps running in the tray) and starts the keep timer.
pub fn hide<R: Runtime>(app: &AppHandle<R>) {
    let Some(w) = main_window(app) else { return };
    if let Err(e) = w.hide() {
        log::warn!("cannot hide the window: {e}");
    }
    let state = app.state::<AppState>();
    let ticket = state.popover_hidden();
    let Some(keep) = state.keep else { return };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(keep).await;
        let app = handle.clone();
        let _ = handle.run_on_main_thread(move || drop_web_view(&app, ticket));
    });
}

/// Destroys the window and its web view if it stayed hidden since `ticket`.
fn drop_web_view<R: Runtime>(app: &AppHandle<R>, ticket: HiddenTicket) {
    let state = app.state::<AppState>();
    if !state.may_drop_web_view(ticket) {
        return;
    }
    let Some(w) = main_window(app) else { return };
    if !state.page_loaded() {
        return; // released already
    }
    let released = match popover::RELEASE {
        popover::Release::DestroyWindow => w.destroy().map(|()| "window destroyed"),
        popover::Release::EndWebProcess => {
            let url = w.url().ok().map(String::from);
            end_web_process(&w).map(|()| {
                state.page_released(url);
                "web process ended"
            })
        }
    };
    let how = match released {
        Ok(how) => how,
        Err(e) => return log::warn!("cannot close the web view: {e}"),
    };
    log::info!(
        "web view closed after {} s hidden ({how})",
        state.keep.map_or(0, |k| k.as_secs())
    );
    tauri::async_runtime::spawn(async {
        crate::trim::end_idle_network_process().await;
        crate::trim::after_web_view_closed();
    });
}

/// Ends the web process of `w`'s page (WebKitGTK); the window and web view object stay.
/// Where [`popover::RELEASE`] is [`popover::Release::DestroyWindow`] this is never called,
/// and destroys the window.
fn end_web_process<R: Runtime>(w: &WebviewWindow<R>) -> tauri::Result<()> {
    #[cfg(target_os = "linux")]
    {
        w.with_webview(|webview| {
            use webkit2gtk::WebViewExt;
            webview.inner().terminate_web_process();
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        w.destroy()
    }
}

/// Shows the window when hidden, hides it when shown (a click on the tray icon).
pub fn toggle<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    if state.pending_show().is_some() {
        return; // opening already
    }
    if state.window_visible() {
        hide(app);
    } else {
        show(app);
    }
}

/// Window events of the main window: close hides, losing focus hides (popover behaviour)
/// unless pinned or an administrator prompt is up.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if window.label() != MAIN {
        return;
    }
    let app = window.app_handle();
    match event {
        WindowEvent::CloseRequested { api, .. } => {
            api.prevent_close();
            hide(app);
        }
        WindowEvent::Focused(false) => {
            let prompts = app.state::<AppState>().admin_prompts_open();
            if popover::hides_on_blur(pinned(), prompts) {
                hide(app);
            }
        }
        WindowEvent::Destroyed => {
            let state = app.state::<AppState>();
            state.set_pending_show(None);
            if state.window_visible() {
                state.popover_hidden();
            }
        }
        _ => {}
    }
}

/// `HEADROOM_APP_PIN=1` keeps the window open when it loses focus (handy on Linux desktops
/// without a tray popover, and for screenshots).
fn pinned() -> bool {
    std::env::var("HEADROOM_APP_PIN").is_ok_and(|v| v == "1")
}
