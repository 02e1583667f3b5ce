//! `headroom selftest`: every platform read and action path exercised once on this machine,
//! and Headroom's figures set beside the system's own tools at the same moment.
//!
//! - **Reads**: each sysctl with its value (macOS), the `HOST_VM_INFO64` count accepted and
//!   how many calls it took, the page sizes, the kernel files (Linux), `proc_pid_rusage` (or
//!   `smaps_rollup`) of this process, the MLX process scan with its cost, the runtime
//!   directory and the longest agent socket path, agent discovery, the wired-limit sysctl,
//!   notification permission where readable.
//! - **Comparisons**: one sample is taken before and one after the tool runs, so the tool's
//!   figure is compared with the band the two samples span. The tool is run by the caller
//!   (`vm_stat`, `memory_pressure -Q`, `sysctl vm.swapusage` on macOS; `free -b` and
//!   `/proc/pressure/memory` on Linux) and its output parsed here.
//!
//! Tolerances, stated once ([`BYTES_FLOOR`], [`BYTES_SHARE`], [`PERCENT_POINTS`],
//! [`PSI_POINTS`]):
//! - sizes that move (free, available, wired, compressed, app, cached, swap used): within
//!   max(64 MiB, 2 % of physical memory) of the band the two samples span;
//! - sizes that do not move (physical memory, swap total, page size): equal, except swap
//!   total within 1 MiB because `sysctl vm.swapusage` prints MiB with two decimals;
//! - `memory_pressure`'s free percentage: within 2 points of `kern.memorystatus_level`
//!   (the same counter, read a moment apart);
//! - PSI `some avg10`: within 1 point (a ten-second average read a moment apart).
//!
//! Everything here is pure (parsers and comparisons) except [`footprint_row`],
//! [`scan_row`] and [`runtime_rows`], which read this machine.

use crate::agents::MlxPoll;
use crate::platform::linux::LinuxRaw;
use crate::platform::macos::{MacRaw, PageSizeSource};
use crate::platform::RawSample;
use crate::snapshot::Snapshot;
use crate::units::format_bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const MIB: u64 = 1024 * 1024;
/// The smallest tolerance for sizes that move between two reads: 64 MiB.
pub const BYTES_FLOOR: u64 = 64 * MIB;
/// The tolerance for sizes that move, as a share of physical memory: 2 %.
pub const BYTES_SHARE: f64 = 0.02;
/// `memory_pressure`'s free percentage against `kern.memorystatus_level`: 2 points.
pub const PERCENT_POINTS: f64 = 2.0;
/// PSI `some avg10` against Headroom's reading: 1 point.
pub const PSI_POINTS: f64 = 1.0;
/// `sysctl vm.swapusage` prints MiB with two decimals: 1 MiB covers its rounding.
pub const SWAPUSAGE_ROUNDING: u64 = MIB;

/// How a row came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Read and as expected.
    Ok,
    /// Shown for the record (nothing to check).
    Info,
    /// Could not be read, or out of tolerance.
    Fail,
}

/// One read or action path and what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What was exercised (`hw.memsize`, `HOST_VM_INFO64`, `MLX scan`, …).
    pub name: String,
    /// What it gave, for a person.
    pub value: String,
    /// How it came out.
    pub status: Status,
}

impl Row {
    fn new(name: impl Into<String>, value: impl Into<String>, status: Status) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            status,
        }
    }
}

/// Headroom's figure beside a system tool's, taken at the same moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What is compared (`memory.available`, …).
    pub name: String,
    /// The tool and its field (`free -b: Mem available`).
    pub tool: String,
    /// Headroom's figure: the sample before the tool ran.
    pub headroom_before: f64,
    /// Headroom's figure: the sample after the tool ran.
    pub headroom_after: f64,
    /// The tool's figure.
    pub system: f64,
    /// The tool's figure minus the mean of Headroom's two samples.
    pub difference: f64,
    /// How far the tool's figure lies outside Headroom's band (0 inside it).
    pub outside: f64,
    /// The largest `outside` accepted.
    pub tolerance: f64,
    /// `bytes`, `percent`, `points`.
    pub unit: String,
    /// Whether `outside <= tolerance`.
    pub ok: bool,
}

