//! `headroom selftest`'s parsers and comparisons, fed with real outputs of `free -b`,
//! `vm_stat`, `memory_pressure -Q` and `sysctl vm.swapusage` (tests/fixtures/selftest/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use headroom_core::capture::Capture;
use headroom_core::platform::linux::LinuxRaw;
use headroom_core::platform::macos::{MacRaw, VmStatistics64, XswUsage};
use headroom_core::platform::{derive, RawSample};
use headroom_core::selftest::{self, Around, MacTools};
use headroom_core::snapshot::Snapshot;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

fn fixture(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/selftest");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures")
}

fn snapshot(raw: RawSample) -> Snapshot {
    derive(&raw, Utc::now()).snapshot
}

fn still(s: &Snapshot) -> Around<'_> {
    Around {
        before: s,
        after: s,
    }
}

#[test]
fn free_b_parses_the_real_output() {
    let f = selftest::parse_free_b(&fixture("linux-free-b.txt")).unwrap();
    assert_eq!(f.total, 25_276_182_528);
    assert_eq!(f.free, 10_591_301_632);
    assert_eq!(f.available, 22_847_488_000);
    assert_eq!((f.swap_total, f.swap_used), (0, 0));
    let e = selftest::parse_free_b("total used\nMem: 1 2 x\nSwap: 0 0 0").unwrap_err();
    assert!(e.contains("\"x\""), "{e}");
    assert!(selftest::parse_free_b("nothing")
        .unwrap_err()
        .contains("Mem:"));
}

#[test]
fn linux_figures_agree_with_free_b_and_psi_at_the_same_moment() {
    let raw = LinuxRaw {
        meminfo: Some(fixture("linux-meminfo.txt")),
        pressure_memory: Some(fixture("linux-pressure-memory.txt")),
        page_size: 4096,
        ..LinuxRaw::default()
    };
    let s = snapshot(RawSample::Linux(raw));
    let free = selftest::parse_free_b(&fixture("linux-free-b.txt")).unwrap();
    let psi = fixture("linux-pressure-memory.txt");
    let rows = selftest::compare_linux(still(&s), &free, Some(&psi));
    let names: Vec<_> = rows.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "memory.total",
            "memory.available",
            "memory.free",
            "swap.total",
            "swap.used",
            "pressure.psi_some_avg10"
        ]
    );
    for c in &rows {
        assert!(c.ok, "{c:?}");
        assert_eq!(c.difference, 0.0, "{c:?}");
    }
    // A `free` that saw 1 GiB less available than both samples is out of tolerance
    // (max(64 MiB, 2 % of 23.5 GiB) = 482 MiB).
    let moved = selftest::FreeB {
        available: free.available - 1024 * MIB,
        ..free
    };
    let c = &selftest::compare_linux(still(&s), &moved, None)[1];
    assert!(!c.ok && c.outside == (1024 * MIB) as f64, "{c:?}");
    assert!((c.tolerance - 0.02 * 25_276_182_528.0).abs() < 1.0);
}

#[test]
fn the_band_of_two_samples_absorbs_what_moved_while_the_tool_ran() {
    let c = selftest::compare("m", "t", "bytes", (100.0, 300.0), 250.0, 0.0);
    assert!(c.ok && c.outside == 0.0 && c.difference == 50.0, "{c:?}");
    let c = selftest::compare("m", "t", "bytes", (300.0, 100.0), 40.0, 50.0);
    assert!(!c.ok && c.outside == 60.0, "{c:?}");
    let c = selftest::compare("m", "t", "bytes", (f64::NAN, f64::NAN), 40.0, 50.0);
    assert!(!c.ok, "a missing figure never agrees");
    assert_eq!(
        selftest::bytes_tolerance(Some(1024 * MIB)),
        (64 * MIB) as f64
    );
    assert_eq!(
        selftest::bytes_tolerance(Some(64 << 30)),
        (64u64 << 30) as f64 * 0.02
    );
}

