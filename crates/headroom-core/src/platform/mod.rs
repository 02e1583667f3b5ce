//! System memory sampling: one facade over per-platform backends.
//!
//! Every backend splits into two halves:
//! - *reading* raw counters from the kernel ([`RawSample`]): files under `/proc` on Linux,
//!   `host_statistics64` and sysctls on macOS — the only part that touches the OS;
//! - *deriving* a [`Snapshot`] from raw counters: pure functions, tested on any platform with
//!   captured numbers, and the same functions replay a capture (`headroom status --replay`).
//!
//! Rates are computed here, once for every platform, from cumulative byte counters and the
//! measured monotonic time between two samples ([`RateTracker`]).

pub mod kernel_file;
pub mod linux;
pub mod macos;

use crate::snapshot::{Platform, Rates, Snapshot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Raw, unconverted counters of one sample, as the kernel gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "lowercase")]
pub enum RawSample {
    /// Linux: the text of the kernel files.
    Linux(linux::LinuxRaw),
    /// macOS: the `vm_statistics64` fields and sysctls.
    Macos(macos::MacRaw),
}

/// A raw sample with the time it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedRaw {
    /// Monotonic nanoseconds since the sampler started (rates need two of these).
    pub monotonic_ns: u64,
    /// Wall-clock time of the sample.
    pub at: DateTime<Utc>,
    /// The counters.
    pub raw: RawSample,
}

/// Cumulative paging counters in bytes since boot; rates are their differences over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PagingCounters {
    /// Bytes swapped in since boot.
    pub swapins: Option<u64>,
    /// Bytes swapped out since boot.
    pub swapouts: Option<u64>,
    /// Bytes compressed since boot.
    pub compressions: Option<u64>,
    /// Bytes decompressed since boot.
    pub decompressions: Option<u64>,
    /// Bytes read in from files and swap since boot (page-ins).
    pub pageins: Option<u64>,
}

/// What a backend derives from one raw sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// The snapshot, with `rates` still null.
    pub snapshot: Snapshot,
    /// The cumulative counters the rates come from.
    pub counters: PagingCounters,
}

/// Derives a snapshot (rates null) from one raw sample, on any platform.
pub fn derive(raw: &RawSample, at: DateTime<Utc>) -> Derived {
    match raw {
        RawSample::Linux(r) => linux::derive(r, at),
        RawSample::Macos(r) => macos::derive(r, at),
    }
}

/// Turns successive cumulative counters into per-second rates.
#[derive(Debug, Default, Clone)]
pub struct RateTracker {
    prev: Option<(u64, PagingCounters)>,
}

impl RateTracker {
    /// Fills `snapshot.rates` from `counters` at `monotonic_ns` and the previous call's
    /// values. The first call, a clock that did not advance, or a counter that went backwards
    /// (reboot, wrap) leave the affected rates null.
    pub fn apply(&mut self, snapshot: &mut Snapshot, monotonic_ns: u64, counters: PagingCounters) {
        if let Some((prev_ns, prev)) = self.prev {
            snapshot.rates = rates_between(&prev, &counters, monotonic_ns.saturating_sub(prev_ns));
        }
        self.prev = Some((monotonic_ns, counters));
    }
}

/// Per-second rates between two counter readings `elapsed_ns` apart.
pub fn rates_between(prev: &PagingCounters, cur: &PagingCounters, elapsed_ns: u64) -> Rates {
    if elapsed_ns == 0 {
        return Rates::default();
    }
    let secs = elapsed_ns as f64 / 1e9;
    let rate = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / secs),
        _ => None,
    };
    Rates {
        swapins: rate(prev.swapins, cur.swapins),
        swapouts: rate(prev.swapouts, cur.swapouts),
        compressions: rate(prev.compressions, cur.compressions),
        decompressions: rate(prev.decompressions, cur.decompressions),
        pageins: rate(prev.pageins, cur.pageins),
    }
}

/// The platform this binary samples live.
pub const HOST_PLATFORM: Platform = if cfg!(target_os = "macos") {
    Platform::Macos
} else {
    Platform::Linux
};

/// Samples this machine's memory: reads raw counters, derives a snapshot, tracks rates.
#[derive(Debug)]
pub struct Sampler {
    reader: Reader,
    started: Instant,
    rates: RateTracker,
}

#[cfg(target_os = "macos")]
type Reader = macos::MacReader;
#[cfg(not(target_os = "macos"))]
type Reader = linux::LinuxReader;

impl Sampler {
    /// A sampler for this machine. On Linux the kernel files are read from
    /// `HEADROOM_PROC_ROOT` (default `/proc`) and `HEADROOM_SYS_ROOT` (default `/sys`).
    pub fn new() -> Self {
        Self {
            reader: Reader::from_env(),
            started: Instant::now(),
            rates: RateTracker::default(),
        }
    }

    /// Reads the raw counters of one sample (for `headroom capture`).
    pub fn read_raw(&mut self) -> TimedRaw {
        let raw = self.reader.read();
        TimedRaw {
            monotonic_ns: u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            at: Utc::now(),
            raw,
        }
    }

    /// Takes one full sample: read, derive, rates.
    pub fn sample(&mut self) -> Snapshot {
        let timed = self.read_raw();
        self.derive_timed(&timed)
    }

    /// Derives a snapshot from a raw sample taken earlier, with rates against the previous one.
    pub fn derive_timed(&mut self, timed: &TimedRaw) -> Snapshot {
        derive_with_rates(&mut self.rates, timed)
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

/// Derives a snapshot from `timed` and fills its rates from `tracker` (live and replay alike).
pub fn derive_with_rates(tracker: &mut RateTracker, timed: &TimedRaw) -> Snapshot {
    let Derived {
        mut snapshot,
        counters,
    } = derive(&timed.raw, timed.at);
    tracker.apply(&mut snapshot, timed.monotonic_ns, counters);
    snapshot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(v: u64) -> PagingCounters {
        PagingCounters {
            swapins: Some(v),
            swapouts: Some(2 * v),
            compressions: None,
            decompressions: Some(v),
            pageins: Some(3 * v),
        }
    }

    #[test]
    fn rates_use_measured_elapsed_time() {
        let r = rates_between(&counters(1000), &counters(5000), 2_000_000_000);
        assert_eq!(r.swapins, Some(2000.0));
        assert_eq!(r.swapouts, Some(4000.0));
        assert_eq!(r.compressions, None);
        assert_eq!(r.pageins, Some(6000.0));
    }

    #[test]
    fn counter_going_backwards_gives_null_not_garbage() {
        let r = rates_between(&counters(5000), &counters(10), 1_000_000_000);
        assert_eq!(r.swapins, None);
        assert_eq!(
            rates_between(&counters(1), &counters(2), 0),
            Rates::default()
        );
    }

    #[test]
    fn first_sample_has_null_rates_second_has_values() {
        let mut t = RateTracker::default();
        let mut s = Snapshot::empty(Platform::Linux, Utc::now());
        t.apply(&mut s, 0, counters(0));
        assert_eq!(s.rates, Rates::default());
        t.apply(&mut s, 500_000_000, counters(100));
        assert_eq!(s.rates.swapins, Some(200.0));
    }
}
