//! Finding agents: the per-user runtime directory, its safety checks, and the
//! `agent-<pid>.sock` files in it (removing those of dead processes).

use super::sys::{self, Liveness};
use crate::snapshot::Platform;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A socket older than this whose listener refuses connections is a leftover of a killed
/// process whose pid was reused; younger ones may be an agent between `bind` and `listen`.
pub const STALE_REFUSED_AGE: Duration = Duration::from_secs(10);

/// The runtime directory ([`resolve_runtime_dir`] for this process). When no safe directory
/// can be chosen, the `/tmp/headroom-<uid>` fallback is returned so that its check
/// ([`check_dir`]) reports the problem and the fix wherever agents are listed.
pub fn runtime_dir() -> PathBuf {
    resolve_runtime_dir().unwrap_or_else(|_| fallback_dir(sys::euid()))
}

/// The runtime directory for this process, or why none can be used (naming the path and the
/// fix): [`choose_runtime_dir`] on this process's environment, user and platform.
pub fn resolve_runtime_dir() -> Result<PathBuf, String> {
    let uid = sys::euid();
    let platform = if cfg!(target_os = "macos") {
        Platform::Macos
    } else {
        Platform::Linux
    };
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    choose_runtime_dir(&RuntimeDirInputs {
        platform,
        env: &env,
        user_dir: sys::darwin_user_dir(),
        uid,
        fallback: dir_state(&fallback_dir(uid)),
    })
}

/// `/tmp/headroom-<uid>`, the runtime directory when the platform offers no per-user one.
pub fn fallback_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/headroom-{uid}"))
}

/// What is at a path (`lstat`): enough to decide whether it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirState {
    /// A real directory (not a symbolic link, not a file).
    pub is_dir: bool,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits.
    pub mode: u32,
}

/// The state of `path`, `None` when nothing is there.
pub fn dir_state(path: &Path) -> Option<DirState> {
    fs::symlink_metadata(path).ok().map(|md| DirState {
        is_dir: md.file_type().is_dir(),
        uid: md.uid(),
        mode: md.mode() & 0o7777,
    })
}

/// Everything [`choose_runtime_dir`] decides from.
pub struct RuntimeDirInputs<'a> {
    /// The platform whose rules apply.
    pub platform: Platform,
    /// Environment variables (empty values count as unset).
    pub env: &'a dyn Fn(&str) -> Option<std::ffi::OsString>,
    /// macOS: `confstr(_CS_DARWIN_USER_CACHE_DIR)`, the user's private directory under
    /// `/var/folders` (see [`sys::darwin_user_dir`]); `None` elsewhere or when it failed.
    pub user_dir: Option<PathBuf>,
    /// The user.
    pub uid: u32,
    /// What is at `/tmp/headroom-<uid>` now.
    pub fallback: Option<DirState>,
}

/// Longest socket path (`sun_path` is 104 bytes on macOS, 108 on Linux, NUL included).
pub fn max_socket_path(platform: Platform) -> usize {
    match platform {
        Platform::Macos => 103,
        Platform::Linux => 107,
    }
}

/// The longest socket name an agent can have: `agent-<u32::MAX>.sock`.
const LONGEST_SOCKET_NAME: &str = "agent-4294967295.sock";

