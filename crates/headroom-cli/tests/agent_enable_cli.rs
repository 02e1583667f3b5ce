//! `headroom agent enable | disable | status` against a real Python environment: a scratch
//! venv holding real MLX, where programs started plainly (`python script.py`, a console script)
//! get the agent with no change to their command line, and `disable` leaves nothing behind.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers: a failure is a test failure

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The base interpreter of the repository's `.venv` (its `pyvenv.cfg` `home`), or `None`
/// after saying why (a failure under `HEADROOM_E2E_REQUIRED=1`).
fn base_python(test: &str) -> Option<PathBuf> {
    let cfg = std::fs::read_to_string(repo().join(".venv/pyvenv.cfg")).unwrap_or_default();
    let home = cfg.lines().find_map(|l| {
        l.strip_prefix("home")
            .map(|r| r.trim_start_matches([' ', '=']).trim())
    });
    let found = home
        .map(|h| Path::new(h).join("python3"))
        .filter(|p| p.exists());
    if found.is_none() {
        let why = format!("{test}: .venv (with MLX) is missing; run scripts/setup.sh");
        assert!(
            std::env::var("HEADROOM_E2E_REQUIRED").as_deref() != Ok("1"),
            "{why}"
        );
        eprintln!("\n*** SKIPPED {why} ***\n");
    }
    found
}

/// A fresh venv (`python -m venv --without-pip`, ~0.1 s) holding MLX as pip would have
/// installed it: `.venv`'s `mlx*` directories hard-linked in (copied across file systems),
/// plus the `plain_mlx` workload as a module with a pip-style console script `plain-mlx`.
struct Scratch {
    dir: tempfile::TempDir,
    site: PathBuf,
}

impl Scratch {
    fn new(base: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hr-venv-")
            .tempdir_in("/tmp")
            .unwrap();
        let st = Command::new(base)
            .args(["-m", "venv", "--without-pip"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "venv creation failed");
        let site = Self::site_of(&dir.path().join("bin/python"));
        let src = Self::site_of(&repo().join(".venv/bin/python"));
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_mlx = name == "mlx"
                || name.starts_with("mlx-")
                || name.starts_with("mlx_cpu")
                || name.starts_with("mlx_metal");
            if is_mlx {
                let linked = Command::new("cp")
                    .arg("-al")
                    .arg(entry.path())
                    .arg(&site)
                    .status()
                    .unwrap();
                if !linked.success() {
                    assert!(Command::new("cp")
                        .arg("-R")
                        .arg(entry.path())
                        .arg(&site)
                        .status()
                        .unwrap()
                        .success());
                }
            }
        }
        std::fs::copy(
            repo().join("agent/tests/workloads/plain_mlx.py"),
            site.join("plain_mlx.py"),
        )
        .unwrap();
        let python = dir.path().join("bin/python");
        let script = dir.path().join("bin/plain-mlx");
        // What pip writes for `[project.scripts] plain-mlx = "plain_mlx:main"`.
        std::fs::write(
            &script,
            format!(
                "#!{}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom plain_mlx import main\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n",
                python.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir, site }
    }

    fn site_of(python: &Path) -> PathBuf {
        let out = Command::new(python)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn python(&self) -> PathBuf {
        self.dir.path().join("bin/python")
    }

    /// Names in site-packages that are Headroom's.
    fn headroom_files(&self) -> Vec<String> {
        std::fs::read_dir(&self.site)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("headroom"))
            .collect()
    }
}

/// Per-test Headroom directories: data (agent folders, record) and runtime (sockets).
struct Dirs {
    data: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        let runtime = tempfile::Builder::new()
            .prefix("hr-rt-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Self {
            data: tempfile::tempdir().unwrap(),
            runtime,
        }
    }

