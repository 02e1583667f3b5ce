//! Retention and downsampling, driven by an injected clock through two simulated days of 1 s
//! samples (and then a month), against a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::{DateTime, Duration as Span, Utc};
use headroom_core::events::{Event, EventKind, Severity};
use headroom_core::history::{
    EventQuery, HistoryLimits, HistoryOptions, HistoryQuery, HistoryStore, ManualClock,
};
use headroom_core::snapshot::{Platform, PressureLevel, Snapshot};
use std::sync::Arc;
use std::time::Duration;

const DAY: i64 = 86_400;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Sample number `i`: used = i bytes, compressed = i % 60, pressure critical once a minute.
fn snap(i: i64) -> Snapshot {
    let mut s = Snapshot::empty(Platform::Linux, t0() + Span::seconds(i));
    s.memory.used = Some(i as u64);
    s.memory.compressed = Some((i % 60) as u64);
    s.memory.available = Some(1000);
    s.swap.used = Some(7);
    s.pressure.level = Some(if i % 60 == 30 {
        PressureLevel::Critical
    } else {
        PressureLevel::Normal
    });
    s.pressure.free_percent = Some(42.5);
    s
}

fn options(clock: Arc<ManualClock>) -> HistoryOptions {
    HistoryOptions {
        clock,
        batch_max: 3600,
        batch_interval: Duration::from_secs(60),
        queue_capacity: 10_000,
        ..HistoryOptions::default()
    }
}

fn limits() -> HistoryLimits {
    HistoryLimits {
        full_rate_hours: 24,
        minute_days: 30,
        max_db_bytes: 1 << 30,
    }
}

