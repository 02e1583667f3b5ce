//! Fault drills on the real `headroom serve` process: `kill -9` during history writes, a long
//! stop (SIGSTOP/SIGCONT: no burst of catch-up samples), the configuration directory deleted
//! while running, a full disk and a read-only data directory (tiny tmpfs mounts: root only),
//! and another local user on loopback (a real second user: root only). What needs root is
//! skipped loudly without it, and fails under `HEADROOM_E2E_REQUIRED=1`.
//!
//! The binary is the one cargo built for this test run (`CARGO_BIN_EXE_headroom`), never one
//! found on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is a test failure

#[path = "../../headroom-core/tests/real_parts/mod.rs"]
mod real_parts;
use real_parts::other_user;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The token the drills' `serve` processes are started with (`HEADROOM_TOKEN`).
const DRILL_TOKEN: &str = "drill-token-0123456789abcdef";

/// One HTTP/1.1 request over loopback with [`DRILL_TOKEN`]; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {DRILL_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    let body = if out
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let (status, body) = http(addr, "GET", path, None)?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// A running `headroom serve` with its own config, data and runtime directories.
struct Serve {
    child: Child,
    addr: SocketAddr,
    bin: PathBuf,
    config: PathBuf,
    data: PathBuf,
    runtime: PathBuf,
}

