//! The persistence thread: takes jobs off the write-behind queue in
//! batches, writes them, answers barriers and erasures, and keeps the day
//! partitions (see `writer.rs` for the invariants it keeps).
//!
//! How a failure is handled depends on what it is about:
//! - the connection or the server (`is_transient`): the same write is
//!   retried with backoff on a new connection, the store degraded;
//! - the data: the rows are halved and each half tried again, down to
//!   single rows, which are rejected (logged, counted) alone. A retried
//!   COPY that had in fact landed fails on the primary key; a single row
//!   refused for that reason is already stored, so it is not a rejection.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{error, info, warn};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};

use super::batch::Batch;
use super::copy::{self, WRITE_ROOMS_AND_SEEN};
use super::{Job, MAINTAIN_EVERY, MAINTAIN_RETRY, MAX_BACKOFF, MAX_BATCH, MIN_BACKOFF, PROBE_EVERY, Shared};
use crate::store::postgres::partitions::{self, Day};
use crate::store::postgres::sql::{is_transient, uuid};
use crate::store::{Event, MessageRow, RoomRow, UserId};

/// Erased users remembered, to drop rows about them queued afterwards.
const FORGOTTEN: usize = 10_000;

/// Set on the writer's own session only (see `writer.rs`).
///
/// `plan_cache_mode = force_custom_plan`: the rooms/last-seen statement is
/// prepared once, and PostgreSQL's generic plan for it, made while `users`
/// was nearly empty, joined the last-seen ids by a sequential scan of
/// `users` for every batch; the mixed soak then spent the writer's backend
/// on scanning `users` (33,553 scans, 800 M rows read in 2 minutes) and
/// dropped rows. A plan made per execution sees the table as it is and
/// takes the primary key, at a planning cost of well under a millisecond
/// per batch of up to 1,000 rows.
const SESSION: &str = "SET synchronous_commit = off; SET plan_cache_mode = force_custom_plan";

/// Erasing a user (contract: `DELETE /api/users/me`): their rooms and
/// those rooms' messages (a sender is always a member of the room, so the
/// rooms find every message of theirs without an index on `sender`), the
/// text of reports they filed, their ban and their identity, in one
/// transaction, in every partition. Reports about them stay (evidence).
const ERASE: [&str; 4] = [
    "DELETE FROM messages WHERE room_id IN (SELECT id FROM rooms WHERE user_a = $1 OR user_b = $1)",
    "DELETE FROM rooms WHERE user_a = $1 OR user_b = $1",
    "UPDATE reports SET details = '',
         transcript = COALESCE((SELECT jsonb_agg(l) FROM jsonb_array_elements(transcript) l
                                WHERE l->>'from' <> 'reporter'), '[]'::jsonb)
     WHERE reporter_id = $1",
    "DELETE FROM bans WHERE user_id = $1",
];

/// The last erased users, oldest first.
#[derive(Default)]
pub struct Forgotten {
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

    /// Whether an event mentions an erased user (and so must not be written).
    fn mentions(&self, event: &Event) -> bool {
        match event {
            Event::Room(r) => self.any(&r.users),
            Event::Message(m) => self.any(&[m.sender]),
            Event::Seen { user, .. } => self.any(&[*user]),
        }
    }
}

/// The persistence thread.
pub struct Persister {
    /// Jobs from the workers.
    pub rx: Receiver<Job>,
    /// Counters and health shared with the store.
    pub shared: Arc<Shared>,
    /// How to (re)connect.
    pub config: postgres::Config,
    /// Its own connection (not the pool's), with `synchronous_commit = off`
    /// and the rooms statement prepared.
    pub conn: Option<(Client, Statement)>,
    /// Erased users: later rows about them are dropped.
    pub forgotten: Forgotten,
    /// Days of rooms and messages kept (`--retention-days`).
    pub retention_days: u32,
    /// When partitions are next made ahead and expired ones dropped.
    pub next_maintenance: Instant,
}

