//! Binary tests of `headroom status` and `headroom watch`: exit codes, JSON contract,
//! `HEADROOM_PROC_ROOT` replay, error messages, clean Ctrl-C.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn headroom() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
    c.env_remove("NO_COLOR");
    c
}

fn fixture_root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../headroom-core/tests/fixtures/linux")
        .join(name)
}

fn replay(name: &str, args: &[&str]) -> Output {
    let root = fixture_root(name);
    headroom()
        .args(args)
        .env("HEADROOM_PROC_ROOT", root.join("proc"))
        .env("HEADROOM_SYS_ROOT", root.join("sys"))
        .output()
        .expect("run headroom")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn status_json_has_every_contract_key() {
    let out = headroom().args(["status", "--json"]).output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["platform"], "linux");
    assert!(chrono::DateTime::parse_from_rfc3339(v["at"].as_str().expect("at")).is_ok());
    let keys = [
        (
            "memory",
            &[
                "total",
                "used",
                "app",
                "wired",
                "compressed",
                "cached",
                "free",
                "available",
            ][..],
        ),
        ("swap", &["total", "used"]),
        ("pressure", &["level", "free_percent"]),
        (
            "rates",
            &["swapins", "swapouts", "compressions", "decompressions"],
        ),
        ("gpu", &["wired_limit", "recommended_working_set"]),
    ];
    for (group, fields) in keys {
        for f in fields {
            assert!(v[group].get(*f).is_some(), "{group}.{f} missing");
        }
    }
    assert!(v["memory"]["total"].is_u64(), "bytes are integers");
    assert!(v["rates"]["swapins"].is_null(), "null on the first sample");
    assert!(v["unavailable"]
        .as_array()
        .expect("array")
        .iter()
        .any(|u| u.as_str().is_some_and(|s| s.starts_with("gpu.wired_limit"))));
    assert!(v["mlx"].is_array());
}

#[test]
fn status_replays_a_fixture_tree() {
    let out = replay("zswap-active", &["status", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["memory"]["total"], 16_777_216u64 * 1024);
    assert_eq!(v["memory"]["compressed"], 1_048_576u64 * 1024);
    assert_eq!(v["pressure"]["level"], "warn");
}

#[test]
fn status_text_without_a_terminal_has_no_colour() {
    let out = replay("tiny-vm", &["status"]);
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("Critical"), "{text}");
    assert!(text.contains("256.0 MB"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no escape codes when not a terminal"
    );
}

#[test]
fn truncated_tree_still_exits_zero_with_reasons() {
    let out = replay("truncated", &["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["memory"]["available"].is_null());
    let reasons = v["unavailable"].to_string();
    assert!(reasons.contains("memory.available"), "{reasons}");
}

#[test]
fn watch_json_prints_one_line_per_sample_with_rates_from_the_second() {
    let out = headroom()
        .args(["watch", "--json", "--interval", "150ms", "--count", "3"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["rates"]["swapouts"].is_null());
    assert!(lines[1]["rates"]["swapouts"].is_number());
}

#[test]
fn bad_input_exits_2_naming_the_value() {
    let cases: [(&[&str], &str); 4] = [
        (&["watch", "--interval", "0"], "\"0\""),
        (&["watch", "--interval", "abc"], "\"abc\""),
        (&["watch", "--interval", "10ms"], "at least 100ms"),
        (&["status", "--bogus"], "--bogus"),
    ];
    for (args, needle) in cases {
        let out = headroom().args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn watch_exits_zero_on_ctrl_c() {
    let mut child = headroom()
        .args(["watch", "--interval", "100ms"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill with a valid pid of our own child and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert_eq!(status.code(), Some(0));
            return;
        }
        assert!(Instant::now() < deadline, "watch did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}
