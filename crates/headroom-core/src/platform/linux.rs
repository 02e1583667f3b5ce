//! Linux backend: `/proc/meminfo`, `/proc/vmstat`, `/proc/pressure/memory` and zram.
//!
//! Reading keeps the files' text (so a capture holds exactly what the kernel printed);
//! parsing and deriving are pure functions. Formulas, with their sources, are in
//! `docs/FORMULAS.md`; in short (all `/proc/meminfo` fields are kB, see proc(5)):
//!
//! | field        | formula |
//! |--------------|---------|
//! | `total`      | MemTotal |
//! | `available`  | MemAvailable; on kernels before 3.14, MemFree + Buffers + Cached − Shmem + SReclaimable |
//! | `used`       | total − available (what procps `free` ≥ 3.3.10 calls used) |
//! | `free`       | MemFree |
//! | `cached`     | Buffers + Cached − Shmem + SReclaimable (page cache the kernel can drop) |
//! | `app`        | AnonPages + Shmem (anonymous and tmpfs memory of processes) |
//! | `compressed` | Zswap (pool size, kernel ≥ 6.5) + Σ zram `mm_stat` mem_used_total |
//! | `wired`      | total − free − cached − app − compressed, at least 0 (kernel, slab, page tables, drivers) |
//!
//! The pressure level is derived from PSI and MemAvailable ([`PressureThresholds`]).

use super::{Derived, PagingCounters, RawSample};
use crate::snapshot::{Platform, PressureLevel, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The raw text of the kernel files one Linux sample is derived from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinuxRaw {
    /// `/proc/meminfo`, or `None` when it could not be read.
    pub meminfo: Option<String>,
    /// `/proc/vmstat`.
    pub vmstat: Option<String>,
    /// `/proc/pressure/memory` (absent on kernels before 4.20 or with PSI disabled).
    pub pressure_memory: Option<String>,
    /// `mm_stat` of every `/sys/block/zram*` device.
    #[serde(default)]
    pub zram: Vec<ZramRaw>,
    /// The page size in bytes (`sysconf(_SC_PAGESIZE)`).
    pub page_size: u64,
    /// Why a file above is missing: `"<file>: <reason>"`.
    #[serde(default)]
    pub read_errors: Vec<String>,
}

/// One zram device's `mm_stat` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZramRaw {
    /// Device name, e.g. `zram0`.
    pub device: String,
    /// The text of `/sys/block/<device>/mm_stat`.
    pub mm_stat: String,
}

/// Reads the kernel files from a configurable root (for replaying captured trees).
#[derive(Debug)]
pub struct LinuxReader {
    proc_root: PathBuf,
    sys_root: PathBuf,
    page_size: u64,
    buf: Vec<u8>,
}

impl LinuxReader {
    /// A reader of `proc_root` (normally `/proc`) and `sys_root` (normally `/sys`).
    pub fn new(proc_root: impl Into<PathBuf>, sys_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            sys_root: sys_root.into(),
            page_size: host_page_size(),
            buf: Vec::with_capacity(8192),
        }
    }

    /// A reader honouring `HEADROOM_PROC_ROOT` and `HEADROOM_SYS_ROOT`.
    pub fn from_env() -> Self {
        let root = |var: &str, default: &str| {
            std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self::new(
            root("HEADROOM_PROC_ROOT", "/proc"),
            root("HEADROOM_SYS_ROOT", "/sys"),
        )
    }

    /// Reads every file of one sample; a file that cannot be read is recorded, not fatal.
    pub fn read(&mut self) -> RawSample {
        let mut raw = LinuxRaw {
            page_size: self.page_size,
            ..LinuxRaw::default()
        };
        raw.meminfo = self.read_file(&self.proc_root.join("meminfo"), &mut raw.read_errors);
        raw.vmstat = self.read_file(&self.proc_root.join("vmstat"), &mut raw.read_errors);
        let psi = self.proc_root.join("pressure/memory");
        raw.pressure_memory = self.read_file(&psi, &mut raw.read_errors);
        raw.zram = self.read_zram();
        RawSample::Linux(raw)
    }

    fn read_file(&mut self, path: &Path, errors: &mut Vec<String>) -> Option<String> {
        self.buf.clear();
        let res = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut self.buf));
        match res {
            Ok(_) => Some(String::from_utf8_lossy(&self.buf).into_owned()),
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                None
            }
        }
    }

    fn read_zram(&mut self) -> Vec<ZramRaw> {
        let Ok(dir) = std::fs::read_dir(self.sys_root.join("block")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("zram"))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for device in names {
            let path = self.sys_root.join("block").join(&device).join("mm_stat");
            if let Ok(mm_stat) = std::fs::read_to_string(path) {
                out.push(ZramRaw { device, mm_stat });
            }
        }
        out
    }
}

