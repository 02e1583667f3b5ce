//! `headroom doctor`: a diagnostic order (pressure, swap, compression, MLX caches, wired
//! limits, other apps) as checks with evidence.
//!
//! Each check reads a [`Snapshot`] (with its MLX processes) and a [`DoctorContext`] (history
//! trend, other apps, agents' command lines) and gives at most a few [`Finding`]s, each with
//! its severity, the numbers behind it and the one action that fixes it. Pure: the app's menu
//! calls [`diagnose`] for its top finding; tests replay recorded snapshots.
//!
//! Thresholds, and where they come from:
//! - pressure: the kernel's level (macOS) or the PSI/available level (Linux), warn and above;
//! - swapping: more than [`SWAPOUT_RATE`] written to swap per second (users of 70B models
//!   report generation dropping to 1-3 tokens/s once macOS swaps);
//! - compressed: above [`COMPRESSED_HIGH`] (users report compressed
//!   memory climbing past 5 GB when MLX's wired memory is not capped; healthy is under 2 GB), or growing by more than
//!   [`COMPRESSED_GROWTH_PER_HOUR`] while above [`COMPRESSED_HEALTHY`];
//! - MLX cache: above [`MLX_CACHE_TARGET`] (512 MB keeps inference fast while the cache
//!   does not grow unbounded);
//! - wired limit: an attached process's peak within 10 % of the recommended working set
//!   (macOS's default GPU wired limit is conservative: about 65-75 % of memory); raising the
//!   system limit helps only after the process restarts (MLX reads its ceiling once per
//!   process, `mlx/backend/metal/device_info.cpp`);
//! - wired limit changed: a running MLX process still uses the ceiling it read under an
//!   earlier `iogpu.wired_limit_mb` ("restart to use the new limit"); on macOS 13 (only
//!   `debug.iogpu.wired_limit`), changing the limit needs macOS 14;
//! - other apps: an app holding at least [`APP_HEAVY`] (browsers commonly hold 2-4 GB,
//!   Slack / Discord / VS Code 1-2 GB each) while memory is tight;
//! - mlx_lm.server: its wired limit is above 0 (it sets it to the recommended working set at
//!   start and never restores it: `mlx_lm/server.py` calls `maybe_set_recommended_wired_limit()`
//!   at start and discards the previous limit; `mlx_lm/utils.py` sets it with
//!   `mx.set_wired_limit(max_recommended_working_set_size)`).
//! - outside MLX: an attached process whose footprint exceeds what MLX counts (active + cache)
//!   by at least [`OUTSIDE_MLX_LARGE`] and by more than MLX counts, and which grew (when two
//!   readings are known): Metal buffers and libraries the allocator does not see
//!   (ml-explore/mlx #3896: footprint 110 GB against a 46 GB MLX peak);
//! - MLX without the agent: a process that loaded MLX but has no agent, so its cache can be
//!   neither seen nor cleared (info: `headroom agent enable --pid N`, then a restart).
//! - policy refused: a policy's limit was refused or failed in a running process (MLX refuses
//!   a wired limit above the recommended working set, which each process reads once at
//!   start);
//! - restart drift: a process's memory at rest rose every day recorded ([`restart::drift`]);
//!   the fix is a nightly restart by the process's own supervisor (Headroom never restarts
//!   or kills a process), with the exact lines ([`restart::supervisor_lines`]).

use crate::events::{Event, EventKind};
use crate::policies::tracker::LimitSource;
use crate::restart::{self, ProcessPoint};
use crate::snapshot::{MlxProcess, PressureLevel, Snapshot};
use crate::top::TopRow;
use crate::units::{format_bytes, format_rate};
use crate::wired;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use ts_rs::TS;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Swap-out rate above which the machine is swapping now, bytes/s.
pub const SWAPOUT_RATE: f64 = 1024.0 * 1024.0;
/// Compressed memory above which it is a finding (users report it climbing past 5 GB when
/// MLX's wired memory is not capped).
pub const COMPRESSED_HIGH: u64 = 5 * GIB;
/// Compressed memory of a healthy steady state.
pub const COMPRESSED_HEALTHY: u64 = 2 * GIB;
/// Growth of compressed memory per hour that is a finding above the healthy level.
pub const COMPRESSED_GROWTH_PER_HOUR: f64 = 1024.0 * 1024.0 * 1024.0;
/// The MLX cache target: 512 MB keeps inference fast.
pub const MLX_CACHE_TARGET: u64 = 512 * MIB;
/// An app this large is worth closing (browsers commonly hold 2-4 GB, chat apps 1-2 GB).
pub const APP_HEAVY: u64 = GIB;
/// Memory outside MLX's counters worth a finding, when it also exceeds what MLX counts.
pub const OUTSIDE_MLX_LARGE: u64 = 2 * GIB;
/// Available share under which memory is tight (15 % free, where a watchdog should act).
pub const TIGHT_AVAILABLE_PERCENT: f64 = 15.0;

