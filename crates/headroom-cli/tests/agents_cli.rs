//! `headroom status`, `clear-cache` and `limit` against real MLX processes under the real
//! Python agent, and the exit statuses of bad input and partial failure.
#![allow(clippy::expect_used)] // test helpers: a failure is a test failure

#[path = "../../headroom-core/tests/agents_common/mod.rs"]
mod agents_common;

use agents_common::{fake_agent_process, runtime_dir, venv_python, Fake, Workload};
use std::path::Path;
use std::process::Output;

const MIB: u64 = 1 << 20;

fn headroom(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("HEADROOM_RUNTIME_DIR", dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run headroom")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn builder(py: &Path, dir: &Path, args: &[&str]) -> Workload {
    let mut all = vec!["agent/tests/workloads/cache_builder.py"];
    all.extend_from_slice(args);
    let w = Workload::start(py, dir, &all);
    if !args.contains(&"--no-agent") {
        w.wait_socket(dir);
    }
    w
}

#[test]
fn watch_polls_the_agents_like_every_other_view() {
    let Some(py) = venv_python("watch_polls_the_agents") else {
        return;
    };
    let dir = runtime_dir();
    let mut w = builder(&py, dir.path(), &["128MiB"]);
    let own = w.ask_number("cache", "CACHE");
    assert!(own >= 128 * MIB, "the workload holds {own}");
    let out = headroom(dir.path(), &["watch", "--json", "--count", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let p = line["mlx"]
        .as_array()
        .expect("mlx list")
        .iter()
        .find(|p| p["pid"] == w.pid)
        .unwrap_or_else(|| panic!("{} not in {line}", w.pid))
        .clone();
    assert_eq!(p["attached"], true, "{p}");
    let cache = p["cache"].as_u64().expect("cache");
    assert!(
        cache.abs_diff(own) * 100 <= own,
        "watch says {cache}, the process {own}"
    );
    let out = headroom(dir.path(), &["watch", "--count", "1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "mlx cache {} in ",
            headroom_core::units::format_bytes(cache)
        )),
        "{stdout}"
    );
    // Other MLX processes of this machine (without the agent) may be counted too.
    assert!(stdout.contains(" MLX process"), "{stdout}");
}

#[test]
fn status_shows_the_cache_and_clear_cache_empties_it() {
    let Some(py) = venv_python("status_shows_the_cache") else {
        return;
    };
    let dir = runtime_dir();
    let mut w = builder(&py, dir.path(), &["64MiB"]);
    let own = w.ask_number("cache", "CACHE");
    let out = headroom(dir.path(), &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let p = v["mlx"]
        .as_array()
        .expect("mlx list")
        .iter()
        .find(|p| p["pid"] == w.pid)
        .expect("listed")
        .clone();
    assert_eq!(p["attached"], true);
    let cache = p["cache"].as_u64().expect("cache");
    assert!(
        cache.abs_diff(own) * 100 <= own,
        "status says {cache}, the process {own}"
    );
    for k in [
        "footprint",
        "active",
        "peak",
        "cache_limit",
        "memory_limit",
        "backend",
        "mlx_version",
        "name",
    ] {
        assert!(!p[k].is_null(), "{k} missing in {p}");
    }
    // Nobody set the MLX wired limit, and the agent never probes it: unknown.
    assert!(p.get("wired_limit").is_none(), "{p}");
    let human = headroom(dir.path(), &["status"]);
    assert!(
        text(&human.stdout).contains(&w.pid.to_string()),
        "{}",
        text(&human.stdout)
    );

    let out = headroom(dir.path(), &["clear-cache", "--pid", &w.pid.to_string()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("({own} bytes)")) || stdout.contains("freed 64.0 MB"),
        "{stdout}"
    );
    assert!(stdout.contains("Total    freed"), "{stdout}");
    assert_eq!(
        w.ask_number("cache", "CACHE"),
        0,
        "the process's own cache after clear-cache"
    );
}

#[test]
fn limit_cache_is_obeyed_and_bad_input_exits_2() {
    let Some(py) = venv_python("limit_cache_is_obeyed") else {
        return;
    };
    let dir = runtime_dir();
    let mut w = builder(&py, dir.path(), &["16MiB"]);
    let out = headroom(dir.path(), &["limit", "cache", "8MiB"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cache limit 8.0 MB (was 32.0 MB)"),
        "{}",
        text(&out.stdout)
    );
    w.ask_number("clear", "CLEARED");
    assert!(w.ask_number("build 64MiB", "BUILT") <= 8 * MIB);

    let bad = headroom(dir.path(), &["limit", "memory", "12XB"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("\"12XB\""),
        "{}",
        text(&bad.stderr)
    );
    let gone = headroom(dir.path(), &["clear-cache", "--pid", "999999999"]);
    assert_eq!(gone.status.code(), Some(2));
    assert!(
        text(&gone.stderr).contains("no process has pid 999999999"),
        "{}",
        text(&gone.stderr)
    );
    let plain = builder(&py, dir.path(), &["1MiB", "--no-agent"]);
    let na = headroom(
        dir.path(),
        &["limit", "cache", "0", "--pid", &plain.pid.to_string()],
    );
    assert_eq!(na.status.code(), Some(2));
    assert!(
        text(&na.stderr).contains("has no headroom agent: run `headroom agent enable --pid")
            && text(&na.stderr).contains(
                "-m headroom_agent run agent/tests/workloads/cache_builder.py 1MiB --no-agent`"
            ),
        "{}",
        text(&na.stderr)
    );
}

#[test]
fn partial_failure_exits_1_and_names_the_process() {
    let Some(py) = venv_python("partial_failure_exits_1") else {
        return;
    };
    let dir = runtime_dir();
    let _w = builder(&py, dir.path(), &["4MiB"]);
    let holder = fake_agent_process(dir.path(), Fake::Garbage);
    let out = headroom(dir.path(), &["clear-cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("in 1 of 2 processes: {}", holder.pid())),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("FAILED"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn no_agents_at_all_exits_2() {
    let dir = runtime_dir();
    let out = headroom(dir.path(), &["clear-cache"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no MLX process has the headroom agent"),
        "{}",
        text(&out.stderr)
    );
}
