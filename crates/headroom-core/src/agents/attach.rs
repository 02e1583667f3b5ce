//! `headroom agent attach PID`: the agent started inside a running Python ≥ 3.14 process
//! through `sys.remote_exec` (PEP 768, <https://peps.python.org/pep-0768/>).
//!
//! A small bootstrap script, written into Headroom's agent folder, loads the hook module of
//! that folder and starts the agent (`_headroom_hook.start_agent()`); the target's own
//! interpreter (same minor version, as PEP 768 requires) runs
//! `sys.remote_exec(pid, bootstrap)`, and the target executes it at its next safe point.
//!
//! What can stand in the way, each named with its fix before anything is tried:
//! - the target's Python is older than 3.14 (no `sys.remote_exec`);
//! - the target disabled remote debugging: `PYTHON_DISABLE_REMOTE_DEBUG` in its environment
//!   or `-X disable_remote_debug` on its command line (PEP 768, "Security implications"); the
//!   caller's `sys.remote_exec` then returns without error and the target ignores the request;
//! - the target belongs to another user: its agent would run as that user, who can read
//!   neither this user's agent folder nor serve in this user's runtime directory;
//! - the target's environment puts its agent's socket in another runtime directory
//!   (`HEADROOM_RUNTIME_DIR`, `XDG_RUNTIME_DIR`) than the one this Headroom watches;
//! - Linux: ptrace rights. Yama's `/proc/sys/kernel/yama/ptrace_scope` (kernel
//!   Documentation/admin-guide/LSM/Yama.rst): 0 any process of the same user, 1 only
//!   descendants unless the tracer has `CAP_SYS_PTRACE`, 2 only with `CAP_SYS_PTRACE`, 3 never;
//! - macOS: attaching needs `task_for_pid`, in practice administrator rights. The CLI does not
//!   ask for them (the only privileged command Headroom runs is the GPU wired limit).

use super::discovery;
use super::install::{self, InstallError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first Python with `sys.remote_exec`.
pub const MIN_REMOTE_EXEC: (u32, u32) = (3, 14);
/// How long `attach` waits for the agent's socket after `sys.remote_exec` returned (the target
/// runs the script at its next safe point: a busy loop in C code can delay it).
pub const SOCKET_WAIT: Duration = Duration::from_secs(10);

/// Why a process cannot be attached to, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// The interpreter could not be found or described.
    Target(InstallError),
    /// Python older than 3.14.
    TooOld {
        /// Process id.
        pid: u32,
        /// Its Python version.
        version: String,
    },
    /// The process was started with remote debugging disabled.
    RemoteDebugDisabled {
        /// Process id.
        pid: u32,
        /// How: the variable or the option.
        how: String,
    },
    /// The kernel will not let this process trace the target.
    PtraceDenied {
        /// Why, and the fix.
        why: String,
    },
    /// The process belongs to another user.
    OtherUser {
        /// Process id.
        pid: u32,
        /// Its real user id.
        uid: u32,
        /// This process's effective user id.
        ours: u32,
    },
    /// The process's environment puts its agent in another runtime directory.
    OtherRuntimeDir {
        /// Process id.
        pid: u32,
        /// Where its agent would serve.
        theirs: PathBuf,
        /// Where this Headroom looks for agents.
        ours: PathBuf,
    },
    /// macOS: needs administrator rights.
    NeedsAdmin {
        /// Process id.
        pid: u32,
    },
    /// `sys.remote_exec` failed or the agent did not appear.
    Failed {
        /// Process id.
        pid: u32,
        /// What happened.
        detail: String,
    },
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let enable = |pid: &u32| {
            format!("use `headroom agent enable --pid {pid}` and restart the program instead")
        };
        match self {
            Self::Target(e) => write!(f, "{e}"),
            Self::TooOld { pid, version } => write!(
                f,
                "process {pid} runs Python {version}; live attach needs sys.remote_exec (PEP 768, Python {}.{}+): {}",
                MIN_REMOTE_EXEC.0, MIN_REMOTE_EXEC.1, enable(pid)
            ),
            Self::RemoteDebugDisabled { pid, how } => write!(
                f,
                "process {pid} was started with remote debugging disabled ({how}); {}",
                enable(pid)
            ),
            Self::OtherUser { pid, uid, ours } => write!(
                f,
                "process {pid} runs as uid {uid}, not as this user (uid {ours}): its agent would run as uid {uid} and serve only that user; run `headroom agent attach {pid}` as uid {uid}"
            ),
            Self::OtherRuntimeDir { pid, theirs, ours } => write!(
                f,
                "process {pid} would serve its agent in {} (its HEADROOM_RUNTIME_DIR or XDG_RUNTIME_DIR), but this headroom looks in {}; run `HEADROOM_RUNTIME_DIR={} headroom agent attach {pid}` and use the same variable for `headroom status`",
                theirs.display(),
                ours.display(),
                theirs.display()
            ),
            Self::PtraceDenied { why } => write!(f, "{why}"),
            Self::NeedsAdmin { pid } => write!(
                f,
                "attaching to process {pid} on macOS needs administrator rights (task_for_pid), which the headroom CLI does not ask for; {}",
                enable(pid)
            ),
            Self::Failed { pid, detail } => write!(f, "attaching to process {pid} failed: {detail}"),
        }
    }
}