/// How bad a finding is: the journal's severity (info, warning, critical).
pub use crate::events::Severity;

/// One number behind a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Evidence {
    /// What it is: `swapout_rate`, `cache`, …
    pub name: String,
    /// The value in `unit`.
    pub value: f64,
    /// `bytes`, `bytes/s`, `bytes/h`, `%`, `level` or `pid`.
    pub unit: String,
    /// The value for a person.
    pub shown: String,
}

fn bytes(name: &str, v: u64) -> Evidence {
    Evidence {
        name: name.into(),
        value: v as f64,
        unit: "bytes".into(),
        shown: format_bytes(v),
    }
}

fn number(name: &str, v: f64, unit: &str, shown: String) -> Evidence {
    Evidence {
        name: name.into(),
        value: v,
        unit: unit.into(),
        shown,
    }
}

/// A problem found, with the numbers behind it and the one action that fixes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Finding {
    /// Stable id: `pressure`, `swapping`, `compressed`, `mlx_cache_high`, `wired_limit_low`,
    /// `wired_limit_restart`, `wired_limit_macos13`, `other_apps`, `mlx_server_wired`,
    /// `outside_mlx_high`, `mlx_without_agent`.
    pub id: String,
    /// How bad.
    pub severity: Severity,
    /// One line for a person.
    pub title: String,
    /// The numbers behind it.
    pub evidence: Vec<Evidence>,
    /// The one action that fixes it, in words.
    pub action: String,
    /// The Headroom command that does it, when there is one.
    pub command: Option<String>,
    /// The MLX process concerned, if any.
    pub pid: Option<u32>,
    /// Exact lines to use when the fix is outside Headroom (e.g. a supervisor's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
}

/// How compressed memory moved over a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Trend {
    /// Compressed bytes at the start.
    #[ts(type = "number")]
    pub first: u64,
    /// Compressed bytes at the end.
    #[ts(type = "number")]
    pub last: u64,
    /// Seconds between them.
    pub secs: f64,
    /// `history` or `two samples`.
    pub source: String,
}

impl Trend {
    /// Growth in bytes per hour (negative when shrinking).
    pub fn per_hour(&self) -> f64 {
        if self.secs <= 0.0 {
            return 0.0;
        }
        (self.last as f64 - self.first as f64) / self.secs * 3600.0
    }
}

/// What the doctor knows besides the snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoctorContext {
    /// Compressed memory trend (history, else two samples).
    pub compressed_trend: Option<Trend>,
    /// Processes by footprint, grouped by app ([`crate::top::group`]); `None`: not read.
    pub top: Option<Vec<TopRow>>,
    /// Command lines of attached MLX processes (from their agents' `stats`), by pid.
    pub cmdlines: HashMap<u32, Vec<String>>,
    /// An earlier reading of memory outside MLX, by pid: (bytes, seconds before the snapshot).
    /// Empty: growth is unknown, and the finding says so.
    pub outside_mlx_before: HashMap<u32, (u64, f64)>,
    /// Each MLX process's recorded readings (history), by pid, oldest first.
    pub process_history: HashMap<u32, Vec<ProcessPoint>>,
    /// Policy limits refused or failed, from the journal (when the snapshot carries no
    /// policy state: the CLI reads the journal of the running engine).
    pub policy_refusals: Vec<PolicyRefusal>,
}

/// A policy limit a process refused (or that failed), as the journal recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRefusal {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Policy id.
    pub policy: String,
    /// `cache`, `memory` or `wired`.
    pub limit: String,
    /// The value asked for, bytes.
    pub wanted: u64,
    /// Why (the agent's message).
    pub error: String,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Check {
    /// The check: the finding id it can give.
    pub id: String,
    /// `ok`, `finding` or `skipped`.
    pub status: String,
    /// Why it was skipped, or what was fine.
    pub detail: String,
}

