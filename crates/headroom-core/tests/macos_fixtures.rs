//! macOS derivation against numbers published from real Macs.
//!
//! Each `tests/fixtures/macos/<name>.expected.json` names a capture in the top-level
//! `captures/` folder (raw counters transcribed from a public report, with its source) and
//! the figures the report gives: Activity Monitor's, to its two decimals in GiB, or exact
//! bytes worked out by hand from a full `vm_stat` dump. The capture is replayed through the
//! same functions the live macOS backend uses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use headroom_core::capture::Capture;
use headroom_core::snapshot::{PressureLevel, Snapshot};
use serde_json::Value;
use std::path::{Path, PathBuf};

const GIB: f64 = (1u64 << 30) as f64;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/macos")
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures")
}

/// Every expected-figures file, sorted, with its parsed content.
fn expectations() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn replay_first(exp: &Value) -> (Capture, Snapshot) {
    let file = captures_dir().join(exp["capture"].as_str().unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    let capture = Capture::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let snap = capture.replay().remove(0);
    (capture, snap)
}

fn field(s: &Snapshot, name: &str) -> Option<u64> {
    let m = &s.memory;
    match name {
        "used" => m.used,
        "app" => m.app,
        "wired" => m.wired,
        "compressed" => m.compressed,
        "cached" => m.cached,
        "free" => m.free,
        "available" => m.available,
        "swap_used" => s.swap.used,
        other => panic!("unknown field {other}"),
    }
}

/// Activity Monitor prints two decimals of GiB: the derived figure must round to it.
fn assert_am(name: &str, s: &Snapshot, am: &serde_json::Map<String, Value>) {
    for (k, want) in am {
        let want = want.as_f64().unwrap();
        let got = field(s, k).unwrap_or_else(|| panic!("{name}: {k} is null")) as f64 / GIB;
        assert!(
            (got - want).abs() <= 0.005 + 1e-9,
            "{name}: {k} = {got:.4} GiB, Activity Monitor showed {want:.2}"
        );
    }
}

#[test]
fn at_least_three_macs_of_different_sizes_and_versions() {
    let exps = expectations();
    assert!(exps.len() >= 3, "only {} macOS fixtures", exps.len());
    let mut sizes: Vec<u64> = exps
        .iter()
        .map(|(_, e)| replay_first(e).1.memory.total.unwrap())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert!(sizes.len() >= 3, "sizes {sizes:?}");
    for (name, e) in &exps {
        let (c, _) = replay_first(e);
        assert!(c.source.is_some(), "{name}: capture without its source");
        assert!(c.notes.is_some(), "{name}: capture without notes");
        assert!(e["closeness"].is_string(), "{name}: say how close we are");
    }
}

#[test]
fn replays_match_the_published_figures() {
    for (name, exp) in expectations() {
        let (_, s) = replay_first(&exp);
        if let Some(am) = exp["activity_monitor_gib"].as_object() {
            assert_am(&name, &s, am);
        }
        if let Some(exact) = exp["exact_bytes"].as_object() {
            for (k, want) in exact {
                assert_eq!(field(&s, k), want.as_u64(), "{name}: {k}");
            }
        }
    }
}

#[test]
fn used_exceeds_app_wired_compressed_by_the_published_gap() {
    for (name, exp) in expectations() {
        let (_, s) = replay_first(&exp);
        let m = &s.memory;
        let parts = m.app.unwrap() + m.wired.unwrap() + m.compressed.unwrap();
        let gap = m.used.unwrap() - parts;
        if let Some(g) = exp["gap_gib"].as_f64() {
            let got = gap as f64 / GIB;
            assert!(
                (got - g).abs() <= 0.011,
                "{name}: gap {got:.3} GiB, reported {g}"
            );
        }
        if let Some(g) = exp["gap_bytes"].as_u64() {
            assert_eq!(gap, g, "{name}: gap");
        }
    }
}

#[test]
fn intel_dump_is_internally_consistent() {
    let exps = expectations();
    let (_, exp) = exps.iter().find(|(n, _)| n.contains("intel")).unwrap();
    let (c, s) = replay_first(exp);
    let headroom_core::platform::RawSample::Macos(raw) = &c.samples[0].raw else {
        panic!("not a macOS capture");
    };
    let vm = raw.vm.as_ref().unwrap();
    // active + inactive + speculative (+ throttled) pages are exactly internal + external.
    assert_eq!(
        vm.active_count + vm.inactive_count + vm.speculative_count + vm.throttled_count,
        vm.internal_page_count + vm.external_page_count
    );
    assert_eq!(
        s.memory.free.unwrap() + s.memory.cached.unwrap(),
        s.memory.available.unwrap()
    );
    assert!(s.unavailable.iter().any(|u| u.starts_with("swap:")));
}

#[test]
fn tag_storage_survives_the_round_trip_and_pressure_maps() {
    for (name, exp) in expectations() {
        let (c, s) = replay_first(&exp);
        if name.contains("vorssaint") {
            let headroom_core::platform::RawSample::Macos(raw) = &c.samples[0].raw else {
                panic!("not macOS");
            };
            assert_eq!(raw.vm.as_ref().unwrap().extra.first(), Some(&49_152));
        }
        if exp["pressure"] == "normal" {
            assert_eq!(s.pressure.level, Some(PressureLevel::Normal), "{name}");
        }
    }
}