/// Compares a tool's figure with the band two samples span, within `tolerance`.
pub fn compare(
    name: &str,
    tool: &str,
    unit: &str,
    (before, after): (f64, f64),
    system: f64,
    tolerance: f64,
) -> Comparison {
    let (lo, hi) = (before.min(after), before.max(after));
    let outside = if [before, after, system].iter().any(|v| v.is_nan()) {
        f64::NAN
    } else {
        (lo - system).max(system - hi).max(0.0)
    };
    Comparison {
        name: name.into(),
        tool: tool.into(),
        headroom_before: before,
        headroom_after: after,
        system,
        difference: system - (before + after) / 2.0,
        outside,
        tolerance,
        unit: unit.into(),
        // NaN (a figure missing on either side) is never within tolerance.
        ok: outside <= tolerance,
    }
}

/// The tolerance for sizes that move on a machine with `total` bytes.
pub fn bytes_tolerance(total: Option<u64>) -> f64 {
    let share = total.map_or(0.0, |t| t as f64 * BYTES_SHARE);
    share.max(BYTES_FLOOR as f64)
}

/// Everything `headroom selftest` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelftestReport {
    /// `macos` or `linux`.
    pub platform: String,
    /// Each read or action path.
    pub rows: Vec<Row>,
    /// Headroom beside the system's tools.
    pub comparisons: Vec<Comparison>,
    /// The tolerances used, in words.
    pub tolerances: Vec<String>,
    /// No row failed and every comparison is within tolerance.
    pub ok: bool,
}

impl SelftestReport {
    /// Builds the report and its verdict.
    pub fn new(platform: &str, rows: Vec<Row>, comparisons: Vec<Comparison>) -> Self {
        let ok = rows.iter().all(|r| r.status != Status::Fail) && comparisons.iter().all(|c| c.ok);
        Self {
            platform: platform.into(),
            rows,
            comparisons,
            tolerances: tolerance_text(),
            ok,
        }
    }
}

fn tolerance_text() -> Vec<String> {
    vec![
        format!(
            "sizes that move: within max({}, {:.0} % of physical memory) of the band two \
             samples around the tool span",
            format_bytes(BYTES_FLOOR),
            BYTES_SHARE * 100.0
        ),
        "physical memory, page size: equal; swap total within 1 MiB (vm.swapusage rounds)".into(),
        format!("memory_pressure free percentage: within {PERCENT_POINTS} points"),
        format!("PSI some avg10: within {PSI_POINTS} point"),
    ]
}

// ---------------------------------------------------------------- parsers (pure)

/// `free -b` (procps): the `Mem:` and `Swap:` rows, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreeB {
    /// Mem total.
    pub total: u64,
    /// Mem used.
    pub used: u64,
    /// Mem free.
    pub free: u64,
    /// Mem available (the last column).
    pub available: u64,
    /// Swap total.
    pub swap_total: u64,
    /// Swap used.
    pub swap_used: u64,
}

/// Parses `free -b`; the error names what is missing.
pub fn parse_free_b(text: &str) -> Result<FreeB, String> {
    let row = |label: &str| -> Result<Vec<u64>, String> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .ok_or_else(|| format!("free -b printed no {label:?} row"))?;
        line.split_whitespace()
            .skip(1)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("free -b: {v:?} in the {label:?} row is not a byte count"))
            })
            .collect()
    };
    let mem = row("Mem:")?;
    let swap = row("Swap:")?;
    if mem.len() < 6 || swap.len() < 2 {
        return Err(format!(
            "free -b: expected 6 Mem and 3 Swap columns, got {} and {}",
            mem.len(),
            swap.len()
        ));
    }
    Ok(FreeB {
        total: mem[0],
        used: mem[1],
        free: mem[2],
        available: mem[5],
        swap_total: swap[0],
        swap_used: swap[1],
    })
}

/// `vm_stat`: the page size of its header and every `Name: N.` line, as printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmStat {
    /// "(page size of N bytes)".
    pub page_size: u64,
    /// Each counter by its label (`Pages free`, `File-backed pages`, …).
    pub counters: BTreeMap<String, u64>,
}

impl VmStat {
    /// A counter by label, or an error naming it.
    pub fn get(&self, label: &str) -> Result<u64, String> {
        self.counters
            .get(label)
            .copied()
            .ok_or_else(|| format!("vm_stat printed no {label:?} line"))
    }

    /// A counter in bytes.
    pub fn bytes(&self, label: &str) -> Result<u64, String> {
        Ok(self.get(label)?.saturating_mul(self.page_size))
    }
}