/// The doctor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DoctorReport {
    /// `healthy`, `findings` or `unknown` (nothing could be checked).
    pub status: String,
    /// Findings, in the diagnostic order.
    pub findings: Vec<Finding>,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// 0 healthy, 1 findings, 2 could not check.
    pub fn exit_code(&self) -> u8 {
        match self.status.as_str() {
            "healthy" => 0,
            "findings" => 1,
            _ => 2,
        }
    }
}

type CheckFn = fn(&Snapshot, &DoctorContext) -> Result<Vec<Finding>, String>;

/// The checks in diagnostic order.
const CHECKS: [(&str, CheckFn); 12] = [
    ("pressure", check_pressure),
    ("swapping", check_swapping),
    ("compressed", check_compressed),
    ("mlx_cache_high", check_mlx_cache),
    ("wired_limit_low", check_wired_limit),
    ("wired_limit_restart", check_wired_restart),
    ("other_apps", check_other_apps),
    ("mlx_server_wired", check_mlx_server),
    ("outside_mlx_high", check_outside_mlx),
    ("mlx_without_agent", check_agentless),
    ("policy_refused", check_policy_refused),
    ("restart_drift", check_restart_drift),
];

/// Every finding, in the diagnostic order (most urgent first within a check).
pub fn diagnose(s: &Snapshot, ctx: &DoctorContext) -> Vec<Finding> {
    report(s, ctx).findings
}

/// The most severe finding (first in diagnostic order among equals): the app's menu line.
pub fn top_finding(s: &Snapshot, ctx: &DoctorContext) -> Option<Finding> {
    let f = diagnose(s, ctx);
    let worst = f.iter().map(|x| x.severity).max()?;
    f.into_iter().find(|x| x.severity == worst)
}

/// Runs every check.
pub fn report(s: &Snapshot, ctx: &DoctorContext) -> DoctorReport {
    let mut findings = Vec::new();
    let mut checks = Vec::new();
    for (id, check) in CHECKS {
        let (status, detail) = match check(s, ctx) {
            Ok(f) if f.is_empty() => ("ok", String::new()),
            Ok(f) => {
                let n = f.len();
                findings.extend(f);
                ("finding", format!("{n} finding(s)"))
            }
            Err(why) => ("skipped", why),
        };
        checks.push(Check {
            id: id.into(),
            status: status.into(),
            detail,
        });
    }
    let nothing_known = s.memory.total.is_none() && s.pressure.level.is_none();
    let status = if nothing_known {
        "unknown"
    } else if findings.is_empty() {
        "healthy"
    } else {
        "findings"
    };
    DoctorReport {
        status: status.into(),
        findings,
        checks,
    }
}

fn check_pressure(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    let level = s
        .pressure
        .level
        .ok_or("the pressure level is unavailable")?;
    let severity = match level {
        PressureLevel::Normal => return Ok(Vec::new()),
        PressureLevel::Warn => Severity::Warning,
        PressureLevel::Critical => Severity::Critical,
    };
    let mut evidence = vec![number(
        "pressure_level",
        f64::from(level.as_number()),
        "level",
        level.word().into(),
    )];
    if let Some(p) = s.pressure.free_percent {
        evidence.push(number("free_percent", p, "%", format!("{p:.0}%")));
    }
    if let Some(a) = s.memory.available {
        evidence.push(bytes("available", a));
    }
    Ok(vec![Finding {
        id: "pressure".into(),
        severity,
        title: match level {
            PressureLevel::Critical => "Memory pressure is critical".into(),
            _ => "Memory pressure is elevated (warning)".into(),
        },
        evidence,
        action: "free memory: clear MLX caches, then close the largest apps `headroom top` lists"
            .into(),
        command: Some("headroom top".into()),
        pid: None,
        detail: None,
    }])
}

fn check_swapping(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    let out = s
        .rates
        .swapouts
        .ok_or("the swap-out rate needs two samples")?;
    if out <= SWAPOUT_RATE {
        return Ok(Vec::new());
    }
    let mut evidence = vec![number("swapout_rate", out, "bytes/s", format_rate(out))];
    if let Some(i) = s.rates.swapins {
        evidence.push(number("swapin_rate", i, "bytes/s", format_rate(i)));
    }
    if let Some(u) = s.swap.used {
        evidence.push(bytes("swap_used", u));
    }
    let severity = if out > 64.0 * SWAPOUT_RATE {
        Severity::Critical
    } else {
        Severity::Warning
    };
    Ok(vec![Finding {
        id: "swapping".into(),
        severity,
        title: format!("The system is swapping out {}", format_rate(out)),
        evidence,
        action: "close non-AI apps before inference (swapping drops generation to 1-3 \
                 tokens/s); `headroom top` lists the largest"
            .into(),
        command: Some("headroom top".into()),
        pid: None,
        detail: None,
    }])
}

