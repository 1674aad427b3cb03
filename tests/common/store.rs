//! A store for tests that changes a few calls of the memory store
//! (counting them, failing or holding them on demand), and a server
//! started over any store.
//!
//! A test writes only what it changes, as `Hooks`; `Hooked` forwards every
//! other call to its `MemoryStore`:
//!
//! ```ignore
//! #[derive(Default)]
//! struct CountLookups { lookups: AtomicUsize }
//! impl Hooks for CountLookups {
//!     fn user_by_token(&self, inner: &MemoryStore, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
//!         self.lookups.fetch_add(1, SeqCst);
//!         inner.user_by_token(hash)
//!     }
//! }
//! let store = Arc::new(Hooked::<CountLookups>::default());
//! let srv = start_over(store.clone(), |_| {});
//! store.lookups.load(SeqCst); // `Hooked` derefs to its hooks
//! ```

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use duet::store::memory::MemoryStore;
use duet::store::{
    Ban, Event, Profile, Report, Store, StoreError, StoreStatus, TokenHash, UserId, UserRecord,
};

use super::{TestServer, test_config};

/// The calls a test store may change; each gets the memory store to
/// forward to, and by default does just that. (Add a method here when a
/// test needs to change another call.)
pub trait Hooks: Send + Sync + 'static {
    fn user_by_token(&self, inner: &MemoryStore, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        inner.user_by_token(hash)
    }
    fn add_report(&self, inner: &MemoryStore, report: Report) -> Result<(), StoreError> {
        inner.add_report(report)
    }
    fn ban(&self, inner: &MemoryStore, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        inner.ban(user, now)
    }
}

/// The memory store with `hooks` in front of some of its calls. Derefs
/// to the hooks, so a test reads its counters and sets its switches as
/// `store.field`.
#[derive(Default)]
pub struct Hooked<H> {
    pub inner: MemoryStore,
    pub hooks: H,
}

impl<H> Deref for Hooked<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.hooks
    }
}

impl<H: Hooks> Store for Hooked<H> {
    fn insert_user(&self, user: UserRecord, from: Option<IpAddr>) -> Result<(), StoreError> {
        self.inner.insert_user(user, from)
    }
    fn update_profile(&self, id: UserId, profile: Arc<Profile>) -> Result<(), StoreError> {
        self.inner.update_profile(id, profile)
    }
    fn user_by_token(&self, hash: &TokenHash) -> Result<Option<UserRecord>, StoreError> {
        self.hooks.user_by_token(&self.inner, hash)
    }
    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user(id)
    }
    fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.inner.delete_user(id)
    }
    fn add_report(&self, report: Report) -> Result<(), StoreError> {
        self.hooks.add_report(&self.inner, report)
    }
    fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        self.inner.reports(limit)
    }
    fn reporters_since(&self, user: UserId, since: u64) -> Result<usize, StoreError> {
        self.inner.reporters_since(user, since)
    }
    fn set_ban(&self, user: UserId, ban: Ban) -> Result<(), StoreError> {
        self.inner.set_ban(user, ban)
    }
    fn ban(&self, user: UserId, now: u64) -> Result<Option<Ban>, StoreError> {
        self.hooks.ban(&self.inner, user, now)
    }
    fn remove_ban(&self, user: UserId) -> Result<bool, StoreError> {
        self.inner.remove_ban(user)
    }
    fn record(&self, event: Event) {
        self.inner.record(event)
    }
    fn seen(&self, id: UserId, profile: Arc<Profile>) {
        self.inner.seen(id, profile)
    }
    fn flush(&self, within: Duration) -> Result<(), StoreError> {
        self.inner.flush(within)
    }
    fn status(&self) -> StoreStatus {
        self.inner.status()
    }
}

/// A server over `store` with the test defaults, `tweak`ed.
#[track_caller]
pub fn start_over(store: Arc<dyn Store>, tweak: impl FnOnce(&mut duet::Config)) -> TestServer {
    let metrics = Arc::new(duet::metrics::Metrics::default());
    let server = duet::Server::start_with_store(test_config(tweak), store, metrics).expect("server starts");
    TestServer::of(server)
}
