//! What a worker remembers of each of its WebSocket connections.
//!
//! All commands of one connection go to one worker (`worker_for`), so this
//! state needs no lock: each worker keeps its own map. An entry is made by
//! `Opened` and removed by `Closed` (both sent exactly once per upgraded
//! connection), so the map holds at most one entry per open connection of
//! this worker.

use std::collections::{HashMap, VecDeque};

use crate::base::addr::ClientAddr;
use crate::base::id::ConnId;

/// Refused messages in a row (`RATE_LIMITED` or `BAD_REQUEST`) tolerated;
/// the next one closes the socket with 4429 (contract section 7).
pub const MAX_REFUSALS: u8 = 50;

/// One connection, as its worker sees it.
#[derive(Debug, Default)]
pub struct Socket {
    /// The address it speaks for (auto-ban counts distinct addresses).
    pub client: ClientAddr,
    /// Refused messages in a row; any other reply resets it.
    pub refused: u8,
    /// Being closed (a failed `AUTH`, 4429, a fault): nothing more from it
    /// is handled, whatever it already sent.
    pub done: bool,
    /// An `AUTH` succeeded on it: the first, lock-free check of kinds that
    /// need a user (the hub is still asked which user, under its lock).
    pub authed: bool,
    /// A message of it is on a database thread (`app::offload`): later
    /// ones wait in `held` until `Command::Settled` comes back.
    pub busy: bool,
    /// Messages that arrived while busy, in order; at most
    /// `offload::settle::MAX_HELD`.
    pub held: Held,
}

/// A socket's held messages: boxed and made only when one is held, so an
/// idle connection pays one pointer for it, not an empty `VecDeque` (four
/// words; the idle-memory budget is per connection).
#[derive(Debug, Default)]
// The box is the point: one word while empty (clippy's advice would keep
// four on every idle socket).
#[allow(clippy::box_collection)]
pub struct Held(Option<Box<VecDeque<Box<str>>>>);

impl Held {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push_back(&mut self, text: Box<str>) {
        self.0.get_or_insert_with(Box::default).push_back(text);
    }

    pub fn pop_front(&mut self) -> Option<Box<str>> {
        let q = self.0.as_mut()?;
        let text = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        text
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }
}

/// The state of one worker's connections.
#[derive(Debug, Default)]
pub struct Sockets {
    /// One entry per open upgraded connection of this worker.
    map: HashMap<ConnId, Socket>,
}

impl Sockets {
    pub fn open(&mut self, conn: ConnId, client: ClientAddr) {
        self.map.insert(conn, Socket { client, ..Socket::default() });
    }

    pub fn close(&mut self, conn: ConnId) {
        self.map.remove(&conn);
    }

    /// The connection's state, if it is open.
    pub fn get(&mut self, conn: ConnId) -> Option<&mut Socket> {
        self.map.get_mut(&conn)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
