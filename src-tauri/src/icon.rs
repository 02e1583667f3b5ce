//! The tray icon, drawn at run time: a ring gauge of used memory around a pressure dot.
//!
//! - **Colour** style: the ring fills clockwise from 12 o'clock with the used fraction, in the
//!   pressure colour (green normal, yellow warning, red critical, grey unknown), over a grey
//!   track; the centre dot has the same colour, so the level reads even at a glance.
//! - **Template** style (monochrome, for people who prefer a plain menu bar; macOS tints it
//!   for light and dark bars): black with alpha only; the ring as above, and the level as the
//!   dot's size — none for normal, small for warning, large for critical.
//!
//! The used fraction is quantised to 5 % steps and the icon is a pure function of
//! [`IconKey`]; [`IconCache`] hands out new pixels only when the key changes, so the tray is
//! redrawn only when what it shows changes.

use headroom_core::config::IconStyle;
use headroom_core::snapshot::PressureLevel;
use headroom_core::Snapshot;

/// Width and height of the icon in pixels: 18 pt at 2×, the size macOS shows. tray-icon
/// scales every status-item image to a height of 18 pt (`icon_height: f64 = 18.0` in
/// tray-icon's `src/platform_impl/macos/mod.rs`), so a 36 px image maps 1:1 to the pixels of a
/// Retina menu bar instead of being resampled; Linux indicators scale it to their panel.
pub const SIZE: u32 = 36;

/// How many steps the used fraction is quantised to (5 % each).
pub const STEPS: u8 = 20;

/// Supersampling per axis for anti-aliased edges.
const SUPERSAMPLE: u32 = 4;

const CENTER: f64 = SIZE as f64 / 2.0;
const RING_OUTER: f64 = 16.75;
const RING_INNER: f64 = 11.75;
const DOT_LARGE: f64 = 6.5;
const DOT_SMALL: f64 = 3.5;

/// An RGBA colour, straight (not premultiplied) alpha.
pub type Rgba = [u8; 4];

/// Green: normal pressure (the system's "green" accent).
pub const GREEN: Rgba = [52, 199, 89, 255];
/// Yellow: warning.
pub const YELLOW: Rgba = [255, 204, 0, 255];
/// Red: critical.
pub const RED: Rgba = [255, 59, 48, 255];
/// Grey: pressure unknown.
pub const GREY: Rgba = [142, 142, 147, 255];
const TRACK_COLOR: Rgba = [142, 142, 147, 115];
const TEMPLATE_SOLID: Rgba = [0, 0, 0, 255];
const TEMPLATE_TRACK: Rgba = [0, 0, 0, 90];

/// Everything the icon shows; equal keys draw identical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IconKey {
    /// The pressure level, if known.
    pub level: Option<PressureLevel>,
    /// Used fraction in steps of `1 / STEPS`.
    pub steps: u8,
    /// Colour or template.
    pub style: IconStyle,
}

impl IconKey {
    /// The key for `snapshot` (an empty ring and grey dot before the first sample).
    pub fn new(snapshot: Option<&Snapshot>, style: IconStyle) -> Self {
        let fraction = snapshot.and_then(Snapshot::used_fraction).unwrap_or(0.0);
        Self {
            level: snapshot.and_then(|s| s.pressure.level),
            steps: quantise(fraction),
            style,
        }
    }
}

/// The used fraction in steps of `1 / STEPS`, rounded to the nearest step.
pub fn quantise(fraction: f64) -> u8 {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (f * f64::from(STEPS)).round() as u8
}

/// The pressure colour of `level`.
pub fn level_color(level: Option<PressureLevel>) -> Rgba {
    match level {
        Some(PressureLevel::Normal) => GREEN,
        Some(PressureLevel::Warn) => YELLOW,
        Some(PressureLevel::Critical) => RED,
        None => GREY,
    }
}

/// Draws the icon for `key`: `SIZE × SIZE` RGBA pixels, row by row.
pub fn render(key: IconKey) -> Vec<u8> {
    let mut out = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    for y in 0..SIZE {
        for x in 0..SIZE {
            out.extend_from_slice(&pixel(key, x, y));
        }
    }
    out
}

