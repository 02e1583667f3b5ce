//! `headroom wired-limit [show] | set SIZE | reset`: the system GPU wired limit
//! (`iogpu.wired_limit_mb`, macOS 14 and later), through the core's `ops::wired_limit*`
//! operations. After `set`, the value is the limit for processes started from then on;
//! running MLX processes are listed with "restart to use the new limit" (MLX reads its
//! ceiling once per process). Over SSH `sudo` asks for the password on the terminal; without
//! a terminal the exact command is printed.
//!
//! Exit status: 0 shown / set and read back; 1 set but the value read back differs or could
//! not be read; 2 bad size, cancelled, refused, or not available on this platform.

use crate::output::{emit, exit_code, fail, print_json, write_line};
use headroom_core::agents::AgentError;
use headroom_core::ops::{self, Local, OpError, WiredCheckRequest, WiredSetRequest, NOT_AVAILABLE};
use headroom_core::units::format_bytes;
use headroom_core::wired::{self, ApplyOutcome, WiredLimitInfo};

/// Arguments of `headroom wired-limit`.
#[derive(Debug, clap::Args)]
pub struct WiredLimitArgs {
    #[command(subcommand)]
    pub command: Option<WiredCommand>,
    /// Print JSON instead of text (`show`).
    #[arg(long, global = true)]
    pub json: bool,
}