    fn headroom(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(args)
            .env("HEADROOM_DATA_DIR", self.data.path())
            .env("HEADROOM_RUNTIME_DIR", self.runtime.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.headroom(args);
        assert!(
            out.status.success(),
            "headroom {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn socket(&self, pid: u32) -> PathBuf {
        self.runtime.path().join(format!("agent-{pid}.sock"))
    }

    /// A program started plainly: `argv` with only the runtime directory set (no PYTHONPATH).
    fn start(&self, argv: &[&Path], size: &str) -> Plain {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .arg(size)
            .env_remove("PYTHONPATH")
            .env_remove("HEADROOM_AGENT")
            .env("HEADROOM_RUNTIME_DIR", self.runtime.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut p = Plain {
            pid: child.id(),
            child,
            stdin,
            lines,
            imported_at: 0.0,
        };
        let imported = p.line("IMPORTED");
        p.imported_at = imported[9..].parse().unwrap();
        assert_eq!(p.line("READY"), format!("READY {}", p.pid));
        p
    }
}

struct Plain {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    imported_at: f64,
}

impl Plain {
    fn line(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(e) => {
                    let _ = self.child.kill();
                    let mut err = String::new();
                    let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
                    panic!("no {prefix} line from {}: {e}; stderr: {err}", self.pid)
                }
            }
        }
    }

    fn ask(&mut self, cmd: &str, word: &str) -> u64 {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        self.line(word)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Closes stdin, waits, returns stderr.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        err
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Connects and asks `stats` until it answers; returns the answer and the wall time then.
fn first_stats(sock: &Path, within: Duration) -> (serde_json::Value, f64) {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(mut s) = UnixStream::connect(sock) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"{\"id\":1,\"op\":\"stats\"}\n").unwrap();
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).unwrap();
            let at = now();
            return (serde_json::from_str(&line).unwrap(), at);
        }
        assert!(
            Instant::now() < deadline,
            "{} never answered",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The MLX process `pid` as `headroom status --json` lists it.
fn listed(dirs: &Dirs, pid: u32) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&dirs.ok(&["status", "--json"])).unwrap();
    v["mlx"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn plain_programs_get_the_agent_after_enable_and_nothing_is_left_after_disable() {
    let Some(base) = base_python("plain_programs_get_the_agent") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let python = venv.python();
    let py = python.to_str().unwrap();
    let out = dirs.ok(&["agent", "enable", "--python", py]);
    assert!(out.contains("enabled: "), "{out}");
    let files = venv.headroom_files();
    assert_eq!(files.len(), 2, "{files:?}");

    let status: serde_json::Value =
        serde_json::from_str(&dirs.ok(&["agent", "status", "--json"])).unwrap();
    assert_eq!(status[0]["python"], py);
    assert_eq!(status[0]["stale"], false);
    assert_eq!(status[0]["missing"], serde_json::json!([]));

    let module = venv.site.join("plain_mlx.py");
    let script = venv.dir.path().join("bin/plain-mlx");
    for argv in [
        vec![python.as_path(), module.as_path()],
        vec![script.as_path()],
    ] {
        let mut p = dirs.start(&argv, "64MiB");
        let (stats, answered_at) = first_stats(&dirs.socket(p.pid), Duration::from_secs(2));
        assert_eq!(stats["result"]["pid"], p.pid, "{stats}");
        let after = answered_at - p.imported_at;
        assert!(
            after < 2.0,
            "{argv:?}: answered {after:.3} s after importing mlx.core"
        );
        assert_eq!(p.ask("agent", "AGENT"), 1);
        let own = p.ask("cache", "CACHE");
        assert!(own >= 32 << 20, "cache {own}");
        let seen = listed(&dirs, p.pid);
        assert_eq!(seen["attached"], true, "{seen}");
        let cache = seen["cache"].as_u64().unwrap();
        assert!(
            cache.abs_diff(own) * 100 <= own,
            "status {cache}, process {own}"
        );
        dirs.ok(&["clear-cache", "--pid", &p.pid.to_string()]);
        assert_eq!(p.ask("cache", "CACHE"), 0, "{argv:?}");
        let err = p.finish();
        assert_eq!(err, "", "{argv:?} wrote to stderr");
    }

    let out = dirs.ok(&["agent", "disable", "--python", py]);
    assert!(out.contains("disabled: "), "{out}");
    assert_eq!(venv.headroom_files(), Vec::<String>::new());
    let home = dirs.data.path().join("agent");
    let left: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the (empty) record is left: {left:?}");
    assert_eq!(
        std::fs::read_to_string(home.join("environments.json"))
            .unwrap()
            .trim(),
        "[]"
    );
    let mut p = dirs.start(&[python.as_path(), module.as_path()], "8MiB");
    assert_eq!(p.ask("agent", "AGENT"), 0);
    assert!(!dirs.socket(p.pid).exists());
    assert_eq!(p.finish(), "");
    assert!(dirs.ok(&["agent", "status"]).contains("not enabled"));
}

#[test]
fn enable_by_pid_finds_the_venv_of_a_running_mlx_process() {
    let Some(base) = base_python("enable_by_pid") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let module = venv.site.join("plain_mlx.py");
    let python = venv.python();
    let p = dirs.start(&[python.as_path(), module.as_path()], "8MiB");
    // /proc/<pid>/exe is the base interpreter (the venv's python is a symlink to it); the
    // library MLX was loaded from names the venv.
    let exe = std::fs::read_link(format!("/proc/{}/exe", p.pid)).unwrap();
    assert!(!exe.starts_with(venv.dir.path()), "{}", exe.display());
    let out = dirs.ok(&["agent", "enable", "--pid", &p.pid.to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let enabled = Path::new(v[0]["python"].as_str().unwrap()).to_path_buf();
    assert!(
        enabled.starts_with(venv.dir.path()),
        "{}",
        enabled.display()
    );
    assert_eq!(
        v[0]["environment"]["site_packages"],
        venv.site.to_str().unwrap()
    );
    // The running process is not changed: it gets the agent at its next start.
    assert!(!dirs.socket(p.pid).exists());
    drop(p);
    dirs.ok(&["agent", "disable", "--python", python.to_str().unwrap()]);
    assert_eq!(venv.headroom_files(), Vec::<String>::new());
}

#[test]
fn the_start_file_written_by_enable_runs_the_hook_once_as_pep_829_site_will() {
    let Some(base) = base_python("the_start_file") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    dirs.ok(&[
        "agent",
        "enable",
        "--python",
        venv.python().to_str().unwrap(),
    ]);
    let code = "import os, sys\nimport mlx.core\n\
print('WATCHERS', sum(type(f).__name__ == 'MlxImportWatcher' for f in sys.meta_path))\n\
print('SERVED', os.path.exists(os.path.join(os.environ['HEADROOM_RUNTIME_DIR'], f'agent-{os.getpid()}.sock')))";
    let out = Command::new(venv.python())
        .arg("-S")
        .arg(repo().join("agent/tests/pep829_site.py"))
        .arg(&venv.site)
        .arg(code)
        .env_remove("PYTHONPATH")
        .env("HEADROOM_RUNTIME_DIR", dirs.runtime.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "ENTRY_POINTS _headroom_hook:install",
            "IMPORT_LINES 0",
            "WATCHERS 0",
            "SERVED True"
        ],
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn a_deleted_agent_folder_costs_one_stderr_line_and_status_says_so() {
    let Some(base) = base_python("a_deleted_agent_folder") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let py = venv.python();
    dirs.ok(&["agent", "enable", "--python", py.to_str().unwrap()]);
    let status: serde_json::Value =
        serde_json::from_str(&dirs.ok(&["agent", "status", "--json"])).unwrap();
    let bundle = PathBuf::from(status[0]["bundle_dir"].as_str().unwrap());
    std::fs::remove_dir_all(&bundle).unwrap();
    let out = Command::new(&py)
        .args([
            "-c",
            "import mlx.core as mx; print(mx.array([2, 3]).sum().item())",
        ])
        .env_remove("PYTHONPATH")
        .env("HEADROOM_RUNTIME_DIR", dirs.runtime.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "5");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("headroom: agent hook not loaded"), "{err}");
    let human = dirs.ok(&["agent", "status"]);
    assert!(
        human.contains("missing: ") && human.contains(bundle.to_str().unwrap()),
        "{human}"
    );
    // enable again repairs it
    dirs.ok(&["agent", "enable", "--python", py.to_str().unwrap()]);
    assert!(bundle.join("_headroom_hook.py").exists());
}

#[test]
fn refusals_name_the_reason_and_the_fix() {
    let Some(base) = base_python("refusals") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let py = venv.python();
    // Not a Python at all.
    let out = dirs.headroom(&["agent", "enable", "--python", "/bin/true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a Python interpreter"),
        "{}",
        text(&out.stderr)
    );
    // Another user's environment (only root can hand a directory to someone else here).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&venv.site, Some(65534), None).unwrap();
        let out = dirs.headroom(&["agent", "enable", "--python", py.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("belongs to another user (uid 65534)") && err.contains("as that user"),
            "{err}"
        );
        assert_eq!(venv.headroom_files(), Vec::<String>::new());
        std::os::unix::fs::chown(&venv.site, Some(0), None).unwrap();
    }
    // disable needs a target: it never guesses.
    let out = dirs.headroom(&["agent", "disable"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--all"), "{}", text(&out.stderr));
}

#[test]
fn attach_names_what_stands_in_the_way() {
    let Some(base) = base_python("attach") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let python = venv.python();
    let module = venv.site.join("plain_mlx.py");
    // This machine's Python is older than 3.14: no sys.remote_exec.
    let p = dirs.start(&[python.as_path(), module.as_path()], "8MiB");
    let out = dirs.headroom(&["agent", "attach", &p.pid.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("live attach needs sys.remote_exec (PEP 768, Python 3.14+)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("headroom agent enable --pid {}", p.pid)),
        "{err}"
    );
    drop(p);
    // A process started with remote debugging disabled is reported as such.
    let mut child = Command::new(&python)
        .arg(&module)
        .arg("8MiB")
        .env("PYTHON_DISABLE_REMOTE_DEBUG", "1")
        .env("HEADROOM_RUNTIME_DIR", dirs.runtime.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = dirs.headroom(&["agent", "attach", &child.id().to_string()]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("started with remote debugging disabled (PYTHON_DISABLE_REMOTE_DEBUG=1 in its environment)"), "{err}");
}

#[test]
fn attach_leaves_a_process_alone_when_its_agent_is_elsewhere_or_already_there() {
    let Some(base) = base_python("attach_leaves_alone") else {
        return;
    };
    let venv = Scratch::new(&base);
    let dirs = Dirs::new();
    let python = venv.python();
    let module = venv.site.join("plain_mlx.py");
    // Its environment puts its agent in another runtime directory: refused up front with the
    // variable that fixes it, whatever the Python version.
    let elsewhere = Dirs::new();
    let p = elsewhere.start(&[python.as_path(), module.as_path()], "8MiB");
    let out = dirs.headroom(&["agent", "attach", &p.pid.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let fix = format!(
        "run `HEADROOM_RUNTIME_DIR={} headroom agent attach {}`",
        elsewhere.runtime.path().display(),
        p.pid
    );
    assert!(err.contains(&fix), "{err}");
    assert!(p.finish().is_empty());
    // Its agent already serves (here started by `enable`): nothing is sent to the process,
    // which writes nothing to its stderr.
    dirs.ok(&[
        "agent",
        "enable",
        "--python",
        python.to_str().unwrap(),
        "--yes",
    ]);
    let mut p = dirs.start(&[python.as_path(), module.as_path()], "8MiB");
    first_stats(&dirs.socket(p.pid), Duration::from_secs(30));
    let said = dirs.ok(&["agent", "attach", &p.pid.to_string()]);
    assert!(
        said.starts_with(&format!("already attached: process {}", p.pid)),
        "{said}"
    );
    assert!(p.ask("cache", "CACHE") > 0);
    let err = p.finish();
    assert!(err.is_empty(), "the process wrote: {err}");
}
