//! The configuration fixture directory: every valid file loads, every invalid one is reported
//! with its exact message, defaults stay in force and the file is never touched.
//!
//! `tests/fixtures/config/invalid/NAME.toml` goes with `NAME.expected`: the exact
//! `LoadedConfig::error` with the path written as `{path}`. `BLESS=1` rewrites the
//! `.expected` files from the current messages (review the diff before committing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use headroom_core::config::{self, Config, ConfigSaveError};
use std::path::{Path, PathBuf};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind)
}

fn tomls(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {kind}");
    v
}

#[test]
fn valid_files_load_without_error() {
    for path in tomls("valid") {
        let loaded = config::load(&path);
        assert_eq!(loaded.error, None, "{}", path.display());
        assert!(loaded.issues.is_empty());
        assert!(loaded.config.issues().is_empty());
    }
}

#[test]
fn empty_and_comment_only_files_mean_all_defaults() {
    for name in ["empty.toml", "comments_only.toml"] {
        assert_eq!(
            config::load(&dir("valid").join(name)).config,
            Config::default()
        );
    }
    let minimal = config::load(&dir("valid").join("minimal.toml")).config;
    assert_eq!(minimal.sampling.interval_ms, 500);
    assert_eq!(
        minimal.rules,
        Config::default().rules,
        "absent rules = defaults"
    );
    let none = config::load(&dir("valid").join("no_rules.toml")).config;
    assert!(none.rules.is_empty(), "rules = [] means no rules");
}

#[test]
fn full_file_sets_every_section() {
    let c = config::load(&dir("valid").join("full.toml")).config;
    assert_eq!(c.sampling.mlx_rescan_ms, 10_000);
    assert_eq!(
        c.server.token.as_deref(),
        Some("correct-horse-battery-staple")
    );
    assert_eq!(c.app.title, config::TitleFormat::FreeGb);
    assert_eq!(c.history.max_db_mb, 1024);
    assert_eq!(c.wired_limit.value_mb, Some(98304));
    assert_eq!(c.linux_pressure.critical_available_percent, 5.5);
    assert_eq!(c.rules.len(), 1);
    assert_eq!(c.rules[0].samples, 3);
    assert_eq!(c.rules[0].actions.len(), 3);
}

#[test]
fn missing_file_is_defaults_without_error() {
    let tmp = tempfile::tempdir().unwrap();
    let loaded = config::load(&tmp.path().join("nope.toml"));
    assert_eq!(loaded.error, None);
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn invalid_files_give_exact_messages_defaults_and_stay_untouched() {
    let bless = std::env::var_os("BLESS").is_some();
    for path in tomls("invalid") {
        let before = std::fs::read(&path).unwrap();
        let loaded = config::load(&path);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{} changed",
            path.display()
        );
        assert_eq!(loaded.config, Config::default(), "{}", path.display());
        let got = loaded
            .error
            .unwrap_or_else(|| panic!("{} loaded without error", path.display()))
            .replace(&path.display().to_string(), "{path}");
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, format!("{got}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert_eq!(got, want.trim_end(), "{}", path.display());
    }
}

#[test]
fn issues_name_key_value_and_allowed() {
    let loaded = config::load(&dir("invalid").join("out_of_range.toml"));
    let keys: Vec<&str> = loaded.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sampling.interval_ms",
            "history.minute_days",
            "history.max_db_mb"
        ]
    );
    let first = &loaded.issues[0];
    assert_eq!(first.value, "5");
    assert_eq!(first.allowed, "an integer from 100 to 60000 (milliseconds)");
    for issue in &loaded.issues {
        assert!(issue.message.contains(&issue.key), "{issue:?}");
        assert!(issue.message.contains(&issue.value), "{issue:?}");
        assert!(issue.message.contains(&issue.allowed), "{issue:?}");
    }
}

#[test]
fn token_is_never_echoed() {
    let loaded = config::load(&dir("invalid").join("bad_server.toml"));
    let err = loaded.error.unwrap();
    assert!(!err.contains("short\""), "{err}");
    assert!(err.contains("(hidden, 5 characters)"), "{err}");
}

#[test]
fn save_refuses_to_overwrite_a_bad_file() {
    let tmp = tempfile::tempdir().unwrap();
    for src in tomls("invalid") {
        let path = tmp.path().join(src.file_name().unwrap());
        std::fs::copy(&src, &path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = config::save(&path, &Config::default()).unwrap_err();
        assert!(
            matches!(err, ConfigSaveError::FileHasErrors { .. }),
            "{}: {err}",
            src.display()
        );
        assert!(err.to_string().contains("fix or remove it first"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{}", src.display());
    }
}

#[test]
fn byte_thresholds_may_be_written_as_sizes() {
    use headroom_core::rules::Action;
    let c = config::load(&dir("valid").join("sizes.toml")).config;
    assert_eq!(c.rules[0].threshold, 512.0 * 1024.0 * 1024.0);
    assert_eq!(c.rules[0].recovery, Some(100.0 * 1024.0 * 1024.0));
    assert_eq!(
        c.rules[0].actions,
        vec![Action::SetCacheLimit { bytes: 256 << 20 }]
    );
    assert_eq!(c.rules[1].threshold, 1.5 * 1024.0 * 1024.0 * 1024.0);
}

#[test]
fn policies_load_with_sizes_percentages_and_idle_trims() {
    use headroom_core::policies::LimitSpec;
    let c = config::load(&dir("valid").join("policies.toml")).config;
    assert!(c.policies.enabled);
    let [servers, every] = &c.policies.list[..] else {
        panic!("two policies expected: {:?}", c.policies.list)
    };
    assert_eq!(servers.cache, Some(LimitSpec::Bytes(1 << 30)));
    assert_eq!(servers.python_env.as_deref(), Some("/Users/me/venvs/mlx"));
    assert_eq!(servers.idle_trim.as_ref().unwrap().cache_above, 256 << 20);
    assert_eq!(every.memory, Some(LimitSpec::Percent(75.0)));
    assert_eq!(every.wired, Some(LimitSpec::Percent(70.0)));
    assert_eq!(every.idle_trim.as_ref().unwrap().cache_above, 100 << 20);
    assert!(
        !Config::default().policies.enabled,
        "off until the user turns it on"
    );
    assert!(Config::default().policies.list.is_empty());
}

#[test]
fn saving_policies_keeps_what_the_user_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    std::fs::copy(dir("valid").join("policies.toml"), &path).unwrap();
    let mut c = config::load(&path).config;
    c.policies.enabled = false;
    c.policies.list[1].cache = Some(headroom_core::policies::LimitSpec::Bytes(256 << 20));
    config::save(&path, &c).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# MLX policies"), "{text}");
    assert!(text.contains("cache = \"1GiB\""), "{text}");
    assert!(text.contains("memory = \"75%\""), "{text}");
    assert!(text.contains("enabled = false"), "{text}");
    assert_eq!(config::load(&path).config, c);
}
