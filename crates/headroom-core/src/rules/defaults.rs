//! The rules a new installation starts with. Each comment names where its numbers come from
//! (mostly SleepyQuant's public "MLX Memory Safety Checklist", measured on a 64 GB M1 Max);
//! `docs/RULES.md` explains them for users.

use super::{Action, Comparison, Metric, Rule, Scope};

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

#[allow(clippy::too_many_arguments)]
fn rule(
    id: &str,
    name: &str,
    metric: Metric,
    comparison: Comparison,
    threshold: f64,
    recovery: f64,
    for_secs: u64,
    cooldown_secs: u64,
    actions: Vec<Action>,
) -> Rule {
    Rule {
        id: id.into(),
        name: name.into(),
        metric,
        comparison,
        threshold,
        for_secs,
        samples: 1,
        recovery: Some(recovery),
        cooldown_secs,
        actions,
        enabled: true,
    }
}

/// The default rules (see `docs/RULES.md` for why each acts the way it does).
pub fn default_rules() -> Vec<Rule> {
    let clear_all = Action::ClearCache { scope: Scope::All };
    vec![
        // MLX Memory Safety Checklist, layer 5: the watchdog clears MLX caches when pressure
        // reaches "warn".
        rule(
            "pressure-warn",
            "Memory pressure is elevated",
            Metric::PRESSURE_LEVEL,
            Comparison::Above,
            0.0,
            0.0,
            10,
            600,
            vec![Action::Notify, clear_all.clone()],
        ),
        // Same watchdog: … or when the free percentage drops under 15 %.
        rule(
            "free-low",
            "Free memory is below 15%",
            Metric::FREE_PERCENT,
            Comparison::Below,
            15.0,
            20.0,
            10,
            600,
            vec![Action::Notify, clear_all],
        ),
        // Swapping is what makes inference crawl and the Mac freeze ("MLX out of memory" guide,
        // cause #6; MLX Memory Safety Checklist).
        rule(
            "swap-used",
            "Swap use is above 1 GB",
            Metric::SWAP_USED,
            Comparison::Above,
            GIB,
            512.0 * MIB,
            0,
            3600,
            vec![Action::Notify],
        ),
        // MLX Memory Safety Checklist, "what happens when each layer fails": compressed memory
        // climbing past 5 GB; its healthy steady state is about 2 GB, which re-arms the rule.
        rule(
            "compressed-high",
            "Compressed memory is above 5 GB",
            Metric::COMPRESSED,
            Comparison::Above,
            5.0 * GIB,
            2.0 * GIB,
            30,
            3600,
            vec![Action::Notify],
        ),
        // MLX Memory Safety Checklist, layer 2: a 512 MB cache is enough to keep inference fast;
        // a healthy cache stays under 100 MB, which re-arms the rule.
        rule(
            "mlx-cache-high",
            "An MLX cache is above 512 MB",
            Metric::PROCESS_MLX_CACHE,
            Comparison::Above,
            512.0 * MIB,
            100.0 * MIB,
            30,
            300,
            vec![
                Action::Notify,
                Action::ClearCache {
                    scope: Scope::Breaching,
                },
            ],
        ),
    ]
}
