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
//! - Free = (free − speculative) × page size (`vm_stat`'s "Pages free");
//!   Available = Free + Cached files, never above `hw.memsize`.

use super::{Derived, PagingCounters};
use crate::snapshot::{Platform, PressureLevel, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod vm_info;

#[cfg(target_os = "macos")]
mod ffi;
#[cfg(target_os = "macos")]
pub use ffi::{self_syscalls, MacReader};

/// Words of `struct task_events_info` (xnu `osfmk/mach/task_info.h`): faults, pageins,
/// cow_faults, messages_sent, messages_received, syscalls_mach, syscalls_unix, csw.
pub const TASK_EVENTS_INFO_WORDS: usize = 8;

/// Mach plus Unix system calls from the words of `struct task_events_info`.
pub fn syscalls_from_task_events(words: &[i32; TASK_EVENTS_INFO_WORDS]) -> u64 {
    let word = |i: usize| u64::from(words[i].max(0).unsigned_abs());
    word(5) + word(6)
}

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
    /// Swapped pages (kernels that fill REV2, macOS 26 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swapped_count: Option<u64>,
    /// Every 64-bit field after `swapped_count` the kernel filled, in kernel order (macOS 26:
    /// `total_tag_storage_pages`, …); kept so a capture holds all the kernel returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<u64>,
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
    /// The VM statistics, or `None` when `host_statistics64` failed (boxed: it is large).
    pub vm: Option<Box<VmStatistics64>>,
    /// The `HOST_VM_INFO64` count (in `integer_t`s) the kernel accepted.
    pub vm_count: Option<u32>,
    /// How many `host_statistics64` calls that took (more than one when the kernel asked for
    /// another count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_calls: Option<u32>,
    /// The kernel's page size in bytes (16384 on Apple Silicon), the unit of every
    /// `vm_statistics64` count: from `host_page_size()` (see [`choose_page_size`]).
    pub page_size: u64,
    /// `hw.pagesize`: the calling task's map page size, kept for comparison (4096 for an
    /// x86_64 build under Rosetta on Apple Silicon, where the kernel counts 16 KiB pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_pagesize: Option<u64>,
    /// Where `page_size` came from (`host_page_size`, `vm_kernel_page_size`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size_source: Option<PageSizeSource>,
    /// `hw.memsize` in bytes.
    pub memsize: Option<u64>,
    /// `vm.swapusage`.
    pub swap: Option<XswUsage>,
    /// `kern.memorystatus_vm_pressure_level`: 1 normal, 2 warn, 4 critical.
    pub pressure_level: Option<i32>,
    /// `kern.memorystatus_level`: free percentage.
    pub memorystatus_level: Option<i32>,
    /// `iogpu.wired_limit_mb` (0 = macOS default); absent on Intel Macs and macOS 13.
    pub wired_limit_mb: Option<u64>,
    /// `debug.iogpu.wired_limit` in bytes, read only where `iogpu.wired_limit_mb` is missing
    /// (reported for macOS 13; see `wired::wired_limit_from_sysctls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_wired_limit: Option<u64>,
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

/// Where the page size that multiplies `vm_statistics64` counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSizeSource {
    /// `host_page_size(mach_host_self())`: the kernel's page size.
    HostPageSize,
    /// The `vm_kernel_page_size` global of libSystem (`mach/vm_page_size.h`).
    VmKernelPageSize,
    /// `hw.pagesize`, used only when neither kernel figure could be read: it is the calling
    /// task's map page size (xnu `bsd/kern/kern_mib.c`), wrong for an x86_64 build on Apple
    /// Silicon.
    HwPagesize,
    /// The architecture's usual kernel page size (nothing could be read).
    Fallback,
}

/// Whether `size` can be a page size: a power of two from 4 KiB to 64 KiB.
fn plausible_page_size(size: u64) -> bool {
    size.is_power_of_two() && (4096..=65_536).contains(&size)
}

