//! `headroom serve --install / --uninstall`: a per-user service that runs `headroom serve`.
//!
//! - Linux: a systemd user unit `~/.config/systemd/user/headroom.service` (respects
//!   `XDG_CONFIG_HOME`), then `systemctl --user daemon-reload` and `enable --now`.
//! - macOS: a launchd agent `~/Library/LaunchAgents/<LAUNCHD_LABEL>.plist`, then
//!   `launchctl bootstrap gui/<uid> <plist>`; logs go to `~/Library/Logs/Headroom/serve.log`.
//!
//! When the service manager cannot be run (no `systemctl`, no user session), the file is
//! still written and the report says which command to run. A token, if any, is written into
//! the file's environment, and the file is then readable by its owner only.

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

/// Runs a command; `Ok(Some(true))` on success, `Ok(Some(false))` when it exited non-zero.
pub type Runner<'a> = &'a dyn Fn(&str, &[String]) -> io::Result<bool>;

/// Runs a real command, inheriting stderr.
pub fn run_command(program: &str, args: &[String]) -> io::Result<bool> {
    Ok(Command::new(program).args(args).status()?.success())
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
         \x20 <key>ProcessType</key>\n  <string>Background</string>\n\
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
fn run_steps(run: Runner<'_>, steps: &[(&str, Vec<String>)], report: &mut Vec<String>) -> bool {
    for (program, args) in steps {
        let line = format!("{program} {}", args.join(" "));
        match run(program, args) {
            Ok(true) => report.push(format!("ran: {line}")),
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
    }
    true
}

/// Writes the service file and starts it; returns what happened, line by line.
pub fn install(kind: ServiceKind, spec: &ServiceSpec, run: Runner<'_>) -> io::Result<Vec<String>> {
    let path = service_path(kind, spec);
    let text = match kind {
        ServiceKind::Systemd => systemd_unit(spec),
        ServiceKind::Launchd => launchd_plist(spec),
    };
    write_private(&path, &text, spec.token.is_some())?;
    let mut report = vec![format!("wrote {}", path.display())];
    let p = path.to_string_lossy().into_owned();
    let steps: Vec<(&str, Vec<String>)> = match kind {
        ServiceKind::Systemd => vec![
            ("systemctl", words(&["--user", "daemon-reload"])),
            (
                "systemctl",
                words(&["--user", "enable", "--now", SYSTEMD_UNIT]),
            ),
        ],
        ServiceKind::Launchd => {
            if let Err(e) = std::fs::create_dir_all(spec.home.join("Library/Logs/Headroom")) {
                report.push(format!("cannot create the log folder: {e}"));
            }
            vec![(
                "launchctl",
                vec!["bootstrap".into(), format!("gui/{}", spec.uid), p],
            )]
        }
    };
    if run_steps(run, &steps, &mut report) {
        report.push("headroom serve is installed and running; it starts at login".into());
    }
    Ok(report)
}

/// Stops the service and removes its file; returns what happened, line by line.
pub fn uninstall(
    kind: ServiceKind,
    spec: &ServiceSpec,
    run: Runner<'_>,
) -> io::Result<Vec<String>> {
    let path = service_path(kind, spec);
    let mut report = Vec::new();
    let stop: (&str, Vec<String>) = match kind {
        ServiceKind::Systemd => (
            "systemctl",
            words(&["--user", "disable", "--now", SYSTEMD_UNIT]),
        ),
        ServiceKind::Launchd => (
            "launchctl",
            vec![
                "bootout".into(),
                format!("gui/{}/{LAUNCHD_LABEL}", spec.uid),
            ],
        ),
    };
    run_steps(run, &[stop], &mut report);
    match std::fs::remove_file(&path) {
        Ok(()) => report.push(format!("removed {}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.push(format!("{} was not installed", path.display()))
        }
        Err(e) => return Err(e),
    }
    if kind == ServiceKind::Systemd {
        run_steps(
            run,
            &[("systemctl", words(&["--user", "daemon-reload"]))],
            &mut report,
        );
    }
    Ok(report)
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_owned()).collect()
}