/// One output pixel: the average of `SUPERSAMPLE²` point samples, in premultiplied space.
fn pixel(key: IconKey, x: u32, y: u32) -> Rgba {
    let mut acc = [0.0f64; 4];
    for sy in 0..SUPERSAMPLE {
        for sx in 0..SUPERSAMPLE {
            let px = f64::from(x) + (f64::from(sx) + 0.5) / f64::from(SUPERSAMPLE);
            let py = f64::from(y) + (f64::from(sy) + 0.5) / f64::from(SUPERSAMPLE);
            let [r, g, b, a] = sample(key, px, py);
            let alpha = f64::from(a) / 255.0;
            acc[0] += f64::from(r) * alpha;
            acc[1] += f64::from(g) * alpha;
            acc[2] += f64::from(b) * alpha;
            acc[3] += alpha;
        }
    }
    let n = f64::from(SUPERSAMPLE * SUPERSAMPLE);
    if acc[3] <= 0.0 {
        return [0, 0, 0, 0];
    }
    let channel = |v: f64| (v / acc[3]).round().clamp(0.0, 255.0) as u8;
    [
        channel(acc[0]),
        channel(acc[1]),
        channel(acc[2]),
        (acc[3] / n * 255.0).round().clamp(0.0, 255.0) as u8,
    ]
}

/// The colour at point (`px`, `py`) in pixel coordinates.
fn sample(key: IconKey, px: f64, py: f64) -> Rgba {
    let (dx, dy) = (px - CENTER, py - CENTER);
    let dist = dx.hypot(dy);
    let (solid, track) = match key.style {
        IconStyle::Color => (level_color(key.level), TRACK_COLOR),
        IconStyle::Template => (TEMPLATE_SOLID, TEMPLATE_TRACK),
    };
    if (RING_INNER..=RING_OUTER).contains(&dist) {
        let filled = clockwise_fraction(dx, dy) < f64::from(key.steps) / f64::from(STEPS);
        return if filled { solid } else { track };
    }
    if dist <= dot_radius(key) {
        return solid;
    }
    [0, 0, 0, 0]
}

/// How far round the circle (`dx`, `dy`) lies, clockwise from 12 o'clock, in 0..1.
fn clockwise_fraction(dx: f64, dy: f64) -> f64 {
    let angle = dx.atan2(-dy); // 0 at the top, growing clockwise (y points down)
    let turn = std::f64::consts::TAU;
    ((angle + turn) % turn) / turn
}

fn dot_radius(key: IconKey) -> f64 {
    match (key.style, key.level) {
        (IconStyle::Color, _) => DOT_LARGE,
        (IconStyle::Template, Some(PressureLevel::Critical)) => DOT_LARGE,
        (IconStyle::Template, Some(PressureLevel::Warn)) => DOT_SMALL,
        (IconStyle::Template, _) => 0.0,
    }
}

/// Remembers the last key drawn so the tray redraws only on change.
#[derive(Debug, Default)]
pub struct IconCache {
    last: Option<IconKey>,
}