fn check_compressed(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    let c = s
        .memory
        .compressed
        .ok_or("compressed memory is unavailable")?;
    let growth = ctx.compressed_trend.as_ref().map(Trend::per_hour);
    let growing = growth.is_some_and(|g| g > COMPRESSED_GROWTH_PER_HOUR) && c > COMPRESSED_HEALTHY;
    if c <= COMPRESSED_HIGH && !growing {
        return Ok(Vec::new());
    }
    let mut evidence = vec![bytes("compressed", c)];
    if let (Some(g), Some(t)) = (growth, &ctx.compressed_trend) {
        let shown = format!(
            "{}{}/h over {:.0} s ({})",
            if g < 0.0 { "-" } else { "+" },
            format_bytes(g.abs() as u64),
            t.secs,
            t.source
        );
        evidence.push(number("compressed_growth", g, "bytes/h", shown));
    }
    let cap = wired_cap(s);
    Ok(vec![Finding {
        id: "compressed".into(),
        severity: Severity::Warning,
        title: if growing {
            format!("Compressed memory is {} and growing", format_bytes(c))
        } else {
            format!(
                "Compressed memory is {} (healthy: under 2 GB)",
                format_bytes(c)
            )
        },
        evidence,
        action: format!(
            "cap how much MLX keeps wired so macOS stops compressing everything else (about \
             70 % of memory): set the MLX wired limit to {}",
            format_bytes(cap)
        ),
        command: Some(format!("headroom limit wired {}MiB", cap / MIB)),
        pid: None,
        detail: None,
    }])
}

/// ~70 % of memory (SleepyQuant's "MLX Memory Safety Checklist", layer 1), never above the
/// recommended working set.
fn wired_cap(s: &Snapshot) -> u64 {
    let total = s.memory.total.unwrap_or(0);
    let seventy = (total as f64 * 0.7) as u64 / GIB * GIB;
    match s.gpu.recommended_working_set {
        Some(ws) => seventy.min(ws / MIB * MIB),
        None => seventy,
    }
}

fn attached(s: &Snapshot) -> impl Iterator<Item = &MlxProcess> {
    s.mlx.iter().filter(|p| p.attached)
}

fn check_mlx_cache(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    if attached(s).next().is_none() {
        return Err("no MLX process has the agent".into());
    }
    Ok(attached(s)
        .filter_map(|p| {
            let cache = p.cache.filter(|&c| c > MLX_CACHE_TARGET)?;
            let mut evidence = vec![
                number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
                bytes("cache", cache),
            ];
            if let Some(l) = p.cache_limit {
                evidence.push(bytes("cache_limit", l));
            }
            Some(Finding {
                id: "mlx_cache_high".into(),
                severity: Severity::Warning,
                title: format!(
                    "{} ({}) holds {} of MLX cache (target: 512 MB)",
                    p.name,
                    p.pid,
                    format_bytes(cache)
                ),
                evidence,
                action: "clear its MLX cache (512 MB keeps inference fast)".into(),
                command: Some(format!("headroom clear-cache --pid {}", p.pid)),
                pid: Some(p.pid),
                detail: None,
            })
        })
        .collect())
}

fn check_outside_mlx(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    if !attached(s).any(|p| p.outside_mlx.is_some()) {
        return Err("no attached MLX process with a known footprint".into());
    }
    Ok(attached(s)
        .filter_map(|p| {
            let outside = p.outside_mlx?;
            let counted = p.active.unwrap_or(0).saturating_add(p.cache.unwrap_or(0));
            if outside < OUTSIDE_MLX_LARGE || outside <= counted {
                return None;
            }
            let mut evidence = vec![
                number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
                bytes("outside_mlx", outside),
                bytes("counted_by_mlx", counted),
            ];
            let growth = match ctx.outside_mlx_before.get(&p.pid) {
                Some(&(before, secs)) if secs > 0.0 => {
                    let per_hour = (outside as f64 - before as f64) / secs * 3600.0;
                    if per_hour <= 0.0 {
                        return None;
                    }
                    evidence.push(number(
                        "outside_mlx_growth",
                        per_hour,
                        "bytes/h",
                        format!("{}/h", format_bytes(per_hour as u64)),
                    ));
                    format!("and growing ({}/h)", format_bytes(per_hour as u64))
                }
                _ => "(growth not measured)".to_string(),
            };
            Some(Finding {
                id: "outside_mlx_high".into(),
                severity: Severity::Warning,
                title: format!(
                    "{} ({}) holds {} outside MLX's counters {growth}, more than MLX itself counts ({})",
                    p.name,
                    p.pid,
                    format_bytes(outside),
                    format_bytes(counted)
                ),
                evidence,
                action: "memory MLX's allocator does not see (Metal buffers, libraries) cannot be cleared from outside: restart the program when it is idle".into(),
                command: None,
                pid: Some(p.pid),
                detail: None,
            })
        })
        .collect())
}

