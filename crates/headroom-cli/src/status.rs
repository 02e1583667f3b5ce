//! `headroom status`: one snapshot for a person, or as JSON.

use crate::output::{emit, exit_code, fail, pressure_word, print_json, safe, use_colour};
use headroom_core::ops::{self, Local};
use headroom_core::snapshot::Snapshot;
use headroom_core::units::{format_bytes, format_rate};

/// Arguments of `headroom status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the snapshot as JSON (the public contract) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Derive the snapshot from a capture file (`headroom capture`) instead of this machine.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<std::path::PathBuf>,
}

/// Runs `headroom status`.
pub async fn run(args: &StatusArgs) -> u8 {
    if let Some(file) = &args.replay {
        return crate::capture::status_replay(file, args.json, render);
    }
    let snapshot = match ops::snapshot(&Local::from_env()).await {
        Ok(s) => s,
        Err(e) => return fail("", &e),
    };
    if args.json {
        return exit_code(print_json(&*snapshot, true), 0);
    }
    exit_code(emit(&render(&snapshot, use_colour())), 0)
}

fn size(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".to_string(), format_bytes)
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), format_rate)
}

/// Renders a snapshot as the text `headroom status` prints.
pub fn render(s: &Snapshot, colour: bool) -> String {
    let m = &s.memory;
    let mut out = String::new();
    let free_pct = s
        .pressure
        .free_percent
        .map_or(String::new(), |p| format!("  ({p:.0}% free)"));
    out += &format!(
        "Pressure    {}{free_pct}\n",
        pressure_word(s.pressure.level, colour)
    );
    let pct = s
        .used_fraction()
        .map_or(String::new(), |f| format!(" ({:.0}%)", f * 100.0));
    out += &format!("Used        {} of {}{pct}\n", size(m.used), size(m.total));
    out += &format!(
        "  App {}  Wired {}  Compressed {}  Cached {}  Free {}\n",
        size(m.app),
        size(m.wired),
        size(m.compressed),
        size(m.cached),
        size(m.free)
    );
    out += &format!("Available   {}\n", size(m.available));
    out += &format!(
        "Swap        {} of {}\n",
        size(s.swap.used),
        size(s.swap.total)
    );
    out += &render_rates(s);
    if let Some(w) = s.gpu.wired_limit {
        let shown = if w == 0 {
            "macOS default".to_string()
        } else {
            format_bytes(w)
        };
        out += &format!("GPU wired   {shown}\n");
    }
    out += &render_mlx(s);
    out
}

fn render_rates(s: &Snapshot) -> String {
    let r = &s.rates;
    if r.swapins.is_none() && r.swapouts.is_none() && r.compressions.is_none() {
        return "Rates       n/a on a single sample (see `headroom watch`)\n".to_string();
    }
    format!(
        "Rates       swap in {}  swap out {}  compress {}  decompress {}\n",
        rate(r.swapins),
        rate(r.swapouts),
        rate(r.compressions),
        rate(r.decompressions)
    )
}

/// Problems with MLX agents (a refused socket, an unsafe runtime directory, an absurd value),
/// one line each.
fn render_mlx_problems(s: &Snapshot) -> String {
    s.unavailable
        .iter()
        .filter_map(|u| u.strip_prefix("mlx: "))
        .map(|p| format!("  problem: {}\n", safe(p)))
        .collect()
}

fn render_mlx(s: &Snapshot) -> String {
    let problems = render_mlx_problems(s);
    if s.mlx.is_empty() {
        return format!("MLX         no MLX processes\n{problems}");
    }
    let mut out = format!(
        "MLX         {:>7}  {:<18} {:>10} {:>10} {:>10} {:>10}\n",
        "PID", "NAME", "FOOTPRINT", "ACTIVE", "CACHE", "PEAK"
    );
    for p in &s.mlx {
        out += &format!(
            "            {:>7}  {:<18} {:>10} {:>10} {:>10} {:>10}\n",
            p.pid,
            safe(&p.name).chars().take(18).collect::<String>(),
            size(p.footprint),
            size(p.active),
            size(p.cache),
            size(p.peak)
        );
        if let Some(h) = &p.hint {
            out += &format!("              not attached: {}\n", safe(h));
        }
        if p.restart_for_wired_limit {
            out += &format!(
                "              GPU wired limit changed since it started: {}\n",
                headroom_core::wired::RESTART_TO_USE
            );
        }
    }
    out + &problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_core::snapshot::{MlxProcess, Platform};

    #[test]
    fn a_process_that_keeps_an_old_gpu_ceiling_says_to_restart() {
        let mut s = Snapshot::empty(Platform::Macos, chrono::Utc::now());
        s.mlx = vec![
            MlxProcess {
                pid: 41,
                name: "mlx_lm.server".into(),
                attached: true,
                restart_for_wired_limit: true,
                ..MlxProcess::default()
            },
            MlxProcess {
                pid: 42,
                name: "python3".into(),
                attached: true,
                ..MlxProcess::default()
            },
        ];
        let text = render_mlx(&s);
        assert_eq!(
            text.matches("restart to use the new limit").count(),
            1,
            "{text}"
        );
        let line = text
            .lines()
            .position(|l| l.contains("mlx_lm.server"))
            .unwrap();
        assert!(text
            .lines()
            .nth(line + 1)
            .unwrap()
            .contains("restart to use the new limit"));
    }
}
