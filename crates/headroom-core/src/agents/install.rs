//! Turning the agent on for a whole Python environment: `headroom agent enable | disable |
//! status`.
//!
//! `enable` copies the agent (embedded in this library at build time, `build.rs`) into a
//! folder Headroom owns, `<data dir>/agent/<bundle>/`, and writes two files into the target
//! interpreter's site-packages:
//!
//! - `headroom-agent.pth`: a path line (that folder) and one guarded import line that calls
//!   `_headroom_hook.install()`. `site` runs `import` lines of `.pth` files at start-up
//!   (<https://docs.python.org/3/library/site.html>); the hook only puts a finder on
//!   `sys.meta_path` that starts the agent right after `mlx.core` is imported.
//! - `headroom-agent.start`: `_headroom_hook:install`, the same hook as a PEP 829 entry point
//!   (<https://peps.python.org/pep-0829/>, Python 3.15+: a matching `.start` file disables the
//!   `.pth` file's import lines, so each Python from 3.10 runs the hook exactly once).
//!
//! Nothing is pip-installed into the environment. A record in `<data dir>/agent/
//! environments.json` lists what was written where, so `disable` removes exactly that and
//! `status` lists every environment where it is on, flagging folders of an older build.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ts_rs::TS;

/// The `.pth` file `enable` writes into site-packages.
pub const PTH_NAME: &str = "headroom-agent.pth";
/// The PEP 829 entry-point file `enable` writes next to it.
pub const START_NAME: &str = "headroom-agent.start";
/// The hook module (top level in the agent folder).
pub const HOOK_MODULE: &str = "_headroom_hook";
/// The first line of every file `enable` writes; `disable` removes only files that have it.
pub const MARKER: &str = "# Written by `headroom agent enable`";
/// The oldest Python the agent runs on (`agent/pyproject.toml`, `requires-python`).
pub const MIN_PYTHON: (u32, u32) = (3, 10);
/// How long the target interpreter may take to describe itself.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The agent's files, `(path relative to the bundle folder, text)`, embedded by `build.rs`.
pub static AGENT_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/agent_files.rs"));

/// The agent version embedded in this build (`headroom_agent/_version.py`).
pub fn agent_version() -> &'static str {
    AGENT_FILES
        .iter()
        .find(|(path, _)| *path == "headroom_agent/_version.py")
        .and_then(|(_, text)| version_from_source(text))
        .unwrap_or("unknown")
}

/// `__version__ = "x"` in a `_version.py` text.
pub fn version_from_source(text: &str) -> Option<&str> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("__version__"))?;
    let value = line.split_once('=')?.1.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
}

/// The name of this build's agent folder: `<agent version>-<hash of the files>`, so that a
/// Headroom upgrade that changes the agent gets a new folder and old ones are seen as stale.
pub fn bundle_id() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a, 64 bit
    for (path, text) in AGENT_FILES {
        for byte in path.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{}-{:08x}", agent_version(), hash >> 32)
}

/// Where agent folders and the record live: `<data dir>/agent`.
pub fn agent_home(data_dir: &Path) -> PathBuf {
    data_dir.join("agent")
}

/// Why `enable`/`disable` could not act; each message names the reason and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// The interpreter could not be run or did not describe itself.
    NotPython {
        /// The path given.
        python: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The interpreter is older than [`MIN_PYTHON`].
    PythonTooOld {
        /// The interpreter.
        python: PathBuf,
        /// Its version.
        version: String,
    },
    /// site-packages belongs to another user.
    OtherUser {
        /// The interpreter.
        python: PathBuf,
        /// Its site-packages.
        dir: PathBuf,
        /// The owner's uid.
        owner: u32,
    },
    /// site-packages cannot be written: a system Python, a protected path, a read-only disk.
    NotWritable {
        /// The interpreter.
        python: PathBuf,
        /// Its site-packages.
        dir: PathBuf,
        /// Why, in words.
        why: NotWritableWhy,
    },
    /// No site-packages directory that `site` reads `.pth` files from.
    NoSitePackages {
        /// The interpreter.
        python: PathBuf,
    },
    /// A process whose interpreter cannot be found.
    NoSuchProcess {
        /// Process id.
        pid: u32,
        /// What went wrong.
        detail: String,
    },
    /// Reading or writing Headroom's own files failed.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        detail: String,
    },
}

