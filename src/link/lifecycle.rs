//! The server's lifecycle flags, shared by the handle the caller holds
//! (`Server`), the reactor and health.
//!
//! Each flag only ever goes from false to true. `drain_requested` is how
//! `Server::drain` asks for a graceful shutdown (a signal is the other
//! way); `draining` is set by the reactor once it began one (health then
//! answers 503); `stopping` makes the reactor leave its loop at once.

use std::sync::atomic::AtomicBool;

/// Lifecycle flags every thread may read.
#[derive(Debug, Default)]
pub struct Lifecycle {
    /// The reactor leaves its loop when set.
    pub stopping: AtomicBool,
    /// Health answers 503 `draining` when set.
    pub draining: AtomicBool,
    /// Asks the reactor to start a graceful shutdown (as a signal would).
    pub drain_requested: AtomicBool,
}
