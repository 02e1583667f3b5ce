//! `headroom serve --install / --uninstall`: a per-user service that runs `headroom serve`.
//!
//! - Linux: a systemd user unit `~/.config/systemd/user/headroom.service` (respects
//!   `XDG_CONFIG_HOME`), then `systemctl --user daemon-reload` and `enable --now`.
//! - macOS: a launchd agent `~/Library/LaunchAgents/<LAUNCHD_LABEL>.plist`, then
//!   [`launchd_install_steps`]: `launchctl bootout` of a job already loaded, a wait until
//!   `launchctl print` no longer finds it, then `launchctl bootstrap gui/<uid> <plist>`
//!   (bootstrapping a label that is still loaded fails with "Bootstrap failed: 5", and
//!   bootout returns before the job is gone: `man launchctl`). Logs go to
//!   `~/Library/Logs/Headroom/serve.log`. The job has `ProcessType` `Interactive`: launchd
//!   throttles `Background` jobs' CPU and I/O, and a job without `ProcessType` still gets light
//!   limits (`man launchd.plist`, key `ProcessType`), while a sampler must run on time.
//!
//! Both are repeatable: installing again replaces the file and restarts the service with it.
//! When the service manager cannot be run or fails, the file is still written, the report
//! says which command to run, and [`ServiceReport::ok`] is false (the CLI exits 1). A token,
//! if any, is written into the file's environment, and the file is then readable by its
//! owner only.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The systemd unit name.
pub const SYSTEMD_UNIT: &str = "headroom.service";
/// The launchd label.
pub const LAUNCHD_LABEL: &str = "dev.headroom.serve";

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// systemd user instance (Linux).
    Systemd,
    /// launchd per-user agent (macOS).
    Launchd,
}

impl ServiceKind {
    /// The service manager of the platform this binary was built for.
    pub fn native() -> Self {
        if cfg!(target_os = "macos") {
            Self::Launchd
        } else {
            Self::Systemd
        }
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The user's home directory.
    pub home: PathBuf,
    /// `XDG_CONFIG_HOME`, when set (systemd only).
    pub xdg_config_home: Option<PathBuf>,
    /// The `headroom` executable.
    pub exe: PathBuf,
    /// Arguments after `headroom serve` (e.g. `--listen 127.0.0.1:9178`).
    pub args: Vec<String>,
    /// Token to put in the service's environment (`HEADROOM_TOKEN`).
    pub token: Option<String>,
    /// The user id (launchd domain `gui/<uid>`).
    pub uid: u32,
}

/// Runs a command (`program`, its arguments, whether its output is shown); `Ok(true)` on
/// success, `Ok(false)` when it exited non-zero.
pub type Runner<'a> = &'a dyn Fn(&str, &[String], Output) -> io::Result<bool>;

/// Whether a step's output reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Standard error is shown (standard output is not: these tools say nothing useful there).
    Errors,
    /// Nothing is shown: a probe whose failure is the expected answer.
    Silent,
}

/// Runs a real command.
pub fn run_command(program: &str, args: &[String], output: Output) -> io::Result<bool> {
    use std::process::Stdio;
    let stderr = match output {
        Output::Errors => Stdio::inherit(),
        Output::Silent => Stdio::null(),
    };
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()?;
    Ok(status.success())
}

/// What installing or removing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    /// What happened, line by line.
    pub lines: Vec<String>,
    /// Whether every service-manager step succeeded.
    pub ok: bool,
}

/// One service-manager command and how its result is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Must succeed; a failure stops the sequence.
    Run(Vec<String>),
    /// May fail (for example stopping a job that is not loaded).
    Try(Vec<String>),
    /// Repeated until it fails (the job is gone), at most `tries` times `interval_ms` apart;
    /// still succeeding after that is a failure.
    UntilFails {
        /// The probe.
        argv: Vec<String>,
        /// How many probes at most.
        tries: u32,
        /// Milliseconds between probes.
        interval_ms: u64,
    },
}

/// How long [`launchd_install_steps`] waits for a booted-out job to be gone: 50 × 100 ms.
pub const LAUNCHD_GONE_TRIES: u32 = 50;
const LAUNCHD_GONE_INTERVAL_MS: u64 = 100;

