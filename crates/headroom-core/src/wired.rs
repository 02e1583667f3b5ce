//! The system GPU wired limit (`iogpu.wired_limit_mb`, macOS on Apple Silicon).
//!
//! - **What it is**: how much memory Metal may keep wired (pinned) for the GPU. `0` means the
//!   macOS default is in force; the value resets at reboot; setting it needs root. Metal's
//!   `recommendedMaxWorkingSetSize` (MLX's `max_recommended_working_set_size`) follows it,
//!   which is why the *effective* value is read from an attached MLX agent.
//! - **Validation** (every platform, pure): a whole number of MB (the sysctl's unit is MiB),
//!   at least [`FLOOR_MB`], at most physical memory minus [`minimum_reserve`].
//! - **Suggestion** (pure): leave macOS [`suggested_reserve`] = max(8 GiB, 25 %) — seed 003's
//!   table (24 GB → 16 GB, 32 → 24, 64 → 48, 96 → 72) is exactly that rule, and seed 001
//!   reserves 8 GB for the system — and never suggest lowering a default that is already
//!   higher (measured defaults: ~10.7 GB on 16 GB, ~107.5 GiB on 128 GiB).
//! - **Setting**: one fixed command with one checked integer, run through a [`Runner`] (no
//!   shell string is built from input: [`CheckedMb`] can only be made by validation):
//!   `/usr/bin/osascript -e 'do shell script "/usr/sbin/sysctl -w iogpu.wired_limit_mb=N"
//!   with administrator privileges'`, then `/usr/sbin/sysctl -n iogpu.wired_limit_mb` reads
//!   the value back ([`apply`]). Over SSH, where that dialog cannot appear, the same fixed
//!   `sysctl` argv runs through `sudo` when standard input is a terminal, else the exact
//!   command is printed ([`privilege_route`]).
//! - **Which sysctl** ([`wired_limit_from_sysctls`]): `iogpu.wired_limit_mb` (MB), which MLX
//!   documents as the way to raise the system wired limit (`python/src/memory.cpp`,
//!   `set_wired_limit`'s docstring), is present from macOS 14. On macOS 13 several projects
//!   report `debug.iogpu.wired_limit` (bytes) instead, but no primary source confirms it
//!   (the IOGPU driver is not in xnu), so Headroom shows that value and never writes it:
//!   changing the limit needs macOS 14 or later.
//! - **Running processes keep their ceiling**: MLX computes `device_info()` (with
//!   `max_recommended_working_set_size`) once per process, in a function-local static
//!   (`mlx/backend/metal/device_info.cpp`), and checks `set_wired_limit` against it. After the
//!   sysctl changes, the sysctl value is the limit for *new* processes and each running MLX
//!   process whose ceiling differs is marked "restart to use the new limit"
//!   ([`mark_restart_needed`]).

use crate::config::WiredLimitConfig;
use crate::snapshot::{Platform, Snapshot};
use crate::units::format_bytes;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The sysctl's name.
pub const SYSCTL_NAME: &str = "iogpu.wired_limit_mb";
/// The name reported for macOS 13 (bytes); shown, never written.
pub const MACOS13_SYSCTL_NAME: &str = "debug.iogpu.wired_limit";
/// Said where only the macOS 13 sysctl exists.
pub const NEEDS_MACOS_14: &str = "changing the GPU wired limit needs macOS 14 or later \
    (iogpu.wired_limit_mb); on macOS 13 Headroom only shows debug.iogpu.wired_limit";
/// What a running MLX process needs after the system limit changed.
pub const RESTART_TO_USE: &str = "restart to use the new limit";
/// The only program run with administrator rights is `sysctl`, at this absolute path.
pub const SYSCTL: &str = "/usr/sbin/sysctl";
/// The program that asks for the administrator password.
pub const OSASCRIPT: &str = "/usr/bin/osascript";
/// The smallest wired limit accepted, in MB (1 GiB): below it Metal could not hold even a
/// small model, and a typo such as `48` (meant as GB) is caught.
pub const FLOOR_MB: u64 = 1024;
/// Said wherever the limit is shown or set.
pub const RESETS_AT_REBOOT: &str =
    "iogpu.wired_limit_mb returns to the macOS default (0) at every reboot";