/// `headroom wired-limit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum WiredCommand {
    /// Show the limit in force, physical memory and a suggested value (the default).
    Show,
    /// Set iogpu.wired_limit_mb (asks for confirmation, then for an administrator password).
    Set {
        /// MB as a whole number (49152), or a size with a unit (48GB, 48G, 49152MB).
        size: String,
        /// Do not ask for confirmation (macOS still asks for the password).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Once set, save it as wired_limit.value_mb with reapply_on_start = true, so the app
        /// offers to set it again after a reboot.
        #[arg(long)]
        remember: bool,
    },
    /// Return to the macOS default (iogpu.wired_limit_mb = 0).
    Reset {
        /// Do not ask for confirmation (macOS still asks for the password).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs `headroom wired-limit …`.
pub async fn run(args: &WiredLimitArgs) -> u8 {
    let host = Local::from_env();
    match &args.command {
        None | Some(WiredCommand::Show) => match ops::wired_limit(&host).await {
            Ok(info) => show(&info, args.json),
            Err(e) => fail("wired-limit", &e),
        },
        Some(WiredCommand::Set {
            size,
            yes,
            remember,
        }) => {
            let req = WiredCheckRequest { size: size.clone() };
            let mb = match ops::wired_limit_check(&host, &req).await {
                Ok(mb) => mb,
                Err(e) => return fail("wired-limit", &e),
            };
            let code = set(&host, mb, *yes).await;
            if code == 0 && *remember {
                return remember_in(&host, mb).await;
            }
            code
        }
        Some(WiredCommand::Reset { yes }) => set(&host, 0, *yes).await,
    }
}

fn show(info: &WiredLimitInfo, json: bool) -> u8 {
    if json {
        return exit_code(print_json(info, true), 0);
    }
    exit_code(emit(&render(info)), 0)
}

fn mb_text(mb: u64) -> String {
    format!("{mb} MB ({})", format_bytes(mb.saturating_mul(1 << 20)))
}

/// The text `headroom wired-limit show` prints.
pub fn render(i: &WiredLimitInfo) -> String {
    let mut out = String::new();
    if !i.supported {
        out += &format!("GPU wired limit   {NOT_AVAILABLE}\n");
    }
    let name = i.sysctl.as_deref().unwrap_or(wired::SYSCTL_NAME);
    match i.current_mb {
        Some(0) => out += &format!("{name}  0 (the macOS default is in force)\n"),
        Some(mb) => out += &format!("{name}  {}\n", mb_text(mb)),
        None => {}
    }
    if i.sysctl.as_deref() == Some(wired::MACOS13_SYSCTL_NAME) {
        out += &format!("Note              {}\n", wired::NEEDS_MACOS_14);
    }
    if i.supported || i.effective.is_some() {
        let eff = i.effective.map_or("unknown".to_string(), format_bytes);
        out += &format!("New processes     {eff} ({})\n", i.effective_source);
    }
    out += &render_running(i);
    let phys = i.physical.map_or("unknown".to_string(), format_bytes);
    out += &format!("Physical memory   {phys}\n");
    if let Some(max) = i.max_mb {
        out += &format!("Accepted values   {}..={max} MB\n", i.min_mb);
    }
    if let Some(s) = &i.suggestion {
        let what = match (s.mb, i.supported) {
            (0, _) => "keep the macOS default".to_string(),
            (mb, true) => format!("{} (headroom wired-limit set {mb})", mb_text(mb)),
            (mb, false) => format!("{} on a Mac with this much memory", mb_text(mb)),
        };
        out += &format!("Suggested         {what}\n");
        for r in &s.reasoning {
            out += &format!("                  - {r}\n");
        }
    }
    if i.supported {
        out += &format!("Note              {}", wired::RESETS_AT_REBOOT);
        out += if i.reapply_on_start {
            "; Headroom re-applies the configured value when the app starts (wired_limit.reapply_on_start)\n"
        } else {
            "; set wired_limit.reapply_on_start = true (and value_mb) to have the app offer it again\n"
        };
    }
    out
}

/// The running MLX processes and their ceilings, each marked when it must restart.
pub fn render_running(i: &WiredLimitInfo) -> String {
    let mut out = String::new();
    for p in &i.running {
        let ws = p
            .working_set
            .map_or("ceiling unknown".to_string(), format_bytes);
        let mark = if p.restart_needed {
            format!(": {}", wired::RESTART_TO_USE)
        } else {
            String::new()
        };
        out += &format!("Running           {} ({}) uses {ws}{mark}\n", p.name, p.pid);
    }
    out
}

async fn set(host: &Local, mb: u64, yes: bool) -> u8 {
    match ops::wired_limit(host).await {
        Ok(info) if info.supported => {}
        Ok(info) => {
            let why = wired::why_unsupported(&info).unwrap_or(NOT_AVAILABLE);
            return fail("wired-limit", &OpError::not_supported(why));
        }
        Err(e) => return fail("wired-limit", &e),
    }
    // Without a GUI session nor a terminal nothing can ask for the password: the operation
    // then answers with the exact command to run (checked, like every value it sets).
    let route = privilege_route_here();
    let what = if mb == 0 {
        "reset iogpu.wired_limit_mb to 0 (the macOS default)".to_string()
    } else {
        format!("set iogpu.wired_limit_mb to {}", mb_text(mb))
    };
    let asker = wired::who_asks_for_the_password(route);
    if route != wired::PrivilegeRoute::PrintCommand
        && !yes
        && !confirm(&format!("{what}? {asker}. [y/N] "))
    {
        return exit_code(write_line("Not confirmed: nothing changed."), 2);
    }
    let outcome = match ops::wired_limit_set_via(host, WiredSetRequest { mb }, route).await {
        Ok(o) => o,
        Err(e) => return fail("wired-limit", &e),
    };
    let mut text = format!("{}\n", outcome.describe());
    if outcome.is_applied() {
        text += &format!("Note: {}.\n", wired::RESETS_AT_REBOOT);
        text += &after_set(host, mb).await;
    }
    exit_code(emit(&text), outcome_code(&outcome))
}

/// What changes for MLX processes once the limit is set: the new value is for processes
/// started from now on; running ones are listed with "restart to use the new limit".
async fn after_set(host: &Local, mb: u64) -> String {
    let Ok(mut info) = ops::wired_limit(host).await else {
        return String::new();
    };
    if mb == 0 {
        // Under the macOS default the new ceiling is unknown: every running Metal process
        // read its ceiling under the old value.
        for p in &mut info.running {
            p.restart_needed = true;
        }
    }
    let mut out = String::from(
        "MLX reads the limit once when it starts: processes started from now on get the new \
         value; running ones keep theirs until they restart.\n",
    );
    out += &render_running(&info);
    out
}

/// How to ask for administrator rights from this process: the dialog in a GUI session,
/// `sudo` over SSH with a terminal, else print the command.
fn privilege_route_here() -> wired::PrivilegeRoute {
    use std::io::IsTerminal;
    wired::privilege_route(
        wired::gui_session_from_env(|k| std::env::var(k).ok()),
        std::io::stdin().is_terminal(),
    )
}

/// Saves `mb` as `wired_limit.value_mb` with `reapply_on_start = true` in the configuration
/// file (comments kept); 0 saved, 1 not saved (the limit itself is set).
pub async fn remember_in(host: &Local, mb: u64) -> u8 {
    match ops::wired_limit_remember(host, mb).await {
        Ok(r) => exit_code(
            write_line(&format!(
                "Remembered in {}: the app offers to set {mb} MB again after a reboot.",
                r.path
            )),
            0,
        ),
        Err(e) => {
            eprintln!("headroom: the limit is set but was not remembered: {e}");
            1
        }
    }
}

/// 0 applied; 1 mismatch or unverified; 2 cancelled or failed.
pub fn outcome_code(o: &ApplyOutcome) -> u8 {
    match o {
        ApplyOutcome::Applied { .. } => 0,
        ApplyOutcome::Mismatch { .. } | ApplyOutcome::Unverified { .. } => 1,
        ApplyOutcome::Cancelled | ApplyOutcome::Failed { .. } => 2,
    }
}

fn confirm(question: &str) -> bool {
    if emit(question).is_err() {
        return false; // the question cannot be shown: not confirmed
    }
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// What MLX's refusal of a per-process wired limit means, in a user's words (for
/// `headroom limit wired`); `None` for other errors.
pub fn explain_refusal(e: &AgentError) -> Option<String> {
    (e.code == "wired_limit_refused").then(|| {
        "MLX can only wire memory up to the GPU's recommended working set, which it read once \
         when this process started (macOS sets it from iogpu.wired_limit_mb). Ask for at most \
         that: raising the system limit now does not change it for this process. To go \
         higher, `headroom wired-limit set SIZE` (administrator password; it resets at \
         reboot), then restart the process to use the new limit."
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_explained() {
        let e = AgentError {
            code: "wired_limit_refused".into(),
            message: "MLX refused".into(),
        };
        assert!(explain_refusal(&e).is_some_and(|t| t.contains("wired-limit set")));
        let other = AgentError {
            code: "timeout".into(),
            message: "slow".into(),
        };
        assert!(explain_refusal(&other).is_none());
    }

    #[test]
    fn headroom_limit_wired_explains_the_refusal() {
        let refused = headroom_core::agents::ActionOutcome {
            pid: 29803,
            name: "python3.12".into(),
            ok: false,
            freed: None,
            previous: None,
            current: None,
            error: Some(AgentError {
                code: "wired_limit_refused".into(),
                message: "MLX refused a wired limit of 96.0 GB".into(),
            }),
        };
        let text = crate::actions::render_limits(
            headroom_core::agents::LimitKind::Wired,
            std::slice::from_ref(&refused),
        );
        assert!(text.contains("FAILED: MLX refused"), "{text}");
        assert!(text.contains("recommended working set"), "{text}");
        assert!(text.contains("headroom wired-limit set SIZE"), "{text}");
        assert!(text.contains("restart the process"), "{text}");
        assert!(
            text.contains("does not change it for this process"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn remembering_keeps_the_file_and_turns_reapply_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let host = || {
            Local::new(
                path.clone(),
                dir.path().into(),
                headroom_core::agents::MlxMonitor::new(dir.path().join("run")),
            )
        };
        std::fs::write(&path, "# mine\n[sampling]\n").unwrap();
        assert_eq!(remember_in(&host(), 49152).await, 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# mine"), "{text}");
        let cfg = headroom_core::config::load(&path).config.wired_limit;
        assert!(cfg.reapply_on_start);
        assert_eq!(cfg.value_mb, Some(49152));
        std::fs::write(&path, "not = [toml").unwrap();
        assert_eq!(remember_in(&host(), 49152).await, 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not = [toml");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(outcome_code(&ApplyOutcome::Applied { mb: 1 }), 0);
        assert_eq!(outcome_code(&ApplyOutcome::Cancelled), 2);
        assert_eq!(
            outcome_code(&ApplyOutcome::Mismatch {
                requested_mb: 2,
                read_back_mb: 1
            }),
            1
        );
    }
}
