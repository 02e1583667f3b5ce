//! The one snapshot type that flows everywhere: CLI JSON, HTTP, Prometheus, IPC and the UI.
//!
//! Its JSON form is a public contract. Bytes are integers, rates are per second, and a value
//! the platform cannot give is `null` with the reason listed in [`Snapshot::unavailable`].
//! The TypeScript twin in `ui/src/bindings/` is generated from these types by ts-rs
//! (`cargo test -p headroom-core export_bindings`), never written by hand.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Which operating system a snapshot was derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Platform {
    /// macOS (Apple Silicon or Intel).
    Macos,
    /// Linux.
    Linux,
}

/// One sample of the machine's memory state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Snapshot {
    /// The platform the numbers were derived for (a replayed capture keeps its own).
    pub platform: Platform,
    /// Wall-clock time of the sample, RFC 3339 in UTC.
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    /// Physical memory breakdown.
    pub memory: Memory,
    /// Swap space.
    pub swap: Swap,
    /// Memory pressure.
    pub pressure: Pressure,
    /// Rates per second, computed from the measured time between two samples.
    pub rates: Rates,
    /// GPU wired-memory limits (Apple Silicon).
    pub gpu: Gpu,
    /// Processes that loaded MLX, attached to the agent or not.
    #[serde(default)]
    pub mlx: Vec<MlxProcess>,
    /// One line per field that is `null`: `"<field>: <reason>"`.
    #[serde(default)]
    pub unavailable: Vec<String>,
}

/// Physical memory, in bytes. See `docs/FORMULAS.md` for how each platform derives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Memory {
    /// Installed physical memory.
    #[ts(type = "number | null")]
    pub total: Option<u64>,
    /// Used memory in Activity Monitor's meaning (macOS) or `total − available` (Linux).
    #[ts(type = "number | null")]
    pub used: Option<u64>,
    /// Anonymous memory of applications ("App Memory").
    #[ts(type = "number | null")]
    pub app: Option<u64>,
    /// Memory that cannot be paged out ("Wired Memory"; Linux: kernel + unevictable).
    #[ts(type = "number | null")]
    pub wired: Option<u64>,
    /// Physical memory occupied by the compressed pool (macOS compressor; zswap + zram).
    #[ts(type = "number | null")]
    pub compressed: Option<u64>,
    /// File-backed and purgeable memory the system can reclaim ("Cached Files").
    #[ts(type = "number | null")]
    pub cached: Option<u64>,
    /// Memory not in use at all.
    #[ts(type = "number | null")]
    pub free: Option<u64>,
    /// Memory available to new allocations without swapping (free + reclaimable).
    #[ts(type = "number | null")]
    pub available: Option<u64>,
}

/// Swap space, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Swap {
    /// Size of the swap space.
    #[ts(type = "number | null")]
    pub total: Option<u64>,
    /// Swap in use.
    #[ts(type = "number | null")]
    pub used: Option<u64>,
}

/// The system's memory-pressure verdict, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum PressureLevel {
    /// Green: nothing to do.
    Normal,
    /// Yellow: the system is compressing or swapping to keep up.
    Warn,
    /// Red: the system is short of memory.
    Critical,
}

impl PressureLevel {
    /// The word a person reads: "Normal", "Warning", "Critical".
    pub fn word(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warn => "Warning",
            Self::Critical => "Critical",
        }
    }

    /// A number for gauges: 0 normal, 1 warn, 2 critical.
    pub fn as_number(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Warn => 1,
            Self::Critical => 2,
        }
    }
}

/// Memory pressure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Pressure {
    /// The level (macOS: the kernel's; Linux: derived from PSI and MemAvailable).
    pub level: Option<PressureLevel>,
    /// Free percentage (macOS `kern.memorystatus_level`; Linux MemAvailable / MemTotal).
    pub free_percent: Option<f64>,
    /// Linux PSI `some avg10` (% of the last 10 s some task stalled on memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub psi_some_avg10: Option<f64>,
    /// Linux PSI `full avg10` (% of the last 10 s all tasks stalled on memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub psi_full_avg10: Option<f64>,
}

/// Paging activity, in bytes per second of uncompressed pages (null on the first sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Rates {
    /// Bytes read back from swap per second.
    pub swapins: Option<f64>,
    /// Bytes written to swap per second.
    pub swapouts: Option<f64>,
    /// Bytes compressed per second.
    pub compressions: Option<f64>,
    /// Bytes decompressed per second.
    pub decompressions: Option<f64>,
    /// Bytes read in from disk per second (page-ins: mapped files such as model weights, and
    /// swap).
    pub pageins: Option<f64>,
}

