//! Finding MLX processes that have no agent, and the footprint of any process.
//!
//! - **Linux**: a process loaded MLX when its `/proc/<pid>/maps` maps a file whose name
//!   contains `libmlx` (the shared library of every MLX build: pip wheels, CUDA, C++). Only
//!   processes of this user are read (others' maps are unreadable without privileges anyway);
//!   unreadable or vanished ones are skipped. Footprint: `Pss` from `/proc/<pid>/smaps_rollup`
//!   (shared pages divided among their users: sums to the real total), else RSS from `statm`.
//! - **macOS**: the same evidence — a loaded image whose path contains `libmlx` — read with
//!   libproc: `PROC_PIDREGIONINFO` walks the regions and `proc_regionfilename` names each
//!   file mapping. It needs no root or entitlement for this user's processes (dyld's image
//!   list needs `task_for_pid`, which does), and it sees dylibs in any install location. It is
//!   a few system calls per region, so it runs only at the slow rescan pace, stops at the
//!   first match, and walks a process again only when its footprint moved ([`needs_walk`]).
//!   Footprint: `proc_pid_rusage(RUSAGE_INFO_V4).ri_phys_footprint`, which counts
//!   Metal buffers and is what Activity Monitor shows.
//!
//! Blind spot on both: a program that links MLX statically (an mlx-swift app) maps no
//! `libmlx`; it shows up only once it serves the agent protocol itself (docs/PROTOCOL.md §11).

use std::path::Path;

/// The substring of a mapped file name that marks a process as an MLX process.
pub const MLX_LIBRARY_MARK: &str = "libmlx";

/// A process that loaded MLX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Process id.
    pub pid: u32,
    /// Process name (`comm` on Linux).
    pub name: String,
    /// The one command that would run it with the agent ([`attach_hint`]).
    pub hint: String,
}

/// The generic way to attach the agent.
pub const GENERIC_HINT: &str =
    "run `headroom agent enable` (every MLX program of that Python gets the agent), then restart it; or start it as `python -m headroom_agent run SCRIPT.py ARGS…`";

/// `mlx_lm.server` was run as `python -m mlx_lm.server`, deprecated since mlx-lm 0.24.1: the
/// console script `mlx_lm.server` (or `python -m mlx_lm server`) replaces it.
pub const DEPRECATED_MODULE_RUN: &str =
    "`python -m mlx_lm.server` is deprecated since mlx-lm 0.24.1";

/// The hint for MLX process `pid` without an agent, from its command line: first the one
/// command that gives every MLX program of its Python the agent
/// (`headroom agent enable --pid PID`, then a restart); then, for `python script.py a b` /
/// `python -m mod a`, the same command under `python -m headroom_agent run`; and for
/// `python -m mlx_lm.server …`, the console script that replaces it.
pub fn attach_hint(pid: u32, cmdline: &[String]) -> String {
    let mut hint =
        format!("run `headroom agent enable --pid {pid}` (every MLX program of that Python gets the agent), then restart it");
    let Some((exe, rest)) = cmdline.split_first() else {
        return hint;
    };
    let is_python = file_name(exe).starts_with("python");
    let runs_target = match rest.first().map(String::as_str) {
        Some("-m") => rest.len() >= 2,
        Some(first) => !first.starts_with('-'),
        None => false,
    };
    if !is_python || !runs_target || rest.iter().any(|a| a == "headroom_agent") {
        return hint;
    }
    if rest.len() >= 2 && rest[0] == "-m" && rest[1] == "mlx_lm.server" {
        let mut words = vec!["mlx_lm.server"];
        words.extend(rest[2..].iter().map(String::as_str));
        let line: Vec<String> = words.into_iter().map(shell_word).collect();
        hint.push_str(&format!(
            " as `{}` ({DEPRECATED_MODULE_RUN})",
            line.join(" ")
        ));
        return hint;
    }
    let mut words = vec![exe.as_str(), "-m", "headroom_agent", "run"];
    words.extend(rest.iter().map(String::as_str));
    let line: Vec<String> = words.into_iter().map(shell_word).collect();
    hint.push_str(&format!("; or restart it as `{}`", line.join(" ")));
    hint
}

/// `word` quoted for a POSIX shell when it needs to be.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A `/proc/<pid>/cmdline` text split at its NULs.
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Whether the text of a `maps` file maps a file containing [`MLX_LIBRARY_MARK`].
pub fn maps_has_mlx(maps: &str) -> bool {
    maps.lines().any(maps_line_is_mlx)
}

/// Whether one `maps` line maps a file whose name contains [`MLX_LIBRARY_MARK`].
pub fn maps_line_is_mlx(line: &str) -> bool {
    line.split_whitespace()
        .nth(5)
        .is_some_and(|path| file_name(path).contains(MLX_LIBRARY_MARK))
}