/// The unit of a wired-limit sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysctlUnit {
    /// Mebibytes (`iogpu.wired_limit_mb`).
    Megabytes,
    /// Bytes (`debug.iogpu.wired_limit`).
    Bytes,
}

impl SysctlUnit {
    /// `value` in bytes.
    pub fn to_bytes(self, value: u64) -> u64 {
        match self {
            Self::Megabytes => value.saturating_mul(MIB),
            Self::Bytes => value,
        }
    }
}

/// A wired-limit sysctl found on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WiredSysctl {
    /// Its name.
    pub name: &'static str,
    /// Its unit.
    pub unit: SysctlUnit,
    /// Whether Headroom may write it (only `iogpu.wired_limit_mb`, macOS 14 and later).
    pub settable: bool,
}

/// `iogpu.wired_limit_mb`: MB, macOS 14 and later.
pub const IOGPU_WIRED_LIMIT_MB: WiredSysctl = WiredSysctl {
    name: SYSCTL_NAME,
    unit: SysctlUnit::Megabytes,
    settable: true,
};
/// `debug.iogpu.wired_limit`: bytes, reported for macOS 13; read only.
pub const DEBUG_IOGPU_WIRED_LIMIT: WiredSysctl = WiredSysctl {
    name: MACOS13_SYSCTL_NAME,
    unit: SysctlUnit::Bytes,
    settable: false,
};

/// The sysctl that holds the wired limit and its value in bytes, from the raw values of
/// `iogpu.wired_limit_mb` (MB) and `debug.iogpu.wired_limit` (bytes) where readable:
/// the first wins; `None` when neither exists (Intel Macs, Linux).
pub fn wired_limit_from_sysctls(
    iogpu_mb: Option<u64>,
    debug_bytes: Option<u64>,
) -> Option<(WiredSysctl, u64)> {
    [
        (IOGPU_WIRED_LIMIT_MB, iogpu_mb),
        (DEBUG_IOGPU_WIRED_LIMIT, debug_bytes),
    ]
    .into_iter()
    .find_map(|(sysctl, raw)| raw.map(|v| (sysctl, sysctl.unit.to_bytes(v))))
}

/// The sysctl of that name, if Headroom knows it.
pub fn sysctl_named(name: &str) -> Option<WiredSysctl> {
    [IOGPU_WIRED_LIMIT_MB, DEBUG_IOGPU_WIRED_LIMIT]
        .into_iter()
        .find(|s| s.name == name)
}

/// Why Headroom cannot change the limit here when a reason beyond "no such sysctl" applies:
/// only macOS 13's `debug.iogpu.wired_limit` was found.
pub fn why_unsupported(info: &WiredLimitInfo) -> Option<&'static str> {
    (info.sysctl.as_deref() == Some(MACOS13_SYSCTL_NAME)).then_some(NEEDS_MACOS_14)
}

/// Whether a process whose ceiling is `working_set` (MLX's `max_recommended_working_set_size`,
/// read when it started) must restart to use the system wired limit `system_limit` (bytes;
/// 0 = the macOS default). Metal's recommended working set follows `iogpu.wired_limit_mb`
/// when it is set, so a ceiling more than max(64 MiB, 1 %) away from it was read under
/// another value. Under the default (0) the value a new process would get is unknown, and
/// nothing is marked.
pub fn restart_needed(working_set: Option<u64>, system_limit: Option<u64>) -> bool {
    match (working_set, system_limit) {
        (Some(ws), Some(limit)) if limit > 0 => ws.abs_diff(limit) > (64 * MIB).max(limit / 100),
        _ => false,
    }
}

/// Marks each MLX process of `snapshot` that keeps an old ceiling ([`restart_needed`]).
pub fn mark_restart_needed(snapshot: &mut Snapshot) {
    let limit = snapshot.gpu.wired_limit;
    for p in &mut snapshot.mlx {
        p.restart_for_wired_limit = restart_needed(p.working_set, limit);
    }
}

