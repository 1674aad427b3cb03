//! The write-behind queue and the persistence thread that drains it.
//!
//! Rooms, messages and last-seen times are recorded by workers
//! with a non-blocking `try_send`; one thread takes them off in batches of
//! up to `MAX_BATCH` and writes each batch with one statement (one round
//! trip), rows merged per table and passed as arrays.
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
//!   silently. While the database is away a batch is retried with backoff
//!   (`MIN_BACKOFF` doubling to `MAX_BACKOFF`), the store is marked
//!   degraded, and new jobs wait in the queue up to its bound.
//! - A batch that fails for a reason in the data, not the connection, is
//!   split and written row by row; rows that still fail are logged,
//!   counted in `duet_store_writes_failed` and skipped, so one bad row
//!   cannot stop the queue.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use log::{error, info, warn};
use parking_lot::Mutex;
use postgres::{Client, NoTls, Statement};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::sql::{is_transient, time, uuid};
use crate::store::{Event, MessageRow, RoomRow, StoreError, UserId};

/// Jobs written by one statement at most.
pub const MAX_BATCH: usize = 1_000;
/// Erased users remembered, to drop rows about them queued afterwards.
const FORGOTTEN: usize = 10_000;
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
    /// Batches that failed for good (not retried).
    pub failed: Counter,
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
    /// Starts the persistence thread, which connects with `config`.
    pub fn spawn(config: postgres::Config, shared: Arc<Shared>, capacity: usize) -> std::io::Result<Writer> {
        let (tx, rx) = bounded(capacity.max(1));
        let thread =
            Persister { rx, shared: shared.clone(), config, conn: None, forgotten: Forgotten::default() };
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

/// The last erased users, oldest first.
#[derive(Default)]
struct Forgotten {
    /// For the lookups.
    set: HashSet<UserId>,
    /// For the bound: the oldest is forgotten first.
    order: VecDeque<UserId>,
}

impl Forgotten {
    fn add(&mut self, user: UserId) {
        if self.set.insert(user) {
            self.order.push_back(user);
        }
        while self.order.len() > FORGOTTEN {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn any(&self, users: &[UserId]) -> bool {
        !self.set.is_empty() && users.iter().any(|u| self.set.contains(u))
    }
}

/// Rows of one statement, merged so no row is touched twice.
#[derive(Default)]
struct Batch {
    /// Room id → its latest row (an open and a close become one row).
    rooms: HashMap<u64, RoomRow>,
    /// In the order sent.
    messages: Vec<MessageRow>,
    /// User → latest last-seen time.
    seen: HashMap<UserId, u64>,
}

impl Batch {
    fn len(&self) -> usize {
        self.rooms.len() + self.messages.len() + self.seen.len()
    }

    fn add(&mut self, job: Job) {
        match job {
            Job::Event(Event::Room(row)) => match self.rooms.entry(row.id) {
                Entry::Vacant(slot) => {
                    slot.insert(row);
                }
                Entry::Occupied(mut slot) if row.ended.is_some() => slot.get_mut().ended = row.ended,
                Entry::Occupied(_) => {}
            },
            Job::Event(Event::Message(m)) => self.messages.push(m),
            Job::Event(Event::Seen { user, at }) => {
                let t = self.seen.entry(user).or_insert(at);
                *t = (*t).max(at);
            }
            Job::Barrier(_) | Job::Delete(..) => {}
        }
    }

    /// One batch per row, for finding the row a data error is about.
    fn split(self) -> Vec<Batch> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(
            self.rooms.into_values().map(|r| Batch { rooms: HashMap::from([(r.id, r)]), ..Batch::default() }),
        );
        out.extend(self.messages.into_iter().map(|m| Batch { messages: vec![m], ..Batch::default() }));
        out.extend(self.seen.into_iter().map(|s| Batch { seen: HashMap::from([s]), ..Batch::default() }));
        out
    }
}

/// Whether a job mentions an erased user (and so must not be written).
fn mentions(job: &Job, forgotten: &Forgotten) -> bool {
    match job {
        Job::Event(Event::Room(r)) => forgotten.any(&r.users),
        Job::Event(Event::Message(m)) => forgotten.any(&[m.sender]),
        Job::Event(Event::Seen { user, .. }) => forgotten.any(&[*user]),
        Job::Barrier(_) | Job::Delete(..) => false,
    }
}

/// One statement writes a whole batch: three data-modifying CTEs over
/// arrays. Rooms are upserted (a close fills in `ended_at`); messages
/// ignore rows already there (a retried batch may have landed). Reports
/// are not written behind: they are committed before `REPORTED`.
const WRITE_BATCH: &str = "
WITH r AS (
    INSERT INTO rooms (id, user_a, user_b, mood, started_at, ended_at, end_reason)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                         $6::timestamptz[], $7::text[])
    ON CONFLICT (id) DO UPDATE SET ended_at = COALESCE(EXCLUDED.ended_at, rooms.ended_at),
                                   end_reason = COALESCE(EXCLUDED.end_reason, rooms.end_reason)
    RETURNING 1
), m AS (
    INSERT INTO messages (room_id, seq, sender, sent_at, length, text)
    SELECT * FROM unnest($8::text[], $9::int8[], $10::uuid[], $11::timestamptz[], $12::int4[], $13::text[])
    ON CONFLICT DO NOTHING
    RETURNING 1
), s AS (
    UPDATE users SET last_seen_at = GREATEST(users.last_seen_at, x.at)
    FROM unnest($14::uuid[], $15::timestamptz[]) AS x(id, at)
    WHERE users.id = x.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM m) + (SELECT count(*) FROM s)";

/// Erasing a user (contract: `DELETE /api/users/me`): their rooms and
/// those rooms' messages, the text of reports they filed, their ban and
/// their identity, in one transaction. Reports about them stay (evidence).
const ERASE: [&str; 4] = [
    "DELETE FROM messages WHERE sender = $1 OR room_id IN (SELECT id FROM rooms WHERE user_a = $1 OR user_b = $1)",
    "DELETE FROM rooms WHERE user_a = $1 OR user_b = $1",
    "UPDATE reports SET details = '',
         transcript = COALESCE((SELECT jsonb_agg(l) FROM jsonb_array_elements(transcript) l
                                WHERE l->>'from' <> 'reporter'), '[]'::jsonb)
     WHERE reporter_id = $1",
    "DELETE FROM bans WHERE user_id = $1",
];

/// The persistence thread.
struct Persister {
    /// Jobs from the workers.
    rx: Receiver<Job>,
    /// Counters and health shared with the store.
    shared: Arc<Shared>,
    /// How to (re)connect.
    config: postgres::Config,
    /// Its own connection (not the pool's) with the batch statement prepared.
    conn: Option<(Client, Statement)>,
    /// Erased users: later rows about them are dropped.
    forgotten: Forgotten,
}

impl Persister {
    fn run(mut self) {
        loop {
            let first = match self.rx.recv_timeout(PROBE_EVERY) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.probe();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = Batch::default();
            let mut control = None;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                if matches!(job, Job::Barrier(_) | Job::Delete(..)) {
                    control = Some(job);
                    break;
                }
                if !mentions(&job, &self.forgotten) {
                    batch.add(job);
                }
                if batch.len() < MAX_BATCH {
                    next = self.rx.try_recv().ok();
                }
            }
            self.shared.in_flight.store(batch.len(), Ordering::Relaxed);
            self.shared.set_backlog(self.rx.len());
            if batch.len() > 0 {
                self.write(batch);
            }
            self.shared.in_flight.store(0, Ordering::Relaxed);
            match control {
                Some(Job::Barrier(reply)) => {
                    let _ = reply.send(());
                }
                Some(Job::Delete(user, reply)) => {
                    let result = self.erase(user);
                    let _ = reply.send(result);
                }
                _ => {}
            }
            self.shared.set_backlog(self.rx.len());
        }
    }

    /// Writes a batch, retrying while the database is away.
    fn write(&mut self, batch: Batch) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.try_write(&batch) {
                Ok(()) => {
                    self.shared.recover();
                    self.shared.batches.inc();
                    return;
                }
                Err(e) if is_transient(&e) => {
                    self.lost(&e);
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) if batch.len() > 1 => {
                    warn!("database: a batch of {} rows failed ({e}); writing them one by one", batch.len());
                    for one in batch.split() {
                        self.write(one);
                    }
                    return;
                }
                Err(e) => {
                    error!("database: skipping a row that cannot be written: {e}");
                    self.shared.failed.inc();
                    return;
                }
            }
        }
    }

    fn connection(&mut self) -> Result<&mut (Client, Statement), postgres::Error> {
        if self.conn.is_none() {
            let mut client = self.config.connect(NoTls)?;
            let stmt = client.prepare(WRITE_BATCH)?;
            self.conn = Some((client, stmt));
        }
        Ok(self.conn.as_mut().expect("connected just above"))
    }

    fn try_write(&mut self, b: &Batch) -> Result<(), postgres::Error> {
        let rooms: Vec<&RoomRow> = b.rooms.values().collect();
        let room_ids: Vec<String> = rooms.iter().map(|r| format!("{:016x}", r.id)).collect();
        let user_a: Vec<_> = rooms.iter().map(|r| uuid(r.users[0])).collect();
        let user_b: Vec<_> = rooms.iter().map(|r| uuid(r.users[1])).collect();
        let moods: Vec<&str> = rooms.iter().map(|r| r.mood.as_str()).collect();
        let started: Vec<_> = rooms.iter().map(|r| time(r.started_at)).collect();
        let ended: Vec<_> = rooms.iter().map(|r| r.ended.map(|(t, _)| time(t))).collect();
        let reasons: Vec<Option<&str>> = rooms.iter().map(|r| r.ended.map(|(_, why)| why)).collect();

        let m = &b.messages;
        let m_room: Vec<String> = m.iter().map(|m| format!("{:016x}", m.room)).collect();
        let m_seq: Vec<i64> = m.iter().map(|m| m.seq as i64).collect();
        let m_sender: Vec<_> = m.iter().map(|m| uuid(m.sender)).collect();
        let m_at: Vec<_> = m.iter().map(|m| time(m.sent_at)).collect();
        let m_len: Vec<i32> = m.iter().map(|m| m.length as i32).collect();
        let m_text: Vec<Option<&str>> = m.iter().map(|m| m.text.as_deref()).collect();

        let s_id: Vec<_> = b.seen.keys().map(|u| uuid(*u)).collect();
        let s_at: Vec<_> = b.seen.values().map(|t| time(*t)).collect();

        let (client, stmt) = self.connection()?;
        client.query_one(
            &*stmt,
            &[
                &room_ids, &user_a, &user_b, &moods, &started, &ended, &reasons, &m_room, &m_seq, &m_sender,
                &m_at, &m_len, &m_text, &s_id, &s_at,
            ],
        )?;
        Ok(())
    }

    /// Erases a user (one try: the caller is waiting and answers 503).
    fn erase(&mut self, user: UserId) -> Result<bool, String> {
        let id = uuid(user);
        let result = (|| {
            let (client, _) = self.connection()?;
            let mut tx = client.transaction()?;
            for sql in ERASE {
                tx.execute(sql, &[&id])?;
            }
            let n = tx.execute("DELETE FROM users WHERE id = $1", &[&id])?;
            tx.commit()?;
            Ok::<bool, postgres::Error>(n > 0)
        })();
        match result {
            Ok(existed) => {
                self.forgotten.add(user);
                Ok(existed)
            }
            Err(e) => {
                if is_transient(&e) {
                    self.lost(&e);
                }
                Err(format!("cannot erase the user: {e}"))
            }
        }
    }

    /// An idle writer checks the database is there, so health is current.
    fn probe(&mut self) {
        let ok = self.connection().and_then(|(c, _)| c.simple_query("SELECT 1").map(|_| ()));
        match ok {
            Ok(()) => self.shared.recover(),
            Err(e) => self.lost(&e),
        }
    }

    /// The connection failed: drop it (the next use reconnects) and mark
    /// the store degraded until a write or probe succeeds.
    fn lost(&mut self, e: &postgres::Error) {
        self.conn = None;
        self.shared.unreachable(e);
    }
}
