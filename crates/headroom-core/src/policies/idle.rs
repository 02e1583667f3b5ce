//! The idle-trim state machine: when to clear an idle process's MLX cache, once.
//!
//! Fed one reading of a process's active memory, cache and CPU time per poll, it answers
//! whether to clear the cache now. A process is idle while neither memory number moves by
//! more than [`FLAT_TOLERANCE`] between readings and it uses less than [`IDLE_CPU_SHARE`] of
//! a core; once idle for `after_secs` with its cache above `cache_above`, it is trimmed once.
//! It is trimmed again only after it has worked (active memory moved or CPU used) and gone
//! idle again. A process that keeps generating is never trimmed: its memory moves, and even
//! where it does not (mlx-lm grows its KV cache in steps of 256 tokens and reuses its
//! allocator cache, so both can stay flat for many tokens) it uses CPU for every token. Pure:
//! tests feed it sample sequences.

use super::IdleTrim;

/// Largest change of active memory or cache, between two readings, that still counts as
/// flat (allocator bookkeeping can move a few pages without any work being done).
pub const FLAT_TOLERANCE: u64 = 1024 * 1024;

/// Largest share of one core a process may use between readings and still be idle (its agent
/// answering a poll costs well under 0.1 %).
pub const IDLE_CPU_SHARE: f64 = 0.02;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Milliseconds on a monotonic clock.
    pub at_ms: u64,
    /// MLX active memory, bytes.
    pub active: u64,
    /// MLX cache, bytes.
    pub cache: u64,
    /// CPU time the process has used, milliseconds (none: unknown, memory alone decides).
    pub cpu_ms: Option<u64>,
}

/// Idle tracking of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdleState {
    last: Option<Reading>,
    /// When the current flat stretch began.
    flat_since_ms: Option<u64>,
    /// Whether this flat stretch has had its trim.
    trimmed: bool,
}

/// What the state machine says after a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleVerdict {
    /// The process is working (or just stopped).
    Busy,
    /// Idle for this many milliseconds; not (or no longer) due a trim.
    Idle(u64),
    /// Clear its cache now (this is said once per idle stretch).
    Trim,
}

fn moved(a: u64, b: u64) -> bool {
    a.abs_diff(b) > FLAT_TOLERANCE
}

/// Whether the process used more than [`IDLE_CPU_SHARE`] of a core between two readings.
fn worked(prev: &Reading, now: &Reading) -> bool {
    let (Some(a), Some(b)) = (prev.cpu_ms, now.cpu_ms) else {
        return false;
    };
    let wall = now.at_ms.saturating_sub(prev.at_ms).max(1);
    b.saturating_sub(a) as f64 > wall as f64 * IDLE_CPU_SHARE
}

