//! Durable state behind a narrow trait.
//!
//! The store knows users: who they are (id, profile) and how they prove it
//! (the SHA-256 of their token; the token itself is never kept), bans and
//! reports. Live state (queues, rooms, sockets) lives in the hub; the hub
//! only tells the store what happened (`record`), which a persisting store
//! writes behind and nobody waits on. The in-memory store is the default;
//! the PostgreSQL one and, in a cluster, the Redis one implement the same
//! trait. Calls other than `record` and `status` may block, so only
//! workers call them, never the reactor.

pub mod memory;
pub mod postgres;
pub mod redis;

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::base::addr::ClientAddr;
/// A user's id lives in the shared vocabulary (`base`); re-exported here,
/// where it has always been found.
pub use crate::base::id::UserId;

/// The five moods, one byte each (interned: no per-user string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mood {
    Chill,
    Fire,
    Silly,
    Shy,
    Random,
}

impl Mood {
    pub const ALL: [Mood; 5] = [Mood::Chill, Mood::Fire, Mood::Silly, Mood::Shy, Mood::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            Mood::Chill => "chill",
            Mood::Fire => "fire",
            Mood::Silly => "silly",
            Mood::Shy => "shy",
            Mood::Random => "random",
        }
    }

    pub fn parse(s: &str) -> Option<Mood> {
        Mood::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl serde::Serialize for Mood {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The first 128 bits of the SHA-256 of an auth token: plenty to find a
/// user by (tokens are 256 random bits) at half the memory per user.
pub type TokenHash = [u8; 16];

pub fn hash_token(token: &str) -> TokenHash {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A fresh token: 256 random bits as 64 hex characters (URL-safe).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a user chose (or was given) to show strangers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Shown to partners.
    pub nickname: Box<str>,
    /// The default queue for `JOIN_QUEUE` without a mood.
    pub mood: Mood,
    /// One emoji, shown to partners.
    pub avatar: Box<str>,
    /// Normalised: trimmed, lower-case, unique, at most five.
    pub interests: Box<[Box<str>]>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch; updated on each `AUTH`.
    pub last_seen_at: u64,
}

/// A stored identity.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// The user's id.
    pub id: UserId,
    /// How the user proves who they are (the token is never kept).
    pub token_hash: TokenHash,
    /// Shared with the hub's session: one copy per user.
    pub profile: Arc<Profile>,
}

/// The reasons a `REPORT` may give (contract section 3).
pub const REPORT_REASONS: [&str; 5] = ["spam", "abuse", "inappropriate", "underage", "other"];

/// The interned reason `s` names, if it is one.
pub fn report_reason(s: &str) -> Option<&'static str> {
    REPORT_REASONS.into_iter().find(|r| *r == s)
}

/// One line of a report's transcript.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptLine {
    /// `"reporter"` or `"reported"`.
    pub from: &'static str,
    /// What was said.
    pub text: Box<str>,
    /// Epoch ms.
    pub sent_at: u64,
}

/// A user's report of their partner, with the room's last messages.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Random, 16 hex digits: what `REPORTED` names.
    pub report_id: String,
    /// The room it was made in.
    pub room_id: String,
    /// Who reported (counted once per reporter for auto-bans).
    pub reporter_id: UserId,
    /// Who was reported.
    pub reported_id: UserId,
    /// One of `REPORT_REASONS`.
    pub reason: &'static str,
    /// Free text from the reporter.
    pub details: Box<str>,
    /// Epoch ms; auto-bans count the last 24 h.
    pub created_at: u64,
    /// The room's last messages, kept even when messages are not stored.
    pub transcript: Vec<TranscriptLine>,
    /// The client address of the socket that sent the `REPORT` (contract
    /// section 7): auto-ban counts distinct addresses. Never shown.
    #[serde(skip)]
    pub reporter_addr: Option<ClientAddr>,
    /// The reporter's identity was at least `--auto-ban-min-age-secs` old:
    /// only such reports count toward the auto-ban. Never shown.
    #[serde(skip)]
    pub counts_for_ban: bool,
}

/// How many reports count toward an auto-ban: reports from distinct users
/// with distinct client addresses (contract section 7), taken greedily in
/// the order given. A report whose address is unknown (made before
/// addresses were kept) counts as an address of its own.
pub fn distinct_reporters<A: Eq + std::hash::Hash>(
    reports: impl IntoIterator<Item = (UserId, Option<A>)>,
) -> usize {
    let mut users = std::collections::HashSet::new();
    let mut addrs = std::collections::HashSet::new();
    let mut n = 0;
    for (user, addr) in reports {
        if users.contains(&user) || addr.as_ref().is_some_and(|a| addrs.contains(a)) {
            continue;
        }
        users.insert(user);
        if let Some(a) = addr {
            addrs.insert(a);
        }
        n += 1;
    }
    n
}

/// A ban: until when (ms since the epoch), why, and who decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// Epoch ms; the ban holds while now is before it.
    pub until: u64,
    /// Shown to admins.
    pub reason: Box<str>,
    /// `admin` or `auto`.
    pub by: Box<str>,
}

