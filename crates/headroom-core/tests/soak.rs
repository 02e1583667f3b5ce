//! Soak: the real engine driven through simulated days at 1 s sampling, with rules
//! flapping, configuration re-saved every 6 simulated hours, history retention in force, and
//! — concurrently, in real time — waves of real MLX processes with the agent (`cache_builder.py`)
//! starting and leaving (SIGINT, SIGTERM, SIGKILL) under a polling `MlxMonitor`.
//!
//! The accelerated clock is tokio's paused time: the engine's own tickers (sampling, MLX poll,
//! config-file watch) run on virtual time that jumps ahead whenever the runtime is idle, and
//! the engine clock and history clock follow it. Real agents cannot live in virtual time (their
//! 250 ms hard timeouts would fire at once), so the engine's MLX task watches an empty runtime
//! directory and the agent churn runs in real time in the same process: resident memory, open
//! file descriptors and threads are those of the whole process.
//!
//! - `soak_one_day` (in `cargo test`): 1 simulated day, 6 agents.
//! - `soak_full` (`#[ignore]`, run by `benches/report.sh`): `HEADROOM_SOAK_DAYS` (7) simulated
//!   days, `HEADROOM_SOAK_AGENTS` (200) agents. Prints `SOAK key: value` lines.
//!
//! Checks: no panic anywhere; every second sampled; every flap fired and resolved once; RSS,
//! fds and threads flat (start of the curve vs end, printed); history rows and size within
//! the retention bounds; no sample dropped; every agent seen attaching and leaving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

#[path = "agents_common/mod.rs"]
mod agents_common;

use chrono::{DateTime, Utc};
use headroom_core::agents::AgentChange;
use headroom_core::agents::MlxMonitor;
use headroom_core::engine::{self, EngineOptions, EngineParts, SnapshotSource};
use headroom_core::events::EventKind;
use headroom_core::history::{
    Clock, EventQuery, HistoryLimits, HistoryOptions, HistoryStore, ManualClock,
};
use headroom_core::snapshot::Snapshot;
use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Panics seen anywhere in the process (engine tasks swallow theirs into a `JoinError`).
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Seconds per simulated day.
const DAY: u64 = 86_400;
/// Swap flaps: above the threshold for 3 minutes of every 10.
const FLAP_PERIOD: u64 = 600;
const FLAP_HIGH: u64 = 180;

const CONFIG: &str = r#"# soak configuration
[[rules]]
id = "swap"
name = "Swap above 1 GiB"
metric = "swap_used"
comparison = "above"
threshold = 1073741824
recovery = 805306368
samples = 2
actions = [{ type = "notify" }, { type = "clear_cache" }]

[[rules]]
id = "free"
name = "Free under 10 %"
metric = "free_percent"
comparison = "below"
threshold = 10
for_secs = 30
"#;

/// One point of the resource curve.
#[derive(Debug, Clone, Copy)]
struct Usage {
    sim_hours: f64,
    rss_kib: u64,
    fds: usize,
    threads: u64,
}

fn status_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn usage(sim_secs: u64) -> Usage {
    Usage {
        sim_hours: sim_secs as f64 / 3600.0,
        rss_kib: status_kib("VmRSS:"),
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()),
        threads: status_kib("Threads:"),
    }
}

/// Polls `f` to completion on this thread, parking between wake-ups (used inside the paused
/// runtime to wait for the history writer thread without letting virtual time run on).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Samples for the engine: a real snapshot of this machine with swap and free memory scripted
/// to flap; moves the shared clock to virtual time and records the resource curve hourly.
struct Source {
    base: Snapshot,
    clock: Arc<ManualClock>,
    start: DateTime<Utc>,
    t0: tokio::time::Instant,
    history: HistoryStore,
    curve: Arc<Mutex<Vec<Usage>>>,
    taken: u64,
}

impl Source {
    fn sim_secs(&self) -> u64 {
        (tokio::time::Instant::now() - self.t0).as_secs()
    }
}

impl SnapshotSource for Source {
    fn sample(&mut self) -> Snapshot {
        let secs = self.sim_secs();
        let now = self.start + chrono::Duration::seconds(secs as i64);
        self.clock.set(now);
        self.taken += 1;
        if self.taken % 600 == 0 {
            // Let the writer catch up (virtual time does not wait for threads).
            block_on(self.history.flush());
        }
        if self.taken % 3600 == 0 {
            self.curve.lock().unwrap().push(usage(secs));
        }
        let mut s = self.base.clone();
        s.at = now;
        let high = secs % FLAP_PERIOD < FLAP_HIGH;
        s.swap.used = Some(if high { 2 << 30 } else { 100 << 20 });
        // Free memory dips under 10 % for 2 minutes every 2 hours.
        s.pressure.free_percent = Some(if secs % 7200 < 120 { 5.0 } else { 40.0 });
        s
    }
}

