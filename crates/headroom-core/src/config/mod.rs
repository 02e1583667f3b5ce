//! The configuration: typed, every default in one place, validated with messages that name
//! the key, the bad value and what is allowed.
//!
//! The file is TOML (`config.toml` in the platform config directory, [`config_path`]).
//! Loading never fails: a file that does not parse or validate is reported in
//! [`LoadedConfig::error`] and left exactly as it is, while defaults are in force. Saving is
//! atomic and keeps the user's comments and ordering ([`save`]). The JSON Schema of the file
//! ([`json_schema`]) is generated from these types and committed as `docs/config.schema.json`.

mod file;
mod schema;
mod validate;

pub use file::{config_path, data_dir, load, parse_toml, save, to_toml, ConfigSaveError};
pub use schema::json_schema;
pub use validate::{validate_json, ConfigIssue, Limit, LIMITS};

use crate::platform::linux::PressureThresholds;
use crate::policies::Policies;
use crate::rules::{default_rules, Rule};
use crate::snapshot::{Platform, Snapshot};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use ts_rs::TS;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct Config {
    /// How often memory and MLX processes are read.
    pub sampling: Sampling,
    /// `headroom serve` and the app's optional HTTP server.
    pub server: Server,
    /// The menu-bar app.
    pub app: App,
    /// History retention.
    pub history: HistoryConfig,
    /// The GPU wired limit (`iogpu.wired_limit_mb`, macOS).
    pub wired_limit: WiredLimitConfig,
    /// Thresholds of the Linux pressure level (Linux has no kernel verdict).
    pub linux_pressure: LinuxPressure,
    /// Alert rules (`[[rules]]`); absent means the defaults, `rules = []` means none.
    pub rules: Vec<Rule>,
    /// MLX policies: limits and idle trims applied to matching MLX processes as their agents
    /// appear (off until `policies.enabled` is true).
    pub policies: Policies,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sampling: Sampling::default(),
            server: Server::default(),
            app: App::default(),
            history: HistoryConfig::default(),
            wired_limit: WiredLimitConfig::default(),
            linux_pressure: LinuxPressure::default(),
            rules: default_rules(),
            policies: Policies::default(),
        }
    }
}

/// Sampling intervals, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct Sampling {
    /// Time between two memory samples.
    #[ts(type = "number")]
    pub interval_ms: u64,
    /// Time between two reads of the attached MLX agents.
    #[ts(type = "number")]
    pub mlx_poll_ms: u64,
    /// Time between two scans for new MLX processes.
    #[ts(type = "number")]
    pub mlx_rescan_ms: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            mlx_poll_ms: 1000,
            mlx_rescan_ms: 5000,
        }
    }
}

/// The HTTP server (`headroom serve`, or the app's when `app.http_server` is on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct Server {
    /// Address and port to listen on; loopback unless a token is set.
    pub listen: String,
    /// Bearer token every request must carry (at least 16 characters); none: loopback only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub token: Option<String>,
}

/// The default listen address of `headroom serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9178";

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            token: None,
        }
    }
}

/// What the menu-bar title shows beside the icon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TitleFormat {
    /// `62%`.
    #[default]
    UsedPercent,
    /// `19.8 GB`.
    UsedGb,
    /// `12.2 GB free`.
    FreeGb,
    /// Total MLX cache.
    MlxCache,
    /// Icon only.
    None,
}

/// How the menu-bar icon is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum IconStyle {
    /// Green / yellow / red by pressure.
    #[default]
    Color,
    /// Monochrome, follows the menu bar's appearance.
    Template,
}

/// The menu-bar app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct App {
    /// Text beside the icon.
    pub title: TitleFormat,
    /// Icon style.
    pub icon_style: IconStyle,
    /// Start at login.
    pub launch_at_login: bool,
    /// Also serve the HTTP API from the app (as `headroom serve` would).
    pub http_server: bool,
}

/// History retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct HistoryConfig {
    /// Hours of samples kept at full rate.
    pub full_rate_hours: u32,
    /// Days of one-minute aggregates (min/avg/max) kept.
    pub minute_days: u32,
    /// Upper bound of the database size, in MiB; the oldest data goes first.
    #[ts(type = "number")]
    pub max_db_mb: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            full_rate_hours: 24,
            minute_days: 30,
            max_db_mb: 256,
        }
    }
}

/// The GPU wired limit that Headroom manages (macOS `iogpu.wired_limit_mb`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct WiredLimitConfig {
    /// Set `value_mb` again when Headroom starts (the sysctl resets at reboot).
    pub reapply_on_start: bool,
    /// The limit in MiB; 0 restores the macOS default; absent: not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub value_mb: Option<u64>,
}

impl WiredLimitConfig {
    /// The limit in bytes, when one is configured.
    pub fn value_bytes(&self) -> Option<u64> {
        self.value_mb.map(|mb| mb.saturating_mul(1024 * 1024))
    }
}

/// Thresholds of the Linux pressure level, in percent (see `platform::linux`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[ts(export)]
pub struct LinuxPressure {
    /// PSI `full avg10` at or above which the level is critical.
    pub critical_full_avg10: f64,
    /// Available percentage below which the level is critical.
    pub critical_available_percent: f64,
    /// PSI `some avg10` at or above which the level is warn.
    pub warn_some_avg10: f64,
    /// Available percentage below which the level is warn (seed 004: 15 %).
    pub warn_available_percent: f64,
}

impl Default for LinuxPressure {
    fn default() -> Self {
        let d = PressureThresholds::default();
        Self {
            critical_full_avg10: d.critical_full_avg10,
            critical_available_percent: d.critical_available_percent,
            warn_some_avg10: d.warn_some_avg10,
            warn_available_percent: d.warn_available_percent,
        }
    }
}

impl LinuxPressure {
    /// As the platform module's thresholds.
    pub fn thresholds(&self) -> PressureThresholds {
        PressureThresholds {
            critical_full_avg10: self.critical_full_avg10,
            critical_available_percent: self.critical_available_percent,
            warn_some_avg10: self.warn_some_avg10,
            warn_available_percent: self.warn_available_percent,
        }
    }

    /// Re-derives a Linux snapshot's pressure level with these thresholds (the sampler uses
    /// the defaults). macOS snapshots carry the kernel's verdict and are left alone.
    pub fn apply(&self, snap: &mut Snapshot) {
        if snap.platform != Platform::Linux || snap.pressure.level.is_none() {
            return;
        }
        let p = &snap.pressure;
        let psi = match (p.psi_some_avg10, p.psi_full_avg10) {
            (Some(some), Some(full)) => Some(crate::platform::linux::Psi {
                some_avg10: some,
                full_avg10: full,
                ..Default::default()
            }),
            _ => None,
        };
        snap.pressure.level = self.thresholds().level(psi.as_ref(), p.free_percent);
    }
}

/// The configuration in force and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LoadedConfig {
    /// The configuration in force (the defaults when the file has a problem).
    pub config: Config,
    /// The file it was read from (or would be).
    #[ts(type = "string")]
    pub path: PathBuf,
    /// Why the file is not in force; the file is kept as it is and defaults are used.
    pub error: Option<String>,
    /// The individual problems behind `error`, when the file parsed but did not validate.
    #[serde(default)]
    pub issues: Vec<ConfigIssue>,
    /// The suggested first MLX policy for this machine, with its sources (the engine fills it
    /// in; the UI offers it in one click).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub suggested_policy: Option<crate::policies::PolicySuggestion>,
}