#[test]
fn vm_stat_parses_real_dumps() {
    let intel = selftest::parse_vm_stat(&fixture("macos-intel-wazuh-22113.vm_stat.txt")).unwrap();
    assert_eq!(intel.page_size, 4096);
    assert_eq!(intel.get("Pages free").unwrap(), 6_127_229);
    assert_eq!(intel.get("Translation faults").unwrap(), 11_477_162);
    assert_eq!(intel.counters.len(), 22);
    let arm = selftest::parse_vm_stat(&fixture("macos-24gib-apple-silicon.vm_stat.txt")).unwrap();
    assert_eq!(arm.page_size, 16_384);
    assert_eq!(arm.bytes("Pages wired down").unwrap(), 212_530 * 16_384);
    assert!(arm
        .get("Pages nowhere")
        .unwrap_err()
        .contains("Pages nowhere"));
    assert!(selftest::parse_vm_stat("Mach Virtual Memory Statistics:\n")
        .unwrap_err()
        .contains("page size of N bytes"));
}

#[test]
fn memory_pressure_and_swapusage_parse_real_output() {
    let mp =
        selftest::parse_memory_pressure(&fixture("macos-24gib-apple-silicon.memory_pressure.txt"))
            .unwrap();
    assert_eq!(mp.free_percent, 80);
    assert_eq!(mp.total, Some(25_769_803_776));
    assert_eq!(mp.page_size, Some(16_384));
    // The shape another Mac printed (4 KiB pages, 16 GiB).
    let other = "The system has 17179869184 (4194304 pages with a page size of 4096).\n\
                 System-wide memory free percentage: 60%\n";
    let mp = selftest::parse_memory_pressure(other).unwrap();
    assert_eq!((mp.free_percent, mp.page_size), (60, Some(4096)));
    assert!(selftest::parse_memory_pressure("pressure?").is_err());

    let sw =
        selftest::parse_swapusage(&fixture("macos-24gib-apple-silicon.swapusage.txt")).unwrap();
    assert_eq!(sw.total, 4096 * MIB);
    assert_eq!(sw.used, (2694.19 * MIB as f64).round() as u64);
    assert_eq!(sw.free, (1401.81 * MIB as f64).round() as u64);
    assert!(selftest::parse_swapusage("vm.swapusage: total = lots")
        .unwrap_err()
        .contains("\"lots\""));
}

#[test]
fn a_recorded_intel_capture_agrees_with_its_own_vm_stat_dump() {
    // The capture was transcribed from the same dump, independently of this code.
    let text =
        std::fs::read_to_string(captures_dir().join("macos-intel-32gb-wazuh-22113.json")).unwrap();
    let s = Capture::from_json(&text).unwrap().replay().remove(0);
    let vm = selftest::parse_vm_stat(&fixture("macos-intel-wazuh-22113.vm_stat.txt")).unwrap();
    let tools = MacTools {
        vm_stat: Some(vm),
        ..MacTools::default()
    };
    let rows = selftest::compare_macos(still(&s), 4096, &tools);
    assert_eq!(rows.len(), 6, "{rows:?}");
    for c in &rows {
        assert!(c.ok && c.difference == 0.0, "{c:?}");
    }
}

/// The 24 GiB Apple-silicon Mac of the lab report, as Headroom's reader would record it:
/// free_count includes speculative (vm_stat prints free − speculative).
fn lab_mac(page_size: u64) -> MacRaw {
    MacRaw {
        vm: Some(Box::new(VmStatistics64 {
            free_count: 39_656 + 5_060,
            active_count: 591_525,
            inactive_count: 590_748,
            speculative_count: 5_060,
            wire_count: 212_530,
            purgeable_count: 11_333,
            external_page_count: 384_567,
            internal_page_count: 802_766,
            compressor_page_count: 90_849,
            ..VmStatistics64::default()
        })),
        page_size,
        memsize: Some(25_769_803_776),
        swap: Some(XswUsage {
            total: 4096 * MIB,
            used: (2694.19 * MIB as f64).round() as u64,
            avail: (1401.81 * MIB as f64).round() as u64,
            pagesize: 16_384,
            encrypted: true,
        }),
        pressure_level: Some(1),
        memorystatus_level: Some(80),
        ..MacRaw::default()
    }
}

