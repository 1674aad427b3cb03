//! The in-memory store: two maps behind one lock.
//!
//! Bounded by the number of registered identities, which the per-IP
//! registration limit paces. Profiles are `Arc`s shared with the hub, so an
//! online user's profile exists once in memory.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::{Profile, Store, StoreError, TokenHash, UserId, UserRecord};

#[derive(Default)]
struct Maps {
    users: HashMap<UserId, UserRecord>,
    /// Token hash → user; the only way in with a token.
    by_token: HashMap<TokenHash, UserId>,
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
}
