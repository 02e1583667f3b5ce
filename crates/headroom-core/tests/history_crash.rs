//! `kill -9` during writes, many times: the database always opens, `PRAGMA integrity_check`
//! is ok, the stored samples have no holes, and at most one batch is lost per kill.
//!
//! The child is this test binary run again with `HEADROOM_CRASH_CHILD_DIR` set: the ignored
//! test `crash_child_writer` then records a sample every 5 ms (printing `rec <n>` after each)
//! until it is killed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::{DateTime, Duration as Span, Utc};
use headroom_core::history::{HistoryLimits, HistoryOptions, HistoryStore, ManualClock};
use headroom_core::snapshot::{Platform, Snapshot};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const DIR_ENV: &str = "HEADROOM_CRASH_CHILD_DIR";
const START_ENV: &str = "HEADROOM_CRASH_CHILD_START";
const BATCH_MAX: usize = 100;
const KILLS: u32 = 25;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn child_options(clock: Arc<ManualClock>) -> HistoryOptions {
    HistoryOptions {
        clock,
        batch_max: BATCH_MAX,
        batch_interval: Duration::from_millis(100),
        ..HistoryOptions::default()
    }
}

/// The child: writes until killed. Sample `n` is at `t0 + n s` with `used = n`.
#[test]
#[ignore = "run by kill_9_during_writes_never_corrupts"]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let start: i64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0() + Span::seconds(start)));
    let store = HistoryStore::open_with_options(
        std::path::Path::new(&dir),
        &HistoryLimits::default(),
        child_options(clock.clone()),
    );
    let mut out = std::io::stdout().lock();
    for n in start.. {
        let at = t0() + Span::seconds(n);
        clock.set(at);
        let mut s = Snapshot::empty(Platform::Linux, at);
        s.memory.used = Some(n as u64);
        store.record(&s);
        writeln!(out, "rec {n}").unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// (integrity, count, first n, last n) of the samples table.
fn inspect(db: &std::path::Path) -> (String, i64, Option<i64>, Option<i64>) {
    let c = rusqlite::Connection::open(db).unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let base = t0().timestamp_millis();
    c.query_row("SELECT count(*), min(t), max(t) FROM samples", [], |r| {
        let n: i64 = r.get(0)?;
        let lo: Option<i64> = r.get(1)?;
        let hi: Option<i64> = r.get(2)?;
        Ok((
            integrity.clone(),
            n,
            lo.map(|t| (t - base) / 1000),
            hi.map(|t| (t - base) / 1000),
        ))
    })
    .unwrap()
}

/// Runs the child until it has recorded a while, kills it with SIGKILL, returns the last
/// sample number it printed.
fn run_and_kill(dir: &std::path::Path, start: i64, after: Duration) -> i64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Wait for the first sample so the kill lands while writing, not while starting.
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("rec "));
    assert!(first.is_some(), "child never started writing");
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    lines
        .map_while(Result::ok)
        .chain(first)
        .filter_map(|l| l.strip_prefix("rec ").and_then(|n| n.parse().ok()))
        .max()
        .unwrap()
}

#[test]
fn kill_9_during_writes_never_corrupts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.db");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = 0i64;
    let mut worst_loss = 0i64;
    for round in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(50 + seed % 450);
        let last_printed = run_and_kill(tmp.path(), next, after);
        let (integrity, count, first, last) = inspect(&db);
        assert_eq!(integrity, "ok", "round {round}");
        let (first, last) = (first.unwrap_or(0), last.unwrap_or(-1));
        assert_eq!(first, 0, "round {round}: oldest sample kept");
        assert_eq!(count, last - first + 1, "round {round}: no holes");
        let lost = last_printed - last;
        assert!(
            (0..=BATCH_MAX as i64).contains(&lost),
            "round {round}: lost {lost} samples (printed up to {last_printed}, stored up to {last})"
        );
        worst_loss = worst_loss.max(lost);
        eprintln!("round {round}: killed after {after:?}, lost {lost}");
        next = last + 1;
    }
    eprintln!("{KILLS} kills: worst loss {worst_loss} samples (batch ≤ {BATCH_MAX} or 100 ms)");
}
