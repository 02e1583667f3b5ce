//! The few system calls agents need, each wrapped safely: the effective uid, whether a pid is
//! alive, the page size (Linux), and on macOS the libproc calls of the process scan.
//! Every `unsafe` block is here, with its `// SAFETY:` note.

/// Whether a process exists, as `kill(pid, 0)` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The process exists and we may signal it (same user).
    Alive,
    /// The process exists but belongs to another user (`EPERM`).
    OtherUser,
    /// No such process (`ESRCH`).
    Gone,
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// Whether `pid` is alive, without sending a signal (`kill(pid, 0)`).
pub fn liveness(pid: u32) -> Liveness {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return Liveness::Gone;
    };
    if raw <= 0 {
        // 0 and negative pids address process groups, never one process.
        return Liveness::Gone;
    }
    // SAFETY: signal 0 performs only the existence and permission checks; no signal is sent.
    let rc = unsafe { libc::kill(raw, 0) };
    if rc == 0 {
        return Liveness::Alive;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => Liveness::Gone,
        _ => Liveness::OtherUser,
    }
}

/// The pid of the process at the other end of the connected Unix socket `fd`.
///
/// Linux: `SO_PEERCRED` (socket(7), unix(7)): for a client, the credentials of the process
/// that called `listen()` on the server's socket. A peer in another pid namespace reads as
/// pid 0 and is refused.
#[cfg(target_os = "linux")]
pub fn peer_pid(fd: std::os::fd::RawFd) -> std::io::Result<u32> {
    let empty = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let cred = socket_option(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, empty)?;
    positive_pid(cred.pid)
}

/// The pid of the process at the other end of the connected Unix socket `fd`.
///
/// macOS: `getsockopt(SOL_LOCAL, LOCAL_PEERPID)` (xnu `bsd/sys/un.h`, "retrieve peer pid";
/// answered in `bsd/kern/uipc_usrreq.c` `uipc_ctloutput` with the peer socket's `last_pid`,
/// the process that last used the agent's end of the connection). Type-checked only.
#[cfg(target_os = "macos")]
pub fn peer_pid(fd: std::os::fd::RawFd) -> std::io::Result<u32> {
    let pid: libc::pid_t = socket_option(fd, libc::SOL_LOCAL, libc::LOCAL_PEERPID, 0)?;
    positive_pid(pid)
}

/// `getsockopt(fd, level, name)` into a value of type `T` (plain old data), starting from
/// `value`.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn socket_option<T: Copy>(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    mut value: T,
) -> std::io::Result<T> {
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is a valid, writable `T` of `len` bytes for the duration of the call;
    // the kernel writes at most `len` bytes and updates `len`. Callers pass the type the
    // option is documented to return (ucred, pid_t).
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut T).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(value)
}

/// Neither Linux nor macOS: the peer's pid cannot be read, so no agent is trusted.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn peer_pid(_fd: std::os::fd::RawFd) -> std::io::Result<u32> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn positive_pid(pid: libc::pid_t) -> std::io::Result<u32> {
    u32::try_from(pid).ok().filter(|&p| p > 0).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the peer's pid reads as {pid} (another pid namespace?)"),
        )
    })
}

/// macOS: the user's private cache directory, `confstr(_CS_DARWIN_USER_CACHE_DIR)`
/// (`/var/folders/<xx>/<id>/C/`; Apple Libc `gen/confstr.c` asks `__dirhelper`, the value does
/// not depend on `TMPDIR`). confstr(3) (Libc `gen/confstr.3`): created with mode 0700 and
/// "will not be automatically cleaned by the system", while `_CS_DARWIN_USER_TEMP_DIR`, the
/// same kind of per-user directory, may lose files "not accessed in 3 days" — a socket of an
/// agent running for days would vanish there. Type-checked only.
#[cfg(target_os = "macos")]
pub fn darwin_user_dir() -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; 1024];
    // SAFETY: `buf` is valid for `buf.len()` bytes; confstr writes at most that many (NUL
    // included) and returns the length the full value needs.
    let n = unsafe {
        libc::confstr(
            libc::_CS_DARWIN_USER_CACHE_DIR,
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
        )
    };
    if n == 0 || n > buf.len() {
        return None;
    }
    let value = &buf[..n - 1];
    let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(value));
    path.is_absolute().then_some(path)
}

