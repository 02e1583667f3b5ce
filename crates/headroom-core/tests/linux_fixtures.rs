//! The Linux backend against captured and hand-written kernel trees
//! (`tests/fixtures/linux/*`, described in its README). Values are in kB as the files
//! state them; the derivation must give exactly these bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_core::platform::linux::LinuxReader;
use headroom_core::platform::{derive, RawSample};
use headroom_core::snapshot::{PressureLevel, Snapshot};
use std::path::PathBuf;

const KB: u64 = 1024;

fn fixture(name: &str) -> (Snapshot, RawSample) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/linux")
        .join(name);
    let raw = LinuxReader::new(root.join("proc"), root.join("sys")).read();
    (derive(&raw, chrono::Utc::now()).snapshot, raw)
}

fn has_reason(s: &Snapshot, prefix: &str) -> bool {
    s.unavailable.iter().any(|u| u.starts_with(prefix))
}

fn assert_parts_sum_to_total(s: &Snapshot) {
    let m = &s.memory;
    let parts = [m.app, m.wired, m.compressed, m.cached, m.free].map(|v| v.expect("part"));
    assert_eq!(parts.iter().sum::<u64>(), m.total.expect("total"), "{m:?}");
}

#[test]
fn zswap_active() {
    let (s, _) = fixture("zswap-active");
    let m = &s.memory;
    assert_eq!(m.total, Some(16_777_216 * KB));
    assert_eq!(m.free, Some(524_288 * KB));
    assert_eq!(
        m.cached,
        Some(3_473_408 * KB),
        "buffers + cached + sreclaimable - shmem"
    );
    assert_eq!(m.app, Some(9_699_328 * KB), "anon + shmem");
    assert_eq!(m.compressed, Some(1_048_576 * KB), "zswap pool");
    assert_eq!(m.wired, Some(2_031_616 * KB));
    assert_eq!(m.available, Some(4_194_304 * KB));
    assert_eq!(m.used, Some(12_582_912 * KB));
    assert_eq!(s.swap.used, Some(3_145_728 * KB));
    assert_eq!(s.pressure.free_percent, Some(25.0));
    assert_eq!(s.pressure.psi_some_avg10, Some(12.5));
    assert_eq!(
        s.pressure.level,
        Some(PressureLevel::Warn),
        "PSI some >= 10"
    );
    assert_parts_sum_to_total(&s);
}

#[test]
fn kernel_without_memavailable_estimates_it_and_says_so() {
    let (s, _) = fixture("no-memavailable");
    let m = &s.memory;
    assert_eq!(m.cached, Some(2_252_800 * KB));
    assert_eq!(m.available, Some(3_276_800 * KB), "free + cached");
    assert_eq!(m.used, Some(4_779_988 * KB));
    assert_eq!(m.wired, Some(479_188 * KB));
    assert_eq!(m.compressed, Some(0));
    assert_eq!(s.pressure.level, Some(PressureLevel::Normal));
    assert!(
        has_reason(&s, "memory.available: no MemAvailable"),
        "{:?}",
        s.unavailable
    );
    assert!(has_reason(&s, "pressure.psi"));
    assert!(has_reason(&s, "rates.compressions"));
    assert_parts_sum_to_total(&s);
}

#[test]
fn zram_devices_count_as_compressed() {
    let (s, _) = fixture("zram");
    assert_eq!(s.memory.compressed, Some(536_870_912 + 134_217_728));
    assert_eq!(s.memory.wired, Some(81_920 * KB));
    assert_eq!(s.swap.used, Some((4_030_460 - 2_000_000) * KB));
    assert_parts_sum_to_total(&s);
}

#[test]
fn two_tib_machine_does_not_overflow() {
    let (s, _) = fixture("2tib");
    assert_eq!(s.memory.total, Some(2 << 40));
    assert_eq!(s.memory.used, Some(256 << 30));
    assert_eq!(s.memory.wired, Some(57_671_680 * KB));
    assert_eq!(s.swap.total, Some(0));
    assert_parts_sum_to_total(&s);
}

#[test]
fn tiny_vm_is_critical() {
    let (s, _) = fixture("tiny-vm");
    assert_eq!(s.memory.total, Some(256 << 20));
    assert_eq!(s.memory.app, Some(197_632 * KB));
    assert_eq!(s.pressure.free_percent, Some(3.125));
    assert_eq!(s.pressure.level, Some(PressureLevel::Critical));
    assert_parts_sum_to_total(&s);
}

#[test]
fn truncated_files_give_nulls_with_reasons_not_panics() {
    let (s, _) = fixture("truncated");
    assert_eq!(s.memory.total, Some(24_682_416 * KB));
    assert_eq!(s.memory.free, Some(22_201_396 * KB));
    assert_eq!(
        s.memory.available, None,
        "a line cut mid-number is not a value"
    );
    assert_eq!(s.memory.used, None);
    assert_eq!(s.pressure.level, None);
    for field in [
        "memory.available",
        "memory.used",
        "pressure.psi",
        "pressure.level",
        "rates.swapins",
    ] {
        assert!(
            has_reason(&s, field),
            "{field} missing from {:?}",
            s.unavailable
        );
    }
}

#[test]
fn missing_root_reports_every_source() {
    let raw = LinuxReader::new("/nonexistent/proc", "/nonexistent/sys").read();
    let s = derive(&raw, chrono::Utc::now()).snapshot;
    assert_eq!(s.memory.total, None);
    assert!(
        has_reason(&s, "source: /nonexistent/proc/meminfo"),
        "{:?}",
        s.unavailable
    );
    assert!(has_reason(&s, "memory.total"));
}

#[test]
fn captured_host_tree_matches_its_own_meminfo() {
    let (s, raw) = fixture("host-vm-24g");
    let RawSample::Linux(raw) = raw else {
        panic!("linux")
    };
    let text = raw.meminfo.expect("meminfo");
    let kb = |k: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{k}:")))
            .expect(k);
        line.split_whitespace()
            .nth(1)
            .expect("value")
            .parse::<u64>()
            .expect("number")
            * KB
    };
    assert_eq!(s.memory.total, Some(kb("MemTotal")));
    assert_eq!(s.memory.available, Some(kb("MemAvailable")));
    assert_eq!(s.memory.free, Some(kb("MemFree")));
    assert_eq!(
        s.memory.compressed,
        Some(0),
        "zram0 present but unused, zswap empty"
    );
    assert_eq!(s.pressure.level, Some(PressureLevel::Normal));
    assert_parts_sum_to_total(&s);
}

#[test]
fn this_machine_live_sample_matches_proc_meminfo() {
    // Real-host smoke test: total exact, available within 1 % of a read made just after.
    let mut sampler = headroom_core::Sampler::new();
    let s = sampler.sample();
    let text = std::fs::read_to_string("/proc/meminfo").expect("this test runs on Linux");
    let kb = |k: &str| headroom_core::platform::linux::meminfo_field(&text, k).expect(k);
    assert_eq!(s.memory.total, Some(kb("MemTotal")));
    let (a, b) = (
        s.memory.available.expect("available") as f64,
        kb("MemAvailable") as f64,
    );
    assert!((a - b).abs() / b < 0.01, "available {a} vs {b}");
    let second = sampler.sample();
    assert!(
        second.rates.swapins.is_some(),
        "second sample has rates: {:?}",
        second.unavailable
    );
}
