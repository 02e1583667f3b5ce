//! Which policy applies to which MLX process, what to do now, and where each limit comes from.
//!
//! The engine's MLX task feeds [`PolicyTracker::observe`] every poll and gets back the
//! applications and idle trims to run; it reports their results with
//! [`PolicyTracker::applied`] and [`PolicyTracker::trimmed`], and limits set by hand with
//! [`PolicyTracker::set_by_hand`]. Rules it keeps:
//!
//! - a policy is applied once per process (when its agent first answers), and again only
//!   when the configuration's policies change; a failed or refused application is reported,
//!   never retried;
//! - a limit set by hand (through Headroom, or changed since the policy set it, or set by
//!   the process's own code) overrides the policy for that process until it exits;
//! - an idle trim runs once per idle stretch ([`super::idle`]), never while one is running.
//!
//! Pure: no I/O, no clock (readings carry their time).

use super::idle::{IdleState, IdleVerdict, Reading};
use super::{Policies, Policy, ProcessFacts};
use crate::agents::LimitKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ts_rs::TS;

/// Where a process's limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum LimitSource {
    /// MLX's own default (or a value set before Headroom saw the process).
    Default,
    /// A policy is being applied.
    Pending,
    /// Set by a policy.
    Policy,
    /// Set by hand (through Headroom or another client); the policy stays out of it until
    /// the process exits.
    Manual,
    /// Set by the process's own code; the policy stays out of it until the process exits.
    Process,
    /// The policy's value was refused (e.g. a wired limit above the recommended working
    /// set); not retried.
    Refused,
    /// Applying the policy failed (e.g. the agent did not answer); not retried.
    Failed,
}

/// One limit of one process: its source and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LimitOrigin {
    /// Which limit.
    pub limit: LimitKind,
    /// Where its value comes from.
    pub source: LimitSource,
    /// The value the policy asks for, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub wanted: Option<u64>,
    /// Why, for a person.
    pub why: String,
}

/// The last idle trim of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TrimRecord {
    /// When it ran, ms since the Unix epoch.
    #[ts(type = "number")]
    pub at_ms: i64,
    /// Bytes freed.
    #[ts(type = "number")]
    pub freed: u64,
}

/// A process's policy state, shown with it in the snapshot (`mlx[].policy`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PolicyStatus {
    /// The policy that matches this process (none: policies are off or none matches).
    pub policy: Option<String>,
    /// Each limit's source, in the order cache, memory, wired.
    pub limits_source: Vec<LimitOrigin>,
    /// Seconds this process has been idle (active memory and cache flat), when it has an idle
    /// trim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub idle_secs: Option<u64>,
    /// Its last idle trim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_trim: Option<TrimRecord>,
}

/// What the tracker sees of one attached process in one poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Process id.
    pub pid: u32,
    /// What policies match on.
    pub facts: ProcessFacts,
    /// Physical memory, for percentages.
    pub physical: Option<u64>,
    /// Active memory and cache, bytes.
    pub active: Option<u64>,
    /// MLX cache, bytes.
    pub cache: Option<u64>,
    /// The limits as the agent reports them (cache, memory, wired).
    pub limits: [Option<u64>; 3],
    /// Limits the process's own code has set (the agent sees its setters called).
    pub set_by_process: Vec<LimitKind>,
    /// CPU time the process has used, seconds.
    pub cpu_secs: Option<f64>,
    /// Whether its agent answered this poll; a process whose agent did not is kept as it
    /// was (its policy is not applied again when it answers).
    pub answered: bool,
}

/// Something to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyPlan {
    /// Set these limits in process `pid`.
    Apply {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
        /// Policy id.
        policy: String,
        /// The limits, bytes.
        limits: Vec<(LimitKind, u64)>,
    },
    /// Clear the cache of idle process `pid`.
    Trim {
        /// Process id.
        pid: u32,
        /// Process name.
        name: String,
        /// Policy id.
        policy: String,
    },
}

/// The result of setting one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitResult {
    /// Which limit.
    pub limit: LimitKind,
    /// The value now in force (the agent's answer), when set.
    pub current: Option<u64>,
    /// Why it was not set: (error code, message).
    pub error: Option<(String, String)>,
}

const KINDS: [LimitKind; 3] = [LimitKind::Cache, LimitKind::Memory, LimitKind::Wired];

