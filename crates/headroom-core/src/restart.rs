//! Scheduled restarts are the process supervisor's job, not Headroom's: Headroom never kills
//! or restarts a process. This module finds the drift a restart cures and writes the exact
//! supervisor lines for one process.
//!
//! Drift: a long-running MLX process whose memory at rest grows day after day. Its idle
//! baseline (the day's lowest MLX cache plus memory outside MLX, i.e. footprint minus MLX
//! active and cache) rises on every day recorded. SleepyQuant's "MLX Memory Safety Checklist"
//! (sleepyquant.rest, 2026-04-27) reports that even with limits and cache clears, multi-day
//! uptime accumulates fragmentation and "hits a wall around day 3-4", and restarts nightly at
//! 4 AM; [`RESTART_HOUR`] follows it.
//!
//! Supervisor lines:
//! - launchd: `StartCalendarInterval` starts a job that is not running; it does not restart a
//!   running one (launchd.plist(5): an interval firing while the job runs is missed), so the
//!   nightly restart is a second agent running `launchctl kickstart -k` (launchctl(1): `-k`
//!   kills the running instance before restarting it), and the process's own agent keeps
//!   `KeepAlive`.
//! - systemd: the service with `Restart=always`, and a timer (`OnCalendar=`, systemd.timer(5))
//!   that starts a one-shot `systemctl --user restart` of it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

const MIB: u64 = 1024 * 1024;
const DAY_MS: i64 = 86_400_000;

/// The hour (local time) of the suggested nightly restart.
pub const RESTART_HOUR: u32 = 4;
/// Least rise of the idle baseline over the days recorded that counts as drift.
pub const DRIFT_MIN_RISE: u64 = 256 * MIB;
/// Least days of records needed to call it drift.
pub const DRIFT_MIN_DAYS: usize = 2;
/// Largest day-to-day dip of the baseline still counted as "rising" (measurement noise).
const DIP_TOLERANCE: u64 = 16 * MIB;

/// One recorded reading of an MLX process (what the history keeps per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProcessPoint {
    /// Milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub t: i64,
    /// MLX active memory, bytes.
    #[ts(type = "number | null")]
    pub active: Option<u64>,
    /// MLX cache, bytes.
    #[ts(type = "number | null")]
    pub cache: Option<u64>,
    /// Physical footprint, bytes.
    #[ts(type = "number | null")]
    pub footprint: Option<u64>,
}

impl ProcessPoint {
    /// MLX cache plus memory outside MLX (footprint − active − cache), bytes.
    pub fn resting(&self) -> Option<u64> {
        let cache = self.cache?;
        let outside = self
            .footprint
            .map_or(0, |f| f.saturating_sub(self.active.unwrap_or(0) + cache));
        Some(cache + outside)
    }
}

/// Drift found in a process's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Days recorded.
    pub days: usize,
    /// The first day's idle baseline, bytes.
    pub first: u64,
    /// The last day's idle baseline, bytes.
    pub last: u64,
}

/// Whether a process's records show drift: its daily idle baseline (the day's lowest
/// [`ProcessPoint::resting`]) rose on every day over at least [`DRIFT_MIN_DAYS`] days, by at
/// least [`DRIFT_MIN_RISE`] in all. `points` in time order.
pub fn drift(points: &[ProcessPoint]) -> Option<Drift> {
    let first_t = points.first()?.t;
    let mut days: Vec<u64> = Vec::new();
    for p in points {
        let Some(r) = p.resting() else { continue };
        let day = usize::try_from((p.t - first_t) / DAY_MS).ok()?;
        if day >= days.len() {
            days.resize(day + 1, u64::MAX);
        }
        days[day] = days[day].min(r);
    }
    let days: Vec<u64> = days.into_iter().filter(|&d| d != u64::MAX).collect();
    if days.len() < DRIFT_MIN_DAYS {
        return None;
    }
    let rising = days.windows(2).all(|w| w[1] + DIP_TOLERANCE >= w[0]);
    let (first, last) = (days[0], days[days.len() - 1]);
    (rising && last >= first + DRIFT_MIN_RISE).then_some(Drift {
        days: days.len(),
        first,
        last,
    })
}

/// A name for the process's jobs: letters, digits, `.`, `-`, `_` from its script or module.
pub fn job_name(name: &str, cmdline: &[String]) -> String {
    let module = cmdline
        .windows(2)
        .find(|w| w[0] == "-m")
        .map(|w| w[1].clone());
    let script = cmdline
        .iter()
        .skip(1)
        .find(|a| a.ends_with(".py"))
        .map(|a| {
            a.rsplit('/')
                .next()
                .unwrap_or(a)
                .trim_end_matches(".py")
                .to_string()
        });
    let base = module.or(script).unwrap_or_else(|| name.to_string());
    let slug: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if slug.is_empty() {
        "mlx".into()
    } else {
        slug
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A command line for a systemd `ExecStart=` (each argument quoted when it needs it).
fn systemd_quote(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c))
            {
                a.clone()
            } else {
                format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace('%', "%%")
}

/// The launchd lines for a nightly restart of a process: its own agent (`KeepAlive`) and a
/// second agent that restarts it at [`RESTART_HOUR`]:00 with `launchctl kickstart -k`.
pub fn launchd_lines(job: &str, cmdline: &[String], cwd: Option<&str>) -> String {
    let label = format!("local.mlx.{job}");
    let args: String = cmdline
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml_escape(a)))
        .collect();
    let dir = cwd.map_or_else(String::new, |d| {
        format!(
            "  <key>WorkingDirectory</key>\n  <string>{}</string>\n",
            xml_escape(d)
        )
    });
    format!(
        "# ~/Library/LaunchAgents/{label}.plist\n\
<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\
  <key>Label</key>\n  <string>{label}</string>\n\
  <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n{dir}\
  <key>KeepAlive</key>\n  <true/>\n\
</dict>\n</plist>\n\n\
# ~/Library/LaunchAgents/{label}.restart.plist\n\
<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\
  <key>Label</key>\n  <string>{label}.restart</string>\n\
  <key>ProgramArguments</key>\n  <array>\n\
    <string>/bin/sh</string>\n    <string>-c</string>\n\
    <string>exec /bin/launchctl kickstart -k gui/$(id -u)/{label}</string>\n  </array>\n\
  <key>StartCalendarInterval</key>\n  <dict>\n\
    <key>Hour</key>\n    <integer>{RESTART_HOUR}</integer>\n\
    <key>Minute</key>\n    <integer>0</integer>\n  </dict>\n\
</dict>\n</plist>\n\n\
# Stop the process you started by hand, then load both:\n\
launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/{label}.plist\n\
launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/{label}.restart.plist\n"
    )
}

