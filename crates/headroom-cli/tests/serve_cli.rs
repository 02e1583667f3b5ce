//! `headroom serve` as a process: start, answer, SIGTERM → clean exit with history flushed;
//! refusals at start; `--install/--uninstall` with a temporary HOME and no systemctl.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_headroom");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET over a fresh connection with the server's per-user secret (from
/// `data/serve-token` under `dir`); `None` when nothing answers.
fn http_get(addr: SocketAddr, dir: &Path, path: &str) -> Option<String> {
    let token = std::fs::read_to_string(dir.join("data/serve-token")).ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\n\r\n",
        token.trim()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn serve_env(cmd: &mut Command, dir: &Path) {
    cmd.env("HEADROOM_DATA_DIR", dir.join("data"))
        .env("HEADROOM_CONFIG", dir.join("config.toml"))
        .env("HEADROOM_RUNTIME_DIR", dir.join("run"))
        .env_remove("HEADROOM_TOKEN");
}

#[test]
fn serve_answers_and_sigterm_stops_it_with_history_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    serve_env(&mut cmd, dir.path());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut health = None;
    while Instant::now() < deadline {
        health =
            http_get(addr, dir.path(), "/api/health").filter(|h| h.contains("\"status\":\"ok\""));
        if health.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(health.is_some(), "serve never became healthy");
    std::thread::sleep(Duration::from_secs(3));
    // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(
        stderr.contains("listening on http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped"), "{stderr}");
    // What was sampled before SIGTERM is in the database: read it back with `headroom history`.
    let mut cmd = Command::new(BIN);
    cmd.args(["history", "--since", "1h", "--json"]);
    serve_env(&mut cmd, dir.path());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let points: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = points.as_array().map_or(0, Vec::len);
    assert!(n >= 2, "history after SIGTERM has {n} points: {points}");
}

#[test]
fn serve_refuses_a_public_address_without_token_and_a_busy_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "0.0.0.0:9"]);
    serve_env(&mut cmd, dir.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0:9") && err.contains("--token"),
        "{err}"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", &addr]);
    serve_env(&mut cmd, dir.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("in use"), "{err}");
}

#[test]
fn install_and_uninstall_write_and_remove_the_user_unit() {
    if cfg!(target_os = "macos") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let empty_path = home.path().join("bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("PATH", &empty_path)
            .env_remove("HEADROOM_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&["serve", "--install", "--listen", "127.0.0.1:9300"]);
    let text = String::from_utf8_lossy(&out.stdout);
    // The unit is written, but no systemctl could start it: exit 1, with what to run.
    assert_eq!(out.status.code(), Some(1), "{text}");
    let unit = home.path().join(".config/systemd/user/headroom.service");
    let body = std::fs::read_to_string(&unit).unwrap();
    assert!(
        body.contains(&format!(
            "ExecStart=\"{BIN}\" serve \"--listen\" \"127.0.0.1:9300\""
        )),
        "{body}"
    );
    assert!(
        text.contains("run yourself: systemctl --user daemon-reload"),
        "{text}"
    );
    let out = run(&["serve", "--install", "--listen", "0.0.0.0:9300"]);
    assert_eq!(out.status.code(), Some(2), "public address without token");
    let out = run(&["serve", "--uninstall"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "removed, but systemd was not reloaded"
    );
    assert!(!unit.exists());
}

/// The token never has to be on the command line: `--print-url` (the owner's one-step login
/// URL) takes it from `--token-file` (refused when others can read the file), from
/// `HEADROOM_TOKEN`, or from the per-user secret file it creates (0600 in a 0700 directory).
#[test]
fn print_url_takes_the_token_from_a_private_file_the_environment_or_the_secret_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let print = |extra: &[&str], env_token: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--print-url", "--listen", "127.0.0.1:9400"])
            .args(extra);
        serve_env(&mut cmd, dir.path());
        if let Some(t) = env_token {
            cmd.env("HEADROOM_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = print(&[], None);
    assert!(out.status.success(), "{out:?}");
    let secret_file = dir.path().join("data/serve-token");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("http://127.0.0.1:9400/?token={}\n", secret.trim())
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret_file), 0o600);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    let out = print(&[], Some("env-token-0123456789"));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("?token=env-token-0123456789\n"));
    let file = dir.path().join("my-token");
    std::fs::write(&file, "file-token-0123456789\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = file.to_str().unwrap();
    let out = print(&["--token-file", f], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("readable by other users") && err.contains(f),
        "{err}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = print(&["--token-file", f], None);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("?token=file-token-0123456789\n"));
    // `--help` says where a --token shows.
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("`ps`") && help.contains("--token-file"),
        "{help}"
    );
}
