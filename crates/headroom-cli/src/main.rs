//! `headroom`: Apple Silicon / Linux unified memory from a terminal.
//!
//! Each subcommand lives in its own module; this file only parses arguments and dispatches.
//! Exit status: 0 success, 1 partial failure or findings, 2 bad input or nothing could be done.

mod actions;
mod agent_cmd;
mod capture;
mod config_cmd;
mod doctor_cmd;
mod fit_cmd;
mod history_cmd;
mod output;
mod policy_cmd;
mod selftest_cmd;
mod serve_cmd;
mod status;
mod top_cmd;
mod watch;
mod wired_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Unified-memory monitor for people running MLX models.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one snapshot of memory, swap, pressure and MLX processes.
    Status(status::StatusArgs),
    /// Print a line (or JSON line) per sample until Ctrl-C.
    Watch(watch::WatchArgs),
    /// Record the raw counters behind the numbers, to attach to a report or replay anywhere.
    Capture(capture::CaptureArgs),
    /// Clear the MLX allocator cache of processes with the agent; prints bytes freed.
    ClearCache(actions::ClearCacheArgs),
    /// Set an MLX limit (cache, memory or wired) in processes with the agent.
    Limit(actions::LimitArgs),
    /// Serve the HTTP API, Server-Sent Events, Prometheus /metrics and the web UI.
    Serve(serve_cmd::ServeArgs),
    /// Print recorded history (full rate for the last day, per minute before) from the database.
    History(history_cmd::HistoryArgs),
    /// Print the journal: rules fired and resolved, actions, agents, storage problems.
    Events(history_cmd::EventsArgs),
    /// The configuration file: path, show, check, init, schema.
    Config(config_cmd::ConfigArgs),
    /// The system GPU wired limit (iogpu.wired_limit_mb, macOS): show, set SIZE, reset.
    WiredLimit(wired_cmd::WiredLimitArgs),
    /// Processes by memory footprint, grouped by app.
    Top(top_cmd::TopArgs),
    /// Will a model fit? Weights, KV cache and overhead against this machine.
    Fit(fit_cmd::FitArgs),
    /// Check memory pressure, swap, compression, MLX caches, wired limits and other apps.
    Doctor(doctor_cmd::DoctorArgs),
    /// The agent in every MLX process of a Python environment: enable, disable, status, attach.
    Agent(agent_cmd::AgentArgs),
    /// Exercise every platform read once and compare Headroom with the system's own tools.
    Selftest(selftest_cmd::SelftestArgs),
    /// MLX policies: limits and idle trims every matching MLX process gets, set once.
    Policy(policy_cmd::PolicyArgs),
}

/// Restores the default SIGPIPE action for a one-shot command, as Unix command-line tools
/// expect: `headroom … | head` ends quietly when `head` exits instead of panicking on the
/// closed pipe (Rust ignores SIGPIPE by default). Never for `serve`: with the default action,
/// any client that resets its connection before the answer is written would end the server.
fn restore_default_sigpipe(command: &Command) {
    if matches!(command, Command::Serve(_)) {
        return;
    }
    // SAFETY: called first in main, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    restore_default_sigpipe(&cli.command);
    // One runtime for every command: two workers for `serve`; the others run on this thread.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("headroom: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    ExitCode::from(runtime.block_on(cli.command.run()))
}

impl Command {
    /// Maps the subcommand to its module, which maps its arguments to an operation and
    /// renders the answer; the value is the exit status.
    async fn run(self) -> u8 {
        match self {
            Self::Status(args) => status::run(&args).await,
            Self::Watch(args) => watch::run(&args).await,
            Self::Capture(args) => capture::run(&args).await,
            Self::ClearCache(args) => actions::run_clear_cache(&args).await,
            Self::Limit(args) => actions::run_limit(&args).await,
            Self::Serve(args) => serve_cmd::run(&args).await,
            Self::History(args) => history_cmd::run_history(&args).await,
            Self::Events(args) => history_cmd::run_events(&args).await,
            Self::Config(args) => config_cmd::run(&args).await,
            Self::WiredLimit(args) => wired_cmd::run(&args).await,
            Self::Top(args) => top_cmd::run(&args).await,
            Self::Fit(args) => fit_cmd::run(&args).await,
            Self::Doctor(args) => doctor_cmd::run(&args).await,
            Self::Agent(args) => agent_cmd::run(&args),
            Self::Selftest(args) => selftest_cmd::run(&args).await,
            Self::Policy(args) => policy_cmd::run(&args).await,
        }
    }
}
