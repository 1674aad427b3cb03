//! Day partitions of `rooms` and `messages` against a real server:
//! made ahead for a controlled date, dropped past the retention for a
//! controlled clock, migration 0003 from the old layout with rows in it,
//! and erasure across partitions. Each test has a schema of its own.

mod common;
mod pg;

use duet::store::UserId;
use duet::store::postgres::migrate;
use duet::store::postgres::partitions::{self, Day};
use pg::Schema;
use pg::rows::{TestWriter, at, message, room};

/// The day partitions `table` has, by name.
#[track_caller]
fn names(c: &mut postgres::Client, table: &str) -> Vec<String> {
    partitions::partitions(c, table).expect("list partitions").into_iter().map(|(_, n)| n).collect()
}

#[test]
fn partitions_are_made_from_yesterday_to_two_days_ahead_of_the_date_given() {
    let Some(db) = Schema::new() else { return };
    duet::store::postgres::migrate_only(&db.url()).expect("migrate");
    let mut c = db.client();
    // A row for a day with no partition yet lands in DEFAULT, not an error.
    c.batch_execute("INSERT INTO messages VALUES ('00000000000000aa', 1, gen_random_uuid(), '2031-03-11 12:00+00', 1, NULL)")
        .expect("a row before its partition exists");
    assert_eq!(db.count("SELECT count(*) FROM messages_default"), 1);

    let today = Day::from_ymd(2031, 3, 10);
    let done = partitions::maintain(&mut c, today, 30).expect("maintain");
    let days = ["20310309", "20310310", "20310311", "20310312"];
    for table in ["messages", "rooms"] {
        let want: Vec<String> = days.iter().map(|d| format!("{table}_{d}")).collect();
        assert_eq!(names(&mut c, table), want, "{table}: yesterday, today and two days ahead");
    }
    assert_eq!(done.created.len(), 8);
    assert!(done.dropped.is_empty());
    assert_eq!(db.count("SELECT count(*) FROM messages_default"), 0, "moved out of DEFAULT");
    assert_eq!(db.count("SELECT count(*) FROM messages_20310311"), 1, "into its day's partition");

    let again = partitions::maintain(&mut c, today, 30).expect("maintain again");
    assert!(again.created.is_empty(), "nothing to make twice: {:?}", again.created);
    let next_day = partitions::maintain(&mut c, today.plus(1), 30).expect("the next day");
    assert_eq!(next_day.created, ["messages_20310313", "rooms_20310313"]);
}

#[test]
fn retention_drops_only_the_partitions_older_than_the_retention() {
    let Some(db) = Schema::new() else { return };
    duet::store::postgres::migrate_only(&db.url()).expect("migrate");
    let mut c = db.client();
    let first = Day::from_ymd(2031, 1, 1);
    let today = Day::from_ymd(2031, 1, 20);
    partitions::ensure(&mut c, first, today).expect("20 days of partitions");
    c.batch_execute(
        "INSERT INTO messages SELECT '00000000000000aa', d, gen_random_uuid(), '2031-01-01 06:00+00'::timestamptz + (d - 1) * interval '1 day', 1, NULL
         FROM generate_series(1, 20) d;
         INSERT INTO rooms SELECT lpad(d::text, 16, '0'), gen_random_uuid(), gen_random_uuid(), 'chill', '2031-01-01 06:00+00'::timestamptz + (d - 1) * interval '1 day'
         FROM generate_series(1, 20) d;
         INSERT INTO messages VALUES ('00000000000000bb', 1, gen_random_uuid(), '2030-06-01 00:00+00', 1, NULL);",
    )
    .expect("a row a day, and an old one in DEFAULT");

    let (dropped, removed) = partitions::drop_expired(&mut c, today, 10).expect("drop");
    // Messages keep today - 10 = Jan 10 onward; rooms two days more (Jan 8).
    let mut want: Vec<String> = (1..=9).map(|d| format!("messages_203101{d:02}")).collect();
    want.extend((1..=7).map(|d| format!("rooms_203101{d:02}")));
    assert_eq!(dropped, want);
    assert_eq!(removed, 1, "the DEFAULT partition's row older than the retention");
    assert_eq!(names(&mut c, "messages").first().map(String::as_str), Some("messages_20310110"));
    assert_eq!(db.count("SELECT count(*) FROM messages"), 11, "Jan 10..=20 kept");
    assert_eq!(db.count("SELECT min(seq) FROM messages"), 10);
    assert_eq!(db.count("SELECT count(*) FROM rooms"), 13, "Jan 8..=20 kept");
    let (again, _) = partitions::drop_expired(&mut c, today, 10).expect("drop again");
    assert!(again.is_empty());
}

