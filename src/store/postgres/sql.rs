//! Conversions between duet's types and PostgreSQL values, and the
//! classification of database errors into "try again" and "give up".

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::Row;
use uuid::Uuid;

use crate::store::{Mood, Profile, TokenHash, UserId, UserRecord};

pub fn uuid(id: UserId) -> Uuid {
    Uuid::from_u128(id.0)
}

pub fn user_id(u: Uuid) -> UserId {
    UserId(u.as_u128())
}

/// Epoch milliseconds → timestamptz.
pub fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// timestamptz → epoch milliseconds (times before 1970 read as 0).
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The columns `user_record` reads, in its order.
pub const USER_COLUMNS: &str = "id, token_hash, nickname, mood, avatar, interests, created_at, last_seen_at";

/// A `users` row selected with `USER_COLUMNS`; None if a column is not what
/// duet writes (a hand-edited row), which reads as "no such user".
pub fn user_record(row: &Row) -> Option<UserRecord> {
    let hash: Vec<u8> = row.try_get(1).ok()?;
    let token_hash: TokenHash = hash.as_slice().try_into().ok()?;
    let mood: String = row.try_get(3).ok()?;
    let interests: Vec<String> = row.try_get(5).ok()?;
    let profile = Profile {
        nickname: row.try_get::<_, String>(2).ok()?.into(),
        mood: Mood::parse(&mood)?,
        avatar: row.try_get::<_, String>(4).ok()?.into(),
        interests: interests.into_iter().map(String::into_boxed_str).collect(),
        created_at: millis(row.try_get(6).ok()?),
        last_seen_at: millis(row.try_get(7).ok()?),
    };
    Some(UserRecord { id: user_id(row.try_get(0).ok()?), token_hash, profile: Arc::new(profile) })
}

pub fn interests(p: &Profile) -> Vec<&str> {
    p.interests.iter().map(|s| &**s).collect()
}

/// Whether an error may go away by itself (connection lost, server
/// restarting, overloaded, a serialisation conflict), so the work is
/// retried; other errors are about the data and would fail again.
pub fn is_transient(e: &postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => {
            let class = &db.code().code()[..2];
            matches!(class, "08" | "40" | "53" | "57" | "58")
        }
    }
}