/// A room's row: written when it opens and again when it ends.
#[derive(Clone, Debug)]
pub struct RoomRow {
    /// The room id (as `roomId`, in hex).
    pub id: u64,
    /// Both members.
    pub users: [UserId; 2],
    /// The room's mood.
    pub mood: Mood,
    /// Epoch ms.
    pub started_at: u64,
    /// When (epoch ms) and why it ended; None while open.
    pub ended: Option<(u64, &'static str)>,
}

/// One relayed chat message; `text` only with `--store-messages`.
#[derive(Clone, Debug)]
pub struct MessageRow {
    /// Which room.
    pub room: u64,
    /// Its place in the room's order.
    pub seq: u64,
    /// Who sent it.
    pub sender: UserId,
    /// Epoch ms.
    pub sent_at: u64,
    /// In Unicode scalar values.
    pub length: u32,
    /// The text, only with `--store-messages`.
    pub text: Option<Box<str>>,
}

/// What the hub tells the store as it happens. A persisting store queues
/// it and writes it behind; callers never wait and never see an error.
#[derive(Clone, Debug)]
pub enum Event {
    Room(RoomRow),
    Message(MessageRow),
    /// The user authenticated at this time (epoch ms): `last_seen_at`.
    Seen {
        user: UserId,
        at: u64,
    },
}

/// How the store is doing, for `/api/health`; cheap, never blocks on I/O.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Why the store is degraded (database unreachable, ...); None = fine.
    pub degraded: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_reporters_needs_both_a_new_user_and_a_new_address() {
        let (a, b, c) = (UserId(1), UserId(2), UserId(3));
        assert_eq!(distinct_reporters([(a, Some(1)), (b, Some(1)), (c, Some(1))]), 1, "one address");
        assert_eq!(distinct_reporters([(a, Some(1)), (a, Some(2)), (a, Some(3))]), 1, "one user");
        assert_eq!(distinct_reporters([(a, Some(1)), (b, Some(2)), (c, Some(3))]), 3);
        assert_eq!(
            distinct_reporters([(a, None::<u8>), (b, None), (b, None)]),
            2,
            "unknown addresses are distinct"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("user not found")]
    NotFound,
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Identity persistence. Implementations are shared by all workers.
pub trait Store: Send + Sync {
    /// A new identity; `from` is the address it registered from (stored
    /// only as a salted hash, by stores that keep it).
    fn insert_user(&self, user: UserRecord, from: Option<IpAddr>) -> Result<(), StoreError>;
    /// Several new identities at once, one result per entry in order. A
    /// store that can commits them together (PostgreSQL: one statement);
    /// one entry's failure must not fail the others.
    fn insert_users(&self, users: &[(UserRecord, Option<IpAddr>)]) -> Vec<Result<(), StoreError>> {
        users.iter().map(|(u, from)| self.insert_user(u.clone(), *from)).collect()
    }
    /// Replaces the profile of an existing user.
    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError>;
    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError>;
    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// The user a token names if the store knows it without any I/O (a
    /// cache); None = ask `user_by_token`, which may wait. Only asked of a
    /// [`blocking`](Store::blocking) store.
    fn cached_user_by_token(&self, _hash: &TokenHash) -> Option<UserRecord> {
        None
    }
    /// Whether calls wait on a database: then the request path runs them
    /// on the database threads (`app::offload`), never on a worker. The
    /// memory store answers from memory; the Redis store keeps today's
    /// behaviour (its calls are short round trips on the worker).
    fn blocking(&self) -> bool {
        false
    }
    /// Erases the user: identity, token, ban, and the text of their reports.
    fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;

    fn add_report(&self, report: Report) -> Result<(), StoreError>;
    /// Newest first, at most `limit`.
    fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError>;
    /// Reports about `user` at or after `since` (epoch ms) that count
    /// toward an auto-ban: see [`distinct_reporters`].
    fn reporters_since(&self, user: UserId, since: u64) -> Result<usize, StoreError>;

    fn set_ban(&self, user: UserId, ban: Ban) -> Result<(), StoreError>;
    /// The user's ban, if one is in force at `now` (epoch ms).
    fn ban(&self, user: UserId, now: u64) -> Result<Option<Ban>, StoreError>;
    fn remove_ban(&self, user: UserId) -> Result<bool, StoreError>;

    /// Another node of the cluster changed this user (profile, ban,
    /// erasure): drop what is cached of it, so the next read is fresh.
    /// Stores that cache nothing (memory: one node; Redis: shared) need not.
    fn refresh(&self, _user: UserId) {}

    /// Something happened that a persisting store keeps; never blocks.
    fn record(&self, _event: Event) {}

    /// The user authenticated: keep `profile` (with its new `last_seen_at`).
    /// Best effort: a failure only leaves `lastSeenAt` behind.
    fn seen(&self, id: UserId, profile: Arc<Profile>) {
        let _ = self.update_profile(id, profile);
    }

    /// Writes out everything recorded so far, waiting at most `within`.
    fn flush(&self, _within: std::time::Duration) -> Result<(), StoreError> {
        Ok(())
    }

    fn status(&self) -> StoreStatus {
        StoreStatus::default()
    }
}