impl IdleState {
    /// Takes one reading and says what to do.
    pub fn observe(&mut self, r: Reading, rule: &IdleTrim) -> IdleVerdict {
        let Some(prev) = self.last.replace(r) else {
            self.flat_since_ms = Some(r.at_ms);
            return IdleVerdict::Busy;
        };
        let active_moved = moved(prev.active, r.active) || worked(&prev, &r);
        if active_moved {
            // Real work: the next flat stretch may be trimmed again.
            self.trimmed = false;
        }
        if active_moved || moved(prev.cache, r.cache) {
            self.flat_since_ms = Some(r.at_ms);
            return IdleVerdict::Busy;
        }
        let since = *self.flat_since_ms.get_or_insert(prev.at_ms);
        let idle_ms = r.at_ms.saturating_sub(since);
        let due = idle_ms >= rule.after_secs.saturating_mul(1000) && r.cache > rule.cache_above;
        if due && !self.trimmed {
            self.trimmed = true;
            return IdleVerdict::Trim;
        }
        IdleVerdict::Idle(idle_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn rule() -> IdleTrim {
        IdleTrim {
            after_secs: 10,
            cache_above: 64 * MIB,
        }
    }

    fn run(seq: &[(u64, u64, u64)]) -> Vec<IdleVerdict> {
        let mut s = IdleState::default();
        seq.iter()
            .map(|&(t, active, cache)| {
                s.observe(
                    Reading {
                        at_ms: t * 1000,
                        active: active * MIB,
                        cache: cache * MIB,
                        cpu_ms: Some(t * 5), // 0.5 % of a core: idle
                    },
                    &rule(),
                )
            })
            .collect()
    }

    fn trims(v: &[IdleVerdict]) -> Vec<usize> {
        v.iter()
            .enumerate()
            .filter(|(_, x)| **x == IdleVerdict::Trim)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn a_flat_process_with_a_big_cache_is_trimmed_once_after_the_idle_time() {
        let seq: Vec<_> = (0..30).map(|t| (t, 500, 200)).collect();
        let v = run(&seq);
        assert_eq!(trims(&v), [10], "{v:?}");
        assert_eq!(v[9], IdleVerdict::Idle(9000));
    }

    #[test]
    fn a_generating_process_is_never_trimmed() {
        // Active memory and cache move every second, as during token generation.
        let seq: Vec<_> = (0..120)
            .map(|t| (t, 500 + (t % 7) * 3, 200 + (t % 5) * 2))
            .collect();
        assert!(trims(&run(&seq)).is_empty());
    }

    #[test]
    fn a_process_using_cpu_with_flat_memory_is_never_trimmed() {
        // mlx-lm between KV-cache steps: memory flat, a core busy generating.
        let mut s = IdleState::default();
        for t in 0..120u64 {
            let v = s.observe(
                Reading {
                    at_ms: t * 1000,
                    active: 500 * MIB,
                    cache: 200 * MIB,
                    cpu_ms: Some(t * 900),
                },
                &rule(),
            );
            assert_eq!(v, IdleVerdict::Busy, "at {t} s");
        }
    }

    #[test]
    fn a_small_cache_is_left_alone() {
        let seq: Vec<_> = (0..60).map(|t| (t, 500, 10)).collect();
        assert!(trims(&run(&seq)).is_empty());
    }

    #[test]
    fn cache_changes_alone_restart_the_idle_clock() {
        let mut seq: Vec<_> = (0..8).map(|t| (t, 500, 200)).collect();
        seq.push((8, 500, 260));
        seq.extend((9..30).map(|t| (t, 500, 260)));
        assert_eq!(trims(&run(&seq)), [18]);
    }

    #[test]
    fn a_second_idle_stretch_after_work_is_trimmed_again() {
        let mut seq: Vec<_> = (0..12).map(|t| (t, 500, 200)).collect();
        seq.push((12, 500, 0)); // the trim freed the cache
        seq.extend((13..20).map(|t| (t, 500 + t, 100 + t))); // generating again
        seq.extend((20..40).map(|t| (t, 600, 150)));
        assert_eq!(trims(&run(&seq)), [10, 30]);
    }

    #[test]
    fn a_trim_that_frees_nothing_is_not_repeated() {
        let seq: Vec<_> = (0..60).map(|t| (t, 500, 200)).collect();
        assert_eq!(trims(&run(&seq)).len(), 1);
    }

    #[test]
    fn jitter_within_the_tolerance_is_flat() {
        let seq: Vec<_> = (0..15).map(|t| (t, 500, 200)).collect();
        let mut s = IdleState::default();
        let mut out = Vec::new();
        for (i, &(t, a, c)) in seq.iter().enumerate() {
            let jitter = if i % 2 == 0 { 0 } else { FLAT_TOLERANCE / 2 };
            out.push(s.observe(
                Reading {
                    at_ms: t * 1000,
                    active: a * MIB + jitter,
                    cache: c * MIB,
                    cpu_ms: None,
                },
                &rule(),
            ));
        }
        assert_eq!(trims(&out), [10]);
    }
}