/// The runtime directory, a pure function of its inputs (the Python agent's
/// `_paths.choose_runtime_dir` is the same function; both are tested against the shared table
/// `tests/shared/runtime_dir_cases.json`):
///
/// 1. `HEADROOM_RUNTIME_DIR`, when set.
/// 2. macOS: `<confstr(_CS_DARWIN_USER_CACHE_DIR)>/headroom`: the same for every process of
///    the user whatever `TMPDIR` says (`sudo -i`, `env -i`, launchd jobs without it).
/// 3. Linux: `$XDG_RUNTIME_DIR/headroom` when it is absolute (per-user, 0700 by the XDG Base
///    Directory specification).
/// 4. `/tmp/headroom-<uid>` when it is missing, or a directory of this user that no one else
///    can write.
/// 5. Otherwise someone else created it first (or it is a link, a file, or writable by
///    others): `$XDG_CACHE_HOME/headroom/run` (Linux; `~/.cache` by default) or
///    `~/Library/Caches/Headroom/run` (macOS), when socket paths there fit `sun_path`.
/// 6. Otherwise an error naming `/tmp/headroom-<uid>`, what is wrong with it and the fix.
pub fn choose_runtime_dir(i: &RuntimeDirInputs<'_>) -> Result<PathBuf, String> {
    if let Some(dir) = (i.env)("HEADROOM_RUNTIME_DIR") {
        return Ok(PathBuf::from(dir));
    }
    match i.platform {
        Platform::Macos => {
            if let Some(dir) = i.user_dir.as_ref().filter(|d| d.is_absolute()) {
                return Ok(dir.join("headroom"));
            }
        }
        Platform::Linux => {
            if let Some(xdg) = (i.env)("XDG_RUNTIME_DIR").map(PathBuf::from) {
                if xdg.is_absolute() {
                    return Ok(xdg.join("headroom"));
                }
            }
        }
    }
    let fallback = fallback_dir(i.uid);
    let Some(why) = fallback_problem(i.fallback, i.uid) else {
        return Ok(fallback);
    };
    let fix = "remove it, or set XDG_RUNTIME_DIR or HEADROOM_RUNTIME_DIR to a directory you own";
    let Some(alternative) = cache_run_dir(i) else {
        return Err(format!(
            "{} {why} and no home directory is known for another; {fix}",
            fallback.display()
        ));
    };
    let longest = alternative.join(LONGEST_SOCKET_NAME);
    let max = max_socket_path(i.platform);
    if longest.as_os_str().len() > max {
        return Err(format!(
            "{} {why}, and socket paths under {} would be longer than {max} bytes; {fix}",
            fallback.display(),
            alternative.display()
        ));
    }
    Ok(alternative)
}

/// Why `/tmp/headroom-<uid>` cannot be used, `None` when it can (or does not exist yet).
fn fallback_problem(state: Option<DirState>, uid: u32) -> Option<String> {
    let st = state?;
    if !st.is_dir {
        Some("is not a directory".to_string())
    } else if st.uid != uid {
        Some(format!(
            "is owned by uid {}, not by this user (uid {uid})",
            st.uid
        ))
    } else if st.mode & 0o022 != 0 {
        Some(format!(
            "has mode {:04o}, writable by group or others",
            st.mode
        ))
    } else {
        None
    }
}

/// The per-user alternative under the user's cache directory.
fn cache_run_dir(i: &RuntimeDirInputs<'_>) -> Option<PathBuf> {
    let abs = |k: &str| (i.env)(k).map(PathBuf::from).filter(|p| p.is_absolute());
    match i.platform {
        Platform::Macos => abs("HOME").map(|h| h.join("Library/Caches/Headroom/run")),
        Platform::Linux => abs("XDG_CACHE_HOME")
            .or_else(|| abs("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("headroom/run")),
    }
}

/// One agent socket found in the runtime directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSocket {
    /// The pid in the socket's name.
    pub pid: u32,
    /// The socket's path.
    pub path: PathBuf,
}

/// The pid in a socket file name `agent-<pid>.sock`.
pub fn pid_from_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("agent-")?.strip_suffix(".sock")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&p| p > 0)
}

/// Why a directory or socket is not used.
pub fn check_dir(dir: &Path, uid: u32) -> Result<(), String> {
    let md = fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read runtime directory {}: {e}", dir.display()))?;
    if !md.file_type().is_dir() {
        return Err(format!(
            "runtime directory {} is not a directory (symlinks are refused); remove it or set HEADROOM_RUNTIME_DIR to a directory you own",
            dir.display()
        ));
    }
    if md.uid() != uid {
        return Err(format!(
            "runtime directory {} is owned by uid {}, not by this user (uid {uid}); remove it or set HEADROOM_RUNTIME_DIR to a directory you own",
            dir.display(),
            md.uid()
        ));
    }
    let mode = md.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "runtime directory {} has mode {mode:04o}: group or others can write it (allowed: no write bits for group/others, e.g. 0700)",
            dir.display()
        ));
    }
    Ok(())
}

/// Checks that `path` is a socket owned by `uid`.
pub fn check_socket(path: &Path, uid: u32) -> Result<(), String> {
    let md =
        fs::symlink_metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !md.file_type().is_socket() {
        return Err(format!("{} is not a socket", path.display()));
    }
    if md.uid() != uid {
        return Err(format!(
            "socket {} is owned by uid {}, not by this user (uid {uid})",
            path.display(),
            md.uid()
        ));
    }
    Ok(())
}

