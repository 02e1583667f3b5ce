//! MLX policies: limits and idle cache trims declared once in the configuration and applied
//! to every matching MLX process as its agent appears.
//!
//! A [`Policy`] matches processes by name, command line (a regular expression), Python
//! environment, or all of them (no match field: every MLX process), and says what to apply:
//! a cache, memory and wired limit (bytes, or a percentage of the machine's physical memory)
//! and an [`IdleTrim`]. Nothing is applied until `policies.enabled` is true.
//!
//! The suggested first policy ([`suggested_policy`]) carries the numbers of one public
//! write-up, SleepyQuant's "MLX Memory Safety Checklist: 6-Layer Defense for M1/M2 Apple
//! Silicon" (sleepyquant.rest, 2026-04-27), each with its source ([`SUGGESTION_SOURCES`]).
//!
//! - [`idle`]: the idle-trim state machine (pure).
//! - [`tracker`]: which policy applies to which process, what to apply now, and which limit
//!   comes from where (pure; the engine feeds it polls and results).

pub mod idle;
pub mod tracker;

use crate::units::{format_bytes, parse_size};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use ts_rs::TS;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The policies section of the configuration (`[policies]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct Policies {
    /// Apply the policies below to MLX processes (off until the user turns it on).
    pub enabled: bool,
    /// The policies (`[[policies.list]]`); for each process the first that matches applies.
    pub list: Vec<Policy>,
}

impl Policies {
    /// The policy that applies to a process, if policies are on and one matches.
    pub fn matching(&self, p: &ProcessFacts) -> Option<&Policy> {
        if !self.enabled {
            return None;
        }
        self.list.iter().find(|pol| pol.enabled && pol.matches(p))
    }
}

/// One policy: which processes, and what to apply when their agent appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Policy {
    /// Stable identifier (letters, digits, `-`, `_`), unique among policies.
    pub id: String,
    /// A disabled policy is kept in the file but matches nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Match: the process name, exactly (`python3.12`, `mlx_lm.server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub process: Option<String>,
    /// Match: a regular expression searched in the command line (arguments joined by spaces),
    /// e.g. `mlx_lm[. ]server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cmdline: Option<String>,
    /// Match: the Python environment (its `sys.prefix`, e.g. `/Users/me/venvs/mlx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub python_env: Option<String>,
    /// MLX cache limit (`mx.set_cache_limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LimitSpecSchema>")]
    #[ts(optional, type = "number | string")]
    pub cache: Option<LimitSpec>,
    /// MLX memory limit (`mx.set_memory_limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LimitSpecSchema>")]
    #[ts(optional, type = "number | string")]
    pub memory: Option<LimitSpec>,
    /// MLX wired limit (`mx.set_wired_limit`); MLX refuses one above the GPU's recommended
    /// working set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LimitSpecSchema>")]
    #[ts(optional, type = "number | string")]
    pub wired: Option<LimitSpec>,
    /// Clear the cache once when the process has been idle for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub idle_trim: Option<IdleTrim>,
}

fn yes() -> bool {
    true
}

impl Policy {
    /// A policy `id` for every MLX process, applying nothing yet.
    pub fn every(id: &str) -> Self {
        Self {
            id: id.into(),
            enabled: true,
            process: None,
            cmdline: None,
            python_env: None,
            cache: None,
            memory: None,
            wired: None,
            idle_trim: None,
        }
    }

