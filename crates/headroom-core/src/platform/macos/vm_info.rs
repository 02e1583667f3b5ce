//! `HOST_VM_INFO64` layouts, word decoding and the count-retry loop — pure, compiled on every
//! platform and tested on Linux against fake kernels that behave like macOS 14/15/26/27.
//!
//! `host_statistics64(host, HOST_VM_INFO64, buf, &count)` takes `count` in `integer_t`s
//! (4-byte words). The kernel fills only the revisions that fit in the caller's count and
//! writes back how many words it filled (xnu `osfmk/kern/host.c`, `vm_stats()`):
//!
//! | count | layout | contents | seen on |
//! |------:|--------|----------|---------|
//! | 24    | REV0   | free … speculative_count | before OS X 10.9 |
//! | 38    | REV1   | + compressor, throttled, external/internal, uncompressed-in-compressor | macOS ≤ 15 |
//! | 40    | REV2   | + `swapped_count` | macOS 26 kernels |
//! | 62    | REV3   | + MTE tag-storage fields (SDK 26 `HOST_VM_INFO64_COUNT`) | macOS 26 |
//! | 104   | SDK 27 | + more queue counters (SDK 27 `HOST_VM_INFO64_COUNT`) | macOS 27 |
//!
//! Failure modes seen in the wild, and what the loop does about them:
//! - requiring the returned count to equal the SDK's `HOST_VM_INFO64_COUNT` fails on a
//!   different kernel (macOS 15 answers 38 to a request of 62: tmog-feedback #193; Chromium's
//!   DCHECK "104 vs. 62"): we accept any count ≥ [`REV1_COUNT`];
//! - a count larger than the kernel's own layout makes macOS 26 log "host_statistics64() count
//!   is larger than expected … likely to result in memory corruption" (jundot/omlx #2983): we
//!   start with the count we need and never pass a count larger than the kernel asked for or a
//!   known layout;
//! - macOS 27 answers a too-small count with `MIG_ARRAY_TOO_LARGE` (-307) and the count it wants
//!   (jundot/omlx #1749, vladkens/macmon #66, psutil #2853): we retry with that count when it fits
//!   our buffer, else with the next larger known layout (jundot/omlx PR #3358's approach);
//! - `KERN_INVALID_ARGUMENT` without a usable count: next larger known layout.

use super::VmStatistics64;
use std::fmt;

/// `KERN_SUCCESS`.
pub const KERN_SUCCESS: i32 = 0;
/// `KERN_INVALID_ARGUMENT`.
pub const KERN_INVALID_ARGUMENT: i32 = 4;
/// `KERN_FAILURE` (xnu: the count is below REV0).
pub const KERN_FAILURE: i32 = 5;
/// `MIG_ARRAY_TOO_LARGE` (`mach/mig_errors.h`): the reply did not fit the caller's count.
pub const MIG_ARRAY_TOO_LARGE: i32 = -307;

/// Words up to and including `speculative_count`.
pub const REV0_COUNT: u32 = 24;
/// Words up to and including `total_uncompressed_pages_in_compressor` (macOS ≤ 15).
pub const REV1_COUNT: u32 = 38;
/// REV1 plus `swapped_count` (macOS 26).
pub const REV2_COUNT: u32 = 40;
/// `HOST_VM_INFO64_COUNT` of the macOS 26 SDK.
pub const SDK26_COUNT: u32 = 62;
/// `HOST_VM_INFO64_COUNT` of the macOS 27 SDK.
pub const SDK27_COUNT: u32 = 104;
/// Layouts we know, smallest first; the fallback when the kernel reports no usable count.
pub const KNOWN_COUNTS: [u32; 4] = [REV1_COUNT, REV2_COUNT, SDK26_COUNT, SDK27_COUNT];
/// The fewest words the derivation needs (every field up to REV1).
pub const NEEDED_COUNT: u32 = REV1_COUNT;
/// The count the first call asks for: what we need plus `swapped_count`.
pub const START_COUNT: u32 = REV2_COUNT;
/// Words in the buffer handed to the kernel: the newest known layout plus generous slack.
pub const BUFFER_WORDS: usize = 256;
/// Calls before giving up.
pub const MAX_ATTEMPTS: usize = 6;

/// One call of the kernel function: the count asked for, the answer, the count written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The count passed in.
    pub asked: u32,
    /// The `kern_return_t` answered.
    pub kr: i32,
    /// The count the kernel wrote back.
    pub answered: u32,
}

