//! Real MLX processes under the real Python agent (`.venv`, `agent/`), read and driven
//! through [`MlxMonitor`]; every figure is checked against the process's own MLX readings.

mod agents_common;

use agents_common::{runtime_dir, venv_python, Workload};
use headroom_core::agents::{AgentChange, LimitKind, MlxMonitor};
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn builder(py: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> Workload {
    let mut all = vec!["agent/tests/workloads/cache_builder.py"];
    all.extend_from_slice(args);
    let w = Workload::start(py, dir, &all);
    if !args.contains(&"--no-agent") {
        w.wait_socket(dir);
    }
    w
}

fn within_one_percent(a: u64, b: u64) -> bool {
    a.abs_diff(b) * 100 <= b.max(1)
}

#[tokio::test]
async fn stats_match_the_process_and_clear_cache_empties_it() {
    let Some(py) = venv_python("stats_match_the_process") else {
        return;
    };
    let dir = runtime_dir();
    let mut w = builder(&py, dir.path(), &["64MiB"]);
    let mut m = MlxMonitor::new(dir.path().to_path_buf());
    let poll = m.poll().await;
    assert_eq!(poll.changes.len(), 1, "{:?}", poll.changes);
    let own = w.ask_number("cache", "CACHE");
    assert!(own >= 60 * MIB, "workload built only {own} bytes");
    let p = poll
        .processes
        .iter()
        .find(|p| p.pid == w.pid)
        .expect("listed");
    assert!(p.attached, "{p:?}");
    assert!(
        within_one_percent(p.cache.unwrap_or(0), own),
        "{p:?} vs {own}"
    );
    assert_eq!(p.backend.as_deref(), Some("cpu"));
    assert!(p
        .mlx_version
        .as_deref()
        .is_some_and(|v| v.starts_with("0.")));
    assert!(p.footprint.unwrap_or(0) > own / 2, "footprint {p:?}");
    let out = m.clear_cache(&[w.pid]).await;
    assert!(out[0].ok, "{out:?}");
    assert!(
        within_one_percent(out[0].freed.unwrap_or(0), own),
        "{out:?}"
    );
    assert_eq!(w.ask_number("cache", "CACHE"), 0);
    let after = m.poll().await;
    assert_eq!(
        after
            .processes
            .iter()
            .find(|p| p.pid == w.pid)
            .and_then(|p| p.cache),
        Some(0)
    );
}

#[tokio::test]
async fn a_cache_limit_is_obeyed_by_mlx() {
    let Some(py) = venv_python("a_cache_limit_is_obeyed") else {
        return;
    };
    let dir = runtime_dir();
    let mut w = builder(&py, dir.path(), &["16MiB"]);
    let m = MlxMonitor::new(dir.path().to_path_buf());
    let out = m.set_limit(LimitKind::Cache, 8 * MIB, &[]).await;
    assert!(out[0].ok, "{out:?}");
    assert_eq!(out[0].previous, Some(32 * MIB));
    assert_eq!(out[0].current, Some(8 * MIB));
    w.ask_number("clear", "CLEARED");
    let cached = w.ask_number("build 64MiB", "BUILT");
    assert!(
        cached <= 8 * MIB,
        "MLX cached {cached} bytes over an 8 MiB limit"
    );
    let bad = m.set_limit(LimitKind::Memory, u64::MAX / 2, &[]).await;
    let e = bad[0].error.clone().expect("refused");
    assert_eq!(e.code, "invalid_argument", "{e:?}");
}

#[tokio::test]
async fn unattached_mlx_processes_appear_with_a_hint() {
    let Some(py) = venv_python("unattached_mlx_processes") else {
        return;
    };
    let dir = runtime_dir();
    let w = builder(&py, dir.path(), &["8MiB", "--no-agent"]);
    let mut m = MlxMonitor::new(dir.path().to_path_buf());
    let poll = m.poll().await;
    let p = poll
        .processes
        .iter()
        .find(|p| p.pid == w.pid)
        .expect("scan found the process");
    assert!(!p.attached && p.cache.is_none());
    let hint = p.hint.as_deref().unwrap_or_default();
    let want =
        "python -m headroom_agent run agent/tests/workloads/cache_builder.py 8MiB --no-agent`";
    let raw = std::fs::read(format!("/proc/{}/cmdline", w.pid)).unwrap_or_default();
    assert!(
        hint.contains(want),
        "{hint} -- cmdline {:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(p.footprint.unwrap_or(0) > 8 * MIB, "{p:?}");
    let out = m.clear_cache(&[w.pid]).await;
    assert_eq!(
        out[0].error.as_ref().map(|e| e.code.as_str()),
        Some("not_attached")
    );
}

#[tokio::test]
async fn a_tiny_llm_under_the_agent_moves_its_numbers() {
    let Some(py) = venv_python("a_tiny_llm_under_the_agent") else {
        return;
    };
    let dir = runtime_dir();
    let args = [
        "-m",
        "headroom_agent",
        "run",
        "agent/tests/workloads/tiny_llm.py",
        "--report-every",
        "0.2",
    ];
    let mut w = Workload::start(&py, dir.path(), &args);
    w.wait_socket(dir.path());
    let mut m = MlxMonitor::new(dir.path().to_path_buf());
    let first = m.poll().await;
    assert!(
        matches!(first.changes.as_slice(), [AgentChange::Attached { pid, .. }] if *pid == w.pid)
    );
    let mut seen = Vec::new();
    for _ in 0..10 {
        w.line_starting("TPS", Duration::from_secs(30));
        let poll = m.poll().await;
        let p = poll
            .processes
            .into_iter()
            .find(|p| p.pid == w.pid)
            .expect("listed");
        assert!(p.attached, "{p:?}");
        seen.push((
            p.active.unwrap_or(0),
            p.cache.unwrap_or(0),
            p.peak.unwrap_or(0),
        ));
    }
    assert!(seen.iter().all(|s| s.2 > 0 && s.0 > 0), "{seen:?}");
    let distinct: std::collections::HashSet<_> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert!(
        distinct.len() > 1,
        "active/cache never moved while generating: {seen:?}"
    );
    let reset = m.reset_peak(&[w.pid]).await;
    assert!(
        reset[0].ok && reset[0].previous.unwrap_or(0) > 0,
        "{reset:?}"
    );
}

#[tokio::test]
async fn rescans_find_new_processes_without_blocking_polls() {
    let Some(py) = venv_python("rescans_find_new_processes") else {
        return;
    };
    let dir = runtime_dir();
    let mut m = MlxMonitor::new(dir.path().to_path_buf());
    m.set_rescan_interval(Duration::from_millis(300));
    m.poll().await;
    let w = builder(&py, dir.path(), &["1MiB", "--no-agent"]);
    let start = std::time::Instant::now();
    loop {
        let t = std::time::Instant::now();
        let poll = m.poll().await;
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "a poll waited {:?} for a scan",
            t.elapsed()
        );
        if poll.processes.iter().any(|p| p.pid == w.pid && !p.attached) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rescan never found pid {}",
            w.pid
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = w.pid;
    drop(w);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let poll = m.poll().await;
    assert!(
        poll.processes.iter().all(|p| p.pid != pid),
        "an exited process is dropped at once"
    );
}