fn index(k: LimitKind) -> usize {
    match k {
        LimitKind::Cache => 0,
        LimitKind::Memory => 1,
        LimitKind::Wired => 2,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    source: LimitSource,
    /// The value the policy set (to notice a change made outside it).
    set: Option<u64>,
    wanted: Option<u64>,
    why: String,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            source: LimitSource::Default,
            set: None,
            wanted: None,
            why: "MLX's default: no policy sets it".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Proc {
    name: String,
    policy: Option<Policy>,
    /// The policies generation this process was last evaluated at.
    generation: Option<u64>,
    applying: bool,
    slots: [Slot; 3],
    idle: IdleState,
    idle_ms: Option<u64>,
    trimming: bool,
    last_trim: Option<TrimRecord>,
}

/// Policy state of every attached process.
#[derive(Debug, Default)]
pub struct PolicyTracker {
    policies: Policies,
    generation: u64,
    procs: BTreeMap<u32, Proc>,
}

impl PolicyTracker {
    /// A tracker with `policies` in force.
    pub fn new(policies: Policies) -> Self {
        Self {
            policies,
            ..Self::default()
        }
    }

    /// Puts new policies in force; processes are evaluated again at the next poll when they
    /// differ from the current ones.
    pub fn set_policies(&mut self, policies: Policies) {
        if policies != self.policies {
            self.policies = policies;
            self.generation += 1;
        }
    }

    /// Takes one poll's attached processes (at `at_ms` on a monotonic clock) and says what to
    /// do now. Processes not in `seen` have exited or detached: their state is dropped.
    pub fn observe(&mut self, seen: &[Observed], at_ms: u64) -> Vec<PolicyPlan> {
        self.procs
            .retain(|pid, _| seen.iter().any(|o| o.pid == *pid));
        let mut plans = Vec::new();
        for o in seen.iter().filter(|o| o.answered) {
            let generation = self.generation;
            let p = self.procs.entry(o.pid).or_default();
            p.name.clone_from(&o.facts.name);
            p.notice_outside_changes(o);
            // Matching (regular expressions) runs when a process appears or the policies
            // change, not on every poll.
            if p.generation != Some(generation) && !p.applying {
                let policy = self.policies.matching(&o.facts).cloned();
                p.generation = Some(generation);
                let changed = p.policy != policy;
                p.policy = policy;
                if changed {
                    if let Some(plan) = p.plan_apply(o) {
                        plans.push(plan);
                    }
                }
            }
            if let Some(plan) = p.idle_step(o, at_ms) {
                plans.push(plan);
            }
        }
        plans
    }

    /// Records the results of an [`PolicyPlan::Apply`].
    pub fn applied(&mut self, pid: u32, results: &[LimitResult]) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        p.applying = false;
        let id = p.policy.as_ref().map_or("?", |x| x.id.as_str()).to_string();
        for r in results {
            let slot = &mut p.slots[index(r.limit)];
            match &r.error {
                None => {
                    slot.source = LimitSource::Policy;
                    slot.set = r.current;
                    slot.why = format!("set by policy {id}");
                }
                Some((code, message)) => {
                    slot.source = if code == "wired_limit_refused" || code == "invalid_argument" {
                        LimitSource::Refused
                    } else {
                        LimitSource::Failed
                    };
                    slot.why = format!("policy {id} not applied: {message}");
                }
            }
        }
    }

    /// Records an idle trim's result (`freed` bytes, `None` when it failed) at `at_ms` (ms
    /// since the Unix epoch).
    pub fn trimmed(&mut self, pid: u32, freed: Option<u64>, at_ms: i64) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.trimming = false;
            if let Some(freed) = freed {
                p.last_trim = Some(TrimRecord { at_ms, freed });
            }
        }
    }

    /// Records a limit set by hand through Headroom: the policy leaves it alone in this
    /// process until it exits.
    pub fn set_by_hand(&mut self, pid: u32, limit: LimitKind, bytes: u64) {
        let p = self.procs.entry(pid).or_default();
        let slot = &mut p.slots[index(limit)];
        slot.source = LimitSource::Manual;
        slot.set = Some(bytes);
        slot.why = "set by hand; overrides the policy until the process exits".into();
    }

    /// The policy state of `pid`, for the snapshot.
    pub fn status(&self, pid: u32) -> Option<PolicyStatus> {
        let p = self.procs.get(&pid)?;
        Some(PolicyStatus {
            policy: p.policy.as_ref().map(|x| x.id.clone()),
            limits_source: KINDS
                .iter()
                .map(|&k| {
                    let s = &p.slots[index(k)];
                    LimitOrigin {
                        limit: k,
                        source: s.source,
                        wanted: s.wanted,
                        why: s.why.clone(),
                    }
                })
                .collect(),
            idle_secs: p.idle_ms.map(|ms| ms / 1000),
            last_trim: p.last_trim.clone(),
        })
    }
}

