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

use super::kernel_file::KernelFile;
use super::{Derived, PagingCounters, RawSample};
use crate::snapshot::{Platform, PressureLevel, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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

/// How many samples reuse the list of zram devices before `/sys/block` is listed again.
const ZRAM_RESCAN_EVERY: u32 = 60;

/// Reads the kernel files from a configurable root (for replaying captured trees).
///
/// On the real `/proc` and `/sys` the files stay open between samples and the zram devices
/// are listed once a minute at 1 s sampling (see [`KernelFile`]); any other root is read
/// afresh every time.
#[derive(Debug)]
pub struct LinuxReader {
    meminfo: KernelFile,
    vmstat: KernelFile,
    psi: KernelFile,
    block: PathBuf,
    live_sys: bool,
    zram: Vec<(String, KernelFile)>,
    zram_age: Option<u32>,
    page_size: u64,
}

impl LinuxReader {
    /// A reader of `proc_root` (normally `/proc`) and `sys_root` (normally `/sys`).
    pub fn new(proc_root: impl Into<PathBuf>, sys_root: impl Into<PathBuf>) -> Self {
        let (proc_root, sys_root) = (proc_root.into(), sys_root.into());
        let live_proc = proc_root == Path::new("/proc");
        let live_sys = sys_root == Path::new("/sys");
        Self::with_liveness(proc_root, sys_root, live_proc, live_sys)
    }

    /// A reader that treats the roots as live kernel trees (files kept open, zram devices
    /// listed once a minute) or not.
    fn with_liveness(
        proc_root: PathBuf,
        sys_root: PathBuf,
        live_proc: bool,
        live_sys: bool,
    ) -> Self {
        let file = |name: &str| KernelFile::new(proc_root.join(name), live_proc);
        Self {
            meminfo: file("meminfo"),
            vmstat: file("vmstat"),
            psi: file("pressure/memory"),
            live_sys,
            block: sys_root.join("block"),
            zram: Vec::new(),
            zram_age: None,
            page_size: host_page_size(),
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
        let errors = &mut raw.read_errors;
        raw.meminfo = read_into(&mut self.meminfo, errors);
        raw.vmstat = read_into(&mut self.vmstat, errors);
        raw.pressure_memory = read_into(&mut self.psi, errors);
        raw.zram = self.read_zram();
        RawSample::Linux(raw)
    }

    fn read_zram(&mut self) -> Vec<ZramRaw> {
        let fresh = !self.live_sys || self.zram_age.map_or(true, |n| n >= ZRAM_RESCAN_EVERY);
        if fresh {
            self.zram = self.list_zram();
            self.zram_age = Some(0);
        }
        let mut out = Vec::with_capacity(self.zram.len());
        let mut vanished = false;
        for (device, file) in &mut self.zram {
            match read_into(file, &mut Vec::new()) {
                Some(mm_stat) => out.push(ZramRaw {
                    device: device.clone(),
                    mm_stat,
                }),
                None => vanished = true,
            }
        }
        // A device that went away is noticed at once; a new one within a minute.
        self.zram_age = if vanished {
            None
        } else {
            self.zram_age.map(|n| n + 1)
        };
        out
    }

    /// The `mm_stat` files of `/sys/block/zram*`, sorted by device name.
    fn list_zram(&self) -> Vec<(String, KernelFile)> {
        let Ok(dir) = std::fs::read_dir(&self.block) else {
            return Vec::new();
        };
        let mut devices: Vec<(String, KernelFile)> = dir
            .flatten()
            .filter_map(|entry| {
                let device = entry.file_name().into_string().ok()?;
                device.starts_with("zram").then(|| {
                    let path = entry.path().join("mm_stat");
                    (device, KernelFile::new(path, self.live_sys))
                })
            })
            .collect();
        devices.sort_by(|a, b| a.0.cmp(&b.0));
        devices
    }
}

/// Reads `file`; a failure is recorded in `errors`.
fn read_into(file: &mut KernelFile, errors: &mut Vec<String>) -> Option<String> {
    match file.read_string() {
        Ok(text) => Some(text),
        Err(e) => {
            errors.push(format!("{}: {e}", file.path().display()));
            None
        }
    }
}

/// The page size of this machine.
pub fn host_page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The lines of `text` the kernel finished writing: a last line without its newline is a
/// truncated read (the kernel ends every line with `\n`) and is ignored.
pub fn complete_lines(text: &str) -> impl Iterator<Item = &str> {
    let end = text.rfind('\n').unwrap_or(0);
    text[..end].split('\n').filter(|l| !l.is_empty())
}

/// Looks up a `Key:   123 kB` line of `/proc/meminfo` and returns bytes.
pub fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    line_value(text, key, b':').and_then(parse_kb)
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
        let line = complete_lines(text).find(|l| l.starts_with(kind))?;
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
/// stalled ≥ 10 % or less than 15 % is available (the watchdog in SleepyQuant's
/// "MLX Memory Safety Checklist" acts under 15 % free).
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

/// The `/proc/meminfo` fields the derivation uses, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// MemTotal.
    pub mem_total: Option<u64>,
    /// MemFree.
    pub mem_free: Option<u64>,
    /// MemAvailable (kernel ≥ 3.14).
    pub mem_available: Option<u64>,
    /// Buffers.
    pub buffers: Option<u64>,
    /// Cached (page cache, includes Shmem).
    pub cached: Option<u64>,
    /// AnonPages.
    pub anon_pages: Option<u64>,
    /// Shmem.
    pub shmem: Option<u64>,
    /// SReclaimable.
    pub s_reclaimable: Option<u64>,
    /// SwapTotal.
    pub swap_total: Option<u64>,
    /// SwapFree.
    pub swap_free: Option<u64>,
    /// Zswap (compressed pool size, kernel ≥ 6.5).
    pub zswap: Option<u64>,
}

impl MemInfo {
    /// Parses the fields above from `/proc/meminfo` text.
    pub fn parse(text: &str) -> Self {
        let kb = |key: &str| line_value(text, key, b':').and_then(parse_kb);
        Self {
            mem_total: kb("MemTotal"),
            mem_free: kb("MemFree"),
            mem_available: kb("MemAvailable"),
            buffers: kb("Buffers"),
            cached: kb("Cached"),
            anon_pages: kb("AnonPages"),
            shmem: kb("Shmem"),
            s_reclaimable: kb("SReclaimable"),
            swap_total: kb("SwapTotal"),
            swap_free: kb("SwapFree"),
            zswap: kb("Zswap"),
        }
    }
}

/// The value of the complete line `<key><sep><value>\n` in a kernel text file.
///
/// A SIMD substring search per key is several times faster than splitting ~200 lines
/// (`benches/sample.rs`). A last line without its newline is a truncated read: `None`.
pub fn line_value<'a>(text: &'a str, key: &str, sep: u8) -> Option<&'a str> {
    if key.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&bytes[from..], key.as_bytes()).map(|i| i + from) {
        let end_of_key = i + key.len();
        if (i == 0 || bytes[i - 1] == b'\n') && bytes.get(end_of_key) == Some(&sep) {
            let value = &text[end_of_key + 1..];
            return value.find('\n').map(|end| &value[..end]);
        }
        from = end_of_key;
    }
    None
}

