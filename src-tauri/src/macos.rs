//! The macOS shells (type-checked from Linux; no Mac has run them): the App Nap activity that
//! keeps the in-process engine sampling at full rate, and the popover's Space behaviour.

use objc2::rc::Retained;
use objc2::runtime::{NSObjectProtocol, ProtocolObject};
use objc2_app_kit::{NSWindow, NSWindowCollectionBehavior};
use objc2_foundation::{ns_string, NSActivityOptions, NSProcessInfo};
use std::cell::RefCell;

thread_local! {
    /// The activity held while the engine runs (begun and ended on the main thread).
    static ACTIVITY: RefCell<Option<Retained<ProtocolObject<dyn NSObjectProtocol>>>> =
        const { RefCell::new(None) };
}

/// Keeps App Nap from throttling the app while the engine runs.
///
/// A menu-bar app whose windows are hidden is a candidate for App Nap, which coalesces and
/// delays its timers (Apple, Energy Efficiency Guide for Mac Apps, "App Nap"); the engine's
/// 1 s sampler and its alert rules would then run late. Apple's documented way to opt out for
/// a stretch of work is an activity: `-[NSProcessInfo beginActivityWithOptions:reason:]`
/// (Foundation, NSProcessInfo, "Managing Activities"), held until `endActivity:`.
/// `NSActivityUserInitiatedAllowingIdleSystemSleep` keeps App Nap away but still lets the Mac
/// sleep when idle. The alternative, `NSAppSleepDisabled`, is a user default documented only
/// for `defaults write` in the OS X 10.9 release notes, not an Info.plist key, so the
/// activity is used.
pub fn begin_engine_activity() {
    let info = NSProcessInfo::processInfo();
    let token = info.beginActivityWithOptions_reason(
        NSActivityOptions::UserInitiatedAllowingIdleSystemSleep,
        ns_string!("Headroom samples memory pressure every interval and raises alerts"),
    );
    ACTIVITY.with(|a| *a.borrow_mut() = Some(token));
}

/// Ends the activity (the engine stopped).
pub fn end_engine_activity() {
    let Some(token) = ACTIVITY.with(|a| a.borrow_mut().take()) else {
        return;
    };
    let info = NSProcessInfo::processInfo();
    // SAFETY: `token` is the object `beginActivityWithOptions:reason:` returned, ended once.
    unsafe { info.endActivity(&token) };
}

/// Makes the popover a full-screen auxiliary window that joins every Space: opened from the
/// menu bar over a full-screen app it appears over that app instead of switching to the
/// desktop's Space (AppKit, `NSWindowCollectionBehavior.fullScreenAuxiliary` and
/// `.canJoinAllSpaces`; tao's `set_visible_on_all_workspaces` sets only the latter).
pub fn float_over_full_screen<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    let ptr = match window.ns_window() {
        Ok(ptr) if !ptr.is_null() => ptr,
        Ok(_) => return log::debug!("the popover has no NSWindow yet"),
        Err(e) => return log::debug!("no NSWindow for the popover: {e}"),
    };
    // SAFETY: tauri's `ns_window` returns tao's `NSWindow*` for this window, non-null
    // (checked), alive while `window` is; called on the main thread (window creation).
    let ns_window: &NSWindow = unsafe { &*ptr.cast::<NSWindow>() };
    let behavior = ns_window.collectionBehavior()
        | NSWindowCollectionBehavior::FullScreenAuxiliary
        | NSWindowCollectionBehavior::CanJoinAllSpaces;
    ns_window.setCollectionBehavior(behavior);
}
