//! Rows for the writer tests: a writer of the test's own on a schema, and
//! message, room and last-seen events at chosen times.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use duet::store::postgres::partitions::Day;
use duet::store::postgres::writer::{Job, Shared, Writer};
use duet::store::{Event, MessageRow, Mood, RoomRow, UserId};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::Schema;

pub const DAY_MS: u64 = 86_400_000;

/// The writer's queue and the counters it shares.
pub struct TestWriter {
    pub writer: Writer,
    pub shared: Arc<Shared>,
}

impl TestWriter {
    /// Migrates `db` and starts a writer on it keeping `retention_days`.
    #[track_caller]
    pub fn start(db: &Schema, retention_days: u32) -> TestWriter {
        duet::store::postgres::migrate_only(&db.url()).expect("migrate");
        let shared = Arc::new(Shared::new(
            Gauge::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Gauge::default(),
        ));
        let config = db.url().parse().expect("test URL");
        let writer = Writer::spawn(config, shared.clone(), 100_000, retention_days).expect("writer thread");
        TestWriter { writer, shared }
    }

    #[track_caller]
    pub fn push(&self, event: Event) {
        assert!(self.writer.push(Job::Event(event)), "the queue took the row");
    }

    /// Waits until everything pushed so far is written.
    #[track_caller]
    pub fn barrier(&self) {
        self.writer.barrier(Duration::from_secs(20)).expect("barrier answered");
    }
}

/// The first millisecond of `day` plus `ms`.
pub fn at(day: Day, ms: u64) -> u64 {
    day.0 as u64 * DAY_MS + ms
}

pub fn message(room: u64, seq: u64, sender: UserId, sent_at: u64) -> Event {
    Event::Message(MessageRow { room, seq, sender, sent_at, length: 1, text: None })
}

pub fn room(id: u64, users: [UserId; 2], started_at: u64, ended: Option<(u64, &'static str)>) -> Event {
    Event::Room(RoomRow { id, users, mood: Mood::Chill, started_at, ended })
}

/// Polls `cond` every 20 ms for at most 10 s.
#[track_caller]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