impl Serve {
    fn start(bin: &Path, config: &Path, data: &Path, runtime: &Path) -> Self {
        let addr = free_addr();
        let child = Command::new(bin)
            .args(["serve", "--listen", &addr.to_string()])
            .env("HEADROOM_CONFIG", config)
            .env("HEADROOM_DATA_DIR", data)
            .env("HEADROOM_RUNTIME_DIR", runtime)
            .env("HEADROOM_TOKEN", DRILL_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn headroom serve");
        let s = Self {
            child,
            addr,
            bin: bin.to_path_buf(),
            config: config.to_path_buf(),
            data: data.to_path_buf(),
            runtime: runtime.to_path_buf(),
        };
        s.wait_until("a first sample", Duration::from_secs(30), |s| {
            json(s.addr, "/api/health").is_some_and(|h| h["status"] == "ok")
        });
        s
    }

    fn in_dir(bin: &Path, dir: &Path) -> Self {
        Self::start(
            bin,
            &dir.join("config/config.toml"),
            &dir.join("data"),
            &dir.join("run"),
        )
    }

    fn restart(&mut self) {
        let fresh = Self::start(&self.bin, &self.config, &self.data, &self.runtime);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }

    fn wait_until(&self, what: &str, within: Duration, ok: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("serve at {}: no {what} within {within:?}", self.addr);
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits (up to 5 s) until the kernel reports the process stopped (`T` in /proc/<pid>/stat):
    /// SIGSTOP is asynchronous, and on a loaded machine the process may run a little longer.
    fn wait_stopped(&self) {
        let stat = format!("/proc/{}/stat", self.child.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let text = std::fs::read_to_string(&stat).unwrap_or_default();
            let state = text
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if state == Some("T") {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("serve did not stop after SIGSTOP");
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    fn storage(&self) -> serde_json::Value {
        json(self.addr, "/api/health")
            .map(|h| h["engine"]["storage"].clone())
            .unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One 5 s batch, one 1 s tick, and scheduling slack on a loaded machine.
const LOSS_BOUND_MS: i64 = 8_000;

fn sample_times(db: &Path) -> Vec<i64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT t FROM samples ORDER BY t").unwrap();
    let rows = st.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// `kill -9` of `serve` at arbitrary moments of its history writes, three times: the database
/// is never corrupt (no file moved aside), loses at most the batch being collected (5 s), and
/// the restarted process goes on writing.
#[test]
fn kill_9_of_serve_during_history_writes_loses_at_most_one_batch() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let mut serve = Serve::in_dir(&bin, tmp.path());
    let db = tmp.path().join("data/history.db");
    let mut worst_ms = 0;
    for round in 0..3u64 {
        std::thread::sleep(Duration::from_millis(6_300 + 700 * round));
        let killed_at = chrono::Utc::now().timestamp_millis();
        serve.signal(libc::SIGKILL);
        let _ = serve.child.wait();
        let times = sample_times(&db);
        let last = *times.last().expect("samples written before the kill");
        worst_ms = worst_ms.max(killed_at - last);
        assert!(
            killed_at - last <= LOSS_BOUND_MS,
            "round {round}: the last stored sample is {} ms older than the kill",
            killed_at - last
        );
        serve.restart();
    }
    std::thread::sleep(Duration::from_secs(7));
    let times = sample_times(&db);
    let after = chrono::Utc::now().timestamp_millis() - times.last().unwrap();
    assert!(
        after <= LOSS_BOUND_MS,
        "the restarted serve stopped writing"
    );
    let moved: Vec<_> = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert!(moved.is_empty(), "a database was found corrupt: {moved:?}");
    println!("kill -9 drill: 3 kills, worst loss {worst_ms} ms of samples (bound: one 5 s batch)");
}

/// SIGSTOP for 5 s then SIGCONT (a laptop's sleep, seen from the process): the sampler does not
/// catch up with a burst; samples resume at the 1 s pace.
#[test]
fn long_pause_brings_no_burst_of_catch_up_samples() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::in_dir(&bin, tmp.path());
    std::thread::sleep(Duration::from_secs(3));
    serve.signal(libc::SIGSTOP);
    serve.wait_stopped();
    let stopped = chrono::Utc::now().timestamp_millis();
    std::thread::sleep(Duration::from_secs(5));
    // Read the clock before SIGCONT: serve may sample the instant it wakes, before we would.
    let resumed = chrono::Utc::now().timestamp_millis();
    serve.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_secs(4));
    let h = json(serve.addr, "/api/history?since=60s&max_points=10000").expect("history");
    let points = h.get("points").unwrap_or(&h);
    let times: Vec<i64> = points
        .as_array()
        .expect("history points")
        .iter()
        .filter_map(|p| p["t"].as_i64())
        .collect();
    let in_stop = times
        .iter()
        .filter(|&&t| t > stopped + 100 && t < resumed)
        .count();
    let burst = times
        .iter()
        .filter(|&&t| t >= resumed && t < resumed + 1_000)
        .count();
    let after: Vec<i64> = times.iter().copied().filter(|&t| t >= resumed).collect();
    let closest = after.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1000);
    println!(
        "pause drill: {} samples, {in_stop} during the stop, {burst} in the first second after, closest spacing after {closest} ms",
        times.len()
    );
    assert_eq!(in_stop, 0, "samples stamped while the process was stopped");
    assert!(
        burst <= 2,
        "{burst} samples in the first second after SIGCONT: a catch-up burst"
    );
    assert!(after.len() >= 3, "sampling did not resume: {after:?}");
}

/// The configuration directory is deleted while `serve` runs: it keeps sampling (a missing
/// file means the defaults), stays healthy, and a save recreates the directory and file.
#[test]
fn config_directory_deleted_while_running() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let conf_dir = tmp.path().join("config");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("config.toml"),
        "[sampling]\ninterval_ms = 500\n",
    )
    .unwrap();
    let mut serve = Serve::in_dir(&bin, tmp.path());
    std::fs::remove_dir_all(&conf_dir).unwrap();
    std::thread::sleep(Duration::from_secs(5)); // the file watcher looks every 2 s
    assert!(
        serve.alive(),
        "serve died when its config directory went away"
    );
    let health = json(serve.addr, "/api/health").expect("health after the deletion");
    assert_eq!(health["status"], "ok");
    let cfg = json(serve.addr, "/api/config").expect("config after the deletion");
    let (status, body) = http(
        serve.addr,
        "PUT",
        "/api/config",
        Some(&serde_json::to_string(&cfg["config"]).unwrap()),
    )
    .expect("PUT /api/config");
    assert_eq!(status, 200, "saving after the deletion: {body}");
    assert!(
        conf_dir.join("config.toml").exists(),
        "the save did not recreate the file"
    );
    assert!(serve.alive());
}

/// Mounts a tmpfs of `kib` KiB on `dir` (root only); `None` after saying why it is skipped.
fn tmpfs(dir: &Path, kib: u32, drill: &str) -> Option<Mount> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        real_parts::missing(drill, "cannot mount a tmpfs (needs root)");
        return None;
    }
    Some(Mount(dir.to_path_buf()))
}

