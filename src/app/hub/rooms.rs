//! The hub's rooms: opening one for a matched pair, a message, typing,
//! ending one (and the cooldown that follows), a user's eviction and the
//! shutdown drain.
//!
//! Invariant: every member of a room has a session placed in that room,
//! and every session placed in a room is one of its members; a room is in
//! `rooms` from its `MATCH_FOUND` until its end is recorded.
//!
//! Order: every frame about a room is pushed while holding the room's gate
//! (`Room::gate`), taken while the hub is locked. A `CHAT` keeps the gate
//! after the hub is unlocked, until its two frames are queued; whoever
//! comes next for that room (another `CHAT`, a `PARTNER_LEFT`, a `TYPING`)
//! waits for it inside the hub lock, which is brief (serializing two
//! frames) and cannot deadlock (a gate holder never waits for the hub).
//! So both members see the room's events in `seq` order, and the hub is
//! not held while a `CHAT` is serialized.

use super::{Ctx, Hub, Place};
use crate::app::matcher::{Pair, QueueKey};
use crate::app::protocol::{self, Refusal};
use crate::app::room::{Member, Room, RoomGate, room_id_str};
use crate::app::typing::{Step, Typing};
use crate::app::view::{self, MatchFound, PartnerLeft, RoomRef, TypingPush};
use crate::base::clock::Millis;
use crate::base::id::{ConnId, UserId};
use crate::link::command::AppTimer;
use crate::link::outbox::Delivery;
use crate::store::{Event, Mood};

/// A `CHAT` kept and numbered: its frames go out under `gate`.
pub struct Posted {
    /// The message's place in the room's order.
    pub seq: u64,
    /// The partner's socket, if attached (else the message waits in the
    /// room's kept messages for a resume).
    pub partner: Option<ConnId>,
    /// Held until both frames are queued.
    pub gate: RoomGate,
}

impl Hub {
    /// `CHAT` from `user` in `room` (already checked as theirs): keeps the
    /// message and gives it the next `seq`. The caller queues the frames
    /// after unlocking the hub, before dropping the returned gate.
    pub fn post(&mut self, room: u64, user: UserId, text: &str, sent_at: u64) -> Result<Posted, Refusal> {
        let room = self.rooms.get_mut(&room).ok_or_else(Refusal::not_in_room)?;
        let partner = self.sessions.get(&room.partner_of(user).user()).and_then(|s| s.conn);
        let gate = room.gate();
        let seq = room.post(user, text, sent_at);
        Ok(Posted { seq, partner, gate })
    }

