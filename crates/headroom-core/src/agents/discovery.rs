//! Finding agents: the per-user runtime directory, its safety checks, and the
//! `agent-<pid>.sock` files in it (removing those of dead processes).

use super::sys::{self, Liveness};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A socket older than this whose listener refuses connections is a leftover of a killed
/// process whose pid was reused; younger ones may be an agent between `bind` and `listen`.
pub const STALE_REFUSED_AGE: Duration = Duration::from_secs(10);

/// The runtime directory: `HEADROOM_RUNTIME_DIR`, else `$TMPDIR/headroom` on macOS,
/// `$XDG_RUNTIME_DIR/headroom` on Linux, else `/tmp/headroom-<uid>`.
pub fn runtime_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    resolve_runtime_dir(
        var("HEADROOM_RUNTIME_DIR"),
        var(platform_dir_var()),
        sys::euid(),
    )
}

fn platform_dir_var() -> &'static str {
    if cfg!(target_os = "macos") {
        "TMPDIR"
    } else {
        "XDG_RUNTIME_DIR"
    }
}

/// The pure rule behind [`runtime_dir`].
pub fn resolve_runtime_dir(
    overridden: Option<std::ffi::OsString>,
    platform_base: Option<std::ffi::OsString>,
    uid: u32,
) -> PathBuf {
    if let Some(dir) = overridden {
        return PathBuf::from(dir);
    }
    match platform_base {
        Some(base) => Path::new(&base).join("headroom"),
        None => PathBuf::from(format!("/tmp/headroom-{uid}")),
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
            "runtime directory {} is not a directory (symlinks are refused)",
            dir.display()
        ));
    }
    if md.uid() != uid {
        return Err(format!(
            "runtime directory {} is owned by uid {}, not by this user (uid {uid})",
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

    #[test]
    fn runtime_dir_rules() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            resolve_runtime_dir(os("/x"), os("/run/user/5"), 5),
            PathBuf::from("/x")
        );
        assert_eq!(
            resolve_runtime_dir(None, os("/run/user/5"), 5),
            PathBuf::from("/run/user/5/headroom")
        );
        assert_eq!(
            resolve_runtime_dir(None, None, 5),
            PathBuf::from("/tmp/headroom-5")
        );
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