/// Reads a `maps` file line by line and stops at the first MLX mapping (maps of a Python
/// process are hundreds of kilobytes; MLX usually shows up early).
fn maps_file_has_mlx(path: &Path) -> Option<bool> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Some(false),
            Ok(_) if maps_line_is_mlx(&line) => return Some(true),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `Pss` of a `smaps_rollup` text, in bytes.
pub fn pss_from_smaps_rollup(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kb: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kb * 1024)
}

/// Resident set size in bytes from a `statm` text (second field, in pages).
pub fn rss_from_statm(text: &str, page_size: u64) -> Option<u64> {
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    pages.checked_mul(page_size)
}

/// The MLX processes of `uid` under a Linux `/proc` tree at `proc_root`, skipping `except`.
pub fn scan_linux(proc_root: &Path, uid: u32, except: u32) -> Vec<Found> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == except || entry.metadata().map(|m| m.uid()).ok() != Some(uid) {
            continue;
        }
        let dir = entry.path();
        if maps_file_has_mlx(&dir.join("maps")) == Some(true) {
            let name = linux_name(&dir);
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let hint = attach_hint(pid, &split_cmdline(&cmdline));
            found.push(Found { pid, name, hint });
        }
    }
    found.sort_by_key(|f| f.pid);
    found
}

fn linux_name(pid_dir: &Path) -> String {
    std::fs::read_to_string(pid_dir.join("comm"))
        .map(|s| s.trim_end_matches('\n').to_string())
        .unwrap_or_default()
}

/// Footprint of `pid` under a Linux `/proc` tree: PSS, else RSS.
pub fn footprint_linux(proc_root: &Path, pid: u32, page_size: u64) -> Option<u64> {
    let dir = proc_root.join(pid.to_string());
    if let Some(pss) = std::fs::read_to_string(dir.join("smaps_rollup"))
        .ok()
        .and_then(|t| pss_from_smaps_rollup(&t))
    {
        return Some(pss);
    }
    std::fs::read_to_string(dir.join("statm"))
        .ok()
        .and_then(|t| rss_from_statm(&t, page_size))
}

/// Where the Linux scan reads: `HEADROOM_PROC_ROOT`, else `/proc`.
#[cfg(target_os = "linux")]
fn proc_root() -> std::path::PathBuf {
    std::env::var_os("HEADROOM_PROC_ROOT")
        .filter(|v| !v.is_empty())
        .map_or_else(|| "/proc".into(), Into::into)
}

/// The MLX processes of this user on this machine (not this process).
#[cfg(target_os = "linux")]
pub fn scan() -> Vec<Found> {
    scan_linux(&proc_root(), super::sys::euid(), std::process::id())
}

/// Footprint of `pid` on this machine.
#[cfg(target_os = "linux")]
pub fn footprint(pid: u32) -> Option<u64> {
    footprint_linux(&proc_root(), pid, super::sys::page_size())
}

/// Name of `pid` on this machine, empty when unknown.
#[cfg(target_os = "linux")]
pub fn process_name(pid: u32) -> String {
    linux_name(&proc_root().join(pid.to_string()))
}

/// The executable `pid` runs (`/proc/<pid>/exe`, symlinks resolved by the kernel).
#[cfg(target_os = "linux")]
pub fn executable_of(pid: u32) -> Option<std::path::PathBuf> {
    std::fs::read_link(proc_root().join(pid.to_string()).join("exe")).ok()
}

/// The MLX library `pid` mapped (`…/site-packages/mlx/lib/libmlx.so`), if any.
#[cfg(target_os = "linux")]
pub fn mlx_library_of(pid: u32) -> Option<std::path::PathBuf> {
    mlx_library_in_maps(&proc_root().join(pid.to_string()).join("maps"))
}

/// The path of the first mapping of a file containing [`MLX_LIBRARY_MARK`] in a `maps` file.
pub fn mlx_library_in_maps(path: &Path) -> Option<std::path::PathBuf> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let reader = std::io::BufReader::with_capacity(64 * 1024, file);
    reader
        .lines()
        .map_while(Result::ok)
        .find(|l| maps_line_is_mlx(l))
        .and_then(|l| {
            // The path is the sixth field and may contain spaces: everything from its start.
            let mut rest = l.as_str();
            for _ in 0..5 {
                rest = rest.trim_start().split_once(char::is_whitespace)?.1;
            }
            Some(std::path::PathBuf::from(rest.trim()))
        })
}

/// The executable `pid` runs (`proc_pidpath`).
#[cfg(target_os = "macos")]
pub fn executable_of(pid: u32) -> Option<std::path::PathBuf> {
    super::sys::libproc::executable_of(pid).map(Into::into)
}

