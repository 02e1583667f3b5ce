//! The one error every operation answers with: what kind of failure (which a shell maps to an
//! HTTP status or an exit code), the message for a person, the parameter at fault as a value
//! of [`Param`] (never found by reading the message), and the configuration problems behind a
//! refused configuration.

use crate::config::ConfigIssue;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A parameter of an operation's request, under its wire name (HTTP query parameter, JSON
/// field, app command argument in snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Param {
    /// Fit: the parameter count (`70B`).
    Params,
    /// Fit: weight bits.
    Bits,
    /// Fit: context length in tokens.
    Context,
    /// Fit: KV cache bits.
    KvBits,
    /// Fit: transformer layers.
    Layers,
    /// Fit: key/value heads.
    KvHeads,
    /// Fit: dimension of one attention head.
    HeadDim,
    /// Fit: a local model folder.
    Path,
    /// Top: how many rows.
    N,
    /// History and journal: the start.
    Since,
    /// History: the end.
    Until,
    /// History: at most this many points.
    MaxPoints,
    /// Journal: at most this many entries.
    Limit,
    /// MLX limit: which one (`cache`, `memory`, `wired`).
    Kind,
    /// MLX limit: the size as text (`512MiB`).
    Size,
    /// MLX limit: the size in bytes.
    Bytes,
    /// Actions: the processes.
    Pids,
    /// Enable the agent: the MLX process whose Python it is for.
    Pid,
    /// GPU wired limit: the value in MB.
    Mb,
    /// Configuration: validate only.
    DryRun,
    /// Configuration: the document.
    Config,
    /// A parameter the operation does not take.
    Unknown,
}

impl Param {
    /// The wire name (`kv_bits`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Params => "params",
            Self::Bits => "bits",
            Self::Context => "context",
            Self::KvBits => "kv_bits",
            Self::Layers => "layers",
            Self::KvHeads => "kv_heads",
            Self::HeadDim => "head_dim",
            Self::Path => "path",
            Self::N => "n",
            Self::Since => "since",
            Self::Until => "until",
            Self::MaxPoints => "max_points",
            Self::Limit => "limit",
            Self::Kind => "kind",
            Self::Size => "size",
            Self::Bytes => "bytes",
            Self::Pids => "pids",
            Self::Pid => "pid",
            Self::Mb => "mb",
            Self::DryRun => "dry_run",
            Self::Config => "config",
            Self::Unknown => "unknown",
        }
    }
}

/// What kind of failure, which decides the HTTP status and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorKind {
    /// The request is wrong (a bad parameter, a refused configuration): 400, exit 2.
    BadRequest,
    /// Not possible now (no sample yet, the engine stopped, a read failed): 503, exit 2.
    Unavailable,
    /// Not possible on this platform or through this shell: 405, exit 2.
    NotSupported,
    /// Nothing there (no history database yet): 404, exit 1.
    NotFound,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unavailable => 503,
            Self::NotSupported => 405,
            Self::NotFound => 404,
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{error}")]
#[ts(export)]
pub struct OpError {
    /// What went wrong, for a person: names the bad value and what is allowed.
    pub error: String,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The HTTP status of `kind` (also sent by the app, so the UI reads one shape).
    pub status: u16,
    /// The request parameter at fault, if one is.
    pub param: Option<Param>,
    /// Each problem of a refused configuration (key, value, what is allowed).
    #[serde(default)]
    pub issues: Vec<ConfigIssue>,
}

impl OpError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            kind,
            status: kind.status(),
            param: None,
            issues: Vec::new(),
        }
    }

    /// A bad value of `param`; the message is prefixed with the parameter's name.
    pub fn bad_param(param: Param, why: impl std::fmt::Display) -> Self {
        Self {
            param: Some(param),
            ..Self::new(ErrorKind::BadRequest, format!("{}: {why}", param.name()))
        }
    }

    /// A bad request not about one parameter.
    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, error)
    }

    /// Not possible now.
    pub fn unavailable(error: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, error)
    }

    /// Not possible here.
    pub fn not_supported(error: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, error)
    }

    /// "No sample taken yet" (a host whose engine has not sampled).
    pub fn no_sample() -> Self {
        Self::unavailable("no sample taken yet; retry in a second")
    }

    /// A refused configuration: the first problem (and how many more), each in `issues`.
    pub fn config(issues: Vec<ConfigIssue>) -> Self {
        let first = issues
            .first()
            .map_or_else(|| "invalid configuration".to_owned(), |i| i.message.clone());
        let error = match issues.len() {
            0 | 1 => first,
            n => format!("{first} (and {} more problems)", n - 1),
        };
        Self {
            param: Some(Param::Config),
            issues,
            ..Self::bad_request(error)
        }
    }

    /// The exit status a command-line shell gives this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::NotFound => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(message: &str) -> ConfigIssue {
        ConfigIssue {
            key: "app.title".into(),
            value: "\"gigabytes\"".into(),
            allowed: "used_percent, used_gb, free_gb, mlx_cache, none".into(),
            message: message.into(),
        }
    }

    #[test]
    fn refused_configurations_name_the_first_problem_and_count_the_rest() {
        let one = OpError::config(vec![issue("app.title: bad")]);
        assert_eq!(one.error, "app.title: bad");
        assert_eq!((one.status, one.param), (400, Some(Param::Config)));
        let two = OpError::config(vec![issue("first"), issue("second")]);
        assert_eq!(two.error, "first (and 1 more problems)");
        assert_eq!(OpError::config(Vec::new()).error, "invalid configuration");
    }

    #[test]
    fn a_bad_parameter_is_named_by_value_and_in_the_message() {
        let e = OpError::bad_param(Param::KvBits, "invalid KV bits 7");
        assert_eq!(e.param, Some(Param::KvBits));
        assert!(e.error.starts_with("kv_bits: "), "{}", e.error);
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(json["param"], "kv_bits");
        assert_eq!(json["status"], 400);
        assert_eq!(Param::KvBits.name(), json["param"]);
    }
}
