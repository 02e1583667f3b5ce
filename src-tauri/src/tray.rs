//! The tray icon, its title and its native menu.
//!
//! Built once at start with fixed item ids; [`TrayView::show`] then updates the icon, the
//! title and the menu items only where what they show changed (see [`crate::icon`],
//! [`crate::title`] and [`crate::menu_model`], which decide what to show).

use crate::icon::{IconCache, IconKey, SIZE};
use crate::login_item::{self, LoginItemState};
use crate::menu_model::{ItemId, MenuModel};
use crate::state::AppState;
use crate::{actions, window};
use headroom_core::config::{App as AppSettings, IconStyle};
use headroom_core::wired::CheckedMb;
use headroom_core::Snapshot;
use std::collections::HashMap;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

/// The tray icon's id.
pub const TRAY_ID: &str = "headroom";

const OPEN: &str = "open";
const ALERTS: &str = "alerts";
const LAUNCH_AT_LOGIN: &str = "launch-at-login";
const QUIT: &str = "quit";
const REAPPLY: &str = "reapply-wired-limit";
/// Where the re-apply offer goes: after "Clear MLX cache" (5 summary lines and a separator).
const REAPPLY_POSITION: usize = 7;

/// The tray and the menu items that follow the snapshot, with what they show now.
pub struct TrayView<R: Runtime> {
    tray: TrayIcon<R>,
    items: HashMap<ItemId, MenuItem<R>>,
    menu: Menu<R>,
    reapply: MenuItem<R>,
    reapply_shown: bool,
    launch_at_login: CheckMenuItem<R>,
    shown_menu: Option<MenuModel>,
    icon: IconCache,
    shown_title: Option<Option<String>>,
}

/// Builds the tray icon and its menu (before the first sample).
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<TrayView<R>> {
    let model = MenuModel::from_snapshot(None);
    let mut items = HashMap::new();
    for id in ItemId::ALL {
        let item = model.item(id);
        let menu_item = MenuItem::with_id(app, id.id(), &item.label, item.enabled, None::<&str>)?;
        items.insert(id, menu_item);
    }
    let login = login_item::check_mark(login_item::state(app));
    let launch_at_login = CheckMenuItem::with_id(
        app,
        LAUNCH_AT_LOGIN,
        login.label,
        login.enabled,
        login.checked,
        None::<&str>,
    )?;
    let menu = build_menu(app, &items, &launch_at_login)?;
    // Added to the menu only while offered (see `show_reapply`).
    let reapply = MenuItem::with_id(
        app,
        REAPPLY,
        "Re-apply GPU wired limit…",
        true,
        None::<&str>,
    )?;
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Headroom")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu_event)
        .on_tray_icon_event(on_tray_event)
        .build(app)?;
    Ok(TrayView {
        tray,
        items,
        menu,
        reapply,
        reapply_shown: false,
        launch_at_login,
        shown_menu: Some(model),
        icon: IconCache::default(),
        shown_title: None,
    })
}

fn build_menu<R: Runtime>(
    app: &AppHandle<R>,
    items: &HashMap<ItemId, MenuItem<R>>,
    launch_at_login: &CheckMenuItem<R>,
) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    let summary = [
        ItemId::Used,
        ItemId::Swap,
        ItemId::Compressed,
        ItemId::Mlx,
        ItemId::Doctor,
    ];
    for id in summary {
        if let Some(item) = items.get(&id) {
            menu.append(item)?;
        }
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    if let Some(item) = items.get(&ItemId::ClearCache) {
        menu.append(item)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        OPEN,
        "Open Headroom",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        ALERTS,
        "Alerts…",
        true,
        None::<&str>,
    )?)?;
    menu.append(launch_at_login)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        QUIT,
        "Quit Headroom",
        true,
        Some("CmdOrCtrl+Q"),
    )?)?;
    Ok(menu)
}

impl<R: Runtime> TrayView<R> {
    /// Shows `snapshot` with `settings` (title format, icon style) and the wired limit the
    /// menu offers to re-apply; touches only what changed.
    pub fn show(
        &mut self,
        snapshot: Option<&Snapshot>,
        settings: &AppSettings,
        reapply: Option<CheckedMb>,
    ) {
        self.show_icon(snapshot, settings.icon_style);
        self.show_title(crate::title::render(settings.title, snapshot));
        self.show_menu(MenuModel::from_snapshot(snapshot).with_reapply(reapply));
    }

