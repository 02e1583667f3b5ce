//! MLX policies end to end with real MLX: the engine, the real agent in real MLX processes.
//!
//! - "every MLX process: cache 64MiB": a process started after the policy has a cache limit of
//!   64 MiB within 2 s of its agent attaching, by its own reading (`mx.set_cache_limit`
//!   returns the previous limit: MLX has no getter), and the journal records the values
//!   before and after; a limit set by hand overrides the policy for that process (a changed
//!   policy leaves it alone) while a process started afterwards gets the new policy.
//! - Idle trim: a process that built a cache and idles (cooperative mode: the clear runs at
//!   its next `tick()`) is trimmed once after the set time; a tiny mlx-lm model generating
//!   all along (its memory flat between KV steps, its CPU busy) is never trimmed.
//!
//! Skipped loudly when `.venv` (with `mlx[cpu]`) is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod agents_common;

use agents_common::{runtime_dir, venv_python, Workload};
use headroom_core::agents::LimitKind;
use headroom_core::engine::{self, EngineEvent, EngineHandle, EngineOptions};
use headroom_core::events::{Event, EventKind};
use headroom_core::policies::tracker::LimitSource;
use headroom_core::policies::LimitSpec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::Receiver;

const MIB: u64 = 1 << 20;

const CACHE_POLICY: &str = r#"
[sampling]
interval_ms = 200
mlx_poll_ms = 200
mlx_rescan_ms = 1000

[policies]
enabled = true

[[policies.list]]
id = "every-mlx-process"
cache = "64MiB"
"#;

fn options(tmp: &std::path::Path, rt: &std::path::Path, config: &str) -> EngineOptions {
    let opts = EngineOptions {
        config_path: tmp.join("config.toml"),
        data_dir: tmp.join("data"),
        runtime_dir: rt.to_path_buf(),
    };
    std::fs::write(&opts.config_path, config).unwrap();
    opts
}