/// Why site-packages is not writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWritableWhy {
    /// macOS System Integrity Protection covers the path (`/System`, `/usr` but `/usr/local`,
    /// `/bin`, `/sbin`; Apple, "About System Integrity Protection on your Mac").
    SystemIntegrityProtection,
    /// Owned by root: the operating system's Python or an installer's.
    SystemPython,
    /// The file system refused the write (read-only, permissions).
    Refused,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let venv = "create a virtual environment (`python3 -m venv ~/venvs/mlx`), install MLX in it and enable that one";
        match self {
            Self::NotPython { python, detail } => write!(
                f,
                "{} is not a Python interpreter Headroom can use ({detail}); pass the `python` of the environment that runs MLX, e.g. `--python ~/venvs/mlx/bin/python`",
                python.display()
            ),
            Self::PythonTooOld { python, version } => write!(
                f,
                "{} is Python {version}; the agent needs Python {}.{} or newer: run your MLX program with a newer Python (MLX itself needs 3.10+)",
                python.display(),
                MIN_PYTHON.0,
                MIN_PYTHON.1
            ),
            Self::OtherUser { python, dir, owner } => write!(
                f,
                "{} belongs to another user (uid {owner}), not to you: {} is that user's environment; run `headroom agent enable --python {}` as that user",
                dir.display(),
                python.display(),
                python.display()
            ),
            Self::NotWritable { python, dir, why } => {
                let reason = match why {
                    NotWritableWhy::SystemIntegrityProtection => {
                        "is protected by macOS System Integrity Protection"
                    }
                    NotWritableWhy::SystemPython => {
                        "belongs to root: it is the system's Python (or an installer's)"
                    }
                    NotWritableWhy::Refused => "cannot be written",
                };
                write!(
                    f,
                    "{} ({}) {reason}; Headroom never asks for administrator rights to change it: {venv}",
                    dir.display(),
                    python.display()
                )
            }
            Self::NoSitePackages { python } => write!(
                f,
                "{} has no site-packages directory that Python reads .pth files from (run with -S or an embedded build?); enable the environment that runs MLX instead",
                python.display()
            ),
            Self::NoSuchProcess { pid, detail } => write!(
                f,
                "cannot find the Python of process {pid} ({detail}); pass it with --python PATH"
            ),
            Self::Io { path, detail } => write!(f, "{}: {detail}", path.display()),
        }
    }
}

impl std::error::Error for InstallError {}

/// What a Python interpreter says about itself (the probe script's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Interpreter {
    /// `sys.executable`.
    pub executable: String,
    /// `sys.version_info[:3]`.
    pub version: Vec<u32>,
    /// `sys.prefix`.
    pub prefix: String,
    /// `sysconfig.get_paths()["purelib"]`.
    pub purelib: Option<String>,
    /// `site.getsitepackages()`: the directories whose `.pth` files `site` reads.
    #[serde(default)]
    pub site_packages: Vec<String>,
}

impl Interpreter {
    /// `3.11.7`.
    pub fn version_text(&self) -> String {
        self.version
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Whether it is at least `major.minor`.
    pub fn at_least(&self, (major, minor): (u32, u32)) -> bool {
        let have = (
            self.version.first().copied().unwrap_or(0),
            self.version.get(1).copied().unwrap_or(0),
        );
        have >= (major, minor)
    }

    /// The directory to write into: `purelib` when `site` reads it, else the first
    /// directory of `site.getsitepackages()`.
    pub fn target_dir(&self) -> Option<PathBuf> {
        let sites: Vec<&str> = self.site_packages.iter().map(String::as_str).collect();
        match &self.purelib {
            Some(p) if sites.contains(&p.as_str()) => Some(PathBuf::from(p)),
            _ => sites.first().map(PathBuf::from),
        }
    }
}

/// The script the target interpreter runs to describe itself. It runs on any Python from 2.7
/// (so an old one is named as too old, not as broken) and prints one marked JSON line.
pub const PROBE_SCRIPT: &str = "import json, site, sys, sysconfig\n\
sp = site.getsitepackages() if hasattr(site, 'getsitepackages') else []\n\
print('HEADROOM-PROBE ' + json.dumps({'executable': sys.executable, 'version': list(sys.version_info[:3]), \
'prefix': sys.prefix, 'purelib': sysconfig.get_paths().get('purelib'), 'site_packages': sp}))\n";

/// Parses the probe's output (other lines, printed by the environment's own `.pth` files,
/// are skipped).
pub fn parse_probe(python: &Path, stdout: &str) -> Result<Interpreter, InstallError> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("HEADROOM-PROBE "))
        .ok_or_else(|| InstallError::NotPython {
            python: python.to_path_buf(),
            detail: "it printed no description of itself".into(),
        })?;
    serde_json::from_str(line).map_err(|e| InstallError::NotPython {
        python: python.to_path_buf(),
        detail: format!("unreadable description: {e}"),
    })
}

