//! `headroom history` and `headroom events`: read the history database directly, read-only,
//! so they work whether or not `headroom serve` or the app is running.

use crate::output::{emit, exit_code, fail, print_json, safe};
use chrono::{DateTime, Utc};
use headroom_core::events::{Event, Severity};
use headroom_core::history::{parse_since, EventQuery, HistoryPoint, HistoryQuery};
use headroom_core::metrics::{stored_metrics, Agg, Unit};
use headroom_core::ops::{self, Local, OpError, Param};
use headroom_core::units::format_bytes;
use std::path::PathBuf;

/// Rows the text table shows unless `--max-points` says otherwise.
const TEXT_POINTS: u32 = 60;

/// Arguments of `headroom history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Start: a duration back from now (90s, 15m, 1h, 2d), an RFC 3339 time or epoch ms.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// End (same forms as --since); default now.
    #[arg(long)]
    pub until: Option<String>,
    /// Merge neighbouring samples (min/avg/max) so that at most this many points remain
    /// (the text table defaults to 60; --json and --csv to every sample).
    #[arg(long)]
    pub max_points: Option<u32>,
    /// Print a JSON array of points.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV with a header line (bytes, bytes per second, percent; empty when unknown).
    #[arg(long)]
    pub csv: bool,
    /// Data directory holding history.db (default: HEADROOM_DATA_DIR or the platform's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `headroom events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only events after this (same forms as `history --since`); default all kept.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print a JSON array of events.
    #[arg(long)]
    pub json: bool,
    /// Data directory holding history.db (default: HEADROOM_DATA_DIR or the platform's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

fn time_ms(param: Param, text: &str, now: DateTime<Utc>) -> Result<i64, OpError> {
    parse_since(text, now)
        .map(|t| t.timestamp_millis())
        .map_err(|e| OpError::bad_param(param, e))
}

/// Runs `headroom history`.
pub async fn run_history(args: &HistoryArgs) -> u8 {
    match history(args).await {
        Ok(code) => code,
        Err(e) => fail("", &e),
    }
}

async fn history(args: &HistoryArgs) -> Result<u8, OpError> {
    let now = Utc::now();
    let q = HistoryQuery {
        since_ms: Some(time_ms(Param::Since, &args.since, now)?),
        until_ms: args
            .until
            .as_deref()
            .map(|u| time_ms(Param::Until, u, now))
            .transpose()?,
        max_points: args
            .max_points
            .or((!args.json && !args.csv).then_some(TEXT_POINTS)),
    };
    let host = Local::from_env().with_data_dir(args.data_dir.clone());
    let points = ops::history(&host, q).await?;
    if args.json {
        return Ok(exit_code(print_json(&points, false), 0));
    }
    let text = if args.csv {
        to_csv(&points)
    } else {
        to_text(&points)
    };
    Ok(exit_code(emit(&text), 0))
}

fn stamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The CSV `headroom history --csv` prints: time, sample count, one column per stored metric
/// of the registry, then `<key>_min`/`<key>_max` for the metrics summarised min/avg/max.
pub fn to_csv(points: &[HistoryPoint]) -> String {
    let stored: Vec<_> = stored_metrics().collect();
    let ranged: Vec<&str> = stored
        .iter()
        .filter(|(_, h)| h.agg == Agg::MinAvgMax)
        .map(|(m, _)| m.key)
        .collect();
    let mut header = vec!["t_ms".to_string(), "time".into(), "samples".into()];
    header.extend(stored.iter().map(|(m, _)| m.key.to_string()));
    for k in &ranged {
        header.extend([format!("{k}_min"), format!("{k}_max")]);
    }
    let mut out = header.join(",") + "\n";
    for p in points {
        let mut cells = vec![p.t.to_string(), stamp(p.t), p.samples.to_string()];
        cells.extend(stored.iter().map(|(m, _)| number(m.unit, p.get(m.key))));
        for k in &ranged {
            let unit = stored
                .iter()
                .find(|(m, _)| m.key == *k)
                .map(|(m, _)| m.unit);
            let (lo, hi) = p.range(k).unzip();
            cells.extend(
                unit.map(|u| [number(u, lo), number(u, hi)])
                    .into_iter()
                    .flatten(),
            );
        }
        out += &cells.join(",");
        out.push('\n');
    }
    out
}

/// A CSV cell: empty when unknown, whole numbers for whole units.
fn number(unit: Unit, v: Option<f64>) -> String {
    match v {
        Some(x) if unit.integral() => format!("{}", x.max(0.0).round() as u64),
        Some(x) => x.to_string(),
        None => String::new(),
    }
}

fn size(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".to_string(), format_bytes)
}

fn pressure(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".into(), |v| Unit::Level.format(v))
}

/// The table `headroom history` prints.
pub fn to_text(points: &[HistoryPoint]) -> String {
    if points.is_empty() {
        return "No samples in that range.\n".to_string();
    }
    let mut out = format!(
        "{:<20}  {:>10}  {:>10}  {:>10}  {:>10}  {:<8}  {:>10}\n",
        "TIME (UTC)", "USED", "AVAILABLE", "COMPRESSED", "SWAP", "PRESSURE", "MLX CACHE"
    );
    for p in points {
        out += &format!(
            "{:<20}  {:>10}  {:>10}  {:>10}  {:>10}  {:<8}  {:>10}\n",
            stamp(p.t),
            size(p.bytes("used")),
            size(p.bytes("available")),
            size(p.bytes("compressed")),
            size(p.bytes("swap_used")),
            pressure(p.get("pressure")),
            size(p.bytes("mlx_cache"))
        );
    }
    out
}

/// Runs `headroom events`.
pub async fn run_events(args: &EventsArgs) -> u8 {
    match events(args).await {
        Ok(code) => code,
        Err(e) => fail("", &e),
    }
}

async fn events(args: &EventsArgs) -> Result<u8, OpError> {
    let now = Utc::now();
    let q = EventQuery {
        since_ms: args
            .since
            .as_deref()
            .map(|s| time_ms(Param::Since, s, now))
            .transpose()?,
        limit: Some(args.limit),
    };
    let host = Local::from_env().with_data_dir(args.data_dir.clone());
    let events = ops::events(&host, q).await?;
    if args.json {
        return Ok(exit_code(print_json(&events, false), 0));
    }
    Ok(exit_code(emit(&events_text(&events)), 0))
}

/// The lines `headroom events` prints.
pub fn events_text(events: &[Event]) -> String {
    if events.is_empty() {
        return "No events.\n".to_string();
    }
    events
        .iter()
        .map(|e| {
            let level = match e.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            };
            format!(
                "{}  {level:<8}  {}\n",
                e.at.format("%Y-%m-%dT%H:%M:%SZ"),
                safe(&e.message)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_cell_per_header_and_empty_unknowns() {
        let p = HistoryPoint::new(0, 1).with("used", Some(5.0));
        let csv = to_csv(&[p]);
        let mut lines = csv.lines();
        let header = lines.next().unwrap().split(',').count();
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(row.len(), header);
        assert_eq!(&row[..4], ["0", "1970-01-01T00:00:00Z", "1", "5"]);
        assert_eq!(row[4], "");
    }
}
