//! History is private: `history.db`, `-wal` and `-shm` are 0600 in a 0700 directory, whether
//! the store creates them or finds them looser (0644 files in a 0755 directory, as earlier
//! versions left them: events name processes and pids).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

use headroom_core::history::{HistoryLimits, HistoryStore};
use headroom_core::snapshot::{Platform, Snapshot};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn write_some(data: &Path) {
    let store = HistoryStore::open(data, &HistoryLimits::default());
    for i in 0..3 {
        let mut s = Snapshot::empty(Platform::Linux, chrono::Utc::now());
        s.memory.used = Some(i);
        store.record(&s);
    }
    store.flush().await;
    let files = ["history.db", "history.db-wal", "history.db-shm"];
    for f in files {
        let p = data.join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    assert_eq!(mode(data), 0o700);
    drop(store);
}

#[tokio::test]
async fn new_history_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    write_some(&tmp.path().join("data")).await;
}

#[tokio::test]
async fn existing_history_files_and_directory_are_tightened_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_some(&data).await;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    write_some(&data).await;
}
