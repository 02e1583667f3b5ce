//! What the popover does, decided without a window: where it opens, how long its web view is
//! kept once hidden, when the page has painted a sample, and whether losing focus hides it.
//! [`crate::window`] is the thin shell that applies these decisions.

use std::time::Duration;

/// How long a hidden popover keeps its web view by default: a quick re-open stays instant,
/// and the web and network processes are gone soon after the popover is closed.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(45);

/// The environment variable that sets how long the hidden popover keeps its web view.
pub const KEEP_ENV: &str = "HEADROOM_WEBVIEW_KEEP_SECS";

/// The longest a new web view may take to paint a sample before the popover is shown anyway
/// (then with whatever the page has drawn), so a click never goes unanswered.
pub const PAINT_TIMEOUT: Duration = Duration::from_millis(2000);

/// Where a new popover waits (logical pixels, both axes) while its page paints: mapped, so
/// the web view renders, but on no screen.
pub const OFF_SCREEN: f64 = -20_000.0;

/// A rectangle in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }
}

/// Where the popover's top-left corner goes, in physical pixels.
///
/// - Under the tray icon, centred on it, when the tray reported where it is (macOS; on a
///   panel at the bottom of the screen the popover goes above the icon instead).
/// - Else in the top-right corner of the screen's work area: below the macOS menu bar (the
///   work area is the screen minus the menu bar and the Dock: `NSScreen.visibleFrame`, which
///   tao reports as the monitor's work area) and below a top panel on Linux.
///
/// The popover always stays inside the work area horizontally.
pub fn origin(tray: Option<Rect>, work_area: Rect, window: (u32, u32)) -> (i32, i32) {
    let (width, height) = (i64::from(window.0), i64::from(window.1));
    let min_x = i64::from(work_area.x);
    let max_x = (work_area.right() - width).max(min_x);
    let (x, y) = match tray {
        Some(t) => {
            let x = i64::from(t.x) + i64::from(t.width) / 2 - width / 2;
            let middle = i64::from(work_area.y) + i64::from(work_area.height) / 2;
            let y = if i64::from(t.y) > middle {
                i64::from(t.y) - height
            } else {
                t.bottom().max(i64::from(work_area.y))
            };
            (x, y)
        }
        None => (max_x, i64::from(work_area.y)),
    };
    (clamp_i32(x.clamp(min_x, max_x)), clamp_i32(y))
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// How long the hidden popover keeps its web view, from `HEADROOM_WEBVIEW_KEEP_SECS`:
/// seconds (`0` drops it as soon as it is hidden), `forever` keeps it for the app's life (the
/// behaviour before the web view was dropped), unset: [`DEFAULT_KEEP`].
pub fn keep_from(value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(v) = value.map(str::trim) else {
        return Ok(Some(DEFAULT_KEEP));
    };
    if v == "forever" {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(secs) => Ok(Some(Duration::from_secs(u64::from(secs)))),
        Err(_) => Err(format!(
            "{KEEP_ENV}={v:?} is not a number of seconds (0 to {}) or \"forever\"",
            u32::MAX
        )),
    }
}

/// How a hidden popover lets go of its page once the keep time is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The window and its web view are destroyed; the next open builds new ones.
    DestroyWindow,
    /// The page's web process is ended (`webkit_web_view_terminate_web_process`, WebKitGTK
    /// 2.34+) and the idle network process after it; the hidden window and the web view
    /// object stay, and the next open loads the page again into a new web process. WebKitGTK
    /// 2.50 keeps one `memfd:WebKitSharedMemory` descriptor and about 0.14 MB of the app
    /// process's memory for every web view it destroys (50 opens: 34 → 91 descriptors,
    /// 41 → 48 MB PSS); a kept view object costs neither.
    EndWebProcess,
}

/// How this platform releases the popover's page: WebKitGTK ends the web process (see
/// [`Release::EndWebProcess`]); elsewhere the window is destroyed.
pub const RELEASE: Release = if cfg!(target_os = "linux") {
    Release::EndWebProcess
} else {
    Release::DestroyWindow
};

