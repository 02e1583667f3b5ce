//! End to end with real MLX: the live sampler, the real agent in a real MLX process, and the
//! rule "MLX cache above 64 MiB for 2 samples → clear caches". The process's own reading of
//! its cache drops to zero within a few samples and the journal records the bytes freed.
//! Skipped loudly when `.venv` (with `mlx[cpu]`) is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod agents_common;

use agents_common::{runtime_dir, venv_python, Workload};
use headroom_core::engine::{self, EngineEvent, EngineOptions};
use headroom_core::events::EventKind;
use headroom_core::history::EventQuery;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

const CONFIG: &str = r#"
[sampling]
interval_ms = 200
mlx_poll_ms = 200
mlx_rescan_ms = 1000

[[rules]]
id = "mlx-cache-test"
name = "MLX cache above 64 MiB"
metric = "process_mlx_cache"
comparison = "above"
threshold = 67108864
recovery = 0
samples = 2
actions = [{ type = "notify" }, { type = "clear_cache", scope = "breaching" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_clears_a_real_mlx_cache_and_journals_bytes_freed() {
    let Some(py) = venv_python("engine_mlx") else {
        return;
    };
    let rt = runtime_dir();
    let tmp = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        config_path: tmp.path().join("config.toml"),
        data_dir: tmp.path().join("data"),
        runtime_dir: rt.path().to_path_buf(),
    };
    std::fs::write(&opts.config_path, CONFIG).unwrap();
    let mut w = Workload::start(
        &py,
        rt.path(),
        &["agent/tests/workloads/cache_builder.py", "128MiB"],
    );
    w.wait_socket(rt.path());
    let built = w.ask_number("cache", "CACHE");
    assert!(
        built >= 100 * MIB,
        "the workload built {built} bytes of cache"
    );

    let started = Instant::now();
    let engine = engine::start(opts);
    assert_eq!(engine.config().error, None);
    let mut rx = engine.subscribe();
    let (mut fired_at_sample, mut samples, mut freed) = (None, 0u32, None);
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    while freed.is_none() {
        tokio::select! {
            _ = &mut deadline => panic!("no cache clear within 30 s ({samples} samples)"),
            ev = rx.recv() => match ev.unwrap() {
                EngineEvent::Snapshot(_) => samples += 1,
                EngineEvent::Journal(e) => match &e.kind {
                    EventKind::RuleFired { rule, pid, value, .. } => {
                        assert_eq!(rule, "mlx-cache-test");
                        assert_eq!(*pid, Some(w.pid));
                        assert!(*value > 64.0 * MIB as f64);
                        fired_at_sample = Some(samples);
                    }
                    EventKind::ActionTaken { rule, action, freed: f, succeeded, failed } => {
                        assert_eq!(rule.as_deref(), Some("mlx-cache-test"));
                        assert_eq!(action, "clear_cache");
                        assert_eq!((*succeeded, *failed), (1, 0), "{}", e.message);
                        freed = Some(*f);
                    }
                    _ => {}
                },
            },
        }
    }
    let freed = freed.unwrap();
    println!(
        "fired after {:?} samples, cleared {} MiB, {:.2} s after start",
        fired_at_sample,
        freed / MIB,
        started.elapsed().as_secs_f64()
    );
    assert!(freed >= 100 * MIB, "freed {freed}");
    // The process's own reading, asked over its stdin (not through the agent).
    assert_eq!(w.ask_number("cache", "CACHE"), 0);
    // Within a few more samples the engine sees it too, and the rule resolves.
    let resolved = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(EngineEvent::Journal(e)) = rx.recv().await {
                if matches!(e.kind, EventKind::RuleResolved { .. }) {
                    return e;
                }
            }
        }
    })
    .await
    .expect("resolved within 10 s");
    assert!(
        resolved.message.contains("is back to 0 B"),
        "{}",
        resolved.message
    );
    let snap = engine.latest().unwrap();
    let me = snap.mlx.iter().find(|p| p.pid == w.pid).unwrap();
    assert!(me.attached);
    assert_eq!(me.cache, Some(0));
    engine.shutdown().await;
    let journal = engine.events(EventQuery::default()).await;
    let kinds: Vec<&str> = journal
        .iter()
        .map(|e| match e.kind {
            EventKind::AgentAttached { .. } => "attached",
            EventKind::RuleFired { .. } => "fired",
            EventKind::ActionTaken { .. } => "action",
            EventKind::RuleResolved { .. } => "resolved",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["attached", "fired", "action", "resolved"],
        "{journal:?}"
    );
    let action = journal
        .iter()
        .find(|e| matches!(e.kind, EventKind::ActionTaken { .. }));
    let action = action.unwrap();
    assert!(
        action.message.starts_with("Cleared 1")
            && action.message.ends_with("(rule mlx-cache-test)"),
        "{}",
        action.message
    );
}
