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
/// back (`malloc_trim(3)`), so the process shrinks instead of keeping the page's peak.
pub fn after_web_view_closed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only releases free memory.
        let released = unsafe { libc::malloc_trim(0) };
        log::debug!("malloc_trim released memory: {}", released != 0);
    }
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
