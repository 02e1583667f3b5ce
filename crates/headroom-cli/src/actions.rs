//! `headroom clear-cache` and `headroom limit`: actions on MLX processes through their agents.
//!
//! Exit status: 0 every process succeeded; 1 some succeeded and some failed (named);
//! 2 bad input (size, unknown pid, process without agent) or nothing succeeded.

use crate::output::{emit, fail, print_json};
use headroom_core::agents::{ActionOutcome, LimitKind};
use headroom_core::ops::{self, ClearCacheRequest, LimitRequest, Local};
use headroom_core::units::{format_bytes, parse_size};

/// Arguments of `headroom clear-cache`.
#[derive(Debug, clap::Args)]
pub struct ClearCacheArgs {
    /// Only this process (repeatable); default: every process with the agent.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Print the outcomes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `headroom limit`.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Which MLX limit: cache, memory or wired.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// The new limit: 512MiB, 2GB, 1.5G, 0 (powers of 1024).
    #[arg(value_parser = parse_size_arg)]
    pub size: u64,
    /// Only this process (repeatable); default: every process with the agent.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Print the outcomes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The limit names on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    /// The allocator cache limit (`mx.set_cache_limit`).
    Cache,
    /// The memory limit (`mx.set_memory_limit`).
    Memory,
    /// The wired limit (`mx.set_wired_limit`, Metal only).
    Wired,
}

impl From<KindArg> for LimitKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Cache => Self::Cache,
            KindArg::Memory => Self::Memory,
            KindArg::Wired => Self::Wired,
        }
    }
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.0)
}

/// Runs `headroom clear-cache`.
pub async fn run_clear_cache(args: &ClearCacheArgs) -> u8 {
    let req = ClearCacheRequest {
        pids: args.pids.clone(),
    };
    let summary = match ops::clear_cache(&Local::from_env(), req).await {
        Ok(s) => s,
        Err(e) => return fail("", &e),
    };
    let written = if args.json {
        print_json(&summary.outcomes, true)
    } else {
        emit(&render_cleared(&summary.outcomes))
    };
    if let Err(code) = written {
        return code;
    }
    exit_code(&summary.outcomes, "clear the cache")
}

/// Runs `headroom limit`.
pub async fn run_limit(args: &LimitArgs) -> u8 {
    let kind = LimitKind::from(args.kind);
    let req = LimitRequest {
        kind,
        bytes: Some(args.size),
        size: None,
        pids: args.pids.clone(),
    };
    let summary = match ops::set_limit(&Local::from_env(), req).await {
        Ok(s) => s,
        Err(e) => return fail("", &e),
    };
    let written = if args.json {
        print_json(&summary.outcomes, true)
    } else {
        emit(&render_limits(kind, &summary.outcomes))
    };
    if let Err(code) = written {
        return code;
    }
    exit_code(&summary.outcomes, &format!("set the {} limit", kind.word()))
}

fn failure(o: &ActionOutcome) -> String {
    o.error
        .as_ref()
        .map_or_else(|| "failed".to_string(), ToString::to_string)
}

/// The text `headroom clear-cache` prints.
pub fn render_cleared(outcomes: &[ActionOutcome]) -> String {
    let mut out = String::new();
    let mut total = 0u64;
    let mut cleared = 0usize;
    for o in outcomes {
        if o.ok {
            let freed = o.freed.unwrap_or(0);
            total += freed;
            cleared += 1;
            out += &format!(
                "{:>7}  {:<18} freed {} ({freed} bytes)\n",
                o.pid,
                o.name,
                format_bytes(freed)
            );
        } else {
            out += &format!("{:>7}  {:<18} FAILED: {}\n", o.pid, o.name, failure(o));
        }
    }
    let plural = if cleared == 1 { "" } else { "es" };
    out += &format!(
        "Total    freed {} ({total} bytes) in {cleared} process{plural}\n",
        format_bytes(total)
    );
    out
}

/// The text `headroom limit` prints.
pub fn render_limits(kind: LimitKind, outcomes: &[ActionOutcome]) -> String {
    let mut out = String::new();
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_string(), format_bytes);
    for o in outcomes {
        if o.ok {
            out += &format!(
                "{:>7}  {:<18} {} limit {} (was {})\n",
                o.pid,
                o.name,
                kind.word(),
                show(o.current),
                show(o.previous)
            );
        } else {
            out += &format!("{:>7}  {:<18} FAILED: {}\n", o.pid, o.name, failure(o));
            if let Some(why) = o.error.as_ref().and_then(crate::wired_cmd::explain_refusal) {
                out += &format!("{:>7}  {why}\n", "");
            }
        }
    }
    out
}

/// 0 all succeeded, 1 some failed (named on stderr), 2 none succeeded.
fn exit_code(outcomes: &[ActionOutcome], what: &str) -> u8 {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| format!("{} ({})", o.pid, o.name))
        .collect();
    if failed.is_empty() {
        return 0;
    }
    let succeeded = outcomes.len() - failed.len();
    eprintln!(
        "headroom: could not {what} in {} of {} processes: {}",
        failed.len(),
        outcomes.len(),
        failed.join(", ")
    );
    if succeeded == 0 {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_core::agents::AgentError;

    fn o(pid: u32, ok: bool, freed: u64) -> ActionOutcome {
        ActionOutcome {
            pid,
            name: "python3".into(),
            ok,
            freed: ok.then_some(freed),
            previous: None,
            current: None,
            error: (!ok).then(|| AgentError {
                code: "timeout".into(),
                message: "no answer".into(),
            }),
        }
    }

    #[test]
    fn totals_and_exit_codes() {
        let all = [o(1, true, 1 << 20), o(2, true, 1 << 20)];
        let text = render_cleared(&all);
        assert!(
            text.contains("Total    freed 2.0 MB (2097152 bytes) in 2 processes"),
            "{text}"
        );
        assert_eq!(exit_code(&all, "x"), 0);
        let partial = [o(1, true, 5), o(2, false, 0)];
        assert!(render_cleared(&partial).contains("FAILED: no answer (timeout)"));
        assert_eq!(exit_code(&partial, "x"), 1);
        assert_eq!(exit_code(&[o(2, false, 0)], "x"), 2);
    }
}
