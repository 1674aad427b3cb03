//! The in-memory store: two maps behind one lock.
//!
//! Bounded by the number of registered identities, which the per-IP
//! registration limit paces. Profiles are `Arc`s shared with the hub, so an
//! online user's profile exists once in memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;

use super::{Ban, Profile, Report, Store, StoreError, TokenHash, UserId, UserRecord};

/// Reports kept in memory, newest last; older ones are dropped (the
/// PostgreSQL store keeps them all).
const MAX_REPORTS: usize = 10_000;

#[derive(Default)]
struct Maps {
    users: HashMap<UserId, UserRecord>,
    /// Token hash → user; the only way in with a token.
    by_token: HashMap<TokenHash, UserId>,
    reports: VecDeque<Report>,
    bans: HashMap<UserId, Ban>,
}

#[derive(Default)]
pub struct MemoryStore {
    maps: RwLock<Maps>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn insert_user(&self, user: UserRecord) -> Result<(), StoreError> {
        let mut m = self.maps.write();
        m.by_token.insert(user.token_hash, user.id);
        m.users.insert(user.id, user);
        Ok(())
    }

    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError> {
        let mut m = self.maps.write();
        let user = m.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.profile = profile;
        Ok(())
    }

    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        let m = self.maps.read();
        Ok(m.by_token.get(hash).and_then(|id| m.users.get(id)).cloned())
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.maps.read().users.get(&id).cloned())
    }

    fn user_count(&self) -> usize {
        self.maps.read().users.len()
    }

    fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut m = self.maps.write();
        let Some(user) = m.users.remove(&id) else { return Ok(false) };
        m.by_token.remove(&user.token_hash);
        m.bans.remove(&id);
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
        let reporters: HashSet<UserId> = m
            .reports
            .iter()
            .filter(|r| r.reported_id == user && r.created_at >= since)
            .map(|r| r.reporter_id)
            .collect();
        Ok(reporters.len())
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