    /// Whether this policy's match fields all hold for `p` (none: every MLX process). A
    /// command-line pattern that does not compile matches nothing (validation refuses it).
    pub fn matches(&self, p: &ProcessFacts) -> bool {
        if let Some(name) = &self.process {
            if &p.name != name {
                return false;
            }
        }
        if let Some(env) = &self.python_env {
            if !in_env(env, p) {
                return false;
            }
        }
        if let Some(pattern) = &self.cmdline {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(&p.cmdline.join(" ")) => {}
                _ => return false,
            }
        }
        true
    }

    /// What the match says, for a person: `every MLX process`, `process python3 and command
    /// line /mlx_lm/`.
    pub fn match_description(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.process {
            parts.push(format!("process {n}"));
        }
        if let Some(c) = &self.cmdline {
            parts.push(format!("command line /{c}/"));
        }
        if let Some(e) = &self.python_env {
            parts.push(format!("Python environment {e}"));
        }
        if parts.is_empty() {
            "every MLX process".into()
        } else {
            parts.join(" and ")
        }
    }

    /// The limits this policy sets, in bytes for a machine with `physical` bytes of memory
    /// (percentages need it: without it they are left out).
    pub fn limits(&self, physical: Option<u64>) -> Vec<(crate::agents::LimitKind, u64)> {
        use crate::agents::LimitKind;
        [
            (LimitKind::Cache, self.cache),
            (LimitKind::Memory, self.memory),
            (LimitKind::Wired, self.wired),
        ]
        .into_iter()
        .filter_map(|(k, spec)| Some((k, spec?.bytes(physical)?)))
        .collect()
    }

    /// What it applies, for a person: `cache 512.0 MB, memory 75%, idle trim above 100.0 MB
    /// after 300 s`.
    pub fn effect_description(&self) -> String {
        let mut parts = Vec::new();
        for (word, spec) in [
            ("cache", self.cache),
            ("memory", self.memory),
            ("wired", self.wired),
        ] {
            if let Some(s) = spec {
                parts.push(format!("{word} {s}"));
            }
        }
        if let Some(t) = &self.idle_trim {
            parts.push(format!(
                "idle trim above {} after {} s",
                format_bytes(t.cache_above),
                t.after_secs
            ));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Whether `p` runs in the Python environment `env` (its `sys.prefix`, or its interpreter is
/// inside `env`).
fn in_env(env: &str, p: &ProcessFacts) -> bool {
    let env = env.trim_end_matches('/');
    if env.is_empty() {
        return false;
    }
    let inside = |path: &str| path == env || path.starts_with(&format!("{env}/"));
    p.python_prefix
        .as_deref()
        .is_some_and(|prefix| prefix.trim_end_matches('/') == env)
        || p.cmdline.first().is_some_and(|exe| inside(exe))
}

/// What a policy can match on, as the process's agent reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    /// The OS's name for the process.
    pub name: String,
    /// The command line.
    pub cmdline: Vec<String>,
    /// The Python environment (`sys.prefix`), when the agent reports it.
    pub python_prefix: Option<String>,
}

/// A limit: bytes, or a percentage of the machine's physical memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimitSpec {
    /// A number of bytes (`"512MiB"`, `536870912`).
    Bytes(u64),
    /// A percentage of physical memory, above 0 and at most 100 (`"75%"`).
    Percent(f64),
}

impl LimitSpec {
    /// The limit in bytes on a machine with `physical` bytes; a percentage is rounded down to
    /// whole MiB, and is unknown without `physical`.
    pub fn bytes(self, physical: Option<u64>) -> Option<u64> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::Percent(p) => {
                let b = (physical? as f64 * p / 100.0) as u64;
                Some(b / MIB * MIB)
            }
        }
    }
}

impl std::fmt::Display for LimitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(b) => f.write_str(&format_bytes(*b)),
            Self::Percent(p) => write!(f, "{}%", trim_number(*p)),
        }
    }
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

const LIMIT_EXPECTED: &str = "a size such as \"512MiB\" or \"2GB\" (powers of 1024), a whole \
number of bytes, or a percentage of physical memory above 0 and at most 100 such as \"75%\"";

/// Parses `"512MiB"`, `"75%"` or `"1073741824"`; the error names the value and what is
/// allowed.
pub fn parse_limit(s: &str) -> Result<LimitSpec, String> {
    let t = s.trim();
    let bad = || format!("invalid limit {s:?}: expected {LIMIT_EXPECTED}");
    if let Some(num) = t.strip_suffix('%') {
        let p: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(bad());
        }
        return Ok(LimitSpec::Percent(p));
    }
    parse_size(t).map(LimitSpec::Bytes).map_err(|_| bad())
}

struct LimitVisitor;

impl Visitor<'_> for LimitVisitor {
    type Value = LimitSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(LIMIT_EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LimitSpec, E> {
        Ok(LimitSpec::Bytes(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LimitSpec, E> {
        u64::try_from(v)
            .map(LimitSpec::Bytes)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LimitSpec, E> {
        if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
            return Ok(LimitSpec::Bytes(v as u64));
        }
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LimitSpec, E> {
        parse_limit(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for LimitSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LimitVisitor)
    }
}

impl Serialize for LimitSpec {
    /// Whole GiB and MiB as people write them (`"512MiB"`, `"2GiB"`), other byte counts as a
    /// number, percentages as `"75%"`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bytes(b) if *b > 0 && b % GIB == 0 => s.serialize_str(&format!("{}GiB", b / GIB)),
            Self::Bytes(b) if *b > 0 && b % MIB == 0 => s.serialize_str(&format!("{}MiB", b / MIB)),
            Self::Bytes(b) => s.serialize_u64(*b),
            Self::Percent(p) => s.serialize_str(&format!("{}%", trim_number(*p))),
        }
    }
}

/// The JSON Schema of a [`LimitSpec`].
struct LimitSpecSchema;

impl JsonSchema for LimitSpecSchema {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "LimitSpec".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes (a whole number, or a size in powers of 1024: \"512MiB\", \"2GB\"), or a percentage of physical memory above 0 and at most 100: \"75%\".",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*([KkMmGgTt]([Ii]?[Bb])?|[Bb])?\\s*$" },
                { "type": "string", "pattern": "^\\s*[0-9.]+\\s*%\\s*$" }
            ]
        })
    }
}

