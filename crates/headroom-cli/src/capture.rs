//! `headroom capture`: record the raw counters behind one or more samples; and the replay side
//! of `headroom status --replay FILE` / `headroom watch --replay FILE`.

use crate::output::{emit, exit_code, print_json, safe, use_colour};
use headroom_core::agents::client::AgentConn;
use headroom_core::agents::MlxMonitor;
use headroom_core::capture::{this_host, Capture, ProcessInfo};
use headroom_core::snapshot::Snapshot;
use headroom_core::units::parse_duration;
use headroom_core::Sampler;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most samples one capture takes.
const MAX_SAMPLES: u32 = 3600;
/// Most processes `--with-processes` lists (largest resident first).
const MAX_PROCESSES: usize = 50;
/// Longest command line kept per process.
const MAX_COMMAND_CHARS: usize = 1024;

/// Arguments of `headroom capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Write the capture to FILE (a regular file or a new name; `-` is standard output)
    /// instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Samples to take (1 to 3600); two or more give rates.
    #[arg(long, default_value_t = 2, value_parser = parse_samples)]
    pub samples: u32,
    /// Time between samples: 1s, 500ms… (at least 100ms).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Also record the largest processes' names, sizes and command lines (personal data).
    #[arg(long)]
    pub with_processes: bool,
    /// Also record each MLX agent's `stats` answer (its command line only with
    /// --with-processes).
    #[arg(long)]
    pub with_mlx: bool,
}

fn parse_samples(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=MAX_SAMPLES).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid --samples {s:?}: must be a whole number from 1 to {MAX_SAMPLES}"
        )),
    }
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.0)?;
    if d < Duration::from_millis(100) {
        return Err(format!("invalid interval {s:?}: must be at least 100ms"));
    }
    Ok(d)
}

/// Runs `headroom capture`.
pub async fn run(args: &CaptureArgs) -> u8 {
    let output = args.output.as_deref().filter(|p| *p != Path::new("-"));
    if let Some(Err(e)) = output.map(headroom_core::files::check_regular_file) {
        eprintln!("headroom: {e}");
        return 2;
    }
    let capture = record(args).await;
    let text = match capture.to_json() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("headroom: {e}");
            return 2;
        }
    };
    match output {
        None => print_stdout(&text),
        Some(path) => match write_capture(path, &text) {
            Ok(()) => {
                eprintln!(
                    "headroom: wrote {} ({} samples); attach it to your report",
                    path.display(),
                    capture.samples.len()
                );
                0
            }
            Err(e) => {
                eprintln!("headroom: {e}");
                2
            }
        },
    }
}

/// Takes the samples on a fixed schedule (no drift) and assembles the document.
async fn record(args: &CaptureArgs) -> Capture {
    let mut sampler = Sampler::new();
    let start = Instant::now();
    let mut samples = Vec::new();
    for i in 0..args.samples {
        if let Some(wait) = (args.interval * i).checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        samples.push(sampler.read_raw());
    }
    let host = this_host(samples.first().map(|s| &s.raw));
    let mut capture = Capture::new(host, chrono::Utc::now());
    capture.samples = samples;
    if args.with_processes {
        capture.processes = Some(processes());
    }
    if args.with_mlx {
        capture.agents = agents_stats(args.with_processes).await;
    }
    capture
}

/// How long one agent may take to answer `stats`.
const AGENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys of a `stats` answer that can hold paths or arguments.
const PERSONAL_KEYS: [&str; 2] = ["cmdline", "target"];

/// Every agent's `stats` answer verbatim (`{"pid", "stats"}`), or why it gave none
/// (`{"pid", "error"}`); command lines and script paths removed unless `keep_personal`.
async fn agents_stats(keep_personal: bool) -> Vec<Value> {
    let sockets = match MlxMonitor::from_env().agents() {
        Ok(s) => s,
        Err(e) => return vec![json!({ "error": e })],
    };
    let ask = |path: PathBuf| async move {
        let mut conn = AgentConn::connect(&path).await?;
        conn.call("stats", None).await
    };
    let mut out = Vec::new();
    for a in sockets {
        let answer = tokio::time::timeout(AGENT_TIMEOUT, ask(a.path)).await;
        out.push(match answer {
            Ok(Ok(mut stats)) => {
                if !keep_personal {
                    scrub(&mut stats);
                }
                json!({ "pid": a.pid, "stats": stats })
            }
            Ok(Err(e)) => json!({ "pid": a.pid, "error": e.to_string() }),
            Err(_) => json!({ "pid": a.pid, "error": "no answer within 2s" }),
        });
    }
    out
}

