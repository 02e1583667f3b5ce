//! macOS kernel access: `host_statistics64(HOST_VM_INFO64)` and sysctls by name. Compiled on
//! macOS only and type-checked from Linux (`--target aarch64-apple-darwin`); it has never run
//! on a Mac in this repository's CI. Everything past the raw bytes — the count-retry loop,
//! decoding, byte parsing, the breakdown — is pure and tested on every platform.
//!
//! Symbols: mach2 0.4 gives the mach types, `mach_task_self` and `mach_port_deallocate`; it
//! lacks `mach_host_self` (added in mach2 0.6, which needs Rust edition 2024 above our MSRV),
//! so that one, `host_statistics64`, `HOST_VM_INFO64` and `sysctlbyname` come from libc.

use super::vm_info::{self, KERN_INVALID_ARGUMENT};
use super::{choose_page_size, parse_sysctl_uint, parse_xsw_usage, MacRaw};
use crate::platform::RawSample;
use mach2::kern_return::kern_return_t;
use mach2::mach_types::host_t;
use mach2::message::mach_msg_type_number_t;
use std::ffi::CString;

/// Longest sysctl value read (strings such as `machdep.cpu.brand_string` are < 100 bytes).
const MAX_SYSCTL_BYTES: usize = 4096;

/// Reads raw counters from the macOS kernel. Holds one send right to the host port (released
/// on drop) and the `HOST_VM_INFO64` count the kernel last accepted, so a kernel that needs a
/// retry (macOS 27) needs it once, not on every sample.
#[derive(Debug)]
pub struct MacReader {
    host: host_t,
    vm_count: u32,
}

impl MacReader {
    /// A reader of this Mac (there is no environment override on macOS).
    pub fn from_env() -> Self {
        Self {
            host: host_self(),
            vm_count: vm_info::START_COUNT,
        }
    }

    /// Reads one raw sample; a value that cannot be read is recorded in `read_errors`.
    pub fn read(&mut self) -> RawSample {
        let mut raw = MacRaw::default();
        let mut errors = Vec::new();
        match vm_info::read_vm_info(
            |buf, count| self.host_statistics64(buf, count),
            self.vm_count,
        ) {
            Ok(info) => {
                self.vm_count = info.count;
                raw.vm = Some(Box::new(info.stats));
                raw.vm_count = Some(info.count);
                raw.vm_calls = u32::try_from(info.attempts.len()).ok();
            }
            Err(e) => errors.push(format!("host_statistics64: {e}")),
        }
        raw.hw_pagesize = sysctl_uint("hw.pagesize").map_err(|e| errors.push(e)).ok();
        let (page_size, source) = choose_page_size(
            self.host_page_size(),
            Some(kernel_page_size()),
            raw.hw_pagesize,
            FALLBACK_PAGE_SIZE,
        );
        (raw.page_size, raw.page_size_source) = (page_size, Some(source));
        raw.memsize = sysctl_uint("hw.memsize").map_err(|e| errors.push(e)).ok();
        raw.swap = sysctl_bytes("vm.swapusage")
            .and_then(|b| parse_xsw_usage(&b).map_err(|e| format!("vm.swapusage: {e}")))
            .map_err(|e| errors.push(e))
            .ok();
        raw.pressure_level = sysctl_int("kern.memorystatus_vm_pressure_level", &mut errors);
        raw.memorystatus_level = sysctl_int("kern.memorystatus_level", &mut errors);
        match sysctl_uint(crate::wired::SYSCTL_NAME) {
            Ok(mb) => raw.wired_limit_mb = Some(mb),
            // macOS 13 (reported, see wired.rs) has the byte-valued name instead.
            Err(e) => match sysctl_uint(crate::wired::MACOS13_SYSCTL_NAME) {
                Ok(bytes) => raw.debug_wired_limit = Some(bytes),
                Err(_) => errors.push(e),
            },
        }
        raw.os_version = sysctl_string("kern.osproductversion", &mut errors);
        raw.chip = sysctl_string("machdep.cpu.brand_string", &mut errors);
        raw.read_errors = errors;
        RawSample::Macos(raw)
    }

    /// `host_page_size()`: the kernel's page size, the unit of `vm_statistics64` counts
    /// (xnu `osfmk/mach/mach_host.defs`); `None` when the call fails.
    fn host_page_size(&self) -> Option<u64> {
        let mut size: libc::vm_size_t = 0;
        // SAFETY: `self.host` is a valid host port for this reader's lifetime and `size` is a
        // valid, exclusive vm_size_t the call writes once.
        let kr = unsafe { host_page_size(self.host, &mut size) };
        (kr == 0).then_some(size as u64)
    }

    /// One call of `host_statistics64(HOST_VM_INFO64)` into `buf` with `count` words.
    fn host_statistics64(&self, buf: &mut [u32], count: &mut u32) -> kern_return_t {
        if *count as usize > buf.len() {
            return KERN_INVALID_ARGUMENT; // never let the kernel write past the buffer
        }
        let mut cnt: mach_msg_type_number_t = *count;
        // SAFETY: `buf` is valid for writes of `buf.len()` 4-byte words and `cnt` (checked
        // above) is at most that many, which is all the kernel (or the MIG stub on
        // MIG_ARRAY_TOO_LARGE) writes; `cnt` is a valid, exclusive u32 for the call.
        let kr = unsafe {
            libc::host_statistics64(
                self.host,
                libc::HOST_VM_INFO64,
                buf.as_mut_ptr().cast::<libc::integer_t>(),
                &mut cnt,
            )
        };
        *count = cnt;
        kr
    }
}

