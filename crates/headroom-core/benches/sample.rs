//! One full system sample against the physical floor (reading the same kernel files without
//! parsing) and against sysinfo's `refresh_memory`, measured interleaved in one run.
//!
//! `cargo bench -p headroom-core --bench sample` prints medians and the ratio
//! (target: full sample ≤ 1.3 × raw read). Linux only: elsewhere it prints why it skipped.

use headroom_core::platform::kernel_file::KernelFile;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 41;
const ITERS: u32 = 300;

fn time_per_iter(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..ITERS {
        f();
    }
    start.elapsed() / ITERS
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The floor: read every file a sample reads the way the sampler does (kept open, `pread`
/// from offset 0, zram devices listed once), into a reused buffer, no parsing.
fn raw_read(buf: &mut Vec<u8>, files: &mut [KernelFile]) {
    for f in files {
        let _ = f.read(buf);
        black_box(&buf);
    }
}

/// The files of one sample on this machine: the three /proc files and every zram `mm_stat`.
fn kernel_files() -> Vec<KernelFile> {
    let zram = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("zram"))
        .map(|n| format!("/sys/block/{n}/mm_stat"));
    ["/proc/meminfo", "/proc/vmstat", "/proc/pressure/memory"]
        .map(String::from)
        .into_iter()
        .chain(zram)
        .map(|p| KernelFile::new(p.into(), true))
        .collect()
}

fn main() {
    if !cfg!(target_os = "linux") {
        println!("sample bench: skipped (it compares against Linux /proc reads)");
        return;
    }
    let mut files = kernel_files();
    let mut buf = Vec::with_capacity(8192);
    let mut sampler = headroom_core::Sampler::new();
    let mut sys = sysinfo::System::new();
    let (mut raw, mut full, mut si) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        raw.push(time_per_iter(|| raw_read(&mut buf, &mut files)));
        full.push(time_per_iter(|| {
            black_box(sampler.sample());
        }));
        si.push(time_per_iter(|| {
            sys.refresh_memory();
            black_box(sys.available_memory());
        }));
    }
    let (raw, full, si) = (median(raw), median(full), median(si));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("| measurement (median of {ROUNDS} rounds × {ITERS}) | µs/sample | × raw read |");
    println!("|---|---:|---:|");
    println!(
        "| raw read of the kernel files (floor) | {:.1} | 1.00 |",
        us(raw)
    );
    println!(
        "| headroom full sample (read + parse + derive) | {:.1} | {:.2} |",
        us(full),
        us(full) / us(raw)
    );
    println!(
        "| sysinfo refresh_memory | {:.1} | {:.2} |",
        us(si),
        us(si) / us(raw)
    );
    let ratio = us(full) / us(raw);
    println!(
        "full sample / raw read = {ratio:.2} (target ≤ 1.30: {})",
        if ratio <= 1.3 { "met" } else { "NOT met" }
    );
}