impl std::error::Error for AttachError {}

/// How the target disabled remote debugging, from its environment (`KEY=VALUE` entries) and
/// command line; `None` when it did not. PEP 768: a non-empty `PYTHON_DISABLE_REMOTE_DEBUG`
/// or `-X disable_remote_debug` (also written `-Xdisable_remote_debug`).
pub fn remote_debug_disabled(environ: &[String], cmdline: &[String]) -> Option<String> {
    let var = environ.iter().find_map(|e| {
        e.strip_prefix("PYTHON_DISABLE_REMOTE_DEBUG=")
            .filter(|v| !v.is_empty())
    });
    if let Some(v) = var {
        return Some(format!(
            "PYTHON_DISABLE_REMOTE_DEBUG={v} in its environment"
        ));
    }
    // Interpreter options come before the script, `-c` or `-m`; `-X` and `-W` take a value.
    let mut args = cmdline.iter().skip(1);
    while let Some(a) = args.next() {
        let disabled = match a.as_str() {
            "-Xdisable_remote_debug" => true,
            "-X" => args.next().is_some_and(|v| v == "disable_remote_debug"),
            "-W" => {
                args.next();
                false
            }
            "-c" | "-m" => break,
            other if !other.starts_with('-') => break,
            _ => false,
        };
        if disabled {
            return Some("-X disable_remote_debug on its command line".into());
        }
    }
    None
}

/// Whether this process may ptrace a process of the same user that is not its child, from
/// Yama's `ptrace_scope` (`None`: no Yama) and whether it holds `CAP_SYS_PTRACE`.
pub fn ptrace_verdict(scope: Option<u8>, cap_sys_ptrace: bool) -> Result<(), String> {
    let fix_scope = "an administrator can allow it until reboot with `sysctl -w kernel.yama.ptrace_scope=0`, or use `headroom agent enable --pid PID` and restart the program";
    match (scope, cap_sys_ptrace) {
        (None | Some(0), _) | (Some(1 | 2), true) => Ok(()),
        (Some(1), false) => Err(format!(
            "ptrace is limited to a process's own descendants (kernel.yama.ptrace_scope = 1) and headroom lacks CAP_SYS_PTRACE; {fix_scope}"
        )),
        (Some(2), false) => Err(
            "ptrace needs CAP_SYS_PTRACE (kernel.yama.ptrace_scope = 2), which headroom lacks; use `headroom agent enable --pid PID` and restart the program".into(),
        ),
        (Some(_), _) => Err(
            "ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3, until reboot); use `headroom agent enable --pid PID` and restart the program".into(),
        ),
    }
}

/// Whether `CapEff` of a `/proc/<pid>/status` text holds `CAP_SYS_PTRACE` (bit 19,
/// linux/capability.h).
pub fn has_cap_sys_ptrace(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 19) != 0)
}