fn check_agentless(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    if s.mlx.is_empty() {
        return Err("no MLX process running".into());
    }
    Ok(s.mlx
        .iter()
        .filter(|p| !p.attached)
        .map(|p| Finding {
            id: "mlx_without_agent".into(),
            severity: Severity::Info,
            title: format!(
                "{} ({}) runs MLX without the agent: its cache can be neither seen nor cleared",
                p.name, p.pid
            ),
            evidence: vec![number("pid", f64::from(p.pid), "pid", p.pid.to_string())],
            action: "enable the agent for its Python (every MLX program of that environment gets it, however it is started), then restart it".into(),
            command: Some(format!("headroom agent enable --pid {}", p.pid)),
            pid: Some(p.pid),
            detail: None,
        })
        .collect())
}

fn check_wired_limit(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    let any_ws = s
        .gpu
        .recommended_working_set
        .ok_or("no MLX agent on Metal reports the recommended working set")?;
    let mut out = Vec::new();
    for p in attached(s) {
        // Each process is bound by the ceiling it read at its start.
        let ws = p.working_set.unwrap_or(any_ws);
        let need = p.peak.unwrap_or(0).max(p.active.unwrap_or(0));
        if (need as f64) < ws as f64 * 0.9 {
            continue;
        }
        let want_mb = ((need as f64 * 1.1) as u64).div_ceil(GIB) * 1024;
        let suggested = s
            .memory
            .total
            .map_or(0, |t| wired::suggest(t, Some(ws), false).mb);
        let mut mb = want_mb.max(suggested);
        if let Some(t) = s.memory.total {
            mb = mb.min(wired::max_mb(t));
        }
        let mut evidence = vec![
            number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
            bytes("peak", need),
            bytes("recommended_working_set", ws),
        ];
        if let Some(w) = s.gpu.wired_limit {
            evidence.push(bytes("iogpu_wired_limit", w));
        }
        out.push(Finding {
            id: "wired_limit_low".into(),
            severity: if need > ws {
                Severity::Critical
            } else {
                Severity::Warning
            },
            title: format!(
                "{} ({}) peaks at {}, {} the GPU wired limit of {}",
                p.name,
                p.pid,
                format_bytes(need),
                if need > ws { "above" } else { "close to" },
                format_bytes(ws)
            ),
            evidence,
            action: format!(
                "raise the system wired limit to {mb} MB (the macOS default is \
                 conservative), then restart {} to use the new limit: MLX reads it once when \
                 a process starts; it resets at reboot",
                p.name
            ),
            command: Some(format!("headroom wired-limit set {mb}")),
            pid: Some(p.pid),
            detail: None,
        });
    }
    Ok(out)
}

/// Running MLX processes that keep a ceiling read under an earlier system limit, and macOS 13,
/// where Headroom shows but does not change the limit.
fn check_wired_restart(s: &Snapshot, _: &DoctorContext) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    if s.gpu.wired_limit_sysctl.as_deref() == Some(wired::MACOS13_SYSCTL_NAME) {
        out.push(Finding {
            id: "wired_limit_macos13".into(),
            severity: Severity::Info,
            title: "the GPU wired limit can be shown but not changed on macOS 13".into(),
            evidence: s
                .gpu
                .wired_limit
                .map(|w| vec![bytes("debug_iogpu_wired_limit", w)])
                .unwrap_or_default(),
            action: format!("{}; update macOS to change it", wired::NEEDS_MACOS_14),
            command: None,
            pid: None,
            detail: None,
        });
    }
    let limit = s
        .gpu
        .wired_limit
        .ok_or("no GPU wired limit on this machine")?;
    out.extend(
        attached(s)
            .filter(|p| p.restart_for_wired_limit)
            .map(|p| restart_finding(p, limit)),
    );
    Ok(out)
}

