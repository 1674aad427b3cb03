//! The one way to the hub's lock: [`App::hub`](super::App::hub).
//!
//! A [`HubGuard`] is the lock guard plus one duty: if a panic unwinds
//! through it (a handler failed halfway through a transition), it repairs
//! the hub before the lock is released, so no other thread ever sees the
//! half-changed state, and it notes on this thread that a repair happened
//! so the command's caller closes the connection that caused it.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};

use log::error;
use parking_lot::MutexGuard;

use super::App;
use super::hub::Hub;

thread_local! {
    /// Set by a guard that repaired the hub during a panic; taken by the
    /// code that caught the panic.
    static REPAIRED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a panic caught on this thread crossed the hub lock (and the
/// hub was repaired); clears the mark.
pub fn take_repaired() -> bool {
    REPAIRED.with(|r| r.replace(false))
}

pub struct HubGuard<'a> {
    /// The lock itself.
    pub(super) hub: MutexGuard<'a, Hub>,
    /// For a repair: its outbox, store and metrics.
    pub(super) app: &'a App,
}

impl Deref for HubGuard<'_> {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl DerefMut for HubGuard<'_> {
    fn deref_mut(&mut self) -> &mut Hub {
        &mut self.hub
    }
}

impl Drop for HubGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let ctx = self.app.ctx();
            let fixed = self.hub.repair(&ctx);
            error!("a panic crossed the hub lock; repaired {fixed} inconsistencies");
            self.app.metrics.hub_repairs.inc_by(fixed as u64);
            REPAIRED.with(|r| r.set(true));
        }
    }
}
