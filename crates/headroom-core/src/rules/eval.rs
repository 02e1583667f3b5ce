//! Pure rule evaluation: snapshots and the time in, firings and resolutions out.

use super::{Action, Comparison, Metric, Rule, Scope};
use crate::events::{Event, EventKind, Severity};
use crate::snapshot::Snapshot;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use ts_rs::TS;

/// Where a rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RulePhase {
    /// Watching; the condition does not hold.
    Armed,
    /// The condition holds but not yet long enough (or the cooldown is running).
    Pending,
    /// Fired; silent until the value crosses the recovery threshold.
    Fired,
}

/// The state of one rule (one per process for process metrics), for the UI and `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RuleState {
    /// Rule id.
    pub rule: String,
    /// The process, for process metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pid: Option<u32>,
    /// Armed, pending or fired.
    pub state: RulePhase,
    /// When it entered this state (null before the first value).
    #[ts(type = "string | null")]
    pub since: Option<DateTime<Utc>>,
    /// The metric's last value.
    pub last_value: Option<f64>,
    /// Consecutive breaching samples so far.
    pub breaches: u32,
    /// When it last fired.
    #[ts(type = "string | null")]
    pub last_fired: Option<DateTime<Utc>>,
}

/// What happened to a rule on one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Transition {
    /// The condition held long enough: the rule fired and its actions are due.
    Fired,
    /// The value crossed the recovery threshold: the rule is re-armed.
    Resolved,
}

/// An action to run, with its targets resolved against the snapshot that fired the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum PlannedAction {
    /// Tell the person.
    Notify,
    /// Clear the MLX caches of these processes.
    ClearCache {
        /// Target processes.
        pids: Vec<u32>,
    },
    /// Set the MLX cache limit of these processes.
    SetCacheLimit {
        /// The limit in bytes.
        #[ts(type = "number")]
        bytes: u64,
        /// Target processes.
        pids: Vec<u32>,
    },
}

/// A rule that fired or resolved on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RuleOutcome {
    /// Rule id.
    pub rule: String,
    /// Rule name.
    pub name: String,
    /// Fired or resolved.
    pub transition: Transition,
    /// The metric.
    pub metric: Metric,
    /// The value that fired or resolved it.
    pub value: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// The process concerned, for process metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pid: Option<u32>,
    /// The process's name, for process metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub process: Option<String>,
    /// Actions to run now (empty when resolved).
    pub actions: Vec<PlannedAction>,
}

impl RuleOutcome {
    /// Critical when the pressure level itself is critical, a warning otherwise.
    fn fired_severity(&self) -> Severity {
        if self.metric == Metric::PRESSURE_LEVEL && self.value >= 2.0 {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }

    /// The journal entry for this outcome.
    pub fn event(&self, at: DateTime<Utc>) -> Event {
        let unit = self.metric.unit();
        let who = match (&self.process, self.pid) {
            (Some(n), Some(p)) => format!(" ({n}, pid {p})"),
            (None, Some(p)) => format!(" (pid {p})"),
            _ => String::new(),
        };
        let (severity, kind, message) = match self.transition {
            Transition::Fired => (
                self.fired_severity(),
                EventKind::RuleFired {
                    rule: self.rule.clone(),
                    metric: self.metric.name().into(),
                    value: self.value,
                    threshold: self.threshold,
                    pid: self.pid,
                },
                format!(
                    "{}{who}: {} is {} (threshold {})",
                    self.name,
                    self.metric.name(),
                    unit.format(self.value),
                    unit.format(self.threshold)
                ),
            ),
            Transition::Resolved => (
                Severity::Info,
                EventKind::RuleResolved {
                    rule: self.rule.clone(),
                    value: self.value,
                    pid: self.pid,
                },
                format!(
                    "Resolved: {}{who}: {} is back to {}",
                    self.name,
                    self.metric.name(),
                    unit.format(self.value)
                ),
            ),
        };
        Event {
            at,
            severity,
            kind,
            message,
        }
    }
}

/// The value of a whole-machine metric in `snap` (`None` for process metrics or when the
/// platform could not measure it).
pub fn metric_value(metric: Metric, snap: &Snapshot) -> Option<f64> {
    metric.spec().machine_value(snap)
}

/// Per-process values of a process metric: `(pid, name, value)`.
fn process_values(metric: Metric, snap: &Snapshot) -> Vec<(u32, &str, f64)> {
    let spec = metric.spec();
    snap.mlx
        .iter()
        .filter_map(|p| Some((p.pid, p.name.as_str(), spec.process_value(p)?)))
        .collect()
}

fn attached_pids(snap: &Snapshot) -> Vec<u32> {
    snap.mlx
        .iter()
        .filter(|p| p.attached)
        .map(|p| p.pid)
        .collect()
}

impl Rule {
    /// Whether `v` breaches the threshold.
    pub fn breaches(&self, v: f64) -> bool {
        match self.comparison {
            Comparison::Above => v > self.threshold,
            Comparison::Below => v < self.threshold,
        }
    }