/// A single row refused: what it was, for the log.
enum Row<'a> {
    Message(&'a MessageRow),
    Room(&'a RoomRow),
    Seen(UserId),
}

impl Persister {
    pub fn run(mut self) {
        loop {
            if Instant::now() >= self.next_maintenance {
                self.maintain();
            }
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
                match job {
                    Job::Event(event) => {
                        if !self.forgotten.mentions(&event) {
                            batch.add(event);
                        }
                    }
                    other => {
                        control = Some(other);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = self.rx.try_recv().ok();
                }
            }
            self.shared.in_flight.store(batch.len(), Ordering::Relaxed);
            self.shared.set_backlog(self.rx.len());
            if batch.len() > 0 {
                self.write(batch);
                self.shared.batches.inc();
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

    /// Writes a batch: messages, then rooms and last-seen times. Returns
    /// once every row is written or rejected.
    fn write(&mut self, batch: Batch) {
        let Batch { rooms, messages, seen } = batch;
        if !messages.is_empty() {
            self.write_halving(
                &messages,
                |c, _, rows| copy::copy_messages(c, rows).map(|_| ()),
                Row::Message,
            );
        }
        let rooms: Vec<&RoomRow> = rooms.values().collect();
        if !rooms.is_empty() {
            self.write_halving(&rooms, |c, s, rows| copy::rooms_and_seen(c, s, rows, &[]), |r| Row::Room(r));
        }
        let seen: Vec<(UserId, u64)> = seen.into_iter().collect();
        if !seen.is_empty() {
            self.write_halving(&seen, |c, s, rows| copy::rooms_and_seen(c, s, &[], rows), |s| Row::Seen(s.0));
        }
    }

    /// Writes `rows` with `op`; on a data error halves them and tries each
    /// half, so only rows that fail alone are rejected.
    fn write_halving<'r, T>(
        &mut self,
        rows: &'r [T],
        mut op: impl FnMut(&mut Client, &Statement, &'r [T]) -> Result<(), postgres::Error>,
        what: impl Fn(&'r T) -> Row<'r>,
    ) {
        // Bounded by the batch: at most 2 × rows pieces are ever pushed.
        let mut pending = vec![rows];
        let mut split = false;
        while let Some(piece) = pending.pop() {
            let e = match self.attempt(|c, s| op(c, s, piece)) {
                Ok(()) => continue,
                Err(e) => e,
            };
            if piece.len() > 1 {
                if !split {
                    warn!(
                        "database: writing {} rows failed ({e}); splitting to find the bad rows",
                        rows.len()
                    );
                    split = true;
                }
                let (a, b) = piece.split_at(piece.len() / 2);
                pending.push(b);
                pending.push(a);
            } else if let Some(row) = piece.first() {
                self.reject(what(row), &e);
            }
        }
    }

    /// Runs `op` until it succeeds or fails for a reason in the data,
    /// retrying with backoff while the database is away.
    fn attempt(
        &mut self,
        mut op: impl FnMut(&mut Client, &Statement) -> Result<(), postgres::Error>,
    ) -> Result<(), postgres::Error> {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.connection().and_then(|(c, s)| op(c, s)) {
                Ok(()) => {
                    self.shared.recover();
                    return Ok(());
                }
                Err(e) if is_transient(&e) => {
                    self.lost(&e);
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A row that fails alone: logged with the reason, counted, skipped;
    /// unless it failed on the key, i.e. it is already stored.
    fn reject(&self, row: Row<'_>, e: &postgres::Error) {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            return;
        }
        self.shared.rejected.inc();
        self.shared.failed.inc();
        let reason = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| format!("{} ({})", d.message(), d.code().code()));
        match row {
            Row::Message(m) => error!(
                "database: rejected message row (room {:016x}, seq {}, sent_at {}): {reason}",
                m.room, m.seq, m.sent_at
            ),
            Row::Room(r) => {
                error!("database: rejected room row {:016x} (started_at {}): {reason}", r.id, r.started_at)
            }
            Row::Seen(u) => error!("database: rejected last-seen update of {u}: {reason}"),
        }
    }

    fn connection(&mut self) -> Result<(&mut Client, &Statement), postgres::Error> {
        if self.conn.is_none() {
            let mut client = self.config.connect(NoTls)?;
            client.batch_execute(SESSION)?;
            let stmt = client.prepare(WRITE_ROOMS_AND_SEEN)?;
            self.conn = Some((client, stmt));
        }
        let (client, stmt) = self.conn.as_mut().expect("connected just above");
        Ok((client, stmt))
    }

    /// Makes partitions ahead and drops expired ones; a failure is logged
    /// and tried again in `MAINTAIN_RETRY` (rows meanwhile land in the
    /// DEFAULT partition, never refused).
    fn maintain(&mut self) {
        let retention = self.retention_days;
        let result = self.connection().and_then(|(c, _)| partitions::maintain(c, Day::today(), retention));
        let wait = match result {
            Ok(done) => {
                if !done.created.is_empty() || !done.dropped.is_empty() || done.default_rows_removed > 0 {
                    info!(
                        "database: partitions made {:?}, dropped past {retention} days {:?}, {} old rows removed from the defaults",
                        done.created, done.dropped, done.default_rows_removed
                    );
                }
                MAINTAIN_EVERY
            }
            Err(e) => {
                warn!("database: partition upkeep failed ({e}); trying again in {MAINTAIN_RETRY:?}");
                if is_transient(&e) {
                    self.lost(&e);
                }
                MAINTAIN_RETRY
            }
        };
        self.next_maintenance = Instant::now() + wait;
    }

    /// Erases a user (one try: the caller is waiting and answers 503).
    fn erase(&mut self, user: UserId) -> Result<bool, String> {
        let id = uuid(user);
        let result = (|| {
            let (client, _) = self.connection()?;
            let mut tx = client.transaction()?;
            // The user is told it is done: this commit waits for the WAL
            // flush, unlike the write-behind rows of this session.
            tx.batch_execute("SET LOCAL synchronous_commit = on")?;
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
