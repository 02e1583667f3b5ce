//! `headroom doctor [--json]`: the seeds' diagnostic order as checks with evidence.
//!
//! It takes two samples one second apart (swap and compression rates), polls the MLX agents
//! (and asks each for its command line), lists other apps by footprint, and reads the last
//! hour of history for the compressed-memory trend when a database exists.
//!
//! Exit status: 0 healthy; 1 findings; 2 could not check.

use crate::output::print_json;
use crate::wired_cmd::block_on;
use headroom_core::agents::{attach_mlx, runtime_dir, MlxMonitor};
use headroom_core::config;
use headroom_core::doctor::{self, DoctorContext, DoctorReport, Severity, Trend};
use headroom_core::snapshot::Snapshot;
use headroom_core::top;
use headroom_core::Sampler;
use std::collections::HashMap;
use std::time::Duration;

/// Arguments of `headroom doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON (`status`, `findings`, `checks`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `headroom doctor`.
pub fn run(args: &DoctorArgs) -> u8 {
    let (snap, two_sample_trend, outside_mlx_before) = sample();
    let ctx = DoctorContext {
        compressed_trend: doctor::history_trend(&config::data_dir(), chrono::Utc::now())
            .or(two_sample_trend),
        top: Some(top::group(&top::processes())),
        cmdlines: block_on(doctor::agent_cmdlines(&runtime_dir())).unwrap_or_default(),
        outside_mlx_before,
    };
    let report = doctor::report(&snap, &ctx);
    if args.json {
        if !print_json(&report, true) {
            return 2;
        }
    } else {
        print!("{}", render(&report));
    }
    report.exit_code()
}

/// Two samples one second apart, with MLX processes (polled at both); the compressed trend
/// between them, and each attached process's memory outside MLX at the first.
fn sample() -> (Snapshot, Option<Trend>, HashMap<u32, (u64, f64)>) {
    let cfg = config::load(&config::config_path()).config;
    let mut sampler = Sampler::new();
    let first = sampler.sample();
    let mut monitor = MlxMonitor::from_env();
    let polls = block_on(async {
        let before = monitor.poll().await;
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        (
            before,
            monitor.poll().await,
            started.elapsed().as_secs_f64(),
        )
    });
    let mut snap = sampler.sample();
    cfg.linux_pressure.apply(&mut snap);
    let mut outside_before = HashMap::new();
    match polls {
        Ok((before, poll, secs)) => {
            attach_mlx(&mut snap, &poll);
            for p in &before.processes {
                if let Some(o) = p.outside_mlx {
                    outside_before.insert(p.pid, (o, secs));
                }
            }
        }
        Err(e) => snap.mark_unavailable("mlx", e),
    }
    let trend = match (first.memory.compressed, snap.memory.compressed) {
        (Some(a), Some(b)) => Some(Trend {
            first: a,
            last: b,
            secs: (snap.at - first.at).num_milliseconds() as f64 / 1000.0,
            source: "two samples".into(),
        }),
        _ => None,
    };
    (snap, trend, outside_before)
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Critical => "CRITICAL",
    }
}

/// The text `headroom doctor` prints.
pub fn render(r: &DoctorReport) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let mark = match c.status.as_str() {
            "ok" => "ok     ",
            "finding" => "FOUND  ",
            _ => "skipped",
        };
        let detail = if c.status == "skipped" {
            format!(" ({})", c.detail)
        } else {
            String::new()
        };
        out += &format!("[{mark}] {}{detail}\n", c.id);
    }
    out += "\n";
    if r.findings.is_empty() {
        out += match r.status.as_str() {
            "healthy" => "Healthy: nothing to fix.\n",
            _ => "Could not check this machine.\n",
        };
    }
    for f in &r.findings {
        out += &format!("{} {}: {}\n", severity_word(f.severity), f.id, f.title);
        let ev: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{} {}", e.name, e.shown))
            .collect();
        out += &format!("  evidence: {}\n", ev.join(", "));
        out += &format!("  fix: {}\n", f.action);
        if let Some(c) = &f.command {
            out += &format!("  run: {c}\n");
        }
    }
    out
}
