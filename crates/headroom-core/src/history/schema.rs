//! The stored columns and every SQL statement derived from them.
//!
//! One list of columns drives the table definitions, the insert, the per-minute rollup and the
//! downsampling query, so adding a metric is one line. All values are stored as integers
//! (bytes, bytes per second, hundredths of a percent, pressure 0/1/2): SQLite stores small
//! integers in 0–6 bytes, which keeps a day at 1 s small (see `benches/history.rs`).

use crate::snapshot::Snapshot;

/// How a column is summarised per minute and per downsampled point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    /// Minimum, average and maximum are kept.
    MinAvgMax,
    /// Only the average is kept.
    Avg,
    /// Only the maximum is kept (pressure: the worst level in the interval).
    Max,
}

/// The stored columns, in storage order.
pub(crate) const COLS: [(&str, Agg); 14] = [
    ("used", Agg::MinAvgMax),
    ("available", Agg::Avg),
    ("app", Agg::Avg),
    ("wired", Agg::Avg),
    ("compressed", Agg::MinAvgMax),
    ("cached", Agg::Avg),
    ("free", Agg::Avg),
    ("swap_used", Agg::MinAvgMax),
    ("pressure", Agg::Max),
    ("free_pct_x100", Agg::Avg),
    ("swapin_rate", Agg::Avg),
    ("swapout_rate", Agg::Avg),
    ("compression_rate", Agg::Avg),
    ("mlx_cache", Agg::MinAvgMax),
];

/// Index of each column in [`COLS`] and [`SampleRow::values`].
pub(crate) mod col {
    pub const USED: usize = 0;
    pub const AVAILABLE: usize = 1;
    pub const APP: usize = 2;
    pub const WIRED: usize = 3;
    pub const COMPRESSED: usize = 4;
    pub const CACHED: usize = 5;
    pub const FREE: usize = 6;
    pub const SWAP_USED: usize = 7;
    pub const PRESSURE: usize = 8;
    pub const FREE_PCT: usize = 9;
    pub const SWAPIN: usize = 10;
    pub const SWAPOUT: usize = 11;
    pub const COMPRESSION: usize = 12;
    pub const MLX_CACHE: usize = 13;
}

/// One full-rate sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SampleRow {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// Values in [`COLS`] order.
    pub values: [Option<i64>; 14],
}

fn bytes(v: Option<u64>) -> Option<i64> {
    v.and_then(|b| i64::try_from(b).ok())
}

fn rate(v: Option<f64>) -> Option<i64> {
    v.filter(|r| r.is_finite()).map(|r| r.round() as i64)
}

impl SampleRow {
    /// The stored form of a snapshot.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let m = &s.memory;
        let mlx_cache = s
            .mlx
            .iter()
            .any(|p| p.cache.is_some())
            .then(|| s.mlx_cache_total());
        let free_pct = s
            .pressure
            .free_percent
            .filter(|p| p.is_finite())
            .map(|p| (p * 100.0).round() as i64);
        Self {
            t: s.at.timestamp_millis(),
            values: [
                bytes(m.used),
                bytes(m.available),
                bytes(m.app),
                bytes(m.wired),
                bytes(m.compressed),
                bytes(m.cached),
                bytes(m.free),
                bytes(s.swap.used),
                s.pressure.level.map(|l| i64::from(l.as_number())),
                free_pct,
                rate(s.rates.swapins),
                rate(s.rates.swapouts),
                rate(s.rates.compressions),
                bytes(mlx_cache),
            ],
        }
    }
}

/// Names of the minute-table columns of one stored column.
fn minute_cols(name: &str, agg: Agg) -> Vec<String> {
    match agg {
        Agg::MinAvgMax => vec![
            format!("{name}_min"),
            format!("{name}_avg"),
            format!("{name}_max"),
        ],
        Agg::Avg => vec![format!("{name}_avg")],
        Agg::Max => vec![format!("{name}_max")],
    }
}

/// The schema (idempotent).
pub(crate) fn ddl() -> String {
    let raw: Vec<String> = COLS.iter().map(|(n, _)| format!("{n} INTEGER")).collect();
    let minute: Vec<String> = COLS
        .iter()
        .flat_map(|(n, a)| minute_cols(n, *a))
        .map(|c| {
            let ty = if c.ends_with("_avg") {
                "REAL"
            } else {
                "INTEGER"
            };
            format!("{c} {ty}")
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS samples (t INTEGER PRIMARY KEY, {raw});
         CREATE TABLE IF NOT EXISTS samples_1m (t INTEGER PRIMARY KEY, n INTEGER NOT NULL, {minute});
         CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, t INTEGER NOT NULL,
             severity TEXT NOT NULL, kind TEXT NOT NULL, json TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS events_t ON events (t);
         CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS mlx_procs (t INTEGER NOT NULL, pid INTEGER NOT NULL,
             active INTEGER, cache INTEGER, footprint INTEGER, PRIMARY KEY (pid, t));",
        raw = raw.join(", "),
        minute = minute.join(", "),
    )
}

/// The schema version this build writes (`PRAGMA user_version`). 0 is a database from before
/// versions were recorded.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Brings a database written by an earlier schema up to this one, keeping its rows, then
/// records [`SCHEMA_VERSION`]. Each step runs once, in order, in one transaction:
/// - 1: every stored column of [`COLS`] exists in `samples` and `samples_1m` (a column added
///   to [`COLS`] — a new metric — is added to an older file; its old rows read as unknown).
///
/// A file written by a newer version is left as it is: reading and writing name their columns,
/// so the columns this build knows keep working.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.execute_batch(&ddl())?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(version);
    }
    let tx = conn.unchecked_transaction()?;
    add_missing_columns(&tx)?;
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(SCHEMA_VERSION)
}

