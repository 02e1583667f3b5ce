//! A database that cannot be opened or written never stops history: memory fallback,
//! reporting, recovery, and corrupt files moved aside (never deleted).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::Utc;
use headroom_core::events::EventKind;
use headroom_core::history::{
    EventQuery, HistoryLimits, HistoryOptions, HistoryQuery, HistoryReader, HistoryStore,
};
use headroom_core::snapshot::{Platform, Snapshot};
use std::time::{Duration, Instant};

/// Sample `used`, stamped `used` seconds after a minute ago (one row per second).
fn snap(used: u64) -> Snapshot {
    let at = Utc::now() - chrono::Duration::seconds(60 - used as i64);
    let mut s = Snapshot::empty(Platform::Linux, at);
    s.memory.used = Some(used);
    s
}

fn fast() -> HistoryOptions {
    HistoryOptions {
        batch_interval: Duration::from_millis(20),
        retry_interval: Duration::from_millis(100),
        ..HistoryOptions::default()
    }
}

async fn wait_until(store: &HistoryStore, ok: impl Fn(&HistoryStore) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        store.flush().await;
        if ok(store) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn kinds(events: &[headroom_core::events::Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e.kind {
            EventKind::StorageError { .. } => "error",
            EventKind::StorageRecovered => "recovered",
            _ => "other",
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_data_dir_falls_back_to_memory_then_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    // A file where the data directory should be: nothing can be created under it (this
    // holds for root too, unlike chmod).
    let blocker = tmp.path().join("blocked");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let data_dir = blocker.join("headroom");
    let store = HistoryStore::open_with_options(&data_dir, &HistoryLimits::default(), fast());
    let status = store.status();
    assert!(!status.ok && status.in_memory, "{status:?}");
    let error = status.error.unwrap();
    assert!(error.contains("blocked"), "error names the path: {error}");

    // Sampling goes on: history is served from memory.
    for used in 1..=5 {
        store.record(&snap(used));
    }
    let points = store.query(HistoryQuery::default()).await;
    assert_eq!(points.len(), 5);
    let events = store.events(EventQuery::default()).await;
    assert_eq!(kinds(&events), ["error"]);

    // The directory becomes writable: the store recovers and keeps what it held.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir_all(&data_dir).unwrap();
    assert!(
        wait_until(&store, |s| s.status().ok).await,
        "never recovered"
    );
    let status = store.status();
    assert!(!status.in_memory && status.error.is_none(), "{status:?}");
    store.record(&snap(6));
    store.flush().await;

    let reader = HistoryReader::open(&data_dir).unwrap();
    let on_disk = reader.query(&HistoryQuery::default(), Utc::now()).unwrap();
    let used: Vec<u64> = on_disk.iter().filter_map(|p| p.bytes("used")).collect();
    assert_eq!(
        used,
        [1, 2, 3, 4, 5, 6],
        "samples from the outage were kept"
    );
    let events = reader.events(&EventQuery::default()).unwrap();
    assert_eq!(kinds(&events), ["error", "recovered"]);
    assert_eq!(reader.integrity_check().unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_file_is_moved_aside_not_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.db");
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    std::fs::write(tmp.path().join("history.db-wal"), b"stale wal").unwrap();

    let store = HistoryStore::open_with_options(tmp.path(), &HistoryLimits::default(), fast());
    let status = store.status();
    assert!(status.ok && !status.in_memory, "{status:?}");
    let note = status.last_error.unwrap();
    assert!(note.contains("moved it aside"), "{note}");

    let aside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("history.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 2, "db and its wal moved aside: {aside:?}");
    let main = aside.iter().find(|n| !n.ends_with("-wal")).unwrap();
    assert_eq!(std::fs::read(tmp.path().join(main)).unwrap(), garbage);

    store.record(&snap(9));
    let points = store.query(HistoryQuery::default()).await;
    assert_eq!(points.len(), 1);
    let events = store.events(EventQuery::default()).await;
    assert_eq!(kinds(&events), ["error"]);
    assert!(events[0].message.contains("moved it aside"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_removed_while_running_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(headroom_core::history::ManualClock::new(Utc::now()));
    let opts = HistoryOptions {
        clock: clock.clone(),
        ..fast()
    };
    let store = HistoryStore::open_with_options(tmp.path(), &HistoryLimits::default(), opts);
    store.record(&snap(1));
    store.flush().await;
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(tmp.path().join(f));
    }
    // The next maintenance pass notices; the retry starts a new file.
    clock.advance(chrono::Duration::seconds(120));
    store.record(&snap(2));
    assert!(
        wait_until(&store, |s| s.status().last_error.is_some()).await,
        "removal noticed"
    );
    assert!(wait_until(&store, |s| s.status().ok).await, "recovered");
    assert!(tmp.path().join("history.db").exists());
    let events = store.events(EventQuery::default()).await;
    assert_eq!(kinds(&events), ["error", "recovered"]);
}

#[test]
fn reader_reports_a_missing_database() {
    let tmp = tempfile::tempdir().unwrap();
    let err = HistoryReader::open(tmp.path()).err().unwrap();
    assert!(err.contains("no history database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_the_oldest_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = HistoryOptions {
        batch_max: 1000,
        batch_interval: Duration::from_secs(3600),
        queue_capacity: 10,
        ..HistoryOptions::default()
    };
    let store = HistoryStore::open_with_options(tmp.path(), &HistoryLimits::default(), opts);
    for used in 1..=25 {
        store.record(&snap(used));
    }
    assert_eq!(store.status().dropped, 15);
    let points = store.query(HistoryQuery::default()).await;
    let used: Vec<u64> = points.iter().filter_map(|p| p.bytes("used")).collect();
    assert_eq!(used, (16..=25).collect::<Vec<u64>>(), "the newest are kept");
}
