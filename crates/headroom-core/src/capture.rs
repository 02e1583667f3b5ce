//! Captures: the raw counters samples were derived from, as a versioned JSON document that
//! anyone can record (`headroom capture`) and replay anywhere (`headroom status --replay`).
//!
//! A capture holds what the kernel returned, unconverted ([`TimedRaw`]: the text of the Linux
//! files, or every `vm_statistics64` field and sysctl on macOS), the host's OS version and chip,
//! and — only when asked — MLX agents' `stats` answers and a process list. Replay runs the same
//! pure functions as the live sampler ([`derive_with_rates`]), so a macOS capture replays on
//! Linux and the reverse.
//!
//! Loading is strict: a newer format version, a missing or mistyped field, a negative count or
//! truncated JSON is refused with a message naming the field; nothing panics.

use crate::platform::{derive_with_rates, RateTracker, RawSample, TimedRaw};
use crate::snapshot::{Platform, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The value of the `format` key.
pub const FORMAT: &str = "headroom-capture";
/// The newest format version this build writes and reads.
pub const VERSION: u32 = 1;

/// A capture document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version; readers refuse versions newer than their [`VERSION`].
    pub version: u32,
    /// When the capture was written.
    pub created: DateTime<Utc>,
    /// The machine the samples come from (no host name, no user name).
    pub host: Host,
    /// The raw samples, oldest first; `monotonic_ns` never decreases.
    pub samples: Vec<TimedRaw>,
    /// MLX agents' `stats` answers (`headroom capture --with-mlx`), verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<serde_json::Value>,
    /// Processes (`headroom capture --with-processes` only: names and command lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<ProcessInfo>>,
    /// Where transcribed numbers come from (fixtures built from public reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free text: what the reporter saw, how close the replay is, caveats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The machine a capture comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// The platform of every sample.
    pub os: Platform,
    /// macOS product version (`15.3.1`) or the Linux distribution's name, when known.
    #[serde(default)]
    pub os_version: Option<String>,
    /// Kernel release (`uname -r`), when known.
    #[serde(default)]
    pub kernel: Option<String>,
    /// CPU / chip (`Apple M2 Max`), when known.
    #[serde(default)]
    pub chip: Option<String>,
    /// CPU architecture of the capturing binary (`aarch64`, `x86_64`).
    #[serde(default)]
    pub arch: Option<String>,
    /// The headroom version that wrote the capture.
    #[serde(default)]
    pub headroom: Option<String>,
}

/// One process, only in captures made with `--with-processes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub name: String,
    /// Resident / footprint bytes, when known.
    #[serde(default)]
    pub resident: Option<u64>,
    /// Command line, when readable.
    #[serde(default)]
    pub command: Option<String>,
}

/// Why a capture was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError(pub String);

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaptureError {}

impl Capture {
    /// A new, empty capture of `host` (this headroom's version and format).
    pub fn new(host: Host, created: DateTime<Utc>) -> Self {
        Self {
            format: FORMAT.to_string(),
            version: VERSION,
            created,
            host,
            samples: Vec::new(),
            agents: Vec::new(),
            processes: None,
            source: None,
            notes: None,
        }
    }

    /// Parses and validates a capture document.
    pub fn from_json(text: &str) -> Result<Self, CaptureError> {
        Self::from_value(serde_json::from_str(text).map_err(|e| not_json(&e))?)
    }

    /// Reads, parses and validates a capture document from `reader`, streaming: garbage is
    /// refused at its first byte, and at most [`MAX_CAPTURE_BYTES`] (+1) are read, so
    /// `/dev/zero` or a huge sparse file fail at once with bounded memory.
    pub fn read(reader: impl std::io::Read) -> Result<Self, CaptureError> {
        let mut limited = Limited {
            inner: reader,
            read: 0,
        };
        let parsed: Result<serde_json::Value, _> =
            serde_json::from_reader(std::io::BufReader::new(&mut limited));
        if limited.read > MAX_CAPTURE_BYTES {
            return Err(CaptureError(format!(
                "capture is larger than {MAX_CAPTURE_BYTES} bytes (32 MiB), the most this build \
                 reads; the largest `headroom capture` writes (3600 samples) is about 23 MB"
            )));
        }
        Self::from_value(parsed.map_err(|e| not_json(&e))?)
    }