/// A mount, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn remount(&self, opt: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {opt} failed");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The data directory's disk fills up while `serve` writes history: it keeps serving (from
/// memory), reports the storage problem, and writes to disk again once space is freed.
#[test]
fn disk_full_keeps_serving_then_recovers() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let Some(_mount) = tmpfs(&tmp.path().join("data"), 2048, "disk-full drill") else {
        return;
    };
    let serve = Serve::in_dir(&bin, tmp.path());
    std::thread::sleep(Duration::from_secs(2));
    let filler = tmp.path().join("data/filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0u8; 64 * 1024]).is_ok() {}
    drop(f);
    serve.wait_until("storage error", Duration::from_secs(40), |s| {
        s.storage()["ok"] == false
    });
    assert!(
        json(serve.addr, "/api/snapshot").is_some(),
        "no snapshot while the disk is full"
    );
    std::fs::remove_file(&filler).unwrap();
    serve.wait_until("storage recovery", Duration::from_secs(45), |s| {
        s.storage()["ok"] == true
    });
}

/// The data directory is read-only from the start: `serve` samples and keeps history in
/// memory, says so, and writes the file once the directory is writable again.
#[test]
fn read_only_data_directory_then_writable() {
    let bin = binary();
    let tmp = tempfile::tempdir().unwrap();
    let Some(mount) = tmpfs(&tmp.path().join("data"), 4096, "read-only drill") else {
        return;
    };
    mount.remount("ro");
    let serve = Serve::in_dir(&bin, tmp.path());
    let storage = serve.storage();
    assert_eq!(
        storage["ok"], false,
        "read-only storage reported fine: {storage}"
    );
    assert_eq!(storage["in_memory"], true, "{storage}");
    assert!(json(serve.addr, "/api/history?since=60s").is_some());
    mount.remount("rw");
    serve.wait_until("storage recovery", Duration::from_secs(45), |s| {
        s.storage()["ok"] == true
    });
    assert!(tmp.path().join("data/history.db").exists());
}

