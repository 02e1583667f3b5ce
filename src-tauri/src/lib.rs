//! Headroom's menu-bar app: a tray icon that shows memory pressure and used memory, a native
//! menu to clear MLX caches, a popover window with the web UI, and notifications from the
//! engine's alert rules. The engine runs in-process.
//!
//! Shaped like Tauri's `examples/api`: `main.rs` calls [`run`]; [`commands`] are thin
//! handlers over the engine, registered by [`with_commands`] so tests can drive them through
//! `tauri::test::mock_builder`; the tray lives in [`tray`] and decides nothing itself — the
//! pure [`icon`], [`title`], [`menu_model`] and [`notify`] modules do.
#![deny(missing_docs)]

pub mod actions;
pub mod backend;
pub mod commands;
pub mod engine;
pub mod icon;
pub mod live;
pub mod login_item;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod menu_model;
pub mod migrate;
pub mod notify;
pub mod popover;
pub mod render_env;
pub mod server;
pub mod settings;
#[cfg(unix)]
pub mod single_instance;
pub mod state;
pub mod title;
pub mod tray;
pub mod trim;
pub mod window;

use backend::Backend;
use state::AppState;
use std::sync::Arc;
use std::time::Instant;
use tauri::{AppHandle, Builder, Manager, RunEvent, Runtime};

/// Registers the commands on `builder` (the app and the tests); they need an [`AppState`]
/// managed before the first call. Their names are the operations table's
/// (`headroom_core::ops::TABLE`); a test checks that every one is registered.
pub fn with_commands<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::get_snapshot,
        commands::get_history,
        commands::get_events,
        commands::get_config,
        commands::put_config,
        commands::clear_cache,
        commands::set_limit,
        commands::enable_agent,
        commands::get_wired_limit,
        commands::get_fit,
        commands::get_doctor,
        commands::get_top,
        commands::check_wired_limit,
        commands::set_wired_limit,
        commands::page_painted,
    ])
}

/// Command-line options of `headroom-app`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LaunchOptions {
    /// Open the window at start (`--show`, or `HEADROOM_APP_SHOW=1`).
    pub show: bool,
}

impl LaunchOptions {
    /// Parses `args` (without the program name) and the environment.
    pub fn parse(args: impl IntoIterator<Item = String>, show_env: Option<&str>) -> Self {
        let show = args.into_iter().any(|a| a == "--show") || show_env == Some("1");
        Self { show }
    }
}

/// The notification plugin's page script asks whether notifications are allowed when the
/// page loads; granted at run time because the plugin is optional (`native-notifications`).
#[cfg(feature = "native-notifications")]
const NOTIFICATION_CAPABILITY: &str = r#"{
  "identifier": "notification-check",
  "description": "The notification plugin's page script may ask whether notifications are allowed.",
  "windows": ["main"],
  "permissions": ["notification:allow-is-permission-granted"]
}"#;

/// Starts the app and runs until "Quit", SIGTERM or SIGINT.
pub fn run() {
    let started = Instant::now();
    // Before any thread starts (it changes the environment WebKitGTK reads).
    #[cfg(target_os = "linux")]
    render_env::apply();
    let options = LaunchOptions::parse(
        std::env::args().skip(1),
        std::env::var("HEADROOM_APP_SHOW").ok().as_deref(),
    );
    let keep = match popover::keep_from(std::env::var(popover::KEEP_ENV).ok().as_deref()) {
        Ok(keep) => keep,
        Err(e) => exit_with(&e),
    };
    #[cfg(target_os = "linux")]
    trim::raise_open_file_limit();
    // Tauri's async runtime, sized for this app (see `trim`), before anything spawns on it.
    let runtime = trim::runtime().unwrap_or_else(|e| exit_with(&format!("no async runtime: {e}")));
    tauri::async_runtime::set(runtime.handle().clone());
    #[cfg(unix)]
    let instance = claim_instance();
    let app = with_commands(plugins(Builder::default()))
        .setup(move |app| {
            let handle = app.handle();
            setup(handle, started, keep, &options)?;
            #[cfg(unix)]
            serve_later_launches(handle, instance);
            Ok(())
        })
        .on_window_event(window::on_window_event)
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(on_run_event),
        Err(e) => exit_with(&format!("cannot start: {e}")),
    }
    drop(runtime);
}

fn exit_with(message: &str) -> ! {
    eprintln!("headroom-app: {message}");
    std::process::exit(1);
}

/// This user's app, or exits after asking the one running to show its popover (a second
/// launch). Before anything else starts: the engine must not run twice.
#[cfg(unix)]
fn claim_instance() -> Option<tokio::net::UnixListener> {
    let dir = headroom_core::agents::discovery::runtime_dir();
    match tauri::async_runtime::block_on(single_instance::claim(&dir)) {
        Ok(single_instance::Claim::First(listener)) => Some(listener),
        Ok(single_instance::Claim::AlreadyRunning) => {
            println!("headroom-app: already running; asked it to show its window");
            std::process::exit(0);
        }
        Err(e) => {
            // Never refuse to start over it: the person asked for the app.
            eprintln!(
                "headroom-app: no single-instance socket in {}: {e}",
                dir.display()
            );
            None
        }
    }
}

#[cfg(unix)]
fn serve_later_launches<R: Runtime>(
    app: &AppHandle<R>,
    listener: Option<tokio::net::UnixListener>,
) {
    let Some(listener) = listener else { return };
    OWNS_INSTANCE_SOCKET.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = app.clone();
    tauri::async_runtime::spawn(single_instance::serve(listener, move || {
        relaunched(&app, Relaunch::SecondLaunch);
    }));
}