/// Not macOS: there is no per-user directory from confstr.
#[cfg(not(target_os = "macos"))]
pub fn darwin_user_dir() -> Option<std::path::PathBuf> {
    None
}

/// The page size in bytes (4096 if sysconf does not say).
#[cfg(target_os = "linux")]
pub fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the running system and touches no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// macOS libproc wrappers used by the process scan (type-checked from Linux only).
#[cfg(target_os = "macos")]
pub mod libproc {
    use std::ffi::c_void;

    /// `PROC_PIDREGIONINFO` (sys/proc_info.h).
    const PROC_PIDREGIONINFO: libc::c_int = 7;

    /// `struct proc_regioninfo` (sys/proc_info.h); only address and size are read.
    #[repr(C)]
    #[derive(Default)]
    struct ProcRegionInfo {
        pri_protection: u32,
        pri_max_protection: u32,
        pri_inheritance: u32,
        pri_flags: u32,
        pri_offset: u64,
        pri_behavior: u32,
        pri_user_wired_count: u32,
        pri_user_tag: u32,
        pri_pages_resident: u32,
        pri_pages_shared_now_private: u32,
        pri_pages_swapped_out: u32,
        pri_pages_dirtied: u32,
        pri_ref_count: u32,
        pri_shadow_depth: u32,
        pri_share_mode: u32,
        pri_private_pages_resident: u32,
        pri_shared_pages_resident: u32,
        pri_obj_id: u32,
        pri_depth: u32,
        pri_address: u64,
        pri_size: u64,
    }

    /// Every pid on the system (racy by nature: processes come and go).
    pub fn all_pids() -> Vec<u32> {
        let mut buf: Vec<libc::pid_t> = vec![0; 8192];
        loop {
            let bytes = libc::c_int::try_from(buf.len() * std::mem::size_of::<libc::pid_t>())
                .unwrap_or(libc::c_int::MAX);
            // SAFETY: the buffer is valid for `bytes` bytes; the kernel writes at most that.
            let n = unsafe { libc::proc_listallpids(buf.as_mut_ptr().cast::<c_void>(), bytes) };
            let Ok(n) = usize::try_from(n) else {
                return Vec::new();
            };
            if n < buf.len() || buf.len() >= 1 << 20 {
                buf.truncate(n);
                return buf.iter().filter_map(|&p| u32::try_from(p).ok()).collect();
            }
            buf.resize(buf.len() * 2, 0);
        }
    }