/// Counts shows and hides, so a timer started at a hide can tell whether the popover was
/// shown again since (then it must not drop the web view), and remembers whether the page
/// was released while the window stayed (then the next open loads it again).
#[derive(Debug, Default)]
pub struct Keeper {
    generation: u64,
    visible: bool,
    /// `Some` once the page was released: the address it showed, if known.
    released: Option<Option<String>>,
}

/// What a hide hands to its timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenTicket(u64);

impl Keeper {
    /// The popover was shown.
    pub fn shown(&mut self) {
        self.generation += 1;
        self.visible = true;
    }

    /// The popover was hidden: the ticket its drop timer holds.
    pub fn hidden(&mut self) -> HiddenTicket {
        self.generation += 1;
        self.visible = false;
        HiddenTicket(self.generation)
    }

    /// Whether the web view may go now: hidden ever since `ticket` was issued.
    pub fn may_drop(&self, ticket: HiddenTicket) -> bool {
        !self.visible && self.generation == ticket.0
    }

    /// Whether the popover is shown.
    pub fn visible(&self) -> bool {
        self.visible
    }

    /// The page was released and its window kept ([`Release::EndWebProcess`]); `url` is the
    /// address it showed (read before its web process ended: WebKitGTK forgets it then).
    pub fn page_released(&mut self, url: Option<String>) {
        self.released = Some(url);
    }

    /// Whether the page is loaded (in a window that exists): events may be sent to it.
    pub fn page_loaded(&self) -> bool {
        self.released.is_none()
    }

    /// Whether the next open must load the page again, with the address it showed; says so
    /// once.
    pub fn take_reload(&mut self) -> Option<Option<String>> {
        self.released.take()
    }
}

/// Whether a document title means the page has painted a sample: the UI names the pressure
/// level in its title ("62 % used · Normal — Headroom") only once it has rendered a snapshot;
/// before that the title is the page's own "Headroom".
pub fn painted_title(title: &str) -> bool {
    title.ends_with(" — Headroom")
}

/// Whether the paint timeout started for the popover requested at `started_for` shows the
/// popover pending now (requested at `pending`): only when it is that same popover. A popover
/// closed and opened again within [`PAINT_TIMEOUT`] has its own timer; the old one must not
/// show the new page before it has painted.
pub fn timeout_reveals<T: PartialEq>(pending: Option<T>, started_for: T) -> bool {
    pending == Some(started_for)
}