/// Adds the columns of [`COLS`] (and their minute columns) that a table lacks.
fn add_missing_columns(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let present = |table: &str| -> rusqlite::Result<Vec<String>> {
        let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names = st.query_map([], |r| r.get::<_, String>(1))?;
        names.collect()
    };
    let samples = present("samples")?;
    let minutes = present("samples_1m")?;
    for (name, agg) in COLS {
        if !samples.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE samples ADD COLUMN {name} INTEGER"))?;
        }
        for c in minute_cols(name, agg) {
            if !minutes.contains(&c) {
                let ty = if c.ends_with("_avg") {
                    "REAL"
                } else {
                    "INTEGER"
                };
                conn.execute_batch(&format!("ALTER TABLE samples_1m ADD COLUMN {c} {ty}"))?;
            }
        }
    }
    Ok(())
}

/// `INSERT OR REPLACE INTO samples …` with 15 parameters (t, then [`COLS`]).
pub(crate) fn insert_sample() -> String {
    let names: Vec<&str> = COLS.iter().map(|(n, _)| *n).collect();
    let params: Vec<String> = (1..=COLS.len() + 1).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR REPLACE INTO samples (t, {}) VALUES ({})",
        names.join(", "),
        params.join(", ")
    )
}

/// Rolls the full-rate samples in `[?1, ?2)` up into whole minutes.
pub(crate) fn rollup() -> String {
    let mut targets = Vec::new();
    let mut exprs = Vec::new();
    for (n, a) in COLS {
        targets.extend(minute_cols(n, a));
        match a {
            Agg::MinAvgMax => exprs.extend([
                format!("min({n})"),
                format!("avg({n})"),
                format!("max({n})"),
            ]),
            Agg::Avg => exprs.push(format!("avg({n})")),
            Agg::Max => exprs.push(format!("max({n})")),
        }
    }
    format!(
        "INSERT OR REPLACE INTO samples_1m (t, n, {}) \
         SELECT (t / 60000) * 60000 AS m, count(*), {} FROM samples \
         WHERE t >= ?1 AND t < ?2 GROUP BY m",
        targets.join(", "),
        exprs.join(", ")
    )
}

/// (low, middle, high) expressions of a column as read from the minute table.
fn minute_shape(n: &str, a: Agg) -> [String; 3] {
    match a {
        Agg::MinAvgMax => [format!("{n}_min"), format!("{n}_avg"), format!("{n}_max")],
        Agg::Avg => ["NULL".into(), format!("{n}_avg"), "NULL".into()],
        Agg::Max => ["NULL".into(), format!("{n}_max"), format!("{n}_max")],
    }
}

/// The downsampling query.
///
/// Parameters: ?1 since, ?2 until (inclusive), ?3 the rollup watermark (minute rows are read
/// for `[since, watermark)`, full-rate rows for `[max(since, watermark), until]`), ?4 the
/// bucket origin, ?5 the bucket width in ms. Each output row: bucket, first t, sample count,
/// then low/middle/high per column in [`COLS`] order.
pub(crate) fn select_points() -> String {
    let mut raw = Vec::new();
    let mut minute = Vec::new();
    let mut outer = Vec::new();
    for (n, a) in COLS {
        raw.push(format!("{n} AS {n}_lo, {n} AS {n}_mid, {n} AS {n}_hi"));
        let [lo, mid, hi] = minute_shape(n, a);
        minute.push(format!("{lo} AS {n}_lo, {mid} AS {n}_mid, {hi} AS {n}_hi"));
        let mid_agg = if a == Agg::Max {
            format!("max({n}_mid)")
        } else {
            format!("sum({n}_mid * n) / sum(CASE WHEN {n}_mid IS NOT NULL THEN n END)")
        };
        outer.push(format!("min({n}_lo), {mid_agg}, max({n}_hi)"));
    }
    format!(
        "WITH m AS (
           SELECT t, n, {minute} FROM samples_1m WHERE t >= ?1 AND t < ?3 AND t <= ?2
           UNION ALL
           SELECT t, 1 AS n, {raw} FROM samples WHERE t >= max(?1, ?3) AND t <= ?2
         )
         SELECT (t - ?4) / ?5 AS b, min(t), sum(n), {outer} FROM m GROUP BY b ORDER BY b",
        minute = minute.join(", "),
        raw = raw.join(", "),
        outer = outer.join(", "),
    )
}
