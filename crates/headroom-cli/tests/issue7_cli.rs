#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
//! Binary tests of `headroom wired-limit`, `top`, `fit` and `doctor` on Linux: validation
//! messages and exit codes, a real process found with its memory, fit verdicts on replayed
//! machines, doctor findings on replayed fixture trees.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// `headroom` isolated from this user's config, history and agents.
fn headroom(tmp: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_headroom"));
    let runtime = tmp.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    c.env("HEADROOM_CONFIG", tmp.join("config.toml"))
        .env("HEADROOM_DATA_DIR", tmp.join("data"))
        .env("HEADROOM_RUNTIME_DIR", runtime)
        .env("NO_COLOR", "1");
    c
}

fn on_fixture(tmp: &Path, name: &str) -> Command {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../headroom-core/tests/fixtures/linux")
        .join(name);
    let mut c = headroom(tmp);
    c.env("HEADROOM_PROC_ROOT", root.join("proc"))
        .env("HEADROOM_SYS_ROOT", root.join("sys"));
    c
}

fn run(mut c: Command, args: &[&str]) -> (i32, String, String) {
    let o: Output = c.args(args).output().expect("run headroom");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn wired_limit_show_on_linux_prints_what_it_can() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run(on_fixture(tmp.path(), "2tib"), &["wired-limit", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["supported"], false);
    assert!(v["current_mb"].is_null());
    assert_eq!(v["physical"].as_u64().unwrap(), 2048 * GIB);
    // 2 TiB − 25 % = 1.5 TiB suggested; at most 2 TiB − 8 GiB accepted.
    assert_eq!(v["suggestion"]["mb"], 1536 * 1024);
    assert_eq!(v["max_mb"], 2048 * 1024 - 8 * 1024);
    let (code, out, _) = run(on_fixture(tmp.path(), "2tib"), &["wired-limit", "show"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("not available on this platform (iogpu.wired_limit_mb is a macOS sysctl)"),
        "{out}"
    );
    assert!(out.contains("Physical memory   2048.0 GB"), "{out}");
}

#[test]
fn wired_limit_set_validates_then_refuses_on_linux() {
    let tmp = tempfile::tempdir().unwrap();
    // host-vm-24g: 23.5 GiB → at most 23.5 − 5.9 GiB = 18077 MB.
    let cases = [
        ("48", "below the floor of 1024 MB"),
        ("48", "did you mean 48 GB = 49152 MB?"),
        ("64GB", "would leave macOS less than"),
        ("64GB", "allowed: 1024..=18077 MB"),
        ("1.0001G", "not a whole number of MB"),
        ("lots", "invalid wired limit \"lots\""),
        ("0", "headroom wired-limit reset"),
        ("12GB", "not available on this platform"),
        ("12288", "not available on this platform"),
    ];
    for (size, want) in cases {
        let (code, out, err) = run(
            on_fixture(tmp.path(), "host-vm-24g"),
            &["wired-limit", "set", size, "--yes"],
        );
        assert_eq!(code, 2, "{size}: {out}{err}");
        assert!(err.contains(want), "{size}: {err}");
    }
    let (code, _, err) = run(
        on_fixture(tmp.path(), "host-vm-24g"),
        &["wired-limit", "reset", "-y"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("not available on this platform"), "{err}");
}

#[test]
fn top_finds_a_process_holding_200_mib() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("python3")
        .args(["-c", "import sys\nb = b'\\x01' * (200 << 20)\nprint('ready', flush=True)\nsys.stdin.read()\n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = u64::from(child.id());
    let (code, out, err) = run(headroom(tmp.path()), &["top", "-n", "1000", "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    for r in rows {
        assert!(r["name"].is_string() && r["footprint"].is_u64(), "{r}");
        assert!(
            r.get("pid").is_some() != r.get("pids").is_some(),
            "pid or pids: {r}"
        );
    }
    let row = rows
        .iter()
        .find(|r| r["pid"].as_u64() == Some(pid))
        .expect("listed");
    let got = row["footprint"].as_u64().unwrap() as f64;
    let want = (200 * MIB) as f64;
    assert!(
        (got - want).abs() / want <= 0.10,
        "{} MiB",
        got / MIB as f64
    );
    let sizes: Vec<u64> = rows
        .iter()
        .map(|r| r["footprint"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
    let (code, out, _) = run(headroom(tmp.path()), &["top", "-n", "3"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 4, "header + 3 rows: {out}");
    let (code, _, err) = run(headroom(tmp.path()), &["top", "-n", "0"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn fit_verdicts_on_replayed_machines() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "fit",
        "--params",
        "70B",
        "--bits",
        "4",
        "--context",
        "8192",
        "--json",
    ];
    let (code, out, err) = run(on_fixture(tmp.path(), "2tib"), &args);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["verdict"], "fits");
    assert_eq!(v["weights"], 35_000_000_000u64);
    assert_eq!(v["kv_cache"], 2 * 80 * 8 * 128 * 8192 * 2u64);
    let sum = ["weights", "kv_cache", "overhead"]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(v["total"].as_u64().unwrap(), sum);
    let (code, out, _) = run(on_fixture(tmp.path(), "tiny-vm"), &args);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["verdict"], "does_not_fit");
    let (code, out, _) = run(on_fixture(tmp.path(), "tiny-vm"), &args[..args.len() - 1]);
    assert_eq!(code, 1);
    assert!(
        out.contains("Verdict      does not fit on this machine"),
        "{out}"
    );
    let (code, _, err) = run(headroom(tmp.path()), &["fit", "--params", "70Q"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid parameter count \"70Q\""), "{err}");
    let (code, _, err) = run(
        headroom(tmp.path()),
        &["fit", "--params", "7B", "--bits", "7"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("invalid bits 7"), "{err}");
}

#[test]
fn fit_reads_a_model_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("Qwen-tiny-4bit");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(
        model.join("config.json"),
        r#"{"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
            "head_dim": 128, "hidden_size": 2048, "quantization": {"group_size": 64, "bits": 4}}"#,
    )
    .unwrap();
    let header = br#"{"__metadata__":{"format":"mlx"},"w":{"dtype":"U32","shape":[1024,256],"data_offsets":[0,1073741824]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    std::fs::write(model.join("model.safetensors"), file).unwrap();
    let (code, out, err) = run(
        on_fixture(tmp.path(), "2tib"),
        &[
            "fit",
            model.to_str().unwrap(),
            "--context",
            "4096",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["weights"], GIB);
    assert_eq!(v["bits"], 4);
    assert_eq!(v["kv_cache"], 2 * 28 * 8 * 128 * 4096 * 2u64);
    assert_eq!(v["shape_source"], "config.json");
    let (code, _, err) = run(
        headroom(tmp.path()),
        &["fit", tmp.path().join("nope").to_str().unwrap()],
    );
    assert_eq!(code, 2);
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn doctor_exit_codes_on_replayed_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run(on_fixture(tmp.path(), "tiny-vm"), &["doctor", "--json"]);
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    assert_eq!(v["status"], "findings");
    assert_eq!(v["findings"][0]["id"], "pressure");
    assert_eq!(v["findings"][0]["severity"], "critical");
    let (code, out, _) = run(on_fixture(tmp.path(), "host-vm-24g"), &["doctor"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Healthy: nothing to fix."), "{out}");
    assert!(
        out.contains("[skipped] mlx_cache_high (no MLX process has the agent)"),
        "{out}"
    );
    let empty = tmp.path().join("empty-proc");
    std::fs::create_dir(&empty).unwrap();
    let mut c = headroom(tmp.path());
    c.env("HEADROOM_PROC_ROOT", &empty)
        .env("HEADROOM_SYS_ROOT", &empty);
    let (code, out, _) = run(c, &["doctor", "--json"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(json(&out)["status"], "unknown");
}