/// The systemd (user) lines for a nightly restart of a process: its service
/// (`Restart=always`), and a timer that restarts it at [`RESTART_HOUR`]:00.
pub fn systemd_lines(job: &str, cmdline: &[String], cwd: Option<&str>) -> String {
    let unit = format!("mlx-{job}");
    let dir = cwd.map_or_else(String::new, |d| format!("WorkingDirectory={d}\n"));
    format!(
        "# ~/.config/systemd/user/{unit}.service\n\
[Unit]\nDescription=MLX process {job}\n\n\
[Service]\nExecStart={exec}\n{dir}Restart=always\n\n\
[Install]\nWantedBy=default.target\n\n\
# ~/.config/systemd/user/{unit}-restart.service\n\
[Unit]\nDescription=Nightly restart of {unit}\n\n\
[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl --user restart {unit}.service\n\n\
# ~/.config/systemd/user/{unit}-restart.timer\n\
[Unit]\nDescription=Nightly restart of {unit}\n\n\
[Timer]\nOnCalendar=*-*-* {RESTART_HOUR:02}:00:00\n\n\
[Install]\nWantedBy=timers.target\n\n\
# Stop the process you started by hand, then:\n\
systemctl --user daemon-reload\n\
systemctl --user enable --now {unit}.service {unit}-restart.timer\n",
        exec = systemd_quote(cmdline),
    )
}

/// The supervisor lines for this platform (launchd on macOS, systemd elsewhere).
pub fn supervisor_lines(job: &str, cmdline: &[String], cwd: Option<&str>) -> String {
    if cfg!(target_os = "macos") {
        launchd_lines(job, cmdline, cwd)
    } else {
        systemd_lines(job, cmdline, cwd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_series(baselines_mib: &[u64]) -> Vec<ProcessPoint> {
        let mut out = Vec::new();
        for (d, &b) in baselines_mib.iter().enumerate() {
            for h in 0..24 {
                // Busy hours add on top; the idle baseline is the day's minimum.
                let busy = if (9..18).contains(&h) { 900 } else { 0 };
                out.push(ProcessPoint {
                    t: 1_700_000_000_000 + d as i64 * DAY_MS + h * 3_600_000,
                    active: Some((4000 + busy) * MIB),
                    cache: Some((b / 2 + busy / 3) * MIB),
                    footprint: Some((4000 + busy + b + busy / 3) * MIB),
                });
            }
        }
        out
    }

    #[test]
    fn a_baseline_rising_every_day_is_drift() {
        let d = drift(&day_series(&[400, 600, 800, 1000])).unwrap();
        assert_eq!(d.days, 4);
        assert_eq!((d.first, d.last), (400 * MIB, 1000 * MIB));
    }

    #[test]
    fn a_flat_or_falling_baseline_or_too_little_history_is_not() {
        assert!(drift(&day_series(&[400, 400, 410, 400])).is_none());
        assert!(drift(&day_series(&[400, 900, 300, 1000])).is_none());
        assert!(drift(&day_series(&[400])).is_none());
        assert!(drift(&[]).is_none());
    }

    #[test]
    fn job_names_come_from_the_module_or_script() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            job_name("python3", &v(&["python", "-m", "mlx_lm.server"])),
            "mlx_lm.server"
        );
        assert_eq!(
            job_name("python3", &v(&["python", "/srv/my bot.py"])),
            "my-bot"
        );
        assert_eq!(job_name("mlx-serve", &v(&["mlx-serve"])), "mlx-serve");
    }

    #[test]
    fn supervisor_lines_carry_the_exact_command() {
        let cmd: Vec<String> = ["/venv/bin/python", "-m", "mlx_lm.server", "--model", "a b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let l = launchd_lines("mlx_lm.server", &cmd, Some("/srv"));
        assert!(l.contains("<string>a b</string>"));
        assert!(l.contains("kickstart -k gui/$(id -u)/local.mlx.mlx_lm.server"));
        assert!(l.contains("<integer>4</integer>"));
        assert!(l.contains("<key>KeepAlive</key>"));
        let s = systemd_lines("mlx_lm.server", &cmd, None);
        assert!(
            s.contains("ExecStart=/venv/bin/python -m mlx_lm.server --model \"a b\""),
            "{s}"
        );
        assert!(s.contains("OnCalendar=*-*-* 04:00:00"));
        assert!(s.contains("Restart=always"));
    }
}
