//! History databases written by earlier schemas open with their rows kept: the versioned
//! migration (`PRAGMA user_version`) brings them up to date.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use headroom_core::history::{HistoryLimits, HistoryQuery, HistoryReader, HistoryStore};
use headroom_core::snapshot::{MlxProcess, Platform, Snapshot};
use rusqlite::Connection;

/// The schema as Headroom wrote it before versions were recorded (user_version 0), frozen
/// here; `drop` leaves those columns out, as a file from before they existed.
fn unversioned_schema(drop: &[&str]) -> String {
    let cols: [(&str, &[&str]); 14] = [
        ("used", &["min", "avg", "max"]),
        ("available", &["avg"]),
        ("app", &["avg"]),
        ("wired", &["avg"]),
        ("compressed", &["min", "avg", "max"]),
        ("cached", &["avg"]),
        ("free", &["avg"]),
        ("swap_used", &["min", "avg", "max"]),
        ("pressure", &["max"]),
        ("free_pct_x100", &["avg"]),
        ("swapin_rate", &["avg"]),
        ("swapout_rate", &["avg"]),
        ("compression_rate", &["avg"]),
        ("mlx_cache", &["min", "avg", "max"]),
    ];
    let kept: Vec<_> = cols.iter().filter(|(n, _)| !drop.contains(n)).collect();
    let raw: Vec<String> = kept.iter().map(|(n, _)| format!("{n} INTEGER")).collect();
    let minute: Vec<String> = kept
        .iter()
        .flat_map(|(n, aggs)| {
            aggs.iter().map(move |a| {
                let ty = if *a == "avg" { "REAL" } else { "INTEGER" };
                format!("{n}_{a} {ty}")
            })
        })
        .collect();
    format!(
        "CREATE TABLE samples (t INTEGER PRIMARY KEY, {});
         CREATE TABLE samples_1m (t INTEGER PRIMARY KEY, n INTEGER NOT NULL, {});
         CREATE TABLE events (id INTEGER PRIMARY KEY, t INTEGER NOT NULL,
             severity TEXT NOT NULL, kind TEXT NOT NULL, json TEXT NOT NULL);
         CREATE INDEX events_t ON events (t);
         CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
        raw.join(", "),
        minute.join(", ")
    )
}

/// Writes `rows` (t, used) into a file with the old schema; returns the file's directory.
fn old_file(drop: &[&str], rows: &[(i64, i64)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("history.db")).unwrap();
    conn.execute_batch(&unversioned_schema(drop)).unwrap();
    for (t, used) in rows {
        conn.execute(
            "INSERT INTO samples (t, used, compressed) VALUES (?1, ?2, ?2)",
            [t, used],
        )
        .unwrap();
    }
    dir
}

fn user_version(dir: &tempfile::TempDir) -> i64 {
    let conn = Connection::open(dir.path().join("history.db")).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn rows(now: i64) -> Vec<(i64, i64)> {
    (1..=5)
        .map(|i| (now - 600_000 + i * 1000, i << 30))
        .collect()
}

async fn points(store: &HistoryStore, now: i64) -> Vec<(i64, Option<u64>, Option<u64>)> {
    let q = HistoryQuery {
        since_ms: Some(now - 3_600_000),
        until_ms: None,
        max_points: None,
    };
    store
        .query(q)
        .await
        .into_iter()
        .map(|p| (p.t, p.bytes("used"), p.bytes("mlx_cache")))
        .collect()
}

#[tokio::test]
async fn an_unversioned_database_keeps_its_rows_and_is_versioned() {
    let now = chrono::Utc::now().timestamp_millis();
    let dir = old_file(&[], &rows(now));
    assert_eq!(user_version(&dir), 0);
    let store = HistoryStore::open(dir.path(), &HistoryLimits::default());
    let got = points(&store, now).await;
    let want: Vec<_> = rows(now)
        .into_iter()
        .map(|(t, u)| (t, Some(u as u64), None))
        .collect();
    assert_eq!(got, want);
    assert!(store.status().ok, "{:?}", store.status());
    store.flush().await;
    drop(store);
    assert_eq!(user_version(&dir), 1);
}

#[tokio::test]
async fn a_database_from_before_a_column_existed_gains_it_and_keeps_its_rows() {
    let now = chrono::Utc::now().timestamp_millis();
    let dir = old_file(&["mlx_cache"], &rows(now));
    let store = HistoryStore::open(dir.path(), &HistoryLimits::default());
    assert!(store.status().ok, "{:?}", store.status());
    // The new column is written from now on, next to the old rows.
    let mut s = Snapshot::empty(Platform::Linux, chrono::Utc::now());
    s.memory.used = Some(7 << 30);
    s.mlx.push(MlxProcess {
        pid: 1,
        cache: Some(512 << 20),
        ..MlxProcess::default()
    });
    store.record(&s);
    store.flush().await;
    let got = points(&store, now).await;
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(
        &got[..5],
        &rows(now)
            .into_iter()
            .map(|(t, u)| (t, Some(u as u64), None))
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(got[5].1, Some(7 << 30));
    assert_eq!(got[5].2, Some(512 << 20));
    assert!(store.status().error.is_none(), "{:?}", store.status());
    drop(store);
    assert_eq!(user_version(&dir), 1);
    let conn = Connection::open(dir.path().join("history.db")).unwrap();
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt")
        })
        .count();
    assert_eq!(aside, 0, "nothing moved aside");
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples WHERE mlx_cache IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 5, "old rows read as unknown");
}

#[test]
fn the_read_only_reader_reads_a_database_of_the_previous_schema() {
    let now = chrono::Utc::now().timestamp_millis();
    // Written before versions were recorded, and before the MLX cache column existed.
    let dir = old_file(&["mlx_cache"], &rows(now));
    let reader = HistoryReader::open(dir.path()).unwrap();
    let q = HistoryQuery {
        since_ms: Some(now - 3_600_000),
        until_ms: None,
        max_points: None,
    };
    let got: Vec<_> = reader
        .query(&q, chrono::Utc::now())
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.t,
                p.bytes("used"),
                p.bytes("compressed"),
                p.get("mlx_cache"),
            )
        })
        .collect();
    let want: Vec<_> = rows(now)
        .into_iter()
        .map(|(t, u)| (t, Some(u as u64), Some(u as u64), None))
        .collect();
    assert_eq!(got, want);
    // Read-only: the file is neither migrated nor versioned.
    assert_eq!(user_version(&dir), 0);
    assert_eq!(reader.integrity_check().unwrap(), "ok");
}

#[tokio::test]
async fn a_versioned_database_missing_a_newer_metric_gains_its_column() {
    let now = chrono::Utc::now().timestamp_millis();
    let dir = old_file(&["mlx_cache"], &rows(now));
    Connection::open(dir.path().join("history.db"))
        .unwrap()
        .execute_batch("PRAGMA user_version = 1")
        .unwrap();
    let store = HistoryStore::open(dir.path(), &HistoryLimits::default());
    assert!(store.status().ok, "{:?}", store.status());
    assert_eq!(points(&store, now).await.len(), 5, "rows kept");
    drop(store);
    let conn = Connection::open(dir.path().join("history.db")).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('samples_1m') WHERE name LIKE 'mlx_cache_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
}