/// The launchctl commands that (re)install the agent: stop a loaded job (it may not be
/// loaded), wait until launchd no longer knows it, then bootstrap the plist.
pub fn launchd_install_steps(uid: u32, plist: &Path) -> Vec<Step> {
    let service = format!("gui/{uid}/{LAUNCHD_LABEL}");
    vec![
        Step::Try(argv(&["launchctl", "bootout", &service])),
        Step::UntilFails {
            argv: argv(&["launchctl", "print", &service]),
            tries: LAUNCHD_GONE_TRIES,
            interval_ms: LAUNCHD_GONE_INTERVAL_MS,
        },
        Step::Run(argv(&[
            "launchctl",
            "bootstrap",
            &format!("gui/{uid}"),
            &plist.to_string_lossy(),
        ])),
    ]
}

/// The systemctl commands that (re)install the unit: reload unit files, enable it, and
/// restart it so a changed unit takes effect.
pub fn systemd_install_steps() -> Vec<Step> {
    vec![
        Step::Run(argv(&["systemctl", "--user", "daemon-reload"])),
        Step::Run(argv(&["systemctl", "--user", "enable", SYSTEMD_UNIT])),
        Step::Run(argv(&["systemctl", "--user", "restart", SYSTEMD_UNIT])),
    ]
}

fn argv(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_owned()).collect()
}

/// Where the service file goes.
pub fn service_path(kind: ServiceKind, spec: &ServiceSpec) -> PathBuf {
    match kind {
        ServiceKind::Systemd => spec
            .xdg_config_home
            .clone()
            .unwrap_or_else(|| spec.home.join(".config"))
            .join("systemd/user")
            .join(SYSTEMD_UNIT),
        ServiceKind::Launchd => spec
            .home
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist")),
    }
}

fn systemd_quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    format!("\"{escaped}\"")
}

/// The systemd user unit text.
pub fn systemd_unit(spec: &ServiceSpec) -> String {
    let mut exec = vec![systemd_quote(&spec.exe.to_string_lossy()), "serve".into()];
    exec.extend(spec.args.iter().map(|a| systemd_quote(a)));
    let env = spec
        .token
        .as_ref()
        .map(|t| {
            format!(
                "Environment={}\n",
                systemd_quote(&format!("HEADROOM_TOKEN={t}"))
            )
        })
        .unwrap_or_default();
    format!(
        "# Written by `headroom serve --install`; remove with `headroom serve --uninstall`.\n\
         [Unit]\n\
         Description=Headroom: unified-memory monitor (HTTP API, /metrics, web UI)\n\
         After=default.target\n\n\
         [Service]\n\
         Type=exec\n\
         ExecStart={}\n\
         {env}Restart=on-failure\n\
         RestartSec=5\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=20\n\n\
         [Install]\n\
         WantedBy=default.target\n",
        exec.join(" ")
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd agent plist text.
pub fn launchd_plist(spec: &ServiceSpec) -> String {
    let mut args = vec![spec.exe.to_string_lossy().into_owned(), "serve".into()];
    args.extend(spec.args.iter().cloned());
    let args: String = args
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml_escape(a)))
        .collect();
    let env = spec
        .token
        .as_ref()
        .map(|t| {
            format!(
                "  <key>EnvironmentVariables</key>\n  <dict>\n    <key>HEADROOM_TOKEN</key>\n    \
                 <string>{}</string>\n  </dict>\n",
                xml_escape(t)
            )
        })
        .unwrap_or_default();
    let log = xml_escape(
        &spec
            .home
            .join("Library/Logs/Headroom/serve.log")
            .to_string_lossy(),
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         \x20 <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n\
         \x20 <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n\
         {env}\
         \x20 <key>RunAtLoad</key>\n  <true/>\n\
         \x20 <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n\
         \x20 <key>ProcessType</key>\n  <string>Interactive</string>\n\
         \x20 <key>StandardErrorPath</key>\n  <string>{log}</string>\n\
         </dict>\n</plist>\n"
    )
}

fn write_private(path: &Path, text: &str, private: bool) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    std::fs::rename(&tmp, path)
}

