//! "Will it fit?": how much memory a model needs, and whether this machine can give it.
//!
//! The estimate (`docs/WIRED_LIMIT.md` explains it for users):
//! - **weights** = parameters × bits ÷ 8 — seed 001's formula and table (7B at FP16/INT8/INT4
//!   = 14/7/3.5 GB). From a local model folder: the exact tensor bytes of its `.safetensors`
//!   files, read from their headers (quantization scales included; nothing is downloaded).
//! - **kv_cache** = 2 (K and V) × layers × KV heads × head dim × context × KV bits ÷ 8, for one
//!   sequence. The shape comes from `--layers/--kv-heads/--head-dim`, the folder's
//!   `config.json`, or the nearest Llama of seed 001's table.
//! - **overhead** = quantization scales (estimated from parameters only: MLX's affine
//!   quantization keeps an fp16 scale and bias per group of 64 weights = 4 bytes per 64
//!   weights), plus 10 % of weights and KV cache (activations, allocator cache,
//!   fragmentation), plus 512 MiB of runtime (Python, MLX, tokenizer). With the scales, 70B at 4 bits is 39.4 GB
//!   and at 8 bits 74.4 GB: seed 003's "70B Q4 (~40 GB)" and "70B Q8 (~75 GB)".
//! - **total** = weights + kv_cache + overhead.

use crate::ops::Param;
use crate::snapshot::Snapshot;
use crate::units::format_bytes;
use crate::wired;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use ts_rs::TS;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
/// Fixed runtime overhead: Python, MLX and the tokenizer.
pub const RUNTIME_OVERHEAD: u64 = 512 * MIB;
/// Share of weights + KV cache added for activations and the allocator.
pub const ACTIVATION_SHARE: f64 = 0.10;
/// MLX's default quantization group size (`mlx_lm.convert --q-group-size`, default 64).
pub const GROUP_SIZE: u64 = 64;
/// Bits accepted for weights.
pub const WEIGHT_BITS: [u32; 8] = [2, 3, 4, 5, 6, 8, 16, 32];
/// Bits accepted for the KV cache.
pub const KV_BITS: [u32; 4] = [4, 8, 16, 32];
/// Largest safetensors header read (the reference implementation's limit).
const MAX_HEADER: u64 = 100 * MIB;

/// A bad input: the parameter at fault, and a message naming the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FitError {
    /// The input at fault.
    pub param: Param,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FitError {
    fn new(param: Param, message: impl Into<String>) -> Self {
        Self {
            param,
            message: message.into(),
        }
    }
}

/// The attention shape that sizes the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModelShape {
    /// Transformer layers (`num_hidden_layers`).
    pub layers: u32,
    /// Key/value heads (`num_key_value_heads`).
    pub kv_heads: u32,
    /// Dimension of one head (`head_dim`, or `hidden_size / num_attention_heads`).
    pub head_dim: u32,
}

/// Llama shapes of seed 001's table (Hugging Face configs of Llama-2 7B/13B/70B and LLaMA 30B).
const KNOWN: [(u64, &str, ModelShape); 4] = [
    (7_000_000_000, "Llama-7B", shape(32, 32, 128)),
    (13_000_000_000, "Llama-13B", shape(40, 40, 128)),
    (30_000_000_000, "Llama-30B", shape(60, 52, 128)),
    (70_000_000_000, "Llama-70B", shape(80, 8, 128)),
];

const fn shape(layers: u32, kv_heads: u32, head_dim: u32) -> ModelShape {
    ModelShape {
        layers,
        kv_heads,
        head_dim,
    }
}

/// The known Llama shape nearest to `params` (by ratio) and its name.
pub fn nearest_known_shape(params: u64) -> (&'static str, ModelShape) {
    let dist = |p: u64| (params.max(1) as f64 / p as f64).ln().abs();
    let mut best = KNOWN[0];
    for k in KNOWN {
        if dist(k.0) < dist(best.0) {
            best = k;
        }
    }
    (best.1, best.2)
}

