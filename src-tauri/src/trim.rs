//! Keeping the app small while the popover is closed: a small async runtime, the heap handed
//! back to the system once the web view is gone, and (Linux) WebKit's idle network process
//! ended.

/// Worker threads of the app's async runtime. The engine's sampling, agent polls, rules and
/// the tray's live loop are short async steps (history writes and blocking reads have their
/// own threads); Tauri's default is one worker per core, which buys nothing here.
pub const WORKER_THREADS: usize = 2;

/// The app's async runtime (installed as Tauri's before anything starts).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(8)
        .thread_name("headroom-rt")
        .enable_all()
        .build()
}

/// After the web view was destroyed: glibc keeps freed heap pages in its arenas; hand them
/// back (`malloc_trim(3)`), so the process shrinks instead of keeping the page's peak; then
/// let go of the library pages the web view touched (see [`release_file_pages`]).
pub fn after_web_view_closed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only releases free memory.
        let released = unsafe { libc::malloc_trim(0) };
        log::debug!("malloc_trim released memory: {}", released != 0);
    }
    #[cfg(target_os = "linux")]
    {
        let kb = release_file_pages();
        log::debug!("released {kb} kB of unmodified library pages");
    }
}

/// A range of this process's address space whose resident pages are unmodified copies of a
/// file (see [`releasable_ranges`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRange {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// Resident kB when read.
    pub rss_kb: u64,
}

/// The mappings of `/proc/PID/smaps` text whose resident pages can be dropped without losing
/// anything: private, not writable, mapping a regular file that still exists (not a device,
/// memfd or deleted file), with no page copied on write (`Anonymous: 0 kB`: relocated data
/// such as RELRO is excluded), not locked, no I/O or PFN mapping, and something resident.
/// Dropping such a page only unmaps it: the next access maps the same page from the page cache
/// (proc(5) for the fields; madvise(2), `MADV_DONTNEED`: private file mappings are refilled
/// from the file). Code and read-only data of GTK, WebKit, JavaScriptCore, Mesa and the app's
/// own binary make up most of it.
pub fn releasable_ranges(smaps: &str) -> Vec<FileRange> {
    let mut out = Vec::new();
    let mut current: Option<(FileRange, bool)> = None;
    let mut finish = |m: Option<(FileRange, bool)>| {
        if let Some((range, true)) = m {
            if range.rss_kb > 0 {
                out.push(range);
            }
        }
    };
    for line in smaps.lines() {
        if let Some(header) = mapping_header(line) {
            finish(current.take());
            current = Some(header);
            continue;
        }
        let Some((range, ok)) = current.as_mut() else {
            continue;
        };
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let kb = || {
            value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        };
        match key {
            "Rss" => range.rss_kb = kb().unwrap_or(0),
            "Anonymous" | "Locked" => *ok &= kb() == Some(0),
            "VmFlags" => {
                *ok &= !value
                    .split_whitespace()
                    .any(|f| matches!(f, "wr" | "io" | "pf" | "lo" | "ht" | "sh" | "dd"));
            }
            _ => {}
        }
    }
    finish(current.take());
    out
}

/// A mapping's first line (`start-end perms offset dev inode path`): its range and whether it
/// is a candidate by permissions and path; `None` for the other lines.
fn mapping_header(line: &str) -> Option<(FileRange, bool)> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    if perms.len() != 4 {
        return None;
    }
    let path = fields.nth(3).unwrap_or("");
    let deleted = line.ends_with(" (deleted)");
    let ok = perms[1] == b'-'
        && perms[3] == b'p'
        && path.starts_with('/')
        && !path.starts_with("/dev/")
        && !path.starts_with("/memfd:")
        && !deleted;
    let range = FileRange {
        start,
        end,
        rss_kb: 0,
    };
    Some((range, ok))
}