/// The real user id in a `/proc/<pid>/status` text (first field of `Uid:`, proc(5)): the uid
/// the agent runs as and names its runtime directory after.
pub fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The runtime directory the agent of a Linux process with this environment (`KEY=VALUE`
/// entries) and real uid chooses ([`discovery::choose_runtime_dir`], the rule the agent
/// shares), given what is at `/tmp/headroom-<uid>` now (`fallback`); or why it cannot serve.
pub fn runtime_dir_of(
    environ: &[String],
    uid: u32,
    fallback: Option<discovery::DirState>,
) -> Result<PathBuf, String> {
    let env = |key: &str| {
        environ.iter().find_map(|e| {
            e.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .filter(|v| !v.is_empty())
                .map(std::ffi::OsString::from)
        })
    };
    discovery::choose_runtime_dir(&discovery::RuntimeDirInputs {
        platform: crate::snapshot::Platform::Linux,
        env: &env,
        user_dir: None,
        uid,
        fallback,
    })
}

/// Whether the agent of `pid` (real uid `uid`, environment `environ`) would serve where this
/// process (effective uid `ours`, watching `our_dir`) finds it; `fallback` as for
/// [`runtime_dir_of`].
pub fn placement_verdict(
    pid: u32,
    uid: u32,
    environ: &[String],
    ours: u32,
    our_dir: &Path,
    fallback: Option<discovery::DirState>,
) -> Result<(), AttachError> {
    if uid != ours {
        return Err(AttachError::OtherUser { pid, uid, ours });
    }
    let theirs = runtime_dir_of(environ, uid, fallback).map_err(|why| AttachError::Failed {
        pid,
        detail: format!("its agent would have no runtime directory: {why}"),
    })?;
    if theirs != our_dir {
        return Err(AttachError::OtherRuntimeDir {
            pid,
            theirs,
            ours: our_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// The bootstrap `sys.remote_exec` runs in the target: it loads the hook of the agent folder
/// and starts the agent (failures are written once to the target's stderr, never raised).
/// It first removes its own file `script`: the target reads it at its next safe point, which
/// may come after `attach` has stopped waiting, so only the target knows when it is done.
pub fn bootstrap_text(bundle_dir: &Path, script: &Path) -> String {
    let hook = bundle_dir.join(format!("{}.py", install::HOOK_MODULE));
    let name = format!("{:?}", install::HOOK_MODULE);
    let hook = format!("{:?}", hook.display().to_string());
    let script = format!("{:?}", script.display().to_string());
    [
        "# Written by `headroom agent attach`: starts the Headroom agent in this process."
            .to_string(),
        "import sys".into(),
        "try:".into(),
        "    import os".into(),
        format!("    os.remove({script})"),
        "except OSError:".into(),
        "    pass".into(),
        "try:".into(),
        "    import importlib.util as u".into(),
        format!("    h = sys.modules.get({name})"),
        "    if h is None:".into(),
        format!("        s = u.spec_from_file_location({name}, {hook})"),
        "        h = u.module_from_spec(s)".into(),
        format!("        sys.modules[{name}] = h"),
        "        s.loader.exec_module(h)".into(),
        "    h.start_agent()".into(),
        "except Exception as e:".into(),
        "    sys.stderr.write('headroom: agent not attached (%s)\\n' % (e,))".into(),
        String::new(),
    ]
    .join("\n")
}

/// An agent that answers in a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// Its socket.
    pub socket: PathBuf,
    /// It was already running: nothing was sent to the process.
    pub already: bool,
}

/// Attaches the agent to `pid` (Linux; macOS refuses with [`AttachError::NeedsAdmin`]) and
/// returns its socket once it answers.
pub fn attach(pid: u32, data_dir: &Path, runtime_dir: &Path) -> Result<Attached, AttachError> {
    let (environ, cmdline) = process_words(pid);
    if let Some(how) = remote_debug_disabled(&environ, &cmdline) {
        return Err(AttachError::RemoteDebugDisabled { pid, how });
    }
    let socket = runtime_dir.join(format!("agent-{pid}.sock"));
    if cfg!(target_os = "linux") {
        if let Some(uid) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .as_deref()
            .and_then(real_uid)
        {
            let fallback = discovery::dir_state(&discovery::fallback_dir(uid));
            placement_verdict(
                pid,
                uid,
                &environ,
                super::sys::euid(),
                runtime_dir,
                fallback,
            )?;
        }
    }
    // An agent already serving (started by `enable`, `run`, or an earlier attach) is the
    // answer: the process is left alone, whatever its Python version.
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Ok(Attached {
            socket,
            already: true,
        });
    }
    let python = install::interpreter_of(pid).map_err(AttachError::Target)?;
    let interp = install::probe(&python).map_err(AttachError::Target)?;
    if !interp.at_least(MIN_REMOTE_EXEC) {
        return Err(AttachError::TooOld {
            pid,
            version: interp.version_text(),
        });
    }
    if cfg!(target_os = "macos") {
        return Err(AttachError::NeedsAdmin { pid });
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let cap = has_cap_sys_ptrace(&std::fs::read_to_string("/proc/self/status").unwrap_or_default());
    ptrace_verdict(scope, cap).map_err(|why| AttachError::PtraceDenied { why })?;
    let bundle = install::install_bundle(data_dir).map_err(AttachError::Target)?;
    let script = bundle.join(format!("attach-{pid}.py"));
    std::fs::write(&script, bootstrap_text(&bundle, &script)).map_err(|e| AttachError::Failed {
        pid,
        detail: format!("cannot write {}: {e}", script.display()),
    })?;
    if let Err(e) = remote_exec(&python, pid, &script) {
        // The process was not asked to run it: nobody else will remove it.
        let _ = std::fs::remove_file(&script);
        return Err(e);
    }
    wait_for(&socket, SOCKET_WAIT, pid)?;
    Ok(Attached {
        socket,
        already: false,
    })
}

/// Runs `python -c "sys.remote_exec(pid, script)"` with the target's own interpreter.
fn remote_exec(python: &Path, pid: u32, script: &Path) -> Result<(), AttachError> {
    let out = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])",
        ])
        .arg(pid.to_string())
        .arg(script)
        .env("HEADROOM_AGENT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| AttachError::Failed {
            pid,
            detail: format!("cannot run {}: {e}", python.display()),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or("").trim().to_string();
    if last.contains("PermissionError") || last.contains("Operation not permitted") {
        return Err(AttachError::PtraceDenied {
            why: format!("the kernel refused to let headroom trace process {pid} ({last}); run the attach as the user who runs it"),
        });
    }
    Err(AttachError::Failed { pid, detail: last })
}

fn wait_for(socket: &Path, within: Duration, pid: u32) -> Result<(), AttachError> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(AttachError::Failed {
        pid,
        detail: format!(
            "its agent did not appear at {} within {} s (the process runs the bootstrap at its next safe point; its stderr says why if it failed)",
            socket.display(),
            within.as_secs()
        ),
    })
}