fn restart_finding(p: &MlxProcess, limit: u64) -> Finding {
    let ws = p.working_set.unwrap_or(0);
    Finding {
        id: "wired_limit_restart".into(),
        severity: Severity::Info,
        title: format!(
            "{} ({}) still uses a GPU ceiling of {}; the system limit is now {}: {}",
            p.name,
            p.pid,
            format_bytes(ws),
            format_bytes(limit),
            wired::RESTART_TO_USE
        ),
        evidence: vec![
            number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
            bytes("working_set", ws),
            bytes("iogpu_wired_limit", limit),
        ],
        action: "MLX reads the GPU ceiling once when a process starts, so this process keeps \
                 the old one until it restarts; restart it when convenient"
            .into(),
        command: None,
        pid: Some(p.pid),
        detail: None,
    }
}

fn tight(s: &Snapshot) -> bool {
    s.pressure.level.is_some_and(|l| l >= PressureLevel::Warn)
        || s.pressure
            .free_percent
            .is_some_and(|p| p < TIGHT_AVAILABLE_PERCENT)
        || s.rates.swapouts.is_some_and(|r| r > SWAPOUT_RATE)
}

fn check_other_apps(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    let rows = ctx.top.as_ref().ok_or("processes were not read")?;
    if !tight(s) {
        return Ok(Vec::new());
    }
    let mlx: Vec<u32> = s.mlx.iter().map(|p| p.pid).collect();
    let heavy: Vec<_> = crate::top::closable(rows, &mlx)
        .into_iter()
        .filter(|c| c.footprint >= APP_HEAVY)
        .take(3)
        .collect();
    let Some(first) = heavy.first() else {
        return Ok(Vec::new());
    };
    let evidence = heavy.iter().map(|c| bytes(&c.name, c.footprint)).collect();
    let names: Vec<String> = heavy
        .iter()
        .map(|c| format!("{} ({})", c.name, format_bytes(c.footprint)))
        .collect();
    Ok(vec![Finding {
        id: "other_apps".into(),
        severity: Severity::Warning,
        title: format!("Other apps hold memory MLX needs: {}", names.join(", ")),
        evidence,
        action: format!(
            "close {} (browsers, Electron apps and Docker hold unified memory)",
            first.name
        ),
        command: Some("headroom top".into()),
        pid: None,
        detail: None,
    }])
}

/// Whether a command line runs `mlx_lm.server` (`-m mlx_lm.server`, `mlx_lm.server`, or
/// `mlx_lm server`).
pub fn is_mlx_server(cmdline: &[String]) -> bool {
    cmdline
        .iter()
        .any(|a| file_name(a) == "mlx_lm.server" || a == "mlx_lm.server")
        || cmdline
            .windows(2)
            .any(|w| file_name(&w[0]) == "mlx_lm" && w[1] == "server")
}