/// What a successful read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    /// The decoded statistics.
    pub stats: VmStatistics64,
    /// The count the kernel accepted (words it filled).
    pub count: u32,
    /// Every call made, in order (one when nothing needed retrying).
    pub attempts: Vec<Attempt>,
}

/// Why reading `HOST_VM_INFO64` failed; the message names the counts and codes involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmInfoError {
    /// The kernel answered success but filled fewer words than the derivation needs.
    TooShort {
        /// The count the kernel wrote back.
        count: u32,
    },
    /// A `kern_return_t` the loop does not retry on.
    Kernel {
        /// The code.
        kr: i32,
        /// The count that was asked for.
        asked: u32,
    },
    /// Every retry was used up or no larger count was left to try.
    GaveUp {
        /// The calls made.
        attempts: Vec<Attempt>,
    },
}

impl fmt::Display for VmInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { count } => write!(
                f,
                "host_statistics64(HOST_VM_INFO64) filled only {count} words; \
                 at least {NEEDED_COUNT} are needed"
            ),
            Self::Kernel { kr, asked } => write!(
                f,
                "host_statistics64(HOST_VM_INFO64) returned {} with count {asked}",
                kern_return_name(*kr)
            ),
            Self::GaveUp { attempts } => {
                write!(
                    f,
                    "host_statistics64(HOST_VM_INFO64) failed for every count tried \
                     (buffer holds {BUFFER_WORDS} words; known layouts {KNOWN_COUNTS:?}):"
                )?;
                for a in attempts {
                    write!(
                        f,
                        " asked {} -> {} (kernel wrote {});",
                        a.asked,
                        kern_return_name(a.kr),
                        a.answered
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for VmInfoError {}

/// A readable name for the `kern_return_t` values this module meets.
pub fn kern_return_name(kr: i32) -> String {
    let name = match kr {
        KERN_SUCCESS => "KERN_SUCCESS",
        KERN_INVALID_ARGUMENT => "KERN_INVALID_ARGUMENT",
        KERN_FAILURE => "KERN_FAILURE",
        MIG_ARRAY_TOO_LARGE => "MIG_ARRAY_TOO_LARGE",
        _ => return format!("kern_return {kr}"),
    };
    format!("{name} ({kr})")
}

/// Calls `kernel(buffer, &mut count)` until it accepts a count, following the rules in the
/// module documentation. `start` is the first count to ask for (normally [`START_COUNT`], or
/// the count the previous read was accepted with); it is clamped to the buffer.
pub fn read_vm_info<K>(mut kernel: K, start: u32) -> Result<VmInfo, VmInfoError>
where
    K: FnMut(&mut [u32], &mut u32) -> i32,
{
    let mut buf = vec![0u32; BUFFER_WORDS];
    let mut asked = start.clamp(NEEDED_COUNT, BUFFER_WORDS as u32);
    let mut attempts = Vec::new();
    while attempts.len() < MAX_ATTEMPTS {
        buf.fill(0);
        let mut count = asked;
        let kr = kernel(&mut buf, &mut count);
        attempts.push(Attempt {
            asked,
            kr,
            answered: count,
        });
        match kr {
            KERN_SUCCESS => return accept(&buf, count, attempts),
            MIG_ARRAY_TOO_LARGE | KERN_INVALID_ARGUMENT => match next_count(&attempts) {
                Some(next) => asked = next,
                None => break,
            },
            _ => return Err(VmInfoError::Kernel { kr, asked }),
        }
    }
    Err(VmInfoError::GaveUp { attempts })
}

fn accept(buf: &[u32], count: u32, attempts: Vec<Attempt>) -> Result<VmInfo, VmInfoError> {
    if count < NEEDED_COUNT {
        return Err(VmInfoError::TooShort { count });
    }
    let filled = (count as usize).min(buf.len());
    Ok(VmInfo {
        stats: decode(&buf[..filled]),
        count,
        attempts,
    })
}

/// The next count to try after a refusal: the count the kernel reported when it is larger
/// than the last one asked and fits the buffer, else the next larger known layout; never a
/// count already tried.
pub fn next_count(attempts: &[Attempt]) -> Option<u32> {
    let last = attempts.last()?;
    let tried = |c: u32| attempts.iter().any(|a| a.asked == c);
    let reported = last.answered;
    if reported > last.asked && reported as usize <= BUFFER_WORDS && !tried(reported) {
        return Some(reported);
    }
    KNOWN_COUNTS
        .into_iter()
        .find(|&c| c > last.asked && !tried(c))
}

/// Reads a 32-bit field at word `i` (0 when past the filled words).
fn u32_at(words: &[u32], i: usize) -> u64 {
    words.get(i).copied().map_or(0, u64::from)
}

/// Reads a 64-bit field at words `i`, `i + 1` (little-endian: arm64 and x86_64 Macs).
fn u64_at(words: &[u32], i: usize) -> u64 {
    u32_at(words, i) | (u32_at(words, i + 1) << 32)
}

/// Decodes the filled words of a `vm_statistics64` (xnu `osfmk/mach/vm_statistics.h`; byte
/// offsets / 4). Fields past the filled words are 0, `swapped_count` is `None` below REV2,
/// and every 64-bit field after it lands in `extra` in kernel order.
pub fn decode(words: &[u32]) -> VmStatistics64 {
    let n = words.len();
    VmStatistics64 {
        free_count: u32_at(words, 0),
        active_count: u32_at(words, 1),
        inactive_count: u32_at(words, 2),
        wire_count: u32_at(words, 3),
        zero_fill_count: u64_at(words, 4),
        reactivations: u64_at(words, 6),
        pageins: u64_at(words, 8),
        pageouts: u64_at(words, 10),
        faults: u64_at(words, 12),
        cow_faults: u64_at(words, 14),
        lookups: u64_at(words, 16),
        hits: u64_at(words, 18),
        purges: u64_at(words, 20),
        purgeable_count: u32_at(words, 22),
        speculative_count: u32_at(words, 23),
        decompressions: u64_at(words, 24),
        compressions: u64_at(words, 26),
        swapins: u64_at(words, 28),
        swapouts: u64_at(words, 30),
        compressor_page_count: u32_at(words, 32),
        throttled_count: u32_at(words, 33),
        external_page_count: u32_at(words, 34),
        internal_page_count: u32_at(words, 35),
        total_uncompressed_pages_in_compressor: u64_at(words, 36),
        swapped_count: (n >= REV2_COUNT as usize).then(|| u64_at(words, 38)),
        extra: (40..n.saturating_sub(1))
            .step_by(2)
            .map(|i| u64_at(words, i))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inverse of [`decode`]: lays fields out the way the kernel does.
    fn encode(v: &VmStatistics64, count: u32) -> Vec<u32> {
        let mut w = vec![0u32; BUFFER_WORDS];
        let put32 = |w: &mut Vec<u32>, i: usize, x: u64| w[i] = x as u32;
        let put64 = |w: &mut Vec<u32>, i: usize, x: u64| {
            w[i] = x as u32;
            w[i + 1] = (x >> 32) as u32;
        };
        for (i, x) in [v.free_count, v.active_count, v.inactive_count, v.wire_count]
            .into_iter()
            .enumerate()
        {
            put32(&mut w, i, x);
        }
        let u64s = [
            v.zero_fill_count,
            v.reactivations,
            v.pageins,
            v.pageouts,
            v.faults,
            v.cow_faults,
            v.lookups,
            v.hits,
            v.purges,
        ];
        for (k, x) in u64s.into_iter().enumerate() {
            put64(&mut w, 4 + 2 * k, x);
        }
        put32(&mut w, 22, v.purgeable_count);
        put32(&mut w, 23, v.speculative_count);
        for (k, x) in [v.decompressions, v.compressions, v.swapins, v.swapouts]
            .into_iter()
            .enumerate()
        {
            put64(&mut w, 24 + 2 * k, x);
        }
        put32(&mut w, 32, v.compressor_page_count);
        put32(&mut w, 33, v.throttled_count);
        put32(&mut w, 34, v.external_page_count);
        put32(&mut w, 35, v.internal_page_count);
        put64(&mut w, 36, v.total_uncompressed_pages_in_compressor);
        put64(&mut w, 38, v.swapped_count.unwrap_or(0));
        for (k, x) in v.extra.iter().enumerate() {
            put64(&mut w, 40 + 2 * k, *x);
        }
        w.truncate(count as usize);
        w
    }

    /// A kernel with `layout` words: full statistics of a busy Mac, 16 KiB pages.
    fn truth(layout: u32) -> VmStatistics64 {
        let extra_words = layout.saturating_sub(REV2_COUNT) as usize / 2;
        VmStatistics64 {
            free_count: 16_543,
            active_count: 412_345,
            inactive_count: 398_765,
            wire_count: 187_654,
            zero_fill_count: 5_000_000_123,
            reactivations: 12_345_678,
            pageins: 9_876_543,
            pageouts: 123_456,
            faults: 7_000_000_001,
            cow_faults: 54_321,
            lookups: 111,
            hits: 77,
            purges: 2_222,
            purgeable_count: 3_456,
            speculative_count: 5_432,
            decompressions: 6_000_000_007,
            compressions: 6_100_000_009,
            swapins: 44_444,
            swapouts: 55_555,
            compressor_page_count: 98_765,
            throttled_count: 0,
            external_page_count: 310_000,
            internal_page_count: 506_542,
            total_uncompressed_pages_in_compressor: 301_234,
            swapped_count: (layout >= REV2_COUNT).then_some(4_321),
            extra: (0..extra_words as u64).map(|k| 49_152 + k).collect(),
        }
    }

    /// A fake `host_statistics64` with the kernel-side rules of xnu's `vm_stats()`: fills the
    /// largest revision that fits the caller's count and writes back how many words it filled.
    struct FakeKernel {
        layout: u32,
        /// macOS 27: after this many calls, answer counts below the layout with
        /// MIG_ARRAY_TOO_LARGE and the layout (omlx #1749: "succeeds, then after a few calls").
        mig_after: Option<u32>,
        /// A strict kernel: KERN_INVALID_ARGUMENT unless the count is exactly the layout,
        /// writing back `reported`.
        strict_exact: Option<u32>,
        /// Set when a caller passed a count above the layout (macOS 26 logs an error).
        over_asked: bool,
        calls: u32,
    }

    impl FakeKernel {
        fn new(layout: u32) -> Self {
            Self {
                layout,
                mig_after: None,
                strict_exact: None,
                over_asked: false,
                calls: 0,
            }
        }

        fn call(&mut self, buf: &mut [u32], count: &mut u32) -> i32 {
            self.calls += 1;
            let asked = *count;
            assert!(
                asked as usize <= buf.len(),
                "count {asked} exceeds the buffer"
            );
            if asked > self.layout {
                self.over_asked = true;
            }
            if let Some(reported) = self.strict_exact {
                if asked != self.layout {
                    *count = reported;
                    return KERN_INVALID_ARGUMENT;
                }
            }
            if asked < REV0_COUNT {
                return KERN_FAILURE;
            }
            let words = encode(&truth(self.layout), self.layout);
            let mig = self.mig_after.is_some_and(|n| self.calls > n);
            if mig && asked < self.layout {
                // The MIG stub copies what fits and reports the reply's real count.
                buf[..asked as usize].copy_from_slice(&words[..asked as usize]);
                *count = self.layout;
                return MIG_ARRAY_TOO_LARGE;
            }
            let filled = [SDK27_COUNT, SDK26_COUNT, REV2_COUNT, REV1_COUNT, REV0_COUNT]
                .into_iter()
                .find(|&c| c <= asked.min(self.layout))
                .unwrap_or(REV0_COUNT);
            buf[..filled as usize].copy_from_slice(&words[..filled as usize]);
            *count = filled;
            KERN_SUCCESS
        }
    }

    fn read(k: &mut FakeKernel, start: u32) -> Result<VmInfo, VmInfoError> {
        read_vm_info(|b, c| k.call(b, c), start)
    }

    #[test]
    fn decode_round_trips_every_layout() {
        for layout in KNOWN_COUNTS {
            let v = truth(layout);
            assert_eq!(decode(&encode(&v, layout)), v, "layout {layout}");
        }
    }

    #[test]
    fn decode_below_rev2_has_no_swapped_count_and_no_extra() {
        let d = decode(&encode(&truth(SDK26_COUNT), REV1_COUNT));
        assert_eq!(d.swapped_count, None);
        assert!(d.extra.is_empty());
        assert_eq!(d.internal_page_count, 506_542);
        assert_eq!(d.total_uncompressed_pages_in_compressor, 301_234);
    }

    #[test]
    fn macos_14_and_15_answer_38_to_our_40_and_we_accept_it() {
        let mut k = FakeKernel::new(REV1_COUNT);
        let got = read(&mut k, START_COUNT).unwrap();
        assert_eq!(got.count, 38);
        assert_eq!(got.stats, truth(REV1_COUNT));
        assert_eq!(got.attempts.len(), 1);
        assert_eq!(got.stats.swapped_count, None);
    }

    #[test]
    fn macos_26_gives_swapped_count_without_being_over_asked() {
        let mut k = FakeKernel::new(SDK26_COUNT);
        let got = read(&mut k, START_COUNT).unwrap();
        assert_eq!(got.count, REV2_COUNT);
        assert_eq!(got.stats.swapped_count, Some(4_321));
        assert!(
            !k.over_asked,
            "a count above the kernel's layout makes macOS 26 log"
        );
    }

    #[test]
    fn macos_27_mig_array_too_large_is_retried_with_the_reported_count() {
        let mut k = FakeKernel::new(SDK27_COUNT);
        k.mig_after = Some(2);
        for _ in 0..2 {
            let early = read(&mut k, START_COUNT).unwrap();
            assert_eq!(early.count, REV2_COUNT);
        }
        let got = read(&mut k, START_COUNT).unwrap();
        assert_eq!(got.count, SDK27_COUNT);
        assert_eq!(got.attempts.len(), 2);
        assert_eq!(got.attempts[0].kr, MIG_ARRAY_TOO_LARGE);
        assert_eq!(got.attempts[1].asked, SDK27_COUNT);
        assert_eq!(got.stats, truth(SDK27_COUNT));
        assert_eq!(got.stats.extra.len(), 32);
        assert!(!k.over_asked);
        // The reader remembers the accepted count: the next read needs one call.
        let again = read(&mut k, got.count).unwrap();
        assert_eq!(again.attempts.len(), 1);
    }

    #[test]
    fn invalid_argument_without_a_count_walks_the_known_layouts() {
        let mut k = FakeKernel::new(SDK26_COUNT);
        k.strict_exact = Some(0);
        let got = read(&mut k, START_COUNT).unwrap();
        let asked: Vec<u32> = got.attempts.iter().map(|a| a.asked).collect();
        assert_eq!(asked, vec![40, 62]);
        assert_eq!(got.count, 62);
    }

    #[test]
    fn an_absurd_reported_count_is_not_trusted() {
        let mut k = FakeKernel::new(SDK26_COUNT);
        k.strict_exact = Some(100_000);
        let got = read(&mut k, START_COUNT).unwrap();
        assert!(got
            .attempts
            .iter()
            .all(|a| a.asked as usize <= BUFFER_WORDS));
        assert_eq!(got.count, 62);
    }

    #[test]
    fn a_kernel_that_refuses_everything_gives_up_with_every_attempt_named() {
        let mut calls = 0;
        let err = read_vm_info(
            |_, c| {
                calls += 1;
                *c = 0;
                MIG_ARRAY_TOO_LARGE
            },
            START_COUNT,
        )
        .unwrap_err();
        assert!(calls <= MAX_ATTEMPTS);
        let msg = err.to_string();
        assert!(
            msg.contains("asked 40 -> MIG_ARRAY_TOO_LARGE (-307)"),
            "{msg}"
        );
        assert!(msg.contains("asked 104"), "{msg}");
    }

    #[test]
    fn other_errors_and_short_answers_are_reported_not_retried() {
        let err = read_vm_info(|_, _| 268_435_459, START_COUNT).unwrap_err();
        assert_eq!(
            err,
            VmInfoError::Kernel {
                kr: 268_435_459,
                asked: 40
            }
        );
        let short = read_vm_info(
            |_, c| {
                *c = REV0_COUNT;
                KERN_SUCCESS
            },
            START_COUNT,
        )
        .unwrap_err();
        assert!(short.to_string().contains("only 24 words"), "{short}");
    }

    #[test]
    fn start_is_clamped_to_what_we_need_and_what_the_buffer_holds() {
        let mut asked = Vec::new();
        let _ = read_vm_info(
            |_, c| {
                asked.push(*c);
                KERN_FAILURE
            },
            3,
        );
        let _ = read_vm_info(
            |_, c| {
                asked.push(*c);
                KERN_FAILURE
            },
            u32::MAX,
        );
        assert_eq!(asked, vec![NEEDED_COUNT, BUFFER_WORDS as u32]);
    }
}