/// Whether this process bound the single-instance socket (and removes it at exit).
#[cfg(unix)]
static OWNS_INSTANCE_SOCKET: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// How the app was launched again while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relaunch {
    /// A second `headroom-app` process of the same user (it exits at once).
    SecondLaunch,
    /// macOS: Finder, Spotlight, the Dock or `open -a` asked the running app to reopen
    /// (`applicationShouldHandleReopen:hasVisibleWindows:`, which tao's `app_delegate.rs`
    /// forwards and Tauri delivers as `RunEvent::Reopen`); no second process is started.
    Reopen,
}

/// Either relaunch shows the popover.
pub fn relaunched<R: Runtime>(app: &AppHandle<R>, how: Relaunch) {
    log::info!("{how:?}: showing the window");
    window::show(app);
}

/// The plugins. The old identifier's folders move first, before the log plugin opens its
/// file in the new one.
fn plugins(builder: Builder<tauri::Wry>) -> Builder<tauri::Wry> {
    #[cfg(windows)]
    let builder = builder.plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
        relaunched(app, Relaunch::SecondLaunch);
    }));
    let builder = builder.plugin(migrate_plugin());
    #[cfg(feature = "native-notifications")]
    let builder = builder.plugin(tauri_plugin_notification::init());
    let builder = builder.plugin(log_plugin()).plugin(
        tauri_plugin_window_state::Builder::new()
            .with_state_flags(tauri_plugin_window_state::StateFlags::SIZE)
            .build(),
    );
    #[cfg(any(windows, target_os = "linux"))]
    let builder = builder.plugin(tauri_plugin_autostart::init(
        tauri_plugin_autostart::MacosLauncher::LaunchAgent,
        None,
    ));
    builder
}

/// Moves the folders Tauri named after the old bundle identifier (see [`migrate`]).
fn migrate_plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("headroom-migrate")
        .setup(|app, _api| {
            let path = app.path();
            let dirs: Vec<_> = [
                path.app_log_dir(),
                path.app_config_dir(),
                path.app_data_dir(),
                path.app_local_data_dir(),
                path.app_cache_dir(),
            ]
            .into_iter()
            .filter_map(Result::ok)
            .collect();
            migrate::run(&dirs);
            Ok(())
        })
        .build()
}

/// Logs to the app's log directory and stderr; `HEADROOM_LOG=debug` adds a line per sample.
fn log_plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    use tauri_plugin_log::{Target, TargetKind};
    let level = match std::env::var("HEADROOM_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("warn") => log::LevelFilter::Warn,
        _ => log::LevelFilter::Info,
    };
    tauri_plugin_log::Builder::new()
        .targets([
            Target::new(TargetKind::LogDir {
                file_name: Some("headroom".into()),
            }),
            Target::new(TargetKind::Stderr),
        ])
        .level(log::LevelFilter::Warn)
        .level_for("headroom_app", level)
        .level_for("headroom_core", level)
        .build()
}

/// Starts the engine, the tray and the live loop (after single-instance let this launch on).
fn setup<R: Runtime>(
    app: &AppHandle<R>,
    started: Instant,
    keep: Option<std::time::Duration>,
    options: &LaunchOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let engine = engine::start();
    #[cfg(target_os = "macos")]
    macos::begin_engine_activity();
    let backend: Arc<dyn Backend> = Arc::new(engine.clone());
    app.manage(engine);
    app.manage(AppState::new(backend, started).with_keep(keep));
    #[cfg(target_os = "macos")]
    app.set_activation_policy(tauri::ActivationPolicy::Accessory)?;
    #[cfg(feature = "native-notifications")]
    app.add_capability(NOTIFICATION_CAPABILITY)?;
    let tray = tray::create(app)?;
    tray::log_ready(app);
    live::spawn(app.clone(), Some(tray));
    stop_on_signals(app.clone());
    tauri::async_runtime::spawn(trim::settle_after_launch());
    if options.show {
        window::show(app);
    }
    Ok(())
}

fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: RunEvent) {
    match event {
        // Closing the window never quits: only "Quit" or a signal (which pass a code) do.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        #[cfg(target_os = "macos")]
        RunEvent::Reopen { .. } => relaunched(app, Relaunch::Reopen),
        RunEvent::Exit => {
            if let Some(state) = app.try_state::<AppState>() {
                tauri::async_runtime::block_on(state.backend.shutdown());
            }
            #[cfg(target_os = "macos")]
            macos::end_engine_activity();
            #[cfg(unix)]
            if OWNS_INSTANCE_SOCKET.load(std::sync::atomic::Ordering::SeqCst) {
                single_instance::release(&headroom_core::agents::discovery::runtime_dir());
            }
            log::info!("stopped");
        }
        _ => {}
    }
}

/// SIGTERM and SIGINT quit cleanly (history flushed, exit status 0).
fn stop_on_signals<R: Runtime>(app: AppHandle<R>) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return log::warn!("cannot listen for SIGTERM/SIGINT");
        };
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM: quitting"),
            _ = int.recv() => log::info!("SIGINT: quitting"),
        }
        app.exit(0);
    });
}

#[cfg(test)]
mod tests {
    use super::LaunchOptions;

    #[test]
    fn show_comes_from_the_flag_or_the_environment() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(LaunchOptions::parse(args(&["--show"]), None).show);
        assert!(LaunchOptions::parse(args(&[]), Some("1")).show);
        assert!(!LaunchOptions::parse(args(&["--shows"]), Some("0")).show);
        assert_eq!(
            LaunchOptions::parse(args(&[]), None),
            LaunchOptions::default()
        );
    }
}
