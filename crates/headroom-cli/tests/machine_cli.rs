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
    let (code, out2, _) = run(
        on_fixture(tmp.path(), "2tib"),
        &["wired-limit", "show", "--json"],
    );
    assert_eq!(code, 0);
    assert_eq!(json(&out2)["physical"], v["physical"]);
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

#[path = "../../headroom-core/tests/agents_common/mod.rs"]
mod agents_common;

/// Serves `hello` and a recorded `stats` answer (its `pid` set to the serving process's) on
/// `dir/agent-<pid>.sock`, in the background; the returned process holds the pid.
fn recorded_agent(dir: &Path, mut stats: Value) -> agents_common::PidHolder {
    use std::io::{BufRead, BufReader, Write};
    let (holder, listener) = agents_common::adopted_listener(dir);
    let pid = holder.pid();
    stats["pid"] = pid.into();
    agents_common::serve_in_background(listener, move |conn| {
        let mut w = conn.try_clone().unwrap();
        let mut lines = BufReader::new(conn).lines();
        while let Some(Ok(line)) = lines.next() {
            let req: Value = serde_json::from_str(&line).unwrap();
            let result = match req["op"].as_str() {
                Some("hello") => serde_json::json!({"protocol": 1, "pid": pid,
                    "ops": ["hello", "stats", "clear_cache", "set_cache_limit",
                            "set_memory_limit", "set_wired_limit", "reset_peak"]}),
                _ => stats.clone(),
            };
            let reply = serde_json::json!({"id": req["id"], "ok": true, "result": result});
            if writeln!(w, "{reply}").is_err() {
                return;
            }
        }
    });
    holder
}

#[test]
fn doctor_reads_a_recorded_mlx_lm_server_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut c = on_fixture(tmp.path(), "host-vm-24g"); // creates `run` (0700)
                                                       // docs/PROTOCOL.md §6.2: mlx_lm.server on a 128 GB M3 Max, wired limit raised at start.
    let stats = json(
        r#"{"pid":29803,"name":"python3.12","cmdline":[".venv/bin/python","-m","headroom_agent","run","-m","mlx_lm.server"],
        "target":"-m mlx_lm.server","mlx_version":"0.32.4","backend":"gpu","accelerator":"metal",
        "device_info":{"architecture":"applegpu_g15s","device_name":"Apple M3 Max","memory_size":137438953472,
                       "max_recommended_working_set_size":115448725504,"max_buffer_length":86586540032},
        "physical_memory":137438953472,"active":40122000000,"cache":16777220,"peak":41000000000,
        "memory_limit":173173088256,"cache_limit":536870912,"wired_limit":115448725504,
        "cooperative":false,"pending":[],"agent_version":"0.1.0","protocol":1,"started_at":1795345813.51}"#,
    );
    let holder = recorded_agent(&dir, stats);
    let pid = holder.pid();
    let (code, out, err) = run(
        {
            c.env("HEADROOM_RUNTIME_DIR", &dir);
            c
        },
        &["doctor", "--json"],
    );
    assert_eq!(code, 1, "{out}{err}");
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "mlx_server_wired")
        .unwrap_or_else(|| panic!("{out}"))
        .clone();
    assert_eq!(f["pid"], pid);
    assert_eq!(f["command"], format!("headroom limit wired 0 --pid {pid}"));
    assert_eq!(f["evidence"][1]["value"], 115448725504.0);
    drop(holder);
}

#[test]
fn doctor_finds_a_real_mlx_cache_and_its_command_fixes_it() {
    let Some(py) = agents_common::venv_python("doctor_finds_a_real_mlx_cache") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = agents_common::runtime_dir();
    let w = agents_common::Workload::start(
        &py,
        dir.path(),
        &["agent/tests/workloads/cache_builder.py", "600MiB"],
    );
    w.wait_socket(dir.path());
    let doctor = |tmp: &Path| {
        let mut c = headroom(tmp);
        c.env("HEADROOM_RUNTIME_DIR", dir.path());
        let (code, out, err) = run(c, &["doctor", "--json"]);
        assert!(code == 0 || code == 1, "{code}: {err}");
        json(&out)
    };
    let v = doctor(tmp.path());
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "mlx_cache_high" && f["pid"] == w.pid)
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    let cache = f["evidence"][1]["value"].as_f64().unwrap();
    assert!(cache >= 600.0 * MIB as f64 * 0.95, "{f}");
    let command = f["command"].as_str().unwrap();
    assert_eq!(command, format!("headroom clear-cache --pid {}", w.pid));
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let mut c = headroom(tmp.path());
    c.env("HEADROOM_RUNTIME_DIR", dir.path());
    let (code, out, err) = run(c, &args);
    assert_eq!(code, 0, "{out}{err}");
    let v = doctor(tmp.path());
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "mlx_cache_high"),
        "{v}"
    );
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mlx_cache_high")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "ok");
}