impl Proc {
    /// A limit that differs from what the policy set was changed outside it; a limit the
    /// process's own code set is its own.
    fn notice_outside_changes(&mut self, o: &Observed) {
        if self.applying {
            return;
        }
        for k in KINDS {
            let slot = &mut self.slots[index(k)];
            if matches!(slot.source, LimitSource::Manual | LimitSource::Process) {
                continue;
            }
            if o.set_by_process.contains(&k) && slot.source != LimitSource::Policy {
                slot.source = LimitSource::Process;
                slot.why = "set by the process itself; the policy leaves it alone".into();
                continue;
            }
            let now = o.limits[index(k)];
            if slot.source == LimitSource::Policy && now.is_some() && now != slot.set {
                slot.source = LimitSource::Manual;
                slot.set = now;
                slot.why = "changed since the policy set it (by hand or by the process); \
                            overrides the policy until the process exits"
                    .into();
            }
        }
    }

    fn plan_apply(&mut self, o: &Observed) -> Option<PolicyPlan> {
        let Some(policy) = &self.policy else {
            for slot in &mut self.slots {
                slot.wanted = None;
                if matches!(
                    slot.source,
                    LimitSource::Pending | LimitSource::Refused | LimitSource::Failed
                ) {
                    *slot = Slot::default();
                } else if slot.source == LimitSource::Policy {
                    slot.why = "set by a policy no longer in force; kept until the process \
                                exits"
                        .into();
                }
            }
            return None;
        };
        let mut limits = Vec::new();
        for k in KINDS {
            let slot = &mut self.slots[index(k)];
            let wanted = policy
                .limits(o.physical)
                .into_iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, b)| b);
            slot.wanted = wanted;
            let Some(bytes) = wanted else { continue };
            if matches!(slot.source, LimitSource::Manual | LimitSource::Process) {
                continue;
            }
            slot.source = LimitSource::Pending;
            slot.why = format!("policy {} is being applied", policy.id);
            limits.push((k, bytes));
        }
        if limits.is_empty() {
            return None;
        }
        self.applying = true;
        Some(PolicyPlan::Apply {
            pid: o.pid,
            name: self.name.clone(),
            policy: policy.id.clone(),
            limits,
        })
    }

    fn idle_step(&mut self, o: &Observed, at_ms: u64) -> Option<PolicyPlan> {
        let policy = self.policy.as_ref()?;
        let rule = policy.idle_trim.as_ref()?;
        let (Some(active), Some(cache)) = (o.active, o.cache) else {
            return None;
        };
        if self.trimming {
            return None;
        }
        let verdict = self.idle.observe(
            Reading {
                at_ms,
                active,
                cache,
                cpu_ms: o.cpu_secs.map(|s| (s * 1000.0) as u64),
            },
            rule,
        );
        self.idle_ms = match verdict {
            IdleVerdict::Busy => Some(0),
            IdleVerdict::Idle(ms) => Some(ms),
            IdleVerdict::Trim => self.idle_ms,
        };
        (verdict == IdleVerdict::Trim).then(|| {
            self.trimming = true;
            PolicyPlan::Trim {
                pid: o.pid,
                name: self.name.clone(),
                policy: policy.id.clone(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IdleTrim, LimitSpec};
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn on(list: Vec<Policy>) -> Policies {
        Policies {
            enabled: true,
            list,
        }
    }

    fn cache_policy(mib: u64) -> Policy {
        Policy {
            cache: Some(LimitSpec::Bytes(mib * MIB)),
            ..Policy::every("p")
        }
    }

    fn proc(pid: u32, cache_limit: u64) -> Observed {
        Observed {
            pid,
            facts: ProcessFacts {
                name: "python3".into(),
                ..ProcessFacts::default()
            },
            physical: Some(16 << 30),
            active: Some(100 * MIB),
            cache: Some(10 * MIB),
            limits: [Some(cache_limit), Some(0), Some(0)],
            set_by_process: Vec::new(),
            cpu_secs: Some(1.0),
            answered: true,
        }
    }

    fn ok(limit: LimitKind, v: u64) -> LimitResult {
        LimitResult {
            limit,
            current: Some(v),
            error: None,
        }
    }

    fn source(t: &PolicyTracker, pid: u32, k: LimitKind) -> LimitSource {
        t.status(pid).unwrap().limits_source[index(k)].source
    }

    #[test]
    fn applies_once_per_process_and_again_when_the_policy_changes() {
        let mut t = PolicyTracker::new(on(vec![cache_policy(64)]));
        let plans = t.observe(&[proc(1, 32 * MIB)], 0);
        assert_eq!(
            plans,
            [PolicyPlan::Apply {
                pid: 1,
                name: "python3".into(),
                policy: "p".into(),
                limits: vec![(LimitKind::Cache, 64 * MIB)],
            }]
        );
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Pending);
        assert!(
            t.observe(&[proc(1, 32 * MIB)], 1000).is_empty(),
            "in flight"
        );
        let silent = Observed {
            answered: false,
            ..proc(1, 0)
        };
        assert!(t.observe(&[silent], 1500).is_empty(), "kept while silent");
        t.applied(1, &[ok(LimitKind::Cache, 64 * MIB)]);
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Policy);
        for i in 2..10 {
            assert!(t.observe(&[proc(1, 64 * MIB)], i * 1000).is_empty());
        }
        t.set_policies(on(vec![cache_policy(128)]));
        let plans = t.observe(&[proc(1, 64 * MIB)], 11_000);
        assert!(matches!(&plans[..], [PolicyPlan::Apply { limits, .. }]
            if limits == &vec![(LimitKind::Cache, 128 * MIB)]));
    }

    #[test]
    fn nothing_is_applied_while_policies_are_off() {
        let mut policies = on(vec![cache_policy(64)]);
        policies.enabled = false;
        let mut t = PolicyTracker::new(policies);
        assert!(t.observe(&[proc(1, 32 * MIB)], 0).is_empty());
        let st = t.status(1).unwrap();
        assert_eq!(st.policy, None);
        assert_eq!(st.limits_source[0].source, LimitSource::Default);
    }

    #[test]
    fn a_refusal_is_recorded_and_never_retried() {
        let mut t = PolicyTracker::new(on(vec![Policy {
            wired: Some(LimitSpec::Percent(90.0)),
            ..Policy::every("w")
        }]));
        assert_eq!(t.observe(&[proc(1, 0)], 0).len(), 1);
        t.applied(
            1,
            &[LimitResult {
                limit: LimitKind::Wired,
                current: None,
                error: Some(("wired_limit_refused".into(), "above the working set".into())),
            }],
        );
        assert_eq!(source(&t, 1, LimitKind::Wired), LimitSource::Refused);
        for i in 1..20 {
            assert!(t.observe(&[proc(1, 0)], i * 1000).is_empty());
        }
        let why = &t.status(1).unwrap().limits_source[2].why;
        assert!(why.contains("above the working set"), "{why}");
    }

    #[test]
    fn a_hand_set_limit_overrides_the_policy_until_the_process_exits() {
        let mut t = PolicyTracker::new(on(vec![cache_policy(64)]));
        t.observe(&[proc(1, 32 * MIB)], 0);
        t.applied(1, &[ok(LimitKind::Cache, 64 * MIB)]);
        t.set_by_hand(1, LimitKind::Cache, 16 * MIB);
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Manual);
        t.set_policies(on(vec![cache_policy(128)]));
        assert!(t.observe(&[proc(1, 16 * MIB)], 1000).is_empty());
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Manual);
        // The process exits; a new one with the same pid gets the policy again.
        assert!(t.observe(&[], 2000).is_empty());
        assert_eq!(t.observe(&[proc(1, 32 * MIB)], 3000).len(), 1);
    }

    #[test]
    fn a_change_made_outside_headroom_counts_as_by_hand() {
        let mut t = PolicyTracker::new(on(vec![cache_policy(64)]));
        t.observe(&[proc(1, 32 * MIB)], 0);
        t.applied(1, &[ok(LimitKind::Cache, 64 * MIB)]);
        t.observe(&[proc(1, 8 * MIB)], 1000);
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Manual);
    }

    #[test]
    fn a_limit_the_process_set_itself_is_left_alone() {
        let mut t = PolicyTracker::new(on(vec![Policy {
            memory: Some(LimitSpec::Percent(50.0)),
            ..cache_policy(64)
        }]));
        let mut o = proc(1, 8 * MIB);
        o.set_by_process = vec![LimitKind::Cache];
        let plans = t.observe(&[o], 0);
        assert!(matches!(&plans[..], [PolicyPlan::Apply { limits, .. }]
            if limits == &vec![(LimitKind::Memory, 8 << 30)]));
        assert_eq!(source(&t, 1, LimitKind::Cache), LimitSource::Process);
    }

    #[test]
    fn an_idle_process_is_trimmed_once_and_not_while_the_trim_runs() {
        let mut t = PolicyTracker::new(on(vec![Policy {
            idle_trim: Some(IdleTrim {
                after_secs: 5,
                cache_above: 64 * MIB,
            }),
            ..Policy::every("idle")
        }]));
        let mut o = proc(1, 0);
        o.cache = Some(200 * MIB);
        let mut trims = Vec::new();
        for i in 0..20 {
            for plan in t.observe(&[o.clone()], i * 1000) {
                if let PolicyPlan::Trim { pid, .. } = plan {
                    trims.push((i, pid));
                }
            }
        }
        assert_eq!(trims, [(5, 1)]);
        t.trimmed(1, Some(200 * MIB), 1_700_000_000_000);
        assert_eq!(t.status(1).unwrap().last_trim.unwrap().freed, 200 * MIB);
    }
}