/// Parses `vm_stat` output.
pub fn parse_vm_stat(text: &str) -> Result<VmStat, String> {
    let header = text.lines().next().ok_or("vm_stat printed nothing")?;
    let page_size = header
        .split("page size of ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("vm_stat header {header:?} has no \"page size of N bytes\""))?;
    let counters = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (label, value) = l.rsplit_once(':')?;
            let n = value.trim().trim_end_matches('.').parse().ok()?;
            Some((label.trim().trim_matches('"').to_string(), n))
        })
        .collect();
    Ok(VmStat {
        page_size,
        counters,
    })
}

/// `memory_pressure -Q`: physical memory, page size and the free percentage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPressure {
    /// "The system has N (… pages with a page size of P)".
    pub total: Option<u64>,
    /// The page size of that line.
    pub page_size: Option<u64>,
    /// "System-wide memory free percentage: N%".
    pub free_percent: u32,
}

/// Parses `memory_pressure -Q` (or the last lines of `memory_pressure`).
pub fn parse_memory_pressure(text: &str) -> Result<MemoryPressure, String> {
    let free_percent = text
        .lines()
        .find_map(|l| l.split("System-wide memory free percentage:").nth(1))
        .and_then(|r| r.trim().trim_end_matches('%').parse().ok())
        .ok_or("memory_pressure printed no \"System-wide memory free percentage: N%\" line")?;
    let system = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("The system has "));
    let total = system
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    let page_size = system
        .and_then(|r| r.split("page size of ").nth(1))
        .and_then(|r| {
            r.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        });
    Ok(MemoryPressure {
        total,
        page_size,
        free_percent,
    })
}

/// `sysctl vm.swapusage`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwapUsage {
    /// total.
    pub total: u64,
    /// used.
    pub used: u64,
    /// free.
    pub free: u64,
}

/// Parses `vm.swapusage: total = 4096.00M  used = 2694.19M  free = 1401.81M  (encrypted)`.
pub fn parse_swapusage(text: &str) -> Result<SwapUsage, String> {
    let field = |key: &str| -> Result<u64, String> {
        let v = text
            .split(&format!("{key} = "))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .ok_or_else(|| format!("vm.swapusage has no {key:?}: {:?}", text.trim()))?;
        parse_mebibytes(v).ok_or_else(|| format!("vm.swapusage {key} {v:?} is not a size"))
    };
    Ok(SwapUsage {
        total: field("total")?,
        used: field("used")?,
        free: field("free")?,
    })
}

/// `2694.19M` (sysctl's MiB with two decimals; `K` and `G` as well) in bytes.
fn parse_mebibytes(v: &str) -> Option<u64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let scale = match unit {
        "K" => 1024.0,
        "M" => MIB as f64,
        "G" => (1024 * MIB) as f64,
        _ => return None,
    };
    Some((n * scale).round() as u64)
}

/// `syscr` + `syscw` of `/proc/<pid>/io`: the read and write system calls the process made.
pub fn syscalls_from_proc_io(text: &str) -> Option<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    Some(field("syscr:")? + field("syscw:")?)
}

// ---------------------------------------------------------------- comparisons (pure)

/// Headroom's two samples around the tool.
#[derive(Debug, Clone, Copy)]
pub struct Around<'a> {
    /// Before the tool ran.
    pub before: &'a Snapshot,
    /// After it ran.
    pub after: &'a Snapshot,
}

impl Around<'_> {
    fn bytes(&self, f: impl Fn(&Snapshot) -> Option<u64>) -> Option<(f64, f64)> {
        Some((f(self.before)? as f64, f(self.after)? as f64))
    }

    fn float(&self, f: impl Fn(&Snapshot) -> Option<f64>) -> Option<(f64, f64)> {
        Some((f(self.before)?, f(self.after)?))
    }
}

/// A comparison row, or a failed one when Headroom has no figure.
fn compared(
    name: &str,
    tool: &str,
    unit: &str,
    ours: Option<(f64, f64)>,
    system: f64,
    tolerance: f64,
) -> Comparison {
    match ours {
        Some(band) => compare(name, tool, unit, band, system, tolerance),
        None => Comparison {
            ok: false,
            ..compare(name, tool, unit, (f64::NAN, f64::NAN), system, tolerance)
        },
    }
}

