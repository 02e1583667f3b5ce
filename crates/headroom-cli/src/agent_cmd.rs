//! `headroom agent enable | disable | status`: the agent in every MLX process of a Python
//! environment, with no change to how the program is started (`headroom_core::agents::install`);
//! `headroom agent attach PID`: the agent in a running Python 3.14+ process
//! (`headroom_core::agents::attach`).
//!
//! Exit status: 0 done; 1 some environments refused or failed (each named with its fix);
//! 2 bad input or nothing could be done.

use crate::output::print_json;
use headroom_core::agents::install::{self, EnvironmentStatus};
use headroom_core::agents::{attach, runtime_dir, scan};
use headroom_core::config;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// Arguments of `headroom agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AgentCommand {
    /// Start the agent in every process of a Python environment that imports MLX (a .pth hook).
    Enable(TargetArgs),
    /// Remove exactly what `enable` wrote into an environment.
    Disable(TargetArgs),
    /// List the environments where the agent is enabled, flagging stale versions.
    Status(StatusArgs),
    /// Start the agent in a running Python 3.14+ process now (sys.remote_exec, PEP 768).
    Attach(AttachArgs),
}

#[derive(Debug, clap::Args)]
struct AttachArgs {
    /// The MLX process.
    pid: u32,
}

/// Which environments: `--python`, `--pid`, or the MLX processes running now.
#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// The environment's interpreter, e.g. ~/venvs/mlx/bin/python (repeatable).
    #[arg(long = "python", value_name = "PATH")]
    pythons: Vec<PathBuf>,
    /// The environment a running MLX process uses (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// `disable` only: every environment in Headroom's record.
    #[arg(long)]
    all: bool,
    /// Do not ask for confirmation (for scripts).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Print the environments as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `headroom agent …`.
pub fn run(args: &AgentArgs) -> u8 {
    match &args.command {
        AgentCommand::Enable(t) => run_enable(t),
        AgentCommand::Disable(t) => run_disable(t),
        AgentCommand::Status(s) => run_status(s),
        AgentCommand::Attach(a) => run_attach(a),
    }
}

/// Interpreters named on the command line, or found from `--pid`s, or (neither given) from
/// the MLX processes running now; each with the pids that use it.
fn targets(t: &TargetArgs) -> Result<BTreeMap<PathBuf, Vec<u32>>, String> {
    let mut found: BTreeMap<PathBuf, Vec<u32>> = BTreeMap::new();
    for p in &t.pythons {
        found.entry(p.clone()).or_default();
    }
    let pids: Vec<u32> = if t.pythons.is_empty() && t.pids.is_empty() && !t.all {
        scan::scan().iter().map(|f| f.pid).collect()
    } else {
        t.pids.clone()
    };
    for pid in pids {
        let python = install::interpreter_of(pid).map_err(|e| e.to_string())?;
        found.entry(python).or_default().push(pid);
    }
    Ok(found)
}

/// Asks `question` on the terminal; false (with a hint) when stdin is not one.
fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("headroom: not a terminal, so nothing was changed; add --yes to confirm");
        return false;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

fn list_targets(found: &BTreeMap<PathBuf, Vec<u32>>) {
    for (python, pids) in found {
        if pids.is_empty() {
            println!("  {}", python.display());
        } else {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            println!("  {}  (MLX process {})", python.display(), pids.join(", "));
        }
    }
}

fn run_enable(t: &TargetArgs) -> u8 {
    let found = match targets(t) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("headroom: {e}");
            return 2;
        }
    };
    if found.is_empty() {
        eprintln!("headroom: no MLX process is running; name the environment with --python PATH (its bin/python)");
        return 2;
    }
    let asked = t.pythons.is_empty() && t.pids.is_empty();
    if asked && !t.yes {
        println!("Enable the Headroom agent for the Python of the MLX processes running now:");
        list_targets(&found);
        if !confirm(
            "Every process of these environments that imports MLX will start the agent. Enable?",
        ) {
            return 2;
        }
    }
    let data = config::data_dir();
    let mut results = Vec::new();
    let mut failures = 0usize;
    for python in found.keys() {
        match install::enable(python, &data) {
            Ok(env) => {
                if !t.json {
                    println!(
                        "enabled: {} (Python {}), agent {} in {}\n  restart its MLX programs to see their caches; undo with `headroom agent disable --python {}`",
                        env.python, env.python_version, env.agent_version, env.site_packages, env.python
                    );
                }
                results
                    .push(serde_json::json!({ "python": python, "ok": true, "environment": env }));
            }
            Err(e) => {
                failures += 1;
                if !t.json {
                    eprintln!("headroom: not enabled: {e}");
                }
                results.push(
                    serde_json::json!({ "python": python, "ok": false, "error": e.to_string() }),
                );
            }
        }
    }
    if t.json {
        print_json(&results, true);
    }
    exit_code(failures, found.len())
}