/// How the privileged `sysctl` is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivilegeRoute {
    /// macOS's administrator dialog (`osascript … with administrator privileges`): needs a
    /// GUI login session.
    AdminDialog,
    /// `sudo` on the terminal (over SSH, with a terminal on standard input).
    Sudo,
    /// Nothing can ask for the password here: print the exact command to run.
    PrintCommand,
}

/// Chooses how to ask for administrator rights. Over SSH (or anywhere without a GUI session)
/// `do shell script … with administrator privileges` cannot show its dialog: with a terminal
/// on standard input `sudo` asks instead; without one the command is printed.
pub fn privilege_route(gui_session: bool, stdin_is_terminal: bool) -> PrivilegeRoute {
    match (gui_session, stdin_is_terminal) {
        (true, _) => PrivilegeRoute::AdminDialog,
        (false, true) => PrivilegeRoute::Sudo,
        (false, false) => PrivilegeRoute::PrintCommand,
    }
}

/// Whether this process can show macOS's GUI dialogs, judged from its environment: not in an
/// SSH session (`SSH_CONNECTION`, `SSH_CLIENT` or `SSH_TTY` set by sshd).
pub fn gui_session_from_env(var: impl Fn(&str) -> Option<String>) -> bool {
    ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
        .iter()
        .all(|k| !matches!(var(k), Some(v) if !v.is_empty()))
}

/// The `sysctl` argv that sets the limit (run as root by `sudo` or the dialog).
pub fn sysctl_set_argv(mb: CheckedMb) -> Vec<String> {
    vec![
        SYSCTL.into(),
        "-w".into(),
        format!("{SYSCTL_NAME}={}", mb.get()),
    ]
}

/// The argv for `route`: the dialog wraps [`sysctl_set_argv`] in osascript, `sudo` prefixes
/// it; `None` for [`PrivilegeRoute::PrintCommand`].
pub fn privileged_argv(route: PrivilegeRoute, mb: CheckedMb) -> Option<Vec<String>> {
    match route {
        PrivilegeRoute::AdminDialog => Some(set_argv(mb)),
        PrivilegeRoute::Sudo => {
            let mut argv = vec![SUDO.to_string()];
            argv.extend(sysctl_set_argv(mb));
            Some(argv)
        }
        PrivilegeRoute::PrintCommand => None,
    }
}

/// Who asks for the password on `route`, for the confirmation question.
pub fn who_asks_for_the_password(route: PrivilegeRoute) -> &'static str {
    match route {
        PrivilegeRoute::Sudo => "sudo will ask for your password on this terminal",
        _ => "macOS will ask for an administrator password",
    }
}

/// The command a person runs by hand (printed when nothing can ask for the password).
pub fn manual_command(mb: CheckedMb) -> String {
    format!("sudo {}", sysctl_set_argv(mb).join(" "))
}

/// `sudo`, at its absolute path.
pub const SUDO: &str = "/usr/bin/sudo";

/// A wired-limit value that failed validation; the message names the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WiredLimitError(pub String);

/// The reserve left to macOS by the *suggested* value: max(8 GiB, 25 % of physical memory)
/// (seed 001 "reserve 8GB for system"; seed 003 "macOS reserves 25-30 %" and its table).
pub fn suggested_reserve(physical: u64) -> u64 {
    (8 * GIB).max(physical / 4)
}

/// The reserve every accepted value leaves to macOS: min(8 GiB, 25 % of physical memory), the
/// smaller of the seeds' two reserves (so a 16 GB Mac may go to 12 GB, a 128 GB one to 120 GB).
pub fn minimum_reserve(physical: u64) -> u64 {
    (8 * GIB).min(physical / 4)
}

/// The largest accepted value in MB for `physical` bytes of memory.
pub fn max_mb(physical: u64) -> u64 {
    physical.saturating_sub(minimum_reserve(physical)) / MIB
}

/// A wired limit in MB that passed validation (or `0`, the macOS default). The privileged
/// command is built only from this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedMb(u64);

impl CheckedMb {
    /// `0`: return to the macOS default (`headroom wired-limit reset`).
    pub const RESET: CheckedMb = CheckedMb(0);