/// The page size of this machine.
pub fn host_page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// Looks up a `Key:   123 kB` line of `/proc/meminfo` and returns bytes.
pub fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => value.checked_mul(1024),
            None => Some(value),
            Some(_) => None,
        }
    })
}

/// Looks up a `key value` line of `/proc/vmstat`.
pub fn vmstat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The `some` and `full` lines of `/proc/pressure/memory`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Psi {
    /// `some avg10`.
    pub some_avg10: f64,
    /// `some avg60`.
    pub some_avg60: f64,
    /// `full avg10`.
    pub full_avg10: f64,
    /// `full avg60`.
    pub full_avg60: f64,
}

/// Parses `/proc/pressure/memory`; `None` when a needed value is missing or malformed.
pub fn parse_psi(text: &str) -> Option<Psi> {
    let avg = |kind: &str, key: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(kind))?;
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    Some(Psi {
        some_avg10: avg("some", "avg10")?,
        some_avg60: avg("some", "avg60")?,
        full_avg10: avg("full", "avg10")?,
        full_avg60: avg("full", "avg60")?,
    })
}

/// Memory used by one zram device (`mm_stat` field 3, mem_used_total, bytes).
pub fn zram_mem_used(mm_stat: &str) -> Option<u64> {
    mm_stat.split_whitespace().nth(2)?.parse().ok()
}

/// Thresholds of the Linux pressure level (Linux has no kernel verdict like macOS).
///
/// PSI numbers are the share of wall time tasks stalled waiting for memory
/// (kernel Documentation/accounting/psi.rst). Defaults: *critical* when all tasks stalled
/// ≥ 10 % of the last 10 s or less than 5 % of memory is available; *warning* when some task
/// stalled ≥ 10 % or less than 15 % is available (seed 004's watchdog acts under 15 % free).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureThresholds {
    /// `full avg10` at or above which the level is critical.
    pub critical_full_avg10: f64,
    /// Available percentage below which the level is critical.
    pub critical_available_percent: f64,
    /// `some avg10` at or above which the level is warn.
    pub warn_some_avg10: f64,
    /// Available percentage below which the level is warn.
    pub warn_available_percent: f64,
}

impl Default for PressureThresholds {
    fn default() -> Self {
        Self {
            critical_full_avg10: 10.0,
            critical_available_percent: 5.0,
            warn_some_avg10: 10.0,
            warn_available_percent: 15.0,
        }
    }
}

impl PressureThresholds {
    /// The level for a PSI reading (if any) and an available percentage (if any).
    pub fn level(
        &self,
        psi: Option<&Psi>,
        available_percent: Option<f64>,
    ) -> Option<PressureLevel> {
        if psi.is_none() && available_percent.is_none() {
            return None;
        }
        let avail = available_percent.unwrap_or(100.0);
        let (some, full) = psi.map_or((0.0, 0.0), |p| (p.some_avg10, p.full_avg10));
        Some(
            if full >= self.critical_full_avg10 || avail < self.critical_available_percent {
                PressureLevel::Critical
            } else if some >= self.warn_some_avg10 || avail < self.warn_available_percent {
                PressureLevel::Warn
            } else {
                PressureLevel::Normal
            },
        )
    }
}

/// Derives a Linux snapshot (rates null) from raw kernel text.
pub fn derive(raw: &LinuxRaw, at: DateTime<Utc>) -> Derived {
    let mut s = Snapshot::empty(Platform::Linux, at);
    for e in &raw.read_errors {
        s.unavailable.push(format!("source: {e}"));
    }
    derive_memory(&mut s, raw);
    derive_pressure(&mut s, raw);
    s.mark_unavailable("gpu.wired_limit", "no GPU wired limit on Linux");
    if s.gpu.recommended_working_set.is_none() {
        s.mark_unavailable(
            "gpu.recommended_working_set",
            "reported by an attached MLX agent on Metal only",
        );
    }
    let counters = paging_counters(raw, &mut s);
    Derived {
        snapshot: s,
        counters,
    }
}

