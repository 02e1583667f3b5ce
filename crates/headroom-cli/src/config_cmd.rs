//! `headroom config path|show|check|init|schema`: the configuration file from a terminal.
//!
//! Exit status: 0 fine; 1 the file has problems (defaults are in force, the file is kept);
//! 2 the file cannot be read or written, or bad input.

use crate::output::{emit, exit_code, write_line};
use headroom_core::config::{self, Config, LoadedConfig};
use headroom_core::ops::{self, Local};
use std::path::{Path, PathBuf};

/// Arguments of `headroom config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `headroom config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print where the configuration file is (`HEADROOM_CONFIG` overrides it).
    Path,
    /// Print the configuration in force (defaults where the file says nothing).
    Show {
        /// Print JSON (the `PUT /api/config` body) instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration file (or FILE): every problem with its key, value and
    /// what is allowed.
    Check {
        /// The file to check instead of the configuration file.
        file: Option<PathBuf>,
    },
    /// Write a configuration file with every default, unless one exists.
    Init,
    /// Print the JSON Schema of the configuration file.
    Schema,
}

/// Runs `headroom config …`.
pub async fn run(args: &ConfigArgs) -> u8 {
    match &args.command {
        ConfigCommand::Path => {
            exit_code(write_line(&config::config_path().display().to_string()), 0)
        }
        ConfigCommand::Show { json } => show(*json),
        ConfigCommand::Check { file } => check(file.clone().unwrap_or_else(config::config_path)),
        ConfigCommand::Init => init(&config::config_path()),
        ConfigCommand::Schema => print_json(&config::json_schema(), 0),
    }
}

/// Prints pretty JSON; returns `code`, or the write or encoding error's code.
fn print_json<T: serde::Serialize>(value: &T, code: u8) -> u8 {
    exit_code(crate::output::print_json(value, true), code)
}

fn report(loaded: &LoadedConfig) -> u8 {
    let Some(error) = &loaded.error else {
        return 0;
    };
    if loaded.issues.is_empty() {
        eprintln!("headroom: {error}");
    } else {
        eprintln!(
            "headroom: {}: {} problem(s); defaults are in force and the file was not changed:",
            loaded.path.display(),
            loaded.issues.len()
        );
        for issue in &loaded.issues {
            eprintln!("  {}", issue.message);
        }
    }
    // A file that exists but cannot be read is "nothing could be done"; bad content is a finding.
    if error.contains(": cannot read: ") {
        2
    } else {
        1
    }
}

fn show(json: bool) -> u8 {
    let loaded = ops::config(&Local::from_env());
    let code = report(&loaded);
    if json {
        return print_json(&loaded.config, code);
    }
    match config::to_toml(&loaded.config) {
        Ok(text) => {
            let origin = if loaded.error.is_some() {
                "defaults (the file has problems, see above)".to_string()
            } else if loaded.path.exists() {
                loaded.path.display().to_string()
            } else {
                format!("defaults (no file at {})", loaded.path.display())
            };
            exit_code(emit(&format!("# In force: {origin}\n\n{text}\n")), code)
        }
        Err(e) => {
            eprintln!("headroom: cannot encode the configuration as TOML: {e}");
            2
        }
    }
}

fn check(path: PathBuf) -> u8 {
    if !path.exists() {
        return exit_code(
            write_line(&format!(
                "{}: no file; every default is in force (`headroom config init` writes one)",
                path.display()
            )),
            0,
        );
    }
    let loaded = config::load(&path);
    let code = report(&loaded);
    if code == 0 {
        return exit_code(
            write_line(&format!(
                "{}: ok ({} rules, {} enabled)",
                path.display(),
                loaded.config.rules.len(),
                loaded.config.rules.iter().filter(|r| r.enabled).count()
            )),
            0,
        );
    }
    code
}

/// The target of `path` when it is a symbolic link that leads nowhere.
fn dangling_link(path: &Path) -> Option<PathBuf> {
    let md = std::fs::symlink_metadata(path).ok()?;
    (md.file_type().is_symlink() && !path.exists())
        .then(|| std::fs::read_link(path).unwrap_or_default())
}

fn init(path: &Path) -> u8 {
    if let Some(target) = dangling_link(path) {
        eprintln!(
            "headroom: {} is a symbolic link to {}, which does not exist; not replaced (create the target or remove the link)",
            path.display(),
            target.display()
        );
        return 1;
    }
    if path.exists() {
        eprintln!(
            "headroom: {} already exists; not overwritten (`headroom config check` validates it)",
            path.display()
        );
        return 1;
    }
    match config::save(path, &Config::default()) {
        Ok(()) => exit_code(write_line(&path.display().to_string()), 0),
        Err(e) => {
            eprintln!("headroom: {e}");
            2
        }
    }
}