    /// The value in MB.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Parses a size for `wired-limit set`: a bare integer is MB (the sysctl's unit, so
/// `49152` works as in every guide); with a unit (`48GB`, `48G`, `49152MB`, `1.5G`) powers of
/// 1024. The result must be a whole number of MB.
pub fn parse_mb(input: &str) -> Result<u64, WiredLimitError> {
    let s = input.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| {
            WiredLimitError(format!("wired limit {input:?} is too large a number of MB"))
        });
    }
    let bytes = crate::units::parse_size(s).map_err(|e| {
        WiredLimitError(format!(
            "invalid wired limit {input:?}: expected MB as a whole number (49152) or a size \
             with a unit (48GB, 48G, 49152MB); {e}"
        ))
    })?;
    if bytes % MIB != 0 {
        return Err(WiredLimitError(format!(
            "wired limit {input:?} is not a whole number of MB ({bytes} bytes); \
             iogpu.wired_limit_mb takes whole MB, e.g. {}",
            bytes / MIB
        )));
    }
    Ok(bytes / MIB)
}

/// Checks `mb` against the floor and `physical` memory.
pub fn validate(mb: u64, physical: u64) -> Result<CheckedMb, WiredLimitError> {
    let max = max_mb(physical);
    let allowed = format!(
        "allowed: {FLOOR_MB}..={max} MB on this machine ({} physical, at least {} left for \
         macOS)",
        format_bytes(physical),
        format_bytes(minimum_reserve(physical))
    );
    if mb == 0 {
        return Err(WiredLimitError(format!(
            "wired limit 0 MB means the macOS default: use `headroom wired-limit reset`; {allowed}"
        )));
    }
    if max < FLOOR_MB {
        return Err(WiredLimitError(format!(
            "this machine's memory ({}) is too small to raise the wired limit",
            format_bytes(physical)
        )));
    }
    if mb < FLOOR_MB {
        return Err(WiredLimitError(format!(
            "wired limit {mb} MB is below the floor of {FLOOR_MB} MB (1 GB); {allowed} \
             (did you mean {mb} GB = {} MB?)",
            mb.saturating_mul(1024)
        )));
    }
    if mb > max {
        return Err(WiredLimitError(format!(
            "wired limit {mb} MB ({}) would leave macOS less than {}; {allowed}",
            format_bytes(mb.saturating_mul(MIB)),
            format_bytes(minimum_reserve(physical))
        )));
    }
    Ok(CheckedMb(mb))
}

/// Parses and validates `input`; `physical` is the installed memory when known.
pub fn check(input: &str, physical: Option<u64>) -> Result<CheckedMb, WiredLimitError> {
    let mb = parse_mb(input)?;
    let physical = physical.ok_or_else(|| {
        WiredLimitError(format!(
            "cannot check wired limit {mb} MB: the physical memory size is unknown"
        ))
    })?;
    validate(mb, physical)
}

/// The exact argv that sets the limit with administrator rights (macOS asks for the password).
pub fn set_argv(mb: CheckedMb) -> Vec<String> {
    let script = format!(
        "do shell script \"{}\" with administrator privileges",
        sysctl_set_argv(mb).join(" ")
    );
    vec![OSASCRIPT.into(), "-e".into(), script]
}

/// The argv that reads the limit back (no rights needed).
pub fn read_argv() -> Vec<String> {
    vec![SYSCTL.into(), "-n".into(), SYSCTL_NAME.into()]
}

/// What a finished program gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutput {
    /// Exit status (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs a program given as an argv array (no shell). Injected so tests see the exact argv.
pub trait Runner {
    /// Runs `argv[0]` with `argv[1..]` and waits for it.
    fn run(&mut self, argv: &[String]) -> std::io::Result<RunOutput>;

    /// Runs it on this terminal (standard input, output and error inherited, so `sudo` can
    /// ask for the password); only the exit status is kept.
    fn run_on_terminal(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
        self.run(argv)
    }
}

/// Runs programs for real with [`std::process::Command`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"))?;
        let out = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(RunOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn run_on_terminal(&mut self, argv: &[String]) -> std::io::Result<RunOutput> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"))?;
        let status = std::process::Command::new(program).args(args).status()?;
        Ok(RunOutput {
            code: status.code(),
            ..RunOutput::default()
        })
    }
}