/// The MLX library `pid` mapped, if any (its regions walked with libproc).
#[cfg(target_os = "macos")]
pub fn mlx_library_of(pid: u32) -> Option<std::path::PathBuf> {
    super::sys::libproc::mapped_file_containing(pid, MLX_LIBRARY_MARK, MAX_REGIONS).map(Into::into)
}

/// Neither Linux nor macOS: executables are unknown.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn executable_of(_pid: u32) -> Option<std::path::PathBuf> {
    None
}

/// Neither Linux nor macOS: no MLX library is known.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn mlx_library_of(_pid: u32) -> Option<std::path::PathBuf> {
    None
}

/// How to attach the agent to `pid`, from its command line.
#[cfg(target_os = "linux")]
pub fn hint_for(pid: u32) -> String {
    let raw = std::fs::read(proc_root().join(pid.to_string()).join("cmdline")).unwrap_or_default();
    attach_hint(pid, &split_cmdline(&raw))
}

/// How to attach the agent to `pid` (without its arguments: reading another process's
/// arguments on macOS needs `KERN_PROCARGS2`, not worth it for a hint).
#[cfg(not(target_os = "linux"))]
pub fn hint_for(pid: u32) -> String {
    attach_hint(pid, &[])
}

/// Regions walked per process at most on macOS (a Python process with MLX has ~1–3 thousand).
#[cfg(target_os = "macos")]
const MAX_REGIONS: usize = 16_384;

/// What the macOS scan remembers of a process between rescans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Process name when last walked (a different name means a reused pid).
    pub name: String,
    /// Footprint when its regions were last walked.
    pub footprint: u64,
    /// Whether it had MLX loaded then.
    pub mlx: bool,
}

/// Processes smaller than this are not walked: MLX's library and Metal kernels alone exceed it.
pub const MIN_MLX_FOOTPRINT: u64 = 16 << 20;
/// A process without MLX is walked again once its footprint moved by this much (loading MLX
/// and a model moves it by far more).
pub const REWALK_DELTA: u64 = 64 << 20;

/// Whether the (costly) region walk is needed for a process of `name` and `footprint`, given
/// what an earlier walk saw. Loaded images are never unloaded, so an MLX process stays one.
pub fn needs_walk(prev: Option<&Seen>, name: &str, footprint: u64) -> bool {
    if footprint < MIN_MLX_FOOTPRINT {
        return false;
    }
    match prev {
        Some(seen) if seen.name == name => {
            !seen.mlx && seen.footprint.abs_diff(footprint) >= REWALK_DELTA
        }
        _ => true,
    }
}

/// Walk results from earlier rescans, keyed by pid (macOS).
#[cfg(target_os = "macos")]
static SEEN: std::sync::Mutex<std::collections::BTreeMap<u32, Seen>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The MLX processes of this user on this machine (not this process).
///
/// Walking every region of every process at each rescan would cost tens of thousands of
/// system calls, so a process is walked only when it is big enough to hold MLX and it is new
/// or its footprint moved by [`REWALK_DELTA`] since its last walk ([`needs_walk`]).
#[cfg(target_os = "macos")]
pub fn scan() -> Vec<Found> {
    use super::sys::libproc;
    let uid = super::sys::euid();
    let me = std::process::id();
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut next = std::collections::BTreeMap::new();
    for pid in libproc::all_pids() {
        if pid == me || libproc::uid_of(pid) != Some(uid) {
            continue;
        }
        let name = libproc::name_of(pid);
        let footprint = libproc::phys_footprint(pid).unwrap_or(0);
        let prev = seen.remove(&pid);
        let entry = if needs_walk(prev.as_ref(), &name, footprint) {
            let mlx = libproc::maps_file_containing(pid, MLX_LIBRARY_MARK, MAX_REGIONS);
            Seen {
                name,
                footprint,
                mlx,
            }
        } else {
            prev.unwrap_or(Seen {
                name,
                footprint,
                mlx: false,
            })
        };
        next.insert(pid, entry);
    }
    *seen = next;
    seen.iter()
        .filter(|(_, s)| s.mlx)
        .map(|(&pid, s)| Found {
            pid,
            name: s.name.clone(),
            hint: attach_hint(pid, &[]),
        })
        .collect()
}

/// Footprint of `pid` on this machine (phys_footprint, Metal included).
#[cfg(target_os = "macos")]
pub fn footprint(pid: u32) -> Option<u64> {
    super::sys::libproc::phys_footprint(pid)
}

/// Name of `pid` on this machine, empty when unknown.
#[cfg(target_os = "macos")]
pub fn process_name(pid: u32) -> String {
    super::sys::libproc::name_of(pid)
}

/// Neither Linux nor macOS: no scan (agents still work).
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn scan() -> Vec<Found> {
    Vec::new()
}

