//! The write-behind writer against a real server: a poisoned row costs no
//! other row, a barrier sees everything queued before it, a room's end
//! finds its row across midnight, NUL in chat text is stored. Each test
//! has a schema of its own.

mod common;
mod pg;

use duet::store::postgres::partitions::Day;
use duet::store::{Event, MessageRow, UserId};
use pg::Schema;
use pg::rows::{TestWriter, at, message, room};

#[test]
fn a_poisoned_row_is_rejected_alone_counted_and_the_queue_goes_on() {
    let Some(db) = Schema::new() else { return };
    let w = TestWriter::start(&db, 30);
    // The database refuses one row for its content; which one is only
    // known from the error, after the whole COPY failed.
    db.client()
        .batch_execute("ALTER TABLE messages ADD CONSTRAINT poison CHECK (length <> 666)")
        .expect("a constraint one row breaks");
    let now = at(Day::today(), 43_200_000);
    let sender = UserId(7);
    for seq in 1..=500u64 {
        let length = if seq == 137 { 666 } else { 1 };
        w.push(Event::Message(MessageRow { room: 1, seq, sender, sent_at: now, length, text: None }));
    }
    w.barrier();
    assert_eq!(db.count("SELECT count(*) FROM messages"), 499, "every other row of the batch is written");
    assert_eq!(db.count("SELECT count(*) FROM messages WHERE seq = 137"), 0);
    assert_eq!(w.shared.rejected.get(), 1, "one row rejected");
    assert_eq!(w.shared.failed.get(), 1);

    for seq in 501..=510u64 {
        w.push(message(1, seq, sender, now));
    }
    w.barrier();
    assert_eq!(db.count("SELECT count(*) FROM messages"), 509, "the queue goes on after it");
    assert_eq!(w.shared.rejected.get(), 1);
}

#[test]
fn a_nul_in_chat_text_is_stored_as_a_replacement_character_not_rejected() {
    let Some(db) = Schema::new() else { return };
    let w = TestWriter::start(&db, 30);
    let now = at(Day::today(), 1_000);
    w.push(Event::Message(MessageRow {
        room: 2,
        seq: 1,
        sender: UserId(8),
        sent_at: now,
        length: 3,
        text: Some("a\0b".into()),
    }));
    w.barrier();
    assert_eq!(db.count("SELECT count(*) FROM messages WHERE text = 'a' || chr(65533) || 'b'"), 1);
    assert_eq!(w.shared.rejected.get(), 0);
}

#[test]
fn a_barrier_answers_only_after_everything_queued_before_it_is_written() {
    let Some(db) = Schema::new() else { return };
    let w = TestWriter::start(&db, 30);
    let now = at(Day::today(), 7_200_000);
    let users = [UserId(1), UserId(2)];
    for r in 0..50u64 {
        w.push(room(r, users, now, None));
        for seq in 1..=100 {
            w.push(message(r, seq, users[(seq % 2) as usize], now + seq));
        }
    }
    w.barrier();
    assert_eq!(db.count("SELECT count(*) FROM messages"), 5_000, "no row after the barrier's answer");
    assert_eq!(db.count("SELECT count(*) FROM rooms"), 50);
    let in_order = db.count(
        "SELECT count(*) FROM (SELECT room_id, seq, sent_at, lag(sent_at) OVER (PARTITION BY room_id ORDER BY seq) AS before FROM messages) m
         WHERE before IS NOT NULL AND before >= sent_at",
    );
    assert_eq!(in_order, 0, "per-room order is kept");
}

#[test]
fn a_room_ended_after_midnight_finds_its_row_in_the_partition_of_its_start() {
    let Some(db) = Schema::new() else { return };
    let w = TestWriter::start(&db, 30);
    let today = Day::today();
    let started = at(today, 0) - 60_000; // yesterday 23:59
    let users = [UserId(3), UserId(4)];
    w.push(room(9, users, started, None));
    w.barrier();
    w.push(room(9, users, started, Some((at(today, 60_000), "left"))));
    w.barrier();
    assert_eq!(db.count("SELECT count(*) FROM rooms"), 1, "the end updated the row, did not add one");
    assert_eq!(db.count("SELECT count(*) FROM rooms WHERE end_reason = 'left' AND ended_at > started_at"), 1);
    let yesterday = format!(
        "SELECT count(*) FROM {}",
        duet::store::postgres::partitions::partition_name("rooms", today.plus(-1))
    );
    assert_eq!(db.count(&yesterday), 1, "in yesterday's partition");
}