/// The agent sockets in `dir`, sorted by pid; sockets of dead processes are removed.
/// A missing directory means no agents; an unsafe one is an error naming why.
pub fn list_agents(dir: &Path) -> Result<Vec<AgentSocket>, String> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    check_dir(dir, sys::euid())?;
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(pid_from_name) else {
            continue;
        };
        let path = entry.path();
        if sys::liveness(pid) == Liveness::Gone {
            remove_if_socket(&path);
            continue;
        }
        found.push(AgentSocket { pid, path });
    }
    found.sort_by_key(|a| a.pid);
    Ok(found)
}

/// Removes `path` if it is still a socket of ours (never anything else).
pub fn remove_if_socket(path: &Path) {
    if check_socket(path, sys::euid()).is_ok() {
        let _ = fs::remove_file(path);
    }
}

/// Removes a socket whose listener refused a connection, if it is older than
/// [`STALE_REFUSED_AGE`] (its process died without cleaning up and the pid was reused).
pub fn remove_if_refused_and_old(path: &Path) -> bool {
    let old = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= STALE_REFUSED_AGE);
    if old {
        remove_if_socket(path);
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The table shared with the Python agent's tests (`agent/tests/test_paths.py`): both
    /// sides must choose the same directory for the same inputs.
    #[test]
    fn runtime_dir_follows_the_shared_table() {
        let table: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../tests/shared/runtime_dir_cases.json"
        ))
        .unwrap();
        let cases = table["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let env = case["env"].as_object().cloned().unwrap_or_default();
            let lookup = |k: &str| {
                env.get(k)
                    .and_then(|v| v.as_str())
                    .filter(|v| !v.is_empty())
                    .map(std::ffi::OsString::from)
            };
            let fallback = case["fallback"].as_object().map(|f| DirState {
                is_dir: f["is_dir"].as_bool().unwrap(),
                uid: u32::try_from(f["uid"].as_u64().unwrap()).unwrap(),
                mode: u32::from_str_radix(f["mode"].as_str().unwrap(), 8).unwrap(),
            });
            let got = choose_runtime_dir(&RuntimeDirInputs {
                platform: match case["platform"].as_str().unwrap() {
                    "macos" => Platform::Macos,
                    _ => Platform::Linux,
                },
                env: &lookup,
                user_dir: case["user_dir"].as_str().map(PathBuf::from),
                uid: u32::try_from(case["uid"].as_u64().unwrap()).unwrap(),
                fallback,
            });
            match (&case["expect"]["dir"], got) {
                (serde_json::Value::String(want), Ok(dir)) => {
                    assert_eq!(dir, PathBuf::from(want), "{name}")
                }
                (serde_json::Value::Null, Err(e)) => {
                    for part in case["expect"]["error_contains"].as_array().unwrap() {
                        assert!(e.contains(part.as_str().unwrap()), "{name}: {e}");
                    }
                }
                (want, got) => panic!("{name}: wanted {want}, got {got:?}"),
            }
        }
    }

    #[test]
    fn socket_names() {
        assert_eq!(pid_from_name("agent-123.sock"), Some(123));
        for bad in [
            "agent-.sock",
            "agent-0.sock",
            "agent--1.sock",
            "agent-12a.sock",
            "agent-1.sock.tmp",
            "x-1.sock",
            "agent-99999999999.sock",
        ] {
            assert_eq!(pid_from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn writable_dir_is_refused_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let e = list_agents(dir.path()).unwrap_err();
        assert!(e.contains("0777"), "{e}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(list_agents(dir.path()).unwrap(), vec![]);
    }

    #[test]
    fn stale_sockets_of_dead_pids_are_removed_and_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!("agent-{dead}.sock"));
        let _l = std::os::unix::net::UnixListener::bind(&stale).unwrap();
        let live = dir
            .path()
            .join(format!("agent-{}.sock", std::process::id()));
        let _l2 = std::os::unix::net::UnixListener::bind(&live).unwrap();
        let not_a_socket = dir.path().join("agent-1.sock");
        fs::write(&not_a_socket, b"x").unwrap();
        let found = list_agents(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(found.iter().any(|a| a.pid == std::process::id()));
        // pid 1 is alive: listed (the client refuses it later because it is not a socket).
        assert!(not_a_socket.exists());
    }
}
