//! The cost of MLX policies on the engine's polling path (`cargo bench -p headroom-core
//! --bench policies`): one poll's policy work (building what the tracker sees, the idle-trim
//! check and policy matching for every process, and annotating the poll) against one memory
//! sample (`Sampler::sample`, the sampling path's own cost), measured alternately in one run.
//! Prints medians of `HEADROOM_BENCH_ROUNDS` (default 200) batches of 1000 calls and the ratio.
//!
//! The processes are steady (the common case: the check runs and decides nothing), matched by
//! a command-line pattern behind a non-matching one, with an idle trim.
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark harness: failing loudly is right

use headroom_core::agents::{AgentFacts, MlxPoll};
use headroom_core::engine::policy::{annotate, observed};
use headroom_core::policies::tracker::PolicyTracker;
use headroom_core::policies::{IdleTrim, LimitSpec, Policies, Policy};
use headroom_core::snapshot::MlxProcess;
use headroom_core::Sampler;
use std::hint::black_box;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const BATCH: u32 = 1000;

fn poll(n: u32) -> MlxPoll {
    let mut p = MlxPoll::default();
    for pid in 1000..1000 + n {
        p.processes.push(MlxProcess {
            pid,
            name: "python3.12".into(),
            attached: true,
            active: Some(4096 * MIB),
            cache: Some(300 * MIB),
            cache_limit: Some(512 * MIB),
            memory_limit: Some(48 << 30),
            wired_limit: Some(0),
            ..MlxProcess::default()
        });
        p.facts.insert(
            pid,
            AgentFacts {
                cmdline: vec![
                    "/Users/me/venvs/mlx/bin/python".into(),
                    "-m".into(),
                    "mlx_lm.server".into(),
                    "--model".into(),
                    "mlx-community/Qwen3-8B-4bit".into(),
                ],
                python_prefix: Some("/Users/me/venvs/mlx".into()),
                physical_memory: Some(64 << 30),
                set_by_process: Vec::new(),
                cpu_secs: Some(12.5),
            },
        );
    }
    p
}

fn policies() -> Policies {
    Policies {
        enabled: true,
        list: vec![
            Policy {
                cmdline: Some("train\\.py".into()),
                cache: Some(LimitSpec::Bytes(256 * MIB)),
                ..Policy::every("training")
            },
            Policy {
                cmdline: Some("mlx_lm[. ]server".into()),
                cache: Some(LimitSpec::Bytes(512 * MIB)),
                memory: Some(LimitSpec::Percent(75.0)),
                idle_trim: Some(IdleTrim {
                    after_secs: 300,
                    cache_above: 100 * MIB,
                }),
                ..Policy::every("servers")
            },
        ],
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn per_call(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(BATCH)
}

fn main() {
    let rounds: usize = std::env::var("HEADROOM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut sampler = Sampler::new();
    let cases = [1u32, 8, 32];
    let mut sample_times = Vec::new();
    let mut policy_times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut trackers: Vec<(MlxPoll, PolicyTracker)> = cases
        .iter()
        .map(|&n| (poll(n), PolicyTracker::new(policies())))
        .collect();
    let mut clock_ms = 0u64;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..BATCH / 100 {
            black_box(sampler.sample());
        }
        sample_times.push(t.elapsed() * 100);
        for (i, (p, tracker)) in trackers.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..BATCH {
                clock_ms += 1000;
                let seen = observed(p);
                let plans = tracker.observe(&seen, clock_ms);
                // In place, as the engine's MLX task does.
                annotate(p, tracker);
                black_box(plans);
            }
            policy_times[i].push(t.elapsed());
        }
    }
    let sample = median(sample_times);
    println!(
        "memory sample (Sampler::sample)            median {:>8.2} µs",
        per_call(sample)
    );
    for (i, n) in cases.iter().enumerate() {
        let m = median(policy_times[i].clone());
        println!(
            "policy work per poll, {n:>2} MLX processes    median {:>8.2} µs   {:>6.3}x a memory sample",
            per_call(m),
            m.as_secs_f64() / sample.as_secs_f64()
        );
    }
}
