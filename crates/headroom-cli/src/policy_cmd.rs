//! `headroom policy list|check|enable|disable|add|remove`: MLX policies in the configuration
//! file, edited from a terminal. A running `headroom serve` or app picks up the change within
//! seconds (it watches the file) and applies it to matching processes.
//!
//! Exit status: 0 done; 1 nothing changed (e.g. the id exists) or problems found; 2 bad
//! input, or the file cannot be read or written (a file with problems is never overwritten).

use crate::output::{emit, exit_code, print_json, safe};
use headroom_core::agents::MlxMonitor;
use headroom_core::config::Config;
use headroom_core::engine::policy::observed;
use headroom_core::ops::{self, ConfigSaveRequest, Local};
use headroom_core::policies::{
    parse_limit, suggested_policy, suggestion, IdleTrim, LimitSpec, Policy,
};
use headroom_core::units::{format_bytes, parse_size};
use std::fmt::Write as _;

/// Arguments of `headroom policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `headroom policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// List the policies, whether they are on, and the suggested first policy with its sources.
    List {
        /// Print JSON (`enabled`, `list`, `suggested`).
        #[arg(long)]
        json: bool,
    },
    /// Show which policy each running MLX process with the agent matches, and the limits it
    /// would get (nothing is changed).
    Check,
    /// Turn policies on: matching MLX processes get their limits as their agents appear.
    Enable,
    /// Turn policies off (limits already set stay until each process exits).
    Disable,
    /// Add a policy (the match fields all must hold; none: every MLX process).
    Add(AddArgs),
    /// Remove the policy ID.
    Remove {
        /// The policy's id.
        id: String,
    },
}

/// Arguments of `headroom policy add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The policy's id (letters, digits, `-`, `_`); with `--suggested`, defaults to the
    /// suggestion's.
    pub id: Option<String>,
    /// Add the suggested first policy for this machine (see `headroom policy list`).
    #[arg(long, conflicts_with_all = ["process", "cmdline", "python_env", "cache", "memory", "wired"])]
    pub suggested: bool,
    /// Match: the process name, exactly.
    #[arg(long)]
    pub process: Option<String>,
    /// Match: a regular expression searched in the command line.
    #[arg(long)]
    pub cmdline: Option<String>,
    /// Match: the Python environment (its sys.prefix, an absolute path).
    #[arg(long)]
    pub python_env: Option<String>,
    /// Cache limit: a size (`512MiB`) or a percentage of physical memory (`5%`).
    #[arg(long, value_parser = parse_limit)]
    pub cache: Option<LimitSpec>,
    /// Memory limit: a size or a percentage of physical memory (`75%`).
    #[arg(long, value_parser = parse_limit)]
    pub memory: Option<LimitSpec>,
    /// Wired limit: a size or a percentage of physical memory (`70%`).
    #[arg(long, value_parser = parse_limit)]
    pub wired: Option<LimitSpec>,
    /// Idle trim: clear the cache after this many seconds of flat active memory and cache.
    #[arg(long)]
    pub idle_trim_after: Option<u64>,
    /// Idle trim: only when the cache is above this size (default 100MiB).
    #[arg(long, value_parser = parse_size_arg)]
    pub idle_trim_above: Option<u64>,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.0)
}

/// Runs `headroom policy …`: reads the configuration with [`ops::config`] and saves edits
/// with [`ops::config_save`] (validated, atomic, comments kept).
pub async fn run(args: &PolicyArgs) -> u8 {
    let b = Local::from_env();
    match &args.command {
        PolicyCommand::List { json } => list(&b, *json),
        PolicyCommand::Check => check(&b).await,
        PolicyCommand::Enable => edit(&b, |c| set_enabled(c, true)).await,
        PolicyCommand::Disable => edit(&b, |c| set_enabled(c, false)).await,
        PolicyCommand::Add(a) => match build(a) {
            Ok(p) => edit(&b, |c| add(c, p)).await,
            Err(e) => {
                eprintln!("headroom: {e}");
                2
            }
        },
        PolicyCommand::Remove { id } => edit(&b, |c| remove(c, id)).await,
    }
}

/// Physical memory of this machine, for percentages and the suggestion.
fn physical() -> Option<u64> {
    headroom_core::Sampler::new().sample().memory.total
}

fn list(b: &Local, json: bool) -> u8 {
    let loaded = ops::config(b);
    if let Some(e) = &loaded.error {
        eprintln!("headroom: {e}");
    }
    let code = u8::from(loaded.error.is_some());
    let p = &loaded.config.policies;
    let s = suggestion(physical());
    let mut out = String::new();
    if json {
        let v = serde_json::json!({
            "enabled": p.enabled,
            "list": p.list,
            "suggested": s,
        });
        return exit_code(print_json(&v, true), code);
    }
    let _ = writeln!(
        out,
        "Policies are {} ({}).",
        if p.enabled { "on" } else { "off" },
        loaded.path.display()
    );
    for pol in &p.list {
        let _ = writeln!(
            out,
            "  {}{}: {} -> {}",
            pol.id,
            if pol.enabled { "" } else { " (disabled)" },
            pol.match_description(),
            pol.effect_description()
        );
    }
    if p.list.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    let _ = writeln!(
        out,
        "\nSuggested first policy (`headroom policy add --suggested`): {} -> {}",
        s.policy.match_description(),
        s.policy.effect_description()
    );
    for src in &s.sources {
        let _ = writeln!(out, "  {}: {}", src.key, src.source);
    }
    exit_code(emit(&out), code)
}