fn file_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn check_mlx_server(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    if attached(s).next().is_none() {
        return Err("no MLX process has the agent".into());
    }
    Ok(attached(s)
        .filter_map(|p| {
            let w = p.wired_limit.filter(|&w| w > 0)?;
            ctx.cmdlines.get(&p.pid).filter(|c| is_mlx_server(c))?;
            Some(Finding {
                id: "mlx_server_wired".into(),
                severity: if tight(s) {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                title: format!(
                    "mlx_lm.server ({}) keeps its wired limit at {}",
                    p.pid,
                    format_bytes(w)
                ),
                evidence: vec![
                    number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
                    bytes("wired_limit", w),
                ],
                action: "mlx_lm.server raises its wired limit to the recommended working set at \
                         start and never restores it: wired memory cannot be compressed or \
                         swapped; set it back to 0 when the server is idle"
                    .into(),
                command: Some(format!("headroom limit wired 0 --pid {}", p.pid)),
                pid: Some(p.pid),
                detail: None,
            })
        })
        .collect())
}

fn check_policy_refused(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    if attached(s).next().is_none() && ctx.policy_refusals.is_empty() {
        return Err("no MLX process has the agent".into());
    }
    let mut out = Vec::new();
    let mut covered = Vec::new();
    for p in attached(s) {
        let Some(st) = &p.policy else { continue };
        covered.push(p.pid);
        for l in &st.limits_source {
            if !matches!(l.source, LimitSource::Refused | LimitSource::Failed) {
                continue;
            }
            out.push(refusal_finding(&PolicyRefusal {
                pid: p.pid,
                name: p.name.clone(),
                policy: st.policy.clone().unwrap_or_default(),
                limit: l.limit.word().into(),
                wanted: l.wanted.unwrap_or(0),
                error: l.why.clone(),
            }));
        }
    }
    let alive: Vec<u32> = s.mlx.iter().map(|p| p.pid).collect();
    for r in &ctx.policy_refusals {
        if alive.contains(&r.pid) && !covered.contains(&r.pid) {
            out.push(refusal_finding(r));
        }
    }
    Ok(out)
}

fn refusal_finding(r: &PolicyRefusal) -> Finding {
    let wired = r.limit == "wired";
    Finding {
        id: "policy_refused".into(),
        severity: Severity::Warning,
        title: format!(
            "{} ({}) refused the {} limit of {} from policy {}",
            r.name,
            r.pid,
            r.limit,
            format_bytes(r.wanted),
            r.policy
        ),
        evidence: vec![
            number("pid", f64::from(r.pid), "pid", r.pid.to_string()),
            bytes(&format!("{}_limit_wanted", r.limit), r.wanted),
        ],
        action: if wired {
            format!(
                "raise the system wired limit above {} or lower the policy's wired limit; a \
                 running MLX process keeps the ceiling it read at start, so the policy applies \
                 to processes started afterwards (it is not retried): {}",
                format_bytes(r.wanted),
                r.error
            )
        } else {
            format!(
                "change policy {} (`headroom policy list`); it is not retried: {}",
                r.policy, r.error
            )
        },
        command: Some(if wired {
            format!("headroom wired-limit set {}", r.wanted.div_ceil(MIB))
        } else {
            "headroom policy list".into()
        }),
        pid: Some(r.pid),
        detail: None,
    }
}

fn check_restart_drift(s: &Snapshot, ctx: &DoctorContext) -> Result<Vec<Finding>, String> {
    if ctx.process_history.is_empty() {
        return Err("no per-process history recorded yet (the engine records it)".into());
    }
    let mut out = Vec::new();
    for p in &s.mlx {
        let Some(d) = ctx
            .process_history
            .get(&p.pid)
            .and_then(|h| restart::drift(h))
        else {
            continue;
        };
        let cmdline = ctx.cmdlines.get(&p.pid).cloned().unwrap_or_default();
        let job = restart::job_name(&p.name, &cmdline);
        let detail = (!cmdline.is_empty()).then(|| restart::supervisor_lines(&job, &cmdline, None));
        out.push(Finding {
            id: "restart_drift".into(),
            severity: Severity::Warning,
            title: format!(
                "{} ({}) holds {} more at rest than {} days ago: drift that a restart cures",
                p.name,
                p.pid,
                format_bytes(d.last - d.first),
                d.days - 1
            ),
            evidence: vec![
                number("pid", f64::from(p.pid), "pid", p.pid.to_string()),
                bytes("resting_first_day", d.first),
                bytes("resting_last_day", d.last),
                number("days", d.days as f64, "days", d.days.to_string()),
            ],
            action: format!(
                "have its supervisor restart it nightly at {}:00 (Headroom never restarts or kills \
                 a process; multi-day uptime accumulates fragmentation, SleepyQuant's MLX Memory \
                 Safety Checklist){}",
                restart::RESTART_HOUR,
                if detail.is_some() {
                    ": the lines below"
                } else {
                    ""
                }
            ),
            command: None,
            pid: Some(p.pid),
            detail,
        });
    }
    Ok(out)
}

/// Policy limits refused or failed, from journal entries (oldest first): the latest per
/// process and limit, and only those after the process's agent last attached (a pid reused by
/// a new process starts clean).
pub fn policy_refusals(events: &[Event]) -> Vec<PolicyRefusal> {
    let mut out: Vec<PolicyRefusal> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::AgentAttached { pid, .. } | EventKind::AgentLeft { pid, .. } => {
                out.retain(|r| r.pid != *pid);
            }
            EventKind::PolicyApplied {
                policy,
                pid,
                name,
                changes,
            } => {
                for c in changes {
                    out.retain(|r| !(r.pid == *pid && r.limit == c.limit));
                    if let Some(error) = &c.error {
                        out.push(PolicyRefusal {
                            pid: *pid,
                            name: name.clone(),
                            policy: policy.clone(),
                            limit: c.limit.clone(),
                            wanted: c.wanted,
                            error: error.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The `cmdline` of an agent's `stats` answer (`docs/PROTOCOL.md` §6.2), empty when absent.
pub fn cmdline_from_stats(stats: &serde_json::Value) -> Vec<String> {
    stats
        .get("cmdline")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The compressed-memory trend of history `points` (oldest first): first to last when they
/// span at least ten minutes, else the last two points.
pub fn trend_from_history(points: &[crate::history::HistoryPoint]) -> Option<Trend> {
    let with: Vec<(i64, u64)> = points
        .iter()
        .filter_map(|p| Some((p.t, p.bytes("compressed")?)))
        .collect();
    let (&(t0, c0), &(t1, c1)) = (with.first()?, with.last()?);
    let secs = (t1 - t0) as f64 / 1000.0;
    if secs >= 600.0 {
        return Some(Trend {
            first: c0,
            last: c1,
            secs,
            source: "history".into(),
        });
    }
    let [.., (ta, ca), (tb, cb)] = with.as_slice() else {
        return None;
    };
    let secs = (tb - ta) as f64 / 1000.0;
    (secs > 0.0).then(|| Trend {
        first: *ca,
        last: *cb,
        secs,
        source: "two samples".into(),
    })
}

/// The oldest recorded reading of memory outside MLX (footprint − active − cache) for each
/// process in `history`, with how many seconds before `now_ms` it was taken: what
/// [`DoctorContext::outside_mlx_before`] needs to tell whether that memory grows.
pub fn outside_mlx_before(
    history: &HashMap<u32, Vec<ProcessPoint>>,
    now_ms: i64,
) -> HashMap<u32, (u64, f64)> {
    history
        .iter()
        .filter_map(|(&pid, points)| {
            let (t, outside) = points.iter().find_map(|p| {
                let counted = p.active?.saturating_add(p.cache?);
                Some((p.t, p.footprint?.saturating_sub(counted)))
            })?;
            let age = (now_ms - t) as f64 / 1000.0;
            (age > 0.0).then_some((pid, (outside, age)))
        })
        .collect()
}

/// Each MLX process's recorded readings of the last 30 days from the history database in
/// `data_dir` (empty without one).
pub fn process_history(
    data_dir: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> HashMap<u32, Vec<ProcessPoint>> {
    crate::history::HistoryReader::open(data_dir)
        .map(|r| r.process_points(now.timestamp_millis() - 30 * 86_400_000))
        .unwrap_or_default()
}

/// The command line of every agent in the runtime directory `dir`, from its `stats` answer
/// (each within 500 ms; agents that do not answer are left out).
pub async fn agent_cmdlines(dir: &std::path::Path) -> HashMap<u32, Vec<String>> {
    use crate::agents::{client::AgentConn, discovery};
    let mut out = HashMap::new();
    let Ok(agents) = discovery::list_agents(dir) else {
        return out;
    };
    for a in agents {
        let call = async {
            let mut conn = AgentConn::connect(&a.path).await.ok()?;
            conn.call("stats", None).await.ok()
        };
        let limit = std::time::Duration::from_millis(500);
        if let Ok(Some(stats)) = tokio::time::timeout(limit, call).await {
            out.insert(a.pid, cmdline_from_stats(&stats));
        }
    }
    out
}

#[cfg(test)]
mod outside_mlx_history_tests {
    use super::*;

    fn point(t: i64, active: u64, cache: u64, footprint: u64) -> ProcessPoint {
        ProcessPoint {
            t,
            active: Some(active),
            cache: Some(cache),
            footprint: Some(footprint),
        }
    }

    #[test]
    fn the_oldest_complete_reading_gives_the_earlier_outside_figure_and_its_age() {
        let gib = 1u64 << 30;
        let mut history = HashMap::new();
        let incomplete = ProcessPoint {
            t: 0,
            active: None,
            cache: Some(gib),
            footprint: Some(9 * gib),
        };
        history.insert(
            7,
            vec![
                incomplete,
                point(1_000, gib, gib, 5 * gib),
                point(2_000, gib, gib, 9 * gib),
            ],
        );
        history.insert(8, vec![point(5_000, gib, gib, gib)]);
        let before = outside_mlx_before(&history, 11_000);
        assert_eq!(before.get(&7), Some(&(3 * gib, 10.0)));
        // Footprint below what MLX counts: nothing outside, not a wrapped number.
        assert_eq!(before.get(&8), Some(&(0, 6.0)));
    }
}
