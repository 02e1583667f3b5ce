//! Fault drill: the wall clock jumps back an hour and forward a day while the engine
//! runs (NTP corrections, a VM restored from a snapshot, a dead RTC battery). The engine's
//! pace follows the monotonic clock, so sampling neither stalls nor bursts; rules still fire
//! and resolve once; history keeps answering and storing. Runs on tokio's paused (virtual)
//! time with the engine's injected wall clock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use chrono::{DateTime, Utc};
use headroom_core::engine::{self, EngineOptions, EngineParts, SnapshotSource};
use headroom_core::events::EventKind;
use headroom_core::history::{
    Clock, EventQuery, HistoryLimits, HistoryQuery, HistoryStore, ManualClock,
};
use headroom_core::snapshot::{Platform, Snapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"[[rules]]
id = "swap"
name = "Swap above 100"
metric = "swap_used"
comparison = "above"
threshold = 100
recovery = 80
samples = 2
actions = [{ type = "notify" }]
"#;

/// Samples stamped by the (jumping) wall clock; swap scripted by the test.
struct Source {
    clock: Arc<ManualClock>,
    swap: Arc<AtomicU64>,
    taken: Arc<AtomicU64>,
    last_tick: tokio::time::Instant,
}

impl SnapshotSource for Source {
    fn sample(&mut self) -> Snapshot {
        // The wall clock runs along with the monotonic one, plus whatever jumps the test makes.
        let now = tokio::time::Instant::now();
        let step = now - self.last_tick;
        self.last_tick = now;
        self.clock
            .advance(chrono::Duration::from_std(step).unwrap_or_default());
        self.taken.fetch_add(1, Ordering::SeqCst);
        let mut s = Snapshot::empty(Platform::Linux, self.clock.now());
        s.swap.used = Some(self.swap.load(Ordering::SeqCst));
        s.pressure.free_percent = Some(50.0);
        s
    }
}

/// Lets `secs` virtual seconds pass and returns how many samples were taken meanwhile.
async fn run_for(taken: &AtomicU64, secs: u64) -> u64 {
    let before = taken.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    taken.load(Ordering::SeqCst) - before
}

/// A burst of high swap long enough to fire, then low long enough to resolve.
async fn flap(swap: &AtomicU64, taken: &AtomicU64) {
    swap.store(500, Ordering::SeqCst);
    run_for(taken, 5).await;
    swap.store(10, Ordering::SeqCst);
    run_for(taken, 5).await;
}

/// What the engine did across the jumps.
struct Outcome {
    /// Samples per 30 virtual seconds: before, after -1 h, after +1 day.
    paces: Vec<u64>,
    fired: usize,
    resolved: usize,
    points: usize,
    storage_ok: bool,
}

/// Runs the engine, jumping the wall clock back an hour then forward a day, with a rule
/// flapping after each phase.
async fn jumps() -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        config_path: tmp.path().join("config.toml"),
        data_dir: tmp.path().join("data"),
        runtime_dir: tmp.path().join("run"),
    };
    std::fs::write(&opts.config_path, CONFIG).unwrap();
    let start: DateTime<Utc> = "2026-03-29T00:30:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let history =
        HistoryStore::open_with_clock(&opts.data_dir, &HistoryLimits::default(), clock.clone());
    let (swap, taken) = (Arc::new(AtomicU64::new(10)), Arc::new(AtomicU64::new(0)));
    let source = Source {
        clock: clock.clone(),
        swap: swap.clone(),
        taken: taken.clone(),
        last_tick: tokio::time::Instant::now(),
    };
    let handle = engine::start_with(
        opts,
        EngineParts {
            clock: clock.clone(),
            source: Box::new(source),
            history: Some(history.clone()),
        },
    );
    let mut paces = vec![run_for(&taken, 30).await];
    flap(&swap, &taken).await;
    clock.advance(chrono::Duration::hours(-1));
    paces.push(run_for(&taken, 30).await);
    flap(&swap, &taken).await;
    clock.advance(chrono::Duration::days(1));
    paces.push(run_for(&taken, 30).await);
    flap(&swap, &taken).await;
    let events = handle
        .events(EventQuery {
            since_ms: Some(0),
            limit: Some(10_000),
        })
        .await;
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    let points = handle
        .history(HistoryQuery {
            since_ms: Some(clock.now().timestamp_millis() - 60_000),
            until_ms: None,
            max_points: None,
        })
        .await
        .len();
    let storage_ok = handle.status().storage.ok;
    handle.shutdown().await;
    let out = Outcome {
        paces,
        fired: count(|k| matches!(k, EventKind::RuleFired { .. })),
        resolved: count(|k| matches!(k, EventKind::RuleResolved { .. })),
        points,
        storage_ok,
    };
    println!(
        "clock drill: samples per 30 s before / after -1 h / after +1 day {:?}; fired {} resolved {}; {} history points in the last minute",
        out.paces, out.fired, out.resolved, out.points
    );
    out
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn clock_jumps_neither_stall_nor_burst_sampling_and_history_goes_on() {
    let o = jumps().await;
    for p in &o.paces {
        assert!((29..=31).contains(p), "sampling pace broke: {:?}", o.paces);
    }
    assert!(
        o.points >= 30,
        "history after the jumps: {} points",
        o.points
    );
    assert!(o.storage_ok, "storage failed after the jumps");
    assert!(o.fired >= 2, "rules stopped firing altogether");
}

/// Regression (found by this drill): after the wall clock went back, the cooldown compared
/// against a `last_fired` in the future, so no rule fired until the clock caught up (an hour
/// here). `rules/eval.rs` now restarts the hold and counts a future firing as cooled down.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rules_fire_and_resolve_once_per_flap_across_clock_jumps() {
    let o = jumps().await;
    assert_eq!((o.fired, o.resolved), (3, 3), "rules across clock jumps");
}
