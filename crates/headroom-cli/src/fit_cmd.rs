//! `headroom fit --params 70B --bits 4 [--context 8192] [--kv-bits 16] [--layers N
//! --kv-heads N --head-dim N] [PATH]`: will this model fit on this machine?
//!
//! Exit status: 0 fits now; 1 fits only after closing apps / raising the wired limit, or does
//! not fit; 2 bad input or unreadable model folder.

use crate::output::{emit, fail, print_json};
use headroom_core::fit::{FitReport, Verdict};
use headroom_core::ops::{self, FitRequest, Local};
use headroom_core::units::format_bytes;
use std::path::PathBuf;

/// Arguments of `headroom fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// A local model folder (config.json + .safetensors); nothing is downloaded.
    pub path: Option<PathBuf>,
    /// Parameter count: 70B, 7b, 1.5B, 500M.
    #[arg(long)]
    pub params: Option<String>,
    /// Weight bits: 2, 3, 4, 5, 6, 8, 16, 32 (default: the folder's, else 16).
    #[arg(long)]
    pub bits: Option<u32>,
    /// Context length in tokens.
    #[arg(long, default_value_t = 8192)]
    pub context: u64,
    /// KV cache bits: 4, 8, 16, 32.
    #[arg(long, default_value_t = 16)]
    pub kv_bits: u32,
    /// Transformer layers (num_hidden_layers).
    #[arg(long)]
    pub layers: Option<u32>,
    /// Key/value heads (num_key_value_heads).
    #[arg(long)]
    pub kv_heads: Option<u32>,
    /// Dimension of one attention head (head_dim).
    #[arg(long)]
    pub head_dim: Option<u32>,
    /// Print JSON (`weights`, `kv_cache`, `overhead`, `total` in bytes, `verdict`, …).
    #[arg(long)]
    pub json: bool,
}

/// Runs `headroom fit`.
pub async fn run(args: &FitArgs) -> u8 {
    let req = FitRequest {
        params: args.params.clone(),
        bits: args.bits,
        context: Some(args.context),
        kv_bits: Some(args.kv_bits),
        layers: args.layers,
        kv_heads: args.kv_heads,
        head_dim: args.head_dim,
        path: args.path.clone(),
    };
    let report = match ops::fit(&Local::from_env(), &req).await {
        Ok(r) => r,
        Err(e) => return fail("fit", &e),
    };
    let written = if args.json {
        print_json(&report, true)
    } else {
        emit(&render(&report))
    };
    if let Err(code) = written {
        return code;
    }
    match report.verdict {
        Verdict::Fits => 0,
        Verdict::FitsIf | Verdict::DoesNotFit => 1,
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "unknown".to_string(), format_bytes)
}

/// The text `headroom fit` prints.
pub fn render(r: &FitReport) -> String {
    let e = &r.estimate;
    let s = e.shape;
    let p = e.overhead_parts;
    let mut out = String::new();
    out += &format!(
        "Weights      {:>10}  ({})\n",
        format_bytes(e.weights),
        e.weights_source
    );
    out += &format!(
        "KV cache     {:>10}  (2 × {} layers × {} KV heads × {} head dim × {} tokens × {} bits; {})\n",
        format_bytes(e.kv_cache),
        s.layers,
        s.kv_heads,
        s.head_dim,
        e.context,
        e.kv_bits,
        e.shape_source
    );
    out += &format!(
        "Overhead     {:>10}  (quantization scales {} + 10 % activations {} + runtime {})\n",
        format_bytes(e.overhead),
        format_bytes(p.quant_scales),
        format_bytes(p.activations),
        format_bytes(p.runtime)
    );
    out += &format!("Total        {:>10}\n", format_bytes(e.total));
    let b = &r.budget;
    out += &format!(
        "This machine physical {}, available now {}, GPU wired limit {}\n",
        opt(b.physical),
        opt(b.available),
        if b.has_wired_limit {
            opt(b.wired_limit)
        } else {
            "none (not macOS)".to_string()
        }
    );
    out += &format!("Verdict      {}\n", verdict_line(r));
    for reason in &r.reasons {
        out += &format!("  - {reason}\n");
    }
    out
}

fn verdict_line(r: &FitReport) -> String {
    match r.verdict {
        Verdict::Fits => "fits".into(),
        Verdict::DoesNotFit => "does not fit on this machine".into(),
        Verdict::FitsIf => {
            let mut steps = Vec::new();
            if let Some(mb) = r.raise_wired_limit_to_mb {
                steps.push(format!(
                    "raise the wired limit to {mb} MB (headroom wired-limit set {mb})"
                ));
            }
            if !r.close.is_empty() {
                let names: Vec<String> = r
                    .close
                    .iter()
                    .map(|c| format!("{} ({})", c.name, format_bytes(c.footprint)))
                    .collect();
                steps.push(format!("close {}", names.join(", ")));
            }
            format!("fits if you {}", steps.join(" and "))
        }
    }
}
