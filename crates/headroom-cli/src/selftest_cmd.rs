//! `headroom selftest [--json]`: every platform read and action path once on this machine,
//! and Headroom's figures beside the system's own tools (`headroom_core::selftest`).
//!
//! Exit status: 0 everything read and every comparison within its stated tolerance; 1
//! otherwise (the table marks each failure); 2 the report could not be printed.

use crate::output::{emit, print_json};
use headroom_core::agents::MlxMonitor;
use headroom_core::selftest;

/// Arguments of `headroom selftest`.
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `headroom selftest`.
pub async fn run(args: &SelftestArgs) -> u8 {
    let poll = MlxMonitor::from_env().poll().await;
    let report = selftest::run_here(|| Ok(poll));
    let written = if args.json {
        print_json(&report, true)
    } else {
        emit(&selftest::render(&report))
    };
    crate::output::exit_code(written, u8::from(!report.ok))
}