/// Parses a parameter count: `70B`, `7b`, `1.5B`, `500M`, `13000000000`.
pub fn parse_params(input: &str) -> Result<u64, FitError> {
    let s = input.trim();
    let bad = || {
        FitError::new(
            Param::Params,
            format!(
            "invalid parameter count {input:?}: expected a number with an optional unit K, M, B \
             or T (70B, 7b, 1.5B, 500M, 13000000000)"
        ),
        )
    };
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1e3,
                'm' => 1e6,
                'b' | 'g' => 1e9,
                't' => 1e12,
                _ => return Err(bad()),
            };
            (&s[..i], m)
        }
        _ => (s, 1.0),
    };
    // Digits with at most one decimal point, as the UI and the docs write it (no `1e3`).
    let num = num.trim();
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let v = n * mult;
    if !v.is_finite() || !(1.0..=1e15).contains(&v) {
        return Err(bad());
    }
    Ok(v.round() as u64)
}

/// Checks a bit width against `allowed`.
pub fn check_bits(param: Param, bits: u32, allowed: &[u32]) -> Result<u32, FitError> {
    let what = match param {
        Param::KvBits => "KV bits",
        _ => "bits",
    };
    if allowed.contains(&bits) {
        return Ok(bits);
    }
    let list: Vec<String> = allowed.iter().map(u32::to_string).collect();
    Err(FitError::new(
        param,
        format!("invalid {what} {bits}: allowed {}", list.join(", ")),
    ))
}

/// What a local model folder says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModelFolder {
    /// The shape from `config.json`, when complete.
    pub shape: Option<ModelShape>,
    /// `quantization.bits` from `config.json` (absent: not quantized).
    pub bits: Option<u32>,
    /// Tensor bytes of every `.safetensors` file (from their headers).
    #[ts(type = "number")]
    pub weights: u64,
    /// How many `.safetensors` files were read.
    pub files: u32,
}

/// Tensor bytes listed in a safetensors header (`header` is the JSON after the 8-byte length).
pub fn safetensors_tensor_bytes(header: &[u8]) -> Result<u64, String> {
    let v: Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("header is not a JSON object")?;
    let mut total = 0u64;
    for (name, t) in obj.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let offs = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .ok_or_else(|| format!("tensor {name:?} has no [start, end] data_offsets"))?;
        let (a, b) = (offs[0].as_u64(), offs[1].as_u64());
        match (a, b) {
            (Some(a), Some(b)) if b >= a => total = total.saturating_add(b - a),
            _ => return Err(format!("tensor {name:?} has bad data_offsets {offs:?}")),
        }
    }
    Ok(total)
}

/// Reads the tensor bytes of one `.safetensors` file from its header only.
pub fn read_safetensors(path: &Path) -> Result<u64, FitError> {
    use std::io::Read;
    let err = |why: String| FitError::new(Param::Path, format!("{}: {why}", path.display()));
    let mut f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| err(format!("no 8-byte header length ({e})")))?;
    let n = u64::from_le_bytes(len);
    if n == 0 || n > MAX_HEADER {
        return Err(err(format!(
            "header length {n} is outside 1..={MAX_HEADER}: not a safetensors file"
        )));
    }
    let mut header = Vec::new();
    f.take(n)
        .read_to_end(&mut header)
        .map_err(|e| err(e.to_string()))?;
    if header.len() as u64 != n {
        return Err(err(format!(
            "header is {} bytes, expected {n}",
            header.len()
        )));
    }
    safetensors_tensor_bytes(&header).map_err(err)
}

fn get_u32(obj: &Value, key: &str) -> Option<u32> {
    obj.get(key)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

/// The shape and quantization bits in a `config.json` value (also under `text_config`).
pub fn shape_from_config(cfg: &Value) -> (Option<ModelShape>, Option<u32>) {
    let text = match cfg.get("text_config") {
        Some(t) if cfg.get("num_hidden_layers").is_none() => t,
        _ => cfg,
    };
    let heads = get_u32(text, "num_attention_heads");
    let kv_heads = get_u32(text, "num_key_value_heads").or(heads);
    let head_dim = get_u32(text, "head_dim").or_else(|| {
        let h = get_u32(text, "hidden_size")?;
        h.checked_div(heads?)
    });
    let shape = match (get_u32(text, "num_hidden_layers"), kv_heads, head_dim) {
        (Some(layers), Some(kv_heads), Some(head_dim)) => Some(ModelShape {
            layers,
            kv_heads,
            head_dim,
        }),
        _ => None,
    };
    let bits = ["quantization", "quantization_config"]
        .iter()
        .find_map(|k| cfg.get(*k).and_then(|q| get_u32(q, "bits")));
    (shape, bits)
}

/// Reads a local model folder: `config.json` and every `*.safetensors` header.
pub fn read_model_folder(dir: &Path) -> Result<ModelFolder, FitError> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| {
        FitError::new(
            Param::Path,
            format!(
                "cannot read {}: {e} (a model folder has config.json and .safetensors files)",
                cfg_path.display()
            ),
        )
    })?;
    let cfg: Value = serde_json::from_str(&text).map_err(|e| {
        FitError::new(
            Param::Path,
            format!("{} is not JSON: {e}", cfg_path.display()),
        )
    })?;
    let (shape, bits) = shape_from_config(&cfg);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| FitError::new(Param::Path, format!("cannot list {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(FitError::new(
            Param::Path,
            format!("no .safetensors files in {}", dir.display()),
        ));
    }
    let mut weights = 0u64;
    for f in &files {
        weights = weights.saturating_add(read_safetensors(f)?);
    }
    Ok(ModelFolder {
        shape,
        bits,
        weights,
        files: u32::try_from(files.len()).unwrap_or(u32::MAX),
    })
}