/// What the engine part of a soak found.
struct EngineRun {
    samples: u64,
    fired: Vec<(String, usize)>,
    resolved: usize,
    curve: Vec<Usage>,
    dropped: u64,
    storage_ok: bool,
    data_dir: PathBuf,
    limits: HistoryLimits,
    end: DateTime<Utc>,
}

fn limits(days: u64) -> HistoryLimits {
    HistoryLimits {
        full_rate_hours: 6,
        minute_days: if days > 3 { 3 } else { 1 },
        max_db_bytes: 64 << 20,
    }
}

/// Runs the engine through `days` simulated days in a paused current-thread runtime.
fn run_engine(dir: &Path, days: u64) -> EngineRun {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(engine_days(dir, days))
}

async fn engine_days(dir: &Path, days: u64) -> EngineRun {
    let opts = EngineOptions {
        config_path: dir.join("config.toml"),
        data_dir: dir.join("data"),
        runtime_dir: dir.join("run-empty"),
    };
    std::fs::create_dir_all(&opts.runtime_dir).unwrap();
    std::fs::write(&opts.config_path, CONFIG).unwrap();
    let start: DateTime<Utc> = "2026-01-05T00:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let lim = limits(days);
    let history = HistoryStore::open_with_options(
        &opts.data_dir,
        &lim,
        HistoryOptions {
            clock: clock.clone(),
            batch_max: 600,
            queue_capacity: 8192,
            ..HistoryOptions::default()
        },
    );
    let curve = Arc::new(Mutex::new(Vec::new()));
    let source = Source {
        base: headroom_core::Sampler::new().sample(),
        clock: clock.clone(),
        start,
        t0: tokio::time::Instant::now(),
        history: history.clone(),
        curve: curve.clone(),
        taken: 0,
    };
    let handle = engine::start_with(
        opts.clone(),
        EngineParts {
            clock: clock.clone(),
            source: Box::new(source),
            history: Some(history.clone()),
        },
    );
    flap_config(&handle, days).await;
    let samples = handle.status().samples;
    let events = handle
        .events(EventQuery {
            since_ms: None,
            limit: Some(u32::MAX),
        })
        .await;
    handle.shutdown().await;
    let status = history.status();
    let mut fired = Vec::new();
    for rule in ["swap", "free"] {
        let n = events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::RuleFired { rule: r, .. } if r == rule))
            .count();
        fired.push((rule.to_string(), n));
    }
    let resolved = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::RuleResolved { .. }))
        .count();
    let end = clock.now();
    drop(handle);
    drop(history);
    let curve = curve.lock().unwrap().clone();
    EngineRun {
        samples,
        fired,
        resolved,
        curve,
        dropped: status.dropped,
        storage_ok: status.ok,
        data_dir: opts.data_dir,
        limits: lim,
        end,
    }
}

