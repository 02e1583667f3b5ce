//! The engine as the HTTP layer sees it: the one [`Backend`] trait of the core's operations
//! layer, and its live feed as a stream for Server-Sent Events and the journal counters.

pub use headroom_core::ops::Backend;

use futures_util::stream::{BoxStream, StreamExt};
use headroom_core::engine::EngineEvent;
use headroom_core::events::Event;
use headroom_core::rules::RulePhase;
use headroom_core::Snapshot;
use std::sync::Arc;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

/// One item of the engine's live feed.
#[derive(Debug, Clone)]
pub enum Feed {
    /// A new sample.
    Snapshot(Arc<Snapshot>),
    /// A journal entry (rule fired or resolved, action taken, agent attached, …).
    Journal(Arc<Event>),
    /// This subscriber fell behind and missed this many items.
    Lagged(u64),
}

/// The backend's live feed from now on.
pub fn feed<B: Backend + ?Sized>(backend: &B) -> BoxStream<'static, Feed> {
    BroadcastStream::new(backend.subscribe())
        .map(|item| match item {
            Ok(EngineEvent::Snapshot(s)) => Feed::Snapshot(s),
            Ok(EngineEvent::Journal(e)) => Feed::Journal(e),
            Err(BroadcastStreamRecvError::Lagged(n)) => Feed::Lagged(n),
        })
        .boxed()
}

/// The state of one alert rule, for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGauge {
    /// Rule id.
    pub rule: String,
    /// The process concerned, for per-process rules.
    pub pid: Option<u32>,
    /// Whether the rule is currently fired (not yet recovered).
    pub firing: bool,
}

/// The state of every alert rule of `backend`.
pub fn rule_gauges<B: Backend + ?Sized>(backend: &B) -> Vec<RuleGauge> {
    backend
        .rule_states()
        .into_iter()
        .map(|s| RuleGauge {
            rule: s.rule,
            pid: s.pid,
            firing: s.state == RulePhase::Fired,
        })
        .collect()
}