/// Linux: drops this process's resident pages that are unmodified copies of its loaded ELF
/// objects (the binary and its libraries; [`releasable_ranges`] of their read-only segments),
/// so the idle app counts only what it touches again; the pages stay in the page cache,
/// shared and reclaimable. `MADV_PAGEOUT` would leave the mappings alone for a user who may
/// not write the file (madvise(2)), which is every system library; unmapping with
/// `MADV_DONTNEED` works for any user. Returns the kB released.
///
/// The advice is given from inside `dl_iterate_phdr(3)`, which holds the dynamic loader's
/// lock: an object listed there cannot be unloaded (and its addresses handed to another
/// mapping) until the walk ends, so a range read from `/proc/self/smaps` a moment earlier
/// still maps the same file when it is released. Other file mappings (fonts, caches) are left
/// alone: their owners may unmap them at any time.
#[cfg(target_os = "linux")]
pub fn release_file_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut walk = ObjectPageRelease {
        ranges: releasable_ranges(&smaps),
        page: page_size(),
        released_kb: 0,
    };
    // SAFETY: the callback matches dl_iterate_phdr's signature and receives `walk`, a valid,
    // exclusive local that outlives the call; the walk does not escape the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(release_object_pages),
            std::ptr::addr_of_mut!(walk).cast(),
        );
    }
    walk.released_kb
}

/// The state of one [`release_file_pages`] walk over the loaded objects.
#[cfg(target_os = "linux")]
struct ObjectPageRelease {
    ranges: Vec<FileRange>,
    page: usize,
    released_kb: u64,
}

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf has no memory preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).max(1)
}

/// The page-aligned span `[start, end)` an ELF load segment occupies in memory: `bias` is the
/// object's load address (`dlpi_addr`), `vaddr` and `memsz` the segment's `p_vaddr` and
/// `p_memsz` (elf(5)).
pub fn segment_span(bias: usize, vaddr: usize, memsz: usize, page: usize) -> (usize, usize) {
    let start = bias.wrapping_add(vaddr);
    let end = start.saturating_add(memsz);
    let round_up = end.saturating_add(page - 1);
    (start - start % page, round_up - round_up % page)
}

/// Whether a whole mapping lies inside a segment's span.
pub fn within_span(range: &FileRange, (start, end): (usize, usize)) -> bool {
    start <= range.start && range.end <= end
}

/// `dl_iterate_phdr` callback: releases the releasable mappings inside this object's
/// read-only load segments; always continues the walk.
#[cfg(target_os = "linux")]
unsafe extern "C" fn release_object_pages(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: `data` is the `ObjectPageRelease` release_file_pages passed, and `info` points
    // to the loader's description of one object with `dlpi_phnum` headers at `dlpi_phdr`,
    // valid for the duration of this call (dl_iterate_phdr(3)).
    let (walk, info) = unsafe { (&mut *data.cast::<ObjectPageRelease>(), &*info) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: as above: `dlpi_phnum` program headers start at `dlpi_phdr`.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let bias = info.dlpi_addr as usize;
    for header in headers {
        if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
            continue;
        }
        let span = segment_span(
            bias,
            header.p_vaddr as usize,
            header.p_memsz as usize,
            walk.page,
        );
        for range in walk.ranges.iter().filter(|r| within_span(r, span)) {
            // SAFETY: the range is a whole mapping inside a read-only load segment of an
            // object the loader keeps mapped while this walk holds its lock; /proc/self/smaps
            // showed it private, not writable and with no copied-on-write page, so every
            // resident page is the file's own and MADV_DONTNEED only unmaps it: the next
            // access maps the same content from the file. No memory Rust code owns is freed.
            let rc = unsafe {
                libc::madvise(
                    range.start as *mut libc::c_void,
                    range.end - range.start,
                    libc::MADV_DONTNEED,
                )
            };
            if rc == 0 {
                walk.released_kb += range.rss_kb;
            }
        }
    }
    0
}

/// Linux: once the app has settled after launch (tray up, first samples taken), drops the
/// library pages only start-up needed ([`release_file_pages`]).
pub async fn settle_after_launch() {
    #[cfg(target_os = "linux")]
    {
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        let kb = release_file_pages();
        log::debug!("released {kb} kB of unmodified library pages after launch");
    }
}

/// The most open files [`raise_open_file_limit`] asks for.
pub const OPEN_FILES_WANTED: u64 = 65_536;

/// The soft limit on open files to set, from the current soft and hard limits: up to
/// [`OPEN_FILES_WANTED`] within the hard limit, never lower than it is.
pub fn open_file_limit(soft: u64, hard: u64) -> u64 {
    soft.max(OPEN_FILES_WANTED.min(hard))
}

