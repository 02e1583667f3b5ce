//! Saving: atomic, keeps the user's comments and order, refuses invalid input and never
//! overwrites a bad file; the committed JSON Schema matches the types.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use headroom_core::config::{self, Config, ConfigSaveError};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/valid")
        .join(name)
}

#[test]
fn a_fresh_file_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sub/dir/config.toml");
    let c = Config::default();
    config::save(&path, &c).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Headroom configuration."), "{text}");
    let loaded = config::load(&path);
    assert_eq!(loaded.error, None);
    assert_eq!(loaded.config, c);
}

#[test]
fn saving_keeps_comments_order_and_untouched_values() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::copy(fixture("full.toml"), &path).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    let mut c = config::load(&path).config;
    c.sampling.interval_ms = 2000;
    c.rules[0].threshold = 2.0 * 1073741824.0;
    c.server.token = None;
    config::save(&path, &c).unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    // Exactly three lines changed: two values and the removed token.
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed[0],
        ("interval_ms = 1000 # memory", "interval_ms = 2000 # memory")
    );
    assert!(!after.contains("token"), "{after}");
    assert!(after.contains("# A complete file, every section set."));
    assert!(after.contains("# Only one rule: the MLX cache."));
    assert!(
        after.contains("critical_full_avg10 = 20\n"),
        "integer kept: {after}"
    );
    assert!(after.contains("threshold = 2147483648"), "{after}");
    assert_eq!(before.lines().count(), after.lines().count() + 1);
    let order = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with('['))
            .map(String::from)
            .collect()
    };
    assert_eq!(order(&before), order(&after));
    assert_eq!(config::load(&path).config, c);
}

#[test]
fn saving_an_unchanged_config_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::copy(fixture("full.toml"), &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let c = config::load(&path).config;
    config::save(&path, &c).unwrap();
    assert_eq!(
        String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
        String::from_utf8(before).unwrap()
    );
}

#[test]
fn save_is_atomic_private_and_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    let mut c = Config::default();
    c.server.token = Some("0123456789abcdef-secret".into());
    config::save(&path, &c).unwrap();
    config::save(&path, &c).unwrap();
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["config.toml"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn an_invalid_config_is_refused_and_the_file_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::copy(fixture("minimal.toml"), &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut c = Config::default();
    c.sampling.interval_ms = 10;
    let err = config::save(&path, &c).unwrap_err();
    let ConfigSaveError::Invalid(issues) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        issues[0].message,
        "sampling.interval_ms = 10: out of range; allowed: an integer from 100 to 60000 (milliseconds)"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_read_only_directory_is_an_io_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("config.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(dir.join("probe"), b"x").is_ok() {
            eprintln!("SKIP: running as root, directory permissions are not enforced");
            return;
        }
        let err = config::save(&path, &Config::default()).unwrap_err();
        assert!(matches!(err, ConfigSaveError::Io { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn validate_json_accepts_api_bodies_and_names_problems() {
    let body = serde_json::json!({"sampling": {"interval_ms": 250}, "rules": []});
    let c = config::validate_json(&body).unwrap();
    assert_eq!(c.sampling.interval_ms, 250);
    assert!(c.rules.is_empty());
    let bad = serde_json::json!({"app": {"title": 3}});
    let issues = config::validate_json(&bad).unwrap_err();
    assert_eq!(
        issues[0].message,
        "app.title = 3: wrong type (an integer); allowed: one of \"used_percent\", \"used_gb\", \"free_gb\", \"mlx_cache\", \"none\""
    );
    let json = serde_json::to_value(Config::default()).unwrap();
    assert_eq!(config::validate_json(&json).unwrap(), Config::default());
}

#[test]
fn paths_follow_the_environment() {
    // Only the override variables; the platform defaults are covered by the CLI tests.
    let p = config::config_path();
    assert!(p.ends_with("config.toml") || std::env::var_os("HEADROOM_CONFIG").is_some());
}

#[test]
fn committed_schema_matches_the_types() {
    let schema = config::json_schema();
    let props = &schema["properties"];
    let sampling = &schema["$defs"]["Sampling"]["properties"]["interval_ms"];
    assert_eq!(sampling["minimum"], 100);
    assert_eq!(sampling["maximum"], 60000);
    assert!(props.get("rules").is_some());
    assert_eq!(schema["additionalProperties"], false);
    let rule = &schema["$defs"]["Rule"]["properties"];
    assert_eq!(rule["samples"]["minimum"], 1);
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.schema.json");
    if std::env::var_os("BLESS").is_some() || !path.exists() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "docs/config.schema.json is stale: run `BLESS=1 cargo test -p headroom-core --test config_save`"
    );
}

#[test]
fn sizes_the_user_wrote_are_kept_unless_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::copy(fixture("sizes.toml"), &path).unwrap();
    let mut c = config::load(&path).config;
    c.rules[1].threshold = 2.0 * 1073741824.0;
    config::save(&path, &c).unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains("threshold = \"512MiB\"\n"), "{after}");
    assert!(after.contains("recovery = \"100 MB\"\n"), "{after}");
    assert!(after.contains("bytes = \"256M\""), "{after}");
    assert!(after.contains("threshold = 2147483648\n"), "{after}");
    assert_eq!(config::load(&path).config, c);
}

/// A `config.toml` that is a symbolic link (a dotfiles setup) is written through: the target
/// gets the new values, the link stays a link, no temporary file is left in either directory.
#[test]
fn saving_writes_through_a_symbolic_link_to_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let dotfiles = tmp.path().join("dotfiles");
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(&conf).unwrap();
    let real = dotfiles.join("headroom.toml");
    std::fs::write(&real, "# mine\n[sampling]\ninterval_ms = 1000\n").unwrap();
    let link = conf.join("config.toml");
    std::os::unix::fs::symlink("../dotfiles/headroom.toml", &link).unwrap();
    let mut c = config::load(&link).config;
    c.sampling.interval_ms = 2000;
    config::save(&link, &c).unwrap();
    let md = std::fs::symlink_metadata(&link).unwrap();
    assert!(md.file_type().is_symlink(), "the link was replaced");
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.contains("interval_ms = 2000") && text.contains("# mine"),
        "{text}"
    );
    assert_eq!(config::load(&link).config.sampling.interval_ms, 2000);
    for dir in [&dotfiles, &conf] {
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1, "{dir:?}");
    }
}

/// A read-only configuration file is refused, naming it; nothing is written, and the engine
/// (behind `PUT /api/config` and the app) reports the save as failed instead of saved.
#[tokio::test]
async fn a_read_only_file_is_refused_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::write(&path, "[sampling]\ninterval_ms = 1000\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut c = config::load(&path).config;
    c.sampling.interval_ms = 2000;
    let err = config::save(&path, &c).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("read-only (mode 0444)"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let engine = headroom_core::engine::start(headroom_core::engine::EngineOptions {
        config_path: path.clone(),
        data_dir: tmp.path().join("data"),
        runtime_dir: tmp.path().join("run"),
    });
    let issues = engine.put_config(c).await.unwrap_err();
    assert!(issues[0].message.contains("read-only"), "{issues:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    engine.shutdown().await;
}
