//! `headroom watch`: a line per sample, scheduled without drift, until Ctrl-C.

use crate::output::{fail, pressure_word, print_json, use_colour, write_line};
use headroom_core::ops::{self, Local};
use headroom_core::snapshot::Snapshot;
use headroom_core::units::{format_bytes, format_rate, parse_duration};
use std::time::Duration;

/// Arguments of `headroom watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Time between samples: 1s, 500ms, 2m… (at least 100ms).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one JSON snapshot per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many samples (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
    /// Print every sample of a capture file (`headroom capture`) without waiting.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<std::path::PathBuf>,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.0)?;
    if d < Duration::from_millis(100) {
        return Err(format!("invalid interval {s:?}: must be at least 100ms"));
    }
    Ok(d)
}

/// Runs `headroom watch`: each line is the snapshot every view shows (memory with the
/// configured thresholds, then one poll of the MLX agents).
pub async fn run(args: &WatchArgs) -> u8 {
    if let Some(file) = &args.replay {
        return crate::capture::watch_replay(file, args.json, print_line);
    }
    let host = Local::from_env();
    // `interval` ticks on a fixed schedule (no drift); after a stall (sleep, SIGSTOP) it skips
    // the missed ticks instead of bursting to catch up.
    let mut ticker = tokio::time::interval(args.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let colour = use_colour();
    let mut printed = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => return 0,
        }
        let snap = match ops::snapshot(&host).await {
            Ok(s) => s,
            Err(e) => return fail("", &e),
        };
        let written = if args.json {
            print_json(&*snap, false)
        } else {
            print_line(&snap, colour)
        };
        if let Err(code) = written {
            return code; // 0 when stdout was closed (`| head`): a normal way to stop.
        }
        printed += 1;
        if args.count.is_some_and(|c| printed >= c) {
            return 0;
        }
    }
}

/// The line `headroom watch` prints for a snapshot.
pub fn line(s: &Snapshot, colour: bool) -> String {
    let size = |v: Option<u64>| v.map_or_else(|| "n/a".into(), format_bytes);
    let rate = |v: Option<f64>| v.map_or_else(|| "-".into(), format_rate);
    let processes = match s.mlx.len() {
        0 => String::new(),
        1 => " in 1 MLX process".to_string(),
        n => format!(" in {n} MLX processes"),
    };
    format!(
        "{} {:<8} used {} / {}  swap {}  compressed {}  out {}  mlx cache {}{processes}",
        s.at.format("%H:%M:%S"),
        pressure_word(s.pressure.level, colour),
        size(s.memory.used),
        size(s.memory.total),
        size(s.swap.used),
        size(s.memory.compressed),
        rate(s.rates.swapouts),
        format_bytes(s.mlx_cache_total()),
    )
}

fn print_line(s: &Snapshot, colour: bool) -> Result<(), u8> {
    write_line(&line(s, colour))
}
