//! Validation: every problem names the key, the bad value and what is allowed.
//!
//! The TOML file and `PUT /api/config` bodies both arrive here as JSON values. Structure and
//! types are checked by deserializing (the first such problem is reported, with its path);
//! ranges and cross-field rules are then checked on the typed value (all problems reported).

use super::Config;
use crate::rules::{Comparison, MetricUnit, Rule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use ts_rs::TS;

/// One problem with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, JsonSchema)]
#[ts(export)]
pub struct ConfigIssue {
    /// The key, as a path: `sampling.interval_ms`, `rules[2].threshold`.
    pub key: String,
    /// The bad value as written (JSON/TOML syntax), `(missing)` when absent.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
    /// The whole problem for a person: key, value, what is wrong and what is allowed.
    pub message: String,
}

impl ConfigIssue {
    /// An issue; `problem` says what is wrong ("out of range", "unknown key", …).
    pub fn new(key: &str, value: impl Into<String>, problem: &str, allowed: &str) -> Self {
        let value = value.into();
        Self {
            message: format!("{key} = {value}: {problem}; allowed: {allowed}"),
            key: key.into(),
            value,
            allowed: allowed.into(),
        }
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The allowed range of a numeric setting (the JSON Schema's minimum/maximum come from here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// The key; `[]` stands for any index (`rules[].samples`).
    pub key: &'static str,
    /// Least allowed value.
    pub min: f64,
    /// Greatest allowed value.
    pub max: f64,
    /// Whether only whole numbers are allowed.
    pub integer: bool,
    /// The unit, for the message.
    pub unit: &'static str,
}

const fn int(key: &'static str, min: f64, max: f64, unit: &'static str) -> Limit {
    Limit {
        key,
        min,
        max,
        integer: true,
        unit,
    }
}

const fn pct(key: &'static str) -> Limit {
    Limit {
        key,
        min: 0.0,
        max: 100.0,
        integer: false,
        unit: "percent",
    }
}

/// Every numeric range of the configuration.
pub const LIMITS: &[Limit] = &[
    int("sampling.interval_ms", 100.0, 60_000.0, "milliseconds"),
    int("sampling.mlx_poll_ms", 100.0, 60_000.0, "milliseconds"),
    int("sampling.mlx_rescan_ms", 500.0, 3_600_000.0, "milliseconds"),
    int("history.full_rate_hours", 1.0, 720.0, "hours"),
    int("history.minute_days", 1.0, 3650.0, "days"),
    int("history.max_db_mb", 16.0, 1_048_576.0, "MiB"),
    int(
        "wired_limit.value_mb",
        0.0,
        16_777_216.0,
        "MiB; 0 = macOS default",
    ),
    pct("linux_pressure.critical_full_avg10"),
    pct("linux_pressure.critical_available_percent"),
    pct("linux_pressure.warn_some_avg10"),
    pct("linux_pressure.warn_available_percent"),
    int("rules[].for_secs", 0.0, 86_400.0, "seconds"),
    int("rules[].samples", 1.0, 3600.0, "samples"),
    int("rules[].cooldown_secs", 0.0, 604_800.0, "seconds"),
    int("rules[].actions[].bytes", 0.0, 1_099_511_627_776.0, "bytes"),
    int(
        "policies.list[].idle_trim.after_secs",
        10.0,
        604_800.0,
        "seconds",
    ),
    int(
        "policies.list[].idle_trim.cache_above",
        0.0,
        1_099_511_627_776.0,
        "bytes",
    ),
];

/// Most rules a configuration may hold.
pub const MAX_RULES: usize = 64;

/// Most policies a configuration may hold.
pub const MAX_POLICIES: usize = 32;

impl Limit {
    /// What is allowed, in words: `an integer from 100 to 60000 (milliseconds)`.
    pub fn allowed(&self) -> String {
        let kind = if self.integer {
            "an integer"
        } else {
            "a number"
        };
        format!("{kind} from {} to {} ({})", self.min, self.max, self.unit)
    }

    fn check(&self, key: &str, v: f64, out: &mut Vec<ConfigIssue>) {
        if !(self.min..=self.max).contains(&v) {
            out.push(ConfigIssue::new(
                key,
                num(v),
                "out of range",
                &self.allowed(),
            ));
        }
    }
}

/// The limit for a concrete key (`rules[3].samples` matches `rules[].samples`).
pub fn limit_for(key: &str) -> Option<&'static Limit> {
    let pattern = strip_indices(key);
    LIMITS.iter().find(|l| l.key == pattern)
}

pub(crate) fn strip_indices(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut skipping = false;
    for c in key.chars() {
        match c {
            '[' => {
                skipping = true;
                out.push('[');
            }
            ']' => {
                skipping = false;
                out.push(']');
            }
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Validates a configuration given as JSON (a parsed TOML file or an API body).
///
/// Every problem is reported at once: a wrong or unknown key outside `rules` is set aside and
/// checking goes on; inside `rules` the first structural problem ends the check (removing a
/// key there would change what the rule means).
pub fn validate_json(v: &Value) -> Result<Config, Vec<ConfigIssue>> {
    let mut work = v.clone();
    let mut issues = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, Config>(&work) {
            Ok(config) => {
                issues.extend(config.issues());
                return if issues.is_empty() {
                    Ok(config)
                } else {
                    Err(issues)
                };
            }
            Err(e) => {
                let issue = structural_issue(v, &e);
                let removed = issues.len() < 50 && remove_key(&mut work, &issue.key);
                issues.push(issue);
                if !removed {
                    return Err(issues);
                }
            }
        }
    }
}

/// Removes a dotted key outside any array (`sampling.interval_ms`); false if it cannot.
fn remove_key(root: &mut Value, key: &str) -> bool {
    if key.contains('[') || key.is_empty() {
        return false;
    }
    let (parent, last) = match key.rsplit_once('.') {
        Some((p, l)) => (
            p.split('.').try_fold(&mut *root, |cur, k| cur.get_mut(k)),
            l,
        ),
        None => (Some(root), key),
    };
    parent
        .and_then(Value::as_object_mut)
        .is_some_and(|m| m.remove(last).is_some())
}

fn structural_issue(
    root: &Value,
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> ConfigIssue {
    let path = e.path().to_string();
    let msg = e.inner().to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        return unknown_key(root, &path, rest);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let key = join(&path, field);
        return ConfigIssue::new(&key, "(missing)", "required", &required(field));
    }
    let mut value = lookup(root, &path).map_or_else(|| "(missing)".into(), render);
    if value == "(a table)" {
        // Inside a tagged table serde loses the path; its message still quotes the value.
        if let Some(quoted) = msg.split('`').nth(1) {
            value = quoted.to_string();
        }
    }
    let problem = if msg.starts_with("invalid type") {
        format!("wrong type ({})", type_word(lookup(root, &path)))
    } else if msg.starts_with("invalid value") && limit_for(&path).is_some() {
        "out of range".to_string()
    } else if msg.starts_with("invalid value") {
        "invalid value".to_string()
    } else if msg.starts_with("unknown variant") {
        "unknown value".to_string()
    } else {
        msg.clone()
    };
    ConfigIssue::new(&path, value, &problem, &allowed_for(&path, &msg))
}

fn unknown_key(root: &Value, path: &str, rest: &str) -> ConfigIssue {
    let field = rest.split('`').next().unwrap_or(rest);
    // serde_path_to_error's path already ends with the unknown key.
    let key = if path.ends_with(field) {
        path.to_string()
    } else {
        join(path, field)
    };
    let value = lookup(root, &key).map_or_else(|| "(missing)".into(), render);
    let allowed = match rest.split_once("expected ") {
        Some((_, list)) => {
            let list = list.replace('`', "");
            format!("one of the keys {}", list.trim_start_matches("one of "))
        }
        None => "no keys here".to_string(),
    };
    ConfigIssue::new(&key, value, "unknown key", &allowed)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn allowed_for(key: &str, serde_msg: &str) -> String {
    if let Some(l) = limit_for(key) {
        return l.allowed();
    }
    let expected = serde_msg
        .rsplit_once("expected ")
        .map_or(serde_msg, |(_, e)| e);
    if let Some(values) = super::schema::enum_values(key) {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        return format!("one of {}", quoted.join(", "));
    }
    match expected {
        "u64" | "u32" | "u16" | "u8" => "a non-negative integer".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" => "true or false".into(),
        "struct Rule" => "a table with id, name, metric, comparison and threshold".into(),
        e => e.replace('`', "\""),
    }
}

/// What a required field allows (serde only says it is missing).
fn required(field: &str) -> String {
    let list = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        format!("one of {}", quoted.join(", "))
    };
    match field {
        "metric" => list(&crate::metrics::rule_names()),
        "comparison" => list(&["above", "below"]),
        "id" => "1 to 64 letters, digits, '-' or '_'".into(),
        "name" => "a non-empty name".into(),
        "threshold" => "a number in the metric's unit".into(),
        "type" => list(&["notify", "clear_cache", "set_cache_limit"]),
        _ => "a value (see docs/config.schema.json)".into(),
    }
}

fn type_word(v: Option<&Value>) -> &'static str {
    match v {
        None | Some(Value::Null) => "nothing",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(n)) if n.is_f64() => "a decimal number",
        Some(Value::Number(n)) if n.as_i64().is_some_and(|i| i < 0) => "a negative integer",
        Some(Value::Number(_)) => "an integer",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "a table",
    }
}

/// The value at a path like `rules[0].actions[1].type`.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

fn render(v: &Value) -> String {
    if v.is_object() {
        return "(a table)".into();
    }
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

impl Config {
    /// Every range and cross-field problem of this configuration (empty when valid).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        let s = &self.sampling;
        check("sampling.interval_ms", s.interval_ms as f64, &mut out);
        check("sampling.mlx_poll_ms", s.mlx_poll_ms as f64, &mut out);
        check("sampling.mlx_rescan_ms", s.mlx_rescan_ms as f64, &mut out);
        let h = &self.history;
        check(
            "history.full_rate_hours",
            f64::from(h.full_rate_hours),
            &mut out,
        );
        check("history.minute_days", f64::from(h.minute_days), &mut out);
        check("history.max_db_mb", h.max_db_mb as f64, &mut out);
        if let Some(mb) = self.wired_limit.value_mb {
            check("wired_limit.value_mb", mb as f64, &mut out);
        }
        self.server_issues(&mut out);
        self.pressure_issues(&mut out);
        rules_issues(&self.rules, &mut out);
        policies_issues(&self.policies.list, &mut out);
        out
    }

    fn server_issues(&self, out: &mut Vec<ConfigIssue>) {
        let listen = &self.server.listen;
        if listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(ConfigIssue::new(
                "server.listen",
                format!("{listen:?}"),
                "not an address and port",
                "an IP address and port, e.g. \"127.0.0.1:9178\" or \"[::1]:9178\"",
            ));
        }
        if let Some(t) = &self.server.token {
            if t.chars().count() < 16 || t.chars().any(char::is_whitespace) {
                out.push(ConfigIssue::new(
                    "server.token",
                    format!("(hidden, {} characters)", t.chars().count()),
                    "too weak",
                    "at least 16 characters without spaces",
                ));
            }
        }
    }

    fn pressure_issues(&self, out: &mut Vec<ConfigIssue>) {
        let p = &self.linux_pressure;
        check(
            "linux_pressure.critical_full_avg10",
            p.critical_full_avg10,
            out,
        );
        check(
            "linux_pressure.critical_available_percent",
            p.critical_available_percent,
            out,
        );
        check("linux_pressure.warn_some_avg10", p.warn_some_avg10, out);
        check(
            "linux_pressure.warn_available_percent",
            p.warn_available_percent,
            out,
        );
        if p.warn_available_percent < p.critical_available_percent {
            out.push(ConfigIssue::new(
                "linux_pressure.warn_available_percent",
                num(p.warn_available_percent),
                "below critical_available_percent",
                &format!(
                    "a number from {} (critical_available_percent) to 100",
                    num(p.critical_available_percent)
                ),
            ));
        }
    }
}

fn check(key: &str, v: f64, out: &mut Vec<ConfigIssue>) {
    if let Some(l) = limit_for(key) {
        l.check(key, v, out);
    }
}

fn rules_issues(rules: &[Rule], out: &mut Vec<ConfigIssue>) {
    if rules.len() > MAX_RULES {
        out.push(ConfigIssue::new(
            "rules",
            format!("({} rules)", rules.len()),
            "too many rules",
            &format!("at most {MAX_RULES} rules"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        let key = |f: &str| format!("rules[{i}].{f}");
        id_issue(&r.id, &key("id"), &mut seen, out, "rule");
        if r.name.trim().is_empty() {
            out.push(ConfigIssue::new(
                &key("name"),
                format!("{:?}", r.name),
                "empty",
                "a non-empty name",
            ));
        }
        rule_numbers(r, i, out);
        threshold_issues(r, i, out);
    }
}

fn id_issue<'a>(
    id: &'a str,
    key: &str,
    seen: &mut HashSet<&'a str>,
    out: &mut Vec<ConfigIssue>,
    what: &str,
) {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let (problem, allowed) = if !valid {
        (
            "not a valid id".to_string(),
            "1 to 64 letters, digits, '-' or '_'".to_string(),
        )
    } else if !seen.insert(id) {
        (
            format!("used by an earlier {what}"),
            format!("an id no other {what} has"),
        )
    } else {
        return;
    };
    out.push(ConfigIssue::new(key, format!("{id:?}"), &problem, &allowed));
}

fn rule_numbers(r: &Rule, i: usize, out: &mut Vec<ConfigIssue>) {
    let key = |f: &str| format!("rules[{i}].{f}");
    check(&key("for_secs"), r.for_secs as f64, out);
    check(&key("samples"), f64::from(r.samples), out);
    check(&key("cooldown_secs"), r.cooldown_secs as f64, out);
    for (j, a) in r.actions.iter().enumerate() {
        if let crate::rules::Action::SetCacheLimit { bytes } = a {
            check(
                &format!("rules[{i}].actions[{j}].bytes"),
                *bytes as f64,
                out,
            );
        }
    }
}

/// The threshold within the metric's range, and the recovery on the safe side of it.
fn threshold_issues(r: &Rule, i: usize, out: &mut Vec<ConfigIssue>) {
    let key = |f: &str| format!("rules[{i}].{f}");
    let (lo, hi) = r.metric.unit().range();
    let allowed = match r.metric.unit() {
        MetricUnit::Level => "a number from 0 (normal) to 2 (critical)".to_string(),
        MetricUnit::Percent => "a number from 0 to 100 (percent)".to_string(),
        MetricUnit::Bytes => format!("a number of bytes from 0 to {}", num(hi)),
        MetricUnit::BytesPerSecond => format!("a number of bytes per second from 0 to {}", num(hi)),
        MetricUnit::Count | MetricUnit::Seconds => format!("a number from 0 to {}", num(hi)),
    };
    let in_range = |v: f64| v.is_finite() && (lo..=hi).contains(&v);
    let bad = |field: &str, v: f64, problem: &str, allowed: &str| {
        ConfigIssue::new(&key(field), num(v), problem, allowed)
    };
    if !in_range(r.threshold) {
        return out.push(bad("threshold", r.threshold, "out of range", &allowed));
    }
    let Some(rec) = r.recovery else { return };
    if !in_range(rec) {
        return out.push(bad("recovery", rec, "out of range", &allowed));
    }
    let (ok, side) = match r.comparison {
        Comparison::Above => (rec <= r.threshold, "at most"),
        Comparison::Below => (rec >= r.threshold, "at least"),
    };
    if !ok {
        let allowed = format!("{side} the threshold, {}", num(r.threshold));
        out.push(bad(
            "recovery",
            rec,
            "on the wrong side of the threshold",
            &allowed,
        ));
    }
}

fn policies_issues(list: &[crate::policies::Policy], out: &mut Vec<ConfigIssue>) {
    if list.len() > MAX_POLICIES {
        out.push(ConfigIssue::new(
            "policies.list",
            format!("({} policies)", list.len()),
            "too many policies",
            &format!("at most {MAX_POLICIES} policies"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, p) in list.iter().enumerate() {
        let key = |f: &str| format!("policies.list[{i}].{f}");
        id_issue(&p.id, &key("id"), &mut seen, out, "policy");
        if let Some(name) = p.process.as_ref().filter(|n| n.trim().is_empty()) {
            out.push(ConfigIssue::new(
                &key("process"),
                format!("{name:?}"),
                "empty",
                "a process name, e.g. \"python3.12\" (leave it out to match any)",
            ));
        }
        if let Some(pattern) = &p.cmdline {
            if let Err(e) = regex::Regex::new(pattern) {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim();
                let why = why.strip_prefix("error: ").unwrap_or(why);
                out.push(ConfigIssue::new(
                    &key("cmdline"),
                    format!("{pattern:?}"),
                    &format!("not a regular expression ({why})"),
                    "a regular expression (Rust regex syntax), e.g. \"mlx_lm[. ]server\"",
                ));
            }
        }
        if let Some(env) = p.python_env.as_ref().filter(|e| !e.starts_with('/')) {
            out.push(ConfigIssue::new(
                &key("python_env"),
                format!("{env:?}"),
                "not an absolute path",
                "the environment's absolute path (its sys.prefix), e.g. \"/Users/me/venvs/mlx\"",
            ));
        }
        if let Some(t) = &p.idle_trim {
            check(&key("idle_trim.after_secs"), t.after_secs as f64, out);
            check(&key("idle_trim.cache_above"), t.cache_above as f64, out);
        }
    }
}
