//! Where the file lives, loading it without ever failing, and saving it atomically while
//! keeping the user's comments and key order (toml_edit).

use super::validate::validate_json;
use super::{Config, ConfigIssue, LoadedConfig};
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, Value};

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(std::env::temp_dir)
}

/// An XDG base directory: `$VAR` when absolute, else `$HOME/<fallback>`.
fn xdg(var: &str, fallback: &str) -> PathBuf {
    env_path(var)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home().join(fallback))
}

fn app_support() -> PathBuf {
    home().join("Library/Application Support/Headroom")
}

/// The configuration file: `HEADROOM_CONFIG`, else `~/Library/Application Support/Headroom/
/// config.toml` on macOS and `$XDG_CONFIG_HOME/headroom/config.toml` on Linux.
pub fn config_path() -> PathBuf {
    if let Some(p) = env_path("HEADROOM_CONFIG") {
        return p;
    }
    if cfg!(target_os = "macos") {
        app_support().join("config.toml")
    } else {
        xdg("XDG_CONFIG_HOME", ".config").join("headroom/config.toml")
    }
}

/// The data directory (history database): `HEADROOM_DATA_DIR`, else `~/Library/Application
/// Support/Headroom` on macOS and `$XDG_DATA_HOME/headroom` on Linux.
pub fn data_dir() -> PathBuf {
    if let Some(p) = env_path("HEADROOM_DATA_DIR") {
        return p;
    }
    if cfg!(target_os = "macos") {
        app_support()
    } else {
        xdg("XDG_DATA_HOME", ".local/share").join("headroom")
    }
}

/// Parses TOML text into a validated configuration. `Err` carries the message for
/// [`LoadedConfig::error`] and, when the TOML parsed, the individual issues.
pub fn parse_toml(text: &str) -> Result<Config, (String, Vec<ConfigIssue>)> {
    let value: serde_json::Value =
        toml::from_str(text).map_err(|e| (syntax(text, &e), Vec::new()))?;
    validate_json(&value).map_err(|issues| (summary(&issues), issues))
}

fn syntax(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim_end();
    let Some(span) = e.span() else {
        return format!("TOML syntax error: {msg}");
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("TOML syntax error at line {line}, column {column}: {msg}")
}

fn summary(issues: &[ConfigIssue]) -> String {
    let list: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
    list.join("; ")
}

/// Loads the configuration. Never fails: a missing file means the defaults; a file that
/// cannot be read, parsed or validated is left as it is, the defaults are in force and
/// [`LoadedConfig::error`] says why.
pub fn load(path: &Path) -> LoadedConfig {
    let mut out = LoadedConfig {
        config: Config::default(),
        path: path.to_path_buf(),
        error: None,
        issues: Vec::new(),
        suggested_policy: None,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => match parse_toml(&text) {
            Ok(c) => out.config = c,
            Err((msg, issues)) => {
                out.error = Some(format!(
                    "{}: {msg} (defaults in force; the file was not changed)",
                    path.display()
                ));
                out.issues = issues;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            out.error = Some(format!(
                "{}: cannot read: {e} (defaults in force)",
                path.display()
            ))
        }
    }
    out
}

/// Why a configuration was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigSaveError {
    /// The configuration itself is invalid.
    #[error("the configuration is invalid: {}", summary(.0))]
    Invalid(Vec<ConfigIssue>),
    /// The file on disk has problems; it is never overwritten (fix or remove it first).
    #[error(
        "{path}: not saved because the file on disk has problems; fix or remove it first: {error}"
    )]
    FileHasErrors {
        /// The file.
        path: String,
        /// Its problems.
        error: String,
    },
    /// Reading or writing failed.
    #[error("{path}: cannot save: {error}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        error: String,
    },
}

impl ConfigSaveError {
    /// The problem as config issues (what `PUT /api/config` answers).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        match self {
            ConfigSaveError::Invalid(v) => v.clone(),
            other => vec![ConfigIssue {
                key: String::new(),
                value: String::new(),
                allowed: "a configuration file that parses and validates".into(),
                message: other.to_string(),
            }],
        }
    }
}

/// Saves `config` to `path` atomically (temp file, fsync, rename, fsync of the directory),
/// keeping the comments and order of the existing file. Refuses an invalid configuration and
/// never overwrites a file that currently fails to parse or validate.
///
/// A symbolic link is written through: its target is replaced (the temporary file goes in the
/// target's directory) and the link stays. A read-only file, or anything but a regular file,
/// is refused with a message naming it.
pub fn save(path: &Path, config: &Config) -> Result<(), ConfigSaveError> {
    let issues = config.issues();
    if !issues.is_empty() {
        return Err(ConfigSaveError::Invalid(issues));
    }
    let refused = |error: String| ConfigSaveError::Io {
        path: path.display().to_string(),
        error,
    };
    let target = crate::files::resolve_write_target(path).map_err(refused)?;
    let io = |e: std::io::Error| ConfigSaveError::Io {
        path: target.path.display().to_string(),
        error: e.to_string(),
    };
    let old = match std::fs::read_to_string(&target.path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let text = render(old.as_deref(), config).map_err(|error| ConfigSaveError::FileHasErrors {
        path: path.display().to_string(),
        error,
    })?;
    if !target.through_link {
        // Our own directory: created private. A link's target directory is the user's.
        if let Some(dir) = target.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir(dir).map_err(io)?;
        }
    }
    crate::files::replace_file(&target.path, text.as_bytes(), 0o600).map_err(io)
}