    fn show_icon(&mut self, snapshot: Option<&Snapshot>, style: IconStyle) {
        let Some(rgba) = self.icon.update(IconKey::new(snapshot, style)) else {
            return;
        };
        let image = Image::new_owned(rgba, SIZE, SIZE);
        let template = style == IconStyle::Template;
        if let Err(e) = self.tray.set_icon_with_as_template(Some(image), template) {
            log::warn!("cannot set the tray icon: {e}");
        }
    }

    fn show_title(&mut self, title: Option<String>) {
        if self.shown_title.as_ref() == Some(&title) {
            return;
        }
        if let Err(e) = self.tray.set_title(title.as_deref()) {
            log::warn!("cannot set the tray title: {e}");
        }
        self.shown_title = Some(title);
    }

    fn show_menu(&mut self, model: MenuModel) {
        for (id, item) in model.changes_from(self.shown_menu.as_ref()) {
            let Some(menu_item) = self.items.get(&id) else {
                continue;
            };
            let result = menu_item
                .set_text(&item.label)
                .and_then(|()| menu_item.set_enabled(item.enabled));
            if let Err(e) = result {
                log::warn!("cannot update the menu item {}: {e}", id.id());
            }
        }
        self.show_reapply(model.reapply());
        self.shown_menu = Some(model);
    }

    /// Adds, relabels or removes the re-apply offer when it changed.
    fn show_reapply(&mut self, item: Option<&crate::menu_model::Item>) {
        let shown = self.shown_menu.as_ref().and_then(MenuModel::reapply);
        if self.reapply_shown && shown == item {
            return;
        }
        let result = match item {
            Some(item) => self.reapply.set_text(&item.label).and_then(|()| {
                if self.reapply_shown {
                    Ok(())
                } else {
                    self.menu.insert(&self.reapply, REAPPLY_POSITION)
                }
            }),
            None if self.reapply_shown => self.menu.remove(&self.reapply),
            None => return,
        };
        match result {
            Ok(()) => self.reapply_shown = item.is_some(),
            Err(e) => log::warn!("cannot update the re-apply item: {e}"),
        }
    }

    /// Shows the login item's state as the system reports it (check mark and label).
    pub fn show_launch_at_login(&self, state: LoginItemState) {
        let mark = login_item::check_mark(state);
        let result = self
            .launch_at_login
            .set_checked(mark.checked)
            .and_then(|()| self.launch_at_login.set_text(mark.label))
            .and_then(|()| self.launch_at_login.set_enabled(mark.enabled));
        if let Err(e) = result {
            log::warn!("cannot update the launch-at-login item: {e}");
        }
    }
}

/// Where the tray icon is, in physical pixels (tray-icon reports it with each mouse event on
/// macOS and Windows; Linux indicators do not report events).
fn tray_rect(rect: &tauri::Rect) -> crate::popover::Rect {
    let position = rect.position.to_physical::<i32>(1.0);
    let size = rect.size.to_physical::<u32>(1.0);
    crate::popover::Rect {
        x: position.x,
        y: position.y,
        width: size.width,
        height: size.height,
    }
}

fn on_tray_event<R: Runtime>(tray: &TrayIcon<R>, event: TrayIconEvent) {
    let rect = match &event {
        TrayIconEvent::Click { rect, .. }
        | TrayIconEvent::DoubleClick { rect, .. }
        | TrayIconEvent::Enter { rect, .. }
        | TrayIconEvent::Move { rect, .. }
        | TrayIconEvent::Leave { rect, .. } => Some(tray_rect(rect)),
        _ => None,
    };
    if let Some(rect) = rect {
        tray.app_handle().state::<AppState>().set_tray_rect(rect);
    }
    if let TrayIconEvent::Click {
        button: MouseButton::Left,
        button_state: MouseButtonState::Up,
        ..
    } = event
    {
        window::toggle(tray.app_handle());
    }
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    match event.id().as_ref() {
        OPEN => window::show(app),
        ALERTS => window::show_view(app, "alerts"),
        LAUNCH_AT_LOGIN => actions::toggle_launch_at_login(app),
        QUIT => {
            log::info!("quit from the menu");
            app.exit(0);
        }
        id if id == ItemId::ClearCache.id() => actions::clear_all_caches(app),
        id if id == ItemId::Doctor.id() => window::show_view(app, "tools"),
        REAPPLY => actions::reapply_wired_limit(app),
        _ => {}
    }
}

/// The elapsed time since launch, for the log.
pub fn log_ready<R: Runtime>(app: &AppHandle<R>) {
    let ms = app.state::<AppState>().elapsed_ms();
    log::info!("tray icon ready {ms} ms after launch");
}
