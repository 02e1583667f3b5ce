#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `headroom top`'s core: grouping helpers under their app, a replayed /proc tree, and a real
//! process holding a known amount of memory.

use headroom_core::top::{self, ProcInfo, TopRow};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

fn p(pid: u32, ppid: u32, name: &str, exe: Option<&str>, args: &[&str], mib: u64) -> ProcInfo {
    ProcInfo {
        pid,
        ppid,
        name: name.into(),
        exe: exe.map(Into::into),
        cmdline: args.iter().map(|s| s.to_string()).collect(),
        footprint: Some(mib * MIB),
    }
}

#[test]
fn chromium_helpers_group_under_the_browser() {
    let chrome = Some("/opt/google/chrome/chrome");
    let procs = vec![
        p(
            1,
            0,
            "systemd",
            Some("/usr/lib/systemd/systemd"),
            &["/sbin/init"],
            10,
        ),
        p(
            100,
            1,
            "chrome",
            chrome,
            &["/opt/google/chrome/chrome"],
            300,
        ),
        p(101, 100, "chrome", chrome, &["chrome", "--type=zygote"], 50),
        p(
            102,
            101,
            "chrome",
            chrome,
            &["chrome", "--type=renderer"],
            700,
        ),
        p(
            103,
            100,
            "chrome",
            chrome,
            &["chrome", "--type=gpu-process"],
            200,
        ),
        // An Electron app: its helpers run the same binary with --type=.
        p(
            200,
            1,
            "code",
            Some("/usr/share/code/code"),
            &["/usr/share/code/code"],
            400,
        ),
        p(
            201,
            200,
            "code",
            Some("/usr/share/code/code"),
            &["code", "--type=renderer"],
            600,
        ),
        // Firefox content processes: same executable, no --type.
        p(
            300,
            1,
            "firefox",
            Some("/usr/lib/firefox/firefox"),
            &["firefox"],
            500,
        ),
        p(
            301,
            300,
            "Isolated Web Co",
            Some("/usr/lib/firefox/firefox"),
            &["firefox", "-contentproc"],
            900,
        ),
        // A Python parent and child are separate programs.
        p(
            400,
            1,
            "python3",
            Some("/usr/bin/python3.11"),
            &["python3", "launcher.py"],
            30,
        ),
        p(
            401,
            400,
            "python3",
            Some("/usr/bin/python3.11"),
            &["python3", "-m", "mlx_lm.server"],
            5000,
        ),
    ];
    let rows = top::group(&procs);
    let find = |name: &str| {
        rows.iter()
            .filter(|r| r.name == name)
            .cloned()
            .collect::<Vec<TopRow>>()
    };
    assert_eq!(rows[0].pid, Some(401), "largest first: {rows:?}");
    let chrome = find("chrome");
    assert_eq!(chrome.len(), 1, "{rows:?}");
    assert_eq!(chrome[0].footprint, 1250 * MIB);
    assert_eq!(chrome[0].pids, Some(vec![100, 101, 102, 103]));
    assert_eq!(chrome[0].pid, None);
    assert_eq!(find("code")[0].pids, Some(vec![200, 201]));
    assert_eq!(find("firefox")[0].footprint, 1400 * MIB);
    let py = find("python3.11");
    assert_eq!(py.len(), 2, "{rows:?}");
    let v = serde_json::to_value(&chrome[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name": "chrome", "footprint": 1250 * MIB, "pids": [100, 101, 102, 103]})
    );
    let v = serde_json::to_value(&find("systemd")[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name": "systemd", "footprint": 10 * MIB, "pid": 1})
    );
}

#[test]
fn macos_helper_names_group_under_their_app() {
    assert_eq!(
        top::app_name("Google Chrome Helper (Renderer)"),
        "Google Chrome"
    );
    assert_eq!(top::app_name("Slack Helper (GPU)"), "Slack");
    assert_eq!(top::app_name("Slack Helper"), "Slack");
    assert_eq!(top::app_name("Helper Tool"), "Helper Tool");
    assert_eq!(top::app_name("python3.12"), "python3.12");
    let procs = vec![
        p(500, 1, "Google Chrome", None, &[], 400),
        p(501, 500, "Google Chrome Helper (Renderer)", None, &[], 900),
        p(502, 500, "Google Chrome Helper (GPU)", None, &[], 300),
        p(503, 1, "launchd-child", None, &[], 1),
        // An XPC helper started by launchd still belongs to its app.
        p(504, 1, "Google Chrome Helper (Plugin)", None, &[], 100),
        // A helper of an app that is not running stays on its own.
        p(505, 1, "Slack Helper", None, &[], 50),
    ];
    let rows = top::group(&procs);
    assert_eq!(rows[0].name, "Google Chrome");
    assert_eq!(rows[0].pids, Some(vec![500, 501, 502, 504]));
    assert_eq!(rows[0].footprint, 1700 * MIB);
    let slack = rows.iter().find(|r| r.pid == Some(505)).unwrap();
    assert_eq!(slack.name, "Slack");
}

#[test]
fn closable_leaves_out_mlx_processes() {
    let rows = top::group(&[
        p(10, 1, "chrome", None, &["chrome"], 3000),
        p(11, 1, "python3", None, &["python3"], 9000),
    ]);
    let c = top::closable(&rows, &[11]);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name, "chrome");
}

fn write_proc(root: &Path, pid: u32, ppid: u32, comm: &str, args: &[&str], pss_kb: Option<u64>) {
    let d = root.join(pid.to_string());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("stat"),
        format!("{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1 0 0 0\n"),
    )
    .unwrap();
    let mut cmd = args.join("\0");
    cmd.push('\0');
    std::fs::write(d.join("cmdline"), cmd).unwrap();
    if let Some(kb) = pss_kb {
        std::fs::write(
            d.join("smaps_rollup"),
            format!("00400000-7ffd ---p 00000000 00:00 0 [rollup]\nRss: {kb} kB\nPss: {kb} kB\n"),
        )
        .unwrap();
    }
    std::fs::write(d.join("statm"), "100 10 0 0 0 0 0\n").unwrap();
}