/// `curl` run as `uid`/`gid` (another local user): (HTTP status, body).
fn curl_as(uid: u32, gid: u32, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-q", "-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .uid(uid)
        .gid(gid)
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .output()
        .expect("run curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Another local user (a real second account) reaches `serve` on loopback: it can neither act
/// (clear caches, set limits), nor read or change the configuration, nor read the snapshot,
/// history or journal, nor learn the secret (file 0600 in a 0700 directory, not in the
/// command line); it may scrape `/metrics`. The owner, reading the secret file, can do all of
/// it, and `GET /api/config` never shows `server.token`.
#[test]
fn another_local_user_can_neither_act_nor_read_config_nor_learn_the_secret() {
    let bin = binary();
    let Some((uid, gid)) = other_user("other-user drill") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Like a home directory: others may traverse it; what is private must make itself so.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = tmp.path().join("config.toml");
    let config_text = "# mine\n[server]\ntoken = \"config-secret-0123456789\"\n";
    std::fs::write(&config, config_text).unwrap();
    let addr = free_addr();
    let mut child = Command::new(&bin)
        .args(["serve", "--listen", &addr.to_string()])
        .env("HEADROOM_CONFIG", &config)
        .env("HEADROOM_DATA_DIR", tmp.path().join("data"))
        .env("HEADROOM_RUNTIME_DIR", tmp.path().join("run"))
        .env_remove("HEADROOM_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let secret_file = tmp.path().join("data/serve-token");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !secret_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // (No file at all: the refusals below say what another user could do.)
    let secret = std::fs::read_to_string(&secret_file)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let url = |path: &str| format!("http://{addr}{path}");
    let bearer = format!("Authorization: Bearer {secret}");
    let json = "Content-Type: application/json";
    let owner = |args: &[&str]| curl_as(0, 0, args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while owner(&["-H", &bearer, &url("/api/health")]).0 != 200 {
        assert!(Instant::now() < deadline, "serve never answered its owner");
        std::thread::sleep(Duration::from_millis(100));
    }
    let other = |args: &[&str]| curl_as(uid, gid, args);
    let refused: [(&str, Vec<&str>); 8] = [
        ("clear caches", vec!["-X", "POST", "-H", json, "-d", "{}"]),
        (
            "set a limit",
            vec![
                "-X",
                "POST",
                "-H",
                json,
                "-d",
                r#"{"kind":"cache","bytes":1}"#,
            ],
        ),
        (
            "rewrite the rules",
            vec!["-X", "PUT", "-H", json, "-d", "{}"],
        ),
        ("read the configuration", vec![]),
        ("read the snapshot", vec![]),
        ("read the journal", vec![]),
        ("read the health report", vec![]),
        ("open the web UI", vec!["-H", "Accept: text/html"]),
    ];
    let paths = [
        "/api/actions/clear-cache",
        "/api/actions/limit",
        "/api/config",
        "/api/config",
        "/api/snapshot",
        "/api/events",
        "/api/health",
        "/",
    ];
    for ((what, args), path) in refused.iter().zip(paths) {
        let mut a = args.clone();
        let u = url(path);
        a.push(&u);
        let (status, body) = other(&a);
        assert_eq!(status, 401, "another user could {what} ({path}): {body}");
        assert!(
            !body.contains(&secret) && !body.contains("config-secret"),
            "{body}"
        );
    }
    // A wrong guess, and the cookie route, fail the same way.
    let (status, _) = other(&[
        "-H",
        "Cookie: headroom_token=guess-0123456789",
        &url("/api/config"),
    ]);
    assert_eq!(status, 401);
    // A guessed `?token=` on the one public path earns no cookie (it would carry the secret).
    let (status, head) = other(&["-i", &url("/metrics?token=guess-0123456789")]);
    assert_eq!(status, 200);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    // Prometheus on the same machine needs no credentials.
    let (status, body) = other(&[&url("/metrics")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("headroom_memory_total_bytes"), "{body}");
    // The secret cannot be read: not the file, not the command line, not the environment.
    let cat = Command::new("cat")
        .arg(&secret_file)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    assert!(!cat.status.success(), "another user read the secret file");
    let pid = child.id();
    let cmdline = Command::new("cat")
        .arg(format!("/proc/{pid}/cmdline"))
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    assert!(cmdline.status.success(), "cmdline is public on Linux");
    assert!(!String::from_utf8_lossy(&cmdline.stdout).contains(&secret));
    let environ = Command::new("cat")
        .arg(format!("/proc/{pid}/environ"))
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    assert!(
        !environ.status.success(),
        "another user read serve's environment"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_text);
    // The owner acts and reads, and the configuration's token is never shown.
    let (status, body) = owner(&["-H", &bearer, &url("/api/config")]);
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("config-secret"),
        "GET /api/config showed the token: {body}"
    );
    assert!(body.contains("(hidden)"), "{body}");
    let (status, body) = owner(&[
        "-X",
        "POST",
        "-H",
        &bearer,
        "-H",
        json,
        "-d",
        "{}",
        &url("/api/actions/clear-cache"),
    ]);
    assert_eq!(status, 200, "{body}");
    // Saving the configuration as shown keeps the real token.
    let shown: serde_json::Value =
        serde_json::from_str(&body_of(owner(&["-H", &bearer, &url("/api/config")]))).unwrap();
    let doc = serde_json::to_string(&shown["config"]).unwrap();
    let (status, body) = owner(&[
        "-X",
        "PUT",
        "-H",
        &bearer,
        "-H",
        json,
        "-d",
        &doc,
        &url("/api/config"),
    ]);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("config-secret"), "{body}");
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(saved.contains("config-secret-0123456789"), "{saved}");
    let _ = child.kill();
    let _ = child.wait();
}

fn body_of((status, body): (u16, String)) -> String {
    assert_eq!(status, 200, "{body}");
    body
}

/// The `headroom` binary cargo built for this test run.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_headroom"))
}
