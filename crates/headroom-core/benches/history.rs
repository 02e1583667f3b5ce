//! History benchmark: `cargo bench -p headroom-core --bench history`.
//!
//! Prints
//! - the cost of `HistoryStore::record` on the sampler's thread (a queue push);
//! - the writer's cost per sample, committing in batches of 5 (the production policy at 1 s
//!   sampling: one transaction per 5 s), WAL mode, `synchronous=NORMAL`, on a real file;
//! - database bytes per day at 1 s sampling, extrapolated from a measured simulated hour of
//!   real snapshots (per table, via SQLite's `dbstat`), and the steady-state size with the
//!   default retention (24 h full rate + 30 days of minutes).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's main, not library code

use chrono::{DateTime, Duration as Span, Utc};
use headroom_core::history::{HistoryLimits, HistoryOptions, HistoryStore, ManualClock};
use headroom_core::{Sampler, Snapshot};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 9;

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn t0() -> DateTime<Utc> {
    Utc::now() - Span::hours(2)
}

/// Real snapshots from this machine, replayed one per simulated second.
fn real_snapshots(n: usize) -> Vec<Snapshot> {
    let mut sampler = Sampler::new();
    (0..n)
        .map(|_| {
            let s = sampler.sample();
            std::thread::sleep(Duration::from_micros(200));
            s
        })
        .collect()
}

fn open(dir: &std::path::Path, clock: Arc<ManualClock>, batch_max: usize) -> HistoryStore {
    let opts = HistoryOptions {
        clock,
        batch_max,
        batch_interval: Duration::from_secs(3600),
        queue_capacity: 1 << 20,
        ..HistoryOptions::default()
    };
    HistoryStore::open_with_options(dir, &HistoryLimits::default(), opts)
}

/// Nanoseconds per `record` call (queue push only; the writer does not wake below 1 M).
fn record_cost(snaps: &[Snapshot]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let store = open(dir.path(), clock, 1 << 20);
    let start = Instant::now();
    for s in snaps {
        store.record(s);
    }
    start.elapsed().as_nanos() as f64 / snaps.len() as f64
}

/// Microseconds of writer work per sample, transactions of 5 samples.
async fn write_cost(snaps: &[Snapshot]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let store = open(dir.path(), clock.clone(), 5);
    store.flush().await;
    let start = Instant::now();
    for (i, chunk) in snaps.chunks(5).enumerate() {
        for (j, s) in chunk.iter().enumerate() {
            let mut s = s.clone();
            s.at = t0() + Span::seconds((i * 5 + j) as i64);
            clock.set(s.at);
            store.record(&s);
        }
        store.flush().await;
    }
    start.elapsed().as_secs_f64() * 1e6 / snaps.len() as f64
}

/// Bytes per table after one simulated hour at 1 s, with maintenance run.
async fn hour_bytes(snaps: &[Snapshot]) -> (f64, f64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let store = open(dir.path(), clock.clone(), 60);
    for (i, s) in snaps.iter().enumerate() {
        let mut s = s.clone();
        s.at = t0() + Span::seconds(i as i64);
        clock.set(s.at);
        store.record(&s);
        if i % 60 == 59 {
            store.flush().await;
        }
    }
    clock.advance(Span::seconds(120));
    store.flush().await;
    store.record(&snaps[0]);
    store.flush().await;
    drop(store);
    let c = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    // Bytes in use (page size minus unused space): an hour's 60 minute rows fill a fraction
    // of a page, a day's fill the pages.
    let table = |name: &str| -> f64 {
        c.query_row(
            "SELECT coalesce(sum(pgsize - unused), 0) FROM dbstat WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as f64
    };
    let minutes: i64 = c
        .query_row("SELECT count(*) FROM samples_1m", [], |r| r.get(0))
        .unwrap();
    (table("samples"), table("samples_1m"), minutes)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let snaps = real_snapshots(3600);
    let (lo, rec, hi) = median((0..RUNS).map(|_| record_cost(&snaps)).collect());
    println!("history record() on the sampler thread: median {rec:.0} ns (min {lo:.0}, max {hi:.0}, {RUNS} runs x 3600)");
    let (lo, w, hi) = median(
        (0..RUNS)
            .map(|_| rt.block_on(write_cost(&snaps[..1000])))
            .collect(),
    );
    println!("history write cost per sample (batches of 5, WAL, synchronous=NORMAL): median {w:.1} us (min {lo:.1}, max {hi:.1}, {RUNS} runs x 1000)");
    let (raw, minute, rows) = rt.block_on(hour_bytes(&snaps));
    let raw_day = raw * 24.0;
    let minute_day = minute / rows.max(1) as f64 * 1440.0;
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "history bytes per day at 1 s: {:.2} MiB full-rate + {:.2} MiB of minute rows (measured over 1 simulated hour: {raw:.0} B samples, {rows} minute rows {minute:.0} B)",
        mib(raw_day),
        mib(minute_day)
    );
    println!(
        "history steady-state size (24 h full rate + 30 days of minutes): {:.1} MiB",
        mib(raw_day + 30.0 * minute_day)
    );
}