/// Runs `python -I -c PROBE_SCRIPT` (isolated: no user site, no `PYTHON*` variables) and
/// parses what it says, within [`PROBE_TIMEOUT`].
pub fn probe(python: &Path) -> Result<Interpreter, InstallError> {
    let not_python = |detail: String| InstallError::NotPython {
        python: python.to_path_buf(),
        detail,
    };
    let mut child = Command::new(python)
        .args(["-I", "-c", PROBE_SCRIPT])
        .env("HEADROOM_AGENT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| not_python(format!("cannot run it: {e}")))?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // Headroom never kills a process, not even its own probe: it is left to exit
                // and reaped by a thread.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                return Err(not_python(format!(
                    "it did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(not_python(e.to_string())),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        let last: String = err
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .chars()
            .take(160)
            .collect();
        return Err(not_python(format!("it exited with {status}: {last}")));
    }
    parse_probe(python, &out)
}

/// The facts about a site-packages directory that decide whether Headroom may write there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirFacts {
    /// Owner uid of the directory.
    pub owner: u32,
    /// Headroom's effective uid.
    pub me: u32,
    /// Whether the path is under a macOS System Integrity Protection location.
    pub sip: bool,
}

/// Whether `path` lies where macOS System Integrity Protection forbids writes: `/System`,
/// `/bin`, `/sbin`, `/usr` except `/usr/local` (Apple, "About System Integrity Protection on
/// your Mac", support.apple.com/102149).
pub fn sip_protected(path: &Path) -> bool {
    let under = |p: &str| path.starts_with(p);
    under("/System") || under("/bin") || under("/sbin") || (under("/usr") && !under("/usr/local"))
}

/// Refuses a target that is not this user's to change (pure; the write itself is the final
/// test of writability).
pub fn check_ownership(python: &Path, dir: &Path, facts: DirFacts) -> Result<(), InstallError> {
    if facts.sip {
        return Err(InstallError::NotWritable {
            python: python.to_path_buf(),
            dir: dir.to_path_buf(),
            why: NotWritableWhy::SystemIntegrityProtection,
        });
    }
    if facts.owner == facts.me {
        return Ok(());
    }
    if facts.owner == 0 {
        return Err(InstallError::NotWritable {
            python: python.to_path_buf(),
            dir: dir.to_path_buf(),
            why: NotWritableWhy::SystemPython,
        });
    }
    Err(InstallError::OtherUser {
        python: python.to_path_buf(),
        dir: dir.to_path_buf(),
        owner: facts.owner,
    })
}

