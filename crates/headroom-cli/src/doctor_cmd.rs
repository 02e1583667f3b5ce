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
    let (snap, two_sample_trend) = sample();
    let ctx = DoctorContext {
        compressed_trend: doctor::history_trend(&config::data_dir(), chrono::Utc::now())
            .or(two_sample_trend),
        top: Some(top::group(&top::processes())),
        cmdlines: block_on(doctor::agent_cmdlines(&runtime_dir())).unwrap_or_default(),
        policy_refusals: journal_refusals(),
        process_history: doctor::process_history(&config::data_dir(), chrono::Utc::now()),
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

/// Policy limits refused in running processes, from the journal of the last week (a running
/// `headroom serve` or app applies policies and journals refusals).
fn journal_refusals() -> Vec<doctor::PolicyRefusal> {
    let Ok(reader) = headroom_core::history::HistoryReader::open(&config::data_dir()) else {
        return Vec::new();
    };
    let q = headroom_core::history::EventQuery {
        since_ms: Some(chrono::Utc::now().timestamp_millis() - 7 * 86_400_000),
        limit: Some(10_000),
    };
    reader
        .events(&q)
        .map(|events| doctor::policy_refusals(&events))
        .unwrap_or_default()
}

/// Two samples one second apart, with MLX processes; the compressed trend between them.
fn sample() -> (Snapshot, Option<Trend>) {
    let cfg = config::load(&config::config_path()).config;
    let mut sampler = Sampler::new();
    let first = sampler.sample();
    std::thread::sleep(Duration::from_secs(1));
    let mut snap = sampler.sample();
    cfg.linux_pressure.apply(&mut snap);
    match block_on(MlxMonitor::from_env().poll()) {
        Ok(poll) => attach_mlx(&mut snap, &poll),
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
    (snap, trend)
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
        if let Some(d) = &f.detail {
            for line in d.lines() {
                out += &format!("    {line}\n");
            }
        }
    }
    out
}