#[test]
fn migration_0003_moves_the_rows_of_the_old_layout_into_day_partitions() {
    let Some(db) = Schema::new() else { return };
    let mut c = db.client();
    assert_eq!(migrate::run_up_to(&mut c, 2).expect("old layout"), [1, 2]);
    c.batch_execute(
        "INSERT INTO rooms VALUES
             ('00000000000000a1', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', 'fire', '2030-05-01 23:59+00', '2030-05-02 00:10+00', 'left'),
             ('00000000000000a2', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b2', 'shy', '2030-05-03 10:00+00', NULL, NULL);
         INSERT INTO messages VALUES
             ('00000000000000a1', 1, '00000000-0000-0000-0000-0000000000a1', '2030-05-01 23:59:30+00', 5, 'hello'),
             ('00000000000000a1', 2, '00000000-0000-0000-0000-0000000000b1', '2030-05-02 00:05+00', 2, NULL),
             ('00000000000000a2', 1, '00000000-0000-0000-0000-0000000000b2', '2030-05-03 10:01+00', 3, 'hey');",
    )
    .expect("rows in the old layout");

    assert_eq!(migrate::run(&mut c).expect("migrate to 3"), [3]);
    for table in ["rooms", "messages"] {
        let kind = format!(
            "SELECT count(*) FROM pg_class WHERE relname = '{table}' AND relkind = 'p' AND relnamespace = '{}'::regnamespace",
            db.name
        );
        assert_eq!(db.count(&kind), 1, "{table} is partitioned");
    }
    assert_eq!(names(&mut c, "messages"), ["messages_20300501", "messages_20300502", "messages_20300503"]);
    assert_eq!(names(&mut c, "rooms"), ["rooms_20300501", "rooms_20300502", "rooms_20300503"]);
    assert_eq!(db.count("SELECT count(*) FROM messages"), 3);
    assert_eq!(db.count("SELECT count(*) FROM messages_20300502"), 1, "each row in its day");
    assert_eq!(
        db.count("SELECT count(*) FROM messages_default") + db.count("SELECT count(*) FROM rooms_default"),
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM rooms WHERE id = '00000000000000a1' AND end_reason = 'left' AND mood = 'fire' AND ended_at = '2030-05-02 00:10+00'"),
        1,
        "the room row is kept whole"
    );
    assert_eq!(db.count("SELECT count(*) FROM messages WHERE text = 'hello' AND length = 5 AND seq = 1"), 1);
    assert_eq!(db.count("SELECT count(*) FROM rooms WHERE ended_at IS NULL"), 1);
    let old =
        format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{}' AND tablename LIKE '%_v2'", db.name);
    assert_eq!(db.count(&old), 0, "the old tables are gone");
    let by_sender = format!(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}' AND indexname = 'messages_by_sender'",
        db.name
    );
    assert_eq!(db.count(&by_sender), 0, "erasure no longer needs an index on sender");
}

#[test]
fn erasing_a_user_removes_their_rooms_and_messages_on_every_day_and_keeps_the_others() {
    let Some(db) = Schema::new() else { return };
    let w = TestWriter::start(&db, 30);
    let today = Day::today();
    let mut c = db.client();
    partitions::ensure(&mut c, today.plus(-6), today).expect("a week of partitions");
    let (gone, partner, other_a, other_b) = (UserId(0xa1), UserId(0xb1), UserId(0xc1), UserId(0xd1));
    for (n, days_ago) in [(1u64, 5i64), (2, 2), (3, 0)] {
        let start = at(today.plus(-days_ago), 3_600_000);
        w.push(room(n, [gone, partner], start, Some((start + 60_000, "left"))));
        w.push(message(n, 1, gone, start + 1_000));
        w.push(message(n, 2, partner, start + 2_000));
        w.push(room(100 + n, [other_a, other_b], start, None));
        w.push(message(100 + n, 1, other_a, start + 1_000));
    }
    w.barrier();
    let days = format!(
        "SELECT count(DISTINCT tableoid) FROM messages WHERE room_id IN ('{:016x}', '{:016x}', '{:016x}')",
        1, 2, 3
    );
    assert_eq!(db.count(&days), 3, "the user's messages are in three partitions");
    assert_eq!(db.count("SELECT count(*) FROM messages"), 9);

    w.writer.delete(gone, std::time::Duration::from_secs(20)).expect("erased");
    assert_eq!(db.count("SELECT count(*) FROM rooms WHERE user_a = '00000000-0000-0000-0000-0000000000a1' OR user_b = '00000000-0000-0000-0000-0000000000a1'"), 0);
    assert_eq!(db.count("SELECT count(*) FROM messages WHERE sender IN ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1')"), 0, "the rooms' messages, both sides");
    assert_eq!(db.count("SELECT count(*) FROM rooms"), 3, "other users' rooms are kept");
    assert_eq!(db.count("SELECT count(*) FROM messages"), 3, "other users' messages are kept");
}