/// Records samples `from..to`, moving the clock along, flushing every simulated hour.
async fn feed(store: &HistoryStore, clock: &ManualClock, from: i64, to: i64) {
    for i in from..to {
        clock.set(t0() + Span::seconds(i));
        store.record(&snap(i));
        if i % 3600 == 3599 {
            store.flush().await;
        }
    }
    store.flush().await;
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn ms(i: i64) -> i64 {
    (t0() + Span::seconds(i)).timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_days_at_one_second_keep_a_day_full_rate_and_minutes_before() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let store = HistoryStore::open_with_options(dir.path(), &limits(), options(clock.clone()));
    feed(&store, &clock, 0, 2 * DAY).await;
    let db = dir.path().join("history.db");
    let status = store.status();
    assert!(status.ok && !status.in_memory, "{status:?}");
    assert_eq!(status.dropped, 0);

    // Full-rate rows: only the last 24 h (plus the not-yet-rolled-up minute).
    let raw_oldest = count(&db, "SELECT min(t) FROM samples");
    let now_ms = ms(2 * DAY - 1);
    assert!(
        raw_oldest >= now_ms - DAY * 1000 - 60_000,
        "raw kept too long"
    );
    assert!(
        raw_oldest <= now_ms - DAY * 1000 + 60_000,
        "raw deleted too early"
    );
    // Minute rows: every minute of both days except the last few (rolled up with a lag).
    let minutes = count(&db, "SELECT count(*) FROM samples_1m");
    assert!((2 * 1440 - 3..=2 * 1440).contains(&minutes), "{minutes}");
    assert_eq!(count(&db, "SELECT min(n) FROM samples_1m"), 60);

    // The last hour comes at full rate, exactly as recorded.
    let last_hour = HistoryQuery {
        since_ms: Some(ms(2 * DAY - 3600)),
        ..HistoryQuery::default()
    };
    let points = store.query(last_hour).await;
    assert_eq!(points.len(), 3600);
    assert!(points
        .iter()
        .all(|p| p.samples == 1 && p.range("used").is_none()));
    assert_eq!(points[0].bytes("used"), Some((2 * DAY - 3600) as u64));
    assert_eq!(points[0].get("free_percent"), Some(42.5));

    // The first day comes from the minute table: min/avg/max per minute.
    let first_day = HistoryQuery {
        since_ms: Some(ms(0)),
        until_ms: Some(ms(DAY - 1)),
        max_points: None,
    };
    let points = store.query(first_day).await;
    assert_eq!(points.len(), 1440);
    let p = &points[0];
    assert_eq!((p.t, p.samples), (ms(0), 60));
    assert_eq!(
        (
            p.range("used").map(|r| r.0 as u64),
            p.bytes("used"),
            p.range("used").map(|r| r.1 as u64)
        ),
        (Some(0), Some(30), Some(59))
    );
    assert_eq!(
        p.range("compressed")
            .map(|(a, b)| (a as u64, b as u64))
            .unzip(),
        (Some(0), Some(59))
    );
    assert_eq!(
        p.get("pressure"),
        Some(2.0),
        "pressure is the worst of the minute"
    );
    assert_eq!(p.bytes("swap_used"), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_points_covers_every_sample_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let lim = HistoryLimits {
        full_rate_hours: 1,
        ..limits()
    };
    let store = HistoryStore::open_with_options(dir.path(), &lim, options(clock.clone()));
    feed(&store, &clock, 0, 3 * 3600).await;
    // Three hours, one of them full-rate: minute rows and raw rows meet without overlap.
    for max_points in [1, 7, 100, 500] {
        let q = HistoryQuery {
            since_ms: Some(ms(0)),
            until_ms: Some(ms(3 * 3600 - 1)),
            max_points: Some(max_points),
        };
        let points = store.query(q).await;
        assert!(points.len() <= max_points as usize, "{max_points}");
        let total: u32 = points.iter().map(|p| p.samples).sum();
        assert_eq!(total, 3 * 3600, "max_points {max_points}");
        assert_eq!(points[0].range("used").map(|r| r.0 as u64), Some(0));
        assert_eq!(
            points.last().unwrap().range("used").map(|r| r.1),
            Some((3 * 3600 - 1) as f64)
        );
    }
    // Within the full-rate window, downsampling merges 1 s rows.
    let q = HistoryQuery {
        since_ms: Some(ms(3 * 3600 - 600)),
        until_ms: Some(ms(3 * 3600 - 1)),
        max_points: Some(10),
    };
    let points = store.query(q).await;
    assert_eq!(points.len(), 10);
    assert!(points.iter().all(|p| p.samples == 60));
    assert_eq!(
        points[0].range("used").map(|r| r.0 as u64),
        Some((3 * 3600 - 600) as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_later_old_minutes_and_events_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let lim = HistoryLimits {
        full_rate_hours: 1,
        minute_days: 2,
        ..limits()
    };
    let opts = HistoryOptions {
        event_days: 3,
        ..options(clock.clone())
    };
    let store = HistoryStore::open_with_options(dir.path(), &lim, opts);
    let fired = |at| Event {
        at,
        severity: Severity::Warning,
        kind: EventKind::RuleFired {
            rule: "swap".into(),
            metric: "swap_used".into(),
            value: 2.0,
            threshold: 1.0,
            pid: None,
        },
        message: "Swap above 1 GB".into(),
    };
    store.journal(&fired(t0()));
    feed(&store, &clock, 0, 3600).await;
    let later = 5 * DAY;
    store.journal(&fired(t0() + Span::seconds(later)));
    feed(&store, &clock, later, later + 120).await;
    let db = dir.path().join("history.db");
    // No minute row older than 2 days; an empty table (maintenance not yet run) holds too.
    let oldest_minute = count(
        &db,
        "SELECT coalesce(min(t), 9223372036854775807) FROM samples_1m",
    );
    assert!(
        oldest_minute >= ms(later - 2 * DAY),
        "minute rows beyond 2 days kept"
    );
    let events = store.events(EventQuery::default()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].at, t0() + Span::seconds(later));
    let limited = store
        .events(EventQuery {
            since_ms: Some(ms(later + 1)),
            limit: Some(10),
        })
        .await;
    assert!(limited.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_bound_trims_the_oldest_rows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let lim = HistoryLimits {
        max_db_bytes: 256 * 1024,
        ..limits()
    };
    let store = HistoryStore::open_with_options(dir.path(), &lim, options(clock.clone()));
    feed(&store, &clock, 0, 6 * 3600).await;
    // One more maintenance pass after the last batch.
    clock.advance(Span::seconds(61));
    store.flush().await;
    store.record(&snap(6 * 3600 + 61));
    store.flush().await;
    let db = dir.path().join("history.db");
    let live = count(
        &db,
        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())",
    ) * count(&db, "SELECT page_size FROM pragma_page_size()");
    assert!(live <= 256 * 1024 + 64 * 1024, "live bytes {live}");
    let newest = count(&db, "SELECT max(t) FROM samples");
    assert_eq!(
        newest,
        ms(6 * 3600 + 61),
        "the newest sample survives trimming"
    );
    assert!(
        count(&db, "SELECT min(t) FROM samples") > ms(0),
        "oldest trimmed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_jumps_back_and_forward_keep_minutes_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let lim = HistoryLimits {
        full_rate_hours: 1,
        ..limits()
    };
    let store = HistoryStore::open_with_options(dir.path(), &lim, options(clock.clone()));
    feed(&store, &clock, 0, 2 * 3600).await;
    // Back by an hour (samples repeat timestamps), then forward past where it was.
    feed(&store, &clock, 3600, 2 * 3600).await;
    feed(&store, &clock, 2 * 3600, 4 * 3600).await;
    let db = dir.path().join("history.db");
    assert_eq!(count(&db, "SELECT max(n) FROM samples_1m"), 60);
    let q = HistoryQuery {
        since_ms: Some(ms(0)),
        until_ms: Some(ms(4 * 3600 - 1)),
        max_points: Some(240),
    };
    let points = store.query(q).await;
    let total: u32 = points.iter().map(|p| p.samples).sum();
    assert_eq!(total, 4 * 3600, "every second once, none twice");
    let c = rusqlite::Connection::open(&db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}