    /// Whether `v` has crossed the recovery threshold (re-arms a fired rule).
    pub fn recovers(&self, v: f64) -> bool {
        let r = self.recovery.unwrap_or(self.threshold);
        match self.comparison {
            Comparison::Above => v <= r,
            Comparison::Below => v >= r,
        }
    }

    fn plan(&self, snap: &Snapshot, pid: Option<u32>) -> Vec<PlannedAction> {
        let targets = |scope: Scope| match (scope, pid) {
            (Scope::Breaching, Some(p)) => vec![p],
            _ => attached_pids(snap),
        };
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Notify => Some(PlannedAction::Notify),
                Action::ClearCache { scope } => {
                    let pids = targets(*scope);
                    (!pids.is_empty()).then_some(PlannedAction::ClearCache { pids })
                }
                Action::SetCacheLimit { bytes } => {
                    let pids = targets(Scope::Breaching);
                    (!pids.is_empty()).then_some(PlannedAction::SetCacheLimit {
                        bytes: *bytes,
                        pids,
                    })
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Track {
    phase: RulePhase,
    since: Option<DateTime<Utc>>,
    last_value: Option<f64>,
    breaches: u32,
    last_fired: Option<DateTime<Utc>>,
}

impl Track {
    fn new() -> Self {
        Self {
            phase: RulePhase::Armed,
            since: None,
            last_value: None,
            breaches: 0,
            last_fired: None,
        }
    }

    fn enter(&mut self, phase: RulePhase, now: DateTime<Utc>) {
        self.phase = phase;
        self.since = Some(now);
    }

    /// Advances by one sample; returns the transition, if any.
    fn step(&mut self, rule: &Rule, v: f64, now: DateTime<Utc>) -> Option<Transition> {
        self.last_value = Some(v);
        if self.since.is_none() {
            self.since = Some(now);
        }
        match self.phase {
            RulePhase::Fired => {
                if rule.recovers(v) {
                    self.breaches = 0;
                    self.enter(RulePhase::Armed, now);
                    return Some(Transition::Resolved);
                }
                None
            }
            RulePhase::Armed | RulePhase::Pending => self.step_armed(rule, v, now),
        }
    }

    fn step_armed(&mut self, rule: &Rule, v: f64, now: DateTime<Utc>) -> Option<Transition> {
        if !rule.breaches(v) {
            self.breaches = 0;
            if self.phase != RulePhase::Armed {
                self.enter(RulePhase::Armed, now);
            }
            return None;
        }
        if self.phase == RulePhase::Armed {
            self.enter(RulePhase::Pending, now);
        }
        self.breaches = self.breaches.saturating_add(1);
        // A wall clock that went back leaves `since` in the future: restart the hold from now
        // rather than wait (up to the size of the jump) for the clock to catch up.
        if self.since.is_some_and(|t| t > now) {
            self.since = Some(now);
        }
        let held_for = secs_between(self.since, now);
        let held = self.breaches >= rule.samples.max(1) && held_for >= rule.for_secs as f64;
        // Likewise a last firing "in the future" counts as cooled down.
        let cooled = match self.last_fired {
            Some(t) if t <= now => secs_between(Some(t), now) >= rule.cooldown_secs as f64,
            _ => true,
        };
        if held && cooled {
            self.enter(RulePhase::Fired, now);
            self.last_fired = Some(now);
            return Some(Transition::Fired);
        }
        None
    }

    fn state(&self, rule: &str, pid: Option<u32>) -> RuleState {
        RuleState {
            rule: rule.to_string(),
            pid,
            state: self.phase,
            since: self.since,
            last_value: self.last_value,
            breaches: self.breaches,
            last_fired: self.last_fired,
        }
    }
}

fn secs_between(from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> f64 {
    from.map_or(0.0, |f| (to - f).num_milliseconds() as f64 / 1000.0)
}

/// Evaluates rules against successive snapshots. Pure: no I/O, the time is passed in.
#[derive(Debug, Clone, Default)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    tracks: HashMap<(String, Option<u32>), Track>,
}

impl RuleEngine {
    /// An engine for `rules` (disabled rules are kept but never evaluated).
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules,
            tracks: HashMap::new(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Replaces the rules. A rule whose definition did not change keeps its state (a config
    /// save does not re-notify); a changed or removed rule starts over.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        let unchanged: Vec<&str> = rules
            .iter()
            .filter(|r| self.rules.contains(r))
            .map(|r| r.id.as_str())
            .collect();
        self.tracks
            .retain(|(id, _), _| unchanged.contains(&id.as_str()));
        self.rules = rules;
    }

    /// Evaluates every enabled rule against `snap` at `now`.
    pub fn evaluate(&mut self, snap: &Snapshot, now: DateTime<Utc>) -> Vec<RuleOutcome> {
        let mut out = Vec::new();
        let rules = std::mem::take(&mut self.rules);
        for rule in rules.iter().filter(|r| r.enabled) {
            if rule.metric.per_process() {
                let values = process_values(rule.metric, snap);
                self.evaluate_processes(rule, snap, &values, now, &mut out);
            } else if let Some(v) = metric_value(rule.metric, snap) {
                self.evaluate_one(rule, snap, None, v, now, &mut out);
            }
        }
        self.rules = rules;
        out
    }

    fn evaluate_processes(
        &mut self,
        rule: &Rule,
        snap: &Snapshot,
        values: &[(u32, &str, f64)],
        now: DateTime<Utc>,
        out: &mut Vec<RuleOutcome>,
    ) {
        // Processes that are gone take their state with them.
        self.tracks.retain(|(id, pid), _| {
            id != &rule.id || pid.is_some_and(|p| values.iter().any(|v| v.0 == p))
        });
        for &(pid, _, v) in values {
            self.evaluate_one(rule, snap, Some(pid), v, now, out);
        }
    }

    fn evaluate_one(
        &mut self,
        rule: &Rule,
        snap: &Snapshot,
        pid: Option<u32>,
        v: f64,
        now: DateTime<Utc>,
        out: &mut Vec<RuleOutcome>,
    ) {
        let track = self
            .tracks
            .entry((rule.id.clone(), pid))
            .or_insert_with(Track::new);
        let Some(transition) = track.step(rule, v, now) else {
            return;
        };
        let actions = match transition {
            Transition::Fired => rule.plan(snap, pid),
            Transition::Resolved => Vec::new(),
        };
        let process = pid.and_then(|p| snap.mlx.iter().find(|m| m.pid == p));
        out.push(RuleOutcome {
            rule: rule.id.clone(),
            name: rule.name.clone(),
            transition,
            metric: rule.metric,
            value: v,
            threshold: rule.threshold,
            pid,
            process: process.map(|p| p.name.clone()),
            actions,
        });
    }

    /// The state of every enabled rule (one per process for process metrics; a rule with no
    /// value yet is listed as armed).
    pub fn states(&self) -> Vec<RuleState> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| r.enabled) {
            let mut mine: Vec<RuleState> = self
                .tracks
                .iter()
                .filter(|((id, _), _)| id == &rule.id)
                .map(|((id, pid), t)| t.state(id, *pid))
                .collect();
            if mine.is_empty() {
                mine.push(Track::new().state(&rule.id, None));
            }
            mine.sort_by_key(|s| s.pid);
            out.extend(mine);
        }
        out
    }
}