/// Linux: raises the soft limit on open files (commonly 1024) towards the hard limit.
/// WebKitGTK 2.50 keeps one 4 KiB shared-memory file (`memfd:WebKitSharedMemory`) open and
/// mapped in this process for every web view it has shown, after the view is destroyed, so a
/// popover opened fresh some thousand times would otherwise exhaust the limit. GLib, GTK and
/// WebKit wait on descriptors with poll(2), which has no `FD_SETSIZE` bound.
#[cfg(target_os = "linux")]
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `limit`, a valid, exclusive local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let wanted = open_file_limit(limit.rlim_cur, limit.rlim_max);
    if wanted == limit.rlim_cur {
        return;
    }
    limit.rlim_cur = wanted;
    // SAFETY: setrlimit reads one valid rlimit; the soft limit stays within the hard one.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    log::debug!("open file limit {wanted}: {}", rc == 0);
}

/// The helper processes WebKitGTK starts, by their `comm` (15 characters at most).
const WEB_PROCESS: &str = "WebKitWebProces";
const NETWORK_PROCESS: &str = "WebKitNetworkPr";

/// What to do with this process's WebKit children once the web view is gone: the pids of
/// idle network processes to end, only when no web process is left (`children`: pid and
/// `comm` of each child).
pub fn idle_network_processes(children: &[(u32, String)]) -> Vec<u32> {
    if children.iter().any(|(_, comm)| comm == WEB_PROCESS) {
        return Vec::new();
    }
    children
        .iter()
        .filter(|(_, comm)| comm == NETWORK_PROCESS)
        .map(|(pid, _)| *pid)
        .collect()
}

/// This process's children (pid, `comm`), from `/proc/self/task/*/children`.
#[cfg(target_os = "linux")]
fn children() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(list) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        for pid in list
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
                out.push((pid, comm.trim_end().to_owned()));
            }
        }
    }
    out
}