/// The page size that multiplies `vm_statistics64` counts. `vm_statistics64` counts kernel
/// pages, so the kernel's page size wins: `host_page_size()` first, then
/// `vm_kernel_page_size` (both 16384 on Apple Silicon whatever the caller's architecture).
/// `hw.pagesize` is the calling task's map page size (xnu `bsd/kern/kern_mib.c`): 4096 for an
/// x86_64 process under Rosetta, which would make every figure 4× too small, so it is used
/// only when neither kernel figure is readable. Implausible values (not a power of two from
/// 4 KiB to 64 KiB) are skipped; `fallback` is the last resort.
pub fn choose_page_size(
    host_page_size: Option<u64>,
    vm_kernel_page_size: Option<u64>,
    hw_pagesize: Option<u64>,
    fallback: u64,
) -> (u64, PageSizeSource) {
    [
        (host_page_size, PageSizeSource::HostPageSize),
        (vm_kernel_page_size, PageSizeSource::VmKernelPageSize),
        (hw_pagesize, PageSizeSource::HwPagesize),
    ]
    .into_iter()
    .find_map(|(v, src)| v.filter(|&v| plausible_page_size(v)).map(|v| (v, src)))
    .unwrap_or((fallback, PageSizeSource::Fallback))
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

/// The Activity-Monitor-like breakdown in bytes (formulas and sources: `docs/FORMULAS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakdown {
    /// App Memory: (internal − purgeable) pages.
    pub app: u64,
    /// Wired Memory: wire pages.
    pub wired: u64,
    /// Compressed: pages the compressor occupies.
    pub compressed: u64,
    /// Cached Files: (external + purgeable) pages.
    pub cached: u64,
    /// Memory Used as Activity Monitor shows it: `hw.memsize` − (free − speculative +
    /// external) pages. It includes RAM in no page queue (≈ 0.6–0.9 GiB), so it is larger
    /// than App + Wired + Compressed.
    pub used: u64,
    /// Free: (free − speculative) pages, what `vm_stat` prints as "Pages free".
    pub free: u64,
    /// Available without swapping: free + cached files, at most `hw.memsize`.
    pub available: u64,
}

/// Computes the breakdown from VM statistics, the page size and `hw.memsize`.
pub fn breakdown(vm: &VmStatistics64, page_size: u64, memsize: u64) -> Breakdown {
    let pages = |n: u64| n.saturating_mul(page_size);
    let free = pages(vm.free_count.saturating_sub(vm.speculative_count));
    let cached = pages(vm.external_page_count.saturating_add(vm.purgeable_count));
    let not_used = free.saturating_add(pages(vm.external_page_count));
    Breakdown {
        app: pages(vm.internal_page_count.saturating_sub(vm.purgeable_count)),
        wired: pages(vm.wire_count),
        compressed: pages(vm.compressor_page_count),
        cached,
        used: memsize.saturating_sub(not_used),
        free,
        available: free.saturating_add(cached).min(memsize),
    }
}