/// What setting the limit did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[ts(export)]
pub enum ApplyOutcome {
    /// Set, and the value read back matches.
    Applied {
        /// The value now in force, MB.
        mb: u64,
    },
    /// The command succeeded but the value read back differs.
    Mismatch {
        /// The value asked for, MB.
        requested_mb: u64,
        /// The value read back, MB.
        read_back_mb: u64,
    },
    /// The password prompt was cancelled: nothing changed.
    Cancelled,
    /// The command failed; nothing is known to have changed.
    Failed {
        /// What went wrong.
        message: String,
    },
    /// The command succeeded but the value could not be read back.
    Unverified {
        /// The value asked for, MB.
        requested_mb: u64,
        /// Why it could not be read back.
        message: String,
    },
}

impl ApplyOutcome {
    /// One sentence for a person.
    pub fn describe(&self) -> String {
        match self {
            Self::Applied { mb: 0 } => {
                "iogpu.wired_limit_mb is 0 again: the macOS default is in force".into()
            }
            Self::Applied { mb } => format!(
                "iogpu.wired_limit_mb is now {mb} ({}), read back from sysctl",
                format_bytes(mb * MIB)
            ),
            Self::Mismatch {
                requested_mb,
                read_back_mb,
            } => format!(
                "asked for {requested_mb} MB but sysctl reads back {read_back_mb} MB: the \
                 kernel did not take the value"
            ),
            Self::Cancelled => "cancelled at the password prompt: nothing changed".into(),
            Self::Failed { message } => format!("could not set the wired limit: {message}"),
            Self::Unverified {
                requested_mb,
                message,
            } => format!("set {requested_mb} MB but could not read it back: {message}"),
        }
    }

    /// Whether the requested value is known to be in force.
    pub fn is_applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }
}

/// Whether osascript's failure is the user cancelling the password prompt (AppleScript error
/// -128, "User canceled.").
pub fn is_cancel(out: &RunOutput) -> bool {
    let e = out.stderr.to_ascii_lowercase();
    out.code == Some(1) && (e.contains("-128") || e.contains("user cancel"))
}

/// Parses the output of `sysctl -n iogpu.wired_limit_mb`.
pub fn parse_read_back(stdout: &str) -> Result<u64, String> {
    let t = stdout.trim();
    t.parse()
        .map_err(|_| format!("sysctl printed {t:?}, expected a whole number of MB"))
}

/// Sets the limit to `mb` through `runner` with the administrator dialog and reads it back.
pub fn apply(runner: &mut dyn Runner, mb: CheckedMb) -> ApplyOutcome {
    apply_via(runner, mb, PrivilegeRoute::AdminDialog)
}

/// Sets the limit to `mb` the way `route` says and reads it back.
pub fn apply_via(runner: &mut dyn Runner, mb: CheckedMb, route: PrivilegeRoute) -> ApplyOutcome {
    let Some(argv) = privileged_argv(route, mb) else {
        return ApplyOutcome::Failed {
            message: format!(
                "no administrator dialog or terminal here: run `{}`",
                manual_command(mb)
            ),
        };
    };
    let program = argv[0].clone();
    let ran = match route {
        PrivilegeRoute::Sudo => runner.run_on_terminal(&argv),
        _ => runner.run(&argv),
    };
    let out = match ran {
        Ok(o) => o,
        Err(e) => {
            return ApplyOutcome::Failed {
                message: format!("cannot run {program}: {e}"),
            }
        }
    };
    if route == PrivilegeRoute::AdminDialog && is_cancel(&out) {
        return ApplyOutcome::Cancelled;
    }
    if out.code != Some(0) {
        let why = out.stderr.trim();
        return ApplyOutcome::Failed {
            message: format!(
                "{program} exited with {} ({})",
                out.code.map_or("a signal".to_string(), |c| c.to_string()),
                if why.is_empty() { "no message" } else { why }
            ),
        };
    }
    read_back(runner, mb.get())
}

