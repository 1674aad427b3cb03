//! Putting the hub back together after a panic inside a transition.
//!
//! The hub sits behind a `parking_lot::Mutex`, which never poisons: a
//! handler that panics halfway through a transition would leave the next
//! one to find, say, a room whose member thinks it is idle. Making every
//! transition panic-proof by construction is not something a reader can
//! check, so the lock is taken through [`HubGuard`](crate::app::guard::HubGuard),
//! which runs [`Hub::repair`] before it lets go of a lock a panic crossed.
//! Repair restores the invariants the rest of the hub relies on, ending
//! what cannot be restored the way a dropped connection would end it, and
//! the connection whose message panicked is closed (1011).
//!
//! Invariants restored:
//! 1. `by_conn[c] == u` exactly when `sessions[u].conn == Some(c)`;
//! 2. every member of a room has a session placed in that room, and every
//!    session placed in a room is one of its members; a room that fails
//!    this ends, each member still placed in it is told
//!    `PARTNER_LEFT {reason:"disconnected"}`;
//! 3. a session is `Queued` exactly when the matcher holds it with that
//!    ticket; a wait that cannot be trusted ends with `MATCH_CANCELLED`;
//! 4. a session without a socket exists only while it holds a room.
//!
//! It must not panic itself (it runs while a panic unwinds), so it uses no
//! indexing or `unwrap`, only lookups that can miss.

use super::{Ctx, Hub, Place};
use crate::app::protocol;
use crate::app::room::room_id_str;
use crate::app::view::PartnerLeft;
use crate::base::id::UserId;
use crate::link::outbox::Delivery;
use crate::store::Event;

impl Hub {
    /// Restores the invariants above; returns how many things it fixed.
    pub fn repair(&mut self, ctx: &Ctx<'_>) -> usize {
        let mut fixed = 0;

        // 1. sockets
        let stale: Vec<_> = self
            .by_conn
            .iter()
            .filter(|(c, u)| self.sessions.get(u).is_none_or(|s| s.conn != Some(**c)))
            .map(|(c, _)| *c)
            .collect();
        for c in stale {
            self.by_conn.remove(&c);
            fixed += 1;
        }
        let missing: Vec<_> = self
            .sessions
            .iter()
            .filter_map(|(u, s)| s.conn.filter(|c| self.by_conn.get(c) != Some(u)).map(|c| (c, *u)))
            .collect();
        for (c, u) in missing {
            self.by_conn.insert(c, u);
            fixed += 1;
        }

        // 2. rooms
        let broken: Vec<u64> = self
            .rooms
            .iter()
            .filter(|(id, r)| {
                r.members()
                    .iter()
                    .any(|m| self.sessions.get(&m.user()).map(|s| s.place) != Some(Place::InRoom(**id)))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in broken {
            let Some(room) = self.rooms.remove(&id) else { continue };
            ctx.store.record(Event::Room(room.row(id, Some((ctx.wall, "disconnected")))));
            for m in room.members() {
                self.leave_broken_room(m.user(), id, ctx);
            }
            fixed += 1;
        }
        let orphans: Vec<(UserId, u64)> = self
            .sessions
            .iter()
            .filter_map(|(u, s)| match s.place {
                Place::InRoom(id) if !self.rooms.get(&id).is_some_and(|r| r.has_member(*u)) => Some((*u, id)),
                _ => None,
            })
            .collect();
        for (user, id) in orphans {
            self.leave_broken_room(user, id, ctx);
            fixed += 1;
        }

        // 3. queues
        let lost: Vec<UserId> = self
            .sessions
            .iter()
            .filter(|(u, s)| match s.place {
                Place::Queued { ticket, .. } => self.matcher.ticket_of(**u) != Some(ticket),
                _ => false,
            })
            .map(|(u, _)| *u)
            .collect();
        for user in lost {
            self.cancel_wait(user, "timeout", ctx);
            fixed += 1;
        }
        let strays: Vec<UserId> = self
            .matcher
            .waiting()
            .filter(|(u, t)| {
                !self
                    .sessions
                    .get(u)
                    .is_some_and(|s| matches!(s.place, Place::Queued { ticket, .. } if ticket == *t))
            })
            .map(|(u, _)| u)
            .collect();
        for user in strays {
            self.matcher.leave(user);
            fixed += 1;
        }

        // 4. sessions with nothing to hold
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.conn.is_some() || s.place != Place::Idle);
        fixed + before - self.sessions.len()
    }

    /// `user` was placed in room `id`, which is gone or broken: idle now,
    /// and told the room ended, if it has a socket.
    fn leave_broken_room(&mut self, user: UserId, id: u64, ctx: &Ctx<'_>) {
        let Some(s) = self.sessions.get_mut(&user) else { return };
        if s.place != Place::InRoom(id) {
            return;
        }
        s.place = Place::Idle;
        if let Some(conn) = s.conn {
            let left = PartnerLeft { room_id: room_id_str(id), reason: "disconnected" };
            ctx.out.frame(conn, protocol::frame("PARTNER_LEFT", None, &left));
        }
    }
}