    /// Validates a parsed capture document.
    fn from_value(value: serde_json::Value) -> Result<Self, CaptureError> {
        check_header(&value)?;
        let capture: Capture = serde_path_to_error::deserialize(value.clone())
            .map_err(|e| field_error(&value, &e.path().to_string(), e.inner()))?;
        capture.validate()?;
        Ok(capture)
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> Result<String, CaptureError> {
        serde_json::to_string_pretty(self)
            .map_err(|e| CaptureError(format!("cannot encode the capture: {e}")))
    }

    /// Checks what the types alone cannot: samples exist, match `host.os`, keep time order.
    pub fn validate(&self) -> Result<(), CaptureError> {
        if self.samples.is_empty() {
            return Err(CaptureError(
                "capture field `samples`: empty; at least one sample is needed".into(),
            ));
        }
        let mut prev: Option<u64> = None;
        for (i, s) in self.samples.iter().enumerate() {
            let platform = platform_of(&s.raw);
            if platform != self.host.os {
                return Err(CaptureError(format!(
                    "capture field `samples[{i}].raw.platform`: {} but `host.os` is {}",
                    platform_word(platform),
                    platform_word(self.host.os)
                )));
            }
            if let Some(p) = prev.filter(|&p| s.monotonic_ns < p) {
                return Err(CaptureError(format!(
                    "capture field `samples[{i}].monotonic_ns`: {} is earlier than the previous \
                     sample's {p}; samples must be in time order",
                    s.monotonic_ns
                )));
            }
            prev = Some(s.monotonic_ns);
        }
        Ok(())
    }

    /// Derives every sample's snapshot, with rates from the second on — the live path's
    /// functions, on any platform.
    pub fn replay(&self) -> Vec<Snapshot> {
        let mut tracker = RateTracker::default();
        self.samples
            .iter()
            .map(|t| derive_with_rates(&mut tracker, t))
            .collect()
    }
}

/// Largest capture file read, in bytes (32 MiB). A real capture is small: 19.5 KB for the
/// three Linux samples of `captures/linux-debian12-xeon-23.5gib.json` (≈ 6.2 KB per sample,
/// about 2 KB on macOS); the most `headroom capture` writes, 3600 Linux samples, is ≈ 23 MB.
pub const MAX_CAPTURE_BYTES: u64 = 32 << 20;

/// A reader that stops after [`MAX_CAPTURE_BYTES`] + 1 bytes and counts what it read.
struct Limited<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = (MAX_CAPTURE_BYTES + 1).saturating_sub(self.read);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        Ok(n)
    }
}

fn not_json(e: &serde_json::Error) -> CaptureError {
    let hint = if e.is_eof() {
        " (the file ends early: truncated?)"
    } else {
        ""
    };
    CaptureError(format!("capture is not valid JSON: {e}{hint}"))
}

/// Names the failing field. serde loses the path inside the internally tagged `raw` of a
/// sample, so a failure there is found again by decoding that sample's raw counters alone.
fn field_error(doc: &serde_json::Value, path: &str, e: &serde_json::Error) -> CaptureError {
    let inner = path
        .strip_prefix("samples[")
        .and_then(|rest| rest.strip_suffix("].raw"))
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| raw_field_error(&doc["samples"][i]["raw"]));
    match inner {
        Some((sub, msg)) => CaptureError(format!("capture field `{path}.{sub}`: {msg}")),
        None => CaptureError(format!("capture field `{path}`: {e}")),
    }
}