impl Drop for MacReader {
    fn drop(&mut self) {
        // SAFETY: `self.host` is the send right `mach_host_self` gave this reader, released
        // exactly once here; `mach_task_self` has no preconditions.
        unsafe {
            mach2::mach_port::mach_port_deallocate(mach2::traps::mach_task_self(), self.host);
        }
    }
}

extern "C" {
    /// `host_page_size(host, &size)` (xnu `osfmk/mach/mach_host.defs`, exported by libSystem;
    /// not in the libc crate).
    fn host_page_size(host: host_t, out_page_size: *mut libc::vm_size_t) -> kern_return_t;
    /// The kernel's page size, set by libSystem at start (xnu `osfmk/mach/vm_page_size.h`).
    static vm_kernel_page_size: libc::vm_size_t;
}

/// `vm_kernel_page_size`.
fn kernel_page_size() -> u64 {
    // SAFETY: a plain integer global that libSystem initialises before main and never
    // changes afterwards; reading it copies the value.
    unsafe { vm_kernel_page_size as u64 }
}

/// `TASK_EVENTS_INFO` (xnu `osfmk/mach/task_info.h`): not in the libc crate.
const TASK_EVENTS_INFO: libc::task_flavor_t = 2;

/// The system calls this process has made so far (Mach and Unix; `task_info`
/// `TASK_EVENTS_INFO` on itself), or `None` when the call fails.
#[allow(deprecated)] // libc points at mach2 for task_info, which its 0.4 line lacks
pub fn self_syscalls() -> Option<u64> {
    let mut words = [0 as libc::integer_t; super::TASK_EVENTS_INFO_WORDS];
    let mut count = super::TASK_EVENTS_INFO_WORDS as libc::mach_msg_type_number_t;
    // SAFETY: `words` is valid for writes of `count` integer_t, the size of
    // `struct task_events_info`; the kernel writes at most `count` words and updates it.
    // `mach_task_self` has no preconditions.
    let kr = unsafe {
        libc::task_info(
            mach2::traps::mach_task_self(),
            TASK_EVENTS_INFO,
            words.as_mut_ptr(),
            &mut count,
        )
    };
    (kr == 0).then(|| super::syscalls_from_task_events(&words))
}

/// 16 KiB on Apple Silicon, 4 KiB on Intel: used only when no page size can be read.
const FALLBACK_PAGE_SIZE: u64 = if cfg!(target_arch = "aarch64") {
    16_384
} else {
    4_096
};

/// A send right to this host's port.
#[allow(deprecated)] // libc points at mach2, whose 0.4 line lacks mach_host_self.
fn host_self() -> host_t {
    // SAFETY: mach_host_self has no preconditions and returns a port name (never fails).
    unsafe { libc::mach_host_self() }
}

/// The raw bytes of a sysctl, by name.
fn sysctl_bytes(name: &str) -> Result<Vec<u8>, String> {
    let cname = CString::new(name).map_err(|_| format!("{name}: name contains a NUL byte"))?;
    let mut len: libc::size_t = 0;
    // SAFETY: `cname` is NUL-terminated; a null `oldp` asks only for the size, written to
    // `len`, a valid exclusive size_t; no new value is set (null, 0).
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            std::ptr::null_mut(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(format!("{name}: {}", std::io::Error::last_os_error()));
    }
    if len > MAX_SYSCTL_BYTES {
        return Err(format!(
            "{name}: value of {len} bytes, at most {MAX_SYSCTL_BYTES} allowed"
        ));
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` tells the kernel so; the
    // kernel writes back the length it used; no new value is set (null, 0).
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(format!("{name}: {}", std::io::Error::last_os_error()));
    }
    buf.truncate(len);
    Ok(buf)
}

/// An unsigned integer sysctl (4 or 8 bytes).
fn sysctl_uint(name: &str) -> Result<u64, String> {
    let bytes = sysctl_bytes(name)?;
    parse_sysctl_uint(&bytes).map_err(|e| format!("{name}: {e}"))
}

/// A signed `int` sysctl; a failure is recorded and gives `None`.
fn sysctl_int(name: &str, errors: &mut Vec<String>) -> Option<i32> {
    let res = sysctl_bytes(name).and_then(|b| match <[u8; 4]>::try_from(b.as_slice()) {
        Ok(a) => Ok(i32::from_ne_bytes(a)),
        Err(_) => Err(format!("{name}: {} bytes, expected a 4-byte int", b.len())),
    });
    res.map_err(|e| errors.push(e)).ok()
}

/// A string sysctl without its trailing NUL; a failure is recorded and gives `None`.
fn sysctl_string(name: &str, errors: &mut Vec<String>) -> Option<String> {
    let res = sysctl_bytes(name).map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    });
    res.map_err(|e| errors.push(e)).ok()
}