fn read_back(runner: &mut dyn Runner, requested_mb: u64) -> ApplyOutcome {
    let unverified = |message: String| ApplyOutcome::Unverified {
        requested_mb,
        message,
    };
    let out = match runner.run(&read_argv()) {
        Ok(o) if o.code == Some(0) => o,
        Ok(o) => return unverified(format!("{SYSCTL} failed: {}", o.stderr.trim())),
        Err(e) => return unverified(format!("cannot run {SYSCTL}: {e}")),
    };
    match parse_read_back(&out.stdout) {
        Ok(v) if v == requested_mb => ApplyOutcome::Applied { mb: v },
        Ok(v) => ApplyOutcome::Mismatch {
            requested_mb,
            read_back_mb: v,
        },
        Err(e) => unverified(e),
    }
}

/// A suggested value with its reasoning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Suggestion {
    /// The suggested `iogpu.wired_limit_mb`; `0` means keep the macOS default.
    pub mb: u64,
    /// Why, one sentence per step.
    pub reasoning: Vec<String>,
}

/// The suggested value for `physical` bytes, given the effective limit now when known
/// (`effective`, bytes) and whether the macOS default is in force.
pub fn suggest(physical: u64, effective: Option<u64>, default_in_force: bool) -> Suggestion {
    let reserve = suggested_reserve(physical);
    let target_mb = physical.saturating_sub(reserve) / GIB * 1024;
    let mut reasoning = vec![format!(
        "leave macOS max(8 GB, 25 %) = {} of {} (seed 003: macOS needs 25-30 %; \
         64 GB → 48 GB, 96 GB → 72 GB; seed 001: reserve 8 GB for the system)",
        format_bytes(reserve),
        format_bytes(physical)
    )];
    reasoning.push(format!(
        "that gives the GPU {} = {target_mb} MB",
        format_bytes(target_mb * MIB)
    ));
    let keep_default = match effective {
        Some(e) if default_in_force && e >= target_mb * MIB => {
            reasoning.push(format!(
                "the macOS default already allows {}, more than that: keep it",
                format_bytes(e)
            ));
            true
        }
        Some(e) if e >= target_mb * MIB => {
            reasoning.push(format!(
                "the limit in force ({}) is already at or above it",
                format_bytes(e)
            ));
            false
        }
        Some(e) => {
            reasoning.push(format!("the limit in force is {}", format_bytes(e)));
            false
        }
        None => {
            reasoning.push(
                "the limit in force is unknown (no MLX agent attached on Metal): raise it \
                 only if MLX reports a smaller recommended working set"
                    .into(),
            );
            false
        }
    };
    Suggestion {
        mb: if keep_default || target_mb < FLOOR_MB {
            0
        } else {
            target_mb
        },
        reasoning,
    }
}

/// One running MLX process and the wired-limit ceiling it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RunningCeiling {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Its ceiling, read when MLX started in it (`max_recommended_working_set_size`).
    #[ts(type = "number | null")]
    pub working_set: Option<u64>,
    /// It keeps an old ceiling: [`RESTART_TO_USE`].
    pub restart_needed: bool,
}

/// Everything shown about the system wired limit (CLI, HTTP, the UI's "Wired limit" panel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WiredLimitInfo {
    /// Whether Headroom can change the limit here (macOS 14 or later on Apple Silicon, where
    /// `iogpu.wired_limit_mb` exists).
    pub supported: bool,
    /// The sysctl found (`iogpu.wired_limit_mb`, or `debug.iogpu.wired_limit` on macOS 13).
    #[ts(type = "string | null")]
    pub sysctl: Option<String>,
    /// The sysctl's value now in MB; `0` means the macOS default.
    #[ts(type = "number | null")]
    pub current_mb: Option<u64>,
    /// The limit a process started now gets, bytes: the sysctl's value when not 0, else the
    /// ceiling an attached MLX agent on Metal read (`max_recommended_working_set_size`);
    /// `null` when unknown. Running processes keep the ceiling they read at their start:
    /// see `running`.
    #[ts(type = "number | null")]
    pub effective: Option<u64>,
    /// Where `effective` comes from.
    pub effective_source: String,
    /// Installed memory, bytes.
    #[ts(type = "number | null")]
    pub physical: Option<u64>,
    /// Smallest value accepted, MB.
    #[ts(type = "number")]
    pub min_mb: u64,
    /// Largest value accepted on this machine, MB.
    #[ts(type = "number | null")]
    pub max_mb: Option<u64>,
    /// The suggested value and why (`null` when physical memory is unknown).
    pub suggestion: Option<Suggestion>,
    /// [`RESETS_AT_REBOOT`].
    pub resets_at_reboot: String,
    /// `wired_limit.reapply_on_start` from the configuration.
    pub reapply_on_start: bool,
    /// `wired_limit.value_mb` from the configuration.
    #[ts(type = "number | null")]
    pub configured_mb: Option<u64>,
    /// Attached MLX processes on Metal with their ceiling, marked when they must restart to
    /// use the system limit.
    pub running: Vec<RunningCeiling>,
}

