//! The in-memory store: a few maps behind one lock.
//!
//! Bounds: at most `max_users` identities (`--max-identities`). Past it
//! an identity not used recently is forgotten, with its token and ban, and
//! counted in `duet_identities_evicted`: a memory store cannot keep every
//! identity ever made, and one that grows without end fails a long-running
//! server (the PostgreSQL store keeps them all). "Used" is registration, a
//! token lookup or a profile update. The choice is CLOCK (second chance),
//! an approximation of least-recently-used: one queue entry per identity,
//! a touch is one atomic store (lookups keep taking only the read lock),
//! and an entry is forgotten when it reaches the front unused since it
//! last did. A new identity starts as used, so it survives a full pass.
//! Reports are bounded by `MAX_REPORTS`. Profiles are `Arc`s shared with the hub, so
//! an online user's profile exists once in memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;

use super::{Ban, Profile, Report, Store, StoreError, TokenHash, UserId, UserRecord};

/// Reports kept in memory, newest last; older ones are dropped (the
/// PostgreSQL store keeps them all).
const MAX_REPORTS: usize = 10_000;

/// `--max-identities`' default, for callers without a config.
pub const DEFAULT_MAX_USERS: usize = 1_000_000;

struct Entry {
    /// The identity itself.
    record: UserRecord,
    /// Use clock value of the last use; compared with the queue entry's.
    used: AtomicU64,
}

#[derive(Default)]
struct Maps {
    /// Every identity, by id.
    users: HashMap<UserId, Entry>,
    /// Token hash → user; the only way in with a token.
    by_token: HashMap<TokenHash, UserId>,
    /// Every identity once, with the use clock when it was queued; the
    /// front is the eviction candidate unless it was used since.
    lru: VecDeque<(UserId, u64)>,
    /// Newest last, at most `MAX_REPORTS` (the oldest go).
    reports: VecDeque<Report>,
    /// Current and past bans, by user (expiry is checked when read).
    bans: HashMap<UserId, Ban>,
}

pub struct MemoryStore {
    /// All of it behind one lock; reads (token lookups) share it.
    maps: RwLock<Maps>,
    /// Monotonic use clock (a counter, not time: only order matters).
    clock: AtomicU64,
    /// `--max-identities`: past it the least recently used is evicted.
    max_users: usize,
    /// Counts evictions (`duet_identities_evicted_total`).
    evicted: Counter,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::bounded(DEFAULT_MAX_USERS, Counter::default())
    }

    /// A store of at most `max_users` identities; `evicted` counts the
    /// ones forgotten to stay within it.
    pub fn bounded(max_users: usize, evicted: Counter) -> MemoryStore {
        MemoryStore {
            maps: RwLock::default(),
            clock: AtomicU64::new(0),
            max_users: max_users.max(1),
            evicted,
        }
    }

    /// Identities held now.
    pub fn user_count(&self) -> usize {
        self.maps.read().users.len()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn touch(&self, entry: &Entry) {
        entry.used.store(self.tick(), Ordering::Relaxed);
    }

    /// Forgets identities not used since their last pass until within the bound.
    fn evict(&self, m: &mut Maps) {
        while m.users.len() > self.max_users {
            let Some((id, queued)) = m.lru.pop_front() else { return };
            let Some(entry) = m.users.get(&id) else { continue };
            let used = entry.used.load(Ordering::Relaxed);
            if used > queued {
                // Used since it was queued: a second chance at the back.
                m.lru.push_back((id, used));
                continue;
            }
            forget(m, id);
            self.evicted.inc();
        }
    }
}

/// Removes a user's identity, token and ban; returns whether there was one.
fn forget(m: &mut Maps, id: UserId) -> bool {
    let Some(entry) = m.users.remove(&id) else { return false };
    m.by_token.remove(&entry.record.token_hash);
    m.bans.remove(&id);
    true
}