fn derive_memory(s: &mut Snapshot, raw: &LinuxRaw) {
    let Some(text) = raw.meminfo.as_deref() else {
        for f in [
            "total",
            "used",
            "app",
            "wired",
            "compressed",
            "cached",
            "free",
            "available",
        ] {
            s.mark_unavailable(&format!("memory.{f}"), "/proc/meminfo could not be read");
        }
        s.mark_unavailable("swap", "/proc/meminfo could not be read");
        return;
    };
    let f = |k: &str| meminfo_field(text, k);
    let m = &mut s.memory;
    m.total = f("MemTotal");
    m.free = f("MemFree");
    let shmem = f("Shmem").unwrap_or(0);
    m.cached = match (f("Cached"), f("Buffers"), f("SReclaimable")) {
        (Some(c), b, r) => Some((c + b.unwrap_or(0) + r.unwrap_or(0)).saturating_sub(shmem)),
        _ => None,
    };
    m.app = f("AnonPages").map(|a| a + shmem);
    let zram: u64 = raw
        .zram
        .iter()
        .filter_map(|z| zram_mem_used(&z.mm_stat))
        .sum();
    m.compressed = Some(f("Zswap").unwrap_or(0) + zram);
    let estimate = match (m.free, m.cached) {
        (Some(fr), Some(c)) => Some(fr + c),
        _ => None,
    };
    m.available = f("MemAvailable").or(estimate);
    m.used = match (m.total, m.available) {
        (Some(t), Some(a)) => Some(t.saturating_sub(a)),
        _ => None,
    };
    m.wired = match (m.total, m.free, m.cached, m.app, m.compressed) {
        (Some(t), Some(fr), Some(c), Some(a), Some(z)) => Some(t.saturating_sub(fr + c + a + z)),
        _ => None,
    };
    if f("MemAvailable").is_none() && m.available.is_some() {
        s.unavailable.push(
            "memory.available: no MemAvailable (kernel < 3.14); estimated as free + cached".into(),
        );
    }
    s.swap.total = f("SwapTotal");
    s.swap.used = match (f("SwapTotal"), f("SwapFree")) {
        (Some(t), Some(fr)) => Some(t.saturating_sub(fr)),
        _ => None,
    };
    note_missing(s);
}

fn note_missing(s: &mut Snapshot) {
    let m = s.memory.clone();
    let fields = [
        ("memory.total", m.total),
        ("memory.free", m.free),
        ("memory.cached", m.cached),
        ("memory.app", m.app),
        ("memory.available", m.available),
        ("memory.used", m.used),
        ("memory.wired", m.wired),
        ("swap.total", s.swap.total),
        ("swap.used", s.swap.used),
    ];
    for (name, v) in fields {
        if v.is_none() {
            s.mark_unavailable(name, "missing or malformed in /proc/meminfo");
        }
    }
}

fn derive_pressure(s: &mut Snapshot, raw: &LinuxRaw) {
    let psi = match raw.pressure_memory.as_deref() {
        Some(t) => {
            let p = parse_psi(t);
            if p.is_none() {
                s.mark_unavailable("pressure.psi", "/proc/pressure/memory is malformed");
            }
            p
        }
        None => {
            s.mark_unavailable(
                "pressure.psi",
                "no /proc/pressure/memory (kernel < 4.20 or PSI off)",
            );
            None
        }
    };
    let avail_pct = match (s.memory.available, s.memory.total) {
        (Some(a), Some(t)) if t > 0 => Some(a as f64 * 100.0 / t as f64),
        _ => None,
    };
    s.pressure.free_percent = avail_pct;
    s.pressure.psi_some_avg10 = psi.map(|p| p.some_avg10);
    s.pressure.psi_full_avg10 = psi.map(|p| p.full_avg10);
    s.pressure.level = PressureThresholds::default().level(psi.as_ref(), avail_pct);
    if s.pressure.level.is_none() {
        s.mark_unavailable(
            "pressure.level",
            "neither PSI nor MemAvailable could be read",
        );
    }
    if avail_pct.is_none() {
        s.mark_unavailable("pressure.free_percent", "MemTotal or MemAvailable missing");
    }
}

fn paging_counters(raw: &LinuxRaw, s: &mut Snapshot) -> PagingCounters {
    let page = raw.page_size;
    let get = |k: &str| {
        raw.vmstat
            .as_deref()
            .and_then(|t| vmstat_field(t, k))
            .map(|p| p * page)
    };
    let c = PagingCounters {
        swapins: get("pswpin"),
        swapouts: get("pswpout"),
        compressions: get("zswpout"),
        decompressions: get("zswpin"),
    };
    if c.swapins.is_none() || c.swapouts.is_none() {
        s.mark_unavailable("rates.swapins", "pswpin/pswpout missing from /proc/vmstat");
    }
    if c.compressions.is_none() {
        s.mark_unavailable(
            "rates.compressions",
            "no zswpin/zswpout in /proc/vmstat (zswap not built in)",
        );
    }
    c
}