/// Lets the days pass, saving a changed configuration every 6 simulated hours (rules
/// replaced while they are firing, the sampling loop re-armed).
async fn flap_config(handle: &engine::EngineHandle, days: u64) {
    let mut config = handle.config().config;
    for step in 0..days * 4 {
        tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
        if let Some(rule) = config.rules.iter_mut().find(|r| r.id == "free") {
            rule.for_secs = if step % 2 == 0 { 20 } else { 30 };
        }
        handle.put_config(config.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

// ------------------------------------------------------------------ real agents, real time

/// What the agent churn found.
#[derive(Debug, Default)]
struct AgentRun {
    started: usize,
    attached: usize,
    left: usize,
    problems: Vec<String>,
}

/// Seen by the monitor task: pids attached and pids that left.
#[derive(Default)]
struct Seen {
    attached: HashSet<u32>,
    left: HashSet<u32>,
}

fn spawn_poller(
    rt: &tokio::runtime::Runtime,
    dir: PathBuf,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) {
    rt.spawn(async move {
        let mut m = MlxMonitor::new(dir);
        while !stop.load(Ordering::SeqCst) {
            let poll = m.poll().await;
            note_changes(&seen, poll.changes);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
}

fn note_changes(seen: &Mutex<Seen>, changes: Vec<AgentChange>) {
    let mut s = seen.lock().unwrap();
    for c in changes {
        match c {
            AgentChange::Attached { pid, .. } => s.attached.insert(pid),
            AgentChange::Left { pid, .. } => s.left.insert(pid),
        };
    }
}

fn wait_for(seen: &Mutex<Seen>, pids: &[u32], left: bool, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let missing: Vec<u32> = {
            let s = seen.lock().unwrap();
            let set = if left { &s.left } else { &s.attached };
            pids.iter().copied().filter(|p| !set.contains(p)).collect()
        };
        if missing.is_empty() || Instant::now() > deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One wave: `n` agents start in parallel, are seen attached, then leave by SIGTERM or
/// SIGKILL (no clean-up: the socket stays behind) and are seen leaving.
fn wave(py: &Path, dir: &Path, n: usize, seen: &Mutex<Seen>, out: &mut AgentRun) {
    let starting: Vec<_> = (0..n)
        .map(|_| {
            let (py, dir) = (py.to_path_buf(), dir.to_path_buf());
            std::thread::spawn(move || {
                let w = agents_common::Workload::start(
                    &py,
                    &dir,
                    &["agent/tests/workloads/cache_builder.py", "1MiB"],
                );
                w.wait_socket(&dir);
                w
            })
        })
        .collect();
    let mut workloads: Vec<_> = starting.into_iter().map(|h| h.join().unwrap()).collect();
    let pids: Vec<u32> = workloads.iter().map(|w| w.pid).collect();
    out.started += n;
    let missing = wait_for(seen, &pids, false, Duration::from_secs(30));
    out.attached += n - missing.len();
    if !missing.is_empty() {
        out.problems
            .push(format!("never seen attached: {missing:?}"));
    }
    for (i, w) in workloads.iter().enumerate() {
        let sig = [libc::SIGTERM, libc::SIGKILL][i % 2];
        // SAFETY: kill(2) on a child we started and have not reaped yet.
        unsafe { libc::kill(w.pid as libc::pid_t, sig) };
    }
    for w in &mut workloads {
        let _ = w.child.wait();
    }
    let missing = wait_for(seen, &pids, true, Duration::from_secs(30));
    out.left += n - missing.len();
    if !missing.is_empty() {
        out.problems
            .push(format!("never seen leaving: {missing:?}"));
    }
}

/// How the agents come and go.
#[derive(Debug, Clone, Copy)]
struct Churn {
    /// Keep going until at least this many started (and the engine is done).
    min_agents: usize,
    /// Agents per wave.
    wave_size: usize,
    /// Pause between waves.
    pause: Duration,
}

/// Runs waves of agents until `done` is set and at least `min_agents` started.
fn churn_agents(churn: Churn, done: Arc<AtomicBool>) -> AgentRun {
    let mut out = AgentRun::default();
    let Some(py) = agents_common::venv_python("soak agent churn") else {
        return out; // skipped loudly by venv_python: the engine part still runs
    };
    let dir = agents_common::runtime_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    spawn_poller(&rt, dir.path().to_path_buf(), seen.clone(), stop.clone());
    while !(done.load(Ordering::SeqCst) && out.started >= churn.min_agents) {
        wave(&py, dir.path(), churn.wave_size, &seen, &mut out);
        std::thread::sleep(churn.pause);
    }
    stop.store(true, Ordering::SeqCst);
    rt.shutdown_timeout(Duration::from_secs(5));
    out
}

// ------------------------------------------------------------------ checks and report

fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Checks the history database against its retention bounds; returns (rows, minute rows, bytes).
fn check_retention(run: &EngineRun) -> (i64, i64, u64) {
    let path = run.data_dir.join("history.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    let end_ms = run.end.timestamp_millis();
    let full = count(&db, "SELECT count(*) FROM samples");
    let oldest = count(&db, "SELECT coalesce(min(t), 0) FROM samples");
    let minutes = count(&db, "SELECT count(*) FROM samples_1m");
    let oldest_minute = count(&db, "SELECT coalesce(min(t), 0) FROM samples_1m");
    let bytes = count(
        &db,
        "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
    );
    let full_window = i64::from(run.limits.full_rate_hours) * 3600;
    // Retention runs once per simulated minute: allow two minutes of slack.
    assert!(
        full <= full_window + 120,
        "{full} full-rate rows for a {full_window} s window"
    );
    assert!(
        oldest >= end_ms - (full_window + 120) * 1000,
        "oldest full-rate row {} s before the end",
        (end_ms - oldest) / 1000
    );
    let minute_window = i64::from(run.limits.minute_days) * 1440;
    assert!(
        minutes <= minute_window + 2,
        "{minutes} minute rows for {minute_window}"
    );
    assert!(oldest_minute >= end_ms - (minute_window + 2) * 60_000);
    assert!(
        bytes as u64 <= run.limits.max_db_bytes,
        "database {bytes} B"
    );
    (full, minutes, bytes as u64)
}

/// Asserts the resource curve is flat: the end against the first hour (after warm-up).
fn check_flat(curve: &[Usage], last: Usage) {
    let first = curve.first().copied().unwrap_or(last);
    let mid = curve.get(curve.len() / 2).copied().unwrap_or(first);
    let peak = curve.iter().map(|u| u.rss_kib).max().unwrap_or(0);
    let daily: Vec<String> = curve
        .iter()
        .step_by(24)
        .map(|u| format!("{:.1}", u.rss_kib as f64 / 1024.0))
        .collect();
    println!(
        "SOAK resident memory each simulated day (MiB): {}",
        daily.join(" ")
    );
    println!(
        "SOAK resident memory: {} KiB at {:.0} h, {} KiB at {:.0} h, {} KiB at the end (peak {peak} KiB)",
        first.rss_kib, first.sim_hours, mid.rss_kib, mid.sim_hours, last.rss_kib
    );
    println!(
        "SOAK open fds: {} at {:.0} h, {} at {:.0} h, {} at the end",
        first.fds, first.sim_hours, mid.fds, mid.sim_hours, last.fds
    );
    println!(
        "SOAK threads: {} at {:.0} h, {} at {:.0} h, {} at the end",
        first.threads, first.sim_hours, mid.threads, mid.sim_hours, last.threads
    );
    // Second half against first half: a leak grows in both; warm-up only in the first.
    assert!(
        last.rss_kib <= mid.rss_kib.max(first.rss_kib) + 16 * 1024,
        "resident memory grew: {first:?} {mid:?} {last:?}"
    );
    assert!(last.fds <= first.fds + 4, "fds grew: {first:?} → {last:?}");
    assert!(
        last.threads <= first.threads + 4,
        "threads grew: {first:?} → {last:?}"
    );
}

fn soak(days: u64, churn: Churn) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        hook(info);
    }));
    let tmp = tempfile::tempdir().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let agents = std::thread::spawn(move || churn_agents(churn, d));
    let t = Instant::now();
    let run = run_engine(tmp.path(), days);
    let engine_secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let agents = agents.join().unwrap();
    std::thread::sleep(Duration::from_secs(1)); // exited readers and blocking threads wind down
    report(days, &run, &agents, engine_secs, usage(days * DAY));
}

fn report(days: u64, run: &EngineRun, agents: &AgentRun, engine_secs: f64, last: Usage) {
    let want = days * DAY;
    println!(
        "SOAK samples: {} of {want} simulated seconds in {engine_secs:.0} s real",
        run.samples
    );
    let flaps = want / FLAP_PERIOD;
    println!(
        "SOAK rules: fired {:?}, resolved {}, expected swap {flaps} and free {}",
        run.fired,
        run.resolved,
        want / 7200
    );
    let (full, minutes, bytes) = check_retention(run);
    println!(
        "SOAK history: {full} full-rate rows ({} h window), {minutes} minute rows ({} day window), {:.1} MiB on disk (bound {} MiB), {} dropped",
        run.limits.full_rate_hours,
        run.limits.minute_days,
        bytes as f64 / 1048576.0,
        run.limits.max_db_bytes >> 20,
        run.dropped
    );
    println!(
        "SOAK agents: {} real MLX processes started, {} seen attached, {} seen leaving, problems {:?}",
        agents.started, agents.attached, agents.left, agents.problems
    );
    check_flat(&run.curve, last);
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a panic happened during the soak"
    );
    assert!(
        run.samples.abs_diff(want) <= 2,
        "{} samples for {want} s",
        run.samples
    );
    assert!(
        run.fired[0].1.abs_diff(flaps as usize) <= 1,
        "swap flaps {:?}",
        run.fired
    );
    assert!(
        run.fired[1].1.abs_diff((want / 7200) as usize) <= 1,
        "free flaps {:?}",
        run.fired
    );
    assert!(run.storage_ok && run.dropped == 0, "history lost samples");
    assert!(agents.problems.is_empty(), "agents: {:?}", agents.problems);
    println!("SOAK verdict: no panic, flat, retention held");
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One simulated day with 6 real agents: part of `cargo test` (< 60 s on a quiet machine).
#[test]
fn soak_one_day() {
    let churn = Churn {
        min_agents: 6,
        wave_size: 3,
        pause: Duration::from_secs(5),
    };
    soak(1, churn);
}

/// The full soak: 7 simulated days, 200 real agents (run by `benches/report.sh`).
#[test]
#[ignore = "long: run by benches/report.sh (cargo test --release --test soak -- --ignored)"]
fn soak_full() {
    let days = env_num("HEADROOM_SOAK_DAYS", 7);
    let churn = Churn {
        min_agents: env_num("HEADROOM_SOAK_AGENTS", 200) as usize,
        wave_size: 8,
        pause: Duration::ZERO,
    };
    soak(days, churn);
}
