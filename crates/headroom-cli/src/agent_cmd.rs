//! `headroom agent enable | disable | status`: the agent in every MLX process of a Python
//! environment, with no change to how the program is started (`headroom_core::agents::install`);
//! `headroom agent attach PID`: the agent in a running Python 3.14+ process
//! (`headroom_core::agents::attach`).
//!
//! Exit status: 0 done; 1 some environments refused or failed (each named with its fix);
//! 2 bad input or nothing could be done.

use crate::output::{emit, print_json, safe, say};
use headroom_core::agents::install::{self, EnvironmentStatus};
use headroom_core::agents::{attach, runtime_dir, scan};
use headroom_core::config;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
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
        say("not a terminal, so nothing was changed; add --yes to confirm");
        return false;
    }
    if emit(&format!("{question} [y/N] ")).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// The environments about to change, one per line (paths made terminal-safe).
fn list_targets(found: &BTreeMap<PathBuf, Vec<u32>>) -> String {
    let mut out = String::new();
    for (python, pids) in found {
        let python = python.display().to_string();
        if pids.is_empty() {
            out.push_str(&format!("  {}\n", safe(&python)));
        } else {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            out.push_str(&format!(
                "  {}  (MLX process {})\n",
                safe(&python),
                pids.join(", ")
            ));
        }
    }
    out
}

fn run_enable(t: &TargetArgs) -> u8 {
    let found = match targets(t) {
        Ok(f) => f,
        Err(e) => {
            say(&e.to_string());
            return 2;
        }
    };
    if found.is_empty() {
        say("no MLX process is running; name the environment with --python PATH (its bin/python)");
        return 2;
    }
    let asked = t.pythons.is_empty() && t.pids.is_empty();
    if asked && !t.yes {
        let listing = format!(
            "Enable the Headroom agent for the Python of the MLX processes running now:\n{}",
            list_targets(&found)
        );
        if let Err(code) = emit(&listing) {
            return code;
        }
        if !confirm(
            "Every process of these environments that imports MLX will start the agent. Enable?",
        ) {
            return 2;
        }
    }
    let data = config::data_dir();
    let pythons: Vec<PathBuf> = found.into_keys().collect();
    change_each(&pythons, t.json, ("not enabled", "environment"), |python| {
        install::enable(python, &data).map(|env| {
            let text = format!(
                "enabled: {} (Python {}), agent {} in {}\n  restart its MLX programs to see their caches; undo with `headroom agent disable --python {}`\n",
                safe(&env.python), env.python_version, env.agent_version, safe(&env.site_packages), safe(&env.python)
            );
            (text, env)
        })
    })
}

fn run_disable(t: &TargetArgs) -> u8 {
    let data = config::data_dir();
    let pythons: Vec<PathBuf> = if t.all {
        match install::load_record(&data) {
            Ok(r) => r.into_iter().map(|e| PathBuf::from(e.python)).collect(),
            Err(e) => {
                say(&e.to_string());
                return 2;
            }
        }
    } else if t.pythons.is_empty() && t.pids.is_empty() {
        Vec::new()
    } else {
        match targets(t) {
            Ok(f) => f.into_keys().collect(),
            Err(e) => {
                say(&e.to_string());
                return 2;
            }
        }
    };
    if pythons.is_empty() {
        say("nothing to disable; name the environment with --python PATH, or use --all (see `headroom agent status`)");
        return 2;
    }
    change_each(&pythons, t.json, ("not disabled", "result"), |python| {
        install::disable(python, &data).map(|done| {
            let mut text = if done.removed.is_empty() {
                format!("{}: the agent was not enabled there\n", safe(&done.python))
            } else {
                format!(
                    "disabled: {} (removed {})\n",
                    safe(&done.python),
                    safe(&done.removed.join(", "))
                )
            };
            for k in &done.kept {
                text.push_str(&format!("  kept {}\n", safe(k)));
            }
            (text, done)
        })
    })
}

/// Applies `change` to each environment and reports every outcome: lines of text (failures
/// on stderr as `failed: error`), or with `json` one array of `{"python", "ok", <key>}` /
/// `{"python", "ok": false, "error"}`. The exit status is [`outcome_code`]'s, or the write
/// error's.
fn change_each<T: serde::Serialize, E: std::fmt::Display>(
    pythons: &[PathBuf],
    json: bool,
    (failed, key): (&str, &str),
    change: impl Fn(&PathBuf) -> Result<(String, T), E>,
) -> u8 {
    let mut text = String::new();
    let mut results = Vec::new();
    let mut failures = 0usize;
    for python in pythons {
        let mut entry = serde_json::Map::new();
        entry.insert("python".into(), serde_json::json!(python));
        match change(python) {
            Ok((line, value)) => {
                text.push_str(&line);
                entry.insert("ok".into(), true.into());
                entry.insert(key.into(), serde_json::json!(value));
            }
            Err(e) => {
                failures += 1;
                if !json {
                    say(&format!("{failed}: {e}"));
                }
                entry.insert("ok".into(), false.into());
                entry.insert("error".into(), e.to_string().into());
            }
        }
        results.push(serde_json::Value::Object(entry));
    }
    let written = if json {
        print_json(&results, true)
    } else {
        emit(&text)
    };
    crate::output::exit_code(written, outcome_code(failures, pythons.len()))
}

fn run_attach(a: &AttachArgs) -> u8 {
    match attach::attach(a.pid, &config::data_dir(), &runtime_dir()) {
        Ok(done) => crate::output::exit_code(
            emit(&format!(
                "{}: process {} serves its agent at {}\n",
                if done.already {
                    "already attached"
                } else {
                    "attached"
                },
                a.pid,
                safe(&done.socket.display().to_string())
            )),
            0,
        ),
        Err(e) => {
            say(&format!("not attached: {e}"));
            2
        }
    }
}

/// 0 when every environment succeeded, 1 when some did, 2 when none did.
fn outcome_code(failures: usize, total: usize) -> u8 {
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
            say(&e.to_string());
            return 2;
        }
    };
    if args.json {
        return crate::output::exit_code(print_json(&list, true), 0);
    }
    crate::output::exit_code(emit(&render_status(&list, &install::bundle_id())), 0)
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
