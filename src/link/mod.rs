//! The reactor↔worker boundary, in one place both sides depend on.
//!
//! Reactor → workers: [`command::Command`]s through one queue per worker
//! ([`queue`]), all of a connection's to the same worker ([`worker_for`]).
//! Workers → reactor: [`outbox::Out`] instructions (ready frames, closes,
//! HTTP answers, timers to schedule) through one bounded queue and a
//! `mio::Waker`. Both sides read the [`lifecycle::Lifecycle`] flags.
//!
//! Imports only `base`: neither side's code is needed to name what
//! crosses, so `net` (the reactor) and `app` (the workers) both import
//! this and never each other.

pub mod command;
pub mod lifecycle;
pub mod outbox;
pub mod queue;

use crate::base::id::ConnId;

/// Which worker owns a connection: the same one for every command of it,
/// so one client's messages are handled in the order sent.
pub fn worker_for(conn: ConnId, workers: usize) -> usize {
    conn.slot as usize % workers.max(1)
}
