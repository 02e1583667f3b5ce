//! Alert rules: what to watch, when to fire, and what to do.
//!
//! A [`Rule`] compares one [`Metric`] of each snapshot with a threshold. It fires once the
//! condition has held for `samples` consecutive samples *and* `for_secs` seconds, runs its
//! [`Action`]s, and stays fired (silent) until the value crosses the `recovery` threshold
//! (hysteresis); then it is re-armed. `cooldown_secs` is the least time between two firings.
//! Evaluation ([`RuleEngine`]) is a pure function of the snapshot stream and the clock.
//! Defaults and their sources are in `docs/RULES.md`.

mod defaults;
mod eval;
pub(crate) mod sizes;

pub use defaults::default_rules;
pub use eval::{
    metric_value, PlannedAction, RuleEngine, RuleOutcome, RulePhase, RuleState, Transition,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Rule {
    /// Stable identifier (letters, digits, `-`, `_`), unique among rules.
    pub id: String,
    /// What a person reads in notifications and the journal.
    pub name: String,
    /// The value watched.
    pub metric: Metric,
    /// Whether the rule fires above or below `threshold`.
    pub comparison: Comparison,
    /// The value that breaches (units: see [`Metric`]); bytes may be written `"512MiB"`.
    #[serde(deserialize_with = "sizes::number")]
    #[schemars(with = "sizes::SizeSchema")]
    pub threshold: f64,
    /// Seconds the breach must last before the rule fires (0: no minimum).
    #[serde(default)]
    #[ts(type = "number")]
    pub for_secs: u64,
    /// Consecutive breaching samples needed before the rule fires (at least 1).
    #[serde(default = "one")]
    pub samples: u32,
    /// The value that re-arms a fired rule; `null`/absent means `threshold` itself.
    /// For `above` it must not exceed `threshold`, for `below` not be under it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "sizes::opt_number"
    )]
    #[schemars(with = "Option<sizes::SizeSchema>")]
    #[ts(optional)]
    pub recovery: Option<f64>,
    /// Least seconds between two firings of this rule (per process for process metrics).
    #[serde(default)]
    #[ts(type = "number")]
    pub cooldown_secs: u64,
    /// What to do when the rule fires.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// A disabled rule is kept in the file but never evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The value a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Metric {
    /// Pressure level: 0 normal, 1 warn, 2 critical.
    PressureLevel,
    /// Free memory percentage (macOS `kern.memorystatus_level`; Linux MemAvailable %).
    FreePercent,
    /// Swap used, bytes.
    SwapUsed,
    /// Bytes swapped out per second.
    SwapoutRate,
    /// Memory held by the compressor (macOS) or zswap/zram (Linux), bytes.
    Compressed,
    /// Bytes compressed per second.
    CompressionRate,
    /// Sum of the MLX caches of attached processes, bytes.
    MlxCacheTotal,
    /// One attached process's MLX cache, bytes (evaluated per process).
    ProcessMlxCache,
    /// One MLX process's physical footprint, bytes (evaluated per process).
    ProcessFootprint,
    /// Memory available without swapping, bytes.
    Available,
}

impl Metric {
    /// Every metric, in documentation order.
    pub const ALL: [Metric; 10] = [
        Metric::PressureLevel,
        Metric::FreePercent,
        Metric::SwapUsed,
        Metric::SwapoutRate,
        Metric::Compressed,
        Metric::CompressionRate,
        Metric::MlxCacheTotal,
        Metric::ProcessMlxCache,
        Metric::ProcessFootprint,
        Metric::Available,
    ];

    /// The name used in the config file and the journal (`swap_used`, …).
    pub fn name(self) -> &'static str {
        match self {
            Metric::PressureLevel => "pressure_level",
            Metric::FreePercent => "free_percent",
            Metric::SwapUsed => "swap_used",
            Metric::SwapoutRate => "swapout_rate",
            Metric::Compressed => "compressed",
            Metric::CompressionRate => "compression_rate",
            Metric::MlxCacheTotal => "mlx_cache_total",
            Metric::ProcessMlxCache => "process_mlx_cache",
            Metric::ProcessFootprint => "process_footprint",
            Metric::Available => "available",
        }
    }

    /// Whether the metric is evaluated once per MLX process.
    pub fn per_process(self) -> bool {
        matches!(self, Metric::ProcessMlxCache | Metric::ProcessFootprint)
    }

    /// The unit of its values.
    pub fn unit(self) -> MetricUnit {
        match self {
            Metric::PressureLevel => MetricUnit::Level,
            Metric::FreePercent => MetricUnit::Percent,
            Metric::SwapoutRate | Metric::CompressionRate => MetricUnit::BytesPerSecond,
            _ => MetricUnit::Bytes,
        }
    }
}

/// The unit of a metric's values (decides the allowed thresholds and how values are shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    /// 0 normal, 1 warn, 2 critical.
    Level,
    /// 0 to 100.
    Percent,
    /// Bytes.
    Bytes,
    /// Bytes per second.
    BytesPerSecond,
}

impl MetricUnit {
    /// The allowed threshold range, inclusive.
    pub fn range(self) -> (f64, f64) {
        match self {
            MetricUnit::Level => (0.0, 2.0),
            MetricUnit::Percent => (0.0, 100.0),
            MetricUnit::Bytes | MetricUnit::BytesPerSecond => (0.0, 1024f64.powi(5)),
        }
    }

    /// A value in this unit for a person: `Warning`, `12%`, `1.0 GB`, `3.0 MB/s`.
    pub fn format(self, v: f64) -> String {
        let bytes = if v.is_finite() && v > 0.0 {
            v.round() as u64
        } else {
            0
        };
        match self {
            MetricUnit::Level => level_word(v).to_string(),
            MetricUnit::Percent => format!("{v:.0}%"),
            MetricUnit::Bytes => crate::units::format_bytes(bytes),
            MetricUnit::BytesPerSecond => crate::units::format_rate(v),
        }
    }
}

fn level_word(v: f64) -> &'static str {
    if v >= 2.0 {
        "Critical"
    } else if v >= 1.0 {
        "Warning"
    } else {
        "Normal"
    }
}

/// Whether a rule breaches above or below its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Comparison {
    /// Breach when the value is greater than the threshold; recover at or below `recovery`.
    Above,
    /// Breach when the value is less than the threshold; recover at or above `recovery`.
    Below,
}

/// Something a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub enum Action {
    /// Tell the person: a native notification in the app; journal, stream and `/metrics`
    /// when headless.
    Notify,
    /// Clear MLX allocator caches (`mx.clear_cache()` in each process).
    ClearCache {
        /// Which processes.
        #[serde(default)]
        scope: Scope,
    },
    /// Set the MLX cache limit (`mx.set_cache_limit(bytes)`): of the breaching process for
    /// process metrics, of every attached process otherwise.
    SetCacheLimit {
        /// The new limit in bytes (or a size such as `"512MiB"`).
        #[serde(deserialize_with = "sizes::bytes")]
        #[schemars(with = "sizes::SizeSchema")]
        #[ts(type = "number")]
        bytes: u64,
    },
}

impl Action {
    /// The action's name in the journal: `notify`, `clear_cache`, `set_cache_limit`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Notify => "notify",
            Action::ClearCache { .. } => "clear_cache",
            Action::SetCacheLimit { .. } => "set_cache_limit",
        }
    }
}

/// Which processes a cache clear reaches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Scope {
    /// Every attached MLX process.
    #[default]
    All,
    /// The process that breached (per-process metrics); every attached process otherwise.
    Breaching,
}
