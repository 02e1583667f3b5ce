//! macOS backend: `host_statistics64(HOST_VM_INFO64)` and a few sysctls.
//!
//! The raw counters ([`MacRaw`]) and the derivation are plain data and pure functions,
//! compiled and tested on every platform with numbers captured from real Macs; only
//! `ffi.rs` (compiled on macOS alone) talks to the kernel.
//!
//! Breakdown (Activity Monitor's Memory tab; see `docs/FORMULAS.md` for sources):
//! - App = internal − purgeable; Cached files = external + purgeable; Wired = wire;
//!   Compressed = compressor_page_count (physical pages the compressor occupies).
//! - Used = `hw.memsize` − (free − speculative + external) × page size, Activity Monitor's
//!   "Memory Used" (it includes RAM that sits in no page queue, ~0.6–0.9 GiB).
//! - Free = `hw.memsize` − Used; Available = (free + external + purgeable) × page size,
//!   never above Free + Cached.

use super::{Derived, PagingCounters};
use crate::snapshot::{Platform, PressureLevel, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(target_os = "macos")]
mod ffi;
#[cfg(target_os = "macos")]
pub use ffi::MacReader;

/// The `vm_statistics64` fields (xnu `osfmk/mach/vm_statistics.h`), widened to `u64`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStatistics64 {
    /// Pages free.
    pub free_count: u64,
    /// Pages active.
    pub active_count: u64,
    /// Pages inactive.
    pub inactive_count: u64,
    /// Pages wired down.
    pub wire_count: u64,
    /// Zero-fill page faults.
    pub zero_fill_count: u64,
    /// Reactivated pages.
    pub reactivations: u64,
    /// Page-ins.
    pub pageins: u64,
    /// Page-outs.
    pub pageouts: u64,
    /// Faults.
    pub faults: u64,
    /// Copy-on-write faults.
    pub cow_faults: u64,
    /// Object cache lookups.
    pub lookups: u64,
    /// Object cache hits.
    pub hits: u64,
    /// Pages purged.
    pub purges: u64,
    /// Purgeable pages.
    pub purgeable_count: u64,
    /// Speculative pages (counted in free_count).
    pub speculative_count: u64,
    /// Pages decompressed since boot.
    pub decompressions: u64,
    /// Pages compressed since boot.
    pub compressions: u64,
    /// Pages swapped in since boot.
    pub swapins: u64,
    /// Pages swapped out since boot.
    pub swapouts: u64,
    /// Pages the compressor occupies.
    pub compressor_page_count: u64,
    /// Pages throttled.
    pub throttled_count: u64,
    /// File-backed pages.
    pub external_page_count: u64,
    /// Anonymous pages.
    pub internal_page_count: u64,
    /// Uncompressed pages held by the compressor.
    pub total_uncompressed_pages_in_compressor: u64,
    /// Swapped pages (newer SDKs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swapped_count: Option<u64>,
}

/// `struct xsw_usage` from `vm.swapusage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XswUsage {
    /// Total swap in bytes.
    pub total: u64,
    /// Available swap in bytes.
    pub avail: u64,
    /// Used swap in bytes.
    pub used: u64,
    /// Swap page size.
    pub pagesize: u32,
    /// Whether swap is encrypted.
    pub encrypted: bool,
}

/// Everything one macOS sample is derived from, raw and unconverted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MacRaw {
    /// The VM statistics, or `None` when `host_statistics64` failed.
    pub vm: Option<VmStatistics64>,
    /// The `HOST_VM_INFO64` count (in `integer_t`s) the kernel accepted.
    pub vm_count: Option<u32>,
    /// `vm_kernel_page_size` / `hw.pagesize` in bytes (16384 on Apple Silicon).
    pub page_size: u64,
    /// `hw.memsize` in bytes.
    pub memsize: Option<u64>,
    /// `vm.swapusage`.
    pub swap: Option<XswUsage>,
    /// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
    pub pressure_level: Option<i32>,
    /// `kern.memorystatus_level`: free percentage.
    pub memorystatus_level: Option<i32>,
    /// `iogpu.wired_limit_mb` (0 = macOS default); absent on Intel Macs.
    pub wired_limit_mb: Option<u64>,
    /// `kern.osproductversion`, e.g. `15.3.1`.
    #[serde(default)]
    pub os_version: Option<String>,
    /// `machdep.cpu.brand_string`, e.g. `Apple M2 Max`.
    #[serde(default)]
    pub chip: Option<String>,
    /// Why a value above is missing: `"<source>: <reason>"`.
    #[serde(default)]
    pub read_errors: Vec<String>,
}