/// Runs each step; stops at the first failure and says what to run by hand.
pub fn run_steps(run: Runner<'_>, steps: &[Step], report: &mut Vec<String>) -> bool {
    steps.iter().all(|step| run_step(run, step, report))
}

fn run_step(run: Runner<'_>, step: &Step, report: &mut Vec<String>) -> bool {
    match step {
        Step::Run(argv) => run_reported(run, argv, report, true),
        Step::Try(argv) => {
            run_reported(run, argv, report, false);
            true
        }
        Step::UntilFails {
            argv,
            tries,
            interval_ms,
        } => wait_until_fails(run, argv, *tries, *interval_ms, report),
    }
}

fn run_reported(run: Runner<'_>, argv: &[String], report: &mut Vec<String>, must: bool) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let line = argv.join(" ");
    match run(program, args, Output::Errors) {
        Ok(true) => report.push(format!("ran: {line}")),
        Ok(false) if !must => report.push(format!("ran: {line} (nothing to stop)")),
        Ok(false) => {
            report.push(format!("failed: {line}; run it yourself to see why"));
            return false;
        }
        Err(e) => {
            report.push(format!(
                "could not run {program} ({e}); run yourself: {line}"
            ));
            return false;
        }
    }
    true
}

fn wait_until_fails(
    run: Runner<'_>,
    argv: &[String],
    tries: u32,
    interval_ms: u64,
    report: &mut Vec<String>,
) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    for n in 0..tries {
        match run(program, args, Output::Silent) {
            Ok(true) => std::thread::sleep(std::time::Duration::from_millis(interval_ms)),
            Ok(false) => {
                report.push(format!("gone after {} check(s): {}", n + 1, argv.join(" ")));
                return true;
            }
            Err(e) => {
                report.push(format!("could not run {program} ({e})"));
                return false;
            }
        }
    }
    report.push(format!(
        "still loaded after {} ms: {}; stop it with `launchctl bootout` and install again",
        u64::from(tries) * interval_ms,
        argv.join(" ")
    ));
    false
}

/// Writes the service file and (re)starts it; returns what happened.
pub fn install(
    kind: ServiceKind,
    spec: &ServiceSpec,
    run: Runner<'_>,
) -> io::Result<ServiceReport> {
    let path = service_path(kind, spec);
    let text = match kind {
        ServiceKind::Systemd => systemd_unit(spec),
        ServiceKind::Launchd => launchd_plist(spec),
    };
    write_private(&path, &text, spec.token.is_some())?;
    let mut lines = vec![format!("wrote {}", path.display())];
    let steps = match kind {
        ServiceKind::Systemd => systemd_install_steps(),
        ServiceKind::Launchd => {
            if let Err(e) = std::fs::create_dir_all(spec.home.join("Library/Logs/Headroom")) {
                lines.push(format!("cannot create the log folder: {e}"));
            }
            launchd_install_steps(spec.uid, &path)
        }
    };
    let ok = run_steps(run, &steps, &mut lines);
    if ok {
        lines.push("headroom serve is installed and running; it starts at login".into());
    }
    Ok(ServiceReport { lines, ok })
}

/// Stops the service and removes its file; returns what happened.
pub fn uninstall(
    kind: ServiceKind,
    spec: &ServiceSpec,
    run: Runner<'_>,
) -> io::Result<ServiceReport> {
    let path = service_path(kind, spec);
    let mut report = Vec::new();
    let stop = match kind {
        ServiceKind::Systemd => argv(&["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT]),
        ServiceKind::Launchd => argv(&[
            "launchctl",
            "bootout",
            &format!("gui/{}/{LAUNCHD_LABEL}", spec.uid),
        ]),
    };
    // Stopping may find nothing loaded: the file is what uninstalling removes for sure.
    let mut ok = run_steps(run, &[Step::Try(stop)], &mut report);
    match std::fs::remove_file(&path) {
        Ok(()) => report.push(format!("removed {}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.push(format!("{} was not installed", path.display()))
        }
        Err(e) => return Err(e),
    }
    if kind == ServiceKind::Systemd {
        let reload = Step::Run(argv(&["systemctl", "--user", "daemon-reload"]));
        ok &= run_steps(run, &[reload], &mut report);
    }
    Ok(ServiceReport { lines: report, ok })
}