/// The text of the `.pth` file for an agent folder: a path line (the folder, for the PEP 829
/// entry point) and one guarded import line. The import line loads the hook module straight
/// from its file (`spec_from_file_location` of CPython's always-loaded import machinery), so a
/// process that never imports MLX pays for one cached module load, not for a search of every
/// `sys.path` entry. A missing or broken folder costs one line on stderr, once per process
/// (`site` may read the same `.pth` twice), never an exception in the host.
pub fn pth_text(bundle_dir: &Path, python: &Path) -> Result<String, InstallError> {
    let bundle = bundle_dir.display().to_string();
    if bundle
        .chars()
        .any(|c| c == '\'' || c == '"' || c == '\\' || c.is_control())
    {
        return Err(InstallError::Io {
            path: bundle_dir.to_path_buf(),
            detail: "Headroom's data directory has a quote, backslash or control character in its path, which a .pth line cannot carry safely; set HEADROOM_DATA_DIR to a plain path".into(),
        });
    }
    let hook_file = bundle_dir
        .join(format!("{HOOK_MODULE}.py"))
        .display()
        .to_string();
    let code = [
        "try:".to_string(),
        " import _frozen_importlib as b, _frozen_importlib_external as x".to_string(),
        format!(" s = x.spec_from_file_location('{HOOK_MODULE}', '{hook_file}')"),
        format!(" h = b.module_from_spec(s); sys.modules['{HOOK_MODULE}'] = h; s.loader.exec_module(h)"),
        "except Exception as e:".to_string(),
        format!(" sys.modules['{HOOK_MODULE}'] = None"),
        " sys.stderr.write('headroom: agent hook not loaded (%s); run `headroom agent enable` again or `headroom agent disable`\\n' % (e,))".to_string(),
        "else:".to_string(),
        " h.install()".to_string(),
    ]
    .join("\n");
    let escaped = code
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    Ok(format!(
        "{MARKER} for {python}: starts the Headroom agent in processes that import mlx.core.\n\
# Undo with `headroom agent disable --python {python}`; opt one process out with HEADROOM_AGENT=0.\n\
{bundle}\n\
import sys; '{HOOK_MODULE}' in sys.modules or exec(\"{escaped}\")\n",
        python = comment_safe(python),
    ))
}

/// A path for a `#` comment line: control characters (a newline would start a new, active
/// line) replaced by `?`.
fn comment_safe(path: &Path) -> String {
    path.display()
        .to_string()
        .replace(|c: char| c.is_control(), "?")
}

/// The text of the PEP 829 `.start` file: one entry point, the hook's `install`.
pub fn start_text(python: &Path) -> String {
    format!(
        "{MARKER} for {}: the Headroom agent hook as a PEP 829 entry point (Python 3.15+).\n{HOOK_MODULE}:install\n",
        comment_safe(python)
    )
}

/// One environment where the agent is enabled (an entry of the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EnabledEnvironment {
    /// The interpreter `enable` ran.
    pub python: String,
    /// Its version, e.g. `3.11.7`.
    pub python_version: String,
    /// The site-packages directory written to.
    pub site_packages: String,
    /// Every file written there (removed by `disable`).
    pub files: Vec<String>,
    /// The agent folder the `.pth` file points at.
    pub bundle_dir: String,
    /// The agent folder's build, `<agent version>-<hash>`.
    pub bundle: String,
    /// The agent version in that folder.
    pub agent_version: String,
    /// When it was enabled (RFC 3339).
    pub enabled_at: String,
}

/// An enabled environment as `status` sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EnvironmentStatus {
    /// What `enable` recorded.
    #[serde(flatten)]
    pub env: EnabledEnvironment,
    /// The folder is from another build of Headroom than this one: run `enable` again.
    pub stale: bool,
    /// Files of the record that are gone (the environment was deleted or edited by hand).
    pub missing: Vec<String>,
}

/// The record of enabled environments: `<data dir>/agent/environments.json`.
pub fn record_path(data_dir: &Path) -> PathBuf {
    agent_home(data_dir).join("environments.json")
}

/// Reads the record (empty when it does not exist yet).
pub fn load_record(data_dir: &Path) -> Result<Vec<EnabledEnvironment>, InstallError> {
    let path = record_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| InstallError::Io {
            path,
            detail: format!(
                "unreadable record ({e}); move it aside and run `headroom agent enable` again"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(&path, &e)),
    }
}

fn save_record(data_dir: &Path, record: &[EnabledEnvironment]) -> Result<(), InstallError> {
    let path = record_path(data_dir);
    let text = serde_json::to_string_pretty(record).map_err(|e| InstallError::Io {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    write_atomically(&path, text.as_bytes(), 0o600)
}

fn io_error(path: &Path, e: &std::io::Error) -> InstallError {
    InstallError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// Creates `dir` (and parents) private to this user.
fn private_dir(dir: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error(dir, &e))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, &e)
    })
}

