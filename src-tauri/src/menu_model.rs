//! The native menu's labels and enabled states as a pure function of the latest snapshot.
//!
//! The tray builds its menu once with fixed item ids ([`ItemId`]) and, per sample, sets the
//! text or enabled state of only the items whose [`MenuModel`] entry changed
//! ([`MenuModel::changes_from`]).
//!
//! Two lines come from the machine tools: the doctor's top finding ([`ItemId::Doctor`], "No problem
//! found" otherwise; a click opens the Tools tab) and, only when the configuration asks to
//! re-apply the GPU wired limit at start and the value in force differs, an offer to do it
//! ([`MenuModel::reapply`], see [`reapply_offer`]); nothing privileged runs before a click.

use headroom_core::config::WiredLimitConfig;
use headroom_core::units::{format_bytes, format_rate};
use headroom_core::wired::{self, CheckedMb};
use headroom_core::Snapshot;

const MIB: u64 = 1024 * 1024;

/// The menu items whose text or state follows the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemId {
    /// "Used 9.9 GB of 16.0 GB — Normal".
    Used,
    /// "Swap 1.2 GB of 2.0 GB".
    Swap,
    /// "Compressed 2.1 GB".
    Compressed,
    /// "MLX cache 512.0 MB in 2 processes".
    Mlx,
    /// The doctor's top finding, or "Doctor: no problem found"; opens the Tools tab.
    Doctor,
    /// "Clear MLX cache — 2 processes, 1.1 GB".
    ClearCache,
}

impl ItemId {
    /// Every dynamic item, top to bottom.
    pub const ALL: [ItemId; 6] = [
        Self::Used,
        Self::Swap,
        Self::Compressed,
        Self::Mlx,
        Self::Doctor,
        Self::ClearCache,
    ];

    /// The menu id string of the item.
    pub fn id(self) -> &'static str {
        match self {
            Self::Used => "summary-used",
            Self::Swap => "summary-swap",
            Self::Compressed => "summary-compressed",
            Self::Mlx => "summary-mlx",
            Self::Doctor => "doctor",
            Self::ClearCache => "clear-cache",
        }
    }
}

/// One menu item's label and whether it can be clicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The text shown.
    pub label: String,
    /// Whether the item can be clicked (summary lines never can).
    pub enabled: bool,
}

/// What the dynamic part of the menu shows for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuModel {
    items: [Item; 6],
    reapply: Option<Item>,
}

const DASH: &str = "–";

impl MenuModel {
    /// The menu for `snapshot` (`None` before the first sample).
    pub fn from_snapshot(snapshot: Option<&Snapshot>) -> Self {
        let Some(s) = snapshot else {
            let line = |t: &str| info(t.to_owned());
            return Self {
                items: [
                    line("Waiting for the first sample…"),
                    line("Swap –"),
                    line("Compressed –"),
                    line("MLX –"),
                    line("Doctor –"),
                    Item {
                        label: "Clear MLX cache — no sample yet".to_owned(),
                        enabled: false,
                    },
                ],
                reapply: None,
            };
        };
        Self {
            items: [
                info(used_line(s)),
                info(swap_line(s)),
                info(compressed_line(s)),
                info(mlx_line(s)),
                doctor_item(s),
                clear_item(s),
            ],
            reapply: None,
        }
    }

    /// The same menu with the offer to re-apply the wired limit `offer` (none: no such item).
    pub fn with_reapply(mut self, offer: Option<CheckedMb>) -> Self {
        self.reapply = offer.map(|mb| Item {
            label: reapply_label(mb),
            enabled: true,
        });
        self
    }

    /// The "Re-apply GPU wired limit…" item, present only while it is offered.
    pub fn reapply(&self) -> Option<&Item> {
        self.reapply.as_ref()
    }

    /// The item `id`.
    pub fn item(&self, id: ItemId) -> &Item {
        let index = ItemId::ALL.iter().position(|i| *i == id).unwrap_or(0);
        &self.items[index]
    }