async fn check(b: &Local) -> u8 {
    let loaded = ops::config(b);
    if let Some(e) = &loaded.error {
        eprintln!("headroom: {e}");
        return 1;
    }
    let mut out = String::new();
    let policies = &loaded.config.policies;
    if !policies.enabled {
        let _ = writeln!(
            out,
            "Policies are off: nothing is applied (`headroom policy enable`)."
        );
    }
    let poll = MlxMonitor::new(ops::Backend::runtime_dir(b)).poll().await;
    let seen = observed(&poll);
    if seen.is_empty() {
        let _ = writeln!(out, "No MLX process with the agent is running.");
    }
    for o in &seen {
        let enabled_view = headroom_core::policies::Policies {
            enabled: true,
            list: policies.list.clone(),
        };
        match enabled_view.matching(&o.facts) {
            None => {
                let _ = writeln!(
                    out,
                    "{} (pid {}): no policy matches",
                    safe(&o.facts.name),
                    o.pid
                );
            }
            Some(pol) => {
                let limits: Vec<String> = pol
                    .limits(o.physical)
                    .iter()
                    .map(|(k, b)| format!("{} {}", k.word(), format_bytes(*b)))
                    .collect();
                let _ = writeln!(
                    out,
                    "{} (pid {}): policy {} -> {}",
                    safe(&o.facts.name),
                    o.pid,
                    pol.id,
                    if limits.is_empty() {
                        "no limits".to_string()
                    } else {
                        limits.join(", ")
                    }
                );
            }
        }
    }
    exit_code(emit(&out), 0)
}

fn build(a: &AddArgs) -> Result<Policy, String> {
    let mut p = if a.suggested {
        suggested_policy(physical())
    } else {
        Policy::every("")
    };
    match (&a.id, a.suggested) {
        (Some(id), _) => p.id.clone_from(id),
        (None, true) => {}
        (None, false) => return Err("policy add needs an ID (or --suggested)".into()),
    }
    if !a.suggested {
        p.process.clone_from(&a.process);
        p.cmdline.clone_from(&a.cmdline);
        p.python_env.clone_from(&a.python_env);
        p.cache = a.cache;
        p.memory = a.memory;
        p.wired = a.wired;
    }
    if a.idle_trim_after.is_some() || a.idle_trim_above.is_some() {
        let d = IdleTrim::default();
        p.idle_trim = Some(IdleTrim {
            after_secs: a.idle_trim_after.unwrap_or(d.after_secs),
            cache_above: a.idle_trim_above.unwrap_or(d.cache_above),
        });
    }
    Ok(p)
}

/// What an edit did: `Ok(message)` to save, `Err((message, code))` to stop without saving.
type EditResult = Result<String, (String, u8)>;

fn set_enabled(c: &mut Config, on: bool) -> EditResult {
    if c.policies.enabled == on {
        return Err((
            format!("policies are already {}", if on { "on" } else { "off" }),
            0,
        ));
    }
    c.policies.enabled = on;
    if !on {
        return Ok("policies are off; limits already set stay until each process exits".into());
    }
    if c.policies.list.is_empty() {
        return Ok(
            "policies are on, but there are none yet: `headroom policy add --suggested` \
                   adds the suggested first policy"
                .into(),
        );
    }
    Ok(format!(
        "policies are on: {} apply to MLX processes as their agents appear",
        c.policies.list.len()
    ))
}

fn add(c: &mut Config, p: Policy) -> EditResult {
    if c.policies.list.iter().any(|x| x.id == p.id) {
        return Err((
            format!(
                "a policy {:?} exists already; remove it first or pick another id",
                p.id
            ),
            1,
        ));
    }
    let msg = format!(
        "added policy {}: {} -> {}{}",
        p.id,
        p.match_description(),
        p.effect_description(),
        if c.policies.enabled {
            ""
        } else {
            " (policies are off: `headroom policy enable` turns them on)"
        }
    );
    c.policies.list.push(p);
    Ok(msg)
}

fn remove(c: &mut Config, id: &str) -> EditResult {
    let before = c.policies.list.len();
    c.policies.list.retain(|p| p.id != id);
    if c.policies.list.len() == before {
        let ids: Vec<&str> = c.policies.list.iter().map(|p| p.id.as_str()).collect();
        return Err((
            format!(
                "no policy {id:?}; policies: {}",
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            ),
            1,
        ));
    }
    Ok(format!("removed policy {id}"))
}

/// Loads the file, applies `change` and saves it through [`ops::config_save`] (validated; a
/// file with problems is never overwritten).
async fn edit(b: &Local, change: impl FnOnce(&mut Config) -> EditResult) -> u8 {
    let loaded = ops::config(b);
    if let Some(e) = &loaded.error {
        eprintln!("headroom: not changed: {e}");
        for issue in &loaded.issues {
            eprintln!("  {}", issue.message);
        }
        return 2;
    }
    let mut c = loaded.config;
    let message = match change(&mut c) {
        Ok(m) => m,
        Err((m, code)) => {
            if code == 0 {
                return exit_code(emit(&format!("headroom: {m}\n")), 0);
            } else {
                eprintln!("headroom: {m}");
            }
            return code;
        }
    };
    let req = ConfigSaveRequest {
        config: serde_json::to_value(&c).unwrap_or_default(),
        dry_run: false,
    };
    match ops::config_save(b, req).await {
        Ok(saved) => exit_code(emit(&format!("{message} ({})\n", saved.path)), 0),
        Err(e) => {
            eprintln!("headroom: not changed: {}", e.error);
            for issue in e.issues.iter().skip(1) {
                eprintln!("  {}", issue.message);
            }
            e.exit_code()
        }
    }
}