/// Removes the keys that can name files or arguments from a `stats` answer.
fn scrub(stats: &mut Value) {
    if let Some(obj) = stats.as_object_mut() {
        for k in PERSONAL_KEYS {
            obj.remove(k);
        }
    }
}

fn print_stdout(text: &str) -> u8 {
    exit_code(emit(&format!("{text}\n")), 0)
}

/// Writes the capture to `path`: a regular file or a new name only, replaced atomically,
/// new files 0600 (a capture may hold command lines).
fn write_capture(path: &Path, text: &str) -> Result<(), String> {
    headroom_core::files::write_regular_file(path, format!("{text}\n").as_bytes(), 0o600)
}

/// The largest processes by resident size (Linux `/proc`; empty elsewhere for now).
fn processes() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut list: Vec<ProcessInfo> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process_info)
        .collect();
    list.sort_by(|a, b| b.resident.cmp(&a.resident).then(a.pid.cmp(&b.pid)));
    list.truncate(MAX_PROCESSES);
    list
}

fn process_info(pid: u32) -> Option<ProcessInfo> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let name = std::fs::read_to_string(base.join("comm")).ok()?;
    let status = std::fs::read_to_string(base.join("status")).unwrap_or_default();
    let command = std::fs::read(base.join("cmdline"))
        .ok()
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .chars()
                .take(MAX_COMMAND_CHARS)
                .collect::<String>()
        })
        .filter(|c| !c.is_empty());
    Some(ProcessInfo {
        pid,
        name: name.trim().to_string(),
        resident: headroom_core::platform::linux::meminfo_field(&status, "VmRSS"),
        command,
    })
}

/// Loads a capture for replay; the error names the file and the bad field.
/// Reading streams and stops at [`headroom_core::capture::MAX_CAPTURE_BYTES`].
pub fn load(path: &Path) -> Result<Capture, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read capture {}: {e}", path.display()))?;
    Capture::read(file).map_err(|e| format!("cannot replay {}: {e}", path.display()))
}

/// `headroom status --replay FILE`: the last sample of the capture (rates against the one
/// before it), through the same derivation as a live sample.
pub fn status_replay(path: &Path, json: bool, render: fn(&Snapshot, bool) -> String) -> u8 {
    let capture = match load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("headroom: {e}");
            return 2;
        }
    };
    let snapshots = capture.replay();
    let Some(last) = snapshots.last() else {
        eprintln!("headroom: {} has no samples", path.display());
        return 2;
    };
    if json {
        return exit_code(print_json(last, true), 0);
    }
    let text = format!(
        "{}\n{}",
        describe(&capture, path, snapshots.len()),
        render(last, use_colour())
    );
    exit_code(emit(&text), 0)
}

/// `headroom watch --replay FILE`: every sample of the capture, without waiting.
pub fn watch_replay(path: &Path, json: bool, line: fn(&Snapshot, bool) -> Result<(), u8>) -> u8 {
    let capture = match load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("headroom: {e}");
            return 2;
        }
    };
    let colour = use_colour();
    for s in capture.replay() {
        let written = if json {
            print_json(&s, false)
        } else {
            line(&s, colour)
        };
        if let Err(code) = written {
            return code; // 0 when stdout was closed (`| head`): a normal way to stop.
        }
    }
    0
}

/// One line saying what is being replayed.
fn describe(c: &Capture, path: &Path, n: usize) -> String {
    let h = &c.host;
    let what: Vec<&str> = [h.os_version.as_deref(), h.chip.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let os = match h.os {
        headroom_core::snapshot::Platform::Macos => "macOS",
        headroom_core::snapshot::Platform::Linux => "Linux",
    };
    format!(
        "Replay      {} ({os} {}; sample {n} of {n})",
        safe(&path.display().to_string()),
        safe(&what.join(", "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_interval_are_validated_with_the_allowed_range() {
        assert_eq!(parse_samples("3"), Ok(3));
        for bad in ["0", "-1", "abc", "3601"] {
            let e = parse_samples(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("1 to 3600"), "{e}");
        }
        assert!(parse_interval("50ms")
            .unwrap_err()
            .contains("at least 100ms"));
    }

    #[test]
    fn scrub_removes_command_lines_and_targets_only() {
        let mut v =
            json!({"pid": 1, "cmdline": ["python", "/home/me/x.py"], "target": "/x", "cache": 5});
        scrub(&mut v);
        assert_eq!(v, json!({"pid": 1, "cache": 5}));
    }

    #[test]
    fn atomic_write_leaves_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        write_capture(&path, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
