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
    /// ones wait in [`Sockets`]' `held` until `Command::Settled` comes back.
    pub busy: bool,
}

/// What a busy socket received meanwhile (`offload::settle`).
#[derive(Debug, Default)]
pub struct Held {
    /// Messages in arrival order; at most `offload::settle::MAX_HELD`.
    pub texts: VecDeque<Box<str>>,
    /// More arrived than that and were not kept: settled once the busy
    /// message is answered.
    pub overflowed: bool,
}

/// The state of one worker's connections.
#[derive(Debug, Default)]
pub struct Sockets {
    /// One entry per open upgraded connection of this worker.
    map: HashMap<ConnId, Socket>,
    /// Held messages, only for busy sockets that received any: a side map,
    /// so the entry every idle socket has in `map` stays small (a boxed
    /// queue inside `Socket` took it from 28 to 40 bytes, and the idle
    /// server from 1,050 to 1,130 bytes per connection).
    held: HashMap<ConnId, Held>,
}

impl Sockets {
    pub fn open(&mut self, conn: ConnId, client: ClientAddr) {
        self.map.insert(conn, Socket { client, ..Socket::default() });
    }

    pub fn close(&mut self, conn: ConnId) {
        self.map.remove(&conn);
        self.held.remove(&conn);
    }

    /// What `conn` holds, made on first use.
    pub fn held(&mut self, conn: ConnId) -> &mut Held {
        self.held.entry(conn).or_default()
    }

    /// What `conn` holds, taken out (settling it).
    pub fn take_held(&mut self, conn: ConnId) -> Held {
        self.held.remove(&conn).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection has one `Socket` in its worker's map: what is
    /// needed only now and then (held messages) lives beside it, not in it
    /// (regression: a boxed queue in it added ~50 bytes per idle
    /// connection, measured with `loadtest idle -n 5000`).
    #[test]
    fn a_socket_entry_stays_small() {
        assert!(std::mem::size_of::<Socket>() <= 24, "{}", std::mem::size_of::<Socket>());
        assert!(std::mem::size_of::<(ConnId, Socket)>() <= 32);
    }

    #[test]
    fn closing_forgets_what_was_held() {
        let conn = ConnId::new(1, 1);
        let mut s = Sockets::default();
        s.open(conn, ClientAddr::default());
        s.held(conn).texts.push_back("x".into());
        s.close(conn);
        assert!(s.take_held(conn).texts.is_empty());
    }
}