impl Store for MemoryStore {
    fn insert_user(&self, user: UserRecord, _from: Option<IpAddr>) -> Result<(), StoreError> {
        let now = self.tick();
        let mut m = self.maps.write();
        let id = user.id;
        if let Some(entry) = m.users.get_mut(&id) {
            // Already here (two cache fills of one user raced): refresh it,
            // keeping its single queue entry.
            entry.record = user;
            self.touch(entry);
            return Ok(());
        }
        m.by_token.insert(user.token_hash, id);
        m.users.insert(id, Entry { record: user, used: AtomicU64::new(now) });
        // Queued as if used since: a new identity gets its second chance
        // too, or a pass that gave everyone else theirs would evict it
        // first (regression: fresh tokens were refused under churn).
        m.lru.push_back((id, now - 1));
        self.evict(&mut m);
        // Deleted users leave stale queue entries; drop them before they
        // outnumber the live ones.
        if m.lru.len() > 2 * m.users.len() + 1024 {
            let Maps { lru, users, .. } = &mut *m;
            lru.retain(|(id, _)| users.contains_key(id));
        }
        Ok(())
    }

    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError> {
        let mut m = self.maps.write();
        let entry = m.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        entry.record.profile = profile;
        self.touch(entry);
        Ok(())
    }

    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        let m = self.maps.read();
        let entry = m.by_token.get(hash).and_then(|id| m.users.get(id));
        Ok(entry.map(|e| {
            self.touch(e);
            e.record.clone()
        }))
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.maps.read().users.get(&id).map(|e| e.record.clone()))
    }

    fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut m = self.maps.write();
        if !forget(&mut m, id) {
            return Ok(false);
        }
        for r in m.reports.iter_mut().filter(|r| r.reporter_id == id) {
            r.details = "".into();
            r.transcript.retain(|l| l.from != "reporter");
        }
        Ok(true)
    }

    fn add_report(&self, report: Report) -> Result<(), StoreError> {
        let mut m = self.maps.write();
        if m.reports.len() == MAX_REPORTS {
            m.reports.pop_front();
        }
        m.reports.push_back(report);
        Ok(())
    }

    fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        Ok(self.maps.read().reports.iter().rev().take(limit).cloned().collect())
    }

    fn reporters_since(&self, user: UserId, since: u64) -> Result<usize, StoreError> {
        let m = self.maps.read();
        let counted = m
            .reports
            .iter()
            .filter(|r| r.reported_id == user && r.created_at >= since && r.counts_for_ban)
            .map(|r| (r.reporter_id, r.reporter_addr));
        Ok(super::distinct_reporters(counted))
    }

    fn set_ban(&self, user: UserId, ban: Ban) -> Result<(), StoreError> {
        self.maps.write().bans.insert(user, ban);
        Ok(())
    }

    fn ban(&self, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        Ok(self.maps.read().bans.get(&user).filter(|b| b.until > now).cloned())
    }

    fn remove_ban(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.maps.write().bans.remove(&user).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Mood, hash_token};

    fn user(n: u8) -> UserRecord {
        let profile = Profile {
            nickname: format!("u{n}").into(),
            mood: Mood::Chill,
            avatar: "cat".into(),
            interests: Box::new([]),
            created_at: 0,
            last_seen_at: 0,
        };
        UserRecord {
            id: UserId(u128::from(n)),
            token_hash: hash_token(&n.to_string()),
            profile: Arc::new(profile),
        }
    }

    #[test]
    fn past_the_bound_an_identity_unused_since_the_last_pass_is_forgotten() {
        let evicted = Counter::default();
        let store = MemoryStore::bounded(3, evicted.clone());
        for n in 1..=4 {
            store.insert_user(user(n), None).unwrap();
        }
        // Every entry had its chance once; with none used since, the
        // oldest (1) went.
        assert!(store.user(UserId(1)).unwrap().is_none());
        // Now 2 is used and 3 is not: 3 goes although 2 is older.
        assert!(store.user_by_token(&hash_token("2")).unwrap().is_some());
        store.set_ban(UserId(3), Ban { until: u64::MAX, reason: "x".into(), by: "t".into() }).unwrap();
        store.insert_user(user(5), None).unwrap();
        assert_eq!(store.user_count(), 3);
        assert!(store.user_by_token(&hash_token("3")).unwrap().is_none(), "3 was unused since the last pass");
        assert!(store.ban(UserId(3), 0).unwrap().is_none(), "its ban went with it");
        for n in [2u8, 4, 5] {
            assert!(store.user(UserId(u128::from(n))).unwrap().is_some(), "{n} kept");
        }
        assert_eq!(evicted.get(), 2);
    }

    #[test]
    fn inserting_a_user_again_keeps_one_queue_entry() {
        let store = MemoryStore::bounded(10, Counter::default());
        for _ in 0..100 {
            store.insert_user(user(1), None).unwrap();
        }
        assert_eq!(store.maps.read().lru.len(), 1);
        assert!(store.user_by_token(&hash_token("1")).unwrap().is_some());
    }

    #[test]
    fn deleted_users_do_not_grow_the_eviction_queue() {
        let store = MemoryStore::bounded(10, Counter::default());
        for round in 0..5_000u32 {
            let mut u = user(1);
            u.id = UserId(u128::from(round) + 100);
            store.insert_user(u.clone(), None).unwrap();
            assert!(store.delete_user(u.id).unwrap());
        }
        assert_eq!(store.user_count(), 0);
        assert!(store.maps.read().lru.len() <= 1024 + 1, "stale queue entries are dropped");
    }

    #[test]
    fn a_new_identity_is_not_evicted_by_a_pass_that_spared_older_used_ones() {
        // Churn: every identity is looked up (AUTH) a few inserts after it
        // was made; the bound is far above that distance, so none may be
        // refused. Regression: a pass that gave every used entry its
        // second chance evicted the newest, untouched one.
        const CAP: usize = 1_000;
        const LAG: usize = 20;
        let store = MemoryStore::bounded(CAP, Counter::default());
        let token = |i: usize| format!("t{i}");
        for i in 0..20 * CAP {
            let mut u = user(0);
            u.id = UserId(i as u128 + 1_000);
            u.token_hash = hash_token(&token(i));
            store.insert_user(u, None).unwrap();
            if i >= LAG {
                let found = store.user_by_token(&hash_token(&token(i - LAG))).unwrap();
                assert!(found.is_some(), "identity {} refused {LAG} inserts after it was made", i - LAG);
            }
        }
        assert_eq!(store.user_count(), CAP);
    }
}
