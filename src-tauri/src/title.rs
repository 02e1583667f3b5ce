//! The text shown beside the tray icon (macOS menu bar title, Linux indicator label).
//!
//! People choose one figure in the settings (`app.title` in the config, the core's
//! [`TitleFormat`]): used %, used GB,
//! free GB, MLX cache, or nothing. Sizes use the core's formatting (`12.3 GB`, `512.0 MB`) so
//! the title reads the same as the CLI and the UI. "Free" here means `total − used`, the
//! headroom left in Activity Monitor's meaning of used, not the kernel's idle pages.

use headroom_core::config::TitleFormat;
use headroom_core::units::format_bytes;
use headroom_core::Snapshot;

/// The title for `snapshot` in `format`, or `None` when nothing should be shown. A figure
/// the snapshot does not have shows as `–` so the menu bar does not jump around.
pub fn render(format: TitleFormat, snapshot: Option<&Snapshot>) -> Option<String> {
    if format == TitleFormat::None {
        return None;
    }
    let Some(s) = snapshot else {
        return Some(DASH.to_owned());
    };
    let text = match format {
        TitleFormat::UsedPercent => s.used_fraction().map(percent),
        TitleFormat::UsedGb => s.memory.used.map(format_bytes),
        TitleFormat::FreeGb => headroom_left(s).map(|b| format!("{} free", format_bytes(b))),
        TitleFormat::MlxCache => mlx_cache(s),
        TitleFormat::None => None,
    };
    Some(text.unwrap_or_else(|| DASH.to_owned()))
}

const DASH: &str = "–";

/// `total − used`, when both are known.
pub fn headroom_left(s: &Snapshot) -> Option<u64> {
    Some(s.memory.total?.saturating_sub(s.memory.used?))
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", (fraction * 100.0).clamp(0.0, 100.0))
}

fn mlx_cache(s: &Snapshot) -> Option<String> {
    if s.mlx.iter().any(|p| p.attached) {
        Some(format!("MLX {}", format_bytes(s.mlx_cache_total())))
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use headroom_core::snapshot::{MlxProcess, Platform, PressureLevel};

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    /// A 16 GiB machine with `used_gib` used at `level`.
    pub(crate) fn snap(used_gib: f64, level: Option<PressureLevel>) -> Snapshot {
        let mut s = Snapshot::empty(Platform::Macos, DateTime::<Utc>::UNIX_EPOCH);
        s.memory.total = Some(16 * GIB);
        s.memory.used = Some((used_gib * GIB as f64) as u64);
        s.pressure.level = level;
        s
    }

    /// An MLX process; attached ones carry `cache_mib` of cache.
    pub(crate) fn mlx(pid: u32, attached: bool, cache_mib: u64) -> MlxProcess {
        MlxProcess {
            pid,
            name: format!("python{pid}"),
            attached,
            cache: attached.then_some(cache_mib * MIB),
            ..MlxProcess::default()
        }
    }

    #[test]
    fn each_format_renders_its_figure() {
        let mut s = snap(9.9, Some(PressureLevel::Normal));
        s.mlx = vec![mlx(1, true, 512), mlx(2, false, 0)];
        let r = |f: TitleFormat| render(f, Some(&s));
        assert_eq!(r(TitleFormat::UsedPercent).as_deref(), Some("62%"));
        assert_eq!(r(TitleFormat::UsedGb).as_deref(), Some("9.9 GB"));
        assert_eq!(r(TitleFormat::FreeGb).as_deref(), Some("6.1 GB free"));
        assert_eq!(r(TitleFormat::MlxCache).as_deref(), Some("MLX 512.0 MB"));
        assert_eq!(r(TitleFormat::None), None);
    }

    #[test]
    fn missing_figures_show_a_dash_not_zero() {
        let mut s = snap(4.0, None);
        s.memory.used = None;
        for f in [
            TitleFormat::UsedPercent,
            TitleFormat::UsedGb,
            TitleFormat::FreeGb,
            TitleFormat::MlxCache,
        ] {
            assert_eq!(render(f, Some(&s)).as_deref(), Some("–"), "{f:?}");
            assert_eq!(render(f, None).as_deref(), Some("–"), "{f:?}");
        }
    }

    #[test]
    fn percent_is_clamped_and_rounded() {
        assert_eq!(percent(0.004), "0%");
        assert_eq!(percent(0.618), "62%");
        assert_eq!(percent(1.3), "100%");
        let mut s = snap(20.0, None);
        s.memory.used = Some(20 * GIB);
        assert_eq!(headroom_left(&s), Some(0));
    }
}