    /// The items that differ from `previous` (all of them when there is none).
    pub fn changes_from(&self, previous: Option<&MenuModel>) -> Vec<(ItemId, &Item)> {
        ItemId::ALL
            .iter()
            .map(|&id| (id, self.item(id)))
            .filter(|(id, item)| previous.map_or(true, |p| p.item(*id) != *item))
            .collect()
    }
}

fn info(label: String) -> Item {
    Item {
        label,
        enabled: false,
    }
}

fn bytes(v: Option<u64>) -> String {
    v.map(format_bytes).unwrap_or_else(|| DASH.to_owned())
}

fn used_line(s: &Snapshot) -> String {
    let base = format!("Used {} of {}", bytes(s.memory.used), bytes(s.memory.total));
    match s.pressure.level {
        Some(level) => format!("{base} — {}", level.word()),
        None => format!("{base} — pressure unknown"),
    }
}

fn swap_line(s: &Snapshot) -> String {
    let line = match (s.swap.used, s.swap.total) {
        (_, Some(0)) => "Swap off".to_owned(),
        (Some(used), Some(total)) => {
            format!("Swap {} of {}", format_bytes(used), format_bytes(total))
        }
        (Some(used), None) => format!("Swap {}", format_bytes(used)),
        (None, _) => format!("Swap {DASH}"),
    };
    match s.rates.swapouts {
        Some(rate) if rate >= 1024.0 => format!("{line}, writing {}", format_rate(rate)),
        _ => line,
    }
}

fn compressed_line(s: &Snapshot) -> String {
    format!("Compressed {}", bytes(s.memory.compressed))
}

fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_owned()
    } else {
        format!("{n} processes")
    }
}

fn mlx_line(s: &Snapshot) -> String {
    let attached = s.mlx.iter().filter(|p| p.attached).count();
    let without = s.mlx.len() - attached;
    match (attached, without) {
        (0, 0) => "MLX: no process running".to_owned(),
        (0, n) => format!("MLX: {} without the agent", processes(n)),
        (a, 0) => format!(
            "MLX cache {} in {}",
            format_bytes(s.mlx_cache_total()),
            processes(a)
        ),
        (a, n) => format!(
            "MLX cache {} in {} (+{n} without the agent)",
            format_bytes(s.mlx_cache_total()),
            processes(a)
        ),
    }
}

/// The native menu's doctor line for `snapshot`: the most severe finding that needs no process
/// list (pressure, swap, compression, MLX caches, wired limit), when there is one.
pub fn menu_finding_line(snapshot: &Snapshot) -> Option<String> {
    use headroom_core::doctor::{top_finding, DoctorContext, Severity};
    let f = top_finding(snapshot, &DoctorContext::default())?;
    let mark = match f.severity {
        Severity::Critical => "⚠︎ ",
        Severity::Warning | Severity::Info => "",
    };
    Some(format!("{mark}{}", f.title))
}

fn doctor_item(s: &Snapshot) -> Item {
    let label = menu_finding_line(s).unwrap_or_else(|| "Doctor: no problem found".to_owned());
    Item {
        label,
        enabled: true,
    }
}

/// What to offer at start: the configured wired limit when `wired_limit.reapply_on_start` is
/// on, the value is valid for this machine and differs from the one in force (read from
/// `snapshot`); `None` elsewhere, and always on Linux (no `iogpu.wired_limit_mb`).
pub fn reapply_offer(config: &WiredLimitConfig, snapshot: &Snapshot) -> Option<CheckedMb> {
    let current_mb = snapshot.gpu.wired_limit.map(|b| b / MIB);
    wired::reapply_plan(config, current_mb, snapshot.memory.total)
}

/// The offer's label: the value, and why it is needed again.
pub fn reapply_label(mb: CheckedMb) -> String {
    match mb.get() {
        0 => "Reset GPU wired limit to the macOS default…".to_owned(),
        v => format!(
            "Re-apply GPU wired limit {} (reset at reboot)…",
            format_bytes(v.saturating_mul(MIB))
        ),
    }
}

