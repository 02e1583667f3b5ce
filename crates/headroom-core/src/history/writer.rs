//! The writer thread: batches, maintenance, failover to memory and recovery.

use super::schema::SampleRow;
use super::store::{Retention, Store};
use super::{storage_event, HistoryLimits, HistoryOptions, Request, Shared, StorageStatus};
use crate::events::{Event, EventKind};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest sleep when idle (maintenance and retry are checked at least this often).
const IDLE_TICK: Duration = Duration::from_secs(5);

/// What one wake-up hands the writer.
#[derive(Default)]
struct Work {
    samples: Vec<SampleRow>,
    events: Vec<Event>,
    procs: Vec<super::ProcRow>,
    requests: Vec<Request>,
    shutdown: bool,
}

/// The thread's state.
pub(super) struct Writer {
    path: PathBuf,
    store: Option<Store>,
    shared: Arc<Shared>,
    opts: HistoryOptions,
    file_limits: Retention,
    memory_limits: Retention,
    last_maintenance: Option<DateTime<Utc>>,
    last_retry: Instant,
}

impl Writer {
    /// Opens the database (or the memory fallback) on the caller's thread, so that
    /// [`super::HistoryStore::status`] is right as soon as `open` returns.
    pub fn start(
        path: PathBuf,
        cfg: &HistoryLimits,
        opts: HistoryOptions,
        shared: Arc<Shared>,
    ) -> Self {
        let file_limits = Retention::new(
            cfg.full_rate_hours,
            cfg.minute_days,
            opts.event_days,
            cfg.max_db_bytes,
        );
        let memory_limits = Retention {
            max_bytes: opts.memory_max_bytes.min(cfg.max_db_bytes),
            ..file_limits
        };
        let mut w = Self {
            path,
            store: None,
            shared,
            opts,
            file_limits,
            memory_limits,
            last_maintenance: None,
            last_retry: Instant::now(),
        };
        match Store::open_file(&w.path) {
            Ok((store, note)) => {
                w.store = Some(store);
                if let Some(note) = note {
                    w.note_recovered_file(note);
                }
                w.publish_counts();
            }
            Err(e) => w.fail_over(e),
        }
        w
    }

    fn now(&self) -> DateTime<Utc> {
        self.opts.clock.now()
    }