/// Clearing a process's cache once it has been idle: its active memory and cache unchanged
/// for `after_secs` with the cache above `cache_above`. Never while it is generating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct IdleTrim {
    /// Seconds the process's active memory and cache must stay unchanged.
    #[ts(type = "number")]
    pub after_secs: u64,
    /// Cache above which an idle process is trimmed, bytes (or a size: `"100MiB"`).
    #[serde(deserialize_with = "size_bytes")]
    #[schemars(with = "crate::rules::sizes::SizeSchema")]
    #[ts(type = "number | string")]
    pub cache_above: u64,
}

impl Default for IdleTrim {
    /// Five minutes (the write-up's watchdog period) above 100 MiB (its healthy steady-state
    /// Metal cache).
    fn default() -> Self {
        Self {
            after_secs: 300,
            cache_above: 100 * MIB,
        }
    }
}

fn size_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match LimitSpec::deserialize(d)? {
        LimitSpec::Bytes(b) => Ok(b),
        LimitSpec::Percent(p) => Err(de::Error::invalid_value(
            de::Unexpected::Str(&format!("{}%", trim_number(p))),
            &"a size such as \"100MiB\" or a whole number of bytes",
        )),
    }
}

/// Where each suggested value comes from: SleepyQuant, "MLX Memory Safety Checklist: 6-Layer
/// Defense for M1/M2 Apple Silicon" (sleepyquant.rest, 2026-04-27), measured on a 64 GB M1 Max.
pub const SUGGESTION_SOURCES: [(&str, &str); 4] = [
    (
        "wired",
        "70% of memory: layer 1 caps Metal's wired memory at ~70 % of unified memory (45 GB of \
         64 GB) so macOS keeps room for other apps (SleepyQuant, MLX Memory Safety Checklist)",
    ),
    (
        "cache",
        "512 MiB, 256 MiB under 32 GB: layer 2 caps the Metal cache at 512 MB, 256 MB on Macs \
         with less than 32 GB (SleepyQuant, MLX Memory Safety Checklist)",
    ),
    (
        "memory",
        "75% of memory: layer 3 sets MLX's memory limit slightly above the wired cap (48 GB of \
         64 GB) (SleepyQuant, MLX Memory Safety Checklist)",
    ),
    (
        "idle_trim",
        "above 100 MiB after 300 s idle: layer 5 checks every 5 minutes and clears the cache; \
         the healthy steady-state Metal cache is under 100 MB (SleepyQuant, MLX Memory Safety \
         Checklist)",
    ),
];

/// The suggested first policy for a machine and where each of its values comes from (what the
/// UI's one-click suggestion and `headroom policy list` show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PolicySuggestion {
    /// The policy.
    pub policy: Policy,
    /// Each value's source: `(key, source)`.
    pub sources: Vec<SuggestionSource>,
}

/// Where one suggested value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SuggestionSource {
    /// `wired`, `cache`, `memory` or `idle_trim`.
    pub key: String,
    /// The value and its public source.
    pub source: String,
}

/// [`suggested_policy`] with [`SUGGESTION_SOURCES`].
pub fn suggestion(physical: Option<u64>) -> PolicySuggestion {
    PolicySuggestion {
        policy: suggested_policy(physical),
        sources: SUGGESTION_SOURCES
            .iter()
            .map(|(key, source)| SuggestionSource {
                key: (*key).into(),
                source: (*source).into(),
            })
            .collect(),
    }
}