/// What to estimate: any of parameters + bits, a model folder, and shape overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitInput {
    /// Parameter count.
    pub params: Option<u64>,
    /// Weight bits (default: the folder's, else 16).
    pub bits: Option<u32>,
    /// Context length in tokens.
    pub context: u64,
    /// KV cache bits.
    pub kv_bits: u32,
    /// `--layers`.
    pub layers: Option<u32>,
    /// `--kv-heads`.
    pub kv_heads: Option<u32>,
    /// `--head-dim`.
    pub head_dim: Option<u32>,
    /// A model folder read with [`read_model_folder`].
    pub folder: Option<ModelFolder>,
}

/// The overhead's parts, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Overhead {
    /// Quantization scales and biases (only when estimated from parameters).
    #[ts(type = "number")]
    pub quant_scales: u64,
    /// [`ACTIVATION_SHARE`] of weights and KV cache.
    #[ts(type = "number")]
    pub activations: u64,
    /// [`RUNTIME_OVERHEAD`].
    #[ts(type = "number")]
    pub runtime: u64,
}

/// A memory estimate, bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FitEstimate {
    /// Model weights.
    #[ts(type = "number")]
    pub weights: u64,
    /// KV cache for `context` tokens.
    #[ts(type = "number")]
    pub kv_cache: u64,
    /// Everything else (see [`Overhead`]).
    #[ts(type = "number")]
    pub overhead: u64,
    /// weights + kv_cache + overhead.
    #[ts(type = "number")]
    pub total: u64,
    /// The overhead's parts.
    pub overhead_parts: Overhead,
    /// Parameter count, when given.
    #[ts(type = "number | null")]
    pub params: Option<u64>,
    /// Weight bits.
    pub bits: u32,
    /// Context length.
    #[ts(type = "number")]
    pub context: u64,
    /// KV cache bits.
    pub kv_bits: u32,
    /// The shape used for the KV cache.
    pub shape: ModelShape,
    /// Where the weights figure comes from.
    pub weights_source: String,
    /// Where the shape comes from.
    pub shape_source: String,
}

/// Estimates weights, KV cache, overhead and total.
pub fn estimate(input: &FitInput) -> Result<FitEstimate, FitError> {
    let kv_bits = check_bits(Param::KvBits, input.kv_bits, &KV_BITS)?;
    if input.context == 0 || input.context > 100_000_000 {
        return Err(FitError::new(
            Param::Context,
            format!(
                "invalid context {}: allowed 1..=100000000 tokens",
                input.context
            ),
        ));
    }
    let folder_bits = input.folder.as_ref().and_then(|f| f.bits);
    let bits = check_bits(
        Param::Bits,
        input.bits.or(folder_bits).unwrap_or(16),
        &WEIGHT_BITS,
    )?;
    let (weights, weights_source, scales) = weights_of(input, bits)?;
    let (shape, shape_source) = shape_of(input)?;
    let kv_cache = kv_bytes(shape, input.context, kv_bits);
    let activations = ((weights + kv_cache) as f64 * ACTIVATION_SHARE).round() as u64;
    let parts = Overhead {
        quant_scales: scales,
        activations,
        runtime: RUNTIME_OVERHEAD,
    };
    let overhead = scales + activations + RUNTIME_OVERHEAD;
    Ok(FitEstimate {
        weights,
        kv_cache,
        overhead,
        total: weights + kv_cache + overhead,
        overhead_parts: parts,
        params: input.params,
        bits,
        context: input.context,
        kv_bits,
        shape,
        weights_source,
        shape_source,
    })
}