/// Maps `kern.memorystatus_vm_pressure_level` (1, 2, 4) to a level.
pub fn pressure_from_kernel(level: i32) -> Option<PressureLevel> {
    match level {
        1 => Some(PressureLevel::Normal),
        2 => Some(PressureLevel::Warn),
        4 => Some(PressureLevel::Critical),
        _ => None,
    }
}

/// The Activity-Monitor-like breakdown in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakdown {
    /// App memory: internal − purgeable.
    pub app: u64,
    /// Wired memory.
    pub wired: u64,
    /// Compressed: pages occupied by the compressor.
    pub compressed: u64,
    /// Cached files: external + purgeable.
    pub cached: u64,
    /// Memory Used as Activity Monitor shows it.
    pub used: u64,
    /// Free: total − used.
    pub free: u64,
    /// Available without swapping: free pages + cached files, at most free + cached.
    pub available: u64,
}

/// Computes the breakdown from VM statistics, the page size and `hw.memsize`.
pub fn breakdown(vm: &VmStatistics64, page_size: u64, memsize: u64) -> Breakdown {
    let pages = |n: u64| n.saturating_mul(page_size);
    let app = pages(vm.internal_page_count.saturating_sub(vm.purgeable_count));
    let cached = pages(vm.external_page_count + vm.purgeable_count);
    let not_used = vm.free_count.saturating_sub(vm.speculative_count) + vm.external_page_count;
    let used = memsize.saturating_sub(pages(not_used));
    let free = memsize.saturating_sub(used);
    let available =
        pages(vm.free_count + vm.external_page_count + vm.purgeable_count).min(free + cached);
    Breakdown {
        app,
        wired: pages(vm.wire_count),
        compressed: pages(vm.compressor_page_count),
        cached,
        used,
        free,
        available,
    }
}

/// Derives a macOS snapshot (rates null) from raw counters.
pub fn derive(raw: &MacRaw, at: DateTime<Utc>) -> Derived {
    let mut s = Snapshot::empty(Platform::Macos, at);
    for e in &raw.read_errors {
        s.unavailable.push(format!("source: {e}"));
    }
    s.memory.total = raw.memsize;
    match (&raw.vm, raw.memsize) {
        (Some(vm), Some(total)) => {
            let b = breakdown(vm, raw.page_size, total);
            let m = &mut s.memory;
            (m.app, m.wired, m.compressed, m.cached) = (
                Some(b.app),
                Some(b.wired),
                Some(b.compressed),
                Some(b.cached),
            );
            (m.used, m.free, m.available) = (Some(b.used), Some(b.free), Some(b.available));
        }
        _ => s.mark_unavailable("memory", "host_statistics64 or hw.memsize failed"),
    }
    if let Some(sw) = &raw.swap {
        (s.swap.total, s.swap.used) = (Some(sw.total), Some(sw.used));
    } else {
        s.mark_unavailable("swap", "vm.swapusage could not be read");
    }
    s.pressure.level = raw.pressure_level.and_then(pressure_from_kernel);
    if s.pressure.level.is_none() {
        s.mark_unavailable(
            "pressure.level",
            "kern.memorystatus_vm_pressure_level unreadable",
        );
    }
    s.pressure.free_percent = raw.memorystatus_level.map(f64::from);
    s.gpu.wired_limit = raw.wired_limit_mb.map(|mb| mb * 1024 * 1024);
    if s.gpu.wired_limit.is_none() {
        s.mark_unavailable(
            "gpu.wired_limit",
            "no iogpu.wired_limit_mb sysctl (Intel Mac?)",
        );
    }
    let counters = match &raw.vm {
        Some(vm) => {
            let p = |n: u64| Some(n.saturating_mul(raw.page_size));
            PagingCounters {
                swapins: p(vm.swapins),
                swapouts: p(vm.swapouts),
                compressions: p(vm.compressions),
                decompressions: p(vm.decompressions),
            }
        }
        None => PagingCounters::default(),
    };
    Derived {
        snapshot: s,
        counters,
    }
}