/// Linux: Headroom beside `free -b` and `/proc/pressure/memory` read at the same moment.
pub fn compare_linux(s: Around<'_>, free: &FreeB, psi_text: Option<&str>) -> Vec<Comparison> {
    let tol = bytes_tolerance(s.before.memory.total);
    let f = |v: u64| v as f64;
    let mut out = vec![
        compared(
            "memory.total",
            "free -b: Mem total",
            "bytes",
            s.bytes(|x| x.memory.total),
            f(free.total),
            0.0,
        ),
        compared(
            "memory.available",
            "free -b: Mem available",
            "bytes",
            s.bytes(|x| x.memory.available),
            f(free.available),
            tol,
        ),
        compared(
            "memory.free",
            "free -b: Mem free",
            "bytes",
            s.bytes(|x| x.memory.free),
            f(free.free),
            tol,
        ),
        compared(
            "swap.total",
            "free -b: Swap total",
            "bytes",
            s.bytes(|x| x.swap.total),
            f(free.swap_total),
            0.0,
        ),
        compared(
            "swap.used",
            "free -b: Swap used",
            "bytes",
            s.bytes(|x| x.swap.used),
            f(free.swap_used),
            tol,
        ),
    ];
    if let Some(psi) = psi_text.and_then(crate::platform::linux::parse_psi) {
        out.push(compared(
            "pressure.psi_some_avg10",
            "/proc/pressure/memory: some avg10",
            "points",
            s.float(|x| x.pressure.psi_some_avg10),
            psi.some_avg10,
            PSI_POINTS,
        ));
    }
    out
}

/// What the macOS tools printed (each `None` when it could not run).
#[derive(Debug, Clone, Default)]
pub struct MacTools {
    /// `vm_stat`.
    pub vm_stat: Option<VmStat>,
    /// `memory_pressure -Q`.
    pub memory_pressure: Option<MemoryPressure>,
    /// `sysctl vm.swapusage`.
    pub swapusage: Option<SwapUsage>,
}

/// macOS: Headroom beside `vm_stat`, `memory_pressure -Q` and `sysctl vm.swapusage`.
/// `page_size` is the one Headroom multiplied by.
pub fn compare_macos(s: Around<'_>, page_size: u64, tools: &MacTools) -> Vec<Comparison> {
    let tol = bytes_tolerance(s.before.memory.total);
    let mut out = Vec::new();
    if let Some(vm) = &tools.vm_stat {
        out.extend(compare_vm_stat(s, page_size, vm, tol));
    }
    if let Some(mp) = &tools.memory_pressure {
        out.push(compared(
            "pressure.free_percent",
            "memory_pressure -Q: free percentage",
            "percent",
            s.float(|x| x.pressure.free_percent),
            f64::from(mp.free_percent),
            PERCENT_POINTS,
        ));
        if let Some(total) = mp.total {
            out.push(compared(
                "memory.total",
                "memory_pressure -Q: the system has",
                "bytes",
                s.bytes(|x| x.memory.total),
                total as f64,
                0.0,
            ));
        }
    }
    if let Some(sw) = &tools.swapusage {
        out.push(compared(
            "swap.total",
            "sysctl vm.swapusage: total",
            "bytes",
            s.bytes(|x| x.swap.total),
            sw.total as f64,
            SWAPUSAGE_ROUNDING as f64,
        ));
        out.push(compared(
            "swap.used",
            "sysctl vm.swapusage: used",
            "bytes",
            s.bytes(|x| x.swap.used),
            sw.used as f64,
            tol,
        ));
    }
    out
}

/// A figure, the `vm_stat` lines it comes from, their value, and Headroom's figure.
type VmStatRow<'a> = (
    &'a str,
    &'a str,
    Result<f64, String>,
    fn(&Snapshot) -> Option<u64>,
);

