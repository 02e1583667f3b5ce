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

/// The value a rule watches: a metric of the registry ([`crate::metrics::METRICS`]) that
/// declares a rule name (`swap_used`, `swapout_rate`, …). Only those names deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metric(&'static str);

impl Metric {
    /// Pressure level: 0 normal, 1 warn, 2 critical.
    pub const PRESSURE_LEVEL: Metric = Metric("pressure_level");
    /// Free memory percentage.
    pub const FREE_PERCENT: Metric = Metric("free_percent");
    /// Swap used, bytes.
    pub const SWAP_USED: Metric = Metric("swap_used");
    /// Memory held by the compressor (macOS) or zswap/zram (Linux), bytes.
    pub const COMPRESSED: Metric = Metric("compressed");
    /// One attached process's MLX cache, bytes (evaluated per process).
    pub const PROCESS_MLX_CACHE: Metric = Metric("process_mlx_cache");

    /// The metric rules call `name`, if there is one.
    pub fn parse(name: &str) -> Option<Metric> {
        crate::metrics::by_rule_name(name).and_then(|m| m.rule.map(Metric))
    }

    /// The name used in the config file and the journal (`swap_used`, …).
    pub fn name(self) -> &'static str {
        self.0
    }

    /// Its declaration in the registry.
    pub fn spec(self) -> &'static crate::metrics::MetricSpec {
        // Every `Metric` is built from a registry rule name (a test checks the constants).
        static NONE: crate::metrics::MetricSpec = crate::metrics::MetricSpec {
            key: "",
            label: "",
            help: "",
            unit: crate::metrics::Unit::Count,
            read: crate::metrics::Read::Machine(|_| None),
            history: None,
            prometheus: None,
            rule: None,
        };
        crate::metrics::by_rule_name(self.0).unwrap_or(&NONE)
    }

    /// Whether the metric is evaluated once per MLX process.
    pub fn per_process(self) -> bool {
        self.spec().per_process()
    }

    /// The unit of its values.
    pub fn unit(self) -> MetricUnit {
        self.spec().unit
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Metric::parse(&name).ok_or_else(|| {
            let allowed: Vec<String> = crate::metrics::rule_names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect();
            serde::de::Error::custom(format!(
                "unknown variant `{name}`, expected one of {}",
                allowed.join(", ")
            ))
        })
    }
}

impl JsonSchema for Metric {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Metric".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let variants: Vec<serde_json::Value> = crate::metrics::METRICS
            .iter()
            .filter_map(|m| {
                let name = m.rule?;
                Some(serde_json::json!({
                    "const": name, "description": format!("{} ({}).", m.help, m.label), "type": "string"
                }))
            })
            .collect();
        schemars::json_schema!({
            "description": "The value a rule watches (see the metric registry).",
            "oneOf": variants,
        })
    }
}

impl TS for Metric {
    type WithoutGenerics = Self;
    const DOCS: Option<&'static str> =
        Some("/**\n * The value a rule watches: the rule names of `crates/headroom-core/src/metrics.rs`.\n */\n");

    fn name() -> String {
        "Metric".into()
    }

    fn inline() -> String {
        let names: Vec<String> = crate::metrics::rule_names()
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect();
        names.join(" | ")
    }

    fn inline_flattened() -> String {
        Self::inline()
    }

    fn decl() -> String {
        format!("type Metric = {};", Self::inline())
    }

    fn decl_concrete() -> String {
        Self::decl()
    }

    fn output_path() -> Option<&'static std::path::Path> {
        Some(std::path::Path::new("Metric.ts"))
    }
}

/// The unit of a metric's values (decides the allowed thresholds and how values are shown).
pub use crate::metrics::Unit as MetricUnit;

impl MetricUnit {
    /// The allowed threshold range, inclusive.
    pub fn range(self) -> (f64, f64) {
        match self {
            MetricUnit::Level => (0.0, 2.0),
            MetricUnit::Percent => (0.0, 100.0),
            MetricUnit::Bytes | MetricUnit::BytesPerSecond | MetricUnit::Count => {
                (0.0, 1024f64.powi(5))
            }
            MetricUnit::Seconds => (0.0, f64::MAX),
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
            MetricUnit::Count | MetricUnit::Seconds => format!("{v:.0}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_metrics_are_registry_rule_names() {
        let named = [
            Metric::PRESSURE_LEVEL,
            Metric::FREE_PERCENT,
            Metric::SWAP_USED,
            Metric::COMPRESSED,
            Metric::PROCESS_MLX_CACHE,
        ];
        for m in named {
            assert_eq!(Metric::parse(m.name()), Some(m));
            assert_eq!(m.spec().rule, Some(m.name()));
        }
        assert!(Metric::PROCESS_MLX_CACHE.per_process());
        assert_eq!(Metric::FREE_PERCENT.unit(), MetricUnit::Percent);
        let e = serde_json::from_str::<Metric>("\"gpu_temperature\"").unwrap_err();
        assert!(e.to_string().contains("`swapout_rate`"), "{e}");
    }
}