/// The path and message of the first bad field of one sample's raw counters.
fn raw_field_error(raw: &serde_json::Value) -> Option<(String, String)> {
    let mut body = raw.as_object()?.clone();
    let tag = body.remove("platform")?;
    let body = serde_json::Value::Object(body);
    let err = match tag.as_str()? {
        "linux" => {
            serde_path_to_error::deserialize::<_, crate::platform::linux::LinuxRaw>(body).err()?
        }
        "macos" => {
            serde_path_to_error::deserialize::<_, crate::platform::macos::MacRaw>(body).err()?
        }
        _ => return None,
    };
    Some((err.path().to_string(), err.inner().to_string()))
}

/// Refuses documents that are not captures or come from a newer headroom, before field
/// errors (a newer version may well have different fields).
fn check_header(v: &serde_json::Value) -> Result<(), CaptureError> {
    let Some(obj) = v.as_object() else {
        return Err(CaptureError(
            "capture is not a JSON object; expected {\"format\": \"headroom-capture\", …}".into(),
        ));
    };
    match obj.get("format") {
        None => return Err(CaptureError("capture field `format`: missing".into())),
        Some(f) if f != FORMAT => {
            return Err(CaptureError(format!(
                "capture field `format`: {f}; expected \"{FORMAT}\""
            )))
        }
        Some(_) => {}
    }
    match obj.get("version") {
        None => Err(CaptureError("capture field `version`: missing".into())),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=u64::from(VERSION)).contains(&n) => Ok(()),
            Some(n) if n > u64::from(VERSION) => Err(CaptureError(format!(
                "capture field `version`: {n} is newer than this headroom reads \
                 (1 to {VERSION}); upgrade headroom to replay it"
            ))),
            _ => Err(CaptureError(format!(
                "capture field `version`: {v}; expected an integer from 1 to {VERSION}"
            ))),
        },
    }
}

/// The platform a raw sample belongs to.
pub fn platform_of(raw: &RawSample) -> Platform {
    match raw {
        RawSample::Linux(_) => Platform::Linux,
        RawSample::Macos(_) => Platform::Macos,
    }
}

fn platform_word(p: Platform) -> &'static str {
    match p {
        Platform::Linux => "linux",
        Platform::Macos => "macos",
    }
}

/// Describes this machine without anything personal: OS version, kernel release, chip, arch.
/// `first` is the first raw sample (macOS carries its version and chip in it).
pub fn this_host(first: Option<&RawSample>) -> Host {
    let mut host = Host {
        os: crate::platform::HOST_PLATFORM,
        os_version: None,
        kernel: kernel_release(),
        chip: None,
        arch: Some(std::env::consts::ARCH.to_string()),
        headroom: Some(env!("CARGO_PKG_VERSION").to_string()),
    };
    match first {
        Some(RawSample::Macos(m)) => {
            host.os_version.clone_from(&m.os_version);
            host.chip.clone_from(&m.chip);
        }
        _ => {
            host.os_version = read_text("/etc/os-release").and_then(|t| os_release_name(&t));
            host.chip = read_text("/proc/cpuinfo").and_then(|t| cpuinfo_model(&t));
        }
    }
    host
}

