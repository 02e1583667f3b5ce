//! Shared by the `agents_*` integration tests: real MLX workloads under the real Python agent,
//! fake agents (Rust threads on real Unix sockets) for faults, and per-test runtime dirs.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // test helpers: a failure is a test failure

#[path = "../real_parts/mod.rs"]
pub mod real_parts;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.venv/bin/python`, or `None` after printing loudly why MLX tests are skipped (a failure
/// under `HEADROOM_E2E_REQUIRED=1`).
pub fn venv_python(test: &str) -> Option<PathBuf> {
    let py = repo().join(".venv/bin/python");
    if py.exists() {
        return Some(py);
    }
    real_parts::missing(
        test,
        &format!(
            "{} is missing; create it with: python3 -m venv .venv && .venv/bin/pip install \
             \"mlx[cpu]\" mlx-lm pytest && .venv/bin/pip install -e agent/",
            py.display()
        ),
    );
    None
}

/// A private runtime directory (0700) for one test.
pub fn runtime_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hr-rt-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

/// A real Python process (MLX workload) with line-based stdin/stdout.
pub struct Workload {
    pub child: Child,
    pub pid: u32,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Workload {
    /// Starts `python ARGS…` with `HEADROOM_RUNTIME_DIR=dir` and waits for `READY <pid>`.
    pub fn start(py: &Path, dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(py)
            .args(args)
            .current_dir(repo())
            .env("HEADROOM_RUNTIME_DIR", dir)
            .env("PYTHONPATH", repo().join("agent"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut w = Self {
            pid: child.id(),
            child,
            stdin,
            lines,
        };
        let ready = w.line_starting("READY", Duration::from_secs(60));
        assert_eq!(ready, format!("READY {}", w.pid), "workload pid");
        w
    }

    /// The next stdout line starting with `prefix`, skipping others.
    pub fn line_starting(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => continue,
                Err(e) => panic!(
                    "no {prefix} line from pid {} within {within:?}: {e}",
                    self.pid
                ),
            }
        }
    }

    /// Sends a stdin command (cache_builder.py) and returns the number after `reply_word`.
    pub fn ask_number(&mut self, cmd: &str, reply_word: &str) -> u64 {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write stdin");
        stdin.flush().expect("flush");
        let line = self.line_starting(reply_word, Duration::from_secs(30));
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad reply {line:?}"))
    }

    /// The socket path the agent serves.
    pub fn socket(&self, dir: &Path) -> PathBuf {
        dir.join(format!("agent-{}.sock", self.pid))
    }

    /// Waits until the agent's socket exists.
    pub fn wait_socket(&self, dir: &Path) {
        for _ in 0..500 {
            if self.socket(dir).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("agent socket of {} never appeared", self.pid);
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live process whose pid names a fake agent's socket (`sleep`), killed on drop.
pub struct PidHolder(pub Child);

impl PidHolder {
    pub fn new() -> Self {
        Self(
            Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("spawn sleep"),
        )
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for PidHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a fake agent misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fake {
    /// Answers every request correctly after `delay`.
    Good { delay_ms: u64 },
    /// Answers `hello`, then reads requests and never answers.
    Hang,
    /// Answers `hello`, then a line of garbage.
    Garbage,
    /// Answers `hello`, then 10 MB without a newline, then stays open.
    Huge,
    /// Answers `hello`, then half a line and closes.
    HalfLine,
    /// Answers nothing at all, not even `hello`.
    Silent,
    /// Answers like `Good`, but reports `cache` bytes of MLX cache.
    Cache { cache: u64 },
    /// Answers like `Good`, but its `hello` claims to be `pid`.
    ClaimsPid { pid: u32 },
    /// Answers like `Good`, with [`HOSTILE_NAME`] as its process name.
    HostileName,
}

/// A process name that tries to retitle the terminal, forge a journal line and reverse text.
pub const HOSTILE_NAME: &str =
    "mlx\u{1b}]0;owned\u{7}\n2026-01-01T00:00:00Z  info      forged\u{202e}txt.exe";

/// Runs a fake agent on `dir/agent-<pid>.sock` in background threads of this test process;
/// returns the path. The listener is this process, so unless `pid` is this process's pid the
/// socket claims a pid that is not its own: clients refuse it (an impostor).
pub fn fake_agent(dir: &Path, pid: u32, kind: Fake) -> PathBuf {
    let path = dir.join(format!("agent-{pid}.sock"));
    let listener = UnixListener::bind(&path).expect("bind fake agent");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    serve_in_background(listener, move |conn| serve_fake(conn, pid, kind));
    path
}

/// A fake agent whose socket belongs to a live process of its own (`sleep`, killed on
/// drop), as a real agent's does: see [`adopted_listener`]. Served by threads of this process.
pub fn fake_agent_process(dir: &Path, kind: Fake) -> PidHolder {
    let (holder, listener) = adopted_listener(dir);
    let pid = holder.pid();
    serve_in_background(listener, move |conn| serve_fake(conn, pid, kind));
    holder
}

/// Accepts connections on `listener` forever, each served by `serve` on its own thread.
pub fn serve_in_background(
    listener: UnixListener,
    serve: impl Fn(UnixStream) + Send + Sync + Clone + 'static,
) {
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let serve = serve.clone();
            std::thread::spawn(move || serve(conn));
        }
    });
}

/// A listening socket `dir/agent-<pid>.sock` whose peer pid is `pid`, a live `sleep` process:
/// the socket is bound here, the child calls `listen()` on the inherited descriptor before it
/// execs `sleep`, and Linux then reports the child as the listener to every client
/// (`SO_PEERCRED` holds the credentials of the process that called `listen()`, unix(7)); this
/// process accepts and answers. The socket is renamed to the child's pid once it is known.
pub fn adopted_listener(dir: &Path) -> (PidHolder, UnixListener) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pending = dir.join(format!(".pending-{}-{n}.sock", std::process::id()));
    let listener = UnixListener::bind(&pending).expect("bind fake agent");
    std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    // SAFETY: listen(2) is async-signal-safe and touches only the inherited descriptor.
    unsafe {
        cmd.pre_exec(move || {
            if libc::listen(fd, 128) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let holder = PidHolder(cmd.spawn().expect("spawn sleep"));
    std::fs::rename(&pending, dir.join(format!("agent-{}.sock", holder.pid())))
        .expect("rename fake agent socket");
    (holder, listener)
}

/// A `stats` result with fixed numbers.
pub fn fake_stats(pid: u32) -> serde_json::Value {
    serde_json::json!({"pid": pid, "name": "fake", "mlx_version": "0.0-fake", "backend": "cpu",
        "device_info": {}, "active": 1000, "cache": 2000, "peak": 3000, "memory_limit": 4000,
        "cache_limit": 5000, "wired_limit": 0, "cooperative": false, "pending": []})
}

fn serve_fake(conn: UnixStream, pid: u32, kind: Fake) {
    let mut writer = conn.try_clone().expect("clone");
    let mut reader = BufReader::new(conn);
    let mut held = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        let req: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        line.clear();
        let id = req["id"].clone();
        let op = req["op"].as_str().unwrap_or("").to_string();
        let reply = |result: serde_json::Value| {
            format!(
                "{}\n",
                serde_json::json!({"id": id, "ok": true, "result": result})
            )
        };
        if kind == Fake::Silent {
            held.push(id);
            continue;
        }
        if op == "hello" {
            let ops = [
                "hello",
                "stats",
                "clear_cache",
                "set_cache_limit",
                "set_memory_limit",
                "set_wired_limit",
                "reset_peak",
            ];
            let claimed = match kind {
                Fake::ClaimsPid { pid } => pid,
                _ => pid,
            };
            let _ = writer.write_all(
                reply(serde_json::json!({"protocol": 1, "pid": claimed, "ops": ops})).as_bytes(),
            );
            continue;
        }
        let delay_ms = match kind {
            Fake::Good { delay_ms } => delay_ms,
            _ => 0,
        };
        match kind {
            Fake::Good { .. } | Fake::Cache { .. } | Fake::ClaimsPid { .. } | Fake::HostileName => {
                std::thread::sleep(Duration::from_millis(delay_ms));
                let result = match op.as_str() {
                    "stats" => {
                        let mut stats = fake_stats(pid);
                        if let Fake::Cache { cache } = kind {
                            stats["cache"] = cache.into();
                        }
                        if kind == Fake::HostileName {
                            stats["name"] = HOSTILE_NAME.into();
                        }
                        stats
                    }
                    "clear_cache" => {
                        serde_json::json!({"freed": 2000, "cache_before": 2000, "cache_after": 0})
                    }
                    _ => serde_json::json!({"previous": 5000, "current": 6000}),
                };
                let _ = writer.write_all(reply(result).as_bytes());
            }
            Fake::Hang | Fake::Silent => held.push(id),
            Fake::Garbage => {
                let _ = writer.write_all(b"\x00\xffthis is not json at all\n");
            }
            Fake::Huge => {
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..160 {
                    if writer.write_all(&chunk).is_err() {
                        break;
                    }
                }
                held.push(id);
            }
            Fake::HalfLine => {
                let _ = writer.write_all(br#"{"id":2,"ok":true,"res"#);
                return;
            }
        }
    }
    // Keep hung connections open until the peer goes away.
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink);
}