/// `vm_stat`'s counters turned into Headroom's figures by the documented formulas
/// (`docs/FORMULAS.md`): a missing line fails its row.
fn compare_vm_stat(s: Around<'_>, page_size: u64, vm: &VmStat, tol: f64) -> Vec<Comparison> {
    let p = page_size as f64;
    let mut out = vec![compare(
        "page size",
        "vm_stat: page size of N bytes",
        "bytes",
        (p, p),
        vm.page_size as f64,
        0.0,
    )];
    let pages = |label: &str| vm.get(label).map(|n| n as f64 * vm.page_size as f64);
    let app = (|| Ok::<f64, String>(pages("Anonymous pages")? - pages("Pages purgeable")?))();
    let cached = (|| Ok::<f64, String>(pages("File-backed pages")? + pages("Pages purgeable")?))();
    let rows: [VmStatRow; 5] = [
        (
            "memory.free",
            "vm_stat: Pages free",
            pages("Pages free"),
            |x| x.memory.free,
        ),
        (
            "memory.wired",
            "vm_stat: Pages wired down",
            pages("Pages wired down"),
            |x| x.memory.wired,
        ),
        (
            "memory.compressed",
            "vm_stat: Pages occupied by compressor",
            pages("Pages occupied by compressor"),
            |x| x.memory.compressed,
        ),
        (
            "memory.app",
            "vm_stat: Anonymous pages - Pages purgeable",
            app,
            |x| x.memory.app,
        ),
        (
            "memory.cached",
            "vm_stat: File-backed pages + Pages purgeable",
            cached,
            |x| x.memory.cached,
        ),
    ];
    for (name, tool, system, ours) in rows {
        match system {
            Ok(v) => out.push(compared(name, tool, "bytes", s.bytes(ours), v, tol)),
            Err(e) => out.push(Comparison {
                tool: format!("{tool} ({e})"),
                ok: false,
                ..compare(name, tool, "bytes", (0.0, 0.0), f64::NAN, tol)
            }),
        }
    }
    out
}

// ---------------------------------------------------------------- rows

/// The reads of one raw sample, one row each.
pub fn raw_rows(raw: &RawSample) -> Vec<Row> {
    match raw {
        RawSample::Macos(m) => mac_rows(m),
        RawSample::Linux(l) => linux_rows(l),
    }
}

fn opt_row<T>(name: &str, v: Option<T>, show: impl Fn(T) -> String) -> Row {
    match v {
        Some(v) => Row::new(name, show(v), Status::Ok),
        None => Row::new(
            name,
            "could not be read (see the errors below)",
            Status::Fail,
        ),
    }
}

fn mac_rows(m: &MacRaw) -> Vec<Row> {
    let mut rows = vec![
        opt_row("HOST_VM_INFO64", m.vm_count, |c| {
            format!(
                "count {c} accepted after {} call(s)",
                m.vm_calls.map_or("?".to_string(), |n| n.to_string())
            )
        }),
        Row::new(
            "page size",
            format!(
                "{} bytes from {}; hw.pagesize (this process's map) {}",
                m.page_size,
                m.page_size_source.map_or("nowhere", page_size_source_name),
                m.hw_pagesize.map_or("unreadable".into(), |v| v.to_string())
            ),
            // Multiplying by the fallback or by hw.pagesize can be 4x wrong: not a pass.
            match m.page_size_source {
                Some(PageSizeSource::HostPageSize | PageSizeSource::VmKernelPageSize) => Status::Ok,
                _ => Status::Fail,
            },
        ),
        opt_row("hw.memsize", m.memsize, |v| {
            format!("{v} ({})", format_bytes(v))
        }),
        opt_row("vm.swapusage", m.swap.as_ref(), |s| {
            format!(
                "total {} used {} encrypted {}",
                format_bytes(s.total),
                format_bytes(s.used),
                s.encrypted
            )
        }),
        opt_row(
            "kern.memorystatus_vm_pressure_level",
            m.pressure_level,
            |v| v.to_string(),
        ),
        opt_row("kern.memorystatus_level", m.memorystatus_level, |v| {
            format!("{v} %")
        }),
        opt_row(
            "kern.osproductversion",
            m.os_version.as_deref(),
            str::to_string,
        ),
        opt_row(
            "machdep.cpu.brand_string",
            m.chip.as_deref(),
            str::to_string,
        ),
    ];
    rows.push(match (m.wired_limit_mb, m.debug_wired_limit) {
        (Some(mb), _) => Row::new("iogpu.wired_limit_mb", format!("{mb} MB"), Status::Ok),
        (None, Some(b)) => Row::new(
            "debug.iogpu.wired_limit",
            format!("{b} bytes (macOS 13)"),
            Status::Ok,
        ),
        (None, None) => Row::new(
            "wired-limit sysctl",
            "none found (Intel Mac?)",
            Status::Info,
        ),
    });
    rows.extend(errors(&m.read_errors));
    rows
}

fn page_size_source_name(s: PageSizeSource) -> &'static str {
    match s {
        PageSizeSource::HostPageSize => "host_page_size()",
        PageSizeSource::VmKernelPageSize => "vm_kernel_page_size",
        PageSizeSource::HwPagesize => "hw.pagesize",
        PageSizeSource::Fallback => "the architecture's default",
    }
}

