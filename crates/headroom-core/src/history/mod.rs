//! History and journal: recent samples at full rate, older ones per minute (min/avg/max), and
//! the events journal, in one SQLite database (`history.db` in the data directory).
//!
//! - [`HistoryStore`] is a cheap, cloneable handle. A dedicated writer thread owns the SQLite
//!   connection; [`HistoryStore::record`] only appends to a bounded queue (the oldest sample
//!   is dropped and counted when the writer falls behind), so the sampler never waits on disk.
//! - Writes are batched: one transaction per [`HistoryOptions::batch_max`] samples or per
//!   [`HistoryOptions::batch_interval`], whichever comes first (events are written at once).
//!   WAL mode with `synchronous=NORMAL`: a `kill -9` loses at most the batch being collected.
//! - Every minute (by the injected [`Clock`]) the writer rolls complete minutes up into
//!   `samples_1m`, deletes full-rate rows older than `full_rate_hours`, minute rows older
//!   than `minute_days`, events older than 90 days (or beyond 100 000), and trims the oldest
//!   rows while the live pages exceed `max_db_bytes`.
//! - A database that cannot be opened or written (corrupt, disk full, read-only) never stops
//!   anything: the writer switches to an in-memory SQLite database with the same schema and
//!   retention (bounded by [`HistoryOptions::memory_max_bytes`]), reports the problem in
//!   [`HistoryStore::status`] and the journal, retries every
//!   [`HistoryOptions::retry_interval`], and on success copies what it kept in memory into
//!   the file and journals [`EventKind::StorageRecovered`]. A corrupt file is moved aside as
//!   `history.db.corrupt-<time>`, never deleted.

mod clock;
mod point;
mod reader;
mod schema;
mod store;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use point::HistoryPoint;
pub use reader::{default_data_dir, parse_since, HistoryReader, DB_FILE};

/// How often the engine records each MLX process's reading for the per-process history.
pub const PROCESS_RECORD_INTERVAL: Duration = Duration::from_secs(600);

use crate::events::{Event, EventKind};
use crate::snapshot::Snapshot;
use schema::SampleRow;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use ts_rs::TS;

/// How much history to keep (the engine's `Config.history` maps onto this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimits {
    /// Hours of full-rate (1 s) samples.
    pub full_rate_hours: u32,
    /// Days of per-minute rows.
    pub minute_days: u32,
    /// Upper bound of the database's live pages, in bytes.
    pub max_db_bytes: u64,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            full_rate_hours: 24,
            minute_days: 30,
            max_db_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Tuning of the writer; the defaults suit production, tests shrink the intervals.
#[derive(Clone)]
pub struct HistoryOptions {
    /// "Now" for retention and downsampling.
    pub clock: Arc<dyn Clock>,
    /// Samples per transaction at most before a write is forced.
    pub batch_max: usize,
    /// Longest time a sample waits before it is written.
    pub batch_interval: Duration,
    /// How often a failed database is tried again.
    pub retry_interval: Duration,
    /// How often (by `clock`) retention and rollup run.
    pub maintenance_interval: chrono::Duration,
    /// Samples the queue holds before the oldest is dropped.
    pub queue_capacity: usize,
    /// Size bound of the in-memory fallback.
    pub memory_max_bytes: u64,
    /// Days of events kept.
    pub event_days: u32,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            batch_max: 60,
            batch_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(30),
            maintenance_interval: chrono::Duration::seconds(60),
            queue_capacity: 4096,
            memory_max_bytes: 8 * 1024 * 1024,
            event_days: 90,
        }
    }
}

/// A range of history to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryQuery {
    /// Start, ms since the Unix epoch (inclusive); default one hour before `until_ms`.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub since_ms: Option<i64>,
    /// End, ms since the Unix epoch (inclusive); default now.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub until_ms: Option<i64>,
    /// At most this many points; neighbouring samples are merged (min/avg/max) to fit.
    #[serde(default)]
    pub max_points: Option<u32>,
}

/// A range of the journal to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EventQuery {
    /// Only events at or after this time, ms since the Unix epoch.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub since_ms: Option<i64>,
    /// At most this many (the newest); default 1000.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The state of the history storage, for the CLI, the API and the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StorageStatus {
    /// The database file.
    pub path: String,
    /// Whether the database file is being written.
    pub ok: bool,
    /// The current problem, while `ok` is false.
    pub error: Option<String>,
    /// The last problem seen, even if recovered from (e.g. a corrupt file moved aside).
    pub last_error: Option<String>,
    /// Whether history is kept in memory meanwhile.
    pub in_memory: bool,
    /// Full-rate and minute rows stored.
    #[ts(type = "number")]
    pub rows: u64,
    /// Size of the database, bytes.
    #[ts(type = "number")]
    pub bytes: u64,
    /// Samples dropped because the writer fell behind.
    #[ts(type = "number")]
    pub dropped: u64,
}

