//! What crosses from the reactor to the workers: [`Command`], and the
//! application timers ([`AppTimer`]) that go the other way to be scheduled
//! and come back as a command when due.
//!
//! Every command carries the `ConnId` it concerns; all commands of one
//! connection go to the same worker ([`worker_for`](super::worker_for)), so
//! a client's messages are handled in the order it sent them.

use crate::base::addr::ClientAddr;
use crate::base::http::Request;
use crate::base::id::{ConnId, UserId};

/// A unit of work for a worker.
#[derive(Debug)]
pub enum Command {
    /// One complete WebSocket text message (UTF-8 checked, at most 64 KiB).
    Text { conn: ConnId, text: Box<str> },
    /// A WebSocket was upgraded; `client` is the address it speaks for
    /// (contract section 7). Sent once, before any `Text` of it.
    Opened { conn: ConnId, client: ClientAddr },
    /// An HTTP request the reactor cannot answer alone.
    Http { conn: ConnId, client: ClientAddr, req: Box<Request> },
    /// The auth deadline passed; close the socket unless it authenticated.
    AuthTimeout { conn: ConnId },
    /// The WebSocket is gone (or closing): forget it, end what it held.
    /// Sent exactly once per upgraded connection, never dropped.
    /// With `echo`, the peer sent a close frame: answer it with that code
    /// once the connection's state is released.
    Closed { conn: ConnId, echo: Option<u16> },
    /// An application timer came due.
    Timer(AppTimer),
    /// Graceful shutdown: cancel every wait, end every room, then answer
    /// `Out::DrainReady`.
    Drain,
    /// A message of `conn` handed to a database thread (`AUTH` on a token
    /// cache miss, `REPORT`) was answered there: the worker updates the
    /// socket and handles what it held back meanwhile. Sent by that
    /// thread straight into the worker's queue ([`Injector`]), at most one
    /// per deferred message.
    ///
    /// [`Injector`]: super::queue::Injector
    Settled { conn: ConnId, how: Settled },
}

/// How a message answered on a database thread ended (its reply is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Answered; the socket goes on as before.
    Replied,
    /// `AUTH` succeeded: the socket speaks for a user from now on.
    Authenticated,
    /// The socket is being closed: nothing more it sent is handled.
    Closing,
    /// Answered `ERROR`; `counted` when it counts toward the run of
    /// refused messages that closes with 4429 (`RATE_LIMITED`,
    /// `BAD_REQUEST`).
    Refused { counted: bool },
}

impl Command {
    /// The connection it concerns, if one.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Command::Text { conn, .. }
            | Command::Opened { conn, .. }
            | Command::Http { conn, .. }
            | Command::AuthTimeout { conn }
            | Command::Closed { conn, .. }
            | Command::Settled { conn, .. } => Some(*conn),
            Command::Timer(_) | Command::Drain => None,
        }
    }

    /// What it holds of a client's bytes, for the worker queue's byte bound.
    pub fn weight(&self) -> usize {
        match self {
            Command::Text { text, .. } => text.len(),
            Command::Http { req, .. } => req.body.len() + req.path.len() + req.query.len(),
            _ => 0,
        }
    }

    /// Its kind, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Command::Text { .. } => "a message",
            Command::Opened { .. } => "an upgrade",
            Command::Http { .. } => "a request",
            Command::AuthTimeout { .. } => "an auth timeout",
            Command::Closed { .. } => "a close",
            Command::Timer(_) => "a timer",
            Command::Drain => "the drain",
            Command::Settled { .. } => "a database answer",
        }
    }
}

/// Timers the application schedules through the reactor's timer heap.
/// Each carries what makes it recognisable as stale when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppTimer {
    /// The waiter crossed the tier-1 boundary: try tier-2 partners.
    TierUp { user: UserId, ticket: u64 },
    /// The waiter reached the match timeout.
    MatchTimeout { user: UserId, ticket: u64 },
    /// Cluster: `away` (the partner of `user`) left `room` at `at` (epoch
    /// ms); its grace ran out here, on the node that told `user`.
    ClusterGrace { user: UserId, room: u64, away: UserId, at: u64 },
    /// Cluster: the pairing `pair` offered for `user` was not committed in
    /// time: abort it (the other node is dead or slow).
    ClusterCommit { user: UserId, pair: u64 },
    /// A typing change held back by the relay bound may go out now.
    TypingRetry { user: UserId, room: u64 },
    /// A dropped user's resume grace in `room` ran out.
    /// `conn` is the socket that dropped: a later drop has its own timer.
    ResumeExpired { user: UserId, room: u64, conn: ConnId },
}

impl AppTimer {
    /// Which worker runs it; any would do (state is locked), this spreads load.
    pub fn shard_key(&self) -> u64 {
        match *self {
            AppTimer::TierUp { user, .. }
            | AppTimer::MatchTimeout { user, .. }
            | AppTimer::TypingRetry { user, .. }
            | AppTimer::ClusterGrace { user, .. }
            | AppTimer::ClusterCommit { user, .. }
            | AppTimer::ResumeExpired { user, .. } => user.0 as u64,
        }
    }
}