/// The next journal entry for which `f` holds, within `within`.
async fn journal_until(
    rx: &mut Receiver<EngineEvent>,
    within: Duration,
    f: impl Fn(&Event) -> bool,
) -> Arc<Event> {
    tokio::time::timeout(within, async {
        loop {
            if let Ok(EngineEvent::Journal(e)) = rx.recv().await {
                if f(&e) {
                    return e;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no such journal entry within {within:?}"))
}

fn attached(pid: u32) -> impl Fn(&Event) -> bool {
    move |e| matches!(e.kind, EventKind::AgentAttached { pid: p, .. } if p == pid)
}

fn applied(pid: u32) -> impl Fn(&Event) -> bool {
    move |e| matches!(e.kind, EventKind::PolicyApplied { pid: p, .. } if p == pid)
}

/// The process's own reading of its cache limit.
fn cache_limit(w: &mut Workload) -> u64 {
    tokio::task::block_in_place(|| w.ask_number("cachelimit", "CACHELIMIT"))
}

fn cache_source(engine: &EngineHandle, pid: u32) -> Option<LimitSource> {
    let snap = engine.latest()?;
    let p = snap.mlx.iter().find(|p| p.pid == pid)?;
    Some(p.policy.as_ref()?.limits_source.first()?.source)
}

async fn wait_source(engine: &EngineHandle, pid: u32, want: LimitSource) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache_source(engine, pid) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "cache limit source of {pid} is {:?}, want {want:?}",
            cache_source(engine, pid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_limits_every_new_mlx_process_and_a_hand_set_limit_overrides_it() {
    let Some(py) = venv_python("engine_policies") else {
        return;
    };
    let rt = runtime_dir();
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine::start(options(tmp.path(), rt.path(), CACHE_POLICY));
    assert_eq!(engine.config().error, None);
    let mut rx = engine.subscribe();

    // Started after the policy; it starts with a cache limit of 32 MiB (cache_builder's floor).
    let mut w = tokio::task::block_in_place(|| {
        Workload::start(
            &py,
            rt.path(),
            &["agent/tests/workloads/cache_builder.py", "8MiB"],
        )
    });
    // (Its limit before the policy, 32 MiB, is MLX's answer journaled below: the engine may
    // apply the policy before this test could ask.)
    journal_until(&mut rx, Duration::from_secs(10), attached(w.pid)).await;
    let attached_at = Instant::now();
    let event = journal_until(&mut rx, Duration::from_secs(5), applied(w.pid)).await;
    let mut reading = cache_limit(&mut w);
    while reading != 64 * MIB && attached_at.elapsed() < Duration::from_secs(2) {
        reading = cache_limit(&mut w);
    }
    let took = attached_at.elapsed();
    assert_eq!(reading, 64 * MIB, "the process's own cache limit");
    assert!(
        took < Duration::from_secs(2),
        "applied {took:?} after attaching"
    );
    println!("cache limit 64 MiB by the process's own reading {took:?} after attaching");
    let EventKind::PolicyApplied {
        policy, changes, ..
    } = &event.kind
    else {
        unreachable!()
    };
    assert_eq!(policy, "every-mlx-process");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].limit, "cache");
    assert_eq!(changes[0].previous, Some(32 * MIB), "MLX's setter's answer");
    assert_eq!(changes[0].current, Some(64 * MIB));
    assert!(
        event.message.contains("cache limit 32.0 MB -> 64.0 MB"),
        "{}",
        event.message
    );
    wait_source(&engine, w.pid, LimitSource::Policy).await;

    // Set by hand: it stays, even when the policy changes.
    let out = engine
        .set_limit(LimitKind::Cache, 16 * MIB, vec![w.pid])
        .await;
    assert!(out[0].ok, "{out:?}");
    wait_source(&engine, w.pid, LimitSource::Manual).await;
    let mut config = engine.config().config;
    config.policies.list[0].cache = Some(LimitSpec::Bytes(128 * MIB));
    engine.put_config(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(cache_limit(&mut w), 16 * MIB, "the hand-set limit stays");
    assert_eq!(cache_source(&engine, w.pid), Some(LimitSource::Manual));
    let snap = engine.latest().unwrap();
    let why = &snap
        .mlx
        .iter()
        .find(|p| p.pid == w.pid)
        .unwrap()
        .policy
        .as_ref()
        .unwrap()
        .limits_source[0]
        .why;
    assert!(why.contains("by hand"), "{why}");

    // A process started now gets the changed policy.
    let mut w2 = tokio::task::block_in_place(|| {
        Workload::start(
            &py,
            rt.path(),
            &["agent/tests/workloads/cache_builder.py", "8MiB"],
        )
    });
    let event = journal_until(&mut rx, Duration::from_secs(10), applied(w2.pid)).await;
    assert!(event.message.contains("-> 128.0 MB"), "{}", event.message);
    assert_eq!(cache_limit(&mut w2), 128 * MIB);
    assert_eq!(cache_limit(&mut w), 16 * MIB, "still the hand-set limit");

    // Journaled with the values before and after.
    engine.shutdown().await;
    let reader = headroom_core::history::HistoryReader::open(&tmp.path().join("data")).unwrap();
    let events = reader
        .events(&headroom_core::history::EventQuery::default())
        .unwrap();
    let policy_events: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PolicyApplied { .. }))
        .collect();
    assert_eq!(
        policy_events.len(),
        2,
        "once per process: {policy_events:?}"
    );
}

const IDLE_POLICY: &str = r#"
[sampling]
interval_ms = 200
mlx_poll_ms = 250
mlx_rescan_ms = 1000

[policies]
enabled = true

[[policies.list]]
id = "generating"
cmdline = "tiny_llm"
idle_trim = { after_secs = 10, cache_above = 0 }

[[policies.list]]
id = "idle"
idle_trim = { after_secs = 10, cache_above = "64MiB" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cache_is_trimmed_once_and_a_generating_process_never() {
    let Some(py) = venv_python("engine_policies") else {
        return;
    };
    let rt = runtime_dir();
    let tmp = tempfile::tempdir().unwrap();
    let (gen, mut idle) = tokio::task::block_in_place(|| {
        let gen = Workload::start(
            &py,
            rt.path(),
            &["agent/tests/workloads/tiny_llm.py", "--agent"],
        );
        let idle = Workload::start(
            &py,
            rt.path(),
            &[
                "agent/tests/workloads/cache_builder.py",
                "128MiB",
                "--cooperative",
                "--tick-every",
                "0.5",
            ],
        );
        (gen, idle)
    });
    assert!(cache_limit(&mut idle) >= 128 * MIB);
    let built = tokio::task::block_in_place(|| idle.ask_number("cache", "CACHE"));
    assert!(built >= 100 * MIB, "built {built}");

    let engine = engine::start(options(tmp.path(), rt.path(), IDLE_POLICY));
    let mut rx = engine.subscribe();
    let started = Instant::now();
    let mut trims: Vec<(u32, u64, Duration)> = Vec::new();
    let (mut gen_cache_max, mut gen_idle_max) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(28) {
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Ok(EngineEvent::Journal(e))) => {
                if let EventKind::IdleTrimmed { pid, freed, .. } = e.kind {
                    assert_eq!(
                        e.severity,
                        headroom_core::events::Severity::Info,
                        "{}",
                        e.message
                    );
                    trims.push((pid, freed, started.elapsed()));
                }
            }
            Ok(Ok(EngineEvent::Snapshot(s))) => {
                if let Some(p) = s.mlx.iter().find(|p| p.pid == gen.pid) {
                    gen_cache_max = gen_cache_max.max(p.cache.unwrap_or(0));
                    let idle_secs = p.policy.as_ref().and_then(|x| x.idle_secs).unwrap_or(0);
                    gen_idle_max = gen_idle_max.max(idle_secs);
                }
            }
            _ => {}
        }
    }
    println!("trims {trims:?}; generating process: cache up to {gen_cache_max} B, idle up to {gen_idle_max} s");
    assert!(
        trims.iter().all(|t| t.0 != gen.pid),
        "the generating process was trimmed: {trims:?}"
    );
    assert!(
        gen_cache_max > 0,
        "the generating process held a cache to trim"
    );
    assert!(
        gen_idle_max < 10,
        "the generating process looked idle for {gen_idle_max} s"
    );
    let mine: Vec<_> = trims.iter().filter(|t| t.0 == idle.pid).collect();
    assert_eq!(mine.len(), 1, "trimmed once: {trims:?}");
    let (_, freed, at) = *mine[0];
    assert!(freed >= 100 * MIB, "freed {freed}");
    assert!(at >= Duration::from_secs(10), "trimmed after {at:?}");
    assert_eq!(
        tokio::task::block_in_place(|| idle.ask_number("cache", "CACHE")),
        0,
        "its own reading"
    );
    let snap = engine.latest().unwrap();
    let me = snap.mlx.iter().find(|p| p.pid == idle.pid).unwrap();
    let last = me.policy.as_ref().unwrap().last_trim.as_ref().unwrap();
    assert_eq!(last.freed, freed, "the MLX view shows the bytes freed");
    engine.shutdown().await;
    drop(gen);
}