/// The environment and command line of `pid` (Linux `/proc`; empty elsewhere).
fn process_words(pid: u32) -> (Vec<String>, Vec<String>) {
    let read = |name: &str| {
        std::fs::read(format!("/proc/{pid}/{name}"))
            .map(|raw| super::scan::split_cmdline(&raw))
            .unwrap_or_default()
    };
    (read("environ"), read("cmdline"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn remote_debugging_disabled_by_variable_or_option() {
        let py = v(&["python3.14", "serve.py"]);
        assert_eq!(remote_debug_disabled(&v(&["HOME=/h"]), &py), None);
        assert_eq!(
            remote_debug_disabled(&v(&["PYTHON_DISABLE_REMOTE_DEBUG=1"]), &py).as_deref(),
            Some("PYTHON_DISABLE_REMOTE_DEBUG=1 in its environment")
        );
        assert_eq!(
            remote_debug_disabled(&v(&["PYTHON_DISABLE_REMOTE_DEBUG="]), &py),
            None
        );
        for cmd in [
            v(&["python3.14", "-X", "disable_remote_debug", "serve.py"]),
            v(&[
                "python3.14",
                "-Xdisable_remote_debug",
                "-m",
                "mlx_lm",
                "server",
            ]),
        ] {
            assert!(remote_debug_disabled(&[], &cmd).is_some(), "{cmd:?}");
        }
        // The program's own arguments are not interpreter options.
        let own = v(&["python3.14", "serve.py", "-X", "disable_remote_debug"]);
        assert_eq!(remote_debug_disabled(&[], &own), None);
    }

    #[test]
    fn ptrace_scope_and_capability_decide() {
        assert_eq!(ptrace_verdict(None, false), Ok(()));
        assert_eq!(ptrace_verdict(Some(0), false), Ok(()));
        assert_eq!(ptrace_verdict(Some(1), true), Ok(()));
        let one = ptrace_verdict(Some(1), false).unwrap_err();
        assert!(
            one.contains("ptrace_scope = 1") && one.contains("CAP_SYS_PTRACE"),
            "{one}"
        );
        assert!(ptrace_verdict(Some(2), false)
            .unwrap_err()
            .contains("CAP_SYS_PTRACE"));
        assert!(ptrace_verdict(Some(3), true)
            .unwrap_err()
            .contains("ptrace_scope = 3"));
        assert!(has_cap_sys_ptrace("Name:\tx\nCapEff:\t000001ffffffffff\n"));
        assert!(!has_cap_sys_ptrace("CapEff:\t0000000000000000\n"));
        assert!(!has_cap_sys_ptrace(""));
    }

    #[test]
    fn the_agent_must_serve_where_this_headroom_looks() {
        let status = "Name:\tpython3.14\nUid:\t501\t501\t501\t501\nGid:\t20\t20\t20\t20\n";
        assert_eq!(real_uid(status), Some(501));
        assert_eq!(real_uid("Name:\tx\n"), None);
        let ours = Path::new("/tmp/headroom-501");
        assert_eq!(
            placement_verdict(7, 501, &v(&["HOME=/h"]), 501, ours, None),
            Ok(())
        );
        // Another user's process: refused before anything is sent to it.
        let other = placement_verdict(7, 502, &[], 501, ours, None).unwrap_err();
        assert_eq!(
            other,
            AttachError::OtherUser {
                pid: 7,
                uid: 502,
                ours: 501
            }
        );
        assert!(
            other
                .to_string()
                .contains("run `headroom agent attach 7` as uid 502"),
            "{other}"
        );
        // Its environment moves the socket: the variable wins over XDG_RUNTIME_DIR.
        let dir = |env: &[&str], fallback| runtime_dir_of(&v(env), 501, fallback);
        assert_eq!(
            dir(&["XDG_RUNTIME_DIR=/run/user/501"], None),
            Ok(PathBuf::from("/run/user/501/headroom"))
        );
        assert_eq!(
            dir(
                &[
                    "XDG_RUNTIME_DIR=/run/user/501",
                    "HEADROOM_RUNTIME_DIR=/x/rt"
                ],
                None
            ),
            Ok(PathBuf::from("/x/rt"))
        );
        assert_eq!(
            dir(&["HEADROOM_RUNTIME_DIR=", "XDG_RUNTIME_DIRX=/y"], None),
            Ok(ours.to_path_buf())
        );
        // /tmp/headroom-501 taken by someone else: the target's own HOME decides.
        let taken = Some(discovery::DirState {
            is_dir: true,
            uid: 0,
            mode: 0o755,
        });
        assert_eq!(
            dir(&["HOME=/home/t"], taken),
            Ok(PathBuf::from("/home/t/.cache/headroom/run"))
        );
        assert!(matches!(
            placement_verdict(7, 501, &[], 501, ours, taken),
            Err(AttachError::Failed { .. })
        ));
        let moved = placement_verdict(
            7,
            501,
            &v(&["XDG_RUNTIME_DIR=/run/user/501"]),
            501,
            ours,
            None,
        )
        .unwrap_err();
        assert!(
            moved.to_string().contains(
                "run `HEADROOM_RUNTIME_DIR=/run/user/501/headroom headroom agent attach 7`"
            ),
            "{moved}"
        );
    }

    #[test]
    fn the_bootstrap_loads_the_hook_of_the_folder() {
        let t = bootstrap_text(
            Path::new("/d/agent/0.1.0-abc"),
            Path::new("/d/agent/0.1.0-abc/attach-7.py"),
        );
        assert!(
            t.contains("os.remove(\"/d/agent/0.1.0-abc/attach-7.py\")"),
            "{t}"
        );
        assert!(
            t.contains("\"/d/agent/0.1.0-abc/_headroom_hook.py\""),
            "{t}"
        );
        assert!(t.contains("h.start_agent()"));
    }
}
