//! A stand-in [`Backend`] that only samples memory on an interval (no rules, history or
//! agents). The app uses the engine; this stays for hosts without it and for tests.

use crate::backend::{ActionSummary, Backend, BoxFuture, CommandError, Feed};
use headroom_core::agents::LimitKind;
use headroom_core::config::{config_path, load, LoadedConfig};
use headroom_core::events::Event;
use headroom_core::{Sampler, Snapshot};
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;

/// Samples memory every interval and broadcasts each snapshot.
pub struct SamplerBackend {
    latest: Mutex<Option<Arc<Snapshot>>>,
    tx: broadcast::Sender<Feed>,
    config: LoadedConfig,
    task: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
}

const UNAVAILABLE: &str = "this build samples memory only: history, journal and actions need the engine";

impl SamplerBackend {
    /// Starts sampling on the Tauri async runtime at the configured interval.
    pub fn start() -> Arc<Self> {
        let config = load(&config_path());
        let interval = Duration::from_millis(config.config.sampling.interval_ms.max(100));
        let (tx, _) = broadcast::channel(64);
        let this = Arc::new(Self {
            latest: Mutex::new(None),
            tx,
            config,
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&this);
        let task = tauri::async_runtime::spawn(async move {
            let mut sampler = Sampler::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { break };
                this.publish(sampler.sample());
            }
        });
        *this.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        this
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        // No receiver is not an error: nobody is listening yet.
        let _ = self.tx.send(Feed::Snapshot(snapshot));
    }
}

impl Backend for SamplerBackend {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn subscribe(&self) -> broadcast::Receiver<Feed> {
        self.tx.subscribe()
    }

    fn config(&self) -> LoadedConfig {
        self.config.clone()
    }

    fn put_config(&self, _doc: Value, _dry_run: bool) -> BoxFuture<'_, Result<Value, CommandError>> {
        Box::pin(async { Err(CommandError::unavailable(UNAVAILABLE)) })
    }

    fn history(&self, _since: Duration) -> BoxFuture<'_, Result<Value, CommandError>> {
        Box::pin(async { Ok(Value::Array(Vec::new())) })
    }

    fn events(&self) -> BoxFuture<'_, Result<Vec<Event>, CommandError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn clear_cache(&self, _pids: Vec<u32>) -> BoxFuture<'_, Result<ActionSummary, CommandError>> {
        Box::pin(async { Err(CommandError::unavailable(UNAVAILABLE)) })
    }

    fn set_limit(
        &self,
        _kind: LimitKind,
        _bytes: u64,
        _pids: Vec<u32>,
    ) -> BoxFuture<'_, Result<ActionSummary, CommandError>> {
        Box::pin(async { Err(CommandError::unavailable(UNAVAILABLE)) })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        Box::pin(async move {
            if let Some(task) = task {
                task.abort();
            }
        })
    }
}