/// Builds the info from a snapshot (`gpu`, `memory.total`) and the configuration.
pub fn info(snapshot: &Snapshot, config: &WiredLimitConfig) -> WiredLimitInfo {
    let current_mb = snapshot.gpu.wired_limit.map(|b| b / MIB);
    let physical = snapshot.memory.total;
    let sysctl = snapshot
        .gpu
        .wired_limit_sysctl
        .as_deref()
        .and_then(sysctl_named);
    let name = sysctl.map_or(SYSCTL_NAME, |s| s.name);
    let (effective, effective_source) = effective_for_new_processes(snapshot, name);
    let default_in_force = current_mb == Some(0);
    WiredLimitInfo {
        supported: snapshot.platform == Platform::Macos
            && current_mb.is_some()
            // An old capture without the sysctl's name counts as iogpu.wired_limit_mb.
            && sysctl.map_or(true, |s| s.settable),
        sysctl: sysctl.map(|s| s.name.to_string()),
        current_mb,
        effective,
        effective_source,
        physical,
        min_mb: FLOOR_MB,
        max_mb: physical.map(max_mb),
        suggestion: physical.map(|p| suggest(p, effective, default_in_force)),
        resets_at_reboot: RESETS_AT_REBOOT.into(),
        reapply_on_start: config.reapply_on_start,
        configured_mb: config.value_mb,
        running: running_ceilings(snapshot),
    }
}

/// The limit a new process gets and where that figure comes from.
fn effective_for_new_processes(snapshot: &Snapshot, name: &str) -> (Option<u64>, String) {
    match (
        snapshot.gpu.wired_limit,
        snapshot.gpu.recommended_working_set,
    ) {
        (Some(limit), _) if limit > 0 => (
            Some(limit),
            format!("{name}: what a process started now gets; running ones keep theirs"),
        ),
        (_, Some(ws)) => (
            Some(ws),
            "max_recommended_working_set_size of an attached MLX agent (the macOS default)".into(),
        ),
        (Some(_), None) => (
            None,
            "unknown: the macOS default is in force and no MLX agent on Metal reports it".into(),
        ),
        (None, None) => (None, format!("unknown: no {name} on this machine")),
    }
}

/// The attached MLX processes that report a ceiling (Metal), with it.
fn running_ceilings(snapshot: &Snapshot) -> Vec<RunningCeiling> {
    snapshot
        .mlx
        .iter()
        .filter(|p| p.attached && p.working_set.is_some())
        .map(|p| RunningCeiling {
            pid: p.pid,
            name: p.name.clone(),
            working_set: p.working_set,
            restart_needed: p.restart_for_wired_limit,
        })
        .collect()
}

/// The value to set when the app starts: configured, opted in, valid, and different from the
/// value in force. The caller still asks the user (each time it needs rights).
pub fn reapply_plan(
    config: &WiredLimitConfig,
    current_mb: Option<u64>,
    physical: Option<u64>,
) -> Option<CheckedMb> {
    if !config.reapply_on_start {
        return None;
    }
    let want = config.value_mb?;
    if current_mb? == want {
        return None;
    }
    if want == 0 {
        return Some(CheckedMb::RESET);
    }
    validate(want, physical?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_follow_the_seeds() {
        assert_eq!(suggested_reserve(64 * GIB), 16 * GIB);
        assert_eq!(suggested_reserve(16 * GIB), 8 * GIB);
        assert_eq!(minimum_reserve(16 * GIB), 4 * GIB);
        assert_eq!(minimum_reserve(128 * GIB), 8 * GIB);
        assert_eq!(max_mb(16 * GIB), 12 * 1024);
    }
}
