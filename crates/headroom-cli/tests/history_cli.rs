//! `headroom history` and `headroom events` as a person or a script runs them, against a real
//! database written by the history store (and with no engine running).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use chrono::{Duration, Utc};
use headroom_core::events::{Event, EventKind, Severity};
use headroom_core::history::{HistoryLimits, HistoryStore};
use headroom_core::snapshot::{Platform, PressureLevel, Snapshot};
use std::process::{Command, Output};

/// A data directory with 120 samples (the last two minutes) and two events.
async fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &HistoryLimits::default());
    let now = Utc::now();
    for i in 0..120 {
        let mut s = Snapshot::empty(Platform::Linux, now - Duration::seconds(120 - i));
        s.memory.used = Some(1 << 30);
        s.memory.compressed = Some(i as u64);
        s.pressure.level = Some(PressureLevel::Normal);
        s.pressure.free_percent = Some(40.0);
        store.record(&s);
    }
    for (ago, message) in [(3600, "an hour ago"), (10, "just now")] {
        store.journal(&Event {
            at: now - Duration::seconds(ago),
            severity: Severity::Warning,
            kind: EventKind::AgentAttached {
                pid: 42,
                name: "python".into(),
            },
            message: message.into(),
        });
    }
    store.flush().await;
    drop(store);
    dir
}

fn headroom(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test]
async fn history_json_csv_and_text() {
    let dir = populated().await;
    let json = headroom(dir.path(), &["history", "--since", "1h", "--json"]);
    assert!(json.status.success(), "{json:?}");
    let points: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 120);
    assert_eq!(points[0]["used"], 1 << 30);
    assert_eq!(points[119]["compressed"], 119);
    assert_eq!(points[0]["pressure"], 0);

    let csv = headroom(dir.path(), &["history", "--since", "1h", "--csv"]);
    assert!(csv.status.success());
    let text = stdout(&csv);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 121);
    assert!(lines[0].starts_with("t_ms,time,samples,used,"));
    assert!(lines[1].contains(",1073741824,"), "{}", lines[1]);

    let merged = headroom(
        dir.path(),
        &["history", "--since", "1h", "--max-points", "4", "--json"],
    );
    let points: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    let points = points.as_array().unwrap();
    assert!(points.len() <= 4 && !points.is_empty());
    let total: u64 = points.iter().map(|p| p["samples"].as_u64().unwrap()).sum();
    assert_eq!(total, 120);
    assert!(points[0]["compressed_max"].as_u64().unwrap() > 0);

    let table = headroom(dir.path(), &["history", "--since", "1h"]);
    assert!(table.status.success());
    let rows = stdout(&table).lines().count() - 1;
    assert!(
        (2..=60).contains(&rows),
        "the table is summarised: {rows} rows"
    );
    let table = headroom(dir.path(), &["history", "--since", "30s"]);
    let text = stdout(&table);
    assert!(text.starts_with("TIME (UTC)"), "{text}");
    assert!(text.contains("1.0 GB") && text.contains("Normal"), "{text}");
}

#[tokio::test]
async fn events_text_json_and_since() {
    let dir = populated().await;
    let all = headroom(dir.path(), &["events", "--json"]);
    assert!(all.status.success());
    let events: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"], "an hour ago");
    assert_eq!(events[1]["kind"]["type"], "agent_attached");

    let recent = headroom(dir.path(), &["events", "--since", "5m"]);
    let text = stdout(&recent);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("warning") && text.contains("just now"),
        "{text}"
    );
}

#[test]
fn missing_database_and_bad_since_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let missing = headroom(dir.path(), &["history"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no history database"), "{err}");

    let bad = headroom(dir.path(), &["history", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("\"yesterday\""), "{err}");
}

#[tokio::test]
async fn reads_while_a_writer_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &HistoryLimits::default());
    let mut s = Snapshot::empty(Platform::Linux, Utc::now() - Duration::seconds(5));
    s.memory.used = Some(123);
    store.record(&s);
    store.flush().await;
    let out = headroom(dir.path(), &["history", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let points: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(points[0]["used"], 123);
    // The writer keeps working after the CLI read.
    s.at = Utc::now();
    s.memory.used = Some(456);
    store.record(&s);
    store.flush().await;
    assert!(store.status().ok);
    let out = headroom(dir.path(), &["history", "--csv"]);
    assert_eq!(stdout(&out).lines().count(), 3);
}
