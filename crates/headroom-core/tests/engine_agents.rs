//! The sampling path never waits on agents: with an agent that never answers, samples keep
//! their schedule (the MLX poll runs in its own task).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod agents_common;

use agents_common::{fake_agent_process, runtime_dir, Fake, PidHolder};
use headroom_core::engine::{self, EngineEvent, EngineOptions};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_does_not_slow_sampling() {
    let rt = runtime_dir();
    let _holders: Vec<PidHolder> = (0..3)
        .map(|_| fake_agent_process(rt.path(), Fake::Silent))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        config_path: tmp.path().join("config.toml"),
        data_dir: tmp.path().join("data"),
        runtime_dir: rt.path().to_path_buf(),
    };
    // 100 ms samples; each agent poll waits out the 250 ms stats timeout.
    std::fs::write(
        &opts.config_path,
        "[sampling]\ninterval_ms = 100\nmlx_poll_ms = 100\n",
    )
    .unwrap();
    let engine = engine::start(opts);
    let mut rx = engine.subscribe();
    let mut stamps = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Ok(EngineEvent::Snapshot(_))) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            stamps.push(Instant::now());
        }
    }
    engine.shutdown().await;
    // 2 s at 100 ms is 20 samples; had sampling waited on the agents (each poll sits out the
    // 250 ms stats timeout) there would be at most 8. Loose bounds for a loaded 2-core box.
    assert!(stamps.len() >= 14, "only {} samples in 2 s", stamps.len());
    let mut gaps: Vec<Duration> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(median < Duration::from_millis(150), "median gap {median:?}");
}