/// Parses the value part of a meminfo line (`   123 kB`) into bytes.
fn parse_kb(rest: &str) -> Option<u64> {
    let rest = rest.trim_start_matches(' ');
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let value: u64 = rest[..digits].parse().ok()?;
    match rest[digits..].trim() {
        "kB" => value.checked_mul(1024),
        "" => Some(value),
        _ => None,
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
    let mi = MemInfo::parse(text);
    let m = &mut s.memory;
    m.total = mi.mem_total;
    m.free = mi.mem_free;
    let shmem = mi.shmem.unwrap_or(0);
    m.cached = mi.cached.map(|c| {
        c.saturating_add(mi.buffers.unwrap_or(0))
            .saturating_add(mi.s_reclaimable.unwrap_or(0))
            .saturating_sub(shmem)
    });
    m.app = mi.anon_pages.map(|a| a.saturating_add(shmem));
    let zram: u64 = raw
        .zram
        .iter()
        .filter_map(|z| zram_mem_used(&z.mm_stat))
        .fold(0, u64::saturating_add);
    m.compressed = Some(mi.zswap.unwrap_or(0).saturating_add(zram));
    let estimate = match (m.free, m.cached) {
        (Some(fr), Some(c)) => Some(fr.saturating_add(c)),
        _ => None,
    };
    m.available = mi.mem_available.or(estimate);
    m.used = match (m.total, m.available) {
        (Some(t), Some(a)) => Some(t.saturating_sub(a)),
        _ => None,
    };
    m.wired = match (m.total, m.free, m.cached, m.app, m.compressed) {
        (Some(t), Some(fr), Some(c), Some(a), Some(z)) => {
            Some(t.saturating_sub(fr.saturating_add(c).saturating_add(a).saturating_add(z)))
        }
        _ => None,
    };
    if mi.mem_available.is_none() && m.available.is_some() {
        s.unavailable.push(
            "memory.available: no MemAvailable (kernel < 3.14); estimated as free + cached".into(),
        );
    }
    s.swap.total = mi.swap_total;
    s.swap.used = match (mi.swap_total, mi.swap_free) {
        (Some(t), Some(fr)) => Some(t.saturating_sub(fr)),
        _ => None,
    };
    note_missing(s);
}

fn note_missing(s: &mut Snapshot) {
    let m = &s.memory;
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
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    for name in missing {
        s.mark_unavailable(name, "missing or malformed in /proc/meminfo");
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

/// Cumulative page counts `[pswpin, pswpout, zswpout, zswpin]` from `/proc/vmstat`.
///
pub fn vmstat_paging(text: &str) -> [Option<u64>; 4] {
    ["pswpin", "pswpout", "zswpout", "zswpin"].map(|key| vmstat_value(text, key))
}

fn vmstat_value(text: &str, key: &str) -> Option<u64> {
    line_value(text, key, b' ')?.trim().parse().ok()
}

fn paging_counters(raw: &LinuxRaw, s: &mut Snapshot) -> PagingCounters {
    let page = raw.page_size;
    let [pswpin, pswpout, zswpout, zswpin] =
        raw.vmstat.as_deref().map(vmstat_paging).unwrap_or_default();
    let bytes = |p: Option<u64>| p.map(|p| p.saturating_mul(page));
    // `pgpgin` is in KiB: the kernel turns 512-byte sectors into KiB (`v[PGPGIN] /= 2` in
    // `vmstat_start`, mm/vmstat.c).
    let pgpgin = raw
        .vmstat
        .as_deref()
        .and_then(|t| vmstat_value(t, "pgpgin"));
    let c = PagingCounters {
        swapins: bytes(pswpin),
        swapouts: bytes(pswpout),
        compressions: bytes(zswpout),
        decompressions: bytes(zswpin),
        pageins: pgpgin.map(|k| k.saturating_mul(1024)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernel text at the edge of u64 (as a fuzzer found it): two zram devices and meminfo
    /// figures whose sums overflow give saturated figures, never a panic.
    #[test]
    fn sums_of_huge_figures_saturate() {
        let max = u64::MAX;
        let huge_kb = max / 1024;
        let meminfo = format!(
            "MemTotal: {huge_kb} kB\nMemFree: {huge_kb} kB\nCached: {huge_kb} kB\n\
             Buffers: {huge_kb} kB\nAnonPages: {huge_kb} kB\nShmem: {huge_kb} kB\n\
             Zswap: {huge_kb} kB\n"
        );
        let zram = |device: &str| ZramRaw {
            device: device.into(),
            mm_stat: format!("1 2 {max} 0 0 0 0 0 0\n"),
        };
        let raw = LinuxRaw {
            meminfo: Some(meminfo),
            vmstat: None,
            pressure_memory: None,
            zram: vec![zram("zram0"), zram("zram1")],
            page_size: 4096,
            read_errors: Vec::new(),
        };
        let s = derive(&raw, chrono::DateTime::UNIX_EPOCH).snapshot;
        assert_eq!(s.memory.compressed, Some(max));
        assert_eq!(s.memory.wired, Some(0));
    }

    fn devices(reader: &mut LinuxReader) -> Vec<String> {
        match reader.read() {
            RawSample::Linux(raw) => raw.zram.into_iter().map(|z| z.device).collect(),
            #[allow(unreachable_patterns)]
            _ => unreachable!(),
        }
    }

    fn add_zram(sys: &Path, name: &str) {
        std::fs::create_dir_all(sys.join("block").join(name)).unwrap();
        std::fs::write(
            sys.join("block").join(name).join("mm_stat"),
            "1 2 4096 0 0 0 0 0 0\n",
        )
        .unwrap();
    }

    #[test]
    fn live_reader_lists_zram_devices_once_a_minute() {
        let dir = std::env::temp_dir().join(format!("hr-zram-{}", std::process::id()));
        let sys = dir.join("sys");
        add_zram(&sys, "zram0");
        let mut live = LinuxReader::with_liveness(dir.join("proc"), sys.clone(), false, true);
        let mut replay = LinuxReader::new(dir.join("proc"), sys.clone());
        assert_eq!(devices(&mut live), ["zram0"]);
        add_zram(&sys, "zram1");
        // A replayed tree is listed at every read; the live one keeps its list for a while...
        assert_eq!(devices(&mut replay), ["zram0", "zram1"]);
        assert_eq!(devices(&mut live), ["zram0"]);
        // ...and sees the new device within ZRAM_RESCAN_EVERY samples.
        let seen = (0..ZRAM_RESCAN_EVERY).position(|_| devices(&mut live).len() == 2);
        assert!(
            seen.is_some(),
            "zram1 not seen after {ZRAM_RESCAN_EVERY} reads"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