fn linux_rows(l: &LinuxRaw) -> Vec<Row> {
    let file = |name: &str, text: &Option<String>| {
        opt_row(name, text.as_ref(), |t| {
            format!("{} bytes, {} lines", t.len(), t.lines().count())
        })
    };
    let mut rows = vec![
        Row::new(
            "page size",
            format!("{} bytes (sysconf)", l.page_size),
            Status::Ok,
        ),
        file("/proc/meminfo", &l.meminfo),
        file("/proc/vmstat", &l.vmstat),
        file("/proc/pressure/memory", &l.pressure_memory),
        Row::new("zram devices", l.zram.len().to_string(), Status::Info),
    ];
    rows.extend(errors(&l.read_errors));
    rows
}

fn errors(errs: &[String]) -> Vec<Row> {
    errs.iter()
        .map(|e| Row::new("read error", e.clone(), Status::Fail))
        .collect()
}

/// The footprint of this process (`proc_pid_rusage` on macOS, `smaps_rollup` on Linux).
pub fn footprint_row() -> Row {
    let name = if cfg!(target_os = "macos") {
        "proc_pid_rusage (self)"
    } else {
        "smaps_rollup (self)"
    };
    opt_row(
        name,
        crate::agents::scan::footprint(std::process::id()),
        format_bytes,
    )
}

/// The MLX process scan, its cost in ms and (Linux) in read/write system calls.
pub fn scan_row() -> Row {
    let io = || {
        std::fs::read_to_string("/proc/self/io")
            .ok()
            .and_then(|t| syscalls_from_proc_io(&t))
    };
    let calls_before = io();
    let started = std::time::Instant::now();
    let found = crate::agents::scan::scan();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let calls = match (calls_before, io()) {
        (Some(a), Some(b)) => format!("{} read/write system calls", b.saturating_sub(a)),
        _ => "system calls not countable here".into(),
    };
    Row::new(
        "MLX scan",
        format!("{} MLX process(es) in {ms:.1} ms, {calls}", found.len()),
        Status::Ok,
    )
}

/// The longest `sun_path` the platform allows, bytes with the final NUL (macOS
/// `sys/un.h`: 104; Linux `unix(7)`: 108).
pub const SUN_PATH_MAX: usize = if cfg!(target_os = "macos") { 104 } else { 108 };

/// The runtime directory and the longest agent socket path in it (pid up to 7 digits).
pub fn runtime_rows(dir: &Path) -> Vec<Row> {
    let longest = dir.join("agent-9999999.sock");
    let len = longest.as_os_str().len() + 1;
    vec![
        Row::new("runtime directory", dir.display().to_string(), Status::Ok),
        Row::new(
            "agent socket path",
            format!(
                "{len} of {SUN_PATH_MAX} bytes at most ({})",
                longest.display()
            ),
            if len <= SUN_PATH_MAX {
                Status::Ok
            } else {
                Status::Fail
            },
        ),
    ]
}

/// What agent discovery found.
pub fn discovery_row(poll: Result<&MlxPoll, &str>) -> Row {
    match poll {
        Ok(p) => {
            let attached = p.processes.iter().filter(|m| m.attached).count();
            let mut value = format!(
                "{attached} agent(s) attached, {} MLX process(es) without one",
                p.processes.len() - attached
            );
            for problem in &p.problems {
                value += &format!("; {problem}");
            }
            Row::new("agent discovery", value, Status::Ok)
        }
        Err(e) => Row::new("agent discovery", e, Status::Fail),
    }
}

/// The wired-limit sysctl found, from a snapshot.
pub fn wired_row(s: &Snapshot) -> Row {
    match (&s.gpu.wired_limit_sysctl, s.gpu.wired_limit) {
        (Some(name), Some(v)) => Row::new(
            "wired-limit sysctl",
            format!("{name} = {}", format_bytes(v)),
            Status::Ok,
        ),
        _ => Row::new("wired-limit sysctl", "none on this machine", Status::Info),
    }
}

/// Notification permission: the app bundle owns it, so a command-line process cannot read it.
pub fn notification_row() -> Row {
    Row::new(
        "notification permission",
        "not readable from the command line (it belongs to the Headroom app's bundle)",
        Status::Info,
    )
}