fn clear_item(s: &Snapshot) -> Item {
    let attached = s.mlx.iter().filter(|p| p.attached).count();
    let (label, enabled) = match (attached, s.mlx.len()) {
        (0, 0) => ("Clear MLX cache — no MLX process running".to_owned(), false),
        (0, _) => ("Clear MLX cache — no agent attached".to_owned(), false),
        (a, _) => (
            format!(
                "Clear MLX cache — {}, {}",
                processes(a),
                format_bytes(s.mlx_cache_total())
            ),
            true,
        ),
    };
    Item { label, enabled }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::title::tests::{mlx, snap};
    use headroom_core::snapshot::PressureLevel;

    const GIB: u64 = 1 << 30;

    fn label(m: &MenuModel, id: ItemId) -> &str {
        &m.item(id).label
    }

    #[test]
    fn summary_lines_read_like_a_person_wrote_them() {
        let mut s = snap(9.9, Some(PressureLevel::Warn));
        s.swap.used = Some(GIB + GIB / 5);
        s.swap.total = Some(2 * GIB);
        s.rates.swapouts = Some(3.0 * 1024.0 * 1024.0);
        s.memory.compressed = Some(2 * GIB + GIB / 10);
        s.mlx = vec![mlx(10, true, 512), mlx(11, true, 600), mlx(12, false, 0)];
        let m = MenuModel::from_snapshot(Some(&s));
        assert_eq!(label(&m, ItemId::Used), "Used 9.9 GB of 16.0 GB — Warning");
        assert_eq!(
            label(&m, ItemId::Swap),
            "Swap 1.2 GB of 2.0 GB, writing 3.0 MB/s"
        );
        assert_eq!(label(&m, ItemId::Compressed), "Compressed 2.1 GB");
        assert_eq!(
            label(&m, ItemId::Mlx),
            "MLX cache 1.1 GB in 2 processes (+1 without the agent)"
        );
        let clear = m.item(ItemId::ClearCache);
        assert_eq!(clear.label, "Clear MLX cache — 2 processes, 1.1 GB");
        assert!(clear.enabled);
        assert!(ItemId::ALL[..4].iter().all(|id| !m.item(*id).enabled));
    }

    #[test]
    fn clear_is_disabled_with_the_reason() {
        let mut s = snap(4.0, Some(PressureLevel::Normal));
        let m = MenuModel::from_snapshot(Some(&s));
        assert_eq!(
            m.item(ItemId::ClearCache),
            &Item {
                label: "Clear MLX cache — no MLX process running".into(),
                enabled: false
            }
        );
        assert_eq!(label(&m, ItemId::Mlx), "MLX: no process running");
        s.mlx = vec![mlx(7, false, 0)];
        let m = MenuModel::from_snapshot(Some(&s));
        assert_eq!(
            m.item(ItemId::ClearCache),
            &Item {
                label: "Clear MLX cache — no agent attached".into(),
                enabled: false
            }
        );
        assert_eq!(label(&m, ItemId::Mlx), "MLX: 1 process without the agent");
        s.mlx = vec![mlx(7, true, 0)];
        let clear = MenuModel::from_snapshot(Some(&s))
            .item(ItemId::ClearCache)
            .clone();
        assert_eq!(clear.label, "Clear MLX cache — 1 process, 0 B");
        assert!(clear.enabled);
    }

    #[test]
    fn unknown_values_and_no_sample() {
        let mut s = snap(4.0, None);
        s.memory.total = None;
        s.swap.total = Some(0);
        s.rates.swapouts = Some(10.0);
        let m = MenuModel::from_snapshot(Some(&s));
        assert_eq!(
            label(&m, ItemId::Used),
            "Used 4.0 GB of – — pressure unknown"
        );
        assert_eq!(label(&m, ItemId::Swap), "Swap off");
        assert_eq!(label(&m, ItemId::Compressed), "Compressed –");
        let empty = MenuModel::from_snapshot(None);
        assert_eq!(label(&empty, ItemId::Used), "Waiting for the first sample…");
        assert!(!empty.item(ItemId::ClearCache).enabled);
    }

    #[test]
    fn only_changed_items_are_reported() {
        let a = MenuModel::from_snapshot(Some(&snap(4.0, Some(PressureLevel::Normal))));
        assert_eq!(a.changes_from(None).len(), 6);
        assert!(a.changes_from(Some(&a.clone())).is_empty());
        let b = MenuModel::from_snapshot(Some(&snap(4.0, Some(PressureLevel::Critical))));
        let changed: Vec<ItemId> = b.changes_from(Some(&a)).iter().map(|(i, _)| *i).collect();
        assert_eq!(changed, vec![ItemId::Used, ItemId::Doctor]);
    }

    #[test]
    fn doctor_line_shows_the_top_finding_or_none() {
        let m = MenuModel::from_snapshot(Some(&snap(4.0, Some(PressureLevel::Critical))));
        let doctor = m.item(ItemId::Doctor);
        assert!(
            doctor.label.contains("Memory pressure is critical"),
            "{}",
            doctor.label
        );
        assert!(doctor.label.starts_with("⚠︎ "), "{}", doctor.label);
        assert!(doctor.enabled);
        let mut healthy = snap(4.0, Some(PressureLevel::Normal));
        healthy.platform = headroom_core::snapshot::Platform::Linux;
        let m = MenuModel::from_snapshot(Some(&healthy));
        assert_eq!(
            m.item(ItemId::Doctor),
            &Item {
                label: "Doctor: no problem found".into(),
                enabled: true
            }
        );
        let empty = MenuModel::from_snapshot(None);
        assert_eq!(label(&empty, ItemId::Doctor), "Doctor –");
        assert!(!empty.item(ItemId::Doctor).enabled);
    }

    fn wired_config(on: bool, value_mb: Option<u64>) -> WiredLimitConfig {
        WiredLimitConfig {
            reapply_on_start: on,
            value_mb,
        }
    }

    /// A 64 GB Mac whose `iogpu.wired_limit_mb` is `current_mb`.
    fn mac_with_limit(current_mb: Option<u64>) -> Snapshot {
        let mut s = snap(20.0, Some(PressureLevel::Normal));
        s.memory.total = Some(64 * GIB);
        s.gpu.wired_limit = current_mb.map(|mb| mb * MIB);
        s
    }

    #[test]
    fn reapply_is_offered_only_when_opted_in_and_different() {
        let after_reboot = mac_with_limit(Some(0));
        let cfg = wired_config(true, Some(49152));
        let offer = reapply_offer(&cfg, &after_reboot);
        assert_eq!(offer.map(CheckedMb::get), Some(49152));
        let m = MenuModel::from_snapshot(Some(&after_reboot)).with_reapply(offer);
        assert_eq!(
            m.reapply(),
            Some(&Item {
                label: "Re-apply GPU wired limit 48.0 GB (reset at reboot)…".into(),
                enabled: true
            })
        );
        // Not opted in, nothing configured, already in force, unknown, invalid, no sysctl.
        for (cfg, s) in [
            (wired_config(false, Some(49152)), mac_with_limit(Some(0))),
            (wired_config(true, None), mac_with_limit(Some(0))),
            (wired_config(true, Some(49152)), mac_with_limit(Some(49152))),
            (wired_config(true, Some(49152)), mac_with_limit(None)),
            (wired_config(true, Some(64 * 1024)), mac_with_limit(Some(0))),
        ] {
            let offer = reapply_offer(&cfg, &s);
            assert_eq!(offer, None, "{cfg:?}");
            let m = MenuModel::from_snapshot(Some(&s)).with_reapply(offer);
            assert_eq!(m.reapply(), None);
        }
        let mut linux = snap(4.0, Some(PressureLevel::Normal));
        linux.platform = headroom_core::snapshot::Platform::Linux;
        assert_eq!(reapply_offer(&wired_config(true, Some(8192)), &linux), None);
        assert_eq!(
            reapply_label(CheckedMb::RESET),
            "Reset GPU wired limit to the macOS default…"
        );
        // The offer is compared like the other items (the tray adds or removes it).
        let plain = MenuModel::from_snapshot(Some(&after_reboot));
        assert_ne!(plain, plain.clone().with_reapply(Some(CheckedMb::RESET)));
        assert!(plain.changes_from(Some(&plain.clone())).is_empty());
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = ItemId::ALL.iter().map(|i| i.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ItemId::ALL.len());
    }
}