/// A request answered by the writer thread.
enum Request {
    Query(
        HistoryQuery,
        tokio::sync::oneshot::Sender<Vec<HistoryPoint>>,
    ),
    Events(EventQuery, tokio::sync::oneshot::Sender<Vec<Event>>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// What the handles hand to the writer.
#[derive(Default)]
struct Queue {
    samples: std::collections::VecDeque<SampleRow>,
    /// When the oldest queued sample arrived.
    first_at: Option<std::time::Instant>,
    events: Vec<Event>,
    /// Per-process MLX readings (see [`HistoryStore::record_processes`]).
    procs: Vec<ProcRow>,
    requests: Vec<Request>,
    dropped: u64,
    shutdown: bool,
}

/// One MLX process's reading, as `mlx_procs` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcRow {
    pub pid: u32,
    pub point: crate::restart::ProcessPoint,
}

/// State shared by the handles and the writer.
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    status: Mutex<StorageStatus>,
    batch_max: usize,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Owns the writer thread; the last handle to go stops it after a final flush.
struct Inner {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Whether the writer thread started (requests would never be answered otherwise).
    alive: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The history: cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct HistoryStore {
    inner: Arc<Inner>,
}

impl HistoryStore {
    /// Opens `history.db` in `data_dir`. Never fails: see the module documentation.
    pub fn open(data_dir: &Path, cfg: &HistoryLimits) -> Self {
        Self::open_with_options(data_dir, cfg, HistoryOptions::default())
    }

    /// [`HistoryStore::open`] with an injected clock (retention and downsampling tests).
    pub fn open_with_clock(data_dir: &Path, cfg: &HistoryLimits, clock: Arc<dyn Clock>) -> Self {
        let options = HistoryOptions {
            clock,
            ..HistoryOptions::default()
        };
        Self::open_with_options(data_dir, cfg, options)
    }

    /// [`HistoryStore::open`] with every knob.
    pub fn open_with_options(data_dir: &Path, cfg: &HistoryLimits, opts: HistoryOptions) -> Self {
        let path: PathBuf = data_dir.join(DB_FILE);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            status: Mutex::new(StorageStatus {
                path: path.display().to_string(),
                ..StorageStatus::default()
            }),
            batch_max: opts.batch_max.max(1),
            capacity: opts.queue_capacity.max(1),
        });
        let writer = writer::Writer::start(path, cfg, opts, Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("headroom-history".into())
            .spawn(move || writer.run())
            .ok();
        Self {
            inner: Arc::new(Inner {
                shared,
                alive: thread.is_some(),
                thread: Mutex::new(thread),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Queues a sample; never blocks on disk (drops the oldest queued sample when full).
    pub fn record(&self, snapshot: &Snapshot) {
        let row = SampleRow::from_snapshot(snapshot);
        let shared = self.shared();
        let mut q = shared.lock();
        if q.samples.len() >= shared.capacity {
            q.samples.pop_front();
            q.dropped += 1;
        }
        // The writer is woken twice per batch: to start its deadline, and when it is full.
        let first = q.samples.is_empty();
        if first {
            q.first_at = Some(std::time::Instant::now());
        }
        q.samples.push_back(row);
        let wake = first || q.samples.len() >= shared.batch_max;
        drop(q);
        if wake {
            shared.wake.notify_one();
        }
    }

    /// Queues one reading of each MLX process in `snapshot` (with its MLX numbers), for the
    /// per-process history the doctor reads for drift ([`crate::restart::drift`]). The engine
    /// calls it every [`PROCESS_RECORD_INTERVAL`]; rows are kept as long as minute rows.
    pub fn record_processes(&self, snapshot: &Snapshot) {
        let t = snapshot.at.timestamp_millis();
        let rows: Vec<ProcRow> = snapshot
            .mlx
            .iter()
            .filter(|p| p.attached)
            .map(|p| ProcRow {
                pid: p.pid,
                point: crate::restart::ProcessPoint {
                    t,
                    active: p.active,
                    cache: p.cache,
                    footprint: p.footprint,
                },
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        self.shared().lock().procs.extend(rows);
        self.shared().wake.notify_one();
    }

    /// Queues an event for the journal; it is written at once. Its message is stored as one
    /// line, control and bidirectional characters escaped ([`crate::text::terminal_safe`]): a
    /// process name cannot forge journal lines.
    pub fn journal(&self, event: &Event) {
        let mut event = event.clone();
        if let std::borrow::Cow::Owned(safe) = crate::text::terminal_safe(&event.message) {
            event.message = safe;
        }
        self.shared().lock().events.push(event);
        self.shared().wake.notify_one();
    }

    async fn ask<T: Default>(
        &self,
        make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Request,
    ) -> T {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut q = self.shared().lock();
            if q.shutdown || !self.inner.alive {
                return T::default();
            }
            q.requests.push(make(tx));
        }
        self.shared().wake.notify_one();
        rx.await.unwrap_or_default()
    }

    /// Points of history (everything recorded before the call included).
    pub async fn query(&self, q: HistoryQuery) -> Vec<HistoryPoint> {
        self.ask(|tx| Request::Query(q, tx)).await
    }

    /// Events of the journal, oldest first.
    pub async fn events(&self, q: EventQuery) -> Vec<Event> {
        self.ask(|tx| Request::Events(q, tx)).await
    }

    /// Writes everything queued so far.
    pub async fn flush(&self) {
        self.ask(Request::Flush).await
    }

    /// Where history goes and whether that works.
    pub fn status(&self) -> StorageStatus {
        let mut s = self
            .shared()
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        s.dropped = self.shared().lock().dropped;
        s
    }
}

/// An event about storage, for the journal.
fn storage_event(kind: EventKind, message: String, at: chrono::DateTime<chrono::Utc>) -> Event {
    let severity = match kind {
        EventKind::StorageRecovered => crate::events::Severity::Info,
        _ => crate::events::Severity::Warning,
    };
    Event {
        at,
        severity,
        kind,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<HistoryStore>();
    }

    #[test]
    fn export_bindings_history() {
        // ts-rs writes the files on `cargo test`; this asserts the types stay exportable.
        assert!(StorageStatus::decl().contains("in_memory"));
    }
}