fn run_disable(t: &TargetArgs) -> u8 {
    let data = config::data_dir();
    let pythons: Vec<PathBuf> = if t.all {
        match install::load_record(&data) {
            Ok(r) => r.into_iter().map(|e| PathBuf::from(e.python)).collect(),
            Err(e) => {
                eprintln!("headroom: {e}");
                return 2;
            }
        }
    } else if t.pythons.is_empty() && t.pids.is_empty() {
        Vec::new()
    } else {
        match targets(t) {
            Ok(f) => f.into_keys().collect(),
            Err(e) => {
                eprintln!("headroom: {e}");
                return 2;
            }
        }
    };
    if pythons.is_empty() {
        eprintln!("headroom: nothing to disable; name the environment with --python PATH, or use --all (see `headroom agent status`)");
        return 2;
    }
    let mut results = Vec::new();
    let mut failures = 0usize;
    for python in &pythons {
        match install::disable(python, &data) {
            Ok(done) => {
                if !t.json {
                    if done.removed.is_empty() {
                        println!("{}: the agent was not enabled there", done.python);
                    } else {
                        println!(
                            "disabled: {} (removed {})",
                            done.python,
                            done.removed.join(", ")
                        );
                    }
                    for k in &done.kept {
                        println!("  kept {k}");
                    }
                }
                results.push(serde_json::json!({ "python": python, "ok": true, "result": done }));
            }
            Err(e) => {
                failures += 1;
                if !t.json {
                    eprintln!("headroom: not disabled: {e}");
                }
                results.push(
                    serde_json::json!({ "python": python, "ok": false, "error": e.to_string() }),
                );
            }
        }
    }
    if t.json {
        print_json(&results, true);
    }
    exit_code(failures, pythons.len())
}

fn run_attach(a: &AttachArgs) -> u8 {
    match attach::attach(a.pid, &config::data_dir(), &runtime_dir()) {
        Ok(done) => {
            println!(
                "{}: process {} serves its agent at {}",
                if done.already {
                    "already attached"
                } else {
                    "attached"
                },
                a.pid,
                done.socket.display()
            );
            0
        }
        Err(e) => {
            eprintln!("headroom: not attached: {e}");
            2
        }
    }
}

fn exit_code(failures: usize, total: usize) -> u8 {
    match failures {
        0 => 0,
        n if n < total => 1,
        _ => 2,
    }
}

fn run_status(args: &StatusArgs) -> u8 {
    let list = match install::status(&config::data_dir()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("headroom: {e}");
            return 2;
        }
    };
    if args.json {
        return if print_json(&list, true) { 0 } else { 2 };
    }
    print!("{}", render_status(&list, &install::bundle_id()));
    0
}

/// The `status` table in words.
fn render_status(list: &[EnvironmentStatus], current: &str) -> String {
    if list.is_empty() {
        return "The agent is not enabled in any Python environment (`headroom agent enable`).\n"
            .to_string();
    }
    let mut out = String::new();
    for s in list {
        out.push_str(&format!(
            "{}  Python {}  agent {}{}\n  {}\n",
            s.env.python,
            s.env.python_version,
            s.env.agent_version,
            if s.stale {
                format!(
                    "  STALE (this Headroom has {current}): run `headroom agent enable --python {}`",
                    s.env.python
                )
            } else {
                String::new()
            },
            s.env.site_packages
        ));
        for m in &s.missing {
            out.push_str(&format!(
                "  missing: {m} (run `headroom agent enable --python {}` again, or `disable`)\n",
                s.env.python
            ));
        }
    }
    out
}