fn lab_tools() -> MacTools {
    MacTools {
        vm_stat: Some(
            selftest::parse_vm_stat(&fixture("macos-24gib-apple-silicon.vm_stat.txt")).unwrap(),
        ),
        memory_pressure: Some(
            selftest::parse_memory_pressure(&fixture(
                "macos-24gib-apple-silicon.memory_pressure.txt",
            ))
            .unwrap(),
        ),
        swapusage: Some(
            selftest::parse_swapusage(&fixture("macos-24gib-apple-silicon.swapusage.txt")).unwrap(),
        ),
    }
}

#[test]
fn an_apple_silicon_mac_agrees_with_vm_stat_memory_pressure_and_swapusage() {
    let s = snapshot(RawSample::Macos(lab_mac(16_384)));
    let rows = selftest::compare_macos(still(&s), 16_384, &lab_tools());
    let names: Vec<_> = rows.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "page size",
            "memory.free",
            "memory.wired",
            "memory.compressed",
            "memory.app",
            "memory.cached",
            "pressure.free_percent",
            "memory.total",
            "swap.total",
            "swap.used"
        ]
    );
    for c in &rows {
        assert!(c.ok, "{c:?}");
    }
    let report = selftest::SelftestReport::new("macos", Vec::new(), rows);
    assert!(report.ok);
    assert!(selftest::render(&report).contains("selftest passed"));
}

#[test]
fn the_selftest_catches_figures_four_times_too_small() {
    // Multiplying by hw.pagesize (4096) in an x86_64 build under Rosetta.
    let s = snapshot(RawSample::Macos(lab_mac(4096)));
    let rows = selftest::compare_macos(still(&s), 4096, &lab_tools());
    let failed: Vec<_> = rows
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    // Free (620 MiB read as 155 MiB) stays inside the 2 % band of a 24 GiB Mac; the page
    // size itself and every larger figure fail.
    assert_eq!(
        failed,
        [
            "page size",
            "memory.wired",
            "memory.compressed",
            "memory.app",
            "memory.cached"
        ]
    );
    let report = selftest::SelftestReport::new("macos", Vec::new(), rows);
    assert!(!report.ok);
    assert!(selftest::render(&report).contains("selftest FAILED"));
}

#[test]
fn rows_name_each_read_and_fail_what_could_not_be_read() {
    let mut raw = lab_mac(16_384);
    raw.vm_count = Some(38);
    raw.vm_calls = Some(2);
    raw.hw_pagesize = Some(4096);
    raw.page_size_source = Some(headroom_core::platform::macos::PageSizeSource::HostPageSize);
    raw.wired_limit_mb = Some(0);
    raw.read_errors = vec!["kern.osproductversion: Operation not permitted".into()];
    let rows = selftest::raw_rows(&RawSample::Macos(raw));
    let find = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
    assert_eq!(
        find("HOST_VM_INFO64").value,
        "count 38 accepted after 2 call(s)"
    );
    assert_eq!(find("iogpu.wired_limit_mb").value, "0 MB");
    assert_eq!(find("kern.osproductversion").status, selftest::Status::Fail);
    assert_eq!(find("read error").status, selftest::Status::Fail);
    let long = selftest::runtime_rows(Path::new(&format!("/{}", "d".repeat(120))));
    assert_eq!(long[1].status, selftest::Status::Fail, "{long:?}");
    assert_eq!(
        selftest::syscalls_from_proc_io("rchar: 5\nsyscr: 7\nsyscw: 3\n"),
        Some(10)
    );
}