/// Neither Linux nor macOS: footprints are unknown.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn footprint(_pid: u32) -> Option<u64> {
    None
}

/// Neither Linux nor macOS: names are unknown.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn process_name(_pid: u32) -> String {
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0 
7f1c2a000000-7f1c2b200000 r-xp 00400000 08:01 123 /w/.venv/lib/python3.11/site-packages/mlx/lib/libmlx.so
7f1c2c000000-7f1c2c100000 r--p 00000000 08:01 124 /usr/lib/x86_64-linux-gnu/libc.so.6
";

    #[test]
    fn maps_with_libmlx_are_mlx() {
        assert!(maps_has_mlx(MAPS));
        assert!(!maps_has_mlx(
            "7f-8f r--p 0 08:01 1 /usr/lib/libc.so.6\n7f-8f r--p 0 08:01 1 /home/libmlx/libz.so\n"
        ));
        assert!(!maps_has_mlx(""));
    }

    #[test]
    fn macos_walks_only_big_new_or_changed_processes() {
        let seen = |mlx, footprint| Seen {
            name: "python3".into(),
            footprint,
            mlx,
        };
        let big = 200 << 20;
        assert!(!needs_walk(None, "python3", MIN_MLX_FOOTPRINT - 1));
        assert!(needs_walk(None, "python3", big));
        assert!(!needs_walk(
            Some(&seen(false, big)),
            "python3",
            big + (10 << 20)
        ));
        assert!(needs_walk(
            Some(&seen(false, big)),
            "python3",
            big + REWALK_DELTA
        ));
        assert!(!needs_walk(Some(&seen(true, big)), "python3", 4 * big));
        assert!(
            needs_walk(Some(&seen(false, big)), "node", big),
            "reused pid"
        );
    }

    #[test]
    fn hints_enable_the_environment_then_name_the_restart() {
        let v = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let enable = "run `headroom agent enable --pid 7` (every MLX program of that Python gets the agent), then restart it";
        assert_eq!(
            attach_hint(7, &v(&["/venv/bin/python3", "serve.py", "--model", "my model"])),
            format!("{enable}; or restart it as `/venv/bin/python3 -m headroom_agent run serve.py --model 'my model'`")
        );
        assert_eq!(
            attach_hint(7, &v(&["python", "-m", "mlx_lm.generate", "--prompt", "hi"])),
            format!("{enable}; or restart it as `python -m headroom_agent run -m mlx_lm.generate --prompt hi`")
        );
        // The deprecated module run of mlx_lm.server gets the console script instead.
        assert_eq!(
            attach_hint(7, &v(&["python", "-m", "mlx_lm.server", "--port", "8080"])),
            format!("{enable} as `mlx_lm.server --port 8080` (`python -m mlx_lm.server` is deprecated since mlx-lm 0.24.1)")
        );
        for plain in [
            v(&[]),
            v(&["python"]),
            v(&["python", "-c", "import mlx"]),
            v(&["python", "-m"]),
            v(&["/usr/bin/lmstudio", "x.py"]),
            v(&["/venv/bin/mlx_lm.server", "--port", "1"]),
        ] {
            assert_eq!(attach_hint(7, &plain), enable, "{plain:?}");
        }
        assert_eq!(split_cmdline(b"python\0a b\0\0"), v(&["python", "a b"]));
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }

    #[test]
    fn pss_and_rss() {
        let rollup = "55a0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1536 kB\n";
        assert_eq!(pss_from_smaps_rollup(rollup), Some(1536 * 1024));
        assert_eq!(pss_from_smaps_rollup("Rss: 1 kB\n"), None);
        assert_eq!(
            rss_from_statm("1000 250 30 1 0 100 0\n", 4096),
            Some(250 * 4096)
        );
        assert_eq!(rss_from_statm("", 4096), None);
    }

    #[test]
    fn scans_a_captured_proc_tree() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let uid = std::fs::metadata(root.path()).unwrap().uid();
        for (pid, maps, comm) in [("100", MAPS, "python3"), ("200", "", "bash")] {
            let d = root.path().join(pid);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("maps"), maps).unwrap();
            std::fs::write(d.join("comm"), format!("{comm}\n")).unwrap();
            std::fs::write(d.join("statm"), "10 3 0 0 0 0 0\n").unwrap();
        }
        std::fs::create_dir(root.path().join("self")).unwrap();
        let found = scan_linux(root.path(), uid, 0);
        assert_eq!(
            found,
            vec![Found {
                pid: 100,
                name: "python3".into(),
                hint: attach_hint(100, &[]),
            }]
        );
        assert!(scan_linux(root.path(), uid + 1, 0).is_empty());
        assert!(scan_linux(root.path(), uid, 100).is_empty());
        assert_eq!(footprint_linux(root.path(), 100, 4096), Some(3 * 4096));
    }
}
