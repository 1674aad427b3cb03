//! The write-behind queue and the persistence thread that drains it.
//!
//! Rooms, messages and last-seen times are recorded by workers with a
//! non-blocking `try_send`; one thread takes them off in batches of up to
//! `MAX_BATCH` rows and writes each batch: messages with one binary `COPY`,
//! rooms and last-seen times with one array statement (`writer/copy.rs`).
//! The thread's session runs with `synchronous_commit = off`: a commit
//! returns before its WAL is flushed, so a crash of the database (not of
//! duet) can lose the last ~3 × `wal_writer_delay` (600 ms by default) of
//! committed rows; they were write-behind anyway (acknowledged to the
//! queue, not to a reader). The one thing on this session a user is told
//! is done, an erasure, commits with `synchronous_commit = on`.
//! The same thread makes day partitions ahead and drops those past
//! `--retention-days` (`partitions.rs`), at start and every hour.
//!
//! Invariants:
//! - Jobs are written in queue order; a `Barrier` or `Delete` is handled
//!   only after everything queued before it is written, which is how
//!   readers (erasure, a flush at exit) see what was queued and how
//!   an erasure cannot be undone by a row queued earlier.
//! - Rows that mention a user erased here are dropped if they arrive
//!   later (the last `FORGOTTEN` erasures are remembered).
//! - Bounded: the queue holds `capacity` jobs. When it is full a job is
//!   dropped, counted in `duet_store_writes_dropped` and logged; never
//!   silently. While the database is away a write is retried with backoff
//!   (`MIN_BACKOFF` doubling to `MAX_BACKOFF`), the store is marked
//!   degraded, and new jobs wait in the queue up to its bound.
//! - One bad row never costs another: a write that fails for a reason in
//!   the data, not the connection, is split in halves until the bad rows
//!   are alone; those are logged with the reason, counted in
//!   `duet_store_rows_rejected` (and `duet_store_writes_failed`) and
//!   skipped, and the rest of the batch and of the queue is written.

mod batch;
mod copy;
mod persister;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError, bounded};
use log::{error, info, warn};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use self::persister::{Forgotten, Persister};
use crate::store::{Event, StoreError, UserId};

/// Rows written by one batch at most (one COPY plus one statement).
pub const MAX_BATCH: usize = 1_000;
/// How often partitions are made ahead and expired ones dropped.
const MAINTAIN_EVERY: Duration = Duration::from_secs(3600);
/// After a failed maintenance pass, the wait before the next try.
const MAINTAIN_RETRY: Duration = Duration::from_secs(60);
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an idle writer checks the database is still there.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What a worker hands the persistence thread.
pub enum Job {
    Event(Event),
    /// Answered once everything queued before it is written.
    Barrier(Sender<()>),
    /// Erase a user once everything queued before it is written; answers
    /// whether there was one.
    Delete(UserId, Sender<Result<bool, String>>),
}

/// State the store, the thread, `/metrics` and `/api/health` share.
pub struct Shared {
    /// Why the database is unusable now; None = fine.
    degraded: Mutex<Option<String>>,
    /// Jobs waiting: in the queue plus the batch being written; set by
    /// both ends, so it grows during an outage while a batch is retried.
    pub backlog: Gauge,
    /// Rows of the batch being written now.
    in_flight: AtomicUsize,
    /// Rows dropped because the queue was full.
    pub dropped: Counter,
    /// Rows the database refused for good (skipped); kept for dashboards
    /// made before `rejected`, which counts the same rows.
    pub failed: Counter,
    /// Rows the database refused for good (skipped), each logged.
    pub rejected: Counter,
    /// Batches written.
    pub batches: Counter,
    /// 1 while degraded, for alerting.
    pub degraded_gauge: Gauge,
}

impl Shared {
    pub fn new(
        backlog: Gauge,
        dropped: Counter,
        failed: Counter,
        rejected: Counter,
        batches: Counter,
        degraded: Gauge,
    ) -> Shared {
        let in_flight = AtomicUsize::new(0);
        Shared {
            degraded: Mutex::new(None),
            backlog,
            in_flight,
            dropped,
            failed,
            rejected,
            batches,
            degraded_gauge: degraded,
        }
    }

    fn set_backlog(&self, queued: usize) {
        self.backlog.set((queued + self.in_flight.load(Ordering::Relaxed)) as i64);
    }

    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().clone()
    }

    /// `Unavailable` with the reason while degraded: callers fail at once.
    pub fn usable(&self) -> Result<(), StoreError> {
        match self.degraded() {
            Some(why) => Err(StoreError::Unavailable(why)),
            None => Ok(()),
        }
    }

    /// Marks the database unreachable because of `e`; returns the reason
    /// health shows.
    pub fn unreachable(&self, e: &dyn std::fmt::Display) -> String {
        let why = format!("database unreachable: {e}");
        let mut d = self.degraded.lock();
        if d.is_none() {
            warn!("database: degraded: {why}");
        }
        *d = Some(why.clone());
        self.degraded_gauge.set(1);
        why
    }

    fn recover(&self) {
        if self.degraded.lock().take().is_some() {
            info!("database: reachable again");
        }
        self.degraded_gauge.set(0);
    }
}

/// The workers' end of the queue.
pub struct Writer {
    /// Bounded by `--database-queue`; `try_send`, never waits.
    tx: Sender<Job>,
    /// Counts what it drops.
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the persistence thread, which connects with `config` and
    /// keeps `retention_days` days of rooms and messages.
    pub fn spawn(
        config: postgres::Config,
        shared: Arc<Shared>,
        capacity: usize,
        retention_days: u32,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = bounded(capacity.max(1));
        let thread = Persister {
            rx,
            shared: shared.clone(),
            config,
            conn: None,
            forgotten: Forgotten::default(),
            retention_days,
            next_maintenance: Instant::now(),
        };
        thread::Builder::new().name("duet-persist".into()).spawn(move || thread.run())?;
        Ok(Writer { tx, shared })
    }

    /// Queues a job without waiting; false (logged, counted) when full.
    pub fn push(&self, job: Job) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => {
                self.shared.set_backlog(self.tx.len());
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.inc();
                let n = self.shared.dropped.get();
                if n == 1 || n.is_power_of_two() {
                    error!("database: write-behind queue full; {n} writes dropped so far");
                }
                false
            }
        }
    }

    /// Waits (at most `within`) until everything queued so far is written.
    pub fn barrier(&self, within: Duration) -> Result<(), StoreError> {
        self.ask(Job::Barrier, within)
    }

    /// Erases `user` after everything queued so far, waiting at most `within`.
    pub fn delete(&self, user: UserId, within: Duration) -> Result<bool, StoreError> {
        self.ask(|reply| Job::Delete(user, reply), within)?.map_err(StoreError::Unavailable)
    }

    /// Queues a control job and waits for its answer. Fails at once while
    /// degraded, so no worker sits out the outage; a control job is never
    /// dropped for a full queue, it waits (up to `within`) for room.
    fn ask<T>(&self, job: impl FnOnce(Sender<T>) -> Job, within: Duration) -> Result<T, StoreError> {
        self.shared.usable()?;
        let (reply, answer) = bounded(1);
        self.tx.send_timeout(job(reply), within).map_err(|_| self.unavailable("write-behind queue full"))?;
        answer.recv_timeout(within).map_err(|_| self.unavailable("writes are not going through"))
    }

    fn unavailable(&self, what: &str) -> StoreError {
        let why = self.shared.degraded().unwrap_or_default();
        StoreError::Unavailable(format!("{what} {why}").trim().to_owned())
    }
}
