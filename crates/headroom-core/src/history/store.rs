//! One SQLite database (a file, or the in-memory fallback) and every operation on it.
//!
//! The writer thread owns a [`Store`]; the CLI opens one read-only. The same code serves the
//! file and the memory fallback, so both keep retention, downsampling and queries identical.

use super::schema::{self, SampleRow};
use super::{EventQuery, HistoryPoint, HistoryQuery};
use crate::events::Event;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Minutes are rolled up only once this much older than "now" (samples still in flight).
const ROLLUP_LAG_MS: i64 = 10_000;
/// How long a connection waits for another one's lock (the CLI reading while serve writes).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits a maintenance pass enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Full-rate samples are kept this long.
    pub full_rate_ms: i64,
    /// Minute rows are kept this long.
    pub minute_ms: i64,
    /// Events are kept this long.
    pub event_ms: i64,
    /// At most this many events are kept.
    pub event_rows: u64,
    /// Bytes of live pages allowed.
    pub max_bytes: u64,
}

impl Retention {
    /// Retention from days and hours.
    pub fn new(full_rate_hours: u32, minute_days: u32, event_days: u32, max_bytes: u64) -> Self {
        Self {
            full_rate_ms: i64::from(full_rate_hours) * 3_600_000,
            minute_ms: i64::from(minute_days) * DAY_MS,
            event_ms: i64::from(event_days) * DAY_MS,
            event_rows: 100_000,
            max_bytes,
        }
    }
}

/// A database and where it lives (`None`: memory).
pub(crate) struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    /// Stored columns the file lacks (a file from an older schema opened read-only).
    missing: Vec<&'static str>,
}

/// Why a file could not be opened.
enum OpenError {
    /// The file is not a healthy database.
    Corrupt(String),
    /// Anything else (permissions, disk, …).
    Other(String),
}

fn classify(e: rusqlite::Error) -> OpenError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            OpenError::Corrupt(e.to_string())
        }
        _ => OpenError::Other(e.to_string()),
    }
}

fn floor_minute(t: i64) -> i64 {
    t.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// Whether `path` exists, is not empty and lacks SQLite's header.
fn foreign_file(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 16];
    match f.read(&mut head) {
        Ok(0) | Err(_) => false,
        Ok(_) => &head != b"SQLite format 3\0",
    }
}

/// Creates the database file 0600 when missing (SQLite gives its `-wal` and `-shm` the
/// database's mode) and tightens existing files to 0600.
fn make_private(path: &Path) -> Result<(), String> {
    crate::files::private_file(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        crate::files::tighten_file(&side)
            .map_err(|e| format!("cannot make {} private: {e}", side.display()))?;
    }
    Ok(())
}

/// Moves `path` (and its `-wal`/`-shm` companions) aside; returns the new name.
fn move_aside(path: &Path) -> Result<PathBuf, String> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &aside)
        .map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let to = PathBuf::from(format!("{}{suffix}", aside.display()));
            let _ = std::fs::rename(&side, to);
        }
    }
    Ok(aside)
}

impl Store {
    /// Opens (creating if needed) the database file. A corrupt file is moved aside and a new
    /// one started; the returned note says so.
    ///
    /// The directory is made private (0700, tightened when it exists) and the database and its
    /// `-wal` and `-shm` files private (0600): events name processes and pids.
    pub fn open_file(path: &Path) -> Result<(Self, Option<String>), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::private_dir(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        make_private(path)?;
        // Not a database at all: set it aside before SQLite touches it or its `-wal`.
        let opened = if foreign_file(path) {
            Err(OpenError::Corrupt("file is not a database".into()))
        } else {
            Self::try_file(path)
        };
        match opened {
            Ok(s) => Ok((s, None)),
            Err(OpenError::Corrupt(why)) => {
                let aside = move_aside(path)?;
                make_private(path)?;
                let store = Self::try_file(path).map_err(|e| match e {
                    OpenError::Corrupt(m) | OpenError::Other(m) => {
                        format!("cannot open {}: {m}", path.display())
                    }
                })?;
                let note = format!(
                    "history database {} was unreadable ({why}); moved it aside to {} and started a new one",
                    path.display(),
                    aside.display()
                );
                Ok((store, Some(note)))
            }
            Err(OpenError::Other(m)) => Err(format!("cannot open {}: {m}", path.display())),
        }
    }