/// The new file text: the old document with `config`'s values merged in, or a fresh one.
fn render(old: Option<&str>, config: &Config) -> Result<String, String> {
    let fresh = to_document(config)?;
    let Some(old) = old else {
        return Ok(format!("{HEADER}{fresh}"));
    };
    let base = to_document(&parse_toml(old).map_err(|(msg, _)| msg)?)?;
    let mut doc: DocumentMut = old.parse().map_err(|e| format!("{e}"))?;
    merge_table(doc.as_table_mut(), fresh.as_table(), Some(base.as_table()));
    Ok(doc.to_string())
}

/// A configuration as TOML text (what a fresh file holds, without the header).
pub fn to_toml(config: &Config) -> Result<String, String> {
    to_document(config).map(|d| d.to_string())
}

/// A configuration as a TOML document: arrays of tables at the top level or in a section
/// stay `[[rules]]` / `[[policies.list]]`; inside their entries, arrays of tables and tables
/// are written inline (`actions = [{ type = "notify" }]`, `idle_trim = { after_secs = 300 }`).
fn to_document(config: &Config) -> Result<DocumentMut, String> {
    let text = toml::to_string(config).map_err(|e| format!("cannot encode: {e}"))?;
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("cannot encode: {e}"))?;
    inline_in_section(doc.as_table_mut());
    Ok(doc)
}

/// A section (the root or `[policies]`): its arrays of tables keep their `[[…]]` form.
fn inline_in_section(t: &mut Table) {
    for (_, item) in t.iter_mut() {
        match item {
            Item::Table(inner) => inline_in_section(inner),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(inline_nested),
            Item::Value(v) => whole_floats_as_integers(v),
            _ => {}
        }
    }
}

/// An entry of an array of tables: everything nested in it is written inline.
fn inline_nested(t: &mut Table) {
    let nested: Vec<String> = t
        .iter()
        .filter(|(_, item)| item.is_array_of_tables() || item.is_table())
        .map(|(k, _)| k.to_string())
        .collect();
    for key in nested {
        match t.remove(&key) {
            Some(Item::ArrayOfTables(a)) => {
                let mut array = a.into_array();
                array.iter_mut().for_each(whole_floats_as_integers);
                t.insert(&key, Item::Value(Value::Array(array)));
            }
            Some(Item::Table(inner)) => {
                let mut inline = inner.into_inline_table();
                inline
                    .iter_mut()
                    .for_each(|(_, v)| whole_floats_as_integers(v));
                t.insert(&key, Item::Value(Value::InlineTable(inline)));
            }
            _ => {}
        }
    }
    for (_, item) in t.iter_mut() {
        if let Item::Value(v) = item {
            whole_floats_as_integers(v);
        }
    }
}

/// `1073741824.0` is written `1073741824` (it reads back as the same number).
fn whole_floats_as_integers(v: &mut Value) {
    match v {
        Value::Float(f) => {
            let x = *f.value();
            if x.fract() == 0.0 && x.abs() < 9.0e15 {
                *v = Value::from(x as i64);
            }
        }
        Value::InlineTable(t) => t.iter_mut().for_each(|(_, v)| whole_floats_as_integers(v)),
        _ => {}
    }
}

const HEADER: &str = "# Headroom configuration. Every key is optional; see docs/RULES.md and \
docs/config.schema.json.\n# `headroom config check` validates this file.\n\n";

/// Merges `new` into `old` in place. `base` is what `old` means once loaded (defaults
/// filled in): a key the user left out is only written when its value differs from that.
fn merge_table(old: &mut Table, new: &Table, base: Option<&Table>) {
    let stale: Vec<String> = old
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !new.contains_key(k))
        .collect();
    for k in stale {
        old.remove(&k);
    }
    for (k, item) in new.iter() {
        let base_item = base.and_then(|b| b.get(k));
        match old.get_mut(k) {
            Some(o) => merge_item(o, item, base_item),
            None if base_item.is_some_and(|b| same_item(b, item)) => {}
            None => {
                old.insert(k, item.clone());
            }
        }
    }
}

fn merge_item(old: &mut Item, new: &Item, base: Option<&Item>) {
    match (old, new) {
        (Item::Table(o), Item::Table(n)) => merge_table(o, n, base.and_then(Item::as_table)),
        (Item::ArrayOfTables(o), Item::ArrayOfTables(n)) => {
            while o.len() > n.len() {
                o.remove(o.len() - 1);
            }
            let base = base.and_then(Item::as_array_of_tables);
            for (i, t) in n.iter().enumerate() {
                match o.get_mut(i) {
                    Some(ot) => merge_table(ot, t, base.and_then(|b| b.get(i))),
                    None => o.push(t.clone()),
                }
            }
        }
        (Item::Value(o), Item::Value(n)) => {
            if !same_value(o, n) {
                let decor = o.decor().clone();
                *o = n.clone();
                *o.decor_mut() = decor;
            }
        }
        (o, n) => *o = n.clone(),
    }
}

fn same_item(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Value(x), Item::Value(y)) => same_value(x, y),
        _ => a.to_string() == b.to_string(),
    }
}

/// Whether two values are equal regardless of formatting (`15` and `15.0`, `1e9`, and a
/// size the user wrote, `"512MiB"`, against the number of bytes it stands for).
fn same_value(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Integer(i) => Some(*i.value() as f64),
        Value::Float(f) => Some(*f.value()),
        _ => None,
    };
    let size = |v: &Value| match v {
        Value::String(s) => crate::units::parse_size(s.value()).ok().map(|b| b as f64),
        _ => num(v),
    };
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_value(p, q))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ if num(a).is_some() || num(b).is_some() => {
            matches!((size(a), size(b)), (Some(x), Some(y)) if x == y)
        }
        _ => bare(a) == bare(b),
    }
}

fn bare(v: &Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    v.to_string()
}