/// Reads a 4- or 8-byte unsigned sysctl value (native byte order).
pub fn parse_sysctl_uint(bytes: &[u8]) -> Result<u64, String> {
    match bytes.len() {
        4 => Ok(u64::from(u32::from_ne_bytes(fixed(bytes)?))),
        8 => Ok(u64::from_ne_bytes(fixed(bytes)?)),
        n => Err(format!("{n} bytes, expected a 4- or 8-byte integer")),
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    <[u8; N]>::try_from(bytes).map_err(|_| format!("{} bytes, expected {N}", bytes.len()))
}

/// Size of `struct xsw_usage` (`sys/sysctl.h`): 3 × u64, u32 pagesize, boolean_t encrypted.
pub const XSW_USAGE_BYTES: usize = 32;

/// Parses the bytes of `vm.swapusage` (`struct xsw_usage`, native byte order).
pub fn parse_xsw_usage(bytes: &[u8]) -> Result<XswUsage, String> {
    if bytes.len() < XSW_USAGE_BYTES {
        return Err(format!(
            "{} bytes, expected at least {XSW_USAGE_BYTES} (struct xsw_usage)",
            bytes.len()
        ));
    }
    let u64_at = |i: usize| fixed::<8>(&bytes[i..i + 8]).map(u64::from_ne_bytes);
    let u32_at = |i: usize| fixed::<4>(&bytes[i..i + 4]).map(u32::from_ne_bytes);
    Ok(XswUsage {
        total: u64_at(0)?,
        avail: u64_at(8)?,
        used: u64_at(16)?,
        pagesize: u32_at(24)?,
        encrypted: u32_at(28)? != 0,
    })
}

/// Derives a macOS snapshot (rates null) from raw counters.
pub fn derive(raw: &MacRaw, at: DateTime<Utc>) -> Derived {
    let mut s = Snapshot::empty(Platform::Macos, at);
    for e in &raw.read_errors {
        s.unavailable.push(format!("source: {e}"));
    }
    derive_memory(&mut s, raw);
    derive_swap_pressure_gpu(&mut s, raw);
    Derived {
        snapshot: s,
        counters: paging_counters(raw),
    }
}

fn derive_memory(s: &mut Snapshot, raw: &MacRaw) {
    s.memory.total = raw.memsize;
    let (vm, total) = match (&raw.vm, raw.memsize) {
        _ if raw.page_size == 0 => {
            return s.mark_unavailable("memory", "page size is 0; hw.pagesize must be > 0")
        }
        (Some(vm), Some(total)) => (vm, total),
        (None, _) => return s.mark_unavailable("memory", "host_statistics64 failed"),
        (_, None) => return s.mark_unavailable("memory", "hw.memsize could not be read"),
    };
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

fn derive_swap_pressure_gpu(s: &mut Snapshot, raw: &MacRaw) {
    if let Some(sw) = &raw.swap {
        (s.swap.total, s.swap.used) = (Some(sw.total), Some(sw.used));
    } else {
        s.mark_unavailable("swap", "vm.swapusage could not be read");
    }
    s.pressure.level = raw.pressure_level.and_then(pressure_from_kernel);
    match raw.pressure_level {
        None => s.mark_unavailable(
            "pressure.level",
            "kern.memorystatus_vm_pressure_level unreadable",
        ),
        Some(v) if s.pressure.level.is_none() => s.mark_unavailable(
            "pressure.level",
            format!("kern.memorystatus_vm_pressure_level is {v}; known values are 1, 2, 4"),
        ),
        Some(_) => {}
    }
    s.pressure.free_percent = raw.memorystatus_level.map(f64::from);
    if s.pressure.free_percent.is_none() {
        s.mark_unavailable(
            "pressure.free_percent",
            "kern.memorystatus_level unreadable",
        );
    }
    let found = crate::wired::wired_limit_from_sysctls(raw.wired_limit_mb, raw.debug_wired_limit);
    s.gpu.wired_limit = found.map(|(_, bytes)| bytes);
    s.gpu.wired_limit_sysctl = found.map(|(sysctl, _)| sysctl.name.to_string());
    if found.is_none() {
        s.mark_unavailable(
            "gpu.wired_limit",
            "no iogpu.wired_limit_mb sysctl (Intel Mac?)",
        );
    }
    s.mark_unavailable(
        "gpu.recommended_working_set",
        "reported by an attached MLX agent only",
    );
}

/// Cumulative paging counters in bytes: the kernel counts pages.
fn paging_counters(raw: &MacRaw) -> PagingCounters {
    let Some(vm) = &raw.vm else {
        return PagingCounters::default();
    };
    let p = |n: u64| Some(n.saturating_mul(raw.page_size));
    PagingCounters {
        swapins: p(vm.swapins),
        swapouts: p(vm.swapouts),
        compressions: p(vm.compressions),
        decompressions: p(vm.decompressions),
        // `pageins`: "# of pageins", pages (xnu osfmk/mach/vm_statistics.h, vm_statistics64).
        pageins: p(vm.pageins),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const P: u64 = 16_384;

    /// A 16 GiB Mac where every page queue is known: 0.75 GiB sit in no queue.
    fn vm() -> VmStatistics64 {
        VmStatistics64 {
            free_count: 40_000,
            speculative_count: 8_000,
            active_count: 300_000,
            inactive_count: 290_000,
            wire_count: 150_000,
            purgeable_count: 6_000,
            external_page_count: 200_000,
            internal_page_count: 398_000,
            compressor_page_count: 100_000,
            ..VmStatistics64::default()
        }
    }

    #[test]
    fn breakdown_follows_the_documented_formulas() {
        let b = breakdown(&vm(), P, 16 * GIB);
        assert_eq!(b.app, 392_000 * P);
        assert_eq!(b.wired, 150_000 * P);
        assert_eq!(b.compressed, 100_000 * P);
        assert_eq!(b.cached, 206_000 * P);
        assert_eq!(b.free, 32_000 * P);
        assert_eq!(b.used, 16 * GIB - 232_000 * P);
        assert_eq!(b.available, 238_000 * P);
        // Used = App + Wired + Compressed + purgeable + pages in no queue.
        let queued = 32_000 + 300_000 + 290_000 + 8_000 + 150_000 + 100_000;
        let unqueued = 16 * GIB / P - queued;
        assert_eq!(
            b.used,
            b.app + b.wired + b.compressed + (6_000 + unqueued) * P
        );
    }

    #[test]
    fn inconsistent_counts_saturate_instead_of_wrapping() {
        let mut v = vm();
        v.speculative_count = v.free_count + 5;
        v.purgeable_count = v.internal_page_count + 1;
        let b = breakdown(&v, P, GIB);
        assert_eq!(b.free, 0);
        assert_eq!(b.app, 0);
        assert!(b.available <= GIB);
        assert_eq!(b.used, 0, "external alone exceeds a 1 GiB memsize");
    }

    #[test]
    fn derive_marks_missing_and_unknown_values_with_their_reason() {
        let raw = MacRaw {
            vm: Some(Box::new(vm())),
            page_size: P,
            memsize: None,
            pressure_level: Some(3),
            ..MacRaw::default()
        };
        let d = derive(&raw, DateTime::<Utc>::UNIX_EPOCH);
        let u = d.snapshot.unavailable.join("\n");
        assert!(u.contains("memory: hw.memsize could not be read"), "{u}");
        assert!(u.contains("is 3; known values are 1, 2, 4"), "{u}");
        assert_eq!(d.snapshot.memory.used, None);
        assert_eq!(d.counters.swapins, Some(0));
        let zero_page = MacRaw {
            page_size: 0,
            memsize: Some(GIB),
            ..raw
        };
        let d = derive(&zero_page, DateTime::<Utc>::UNIX_EPOCH);
        assert!(d.snapshot.unavailable.join(" ").contains("page size is 0"));
    }

    #[test]
    fn the_kernel_page_size_wins_over_the_callers_map_page_size() {
        // An x86_64 build under Rosetta on Apple Silicon: hw.pagesize answers the task's map
        // page size (4096) while the kernel, and vm_statistics64, count 16 KiB pages.
        let rosetta = choose_page_size(Some(16_384), Some(16_384), Some(4_096), 4_096);
        assert_eq!(rosetta, (16_384, PageSizeSource::HostPageSize));
        let no_host_call = choose_page_size(None, Some(16_384), Some(4_096), 4_096);
        assert_eq!(no_host_call, (16_384, PageSizeSource::VmKernelPageSize));
        // An Intel Mac: every source says 4096.
        let intel = choose_page_size(Some(4_096), Some(4_096), Some(4_096), 4_096);
        assert_eq!(intel, (4_096, PageSizeSource::HostPageSize));
        // hw.pagesize only when the kernel figures are missing or implausible.
        let only_hw = choose_page_size(Some(0), Some(12_345), Some(16_384), 4_096);
        assert_eq!(only_hw, (16_384, PageSizeSource::HwPagesize));
        assert_eq!(
            choose_page_size(None, None, None, 16_384),
            (16_384, PageSizeSource::Fallback)
        );
    }

    #[test]
    fn a_rosetta_sample_is_not_four_times_too_small() {
        // The same counters derived with the chosen size and with hw.pagesize: 4x apart.
        let (page, _) = choose_page_size(Some(16_384), Some(16_384), Some(4_096), 4_096);
        let right = breakdown(&vm(), page, 16 * GIB);
        let wrong = breakdown(&vm(), 4_096, 16 * GIB);
        assert_eq!(right.wired, 150_000 * 16_384);
        assert_eq!(right.wired, 4 * wrong.wired);
    }

    #[test]
    fn the_wired_limit_comes_from_the_sysctl_found_in_its_unit() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let sonoma = MacRaw {
            wired_limit_mb: Some(57_344),
            ..MacRaw::default()
        };
        let g = derive(&sonoma, at).snapshot.gpu;
        assert_eq!(g.wired_limit, Some(57_344 << 20));
        assert_eq!(
            g.wired_limit_sysctl.as_deref(),
            Some("iogpu.wired_limit_mb")
        );
        let ventura = MacRaw {
            debug_wired_limit: Some(60_129_542_144),
            ..MacRaw::default()
        };
        let g = derive(&ventura, at).snapshot.gpu;
        assert_eq!(g.wired_limit, Some(60_129_542_144), "bytes stay bytes");
        assert_eq!(
            g.wired_limit_sysctl.as_deref(),
            Some("debug.iogpu.wired_limit")
        );
        let intel = derive(&MacRaw::default(), at).snapshot;
        assert_eq!(intel.gpu.wired_limit_sysctl, None);
        assert!(intel.unavailable.join(" ").contains("gpu.wired_limit"));
    }

    #[test]
    fn system_calls_are_mach_plus_unix() {
        // faults, pageins, cow, sent, received, syscalls_mach, syscalls_unix, csw
        let words = [9_000, 10, 300, 4_000, 3_900, 1_234, 5_678, 777];
        assert_eq!(syscalls_from_task_events(&words), 6_912);
        let wrapped = [0, 0, 0, 0, 0, -5, 7, 0];
        assert_eq!(
            syscalls_from_task_events(&wrapped),
            7,
            "a negative count is no count"
        );
    }

    #[test]
    fn sysctl_integers_of_four_and_eight_bytes() {
        assert_eq!(parse_sysctl_uint(&16_384u32.to_ne_bytes()), Ok(16_384));
        assert_eq!(
            parse_sysctl_uint(&(17u64 << 32).to_ne_bytes()),
            Ok(17 << 32)
        );
        let e = parse_sysctl_uint(&[1, 2, 3]).unwrap_err();
        assert!(e.contains("3 bytes"), "{e}");
    }

    #[test]
    fn xsw_usage_bytes() {
        let mut b = Vec::new();
        for v in [2 * GIB, GIB + 5, GIB - 5] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&16_384u32.to_ne_bytes());
        b.extend_from_slice(&1i32.to_ne_bytes());
        let x = parse_xsw_usage(&b).unwrap();
        assert_eq!((x.total, x.avail, x.used), (2 * GIB, GIB + 5, GIB - 5));
        assert!(x.encrypted);
        assert_eq!(x.pagesize, 16_384);
        assert!(parse_xsw_usage(&b[..31]).unwrap_err().contains("31 bytes"));
    }
}