/// Whether losing focus hides the popover: yes, unless it is pinned (`HEADROOM_APP_PIN=1`)
/// or an administrator prompt the popover opened is up (the prompt takes the focus; hiding
/// then would leave the person answering a dialog for a window that vanished).
pub fn hides_on_blur(pinned: bool, admin_prompts_open: usize) -> bool {
    !pinned && admin_prompts_open == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1512 × 982 pt MacBook Air screen at 2×: 24 pt menu bar, Dock hidden.
    const AIR: Rect = Rect {
        x: 0,
        y: 48,
        width: 3024,
        height: 1916,
    };
    const POPOVER: (u32, u32) = (760, 1120);

    #[test]
    fn opens_centred_under_the_tray_icon() {
        // An 18 pt status item (36 px) at x = 2400 px, in the 48 px menu bar.
        let tray = Rect {
            x: 2400,
            y: 0,
            width: 36,
            height: 48,
        };
        assert_eq!(origin(Some(tray), AIR, POPOVER), (2418 - 380, 48));
    }

    #[test]
    fn stays_on_screen_near_the_right_edge() {
        let tray = Rect {
            x: 3000,
            y: 0,
            width: 36,
            height: 48,
        };
        assert_eq!(origin(Some(tray), AIR, POPOVER), (3024 - 760, 48));
        let left = Rect { x: 0, ..tray };
        assert_eq!(origin(Some(left), AIR, POPOVER).0, 0);
    }

    #[test]
    fn without_a_tray_position_it_goes_below_the_menu_bar_at_the_right() {
        assert_eq!(origin(None, AIR, POPOVER), (2264, 48));
        // A second screen to the right, and a screen narrower than the popover.
        let second = Rect {
            x: 3024,
            y: 0,
            width: 1920,
            height: 1080,
        };
        assert_eq!(origin(None, second, POPOVER), (3024 + 1920 - 760, 0));
        let narrow = Rect { width: 500, ..AIR };
        assert_eq!(origin(None, narrow, POPOVER), (0, 48));
    }

    #[test]
    fn a_bottom_panel_opens_it_above_the_icon() {
        let screen = Rect {
            x: 0,
            y: 0,
            width: 1920,
            height: 1040,
        };
        let tray = Rect {
            x: 1800,
            y: 1044,
            width: 32,
            height: 32,
        };
        assert_eq!(
            origin(Some(tray), screen, (380, 560)),
            (1920 - 380, 1044 - 560)
        );
    }

    #[test]
    fn keep_time_comes_from_the_environment() {
        assert_eq!(keep_from(None), Ok(Some(DEFAULT_KEEP)));
        assert_eq!(keep_from(Some("2")), Ok(Some(Duration::from_secs(2))));
        assert_eq!(keep_from(Some(" 0 ")), Ok(Some(Duration::ZERO)));
        assert_eq!(keep_from(Some("forever")), Ok(None));
        let err = keep_from(Some("-1")).unwrap_err();
        assert!(err.contains("\"-1\"") && err.contains("forever"), "{err}");
        assert!(keep_from(Some("30s")).is_err());
    }

    #[test]
    fn a_show_after_the_hide_keeps_the_web_view() {
        let mut k = Keeper::default();
        k.shown();
        let first = k.hidden();
        assert!(k.may_drop(first));
        k.shown();
        assert!(
            !k.may_drop(first),
            "shown again: the old timer must not drop it"
        );
        let second = k.hidden();
        assert!(!k.may_drop(first) && k.may_drop(second));
        assert!(!k.visible());
    }

    #[test]
    fn a_released_page_is_loaded_again_by_the_next_open_only() {
        let mut k = Keeper::default();
        assert!(
            k.page_loaded() && k.take_reload().is_none(),
            "a new window has its page"
        );
        k.shown();
        k.hidden();
        let url = "tauri://localhost/index.html#mlx".to_owned();
        k.page_released(Some(url.clone()));
        assert!(!k.page_loaded(), "no events go to a released page");
        assert_eq!(
            k.take_reload(),
            Some(Some(url)),
            "the next open loads it again"
        );
        assert!(k.page_loaded() && k.take_reload().is_none(), "once");
    }

    #[test]
    fn only_webkitgtk_keeps_the_window_when_the_page_is_released() {
        let expected = if cfg!(target_os = "linux") {
            Release::EndWebProcess
        } else {
            Release::DestroyWindow
        };
        assert_eq!(RELEASE, expected);
    }

    #[test]
    fn only_a_title_with_a_sample_counts_as_painted() {
        assert!(!painted_title("Headroom"));
        assert!(!painted_title(""));
        assert!(painted_title("62 % used · Normal — Headroom"));
        assert!(painted_title("Unknown — Headroom"));
    }

    #[test]
    fn a_paint_timeout_shows_only_its_own_popover() {
        let first = std::time::Instant::now();
        let second = first + Duration::from_millis(700);
        assert!(timeout_reveals(Some(first), first));
        assert!(
            !timeout_reveals(Some(second), first),
            "the first popover's timer fired while a second one was painting"
        );
        assert!(!timeout_reveals(None, first), "already shown");
    }

    #[test]
    fn an_admin_prompt_keeps_the_popover_open() {
        assert!(hides_on_blur(false, 0));
        assert!(!hides_on_blur(false, 1));
        assert!(!hides_on_blur(true, 0));
    }
}
