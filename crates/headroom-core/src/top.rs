//! What holds memory: processes by footprint, grouped by app. Computed only when asked
//! (`headroom top`, the fit and doctor checks, the window while it is open): reading every
//! process costs a few milliseconds.
//!
//! - **Footprint**: macOS `proc_pid_rusage(RUSAGE_INFO_V4).ri_phys_footprint` (Metal memory
//!   included, Activity Monitor's Memory column); Linux `Pss` from `smaps_rollup` (shared
//!   pages divided among their users, so rows add up), else RSS from `statm` (other users'
//!   processes). Both readers are the agents module's ([`crate::agents::scan`]).
//! - **Grouping** ([`group`]): a helper process belongs to the app that started it —
//!   Chromium/Electron children carrying a `--type=…` argument (renderer, gpu-process,
//!   utility, zygote) go to their nearest ancestor without one; a child running the same
//!   executable as its parent (Firefox content processes) goes to the parent, except
//!   interpreters and shells, whose children are separate programs; on macOS, names such as
//!   `Google Chrome Helper (Renderer)` or `Slack Helper` go to `Google Chrome` / `Slack`.

use crate::fit::Closable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use ts_rs::TS;

/// One process as read from the system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: u32,
    /// Parent process id (0 when unknown).
    pub ppid: u32,
    /// Process name (`comm` on Linux, `proc_name` on macOS).
    pub name: String,
    /// Executable path, when readable.
    pub exe: Option<String>,
    /// Command line, when readable.
    pub cmdline: Vec<String>,
    /// Footprint in bytes, when readable.
    pub footprint: Option<u64>,
}

/// One row of `headroom top`: a process, or an app with its helpers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TopRow {
    /// App or process name.
    pub name: String,
    /// Footprint in bytes (the sum over `pids` when grouped).
    #[ts(type = "number")]
    pub footprint: u64,
    /// The process, when the row is one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pid: Option<u32>,
    /// The processes, when the row groups several (the app's main process first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pids: Option<Vec<u32>>,
}

impl TopRow {
    /// Every pid of the row.
    pub fn all_pids(&self) -> Vec<u32> {
        match (&self.pids, self.pid) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => vec![p],
            (None, None) => Vec::new(),
        }
    }
}

/// Suffixes of macOS helper process names, longest first.
const HELPER_SUFFIXES: [&str; 2] = [" Helper (", " Helper"];

/// The app a process name belongs to: `Google Chrome Helper (Renderer)` → `Google Chrome`.
pub fn app_name(name: &str) -> &str {
    for suffix in HELPER_SUFFIXES {
        if let Some(i) = name.find(suffix) {
            let rest = &name[i + suffix.len()..];
            if suffix.ends_with('(') || rest.is_empty() {
                return &name[..i];
            }
        }
    }
    name
}

/// Executables whose children are separate programs, not helpers.
const NOT_APPS: [&str; 16] = [
    "python", "python3", "bash", "sh", "dash", "zsh", "fish", "node", "ruby", "perl", "java",
    "sudo", "sshd", "systemd", "login", "cargo",
];

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_interpreter(exe: &str) -> bool {
    let f = file_name(exe);
    let base = f.split(['.', '-']).next().unwrap_or(f);
    let base = base.trim_end_matches(|c: char| c.is_ascii_digit());
    NOT_APPS.contains(&base) || NOT_APPS.contains(&f)
}

fn is_chromium_helper(p: &ProcInfo) -> bool {
    p.cmdline.iter().skip(1).any(|a| a.starts_with("--type="))
}

/// Whether `p` is a helper of `parent`.
fn belongs_to(p: &ProcInfo, parent: &ProcInfo) -> bool {
    if is_chromium_helper(p) {
        return true;
    }
    if let (Some(a), Some(b)) = (&p.exe, &parent.exe) {
        if a == b && !is_interpreter(a) {
            return true;
        }
    }
    let app = app_name(&p.name);
    app != p.name && app == app_name(&parent.name)
}

/// The pid of the app `pid` belongs to: up the parent chain while a process is its parent's
/// helper; a helper whose parent is not its app (macOS XPC helpers are started by launchd)
/// goes to the process named after its app.
fn root_of(pid: u32, by_pid: &HashMap<u32, &ProcInfo>, apps: &HashMap<&str, u32>) -> u32 {
    let mut cur = pid;
    for _ in 0..64 {
        let Some(p) = by_pid.get(&cur) else { break };
        match by_pid.get(&p.ppid) {
            Some(parent) if p.ppid != cur && belongs_to(p, parent) => cur = p.ppid,
            _ => {
                let app = app_name(&p.name);
                match apps.get(app) {
                    Some(&owner) if app != p.name && owner != cur => cur = owner,
                    _ => break,
                }
            }
        }
    }
    cur
}