    fn try_file(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(classify)?;
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(classify)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(classify)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 4194304;")
            .map_err(classify)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(classify)?;
        if check != "ok" {
            return Err(OpenError::Corrupt(check));
        }
        schema::migrate(&conn).map_err(classify)?;
        Ok(Self {
            conn,
            path: Some(path.to_path_buf()),
            missing: Vec::new(),
        })
    }

    /// An empty in-memory database with the same schema.
    pub fn open_memory() -> rusqlite::Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
        schema::migrate(&conn)?;
        Ok(Self {
            conn,
            path: None,
            missing: Vec::new(),
        })
    }

    /// Opens an existing database file for reading only (the CLI). A file written by an
    /// older schema is read as it is: the columns it lacks read as unknown (only the writer
    /// migrates).
    pub fn open_read_only(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let missing = schema::missing_columns(&conn)?;
        Ok(Self {
            conn,
            path: Some(path.to_path_buf()),
            missing,
        })
    }

    /// Whether this is the memory fallback.
    pub fn is_memory(&self) -> bool {
        self.path.is_none()
    }

    /// Writes samples and events in one transaction.
    pub fn insert(&self, samples: &[SampleRow], events: &[Event]) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare_cached(&schema::insert_sample())?;
            for s in samples {
                let mut vals: Vec<Option<i64>> = Vec::with_capacity(s.values.len() + 1);
                vals.push(Some(s.t));
                vals.extend(&s.values);
                st.execute(rusqlite::params_from_iter(vals))?;
            }
            let mut ev = tx.prepare_cached(
                "INSERT INTO events (t, severity, kind, json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for e in events {
                let (severity, kind, json) = encode_event(e);
                ev.execute(params![e.at.timestamp_millis(), severity, kind, json])?;
            }
        }
        tx.commit()
    }

    /// Writes per-process MLX readings.
    pub fn insert_procs(&self, rows: &[super::ProcRow]) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO mlx_procs (t, pid, active, cache, footprint) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let b = |v: Option<u64>| v.and_then(|x| i64::try_from(x).ok());
            for r in rows {
                let p = r.point;
                st.execute(params![p.t, r.pid, b(p.active), b(p.cache), b(p.footprint)])?;
            }
        }
        tx.commit()
    }

    /// Per-process MLX readings since `since_ms`, by pid, oldest first.
    pub fn process_points(
        &self,
        since_ms: i64,
    ) -> rusqlite::Result<std::collections::HashMap<u32, Vec<crate::restart::ProcessPoint>>> {
        let mut st = self.conn.prepare_cached(
            "SELECT pid, t, active, cache, footprint FROM mlx_procs WHERE t >= ?1 ORDER BY pid, t",
        )?;
        let u = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
        let rows = st.query_map([since_ms], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                crate::restart::ProcessPoint {
                    t: r.get(1)?,
                    active: u(r.get(2)?),
                    cache: u(r.get(3)?),
                    footprint: u(r.get(4)?),
                },
            ))
        })?;
        let mut out: std::collections::HashMap<u32, Vec<_>> = std::collections::HashMap::new();
        for row in rows {
            let (pid, point) = row?;
            out.entry(pid).or_default().push(point);
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .query_row("SELECT v FROM meta WHERE k = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// Rolls complete minutes up, enforces retention and the size bound.
    pub fn maintain(&self, now_ms: i64, r: &Retention) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let (first, last): (Option<i64>, Option<i64>) =
            tx.query_row("SELECT min(t), max(t) FROM samples", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        // A minute is complete once a later sample is stored (and it is not too recent).
        let to = floor_minute(now_ms - ROLLUP_LAG_MS).min(floor_minute(last.unwrap_or(now_ms)));
        let from = self.meta("rollup_to")?.or(first.map(floor_minute));
        if let Some(from) = from.filter(|f| *f < to) {
            tx.execute(&schema::rollup(), params![from, to])?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('rollup_to', ?1)",
            [to],
        )?;
        let full_cut = (now_ms - r.full_rate_ms).min(to);
        tx.execute("DELETE FROM samples WHERE t < ?1", [full_cut])?;
        tx.execute(
            "DELETE FROM samples_1m WHERE t < ?1",
            [now_ms - r.minute_ms],
        )?;
        tx.execute("DELETE FROM mlx_procs WHERE t < ?1", [now_ms - r.minute_ms])?;
        tx.execute("DELETE FROM events WHERE t < ?1", [now_ms - r.event_ms])?;
        tx.execute(
            "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [i64::try_from(r.event_rows).unwrap_or(i64::MAX)],
        )?;
        self.enforce_size(r.max_bytes)?;
        tx.commit()?;
        self.vacuum_if_sparse()
    }

    fn pragma_i64(&self, name: &str) -> rusqlite::Result<i64> {
        self.conn
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
    }

    /// Bytes held by live pages.
    fn used_bytes(&self) -> rusqlite::Result<u64> {
        let pages = self.pragma_i64("page_count")? - self.pragma_i64("freelist_count")?;
        Ok(u64::try_from(pages * self.pragma_i64("page_size")?).unwrap_or(0))
    }

    /// Deletes the oldest tenth of the largest kind of data until under `max_bytes`.
    fn enforce_size(&self, max_bytes: u64) -> rusqlite::Result<()> {
        for _ in 0..64 {
            if self.used_bytes()? <= max_bytes {
                break;
            }
            let mut deleted = 0;
            for table in ["samples", "samples_1m", "events"] {
                let key = if table == "events" { "id" } else { "t" };
                let n: i64 =
                    self.conn
                        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                if n > 0 {
                    deleted = self.conn.execute(
                        &format!(
                            "DELETE FROM {table} WHERE {key} IN \
                             (SELECT {key} FROM {table} ORDER BY {key} LIMIT ?1)"
                        ),
                        [(n / 10).max(1)],
                    )?;
                    break;
                }
            }
            if deleted == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Returns free pages to the file system when more than a quarter of the file is free.
    fn vacuum_if_sparse(&self) -> rusqlite::Result<()> {
        let free = self.pragma_i64("freelist_count")?;
        if free > 256 && free * 4 > self.pragma_i64("page_count")? {
            self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        Ok(())
    }

    /// (rows of samples and minute rows, bytes of the database).
    pub fn counts(&self) -> rusqlite::Result<(u64, u64)> {
        let rows: i64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM samples_1m)",
            [],
            |r| r.get(0),
        )?;
        let bytes = self.pragma_i64("page_count")? * self.pragma_i64("page_size")?;
        Ok((
            u64::try_from(rows).unwrap_or(0),
            u64::try_from(bytes).unwrap_or(0),
        ))
    }

    /// Points for `q`: full-rate rows when they cover the range, minute rows otherwise.
    pub fn query(&self, q: &HistoryQuery, now_ms: i64) -> rusqlite::Result<Vec<HistoryPoint>> {
        let until = q.until_ms.unwrap_or(now_ms);
        let since = q.since_ms.unwrap_or(until - 3_600_000);
        if since > until {
            return Ok(Vec::new());
        }
        // Minute rows answer only the part of the range older than every full-rate row.
        let (oldest_raw, oldest_minute): (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT (SELECT min(t) FROM samples), (SELECT min(t) FROM samples_1m)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let older = |o: i64| oldest_raw.map_or(true, |raw| o < floor_minute(raw));
        let minute_path = older(since) && oldest_minute.is_some_and(older);
        let (watermark, origin, res) = if minute_path {
            let wm = self.meta("rollup_to")?.unwrap_or(since);
            (wm, floor_minute(since), MINUTE_MS)
        } else {
            (since, since, 1)
        };
        let bucket = bucket_width(until - origin + 1, q.max_points, res);
        let mut st = self
            .conn
            .prepare_cached(&schema::select_points(&self.missing))?;
        let rows = st.query_map(params![since, until, watermark, origin, bucket], point)?;
        rows.collect()
    }

    /// The newest events at or after `q.since_ms`, oldest first.
    pub fn events(&self, q: &EventQuery) -> rusqlite::Result<Vec<Event>> {
        let limit = i64::from(q.limit.unwrap_or(1000));
        let mut st = self.conn.prepare_cached(
            "SELECT json FROM events WHERE t >= ?1 ORDER BY t DESC, id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![q.since_ms.unwrap_or(i64::MIN), limit], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for json in rows {
            if let Ok(e) = serde_json::from_str::<Event>(&json?) {
                out.push(e);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Copies everything into the database file at `path` (recovery from the memory
    /// fallback) and lowers its rollup watermark so the copied minutes are rolled up.
    pub fn copy_into(&self, path: &Path) -> rusqlite::Result<()> {
        let target = path.to_string_lossy().into_owned();
        self.conn.execute("ATTACH DATABASE ?1 AS disk", [target])?;
        // Columns are named: a migrated file has its newer columns in another order.
        let (raw, minute) = (schema::column_list(), schema::minute_column_list());
        let copied = self.conn.execute_batch(&format!(
            "BEGIN;
             INSERT OR IGNORE INTO disk.samples (t, {raw}) SELECT t, {raw} FROM main.samples;
             INSERT OR IGNORE INTO disk.samples_1m (t, n, {minute})
                 SELECT t, n, {minute} FROM main.samples_1m;
             INSERT INTO disk.events (t, severity, kind, json)
                 SELECT t, severity, kind, json FROM main.events ORDER BY id;
             UPDATE disk.meta SET v = min(v, coalesce((SELECT (min(t) / 60000) * 60000
                 FROM main.samples), v)) WHERE k = 'rollup_to';
             COMMIT;"
        ));
        if copied.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK;");
        }
        let detached = self.conn.execute_batch("DETACH DATABASE disk;");
        copied.and(detached)
    }

    /// `PRAGMA integrity_check` (tests, `headroom history --check`).
    pub fn integrity_check(&self) -> rusqlite::Result<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
    }
}

/// Bucket width in ms: at least `res`, a multiple of it, wide enough for `max_points`.
fn bucket_width(span: i64, max_points: Option<u32>, res: i64) -> i64 {
    match max_points.filter(|p| *p > 0) {
        Some(p) => {
            let w = (span + i64::from(p) - 1) / i64::from(p);
            ((w.max(res) + res - 1) / res) * res
        }
        None => res,
    }
}

fn encode_event(e: &Event) -> (String, String, String) {
    let severity = serde_json::to_value(e.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let kind = serde_json::to_value(&e.kind)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default();
    let json = serde_json::to_string(e).unwrap_or_default();
    (severity, kind, json)
}

/// A stored value as the metric's value: divided by its scale, whole for whole units.
fn decode(m: &crate::metrics::MetricSpec, scale: f64, v: f64) -> f64 {
    let v = if scale == 1.0 { v } else { v.round() / scale };
    if m.unit.integral() {
        let hi = if m.unit == crate::metrics::Unit::Level {
            2.0
        } else {
            f64::MAX
        };
        v.round().clamp(0.0, hi)
    } else {
        v
    }
}

/// Builds a point from one row of [`schema::select_points`].
fn point(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryPoint> {
    let n: i64 = r.get(2)?;
    let mut p = HistoryPoint::new(r.get(1)?, u32::try_from(n).unwrap_or(u32::MAX));
    for (i, (m, h)) in schema::columns().into_iter().enumerate() {
        let get = |k: usize| -> rusqlite::Result<Option<f64>> {
            Ok(r.get::<_, Option<f64>>(3 + 3 * i + k)?
                .map(|v| decode(m, h.scale, v)))
        };
        p.set(m.key, get(1)?);
        if n > 1 {
            p.set_range(m.key, get(0)?.zip(get(2)?));
        }
    }
    Ok(p)
}