/// 2 × layers × kv_heads × head_dim × context × kv_bits ÷ 8.
pub fn kv_bytes(s: ModelShape, context: u64, kv_bits: u32) -> u64 {
    let elems = 2 * u64::from(s.layers) * u64::from(s.kv_heads) * u64::from(s.head_dim);
    elems
        .saturating_mul(context)
        .saturating_mul(u64::from(kv_bits))
        / 8
}

fn weights_of(input: &FitInput, bits: u32) -> Result<(u64, String, u64), FitError> {
    if let Some(f) = &input.folder {
        return Ok((
            f.weights,
            format!("tensor bytes of {} .safetensors file(s)", f.files),
            0,
        ));
    }
    let p = input.params.ok_or_else(|| {
        FitError::new(
            Param::Params,
            "give --params (e.g. 70B) or a model folder PATH",
        )
    })?;
    let weights = p.saturating_mul(u64::from(bits)) / 8;
    let scales = if bits < 16 { p / GROUP_SIZE * 4 } else { 0 };
    Ok((weights, format!("parameters × {bits} bits ÷ 8"), scales))
}

fn shape_of(input: &FitInput) -> Result<(ModelShape, String), FitError> {
    let (base, mut source) = match (input.folder.as_ref().and_then(|f| f.shape), input.params) {
        (Some(s), _) => (s, "config.json".to_string()),
        (None, Some(p)) => {
            let (name, s) = nearest_known_shape(p);
            (
                s,
                format!(
                    "assumed {name}'s shape; give --layers, --kv-heads and --head-dim or a \
                     model folder for the real one"
                ),
            )
        }
        (None, None) => match (input.layers, input.kv_heads, input.head_dim) {
            (Some(l), Some(k), Some(h)) => (shape(l, k, h), String::new()),
            _ => {
                return Err(FitError::new(
                    Param::Layers,
                    "the model folder's config.json has no complete shape: give --layers, \
                     --kv-heads and --head-dim",
                ))
            }
        },
    };
    let s = ModelShape {
        layers: input.layers.unwrap_or(base.layers),
        kv_heads: input.kv_heads.unwrap_or(base.kv_heads),
        head_dim: input.head_dim.unwrap_or(base.head_dim),
    };
    let zero = [
        (s.layers, Param::Layers),
        (s.kv_heads, Param::KvHeads),
        (s.head_dim, Param::HeadDim),
    ]
    .into_iter()
    .find(|(v, _)| *v == 0);
    if let Some((_, param)) = zero {
        return Err(FitError::new(
            param,
            format!(
                "invalid shape: layers {}, kv heads {}, head dim {}; each must be at least 1",
                s.layers, s.kv_heads, s.head_dim
            ),
        ));
    }
    if s != base || source.is_empty() {
        source = "given on the command line".into();
    }
    Ok((s, source))
}

/// The machine's budgets, bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Budget {
    /// Installed memory.
    #[ts(type = "number | null")]
    pub physical: Option<u64>,
    /// Available now without swapping.
    #[ts(type = "number | null")]
    pub available: Option<u64>,
    /// The GPU wired limit in force (recommended working set), when known; Apple Silicon only.
    #[ts(type = "number | null")]
    pub wired_limit: Option<u64>,
    /// Whether the machine has a GPU wired limit at all (macOS).
    pub has_wired_limit: bool,
}

impl Budget {
    /// Budgets from a snapshot (wired limit per [`wired::info`]).
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let info = wired::info(s, &Default::default());
        Self {
            physical: s.memory.total,
            available: s.memory.available,
            wired_limit: info.effective,
            has_wired_limit: info.supported,
        }
    }
}

/// A process (or app) that could be closed to free memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Closable {
    /// App or process name.
    pub name: String,
    /// Its footprint, bytes.
    #[ts(type = "number")]
    pub footprint: u64,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Verdict {
    /// Fits now.
    Fits,
    /// Fits after closing apps and/or raising the wired limit.
    FitsIf,
    /// Does not fit on this machine.
    DoesNotFit,
}