fn read_text(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `PRETTY_NAME` from os-release(5) text.
pub fn os_release_name(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    let v = line
        .trim_start_matches("PRETTY_NAME=")
        .trim()
        .trim_matches('"');
    (!v.is_empty()).then(|| v.to_string())
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpuinfo_model(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `uname -r`.
fn kernel_release() -> Option<String> {
    // SAFETY: `utsname` is plain old data; all-zero bytes are a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, exclusive utsname for uname to fill.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::linux::LinuxRaw;

    const MEMINFO: &str = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\n\
        Buffers: 10 kB\nCached: 400 kB\nShmem: 5 kB\nSReclaimable: 20 kB\nAnonPages: 300 kB\n\
        SwapTotal: 0 kB\nSwapFree: 0 kB\n";

    fn linux_sample(ns: u64, pswpout: u64) -> TimedRaw {
        TimedRaw {
            monotonic_ns: ns,
            at: DateTime::<Utc>::UNIX_EPOCH,
            raw: RawSample::Linux(LinuxRaw {
                meminfo: Some(MEMINFO.into()),
                vmstat: Some(format!(
                    "pswpin 0\npswpout {pswpout}\npgpgin {}\n",
                    3 * pswpout
                )),
                pressure_memory: None,
                zram: Vec::new(),
                page_size: 4096,
                read_errors: Vec::new(),
            }),
        }
    }

    fn capture() -> Capture {
        let host = Host {
            os: Platform::Linux,
            os_version: None,
            kernel: Some("6.1.0".into()),
            chip: None,
            arch: Some("x86_64".into()),
            headroom: None,
        };
        let mut c = Capture::new(host, DateTime::<Utc>::UNIX_EPOCH);
        c.samples = vec![linux_sample(0, 10), linux_sample(2_000_000_000, 20)];
        c
    }

    fn refusal(text: &str) -> String {
        Capture::from_json(text).unwrap_err().0
    }

    #[test]
    fn round_trip_and_replay_with_rates() {
        let c = capture();
        let back = Capture::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(back, c);
        let snaps = back.replay();
        assert_eq!(snaps.len(), 2);
        assert_eq!(snaps[0].rates.swapouts, None);
        assert_eq!(snaps[1].rates.swapouts, Some(10.0 * 4096.0 / 2.0));
        // `pgpgin` counts KiB, whatever the page size.
        assert_eq!(snaps[1].rates.pageins, Some(30.0 * 1024.0 / 2.0));
        assert_eq!(snaps[1].memory.available, Some(600 * 1024));
    }

    #[test]
    fn refuses_truncated_json_naming_the_cause() {
        let text = capture().to_json().unwrap();
        let msg = refusal(&text[..text.len() / 2]);
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn refuses_newer_and_nonsense_versions() {
        let mut v = serde_json::to_value(capture()).unwrap();
        v["version"] = 2.into();
        let msg = refusal(&v.to_string());
        assert!(msg.contains("`version`: 2 is newer"), "{msg}");
        v["version"] = "one".into();
        assert!(refusal(&v.to_string()).contains("expected an integer from 1 to 1"));
        v["format"] = "something-else".into();
        assert!(refusal(&v.to_string()).contains("`format`"));
    }

    #[test]
    fn refuses_missing_fields_and_wrong_types_naming_the_path() {
        let mut v = serde_json::to_value(capture()).unwrap();
        v["samples"][1]["raw"]
            .as_object_mut()
            .unwrap()
            .remove("page_size");
        let msg = refusal(&v.to_string());
        assert!(msg.contains("samples[1].raw"), "{msg}");
        assert!(msg.contains("page_size"), "{msg}");
        let mut v = serde_json::to_value(capture()).unwrap();
        v["samples"][0]["monotonic_ns"] = "soon".into();
        let msg = refusal(&v.to_string());
        assert!(msg.contains("`samples[0].monotonic_ns`"), "{msg}");
    }

    #[test]
    fn refuses_negative_counts() {
        let mut v = serde_json::to_value(capture()).unwrap();
        v["samples"][0]["raw"]["page_size"] = (-4096).into();
        let msg = refusal(&v.to_string());
        assert!(msg.contains("`samples[0].raw.page_size`"), "{msg}");
        assert!(msg.contains("-4096"), "{msg}");
    }

    #[test]
    fn refuses_empty_mixed_and_unordered_samples() {
        let mut c = capture();
        c.samples.reverse();
        assert!(refusal(&c.to_json().unwrap()).contains("time order"));
        c.host.os = Platform::Macos;
        assert!(refusal(&c.to_json().unwrap()).contains("`host.os` is macos"));
        c.samples.clear();
        assert!(refusal(&c.to_json().unwrap()).contains("`samples`: empty"));
        assert!(refusal("[1, 2]").contains("not a JSON object"));
    }

    #[test]
    fn host_description_helpers() {
        let os = "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release_name(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpuinfo_model(cpu).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpuinfo_model("processor : 0\n"), None);
    }
}
