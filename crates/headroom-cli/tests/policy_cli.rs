//! `headroom policy` as a person runs it: the suggested policy added and turned on, bad values
//! refused with the key and what is allowed (the file untouched), a broken file never
//! overwritten.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

fn headroom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .env("HEADROOM_CONFIG", dir.join("config.toml"))
        .env("HEADROOM_DATA_DIR", dir.join("data"))
        .env("HEADROOM_RUNTIME_DIR", dir.join("rt"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_suggested_policy_is_added_off_then_turned_on_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let o = headroom(tmp.path(), &["policy", "add", "--suggested"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("added policy every-mlx-process: every MLX process"),
        "{out}"
    );
    assert!(out.contains("policies are off"), "{out}");
    let file = std::fs::read_to_string(tmp.path().join("config.toml")).unwrap();
    assert!(file.contains("[[policies.list]]"), "{file}");
    assert!(file.contains("memory = \"75%\""), "{file}");
    assert!(
        file.contains("[policies]\nenabled = false"),
        "still off: {file}"
    );

    let o = headroom(tmp.path(), &["policy", "enable"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = headroom(tmp.path(), &["policy", "list"]);
    let (out, _) = text(&o);
    assert!(out.starts_with("Policies are on"), "{out}");
    assert!(out.contains("SleepyQuant"), "sources shown: {out}");

    let o = headroom(
        tmp.path(),
        &["policy", "add", "every-mlx-process", "--cache", "1GB"],
    );
    assert_eq!(o.status.code(), Some(1), "duplicate id: {:?}", text(&o));
    let o = headroom(tmp.path(), &["policy", "remove", "every-mlx-process"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = headroom(tmp.path(), &["policy", "remove", "nope"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn bad_values_are_refused_with_the_key_and_the_file_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        headroom(tmp.path(), &["policy", "add", "a", "--cache", "512MiB"])
            .status
            .code(),
        Some(0)
    );
    let before = std::fs::read(tmp.path().join("config.toml")).unwrap();

    let o = headroom(tmp.path(), &["policy", "add", "b", "--memory", "150%"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"150%\"") && err.contains("at most 100"),
        "{err}"
    );

    let o = headroom(
        tmp.path(),
        &["policy", "add", "c", "--cmdline", "mlx_lm(server"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("policies.list[1].cmdline"), "{err}");
    assert!(err.contains("not a regular expression"), "{err}");
    assert_eq!(
        std::fs::read(tmp.path().join("config.toml")).unwrap(),
        before
    );

    // A broken file is never overwritten.
    std::fs::write(
        tmp.path().join("config.toml"),
        "[policies]\nenabled = maybe\n",
    )
    .unwrap();
    let o = headroom(tmp.path(), &["policy", "enable"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("config.toml")).unwrap(),
        "[policies]\nenabled = maybe\n"
    );
}