/// The report as a table for a terminal.
pub fn render(r: &SelftestReport) -> String {
    let mut out = format!("headroom selftest ({})\n\n", r.platform);
    for row in &r.rows {
        out += &format!(
            "{:<5} {:<38} {}\n",
            status_word(row.status),
            row.name,
            row.value
        );
    }
    out += "\nHeadroom beside the system's own tools (before / after the tool ran):\n";
    for c in &r.comparisons {
        out += &format!(
            "{:<5} {:<24} {:<46} {} / {}  vs {}  diff {} (outside the band by {}, tolerance {})\n",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.tool,
            shown(c.headroom_before, &c.unit),
            shown(c.headroom_after, &c.unit),
            shown(c.system, &c.unit),
            shown(c.difference, &c.unit),
            shown(c.outside, &c.unit),
            shown(c.tolerance, &c.unit),
        );
    }
    out += "\nTolerances:\n";
    for t in &r.tolerances {
        out += &format!("  - {t}\n");
    }
    out += if r.ok {
        "\nselftest passed\n"
    } else {
        "\nselftest FAILED: see the FAIL lines above\n"
    };
    out
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Info => "info",
        Status::Fail => "FAIL",
    }
}

fn shown(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "unknown".into();
    }
    match unit {
        "bytes" if v.abs() >= MIB as f64 => {
            let sign = if v < 0.0 { "-" } else { "" };
            format!("{sign}{}", format_bytes(v.abs() as u64))
        }
        "bytes" => format!("{v:.0} B"),
        _ => format!("{v:.2}"),
    }
}

// ---------------------------------------------------------------- running it here

/// Runs a system tool by absolute path (no shell) and returns its standard output.
pub fn tool_output(argv: &[&str]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty argv")?;
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{} could not run: {e}", argv.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{} exited with {}: {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tool's output parsed, or a failed row saying why.
fn parsed<T>(
    rows: &mut Vec<Row>,
    name: &str,
    got: Result<String, String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    match got.and_then(|t| parse(&t)) {
        Ok(v) => {
            rows.push(Row::new(name, "ran and parsed", Status::Ok));
            Some(v)
        }
        Err(e) => {
            rows.push(Row::new(name, e, Status::Fail));
            None
        }
    }
}

/// Runs the selftest on this machine. `poll_agents` polls the MLX agents once (the caller
/// owns the async runtime).
pub fn run_here(poll_agents: impl FnOnce() -> Result<MlxPoll, String>) -> SelftestReport {
    let mut sampler = crate::Sampler::new();
    let timed = sampler.read_raw();
    let mut rows = raw_rows(&timed.raw);
    let before = sampler.derive_timed(&timed);
    let (platform, comparisons) = match &timed.raw {
        RawSample::Linux(_) => {
            let free = parsed(
                &mut rows,
                "free -b",
                tool_output(&["free", "-b"]),
                parse_free_b,
            );
            let psi = std::fs::read_to_string("/proc/pressure/memory").ok();
            let after = sampler.sample();
            let around = Around {
                before: &before,
                after: &after,
            };
            let cmp = free.map_or_else(Vec::new, |f| compare_linux(around, &f, psi.as_deref()));
            ("linux", cmp)
        }
        RawSample::Macos(m) => {
            let tools = MacTools {
                vm_stat: parsed(
                    &mut rows,
                    "vm_stat",
                    tool_output(&["/usr/bin/vm_stat"]),
                    parse_vm_stat,
                ),
                memory_pressure: parsed(
                    &mut rows,
                    "memory_pressure -Q",
                    tool_output(&["/usr/bin/memory_pressure", "-Q"]),
                    parse_memory_pressure,
                ),
                swapusage: parsed(
                    &mut rows,
                    "sysctl vm.swapusage",
                    tool_output(&["/usr/sbin/sysctl", "vm.swapusage"]),
                    parse_swapusage,
                ),
            };
            let after = sampler.sample();
            let around = Around {
                before: &before,
                after: &after,
            };
            ("macos", compare_macos(around, m.page_size, &tools))
        }
    };
    rows.push(footprint_row());
    rows.push(scan_row());
    rows.extend(runtime_rows(&crate::agents::runtime_dir()));
    rows.push(discovery_row(
        poll_agents().as_ref().map_err(String::as_str),
    ));
    rows.push(wired_row(&before));
    rows.push(notification_row());
    SelftestReport::new(platform, rows, comparisons)
}