/// GPU wired-memory limits, in bytes (Apple Silicon only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Gpu {
    /// `iogpu.wired_limit_mb` in bytes; 0 means the macOS default is in force.
    #[ts(type = "number | null")]
    pub wired_limit: Option<u64>,
    /// Metal's `recommendedMaxWorkingSetSize` as an attached MLX agent reports it.
    #[ts(type = "number | null")]
    pub recommended_working_set: Option<u64>,
    /// The wired-limit sysctl found on this machine (`iogpu.wired_limit_mb` on macOS 14 and
    /// later), `null` where there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string")]
    pub wired_limit_sysctl: Option<String>,
}

/// A process that loaded MLX. Allocator fields are present only when `attached`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MlxProcess {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Whether a `headroom_agent` answers for this process.
    pub attached: bool,
    /// Physical footprint in bytes (macOS phys_footprint incl. Metal; Linux PSS or RSS).
    #[ts(type = "number | null")]
    pub footprint: Option<u64>,
    /// MLX active memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub active: Option<u64>,
    /// MLX allocator cache in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub cache: Option<u64>,
    /// MLX peak memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub peak: Option<u64>,
    /// MLX cache limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub cache_limit: Option<u64>,
    /// MLX memory limit in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub memory_limit: Option<u64>,
    /// MLX wired limit in bytes as last set in the process (0 = none); absent when unknown
    /// (the agent never probes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub wired_limit: Option<u64>,
    /// Memory MLX's allocator does not count: footprint − (active + cache), 0 when MLX counts
    /// more than the footprint (Linux: pages not yet touched). On macOS the footprint holds
    /// Metal buffers and libraries MLX does not see (ml-explore/mlx #3896: 110 GB footprint,
    /// 46 GB MLX peak). Attached processes with a known footprint only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub outside_mlx: Option<u64>,
    /// This process's GPU working-set ceiling: MLX's `max_recommended_working_set_size`, read
    /// once when MLX started in it (Metal only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub working_set: Option<u64>,
    /// The system wired limit was changed after this process read its ceiling: it keeps the
    /// old one until it restarts ("restart to use the new limit").
    #[serde(default)]
    pub restart_for_wired_limit: bool,
    /// MLX backend/device, for example `gpu` or `cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub backend: Option<String>,
    /// MLX version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mlx_version: Option<String>,
    /// For processes without the agent: the one command that attaches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub hint: Option<String>,
    /// Its MLX policy: which one matches, where each limit comes from, its last idle trim
    /// (set by the engine; absent elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub policy: Option<crate::policies::tracker::PolicyStatus>,
}

impl Snapshot {
    /// An empty snapshot for `platform` at `at`, every value null.
    pub fn empty(platform: Platform, at: DateTime<Utc>) -> Self {
        Self {
            platform,
            at,
            memory: Memory::default(),
            swap: Swap::default(),
            pressure: Pressure::default(),
            rates: Rates::default(),
            gpu: Gpu::default(),
            mlx: Vec::new(),
            unavailable: Vec::new(),
        }
    }

    /// Records that `field` is unavailable because of `reason`.
    pub fn mark_unavailable(&mut self, field: &str, reason: impl std::fmt::Display) {
        self.unavailable.push(format!("{field}: {reason}"));
    }

    /// Used fraction of total memory in 0..=1, when both are known.
    pub fn used_fraction(&self) -> Option<f64> {
        match (self.memory.used, self.memory.total) {
            (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64),
            _ => None,
        }
    }

    /// Sum of the MLX allocator caches of attached processes.
    pub fn mlx_cache_total(&self) -> u64 {
        crate::units::saturating_sum(self.mlx.iter().filter_map(|p| p.cache))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Snapshot>();
    }

    #[test]
    fn json_keys_follow_the_contract() {
        let s = Snapshot::empty(Platform::Linux, DateTime::<Utc>::UNIX_EPOCH);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["platform"], "linux");
        assert_eq!(v["at"], "1970-01-01T00:00:00Z");
        for k in [
            "total",
            "used",
            "app",
            "wired",
            "compressed",
            "cached",
            "free",
            "available",
        ] {
            assert!(v["memory"].get(k).unwrap().is_null(), "memory.{k}");
        }
        for k in [
            "swapins",
            "swapouts",
            "compressions",
            "decompressions",
            "pageins",
        ] {
            assert!(v["rates"].get(k).unwrap().is_null(), "rates.{k}");
        }
        assert!(v["gpu"]["wired_limit"].is_null());
        assert!(v["gpu"]["recommended_working_set"].is_null());
        assert!(v["pressure"]["level"].is_null());
        assert!(v["swap"]["used"].is_null());
        assert!(v["mlx"].as_array().unwrap().is_empty());
    }

    #[test]
    fn pressure_levels_serialise_as_words() {
        let v = serde_json::to_value([
            PressureLevel::Normal,
            PressureLevel::Warn,
            PressureLevel::Critical,
        ])
        .unwrap();
        assert_eq!(v, serde_json::json!(["normal", "warn", "critical"]));
        assert!(PressureLevel::Critical > PressureLevel::Warn);
    }
}