/// An estimate judged against a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FitReport {
    /// The estimate.
    #[serde(flatten)]
    pub estimate: FitEstimate,
    /// The budgets compared against.
    pub budget: Budget,
    /// The answer.
    pub verdict: Verdict,
    /// Apps to close first (largest first), when that is what it takes.
    pub close: Vec<Closable>,
    /// Raise `iogpu.wired_limit_mb` to this first (`headroom wired-limit set N`).
    #[ts(type = "number | null")]
    pub raise_wired_limit_to_mb: Option<u64>,
    /// The numbers behind the verdict, one sentence each.
    pub reasons: Vec<String>,
}

/// Judges `est` against this machine: `snap`'s budgets and the other apps read now
/// ([`crate::top`], MLX processes excluded).
pub fn judge_here(est: &FitEstimate, snap: &Snapshot) -> FitReport {
    let mlx: Vec<u32> = snap.mlx.iter().map(|p| p.pid).collect();
    let rows = crate::top::group(&crate::top::processes());
    judge(
        est,
        &Budget::from_snapshot(snap),
        &crate::top::closable(&rows, &mlx),
    )
}

/// Judges `est` against `budget`; `closable` are other apps by footprint (largest first).
pub fn judge(est: &FitEstimate, budget: &Budget, closable: &[Closable]) -> FitReport {
    let mut r = FitReport {
        estimate: est.clone(),
        budget: budget.clone(),
        verdict: Verdict::Fits,
        close: Vec::new(),
        raise_wired_limit_to_mb: None,
        reasons: Vec::new(),
    };
    let need = est.total;
    if let Some(p) = budget.physical {
        let most = wired::max_mb(p) * MIB;
        if need > most {
            r.verdict = Verdict::DoesNotFit;
            r.reasons.push(format!(
                "needs {}, but this machine can give a model at most {} ({} minus {} for the \
                 system)",
                format_bytes(need),
                format_bytes(most),
                format_bytes(p),
                format_bytes(wired::minimum_reserve(p))
            ));
            return r;
        }
    }
    judge_wired(&mut r, need, budget);
    judge_available(&mut r, need, budget, closable);
    if r.verdict == Verdict::Fits && (!r.close.is_empty() || r.raise_wired_limit_to_mb.is_some()) {
        r.verdict = Verdict::FitsIf;
    }
    r
}

fn judge_wired(r: &mut FitReport, need: u64, budget: &Budget) {
    if !budget.has_wired_limit {
        return;
    }
    let Some(limit) = budget.wired_limit else {
        r.reasons.push(
            "the GPU wired limit in force is unknown (attach an MLX agent to read it)".into(),
        );
        return;
    };
    if need <= limit {
        r.reasons.push(format!(
            "needs {} of the GPU wired limit of {}",
            format_bytes(need),
            format_bytes(limit)
        ));
        return;
    }
    let to_mb = need.div_ceil(GIB) * 1024;
    let to_mb = budget
        .physical
        .map_or(to_mb, |p| to_mb.min(wired::max_mb(p)));
    r.raise_wired_limit_to_mb = Some(to_mb);
    r.reasons.push(format!(
        "needs {}, above the GPU wired limit of {}: raise it to {to_mb} MB",
        format_bytes(need),
        format_bytes(limit)
    ));
}

fn judge_available(r: &mut FitReport, need: u64, budget: &Budget, closable: &[Closable]) {
    let Some(avail) = budget.available else {
        r.reasons
            .push("available memory is unknown: cannot tell what to close".into());
        return;
    };
    if need <= avail {
        r.reasons
            .push(format!("{} is available now", format_bytes(avail)));
        return;
    }
    let short = need - avail;
    let mut freed = 0u64;
    for c in closable {
        if freed >= short {
            break;
        }
        freed += c.footprint;
        r.close.push(c.clone());
    }
    if freed < short {
        r.verdict = Verdict::DoesNotFit;
        r.reasons.push(format!(
            "needs {} but only {} is available, and closing the {} largest apps frees only {}",
            format_bytes(need),
            format_bytes(avail),
            r.close.len(),
            format_bytes(freed)
        ));
        r.close.clear();
        return;
    }
    r.reasons.push(format!(
        "needs {} but only {} is available: closing {} frees {}",
        format_bytes(need),
        format_bytes(avail),
        r.close
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        format_bytes(freed)
    ));
}