/// The suggested first policy for a machine with `physical` bytes of memory: every MLX
/// process gets the write-up's layers 1, 2, 3 and (as an idle trim) 5. See
/// [`SUGGESTION_SOURCES`].
pub fn suggested_policy(physical: Option<u64>) -> Policy {
    let small = physical.is_some_and(|p| p < 32 * GIB);
    Policy {
        cache: Some(LimitSpec::Bytes(if small { 256 } else { 512 } * MIB)),
        memory: Some(LimitSpec::Percent(75.0)),
        wired: Some(LimitSpec::Percent(70.0)),
        idle_trim: Some(IdleTrim::default()),
        ..Policy::every("every-mlx-process")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, cmdline: &[&str], prefix: Option<&str>) -> ProcessFacts {
        ProcessFacts {
            name: name.into(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            python_prefix: prefix.map(str::to_string),
        }
    }

    #[test]
    fn limits_parse_sizes_and_percentages() {
        assert_eq!(parse_limit("512MiB"), Ok(LimitSpec::Bytes(512 * MIB)));
        assert_eq!(parse_limit(" 75% "), Ok(LimitSpec::Percent(75.0)));
        assert_eq!(parse_limit("100%"), Ok(LimitSpec::Percent(100.0)));
        for bad in ["150%", "0%", "-5%", "-1", "lots", "%"] {
            let e = parse_limit(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("at most 100"), "{e}");
        }
    }

    #[test]
    fn percentages_resolve_against_physical_memory_in_whole_mib() {
        let p = LimitSpec::Percent(70.0);
        assert_eq!(p.bytes(Some(64 * GIB)), Some(45875 * MIB));
        assert_eq!(p.bytes(None), None);
        assert_eq!(LimitSpec::Bytes(7).bytes(None), Some(7));
    }

    #[test]
    fn matching_by_name_cmdline_env_and_every() {
        let server = facts(
            "python3.12",
            &["/venvs/mlx/bin/python", "-m", "mlx_lm.server"],
            Some("/venvs/mlx"),
        );
        let every = Policy::every("all");
        assert!(every.matches(&server));
        let by_cmd = Policy {
            cmdline: Some(r"mlx_lm[. ]server".into()),
            ..Policy::every("s")
        };
        assert!(by_cmd.matches(&server));
        assert!(!by_cmd.matches(&facts("python3", &["python", "train.py"], None)));
        let by_env = Policy {
            python_env: Some("/venvs/mlx/".into()),
            ..Policy::every("e")
        };
        assert!(by_env.matches(&server));
        assert!(by_env.matches(&facts("x", &["/venvs/mlx/bin/python3"], None)));
        assert!(!by_env.matches(&facts("x", &["/venvs/mlx2/bin/python3"], None)));
        let both = Policy {
            process: Some("python3".into()),
            ..by_cmd.clone()
        };
        assert!(!both.matches(&server), "every field must hold");
        let broken = Policy {
            cmdline: Some("(".into()),
            ..Policy::every("b")
        };
        assert!(!broken.matches(&server));
    }

    #[test]
    fn first_enabled_match_wins_and_nothing_applies_while_off() {
        let p = facts("python3", &["python3"], None);
        let mut off = Policy::every("off");
        off.enabled = false;
        let mut policies = Policies {
            enabled: false,
            list: vec![off, Policy::every("a"), Policy::every("b")],
        };
        assert!(policies.matching(&p).is_none());
        policies.enabled = true;
        assert_eq!(policies.matching(&p).map(|x| x.id.as_str()), Some("a"));
    }

    #[test]
    fn suggestion_follows_memory_size() {
        let big = suggested_policy(Some(64 * GIB));
        assert_eq!(big.cache, Some(LimitSpec::Bytes(512 * MIB)));
        assert_eq!(
            big.limits(Some(64 * GIB)),
            vec![
                (crate::agents::LimitKind::Cache, 512 * MIB),
                (crate::agents::LimitKind::Memory, 48 * GIB),
                (crate::agents::LimitKind::Wired, 45875 * MIB),
            ]
        );
        let small = suggested_policy(Some(16 * GIB));
        assert_eq!(small.cache, Some(LimitSpec::Bytes(256 * MIB)));
        assert_eq!(
            big.effect_description(),
            "cache 512.0 MB, memory 75%, wired 70%, idle trim above 100.0 MB after 300 s"
        );
    }

    #[test]
    fn limit_specs_round_trip_through_json() {
        let p = suggested_policy(Some(64 * GIB));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["memory"], "75%");
        assert_eq!(v["cache"], "512MiB");
        assert_eq!(
            serde_json::to_value(LimitSpec::Bytes(3 << 30)).unwrap(),
            "3GiB"
        );
        assert_eq!(serde_json::to_value(LimitSpec::Bytes(1000)).unwrap(), 1000);
        let back: Policy = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
