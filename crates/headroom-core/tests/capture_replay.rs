//! Captures: a live round trip on this machine, every capture in `captures/` replaying, and
//! the refusals (truncated, newer version, wrong type, negative count).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use headroom_core::capture::{this_host, Capture};
use headroom_core::platform::{RawSample, TimedRaw};
use headroom_core::snapshot::Platform;
use headroom_core::Sampler;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures")
}

fn all_captures() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn macos_capture_text() -> String {
    all_captures()
        .into_iter()
        .find(|(n, _)| n.starts_with("macos-"))
        .unwrap()
        .1
}

fn refusal(v: &Value) -> String {
    Capture::from_json(&v.to_string()).unwrap_err().0
}

/// On Linux in CI; on a Mac the same test exercises the macOS reader.
#[test]
fn live_round_trip_equals_the_live_derivation() {
    let mut live = Sampler::new();
    let mut raws: Vec<TimedRaw> = Vec::new();
    let mut snaps = Vec::new();
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
        let timed = live.read_raw();
        snaps.push(live.derive_timed(&timed));
        raws.push(timed);
    }
    let mut capture = Capture::new(this_host(Some(&raws[0].raw)), chrono::Utc::now());
    capture.samples = raws;
    let text = capture.to_json().unwrap();
    let back = Capture::from_json(&text).unwrap();
    assert_eq!(back.host.os, headroom_core::platform::HOST_PLATFORM);
    assert_eq!(back.replay(), snaps, "replay differs from the live path");
    assert!(snaps[2].rates.swapouts.is_some() || !snaps[2].unavailable.is_empty());
}

#[test]
fn every_capture_in_the_folder_loads_and_replays() {
    let caps = all_captures();
    assert!(caps.len() >= 4, "captures/ holds {} files", caps.len());
    for (name, text) in caps {
        let c = Capture::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let snaps = c.replay();
        assert_eq!(snaps.len(), c.samples.len(), "{name}");
        for s in &snaps {
            assert_eq!(s.platform, c.host.os, "{name}");
            assert!(
                s.memory.used.is_some() && s.memory.total.is_some(),
                "{name}"
            );
            assert!(s.memory.used <= s.memory.total, "{name}");
        }
        if snaps.len() > 1 {
            assert!(
                snaps[1].rates.swapins.is_some(),
                "{name}: rates on sample 2"
            );
        }
    }
}

#[test]
fn linux_capture_replays_to_meminfo() {
    let (name, text) = all_captures()
        .into_iter()
        .find(|(n, _)| n.starts_with("linux-"))
        .unwrap();
    let c = Capture::from_json(&text).unwrap();
    for (t, s) in c.samples.iter().zip(c.replay()) {
        let RawSample::Linux(raw) = &t.raw else {
            panic!("{name}: not Linux");
        };
        let meminfo = raw.meminfo.as_deref().unwrap();
        let kb = |k: &str| headroom_core::platform::linux::meminfo_field(meminfo, k).unwrap();
        assert_eq!(s.memory.total, Some(kb("MemTotal")), "{name}");
        assert_eq!(s.memory.available, Some(kb("MemAvailable")), "{name}");
        assert_eq!(
            s.memory.used,
            Some(kb("MemTotal") - kb("MemAvailable")),
            "{name}"
        );
    }
}

#[test]
fn refuses_truncated_files() {
    let text = macos_capture_text();
    for cut in [1, text.len() / 3, text.len() - 3] {
        let msg = Capture::from_json(&text[..cut]).unwrap_err().0;
        assert!(msg.contains("not valid JSON"), "{msg}");
    }
}

#[test]
fn refuses_an_unknown_version_naming_it() {
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["version"] = 7.into();
    let msg = refusal(&v);
    assert!(msg.contains("`version`: 7 is newer"), "{msg}");
    v.as_object_mut().unwrap().remove("version");
    assert!(refusal(&v).contains("`version`: missing"));
}

#[test]
fn refuses_a_field_of_the_wrong_type_naming_its_path() {
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["samples"][0]["raw"]["vm"]["wire_count"] = "lots".into();
    let msg = refusal(&v);
    assert!(msg.contains("`samples[0].raw.vm.wire_count`"), "{msg}");
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["host"]["os"] = "windows".into();
    assert!(refusal(&v).contains("`host.os`"));
}

#[test]
fn refuses_negative_counts_naming_the_field() {
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["samples"][0]["raw"]["vm"]["free_count"] = (-5).into();
    let msg = refusal(&v);
    assert!(msg.contains("`samples[0].raw.vm.free_count`"), "{msg}");
    assert!(msg.contains("-5"), "{msg}");
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["samples"][0]["monotonic_ns"] = (-1).into();
    assert!(refusal(&v).contains("`samples[0].monotonic_ns`"));
}

#[test]
fn refuses_a_missing_field_naming_it() {
    let mut v: Value = serde_json::from_str(&macos_capture_text()).unwrap();
    v["samples"][0]["raw"]["vm"]
        .as_object_mut()
        .unwrap()
        .remove("internal_page_count");
    let msg = refusal(&v);
    assert!(msg.contains("samples[0].raw.vm"), "{msg}");
    assert!(msg.contains("internal_page_count"), "{msg}");
}

#[test]
fn a_macos_capture_replays_here_as_macos() {
    let c = Capture::from_json(&macos_capture_text()).unwrap();
    let s = c.replay().remove(0);
    assert_eq!(s.platform, Platform::Macos);
    assert!(s.memory.app.is_some());
}