/// Copies this build's agent into `<data dir>/agent/<bundle>/` (once: an existing complete
/// folder is kept) and returns the folder.
pub fn install_bundle(data_dir: &Path) -> Result<PathBuf, InstallError> {
    let home = agent_home(data_dir);
    let dir = home.join(bundle_id());
    if bundle_complete(&dir) {
        return Ok(dir);
    }
    private_dir(&home)?;
    let staging = home.join(format!(".{}.{}.staging", bundle_id(), std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let written = (|| {
        for (rel, text) in AGENT_FILES {
            let path = staging.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_dir_all(&staging);
        io_error(&dir, &e)
    })?;
    Ok(dir)
}

/// Writes the `.pyc` files of the agent folder for `python`'s version, so that interpreters
/// started with `PYTHONDONTWRITEBYTECODE` (common in containers) do not compile the hook at
/// every start. Best effort: without them Python compiles (or caches) them itself.
fn precompile(python: &Path, bundle_dir: &Path) {
    let _ = Command::new(python)
        .args(["-I", "-m", "compileall", "-q"])
        .arg(bundle_dir)
        .env("HEADROOM_AGENT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `dir` holds every embedded file with this build's text.
pub fn bundle_complete(dir: &Path) -> bool {
    AGENT_FILES
        .iter()
        .all(|(rel, text)| std::fs::read_to_string(dir.join(rel)).is_ok_and(|t| t == *text))
}

/// What `enable` needs to know about a target before writing: the interpreter, its
/// site-packages, and that this user may write there.
pub fn resolve_target(python: &Path) -> Result<(Interpreter, PathBuf), InstallError> {
    use std::os::unix::fs::MetadataExt;
    let interp = probe(python)?;
    if !interp.at_least(MIN_PYTHON) {
        return Err(InstallError::PythonTooOld {
            python: python.to_path_buf(),
            version: interp.version_text(),
        });
    }
    let dir = interp
        .target_dir()
        .ok_or_else(|| InstallError::NoSitePackages {
            python: python.to_path_buf(),
        })?;
    // A site directory that does not exist yet (a fresh user install) is created by pip the
    // same way; Headroom does not create one: `site` would not have listed it.
    let meta = std::fs::metadata(&dir).map_err(|e| io_error(&dir, &e))?;
    let facts = DirFacts {
        owner: meta.uid(),
        me: super::sys::euid(),
        sip: cfg!(target_os = "macos") && sip_protected(&dir),
    };
    check_ownership(python, &dir, facts)?;
    Ok((interp, dir))
}

/// Turns the agent on for the environment of `python`: copies the agent into Headroom's
/// folder, writes the `.pth` and `.start` files, records them. Running it again refreshes the
/// files (after an upgrade they point at the new folder).
pub fn enable(python: &Path, data_dir: &Path) -> Result<EnabledEnvironment, InstallError> {
    let python = absolute(python);
    let (interp, dir) = resolve_target(&python)?;
    let bundle_dir = install_bundle(data_dir)?;
    precompile(&python, &bundle_dir);
    let pth = dir.join(PTH_NAME);
    let start = dir.join(START_NAME);
    let refused = |e: InstallError| match e {
        InstallError::Io { .. } => InstallError::NotWritable {
            python: python.clone(),
            dir: dir.clone(),
            why: NotWritableWhy::Refused,
        },
        other => other,
    };
    // The .start file first: a 3.15 interpreter starting in between must not run the .pth's
    // import line and then the entry point too.
    write_atomically(&start, start_text(&python).as_bytes(), 0o644).map_err(refused)?;
    let pth_body = pth_text(&bundle_dir, &python)?;
    if let Err(e) = write_atomically(&pth, pth_body.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&start);
        return Err(refused(e));
    }
    let entry = EnabledEnvironment {
        python: python.display().to_string(),
        python_version: interp.version_text(),
        site_packages: dir.display().to_string(),
        files: vec![pth.display().to_string(), start.display().to_string()],
        bundle_dir: bundle_dir.display().to_string(),
        bundle: bundle_id(),
        agent_version: agent_version().to_string(),
        enabled_at: chrono::Utc::now().to_rfc3339(),
    };
    let mut record = load_record(data_dir)?;
    record.retain(|e| e.site_packages != entry.site_packages);
    record.push(entry.clone());
    save_record(data_dir, &record)?;
    remove_unused_bundles(data_dir, &record);
    Ok(entry)
}

/// What `disable` removed, per environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Disabled {
    /// The environment's interpreter.
    pub python: String,
    /// Files removed.
    pub removed: Vec<String>,
    /// Files left in place because they were no longer Headroom's (edited by hand), with why.
    pub kept: Vec<String>,
}

/// Turns the agent off for the environment of `python`: removes exactly the files `enable`
/// recorded for it (each only if it still starts with [`MARKER`]) and drops the record. The
/// interpreter need not exist any more (a deleted venv is matched by its recorded path).
pub fn disable(python: &Path, data_dir: &Path) -> Result<Disabled, InstallError> {
    let python = absolute(python);
    let mut record = load_record(data_dir)?;
    let site = probe(&python)
        .ok()
        .and_then(|i| i.target_dir())
        .map(|d| d.display().to_string());
    let matches = |e: &EnabledEnvironment| {
        Path::new(&e.python) == python || site.as_deref() == Some(e.site_packages.as_str())
    };
    let mut done = Disabled {
        python: python.display().to_string(),
        removed: Vec::new(),
        kept: Vec::new(),
    };
    let mut files: Vec<String> = record
        .iter()
        .filter(|e| matches(e))
        .flat_map(|e| e.files.clone())
        .collect();
    if let Some(site) = &site {
        // Files of an enable whose record was lost are Headroom's too (they carry the marker).
        for name in [PTH_NAME, START_NAME] {
            let path = Path::new(site).join(name).display().to_string();
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) if text.starts_with(MARKER) => match std::fs::remove_file(&file) {
                Ok(()) => done.removed.push(file),
                Err(e) => return Err(io_error(Path::new(&file), &e)),
            },
            Ok(_) => done.kept.push(format!(
                "{file} (no longer written by Headroom: left as it is)"
            )),
            Err(_) => {}
        }
    }
    record.retain(|e| !matches(e));
    save_record(data_dir, &record)?;
    remove_unused_bundles(data_dir, &record);
    Ok(done)
}

/// Every environment in the record, with stale builds and missing files flagged.
pub fn status(data_dir: &Path) -> Result<Vec<EnvironmentStatus>, InstallError> {
    let current = bundle_id();
    Ok(load_record(data_dir)?
        .into_iter()
        .map(|env| {
            let mut missing: Vec<String> = env
                .files
                .iter()
                .filter(|f| !Path::new(f).exists())
                .cloned()
                .collect();
            if !Path::new(&env.bundle_dir).is_dir() {
                missing.push(env.bundle_dir.clone());
            }
            EnvironmentStatus {
                stale: env.bundle != current,
                missing,
                env,
            }
        })
        .collect())
}

/// Removes agent folders no environment of the record points at any more.
fn remove_unused_bundles(data_dir: &Path, record: &[EnabledEnvironment]) {
    let home = agent_home(data_dir);
    let Ok(entries) = std::fs::read_dir(&home) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let used = record.iter().any(|e| Path::new(&e.bundle_dir) == path);
        if path.is_dir() && !name.starts_with('.') && !used {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// `path` made absolute against the current directory (not resolved: a venv's `bin/python`
/// is a symlink whose own path is what selects the venv).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    if path.components().count() == 1 {
        if let Some(found) = which(path) {
            return found;
        }
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A bare command name looked up in `PATH`, as a shell would.
fn which(name: &Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The interpreter of the environment an MLX process runs in, from the executable it runs
/// (`exe`, symlinks resolved by the kernel) and the path of the MLX library it loaded
/// (`mlx_lib`, `…/site-packages/mlx/lib/libmlx.*`).
///
/// A venv's `bin/python` is a symlink to a base interpreter, so `exe` alone names the base
/// environment; the library's path names the environment MLX was installed in: when its
/// prefix (three levels above `site-packages`) holds `pyvenv.cfg`, that venv's `bin/python`
/// is the interpreter. Otherwise (conda, pyenv, Homebrew, a bundled Python) `exe` is.
pub fn interpreter_from_paths(
    exe: &Path,
    mlx_lib: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> PathBuf {
    let site = mlx_lib.and_then(|lib| {
        lib.ancestors().find(|a| {
            a.file_name()
                .is_some_and(|n| n == "site-packages" || n == "dist-packages")
        })
    });
    if let Some(prefix) = site.and_then(|s| s.ancestors().nth(3)) {
        if exists(&prefix.join("pyvenv.cfg")) {
            for name in ["python3", "python"] {
                let candidate = prefix.join("bin").join(name);
                if exists(&candidate) {
                    return candidate;
                }
            }
        }
    }
    exe.to_path_buf()
}

/// The interpreter of the environment process `pid` runs MLX from, found from the process
/// itself: its executable (Linux `/proc/<pid>/exe`, macOS `proc_pidpath`) and the MLX library
/// it mapped ([`interpreter_from_paths`]).
pub fn interpreter_of(pid: u32) -> Result<PathBuf, InstallError> {
    let exe = super::scan::executable_of(pid).ok_or_else(|| InstallError::NoSuchProcess {
        pid,
        detail: "no such process of yours, or its executable is unreadable".into(),
    })?;
    let lib = super::scan::mlx_library_of(pid);
    Ok(interpreter_from_paths(&exe, lib.as_deref(), |p| p.exists()))
}

/// "Enable for this Python" from a UI: `pid` must be an MLX process of `snapshot` without an
/// agent (so a client can only make Headroom run the interpreter of a program the user
/// already runs, never a path of its choosing); its interpreter is found from the process
/// ([`interpreter_of`]) and enabled with Headroom's data directory. Shared by `headroom serve`
/// and the app.
pub fn enable_for_process(
    snapshot: &crate::Snapshot,
    pid: u32,
    data_dir: &Path,
) -> Result<EnabledEnvironment, InstallError> {
    match snapshot.mlx.iter().find(|p| p.pid == pid) {
        None => Err(InstallError::NoSuchProcess {
            pid,
            detail: "it is not an MLX process of yours in the latest sample".into(),
        }),
        Some(p) if p.attached => Err(InstallError::NoSuchProcess {
            pid,
            detail: "it already has the agent".into(),
        }),
        Some(_) => enable(&interpreter_of(pid)?, data_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_agent_is_the_package_and_the_hook() {
        assert!(AGENT_FILES.iter().any(|(p, _)| *p == "_headroom_hook.py"));
        assert!(AGENT_FILES
            .iter()
            .any(|(p, _)| *p == "headroom_agent/__init__.py"));
        assert!(AGENT_FILES.iter().all(|(p, _)| !p.contains("__pycache__")));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../agent/headroom_agent");
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".py") {
                let rel = format!("headroom_agent/{name}");
                assert!(
                    AGENT_FILES.iter().any(|(p, _)| *p == rel),
                    "{rel} not embedded"
                );
            }
        }
        assert_eq!(
            version_from_source("__version__ = \"0.1.0\"\n"),
            Some("0.1.0")
        );
        assert_eq!(version_from_source("x = 1\n"), None);
        assert_ne!(agent_version(), "unknown");
        assert!(bundle_id().starts_with(agent_version()));
    }

    #[test]
    fn ownership_refusals_name_the_reason() {
        let p = Path::new("/usr/bin/python3");
        let d = Path::new("/usr/lib/python3/dist-packages");
        let facts = |owner, me, sip| DirFacts { owner, me, sip };
        assert_eq!(check_ownership(p, d, facts(501, 501, false)), Ok(()));
        let sip = check_ownership(p, d, facts(0, 501, true)).unwrap_err();
        assert!(
            sip.to_string().contains("System Integrity Protection"),
            "{sip}"
        );
        let sys = check_ownership(p, d, facts(0, 501, false)).unwrap_err();
        assert!(sys.to_string().contains("system's Python"), "{sys}");
        assert!(sys.to_string().contains("python3 -m venv"), "{sys}");
        let other = check_ownership(p, d, facts(502, 501, false)).unwrap_err();
        assert!(
            other.to_string().contains("another user (uid 502)"),
            "{other}"
        );
        // root enabling someone else's venv would leave root-owned files in it
        assert!(matches!(
            check_ownership(p, d, facts(502, 0, false)),
            Err(InstallError::OtherUser { .. })
        ));
        assert!(sip_protected(Path::new("/usr/lib/python3.9/site-packages")));
        assert!(sip_protected(Path::new(
            "/System/Library/Frameworks/Python.framework"
        )));
        assert!(!sip_protected(Path::new(
            "/usr/local/lib/python3.12/site-packages"
        )));
        assert!(!sip_protected(Path::new(
            "/opt/homebrew/lib/python3.12/site-packages"
        )));
        assert!(!sip_protected(Path::new("/usrx/lib")));
    }

    #[test]
    fn the_probe_output_is_found_among_other_lines() {
        let out = "a .pth printed this\nHEADROOM-PROBE {\"executable\": \"/v/bin/python\", \"version\": [3, 9, 18], \"prefix\": \"/v\", \"purelib\": \"/v/lib/python3.9/site-packages\", \"site_packages\": [\"/v/lib/python3.9/site-packages\"]}\n";
        let i = parse_probe(Path::new("/v/bin/python"), out).unwrap();
        assert_eq!(i.version_text(), "3.9.18");
        assert!(!i.at_least(MIN_PYTHON));
        assert!(i.at_least((3, 9)));
        assert_eq!(
            i.target_dir(),
            Some(PathBuf::from("/v/lib/python3.9/site-packages"))
        );
        let err = parse_probe(Path::new("/bin/sh"), "hello\n").unwrap_err();
        assert!(
            err.to_string().contains("not a Python interpreter"),
            "{err}"
        );
        // purelib that site does not read (e.g. a Debian scheme): the first site dir instead
        let mut j = i.clone();
        j.purelib = Some("/elsewhere".into());
        j.site_packages = vec!["/a".into(), "/b".into()];
        assert_eq!(j.target_dir(), Some(PathBuf::from("/a")));
        j.site_packages.clear();
        assert_eq!(j.target_dir(), None);
    }

    #[test]
    fn the_interpreter_of_a_venv_process_is_the_venv_python() {
        let exists = |p: &Path| {
            [
                "/home/u/mlx/pyvenv.cfg",
                "/home/u/mlx/bin/python3",
                "/home/u/mlx/bin/python",
            ]
            .contains(&p.to_str().unwrap_or(""))
        };
        let exe = Path::new("/usr/lib/python3.12/bin/python3.12");
        let lib = Path::new("/home/u/mlx/lib/python3.12/site-packages/mlx/lib/libmlx.so");
        assert_eq!(
            interpreter_from_paths(exe, Some(lib), exists),
            PathBuf::from("/home/u/mlx/bin/python3")
        );
        // conda / pyenv / Homebrew: no pyvenv.cfg, the executable is the environment's own
        let conda =
            Path::new("/opt/conda/envs/m/lib/python3.12/site-packages/mlx/lib/libmlx.dylib");
        assert_eq!(interpreter_from_paths(exe, Some(conda), exists), exe);
        assert_eq!(interpreter_from_paths(exe, None, exists), exe);
    }

    #[test]
    fn the_pth_file_has_one_path_line_and_one_import_line() {
        let text = pth_text(Path::new("/d/agent/0.1.0-abc"), Path::new("/v/bin/python")).unwrap();
        assert!(pth_text(Path::new("/d/it's"), Path::new("/v/bin/python")).is_err());
        let sneaky = pth_text(Path::new("/d/a"), Path::new("/v\nimport os")).unwrap();
        assert_eq!(
            sneaky.lines().filter(|l| l.starts_with("import")).count(),
            1
        );
        assert!(text.starts_with(MARKER));
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "/d/agent/0.1.0-abc");
        assert!(lines[1].starts_with("import sys; "), "{}", lines[1]);
        let start = start_text(Path::new("/v/bin/python"));
        let entries: Vec<&str> = start.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(entries, vec!["_headroom_hook:install"]);
    }
}