impl IconCache {
    /// New pixels when `key` differs from the last one drawn, else `None`.
    pub fn update(&mut self, key: IconKey) -> Option<Vec<u8>> {
        if self.last == Some(key) {
            return None;
        }
        self.last = Some(key);
        Some(render(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::title::tests::snap;

    fn key(level: Option<PressureLevel>, used: f64, style: IconStyle) -> IconKey {
        IconKey {
            level,
            steps: quantise(used),
            style,
        }
    }

    fn at(px: &[u8], x: u32, y: u32) -> Rgba {
        let i = ((y * SIZE + x) * 4) as usize;
        [px[i], px[i + 1], px[i + 2], px[i + 3]]
    }

    /// The pixel on the middle of the ring, `fraction` of a turn clockwise from the top.
    fn ring_at(px: &[u8], fraction: f64) -> Rgba {
        let r = (RING_INNER + RING_OUTER) / 2.0;
        let a = fraction * std::f64::consts::TAU;
        let x = (CENTER + r * a.sin()).floor() as u32;
        let y = (CENTER - r * a.cos()).floor() as u32;
        at(px, x, y)
    }

    const C: u32 = SIZE / 2;

    #[test]
    fn centre_dot_has_the_pressure_colour() {
        let cases = [
            (Some(PressureLevel::Normal), GREEN),
            (Some(PressureLevel::Warn), YELLOW),
            (Some(PressureLevel::Critical), RED),
            (None, GREY),
        ];
        for (level, want) in cases {
            let px = render(key(level, 0.5, IconStyle::Color));
            assert_eq!(px.len(), (SIZE * SIZE * 4) as usize);
            assert_eq!(at(&px, C, C), want, "{level:?}");
            assert_eq!(ring_at(&px, 0.2), want, "{level:?} arc");
        }
    }

    #[test]
    fn ring_fills_clockwise_with_the_used_fraction() {
        let px = render(key(Some(PressureLevel::Warn), 0.5, IconStyle::Color));
        assert_eq!(ring_at(&px, 0.05), YELLOW);
        assert_eq!(ring_at(&px, 0.45), YELLOW);
        assert_eq!(ring_at(&px, 0.55), TRACK_COLOR);
        assert_eq!(ring_at(&px, 0.95), TRACK_COLOR);
        let px = render(key(Some(PressureLevel::Warn), 0.9, IconStyle::Color));
        assert_eq!(ring_at(&px, 0.75), YELLOW);
        let empty = render(key(Some(PressureLevel::Warn), 0.0, IconStyle::Color));
        assert_eq!(ring_at(&empty, 0.05), TRACK_COLOR);
    }

    #[test]
    fn outside_and_between_shapes_is_transparent() {
        let px = render(key(Some(PressureLevel::Critical), 1.0, IconStyle::Color));
        for (x, y) in [(0, 0), (SIZE - 1, 0), (0, SIZE - 1), (SIZE - 1, SIZE - 1)] {
            assert_eq!(at(&px, x, y)[3], 0, "corner {x},{y}");
        }
        // The gap between the dot (r 6.5) and the ring (r 11.75).
        assert_eq!(at(&px, C + 9, C)[3], 0);
        // Anti-aliased edge: partly covered.
        let edge = at(&px, C + 16, C)[3];
        assert!(edge > 0 && edge < 255, "edge alpha {edge}");
    }

    #[test]
    fn template_is_monochrome_and_shows_level_by_dot_size() {
        let normal = render(key(Some(PressureLevel::Normal), 0.5, IconStyle::Template));
        let warn = render(key(Some(PressureLevel::Warn), 0.5, IconStyle::Template));
        let critical = render(key(Some(PressureLevel::Critical), 0.5, IconStyle::Template));
        for px in [&normal, &warn, &critical] {
            assert!(px.chunks(4).all(|p| p[..3] == [0, 0, 0]));
            assert_eq!(ring_at(px, 0.25), TEMPLATE_SOLID);
            assert_eq!(ring_at(px, 0.75), TEMPLATE_TRACK);
        }
        assert_eq!(at(&normal, C, C)[3], 0);
        assert_eq!(at(&warn, C, C)[3], 255);
        assert_eq!(at(&warn, C + 5, C)[3], 0);
        assert_eq!(at(&critical, C + 5, C)[3], 255);
    }

    #[test]
    fn redraws_only_when_what_it_shows_changes() {
        let mut cache = IconCache::default();
        let style = IconStyle::Color;
        let a = IconKey::new(Some(&snap(9.9, Some(PressureLevel::Normal))), style);
        let b = IconKey::new(Some(&snap(9.8, Some(PressureLevel::Normal))), style);
        let c = IconKey::new(Some(&snap(10.0, Some(PressureLevel::Warn))), style);
        assert!(cache.update(a).is_some());
        assert_eq!(a, b, "9.8 and 9.9 of 16 GB are the same 5 % step");
        assert!(cache.update(b).is_none());
        assert!(cache.update(c).is_some());
        assert!(cache
            .update(IconKey {
                style: IconStyle::Template,
                ..c
            })
            .is_some());
    }

    /// With `HEADROOM_ICON_ARTIFACTS=DIR`, writes every level and style as PAM images (RGBA,
    /// which ImageMagick converts) so a person can look at them.
    #[test]
    fn write_icons_for_people_to_look_at() -> std::io::Result<()> {
        let Some(dir) = std::env::var_os("HEADROOM_ICON_ARTIFACTS") else {
            return Ok(());
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        let levels = [
            ("normal", Some(PressureLevel::Normal), 0.35),
            ("warn", Some(PressureLevel::Warn), 0.7),
            ("critical", Some(PressureLevel::Critical), 0.95),
            ("unknown", None, 0.0),
        ];
        for (style_name, style) in [
            ("color", IconStyle::Color),
            ("template", IconStyle::Template),
        ] {
            for (name, level, used) in levels {
                let px = render(key(level, used, style));
                let mut pam = format!(
                    "P7\nWIDTH {SIZE}\nHEIGHT {SIZE}\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n"
                )
                .into_bytes();
                pam.extend_from_slice(&px);
                std::fs::write(dir.join(format!("tray-{style_name}-{name}.pam")), pam)?;
            }
        }
        Ok(())
    }

    #[test]
    fn quantise_rounds_and_clamps() {
        assert_eq!(quantise(0.0), 0);
        assert_eq!(quantise(0.024), 0);
        assert_eq!(quantise(0.026), 1);
        assert_eq!(quantise(1.7), STEPS);
        assert_eq!(quantise(f64::NAN), 0);
        assert_eq!(IconKey::new(None, IconStyle::Color).level, None);
    }
}