fn display_name(p: &ProcInfo) -> String {
    let name = app_name(&p.name);
    match &p.exe {
        Some(exe) if !cfg!(target_os = "macos") && !exe.is_empty() => {
            let f = file_name(exe);
            let f = f.strip_suffix(" (deleted)").unwrap_or(f);
            if f.is_empty() {
                name.to_string()
            } else {
                f.to_string()
            }
        }
        _ => name.to_string(),
    }
}

/// Groups processes by app and sorts by footprint, largest first. Processes without a
/// footprint (unreadable, kernel threads) are left out.
pub fn group(procs: &[ProcInfo]) -> Vec<TopRow> {
    let by_pid: HashMap<u32, &ProcInfo> = procs.iter().map(|p| (p.pid, p)).collect();
    let mut apps: HashMap<&str, u32> = HashMap::new();
    for p in procs.iter().filter(|p| app_name(&p.name) == p.name) {
        apps.entry(p.name.as_str())
            .and_modify(|v| *v = (*v).min(p.pid))
            .or_insert(p.pid);
    }
    let mut groups: BTreeMap<u32, (u64, Vec<u32>)> = BTreeMap::new();
    for p in procs {
        let Some(f) = p.footprint.filter(|&f| f > 0) else {
            continue;
        };
        let g = groups.entry(root_of(p.pid, &by_pid, &apps)).or_default();
        g.0 += f;
        g.1.push(p.pid);
    }
    let mut rows: Vec<TopRow> = groups
        .into_iter()
        .map(|(root, (footprint, mut pids))| {
            pids.sort_unstable_by_key(|&p| (p != root, p));
            let name = by_pid
                .get(&root)
                .map(|p| display_name(p))
                .unwrap_or_default();
            if pids.len() == 1 {
                TopRow {
                    name,
                    footprint,
                    pid: pids.first().copied(),
                    pids: None,
                }
            } else {
                TopRow {
                    name,
                    footprint,
                    pid: None,
                    pids: Some(pids),
                }
            }
        })
        .collect();
    rows.sort_by(|a, b| b.footprint.cmp(&a.footprint).then(a.name.cmp(&b.name)));
    rows
}

/// Rows that are not any of `exclude` (MLX processes, Headroom itself), as closable apps.
pub fn closable(rows: &[TopRow], exclude: &[u32]) -> Vec<Closable> {
    rows.iter()
        .filter(|r| !r.all_pids().iter().any(|p| exclude.contains(p)))
        .map(|r| Closable {
            name: r.name.clone(),
            footprint: r.footprint,
        })
        .collect()
}

/// `(ppid, comm)` from a Linux `/proc/<pid>/stat` text (the name may hold spaces and `)`).
pub fn parse_stat(text: &str) -> Option<(u32, String)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, name))
}

/// Reads one process under a Linux `/proc` tree.
pub fn read_linux_process(
    proc_root: &std::path::Path,
    pid: u32,
    page_size: u64,
) -> Option<ProcInfo> {
    let dir = proc_root.join(pid.to_string());
    let (ppid, name) = parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    let cmdline = std::fs::read(dir.join("cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let exe = std::fs::read_link(dir.join("exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Some(ProcInfo {
        pid,
        ppid,
        name,
        exe,
        cmdline,
        footprint: crate::agents::scan::footprint_linux(proc_root, pid, page_size),
    })
}

/// Every process under a Linux `/proc` tree except `except`.
pub fn read_linux(proc_root: &std::path::Path, page_size: u64, except: u32) -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != except)
        .filter_map(|pid| read_linux_process(proc_root, pid, page_size))
        .collect()
}

/// Every process of this machine except this one.
#[cfg(target_os = "linux")]
pub fn processes() -> Vec<ProcInfo> {
    let root = std::env::var_os("HEADROOM_PROC_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| std::path::PathBuf::from("/proc"), Into::into);
    read_linux(&root, crate::agents::sys::page_size(), std::process::id())
}

/// Every process of this machine except this one (footprints of other users' processes are
/// not readable without root and are left out).
#[cfg(target_os = "macos")]
pub fn processes() -> Vec<ProcInfo> {
    use crate::agents::sys::libproc;
    let me = std::process::id();
    libproc::all_pids()
        .into_iter()
        .filter(|&pid| pid != me && pid != 0)
        .map(|pid| ProcInfo {
            pid,
            ppid: mac::parent_of(pid).unwrap_or(0),
            name: libproc::name_of(pid),
            exe: None,
            cmdline: Vec::new(),
            footprint: libproc::phys_footprint(pid),
        })
        .collect()
}

/// Neither Linux nor macOS: nothing to read.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn processes() -> Vec<ProcInfo> {
    Vec::new()
}

/// The `n` largest apps of this machine.
pub fn top(n: usize) -> Vec<TopRow> {
    let mut rows = group(&processes());
    rows.truncate(n);
    rows
}

#[cfg(target_os = "macos")]
mod mac {
    /// The parent pid of `pid`.
    pub fn parent_of(pid: u32) -> Option<u32> {
        crate::agents::sys::libproc::bsd_info(pid).map(|i| i.pbi_ppid)
    }
}
