//! The stored columns and every SQL statement derived from them.
//!
//! One list of columns drives the table definitions, the insert, the per-minute rollup and the
//! downsampling query, so adding a metric is one line. All values are stored as integers
//! (bytes, bytes per second, hundredths of a percent, pressure 0/1/2): SQLite stores small
//! integers in 0–6 bytes, which keeps a day at 1 s small (see `benches/history.rs`).

use crate::metrics::{stored_metrics, Agg, MetricSpec, Stored, STORED_COUNT};
use crate::snapshot::Snapshot;

/// The stored columns, in storage order: the metrics of the registry that history keeps.
pub(crate) fn columns() -> Vec<(&'static MetricSpec, Stored)> {
    stored_metrics().collect()
}

/// One full-rate sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SampleRow {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// Values in [`columns`] order.
    pub values: [Option<i64>; STORED_COUNT],
}

impl SampleRow {
    /// The stored form of a snapshot: each stored metric's value × its scale, rounded.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let mut values = [None; STORED_COUNT];
        for (slot, (m, h)) in values.iter_mut().zip(stored_metrics()) {
            *slot = m
                .machine_value(s)
                .map(|v| (v * h.scale).round())
                .filter(|v| v.abs() < 9.2e18)
                .map(|v| v as i64);
        }
        Self {
            t: s.at.timestamp_millis(),
            values,
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
    let cols = columns();
    let raw: Vec<String> = cols
        .iter()
        .map(|(_, h)| format!("{} INTEGER", h.column))
        .collect();
    let minute: Vec<String> = cols
        .iter()
        .flat_map(|(_, h)| minute_cols(h.column, h.agg))
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
/// - 1: every stored column of the metric registry exists in `samples` and `samples_1m` (a
///   metric added to the registry is added to an older file; its old rows read as unknown).
///
/// A metric added to the registry later needs no new version: any stored column a file lacks
/// is added whenever it is opened for writing. A file written by a newer version keeps its
/// version; reading and writing name their columns, so the columns this build knows work.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.execute_batch(&ddl())?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA_VERSION && missing_columns(conn)?.is_empty() {
        return Ok(version);
    }
    let tx = conn.unchecked_transaction()?;
    add_missing_columns(&tx)?;
    let version = version.max(SCHEMA_VERSION);
    tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
    tx.commit()?;
    Ok(version)
}

/// The columns `table` has.
fn present(conn: &rusqlite::Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = st.query_map([], |r| r.get::<_, String>(1))?;
    names.collect()
}

/// The stored columns a database written by an older schema lacks (in `samples` or
/// `samples_1m`): a read-only reader cannot add them, so its queries read them as unknown.
pub(crate) fn missing_columns(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<&'static str>> {
    let samples = present(conn, "samples")?;
    let minutes = present(conn, "samples_1m")?;
    Ok(columns()
        .into_iter()
        .filter(|(_, h)| {
            !samples.iter().any(|c| c == h.column)
                || minute_cols(h.column, h.agg)
                    .iter()
                    .any(|c| !minutes.contains(c))
        })
        .map(|(_, h)| h.column)
        .collect())
}

/// Adds the stored columns (and their minute columns) that a table lacks.
fn add_missing_columns(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let samples = present(conn, "samples")?;
    let minutes = present(conn, "samples_1m")?;
    for (
        _,
        Stored {
            column: name, agg, ..
        },
    ) in columns()
    {
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

/// Every stored column name, comma-separated, in [`columns`] order.
pub(crate) fn column_list() -> String {
    let names: Vec<&str> = columns().iter().map(|(_, h)| h.column).collect();
    names.join(", ")
}

/// Every minute-table column name (after `t` and `n`), comma-separated.
pub(crate) fn minute_column_list() -> String {
    let names: Vec<String> = columns()
        .iter()
        .flat_map(|(_, h)| minute_cols(h.column, h.agg))
        .collect();
    names.join(", ")
}

/// `INSERT OR REPLACE INTO samples …` with t, then one parameter per column of [`columns`].
pub(crate) fn insert_sample() -> String {
    let cols = columns();
    let names: Vec<&str> = cols.iter().map(|(_, h)| h.column).collect();
    let params: Vec<String> = (1..=cols.len() + 1).map(|i| format!("?{i}")).collect();
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
    for (
        _,
        Stored {
            column: n, agg: a, ..
        },
    ) in columns()
    {
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
/// then low/middle/high per column in [`columns`] order. Columns in `missing` (a file from an
/// older schema opened read-only) read as unknown.
pub(crate) fn select_points(missing: &[&str]) -> String {
    let mut raw = Vec::new();
    let mut minute = Vec::new();
    let mut outer = Vec::new();
    for (
        _,
        Stored {
            column: n, agg: a, ..
        },
    ) in columns()
    {
        if missing.contains(&n) {
            raw.push(format!("NULL AS {n}_lo, NULL AS {n}_mid, NULL AS {n}_hi"));
            minute.push(format!("NULL AS {n}_lo, NULL AS {n}_mid, NULL AS {n}_hi"));
            outer.push(format!("min({n}_lo), max({n}_mid), max({n}_hi)"));
            continue;
        }
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
