//! The statements that write a batch: message rows by binary `COPY`,
//! rooms and last-seen times by one array statement.
//!
//! Why COPY: a message row is the hot write (about 99% of rows in the
//! soak); binary COPY skips the per-row parse/plan/`unnest` work and the
//! `ON CONFLICT` check of an array INSERT (see docs/pg-writer.md for the
//! measured difference). The cost is that one bad row fails the whole
//! COPY; the caller then splits the batch (`writer.rs`).
//!
//! Invariants: these functions run one statement each and never retry;
//! classifying and retrying errors is the caller's job. Text is written
//! with U+0000 replaced by U+FFFD (PostgreSQL `text` cannot hold NUL; the
//! character count, already in `length`, stays the same).

use std::borrow::Cow;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement};

use crate::store::postgres::sql::{time, uuid};
use crate::store::{MessageRow, RoomRow, UserId};

const COPY_MESSAGES: &str =
    "COPY messages (room_id, seq, sender, sent_at, length, text) FROM STDIN (FORMAT binary)";
const MESSAGE_TYPES: [Type; 6] =
    [Type::TEXT, Type::INT8, Type::UUID, Type::TIMESTAMPTZ, Type::INT4, Type::TEXT];

/// Rooms are upserted on their key (an end event carries `started_at`, so
/// the close finds the open row's partition); last-seen times only move
/// forward. Both in one statement, one round trip.
pub const WRITE_ROOMS_AND_SEEN: &str = "
WITH r AS (
    INSERT INTO rooms (id, user_a, user_b, mood, started_at, ended_at, end_reason)
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                         $6::timestamptz[], $7::text[])
    ON CONFLICT (id, started_at) DO UPDATE
        SET ended_at = COALESCE(EXCLUDED.ended_at, rooms.ended_at),
            end_reason = COALESCE(EXCLUDED.end_reason, rooms.end_reason)
    RETURNING 1
), s AS (
    UPDATE users SET last_seen_at = GREATEST(users.last_seen_at, x.at)
    FROM unnest($8::uuid[], $9::timestamptz[]) AS x(id, at)
    WHERE users.id = x.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM s)";

/// The protocol's room id: 16 hex digits.
pub fn room_id(id: u64) -> String {
    format!("{id:016x}")
}

/// `text` as PostgreSQL can store it: NUL replaced by U+FFFD.
pub fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') { Cow::Owned(text.replace('\0', "\u{FFFD}")) } else { Cow::Borrowed(text) }
}

/// Writes `rows` with one binary COPY (all or none); returns rows written.
pub fn copy_messages(client: &mut Client, rows: &[MessageRow]) -> Result<u64, postgres::Error> {
    let sink = client.copy_in(COPY_MESSAGES)?;
    let mut w = BinaryCopyInWriter::new(sink, &MESSAGE_TYPES);
    for m in rows {
        let room = room_id(m.room);
        let text = m.text.as_deref().map(storable);
        let values: [&(dyn ToSql + Sync); 6] =
            [&room, &(m.seq as i64), &uuid(m.sender), &time(m.sent_at), &(m.length as i32), &text.as_deref()];
        w.write(&values)?;
    }
    w.finish()
}

/// Writes rooms and last-seen times with the prepared `WRITE_ROOMS_AND_SEEN`.
pub fn rooms_and_seen(
    client: &mut Client,
    stmt: &Statement,
    rooms: &[&RoomRow],
    seen: &[(UserId, u64)],
) -> Result<(), postgres::Error> {
    let ids: Vec<String> = rooms.iter().map(|r| room_id(r.id)).collect();
    let user_a: Vec<_> = rooms.iter().map(|r| uuid(r.users[0])).collect();
    let user_b: Vec<_> = rooms.iter().map(|r| uuid(r.users[1])).collect();
    let moods: Vec<&str> = rooms.iter().map(|r| r.mood.as_str()).collect();
    let started: Vec<_> = rooms.iter().map(|r| time(r.started_at)).collect();
    let ended: Vec<_> = rooms.iter().map(|r| r.ended.map(|(t, _)| time(t))).collect();
    let reasons: Vec<Option<&str>> = rooms.iter().map(|r| r.ended.map(|(_, why)| why)).collect();
    let s_id: Vec<_> = seen.iter().map(|(u, _)| uuid(*u)).collect();
    let s_at: Vec<_> = seen.iter().map(|(_, t)| time(*t)).collect();
    client.query_one(stmt, &[&ids, &user_a, &user_b, &moods, &started, &ended, &reasons, &s_id, &s_at])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_chat_text_is_replaced_and_the_length_in_characters_kept() {
        assert_eq!(storable("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(storable("a\0b").chars().count(), 3);
        assert!(matches!(storable("plain ✓"), Cow::Borrowed("plain ✓")));
    }
}
