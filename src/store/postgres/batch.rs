//! Group commit of registrations: several new identities inserted by one
//! statement (`INSERT … SELECT FROM unnest(...)`), one round trip and one
//! commit for all of them.
//!
//! The database threads gather the registrations waiting (at most
//! `app::offload::MAX_BATCH`) and hand them here together. All or none of
//! one statement's rows are written; if the database refuses the rows for
//! their content (a unique violation, a bad value), each is inserted on
//! its own so one bad row fails only itself. A database that is away fails
//! them all with `Unavailable`, as a single insert would.

use std::net::IpAddr;

use super::sql::{self, is_transient, time, uuid};
use super::{PgStore, StoreError, UserRecord};
use crate::store::Store;

/// Interests are `text[]` per row; a 2-D array needs rows of one length,
/// so each row's list travels as a JSON array and is unpacked here.
const INSERT_MANY: &str = "
    INSERT INTO users (id, token_hash, nickname, mood, avatar, interests, created_at, last_seen_at, ip_hash)
    SELECT u.id, u.token_hash, u.nickname, u.mood, u.avatar,
           ARRAY(SELECT jsonb_array_elements_text(u.interests::jsonb)),
           u.created_at, u.last_seen_at, u.ip_hash
    FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::timestamptz[], $8::timestamptz[], $9::bytea[])
      AS u(id, token_hash, nickname, mood, avatar, interests, created_at, last_seen_at, ip_hash)";

/// One result per entry of `users`, in order.
pub(super) fn insert_users(
    store: &PgStore,
    users: &[(UserRecord, Option<IpAddr>)],
) -> Vec<Result<(), StoreError>> {
    if users.len() < 2 {
        return one_by_one(store, users);
    }
    let ids: Vec<uuid::Uuid> = users.iter().map(|(u, _)| uuid(u.id)).collect();
    let hashes: Vec<&[u8]> = users.iter().map(|(u, _)| &u.token_hash[..]).collect();
    let nicknames: Vec<&str> = users.iter().map(|(u, _)| &*u.profile.nickname).collect();
    let moods: Vec<&str> = users.iter().map(|(u, _)| u.profile.mood.as_str()).collect();
    let avatars: Vec<&str> = users.iter().map(|(u, _)| &*u.profile.avatar).collect();
    let interests: Vec<String> = users
        .iter()
        .map(|(u, _)| serde_json::to_string(&sql::interests(&u.profile)).unwrap_or_else(|_| "[]".into()))
        .collect();
    let created: Vec<_> = users.iter().map(|(u, _)| time(u.profile.created_at)).collect();
    let seen: Vec<_> = users.iter().map(|(u, _)| time(u.profile.last_seen_at)).collect();
    let ips: Vec<Option<Vec<u8>>> = users.iter().map(|(_, ip)| ip.map(|ip| store.ip_hash(ip))).collect();
    // The inner result keeps the database's own error, to tell "about
    // the data" (retry one by one) from "database away" (fail them all).
    let outcome = store.db(|c| {
        store.counted("insert_users");
        Ok(c.execute(
            INSERT_MANY,
            &[&ids, &hashes, &nicknames, &moods, &avatars, &interests, &created, &seen, &ips],
        ))
    });
    match outcome {
        Ok(Ok(_)) => {
            for (user, _) in users {
                // A store insert into memory cannot fail.
                let _ = store.cache.insert_user(user.clone(), None);
            }
            users.iter().map(|_| Ok(())).collect()
        }
        Ok(Err(e)) if !is_transient(&e) => {
            log::warn!(
                "database: a group of {} registrations was refused ({e}); inserting one by one",
                users.len()
            );
            one_by_one(store, users)
        }
        Ok(Err(e)) => {
            let why = store.shared.unreachable(&e);
            users.iter().map(|_| Err(StoreError::Unavailable(why.clone()))).collect()
        }
        Err(e) => {
            let why = e.to_string();
            users.iter().map(|_| Err(StoreError::Unavailable(why.clone()))).collect()
        }
    }
}

fn one_by_one(store: &PgStore, users: &[(UserRecord, Option<IpAddr>)]) -> Vec<Result<(), StoreError>> {
    users.iter().map(|(u, from)| store.insert_user(u.clone(), *from)).collect()
}
