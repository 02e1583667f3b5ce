//! Reading history without a writer (the CLI), where it lives, and `--since` values.

use super::store::Store;
use super::{EventQuery, HistoryPoint, HistoryQuery};
use crate::events::Event;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = "history.db";

/// The data directory: `HEADROOM_DATA_DIR`, else `~/Library/Application Support/Headroom` on
/// macOS, `$XDG_DATA_HOME/headroom` or `~/.local/share/headroom` elsewhere.
pub fn default_data_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("HEADROOM_DATA_DIR") {
        return dir;
    }
    let home = env("HOME").unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        return home.join("Library/Application Support/Headroom");
    }
    env("XDG_DATA_HOME")
        .unwrap_or_else(|| home.join(".local/share"))
        .join("headroom")
}

/// Parses a `--since`/`?since=` value: a duration back from `now` (`90s`, `15m`, `1h`,
/// `2d`), an RFC 3339 time, or milliseconds since the Unix epoch.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if t.len() >= 10 && t.chars().all(|c| c.is_ascii_digit()) {
        if let Some(at) = t
            .parse()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
        {
            return Ok(at);
        }
    }
    let back = crate::units::parse_duration(t).map_err(|_| {
        format!(
            "invalid time {text:?}: expected a duration back from now (90s, 15m, 1h, 2d), \
             an RFC 3339 time (2026-01-31T12:00:00Z) or milliseconds since 1970"
        )
    })?;
    let back = chrono::Duration::from_std(back).map_err(|e| e.to_string())?;
    Ok(now - back)
}

/// Read-only access to a history database, without a writer thread.
pub struct HistoryReader {
    store: Store,
}

impl HistoryReader {
    /// Opens `history.db` in `data_dir` read-only; an error names the file and the reason.
    pub fn open(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(format!("no history database at {}", path.display()));
        }
        let store = Store::open_read_only(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Self { store })
    }

    /// Points of history, as [`super::HistoryStore::query`] gives them.
    pub fn query(&self, q: &HistoryQuery, now: DateTime<Utc>) -> Result<Vec<HistoryPoint>, String> {
        self.store
            .query(q, now.timestamp_millis())
            .map_err(|e| e.to_string())
    }

    /// Events of the journal, oldest first.
    pub fn events(&self, q: &EventQuery) -> Result<Vec<Event>, String> {
        self.store.events(q).map_err(|e| e.to_string())
    }

    /// Per-process MLX readings since `since` (ms since the Unix epoch), by pid, oldest
    /// first; empty for a database from before they were recorded.
    pub fn process_points(
        &self,
        since_ms: i64,
    ) -> std::collections::HashMap<u32, Vec<crate::restart::ProcessPoint>> {
        self.store.process_points(since_ms).unwrap_or_default()
    }

    /// `PRAGMA integrity_check`: `"ok"` for a healthy database.
    pub fn integrity_check(&self) -> Result<String, String> {
        self.store.integrity_check().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_values_people_write() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let h = parse_since("1h", now).unwrap();
        assert_eq!((now - h).num_seconds(), 3600);
        assert_eq!((now - parse_since("2d", now).unwrap()).num_hours(), 48);
        let abs = parse_since("2026-01-01T12:00:00Z", now).unwrap();
        assert_eq!((now - abs).num_hours(), 12);
        let ms = parse_since("1767268800000", now).unwrap();
        assert_eq!(ms, abs);
        let err = parse_since("yesterday", now).unwrap_err();
        assert!(err.contains("\"yesterday\""), "{err}");
    }
}
