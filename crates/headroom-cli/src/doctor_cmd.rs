//! `headroom doctor [--json]`: pressure, swap, compression, MLX caches, wired limits and other
//! apps, as checks with evidence.
//!
//! It takes two samples one second apart (swap and compression rates), polls the MLX agents
//! (and asks each for its command line), lists other apps by footprint, and reads the last
//! hour of history for the compressed-memory trend when a database exists (else the trend of
//! its two samples): the core's `ops::doctor` on the command line's one-shot host.
//!
//! Exit status: 0 healthy; 1 findings; 2 could not check.

use crate::output::{emit, fail, print_json, safe};
use headroom_core::doctor::{DoctorReport, Severity};
use headroom_core::ops::{self, Local};
use std::time::Duration;

/// Arguments of `headroom doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON (`status`, `findings`, `checks`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `headroom doctor`.
pub async fn run(args: &DoctorArgs) -> u8 {
    let host = Local::from_env().with_rates(Duration::from_secs(1));
    let report = match ops::doctor(&host).await {
        Ok(r) => r,
        Err(e) => return fail("doctor", &e),
    };
    let written = if args.json {
        print_json(&report, true)
    } else {
        emit(&render(&report))
    };
    crate::output::exit_code(written, report.exit_code())
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
            format!(" ({})", safe(&c.detail))
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
        out += &format!(
            "{} {}: {}\n",
            severity_word(f.severity),
            f.id,
            safe(&f.title)
        );
        let ev: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{} {}", safe(&e.name), safe(&e.shown)))
            .collect();
        out += &format!("  evidence: {}\n", ev.join(", "));
        out += &format!("  fix: {}\n", safe(&f.action));
        if let Some(c) = &f.command {
            out += &format!("  run: {}\n", safe(c));
        }
        if let Some(d) = &f.detail {
            for line in d.lines() {
                out += &format!("    {line}\n");
            }
        }
    }
    out
}
