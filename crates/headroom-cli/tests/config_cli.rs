//! `headroom config path|show|check|init|schema` as a user runs them: exit codes, messages,
//! and bad files left untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../headroom-core/tests/fixtures/config")
        .join(kind)
        .join(name)
}

fn headroom(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("HEADROOM_CONFIG", config)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn path_follows_headroom_config_then_xdg() {
    let out = headroom(Path::new("/somewhere/h.toml"), &["config", "path"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "/somewhere/h.toml\n");
    if cfg!(target_os = "linux") {
        let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(["config", "path"])
            .env_remove("HEADROOM_CONFIG")
            .env("XDG_CONFIG_HOME", "/xdg/conf")
            .output()
            .unwrap();
        assert_eq!(text(&out.stdout), "/xdg/conf/headroom/config.toml\n");
    }
}

#[test]
fn check_valid_invalid_missing_and_unreadable() {
    let ok = headroom(&fixture("valid", "full.toml"), &["config", "check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).ends_with(": ok (1 rules, 1 enabled)\n"));

    let bad = fixture("invalid", "out_of_range.toml");
    let before = std::fs::read(&bad).unwrap();
    let out = headroom(&bad, &["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("3 problem(s); defaults are in force and the file was not changed:"));
    assert!(
        err.contains("  sampling.interval_ms = 5: out of range; allowed: an integer from 100 to 60000 (milliseconds)\n"),
        "{err}"
    );
    assert_eq!(std::fs::read(&bad).unwrap(), before);

    let broken = headroom(&fixture("invalid", "broken.toml"), &["config", "check"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(text(&broken.stderr).contains("TOML syntax error at line 1, column 10"));

    let tmp = tempfile::tempdir().unwrap();
    let missing = headroom(&tmp.path().join("none.toml"), &["config", "check"]);
    assert_eq!(missing.status.code(), Some(0));
    assert!(text(&missing.stdout).contains("no file; every default is in force"));

    // A directory where the file should be cannot be read: nothing could be done.
    let unreadable = headroom(tmp.path(), &["config", "check"]);
    assert_eq!(
        unreadable.status.code(),
        Some(2),
        "{}",
        text(&unreadable.stderr)
    );
    assert!(text(&unreadable.stderr).contains("cannot read"));
}

#[test]
fn check_takes_a_file_argument() {
    let out = headroom(
        Path::new("/nonexistent/ignored.toml"),
        &[
            "config",
            "check",
            fixture("invalid", "unknown_key.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(
        "sampling.intervall_ms = 500: unknown key; allowed: one of the keys interval_ms, mlx_poll_ms, mlx_rescan_ms"
    ));
}

#[test]
fn show_prints_what_is_in_force() {
    let out = headroom(&fixture("valid", "minimal.toml"), &["config", "show"]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(s.contains("interval_ms = 500\n"), "{s}");
    assert!(
        s.contains("id = \"mlx-cache-high\""),
        "defaults fill the rest: {s}"
    );

    let bad = fixture("invalid", "wrong_type.toml");
    let out = headroom(&bad, &["config", "show", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sampling"]["interval_ms"], 1000, "defaults in force");
    assert!(text(&out.stderr).contains("sampling.interval_ms = \"fast\": wrong type (a string)"));
}

#[test]
fn init_writes_defaults_once() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("conf/config.toml");
    let out = headroom(&path, &["config", "init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[[rules]]"));
    assert_eq!(headroom(&path, &["config", "check"]).status.code(), Some(0));
    let again = headroom(&path, &["config", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists; not overwritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
}

#[test]
fn schema_is_the_committed_one() {
    let out = headroom(Path::new("/nonexistent.toml"), &["config", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.schema.json"),
    )
    .unwrap();
    assert_eq!(text(&out.stdout), committed);
}
