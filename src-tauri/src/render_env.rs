//! How WebKitGTK draws the popover on Linux: without accelerated compositing unless the
//! user chose otherwise.
//!
//! WebKitGTK composites a page with OpenGL when it can. For this window — a few figures and
//! one small chart that change once a second — that costs far more than drawing it in
//! software: under Xvfb (Mesa's llvmpipe, OpenGL on the CPU) the web process of the open
//! popover on the Overview measured 13.4 % of one core composited and 4.0 % without (the same
//! binary, side by side, on a loaded machine; README, "The live window", has the whole-app
//! figures). WebKitGTK's UI process reads `WEBKIT_DISABLE_COMPOSITING_MODE`
//! when it decides the hardware-acceleration mode (`HardwareAccelerationManager`,
//! Source/WebKit/UIProcess/gtk/HardwareAccelerationManager.cpp; listed in
//! <https://trac.webkit.org/wiki/EnvironmentVariables>); any value set by the user, `0`
//! included, is left alone. macOS's WKWebView has no such switch, and nothing here runs there.

/// The variable WebKitGTK reads to turn accelerated compositing off.
pub const DISABLE_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// The value to give [`DISABLE_COMPOSITING`] at start, given what the environment holds:
/// `Some("1")` when unset, `None` (keep the user's choice) when set to anything.
pub fn compositing_override(current: Option<&std::ffi::OsStr>) -> Option<&'static str> {
    match current {
        None => Some("1"),
        Some(_) => None,
    }
}

/// Sets [`DISABLE_COMPOSITING`] when the user has not. Called first thing in [`crate::run`],
/// before any thread starts: changing the environment is sound only while the process is
/// single-threaded.
#[cfg(target_os = "linux")]
pub fn apply() {
    if let Some(v) = compositing_override(std::env::var_os(DISABLE_COMPOSITING).as_deref()) {
        std::env::set_var(DISABLE_COMPOSITING, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn compositing_is_turned_off_only_when_the_user_said_nothing() {
        assert_eq!(compositing_override(None), Some("1"));
        assert_eq!(compositing_override(Some(OsStr::new("0"))), None);
        assert_eq!(compositing_override(Some(OsStr::new("1"))), None);
        assert_eq!(compositing_override(Some(OsStr::new(""))), None);
    }
}
