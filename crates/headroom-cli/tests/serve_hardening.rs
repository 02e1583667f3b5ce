//! `headroom serve` as a process against hostile clients: connections reset before the answer
//! is written, a closed stderr pipe, slow clients with a lowered open-file limit, `CONNECT`,
//! and JSON bodies that are not objects. Each attack once killed, starved or fooled the server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_headroom");

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A `headroom serve` with its own directories.
struct Serve {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Serve {
    fn command(dir: &Path, addr: SocketAddr, extra: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", &addr.to_string()])
            .args(extra)
            .env("HEADROOM_DATA_DIR", dir.join("data"))
            .env("HEADROOM_CONFIG", dir.join("config.toml"))
            .env("HEADROOM_RUNTIME_DIR", dir.join("run"))
            .env_remove("HEADROOM_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    fn spawn(extra: &[&str], setup: impl FnOnce(&mut Command)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let mut cmd = Self::command(dir.path(), addr, extra);
        setup(&mut cmd);
        let child = cmd.spawn().expect("spawn headroom serve");
        let s = Self { child, addr, dir };
        s.wait_healthy();
        s
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data/serve-token"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ok = request(self.addr, "GET", "/api/health", Some(&self.token()), None)
                .is_some_and(|(status, body)| status == 200 && body.contains("\"status\":\"ok\""));
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("serve at {} never became healthy", self.addr);
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status (within 15 s).
    fn terminate(&mut self) -> ExitStatus {
        // SAFETY: kill(2) on our own child, not yet reaped.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no exit 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// History points recorded, read back with `headroom history`.
    fn history_points(&self) -> usize {
        let out = Command::new(BIN)
            .args(["history", "--since", "1h", "--json"])
            .env("HEADROOM_DATA_DIR", self.dir.path().join("data"))
            .env("HEADROOM_CONFIG", self.dir.path().join("config.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().map_or(0, Vec::len)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, out.split_once("\r\n\r\n")?.1.to_owned()))
}

/// Sends `req`, shuts down the write side, then resets the connection (SO_LINGER 0).
fn send_and_reset(addr: SocketAddr, req: &str, pause: Duration) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = s.write_all(req.as_bytes());
    let _ = s.shutdown(std::net::Shutdown::Write);
    std::thread::sleep(pause);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, reading one `linger` of the given size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// Clients that send a request, shut down their write side and reset the connection make the
/// server's next write fail with EPIPE; with SIGPIPE's default action that ended `serve`
/// (exit by signal, last history batch lost). It survives, answers, and stops cleanly.
#[test]
fn resetting_clients_cannot_kill_serve() {
    let mut serve = Serve::spawn(&[], |_| {});
    let token = serve.token();
    let addr = serve.addr;
    let requests = [
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!("GET /api/snapshot HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"),
        format!(
            "GET /api/history?since=1h HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer \
             {token}\r\n\r\n"
        ),
    ];
    for i in 0..800u64 {
        let pause = Duration::from_micros((i % 7) * 150);
        send_and_reset(addr, &requests[(i % 4) as usize], pause);
        if i % 100 == 99 {
            assert!(serve.alive(), "serve died after {} resets", i + 1);
        }
    }
    assert!(serve.alive(), "serve died: {:?}", serve.child.try_wait());
    let (status, body) = request(addr, "GET", "/metrics", None, None).expect("answers after");
    assert_eq!(status, 200, "{body}");
    let status = serve.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(serve.history_points() >= 1, "history flushed on SIGTERM");
}

/// `headroom serve 2>&1 | head -1`: once `head` exits, every log line goes to a closed pipe.
/// The server keeps answering, and SIGTERM still stops it with exit 0 and history flushed.
#[test]
fn a_closed_stderr_pipe_cannot_kill_serve() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut child = Serve::command(dir.path(), addr, &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("listening on"), "{first}");
    // The reader is dropped: the pipe is closed, as after `head -1`.
    let mut serve = Serve { child, addr, dir };
    serve.wait_healthy();
    std::thread::sleep(Duration::from_secs(2));
    assert!(serve.alive());
    let status = serve.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(serve.history_points() >= 1, "history flushed on SIGTERM");
}

/// Lowers the open-file limit of the spawned process to `n` (soft and hard).
fn limit_open_files(cmd: &mut Command, n: u64) {
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408/400 answer before closing is fine
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// With 64 open files allowed, 90 slow clients (idle, part of a header, part of a body) fill
/// the connection cap: `/metrics` is still answered within 1 s, and every slow connection is
/// closed once its timeout has passed.
#[test]
fn slow_clients_cannot_starve_metrics_and_are_closed_after_their_timeouts() {
    let serve = Serve::spawn(
        &[
            "--header-timeout",
            "2s",
            "--body-timeout",
            "2s",
            "--idle-timeout",
            "3s",
        ],
        |cmd| limit_open_files(cmd, 64),
    );
    let addr = serve.addr;
    let token = serve.token();
    let mut slow: Vec<(&str, TcpStream)> = Vec::new();
    for i in 0..90 {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let kind = match i % 3 {
            0 => "idle",
            1 => {
                let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nX-Slow:");
                "partial header"
            }
            _ => {
                let _ = write!(
                    s,
                    "POST /api/actions/clear-cache HTTP/1.1\r\nHost: {addr}\r\nAuthorization: \
                     Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\
                     \r\n\r\n{{\"pids\":"
                );
                "partial body"
            }
        };
        slow.push((kind, s));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut times = Vec::new();
    for round in 0..3 {
        let t = Instant::now();
        let answer = request(addr, "GET", "/metrics", None, None);
        let took = t.elapsed();
        let (status, _) = answer.unwrap_or_else(|| panic!("round {round}: /metrics no answer"));
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_secs(1),
            "round {round}: /metrics took {took:?}"
        );
        times.push(took);
    }
    println!(
        "/metrics beside {} slow clients at 64 open files: {times:?}",
        slow.len()
    );
    // Every slow connection is closed by the server once the longest timeout (3 s) and a
    // reaper tick have passed; some were already replaced by the /metrics connections.
    let deadline = Instant::now() + Duration::from_secs(6);
    for (kind, s) in &mut slow {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_by_server(s, left.max(Duration::from_millis(10))),
            "a {kind} connection is still open 6 s later"
        );
    }
    let (status, _) = request(addr, "GET", "/metrics", None, None).expect("answers after");
    assert_eq!(status, 200);
}

/// `CONNECT` (which answered 200 and turned the connection into a tunnel) and unknown methods
/// get 405; a JSON array or any other non-object is refused as a whole configuration and as a
/// "clear all" body, naming what was sent; the configuration file is untouched.
#[test]
fn connect_and_non_object_bodies_are_refused() {
    let serve = Serve::spawn(&[], |_| {});
    let addr = serve.addr;
    let token = serve.token();
    for method in ["CONNECT", "TRACE", "BREW"] {
        let (status, body) = request(addr, method, "/", Some(&token), None).unwrap();
        assert_eq!(status, 405, "{method}: {body}");
        assert!(body.contains(method), "{body}");
    }
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_ne!(&head[9..12], b"200", "{}", String::from_utf8_lossy(&head));
    let config = serve.dir.path().join("config.toml");
    std::fs::write(&config, "# mine\n[sampling]\ninterval_ms = 2000\n").unwrap();
    for (method, path) in [
        ("PUT", "/api/config"),
        ("PUT", "/api/config?dry_run=1"),
        ("POST", "/api/actions/clear-cache"),
        ("POST", "/api/actions/limit"),
    ] {
        for (body, kind) in [("[]", "an array"), ("null", "null"), ("\"x\"", "a string")] {
            let (status, text) = request(addr, method, path, Some(&token), Some(body)).unwrap();
            assert_eq!(status, 400, "{method} {path} {body}: {text}");
            assert!(
                text.contains("must be a JSON object") && text.contains(kind),
                "{text}"
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# mine\n[sampling]\ninterval_ms = 2000\n"
    );
}