    fn set_status(&self, f: impl FnOnce(&mut StorageStatus)) {
        f(&mut self.shared.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn publish_counts(&self) {
        let Some(store) = &self.store else { return };
        let memory = store.is_memory();
        let counts = store.counts().ok();
        self.set_status(|s| {
            s.ok = !memory;
            s.in_memory = memory;
            if !memory {
                s.error = None;
            }
            if let Some((rows, bytes)) = counts {
                s.rows = rows;
                s.bytes = bytes;
            }
        });
    }

    /// A corrupt file was moved aside and a new one started: journal and report it.
    fn note_recovered_file(&mut self, note: String) {
        let ev = storage_event(
            EventKind::StorageError {
                error: note.clone(),
            },
            note.clone(),
            self.now(),
        );
        self.write_events(&[ev]);
        self.set_status(|s| s.last_error = Some(note));
    }

    /// Switches to the in-memory database after `error`.
    fn fail_over(&mut self, error: String) {
        self.last_retry = Instant::now();
        if self.store.as_ref().is_some_and(Store::is_memory) {
            return;
        }
        self.store = Store::open_memory().ok();
        let message = format!("History is kept in memory: {error}");
        self.set_status(|s| {
            s.ok = false;
            s.in_memory = true;
            s.error = Some(error.clone());
            s.last_error = Some(error.clone());
        });
        let ev = storage_event(EventKind::StorageError { error }, message, self.now());
        self.write_events(&[ev]);
        self.publish_counts();
    }

    fn write_events(&mut self, events: &[Event]) {
        self.write(&[], events);
    }

    /// Writes one batch; on failure of the file, fails over and writes it to memory.
    fn write(&mut self, samples: &[SampleRow], events: &[Event]) {
        let Some(store) = &self.store else { return };
        match store.insert(samples, events) {
            Ok(()) => {
                let n = samples.len() as u64;
                self.set_status(|s| s.rows += n);
            }
            Err(e) if !store.is_memory() => {
                self.fail_over(format!("cannot write {}: {e}", self.path.display()));
                if let Some(mem) = &self.store {
                    let _ = mem.insert(samples, events);
                }
            }
            Err(_) => {}
        }
    }

    /// Rollup, retention and the size bound, once per maintenance interval of the clock.
    fn maybe_maintain(&mut self) {
        let now = self.now();
        let due = self.last_maintenance.map_or(true, |last| {
            now - last >= self.opts.maintenance_interval || now < last
        });
        if !due {
            return;
        }
        self.last_maintenance = Some(now);
        let Some(store) = &self.store else { return };
        if !store.is_memory() && !self.path.exists() {
            let e = format!("{} was removed", self.path.display());
            return self.fail_over(e);
        }
        let limits = if store.is_memory() {
            self.memory_limits
        } else {
            self.file_limits
        };
        match store.maintain(now.timestamp_millis(), &limits) {
            Ok(()) => self.publish_counts(),
            Err(e) if !store.is_memory() => {
                self.fail_over(format!("cannot maintain {}: {e}", self.path.display()));
            }
            Err(_) => {}
        }
    }

    /// While in memory: tries the file again, and on success copies memory into it.
    fn maybe_retry(&mut self) {
        let in_memory = self.store.as_ref().map_or(true, Store::is_memory);
        if !in_memory || self.last_retry.elapsed() < self.opts.retry_interval {
            return;
        }
        self.last_retry = Instant::now();
        let (file, note) = match Store::open_file(&self.path) {
            Ok(opened) => opened,
            Err(e) => return self.set_status(|s| s.error = Some(e)),
        };
        if let Some(mem) = &self.store {
            if let Err(e) = mem.copy_into(&self.path) {
                let e = format!("cannot write {}: {e}", self.path.display());
                return self.set_status(|s| s.error = Some(e));
            }
        }
        self.store = Some(file);
        if let Some(note) = note {
            self.note_recovered_file(note);
        }
        let message = format!("History is written to {} again", self.path.display());
        let ev = storage_event(EventKind::StorageRecovered, message, self.now());
        self.write_events(&[ev]);
        self.last_maintenance = None;
        self.maybe_maintain();
        self.publish_counts();
    }

    /// Waits until something is due, then takes it from the queue.
    fn wait(&self) -> Work {
        let started = Instant::now();
        let mut q = self.shared.lock();
        loop {
            let batch_due = q
                .first_at
                .is_some_and(|f| f.elapsed() >= self.opts.batch_interval)
                || q.samples.len() >= self.shared.batch_max;
            let urgent =
                q.shutdown || !q.requests.is_empty() || !q.events.is_empty() || !q.procs.is_empty();
            let tick = IDLE_TICK.min(self.opts.retry_interval);
            if urgent || batch_due || started.elapsed() >= tick {
                q.first_at = None;
                return Work {
                    samples: q.samples.drain(..).collect(),
                    events: std::mem::take(&mut q.events),
                    procs: std::mem::take(&mut q.procs),
                    requests: std::mem::take(&mut q.requests),
                    shutdown: q.shutdown,
                };
            }
            let until_tick = tick.saturating_sub(started.elapsed());
            let timeout = q.first_at.map_or(until_tick, |f| {
                self.opts
                    .batch_interval
                    .saturating_sub(f.elapsed())
                    .min(until_tick)
            });
            q = self
                .shared
                .wake
                .wait_timeout(q, timeout.max(Duration::from_millis(1)))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    fn answer(&mut self, request: Request) {
        let now_ms = self.now().timestamp_millis();
        match request {
            Request::Query(q, tx) => {
                let points = self.read(|s| s.query(&q, now_ms));
                let _ = tx.send(points);
            }
            Request::Events(q, tx) => {
                let events = self.read(|s| s.events(&q));
                let _ = tx.send(events);
            }
            Request::Flush(tx) => {
                let _ = tx.send(());
            }
        }
    }

    /// Runs a read; a failing file fails over (and the read is answered from memory).
    fn read<T: Default>(&mut self, f: impl Fn(&Store) -> rusqlite::Result<T>) -> T {
        let Some(store) = &self.store else {
            return T::default();
        };
        match f(store) {
            Ok(v) => v,
            Err(e) if !store.is_memory() => {
                self.fail_over(format!("cannot read {}: {e}", self.path.display()));
                self.store
                    .as_ref()
                    .and_then(|s| f(s).ok())
                    .unwrap_or_default()
            }
            Err(_) => T::default(),
        }
    }

    /// The thread's loop; returns after the last handle is dropped and everything is written.
    pub fn run(mut self) {
        loop {
            let work = self.wait();
            if !work.samples.is_empty() || !work.events.is_empty() {
                self.write(&work.samples, &work.events);
            }
            if !work.procs.is_empty() {
                if let Some(store) = &self.store {
                    // Best effort: a failing file is noticed (and failed over) by the writes
                    // and reads of samples.
                    let _ = store.insert_procs(&work.procs);
                }
            }
            self.maybe_maintain();
            self.maybe_retry();
            for r in work.requests {
                self.answer(r);
            }
            if work.shutdown {
                break;
            }
        }
    }
}