/// Linux: ends WebKit's network process once the last web view is gone and its web process
/// has exited. Tauri keeps the web context alive for the app's life on Linux, and WebKitGTK
/// does not end that context's network process when no web view is left (tauri-runtime-wry's
/// `WebviewWrapper::drop`, citing tauri-apps/tauri#14626); the next web view makes WebKit
/// start a new one. Waits up to 5 s for the web process to go first; never touches anything
/// but this process's own WebKit children.
#[cfg(target_os = "linux")]
pub async fn end_idle_network_process() {
    for _ in 0..50 {
        let kids = children();
        if kids.iter().all(|(_, comm)| comm != WEB_PROCESS) {
            for pid in idle_network_processes(&kids) {
                let Ok(raw) = libc::pid_t::try_from(pid) else {
                    continue;
                };
                // SAFETY: kill has no memory preconditions. `raw` is a child of this process,
                // read from /proc/self/task/*/children just now: a child's pid cannot be reused
                // before this process (WebKit's child watch) reaps it.
                let ended = unsafe { libc::kill(raw, libc::SIGTERM) } == 0;
                log::debug!("WebKit network process {pid} ended: {ended}");
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    log::debug!("WebKit's web process still runs 5 s after the web view closed");
}

/// Elsewhere WebKit ends its processes itself.
#[cfg(not(target_os = "linux"))]
pub async fn end_idle_network_process() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mappings from `/proc/self/smaps` of a Python process on Linux 6.x (fields the parser
    /// does not read left out), plus a deleted memfd and a locked mapping.
    const SMAPS: &str = "\
55adaef95000-55adaef96000 r--p 00000000 fe:00 18504                      /root/.pyenv/versions/3.11.7/bin/python3.11
Rss:                   4 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd mr mw me 
55adaef96000-55adaef97000 r-xp 00001000 fe:00 18504                      /root/.pyenv/versions/3.11.7/bin/python3.11
Rss:                   4 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me 
55adaef97000-55adaef98000 r--p 00002000 fe:00 18504                      /root/.pyenv/versions/3.11.7/bin/python3.11
Rss:                   0 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd mr mw me 
55adaef98000-55adaef99000 r--p 00002000 fe:00 18504                      /root/.pyenv/versions/3.11.7/bin/python3.11
Rss:                   4 kB
Anonymous:             4 kB
Locked:                0 kB
VmFlags: rd mr mw me ac 
55adaef99000-55adaef9a000 rw-p 00003000 fe:00 18504                      /root/.pyenv/versions/3.11.7/bin/python3.11
Rss:                   4 kB
Anonymous:             4 kB
Locked:                0 kB
VmFlags: rd wr mr mw me ac 
55ade0aa6000-55ade0c35000 rw-p 00000000 00:00 0                          [heap]
Rss:                1544 kB
Anonymous:          1544 kB
Locked:                0 kB
VmFlags: rd wr mr mw me ac 
7f0455fd7000-7f0455fdc000 r-xp 00003000 fe:00 21536                      /usr/lib/x86_64-linux-gnu/libz.so.1.2.13
Rss:                  20 kB
Anonymous:             0 kB
Locked:               20 kB
VmFlags: rd ex mr mw me lo 
7f0455fdc000-7f0455fdf000 r--s 00000000 00:01 2048                       /memfd:WebKitSharedMemory (deleted)
Rss:                  12 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd sh mr mw me 
7f0455fe0000-7f0455fe3000 r--p 00000000 00:01 2049                       /usr/lib/old.so (deleted)
Rss:                  12 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd mr mw me 
7ffd3b5f0000-7ffd3b5f2000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me de sd 
";

    #[test]
    fn only_unmodified_private_file_pages_are_released() {
        let ranges = releasable_ranges(SMAPS);
        // The binary's read-only header and code; not the empty one, the relocated RELRO
        // page, the data, the heap, the locked library, the memfd, the deleted file, vdso.
        assert_eq!(
            ranges,
            vec![
                FileRange {
                    start: 0x55ad_aef9_5000,
                    end: 0x55ad_aef9_6000,
                    rss_kb: 4
                },
                FileRange {
                    start: 0x55ad_aef9_6000,
                    end: 0x55ad_aef9_7000,
                    rss_kb: 4
                },
            ]
        );
        assert!(releasable_ranges("").is_empty());
        assert!(releasable_ranges("not smaps\nRss: 4 kB\n").is_empty());
    }

    #[test]
    fn a_segment_span_covers_whole_pages_and_holds_only_its_mappings() {
        // libz's code segment: p_vaddr 0x3000, p_memsz 0x4a51, loaded at 0x7f04_55fd_4000.
        let span = segment_span(0x7f04_55fd_4000, 0x3000, 0x4a51, 4096);
        assert_eq!(span, (0x7f04_55fd_7000, 0x7f04_55fd_c000));
        // An unaligned segment start rounds down to its page.
        assert_eq!(segment_span(0x1000, 0x2010, 0x10, 4096), (0x3000, 0x4000));
        let inside = FileRange {
            start: 0x7f04_55fd_7000,
            end: 0x7f04_55fd_c000,
            rss_kb: 20,
        };
        let after = FileRange {
            start: 0x7f04_55fd_c000,
            end: 0x7f04_55fd_d000,
            rss_kb: 4,
        };
        let across = FileRange {
            start: 0x7f04_55fd_6000,
            end: 0x7f04_55fd_8000,
            rss_kb: 8,
        };
        assert!(within_span(&inside, span));
        assert!(!within_span(&after, span));
        assert!(!within_span(&across, span));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn released_pages_read_back_the_same() {
        // This test binary's own code and read-only data: released, then still intact.
        let before = RELEASED_MARKER.to_owned();
        let kb = release_file_pages();
        assert!(kb > 0, "this process has read-only file pages to release");
        assert_eq!(RELEASED_MARKER, before);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let resident: u64 = releasable_ranges(&smaps).iter().map(|r| r.rss_kb).sum();
        assert!(
            resident < kb,
            "resident {resident} kB after releasing {kb} kB"
        );
    }

    #[cfg(target_os = "linux")]
    const RELEASED_MARKER: &str = "read-only data of this test binary";

    #[test]
    fn the_open_file_limit_only_goes_up_within_the_hard_limit() {
        assert_eq!(open_file_limit(1024, 524_288), OPEN_FILES_WANTED);
        assert_eq!(open_file_limit(1024, 4096), 4096);
        assert_eq!(open_file_limit(1024, 1024), 1024);
        assert_eq!(open_file_limit(100_000, 1_048_576), 100_000);
    }

    #[test]
    fn the_network_process_goes_only_after_the_web_process() {
        let net = (41, NETWORK_PROCESS.to_owned());
        let web = (42, WEB_PROCESS.to_owned());
        let other = (43, "sh".to_owned());
        assert_eq!(
            idle_network_processes(&[net.clone(), web]),
            Vec::<u32>::new()
        );
        assert_eq!(idle_network_processes(&[net, other]), vec![41]);
        assert!(idle_network_processes(&[]).is_empty());
    }
}
