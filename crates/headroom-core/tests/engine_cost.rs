//! What the engine costs per sample with every real part: the live sampler, the MLX monitor
//! (empty runtime directory, process rescans), SQLite history, rules. A figure, not a gate:
//! `cargo test --release -p headroom-core --test engine_cost -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use headroom_core::engine::{self, EngineEvent, EngineOptions};
use std::time::{Duration, Instant};

fn cpu_time() -> Duration {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
async fn cpu_per_sample_with_real_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tempfile::Builder::new()
        .prefix("hr-c-")
        .tempdir_in("/tmp")
        .unwrap();
    let opts = EngineOptions {
        config_path: tmp.path().join("config.toml"),
        data_dir: tmp.path().join("data"),
        runtime_dir: rt.path().to_path_buf(),
    };
    std::fs::write(
        &opts.config_path,
        std::env::var("HR_COST_CONFIG").unwrap_or_else(|_| {
            "[sampling]\ninterval_ms = 100\nmlx_poll_ms = 100\nmlx_rescan_ms = 500\n".into()
        }),
    )
    .unwrap();
    let engine = engine::start(opts);
    // Warm up (first scan, database creation), then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rx = engine.subscribe();
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let mut samples = 0u32;
    while wall0.elapsed() < Duration::from_secs(10) {
        if let Ok(Ok(EngineEvent::Snapshot(_))) =
            tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
        {
            samples += 1;
        }
    }
    let cpu = cpu_time() - cpu0;
    let wall = wall0.elapsed();
    engine.shutdown().await;
    let per = cpu / samples.max(1);
    println!(
        "engine: {samples} samples in {wall:.1?}, CPU {cpu:.1?} = {per:.1?} per sample \
         (10x the default rate: at 1 s sampling with 1 s MLX polls and 5 s rescans that is \
         about {:.3} % of one core)",
        per.as_secs_f64() * 100.0
    );
    assert!(samples >= 80, "{samples} samples");
}