    /// `TYPING {isTyping}` from `user` in `room` (already checked as
    /// theirs): relayed to the partner under the section 7 rules.
    pub fn typing(&mut self, room: u64, user: UserId, is_typing: bool, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            return self.c_typing(&cluster, room, user, |t, now| t.set(is_typing, now), ctx);
        }
        self.typing_step(room, user, ctx, |t, now| t.set(is_typing, now));
    }

    /// On a cluster node: `user`'s partner resumed (`PARTNER_BACK` came
    /// for `user`): its new socket shows "not typing", so `user`'s state
    /// is relayed again if it is "typing" (as a single node does on a
    /// resume).
    pub fn c_partner_back(&mut self, room: u64, user: UserId, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            self.c_typing(&cluster, room, user, |t, now| t.partner_reset(now), ctx);
        }
    }

    /// A held-back typing change may be relayed now.
    pub fn typing_retry(&mut self, room: u64, user: UserId, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            return self.c_typing(&cluster, room, user, |t, now| t.retry(now), ctx);
        }
        self.typing_step(room, user, ctx, |t, now| t.retry(now));
    }

    pub(super) fn typing_step(
        &mut self,
        id: u64,
        user: UserId,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&mut Typing, Millis) -> Step,
    ) {
        let Some(room) = self.rooms.get_mut(&id) else { return };
        match f(room.typing_of(user), ctx.now) {
            Step::Relay(is_typing) => {
                let Some(room) = self.rooms.get(&id) else { return };
                let _order = room.gate();
                if let Some(conn) = self.partner_conn(room, user) {
                    let rid = room_id_str(id);
                    ctx.out.frame(
                        conn,
                        protocol::frame("TYPING", None, &TypingPush { room_id: &rid, is_typing }),
                    );
                }
            }
            Step::RetryAt(at) => ctx.out.timer(at, AppTimer::TypingRetry { user, room: id }),
            Step::Nothing => {}
        }
    }

    /// Sends `{roomId}` under `ty` to `user`'s partner in `room`, if attached.
    pub(super) fn partner_push(&self, room: u64, user: UserId, ty: &str, ctx: &Ctx<'_>) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let _order = r.gate();
        if let Some(conn) = self.partner_conn(r, user) {
            let rid = room_id_str(room);
            ctx.out.frame(conn, protocol::frame(ty, None, &RoomRef { room_id: &rid }));
        }
    }

    /// Shutdown: every waiter gets `MATCH_CANCELLED {reason:"shutdown"}`,
    /// every room ends (its members' sockets are about to be closed).
    pub fn drain(&mut self, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            return self.c_drain(&cluster, ctx);
        }
        let waiting: Vec<UserId> = self
            .sessions
            .iter()
            .filter(|(_, s)| matches!(s.place, Place::Queued { .. }))
            .map(|(u, _)| *u)
            .collect();
        for user in waiting {
            self.cancel_wait(user, "shutdown", ctx);
        }
        for (id, room) in self.rooms.drain() {
            // Its last CHAT is queued before DrainReady, behind which the
            // reactor says goodbye.
            drop(room.gate());
            ctx.store.record(Event::Room(room.row(id, Some((ctx.wall, "shutdown")))));
        }
        for s in self.sessions.values_mut() {
            s.place = Place::Idle;
        }
    }

    /// Removes a user from live state for `reason` (`banned`, `deleted`):
    /// a wait ends (`MATCH_CANCELLED` when banned), a room ends for the
    /// partner (`PARTNER_LEFT {reason:"left"}`), and an open socket gets
    /// `SESSION_ENDED {reason}` and is closed with `code`.
    pub fn evict(&mut self, user: UserId, reason: &'static str, code: u16, ctx: &Ctx<'_>) {
        let Some(place) = self.sessions.get(&user).map(|s| s.place) else { return };
        if let Some(cluster) = self.cluster.clone() {
            let done = match place {
                Place::Queued { .. } if reason == "banned" => {
                    self.c_cancel_wait(&cluster, user, "banned", ctx);
                    Ok(())
                }
                Place::Queued { .. } => self.c_leave_wait(&cluster, user),
                Place::InRoom(room) => self.c_end_room(&cluster, room, user, "left", "", "idle", false, ctx),
                Place::Idle => Ok(()),
            };
            if let Err(r) = done {
                log::warn!("cluster: an evicted user's wait or room was not released: {}", r.error.message);
            }
        }
        let place = if self.cluster.is_some() { Place::Idle } else { place };
        match place {
            Place::Queued { .. } if reason == "banned" => self.cancel_wait(user, "banned", ctx),
            Place::Queued { .. } => {
                self.matcher.leave(user);
            }
            Place::InRoom(room) => self.end_room(room, user, "left", ctx),
            Place::Idle => {}
        }
        if let Some(session) = self.sessions.remove(&user)
            && let Some(conn) = session.conn
        {
            self.by_conn.remove(&conn);
            ctx.out.frame(conn, view::session_ended(reason));
            ctx.out.close(conn, code, reason);
        }
    }

    pub(super) fn open_room(&mut self, pair: Pair<UserId>, ctx: &Ctx<'_>) {
        let mut id: u64 = rand::random();
        while self.rooms.contains_key(&id) {
            id = rand::random();
        }
        let member = |hub: &Hub, user: UserId, interests: &[String]| {
            let mood =
                hub.sessions.get(&user).and_then(|s| s.request.as_ref()).map_or(Mood::Random, |r| r.mood);
            let interests = interests.iter().map(|s| s.as_str().into()).collect();
            Member::new(user, mood, interests)
        };
        let a = member(self, pair.joiner, &pair.joiner_interests);
        let b = member(self, pair.partner, &pair.partner_interests);
        let mood = match pair.queue {
            QueueKey::Random => Mood::Random,
            _ => a.mood(),
        };
        let shared: Box<[Box<str>]> = pair.shared.iter().map(|s| s.as_str().into()).collect();
        let room = Room::new(mood, [a, b], shared, ctx.wall);
        for (me, other) in [(0, 1), (1, 0)] {
            let user = room.members()[me].user();
            let Some(session) = self.sessions.get_mut(&user) else {
                continue;
            };
            if let Place::Queued { since, .. } = session.place {
                ctx.metrics.match_wait.observe(super::waited_secs(since, ctx.now));
            }
            session.place = Place::InRoom(id);
            if let Some(conn) = session.conn {
                let found = MatchFound {
                    room_id: room_id_str(id),
                    mood,
                    partner: self.partner_view(&room.members()[other]),
                    shared_interests: room.shared(),
                };
                ctx.out.frame(conn, protocol::frame("MATCH_FOUND", None, &found));
            }
        }
        ctx.store.record(Event::Room(room.row(id, None)));
        self.rooms.insert(id, room);
        ctx.metrics.rooms_created.inc();
    }

    /// Ends a room because `leaver` left it; the partner gets `PARTNER_LEFT`.
    pub fn end_room(&mut self, room_id: u64, leaver: UserId, reason: &'static str, ctx: &Ctx<'_>) {
        let Some(room) = self.rooms.remove(&room_id) else {
            return;
        };
        // After the room's last CHAT is queued; none can follow (it is gone).
        let _order = room.gate();
        ctx.store.record(Event::Room(room.row(room_id, Some((ctx.wall, reason)))));
        let (me, other) = room.sides(leaver);
        let partner = room.members()[other].user();
        if let Some(session) = self.sessions.get_mut(&partner) {
            session.place = Place::Idle;
            if let Some(conn) = session.conn {
                let left = PartnerLeft { room_id: room_id_str(room_id), reason };
                ctx.out.frame(conn, protocol::frame("PARTNER_LEFT", None, &left));
            }
        }
        if let Some(session) = self.sessions.get_mut(&room.members()[me].user()) {
            session.place = Place::Idle;
        }
        self.forget_if_offline(partner);
        self.start_cooldown(leaver, partner, ctx);
    }

    fn start_cooldown(&mut self, a: UserId, b: UserId, ctx: &Ctx<'_>) {
        let now = ctx.now;
        if self.rules.cooldown > 0 {
            let cut = self.pairs.cool_down(a, b, now + self.rules.cooldown, now);
            ctx.metrics.cooldowns_cut.inc_by(cut);
        }
    }

    /// After a report: the pair is never matched again.
    pub fn forbid_pair(&mut self, a: UserId, b: UserId) {
        self.pairs.forbid(a, b);
    }
}
