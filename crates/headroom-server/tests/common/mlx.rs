//! A real MLX process with the agent (`agent/tests/workloads/cache_builder.py`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, or `None` (after saying SKIPPED; a failure under
/// `HEADROOM_E2E_REQUIRED=1`) when the venv is missing.
pub fn venv_python(test: &str) -> Option<PathBuf> {
    let py = repo().join(".venv/bin/python");
    if py.exists() {
        return Some(py);
    }
    super::real_parts::missing(
        test,
        &format!(
            "{} missing (scripts/setup.sh creates it with mlx[cpu])",
            py.display()
        ),
    );
    None
}

/// A running workload; killed on drop.
pub struct Workload {
    pub pid: u32,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Starts the workload with a cache of `size`, its agent's socket in `runtime_dir`.
    pub fn start(python: &Path, runtime_dir: &Path, size: &str) -> Workload {
        std::fs::create_dir_all(runtime_dir).expect("runtime dir");
        let mut child = Command::new(python)
            .arg(repo().join("agent/tests/workloads/cache_builder.py"))
            .arg(size)
            .env("HEADROOM_RUNTIME_DIR", runtime_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn workload");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("READY line");
        let pid = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("workload did not start: {line:?}"));
        Workload {
            pid,
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one command and returns the answer line.
    pub fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").expect("write");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        line.trim().to_owned()
    }

    /// The process's own `mx.get_cache_memory()`.
    pub fn cache(&mut self) -> u64 {
        let a = self.ask("cache");
        a.strip_prefix("CACHE ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad answer {a:?}"))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
