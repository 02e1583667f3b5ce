//! `headroom selftest` on this machine: the real binary against the real `free -b` and
//! `/proc/pressure/memory`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_headroom");

fn required() -> bool {
    std::env::var_os("HEADROOM_E2E_REQUIRED").is_some_and(|v| v == "1")
}

#[test]
fn selftest_passes_here_and_compares_with_the_system_tools() {
    if cfg!(not(target_os = "linux")) {
        return; // the macOS workflow runs `headroom selftest` itself
    }
    let runtime = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["selftest", "--json"])
        .env("HEADROOM_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["platform"], "linux");

    let comparisons = report["comparisons"].as_array().unwrap();
    let row = |name: &str| {
        comparisons
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} row: {text}"))
    };
    for name in [
        "memory.total",
        "memory.available",
        "memory.free",
        "swap.total",
        "swap.used",
    ] {
        let c = row(name);
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["tool"].as_str().unwrap().starts_with("free -b"), "{c}");
    }
    // The total is the kernel's own MemTotal, to the byte.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        row("memory.total")["system"].as_f64().unwrap(),
        (kb * 1024) as f64
    );
    assert_eq!(row("memory.total")["tolerance"].as_f64().unwrap(), 0.0);

    let psi = std::path::Path::new("/proc/pressure/memory").exists();
    assert!(
        psi || !required(),
        "PSI (/proc/pressure/memory) is missing on this kernel"
    );
    if psi {
        assert_eq!(row("pressure.psi_some_avg10")["ok"], true);
    }
    let rows = report["rows"].as_array().unwrap();
    for name in [
        "free -b",
        "/proc/meminfo",
        "MLX scan",
        "agent socket path",
        "agent discovery",
    ] {
        let r = rows
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {text}"));
        assert_eq!(r["status"], "ok", "{r}");
    }
    assert!(report["tolerances"].as_array().unwrap().len() >= 4);

    // The table for a person says the same.
    let table = Command::new(BIN)
        .arg("selftest")
        .env("HEADROOM_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("free -b: Mem available") && table.contains("selftest passed"),
        "{table}"
    );
}