    /// The BSD info of `pid` (`PROC_PIDTBSDINFO`): owner uid, parent pid, …
    pub fn bsd_info(pid: u32) -> Option<libc::proc_bsdinfo> {
        let pid = libc::c_int::try_from(pid).ok()?;
        // SAFETY: proc_bsdinfo is plain old data; all-zero bytes are a valid value.
        let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
        let size = libc::c_int::try_from(std::mem::size_of::<libc::proc_bsdinfo>()).ok()?;
        // SAFETY: `info` is valid for `size` bytes and the flavor's struct is proc_bsdinfo;
        // the kernel writes at most `size` bytes.
        let n = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDTBSDINFO,
                0,
                (&mut info as *mut libc::proc_bsdinfo).cast::<c_void>(),
                size,
            )
        };
        (n == size).then_some(info)
    }

    /// The uid owning `pid`.
    pub fn uid_of(pid: u32) -> Option<u32> {
        bsd_info(pid).map(|i| i.pbi_uid)
    }

    /// The process name (`proc_name`), empty when unknown.
    pub fn name_of(pid: u32) -> String {
        let Ok(pid) = libc::c_int::try_from(pid) else {
            return String::new();
        };
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; proc_name writes at most that many bytes.
        let n = unsafe { libc::proc_name(pid, buf.as_mut_ptr().cast::<c_void>(), 256) };
        let len = usize::try_from(n).unwrap_or(0).min(buf.len());
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }

    /// `ri_phys_footprint` from `proc_pid_rusage(RUSAGE_INFO_V4)`: what Activity Monitor's
    /// Memory column shows, Metal buffers included.
    pub fn phys_footprint(pid: u32) -> Option<u64> {
        let pid = libc::c_int::try_from(pid).ok()?;
        // SAFETY: rusage_info_v4 is plain old data; all-zero bytes are a valid value.
        let mut info: libc::rusage_info_v4 = unsafe { std::mem::zeroed() };
        let ptr = (&mut info as *mut libc::rusage_info_v4).cast::<c_void>();
        // SAFETY: for RUSAGE_INFO_V4 the kernel writes one rusage_info_v4 through the pointer,
        // which points at `info` (libc types the out-parameter as `*mut rusage_info_t`).
        let rc = unsafe {
            libc::proc_pid_rusage(pid, libc::RUSAGE_INFO_V4, ptr.cast::<libc::rusage_info_t>())
        };
        (rc == 0).then_some(info.ri_phys_footprint)
    }

    /// The region of `pid` at or after `address`: `(start, size)`.
    fn region_at(pid: libc::c_int, address: u64) -> Option<(u64, u64)> {
        let mut info = ProcRegionInfo::default();
        let size = libc::c_int::try_from(std::mem::size_of::<ProcRegionInfo>()).ok()?;
        // SAFETY: `info` is a repr(C) proc_regioninfo valid for `size` bytes, the struct of
        // this flavor; the kernel writes at most `size` bytes.
        let n = unsafe {
            libc::proc_pidinfo(
                pid,
                PROC_PIDREGIONINFO,
                address,
                (&mut info as *mut ProcRegionInfo).cast::<c_void>(),
                size,
            )
        };
        (n == size && info.pri_size > 0).then_some((info.pri_address, info.pri_size))
    }

    /// The file mapped at `address` in `pid`, if any.
    fn region_file(pid: libc::c_int, address: u64) -> Option<String> {
        let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
        let cap = u32::try_from(buf.len()).ok()?;
        // SAFETY: the buffer is valid for `cap` bytes; the kernel writes at most that many.
        let n = unsafe {
            libc::proc_regionfilename(pid, address, buf.as_mut_ptr().cast::<c_void>(), cap)
        };
        let len = usize::try_from(n).ok().filter(|&n| n > 0)?.min(buf.len());
        Some(String::from_utf8_lossy(&buf[..len]).into_owned())
    }

    /// Whether any region of `pid` maps a file whose path contains `needle`, walking at most
    /// `max_regions` regions.
    pub fn maps_file_containing(pid: u32, needle: &str, max_regions: usize) -> bool {
        mapped_file_containing(pid, needle, max_regions).is_some()
    }

    /// The first file mapped by `pid` whose path contains `needle`, walking at most
    /// `max_regions` regions.
    pub fn mapped_file_containing(pid: u32, needle: &str, max_regions: usize) -> Option<String> {
        let pid = libc::c_int::try_from(pid).ok()?;
        let mut address = 0u64;
        for _ in 0..max_regions {
            let (start, size) = region_at(pid, address)?;
            if let Some(path) = region_file(pid, start).filter(|p| p.contains(needle)) {
                return Some(path);
            }
            address = start.checked_add(size)?;
        }
        None
    }

    /// The executable of `pid` (`proc_pidpath`, libproc.h), symlinks resolved.
    pub fn executable_of(pid: u32) -> Option<String> {
        let pid = libc::c_int::try_from(pid).ok()?;
        let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
        let cap = u32::try_from(buf.len()).ok()?;
        // SAFETY: the buffer is valid for `cap` bytes; proc_pidpath writes at most that many
        // and returns the length written.
        let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast::<c_void>(), cap) };
        let len = usize::try_from(n).ok().filter(|&n| n > 0)?.min(buf.len());
        Some(String::from_utf8_lossy(&buf[..len]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_a_reaped_child_is_gone() {
        assert_eq!(liveness(std::process::id()), Liveness::Alive);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(liveness(pid), Liveness::Gone);
        assert_eq!(liveness(0), Liveness::Gone);
        assert_eq!(liveness(u32::MAX), Liveness::Gone);
    }
}
