//! `headroom capture` and `--replay` as a user runs them: exit codes, output, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn headroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures")
}

fn macos_capture() -> String {
    captures()
        .join("macos-26.5-24gb-vorssaint-763.json")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn capture_then_replay_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.json");
    let f = file.to_str().unwrap();
    let out = headroom(&["capture", "-o", f, "--samples", "2", "--interval", "100ms"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 samples"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["format"], "headroom-capture");
    assert!(
        doc.get("processes").is_none(),
        "nothing personal by default"
    );
    let out = headroom(&["status", "--replay", f, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(snap["memory"]["total"].as_u64().unwrap() > 0);
    assert!(
        !snap["rates"]["swapins"].is_null(),
        "rates from the 2nd sample"
    );
    let out = headroom(&["watch", "--replay", f, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn a_macos_capture_replays_on_linux_to_activity_monitor_figures() {
    let out = headroom(&["status", "--replay", &macos_capture(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["platform"], "macos");
    let used = snap["memory"]["used"].as_f64().unwrap() / f64::from(1u32 << 30);
    assert!((used - 17.62).abs() < 0.005, "used {used}");
    let out = headroom(&["status", "--replay", &macos_capture()]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("Replay") && shown.contains("macOS 26.5"),
        "{shown}"
    );
    assert!(shown.contains("17.6 GB of 24.0 GB"), "{shown}");
}

#[test]
fn refusals_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(macos_capture()).unwrap();
    let cases = [
        (
            "truncated.json",
            good[..good.len() / 2].to_string(),
            "truncated",
        ),
        (
            "newer.json",
            good.replace("\"version\": 1", "\"version\": 9"),
            "`version`: 9 is newer",
        ),
        (
            "negative.json",
            good.replace("\"wire_count\": 196608", "\"wire_count\": -1"),
            "`samples[0].raw.vm.wire_count`",
        ),
    ];
    for (name, body, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        for sub in ["status", "watch"] {
            let out = headroom(&[sub, "--replay", path.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2), "{sub} {name}");
            let err = text(&out.stderr);
            assert!(
                err.contains(want) && err.contains(name),
                "{sub} {name}: {err}"
            );
        }
    }
    let out = headroom(&["status", "--replay", "/nonexistent/capture.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/capture.json"));
}

#[test]
fn bad_capture_arguments_exit_2_naming_the_value() {
    for (args, want) in [
        (vec!["capture", "--samples", "0"], "1 to 3600"),
        (vec!["capture", "--interval", "10ms"], "at least 100ms"),
    ] {
        let out = headroom(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
}