#[test]
fn replays_a_proc_tree() {
    let root = tempfile::tempdir().unwrap();
    write_proc(root.path(), 1, 0, "systemd", &["/sbin/init"], Some(8_000));
    write_proc(
        root.path(),
        50,
        1,
        "chrome",
        &["/opt/google/chrome/chrome"],
        Some(300_000),
    );
    write_proc(
        root.path(),
        51,
        50,
        "chrome",
        &["/opt/google/chrome/chrome", "--type=renderer"],
        Some(500_000),
    );
    // A process with a ") (" in its name and no smaps_rollup (another user's): RSS from statm.
    write_proc(root.path(), 60, 1, "odd) (name", &["odd"], None);
    std::fs::create_dir(root.path().join("self")).unwrap();
    let procs = top::read_linux(root.path(), 4096, 0);
    assert_eq!(procs.len(), 4);
    let odd = procs.iter().find(|p| p.pid == 60).unwrap();
    assert_eq!(odd.name, "odd) (name");
    assert_eq!(odd.ppid, 1);
    assert_eq!(odd.footprint, Some(10 * 4096));
    let rows = top::group(&procs);
    assert_eq!(rows[0].name, "chrome");
    assert_eq!(rows[0].footprint, 800_000 * 1024);
    assert_eq!(rows[0].pids, Some(vec![50, 51]));
    assert_eq!(top::parse_stat("12 (a b) R 3 4"), Some((3, "a b".into())));
    assert_eq!(top::parse_stat("garbage"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn finds_a_real_process_holding_200_mib() {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\nb = b'\\x01' * (200 << 20)\nprint('ready', flush=True)\nsys.stdin.read()\n",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = child.id();
    let rows = top::group(&top::read_linux(
        Path::new("/proc"),
        4096,
        std::process::id(),
    ));
    let row = rows.iter().find(|r| r.all_pids().contains(&pid)).cloned();
    drop(child.stdin.take().map(|mut s| s.write_all(b"")));
    let _ = child.kill();
    let _ = child.wait();
    let row = row.expect("the python process is listed");
    let want = 200.0 * MIB as f64;
    let got = row.footprint as f64;
    assert!(
        (got - want).abs() / want <= 0.10,
        "footprint {} MiB, want 200 MiB ± 10 %: {row:?}",
        got / MIB as f64
    );
    assert_eq!(row.pid, Some(pid));
    assert!(row.name.starts_with("python"), "{row:?}");
}
