//! The hub as a cluster node: the same sessions and places, but the
//! queues and rooms are in Redis (`app::cluster`), changed by scripts.
//!
//! A session's place mirrors what Redis says: `Queued` while the user
//! waits (with `ClusterSide::pending` set while a pairing is offered and
//! not yet taken by both nodes), `InRoom(id)` once `MATCH_FOUND` arrived,
//! `Idle` once the room's end arrived. Frames about a wait or a room come
//! from the scripts through this node's channel (`cluster::receiver`), so
//! handlers here only change the local place and run the script. A
//! script runs under the hub lock: transitions are rate-limited (one a
//! second a user by default) and a script is one round trip, so the lock
//! is held for a bounded time; `CHAT`, the hot path, runs its script
//! outside the lock (`commands::chat`).

use std::sync::Arc;

use super::{Ctx, Hub, Place, QueueRequest, Session};
use crate::app::cluster::{Attached, Cluster, RETRY_AFTER_MS};
use crate::app::protocol::{self, Refusal};
use crate::app::room::room_id_str;
use crate::app::typing::{Step, Typing};
use crate::app::view::{self, QueueWaiting, Reason, TypingPush};
use crate::base::id::{ConnId, UserId};
use crate::bus::BusError;
use crate::link::command::AppTimer;
use crate::link::outbox::Delivery;

/// What a session needs only on a cluster node (boxed: a single node
/// pays one null pointer for it).
#[derive(Debug, Default)]
pub(super) struct ClusterSide {
    /// The pairing offered for this waiter, taken here, not yet committed.
    pub pending: Option<u64>,
    /// Since when this user was told its partner is away (epoch ms), so a
    /// resynchronisation does not tell it twice.
    pub told_away: Option<u64>,
    /// Answers to this user's messages that scripts will publish on this
    /// node's channel and that have not arrived yet.
    pub awaiting: u32,
    /// When the oldest awaited answer was expected (monotonic ms): one
    /// lost with the channel (a resubscription) stops holding after
    /// `HOLD_AT_MOST_MS`.
    pub awaiting_since: u64,
    /// Direct answers held until those arrive, so a client gets its
    /// answers in the order of its messages (at most `HELD_REPLIES`).
    pub held: Vec<(ConnId, Vec<u8>)>,
    /// What the partner was shown of this user's typing, in its room.
    pub typing: Typing,
}

/// Direct answers held behind channel answers, per user, at most; past it
/// they go out at once (a client pipelining that much waits for nothing).
const HELD_REPLIES: usize = 64;
/// How long direct answers wait for an awaited one at most: well past a
/// script's time limit (`COMMIT_WITHIN_MS`), so only a lost one hits it.
const HOLD_AT_MOST_MS: u64 = 3000;

/// The refusal while Redis is away (contract section 8).
pub fn unavailable() -> Refusal {
    let mut r = Refusal::new("UNAVAILABLE", "the cluster's shared state is unreachable; try again");
    r.error.retry_after_ms = Some(RETRY_AFTER_MS);
    r
}

fn refused(e: BusError) -> Refusal {
    if Cluster::is_unavailable(&e) { unavailable() } else { Refusal::new("INTERNAL", e.to_string()) }
}

impl Session {
    fn side(&mut self) -> &mut ClusterSide {
        self.cluster.get_or_insert_with(Box::default)
    }
}

impl Hub {
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// `JOIN_QUEUE` on a cluster node: the place here, the wait in Redis
    /// (whose script publishes `QUEUE_WAITING`, then any offer).
    pub(super) fn c_join(
        &mut self,
        cluster: &Cluster,
        user: UserId,
        request: QueueRequest,
        reply_id: Option<&str>,
        ctx: &Ctx<'_>,
    ) -> Result<(), Refusal> {
        let ticket = self.next_ticket();
        let session =
            self.sessions.get_mut(&user).ok_or_else(|| Refusal::new("UNAUTHENTICATED", "not signed in"))?;
        let view = super::local_rooms::partner_view(&session.profile, &request);
        let mut tags: Vec<&str> = request.interests.iter().map(|s| &**s).collect();
        tags.sort_unstable();
        let reply = QueueWaiting {
            mood: request.mood,
            mode: request.mode(),
            interests: &request.interests,
            waiting: 0,
        };
        let waiting = protocol::frame_json("QUEUE_WAITING", reply_id, &reply);
        let (pre, post) = waiting.split_once("\"waiting\":0").unwrap_or((&waiting, ""));
        let pre = format!("{pre}\"waiting\":");
        let queue = request.key().as_str();
        cluster.join(user, queue, ctx.wall, &tags.join(","), &view, false, (&pre, post)).map_err(refused)?;
        // QUEUE_WAITING comes through the channel (the receiver needs the
        // hub lock, held here, so it cannot come first).
        let side = session.side();
        if side.awaiting == 0 {
            side.awaiting_since = ctx.now;
        }
        side.awaiting += 1;
        session.place = Place::queued(ticket, ctx.now);
        session.request = Some(request);
        session.side().pending = None;
        ctx.out.timer(ctx.now + self.rules.tier1, AppTimer::TierUp { user, ticket });
        ctx.out.timer(ctx.now + self.rules.match_timeout, AppTimer::MatchTimeout { user, ticket });
        Ok(())
    }

    /// The waiter crossed tier 1: the `join` script again, with tier-2 rules.
    pub(super) fn c_retry(&mut self, cluster: &Cluster, user: UserId, ctx: &Ctx<'_>) {
        let Some(s) = self.sessions.get(&user) else { return };
        let Some(request) = s.request.as_ref() else { return };
        let mut tags: Vec<&str> = request.interests.iter().map(|s| &**s).collect();
        tags.sort_unstable();
        let queue = request.key().as_str();
        if let Err(e) = cluster.join(user, queue, ctx.wall, &tags.join(","), "", true, ("", "")) {
            log::warn!("cluster: retry of a waiter failed: {e}");
        }
    }

    /// The user leaves its wait (and any pairing offered for it).
    pub(super) fn c_leave_wait(&mut self, cluster: &Cluster, user: UserId) -> Result<(), Refusal> {
        cluster.leave(user).map_err(refused)?;
        if let Some(s) = self.sessions.get_mut(&user) {
            s.place = Place::Idle;
            s.side().pending = None;
        }
        Ok(())
    }

    /// A wait's timer: `MATCH_CANCELLED {reason}` after leaving Redis's queue.
    pub(super) fn c_cancel_wait(&mut self, cluster: &Cluster, user: UserId, reason: &str, ctx: &Ctx<'_>) {
        if let Err(e) = self.c_leave_wait(cluster, user) {
            log::warn!("cluster: a cancelled wait could not leave the queue: {}", e.error.message);
        }
        if let Some(conn) = self.sessions.get(&user).and_then(|s| s.conn) {
            ctx.out.frame(conn, protocol::frame("MATCH_CANCELLED", None, &Reason { reason }));
        }
    }

    /// Ends the user's room in Redis; the script sends `reply` (may be
    /// empty) to this node after the partner's `PARTNER_LEFT`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn c_end_room(
        &mut self,
        cluster: &Cluster,
        room: u64,
        user: UserId,
        reason: &str,
        reply: &str,
        effect: &str,
        never: bool,
        ctx: &Ctx<'_>,
    ) -> Result<(), Refusal> {
        let until = if never {
            "inf".to_owned()
        } else if cluster.cooldown > 0 {
            (ctx.wall + cluster.cooldown).to_string()
        } else {
            "0".to_owned()
        };
        let ended = cluster
            .end_room(&room_id_str(room), user, reason, reply, effect, &until, None)
            .map_err(refused)?;
        if ended && !reply.is_empty() {
            self.c_expect_reply(user, ctx);
        }
        // The script's frames set the place; until they arrive the user
        // must not be able to chat in a room that is gone.
        if let Some(s) = self.sessions.get_mut(&user)
            && s.place == Place::InRoom(room)
        {
            s.place = Place::Idle;
        }
        // Redis no longer has the room (it came back empty, or its keys
        // expired): no reply was published, so this is the answer.
        if ended { Ok(()) } else { Err(Refusal::not_in_room()) }
    }

    /// On a cluster node, ends `user`'s room in Redis with `reply` (a
    /// frame's JSON) sent to the user after the partner's `PARTNER_LEFT`
    /// and the session `effect` ("idle", or "next": queue again); None on
    /// a single node (the caller ends the room here).
    #[allow(clippy::too_many_arguments)]
    pub fn cluster_end_room(
        &mut self,
        room: u64,
        user: UserId,
        reason: &str,
        reply: &str,
        effect: &str,
        never: bool,
        ctx: &Ctx<'_>,
    ) -> Option<Result<(), Refusal>> {
        let cluster = self.cluster.clone()?;
        Some(self.c_end_room(&cluster, room, user, reason, reply, effect, never, ctx))
    }

    /// A socket dropped on this cluster node: its wait ends, its room
    /// waits for it (the partner's node runs the grace).
    pub(super) fn c_detach(&mut self, cluster: &Cluster, user: UserId, ctx: &Ctx<'_>) {
        let Some(place) = self.sessions.get(&user).map(|s| s.place) else { return };
        let result = match place {
            Place::Idle => Ok(()),
            Place::Queued { .. } => {
                self.c_leave_wait(cluster, user).map_err(|r| BusError::Refused(r.error.message))
            }
            Place::InRoom(room) => {
                self.l_left(room);
                let r = cluster.away(&room_id_str(room), user, ctx.wall);
                if r.as_ref().is_err_and(Cluster::is_unavailable) {
                    // Marked away once Redis answers (`c_recovered`).
                    self.pending_away.push((room, user));
                }
                r
            }
        };
        if let Err(e) = result {
            log::warn!("cluster: a dropped user's wait or room could not be released: {e}");
        }
        if let Some(s) = self.sessions.get_mut(&user) {
            s.place = Place::Idle;
        }
        self.forget_if_offline(user);
    }

    /// `AUTH` on a cluster node (after `attach`): presence, a wait or a
    /// room move here.
    pub fn c_attach_user(&mut self, user: UserId, last_seq: u64, ctx: &Ctx<'_>) -> Result<Attached, Refusal> {
        let Some(cluster) = self.cluster.clone() else { return Ok(Attached::default()) };
        self.c_attach(&cluster, user, last_seq, ctx)
    }

    /// Undoes `attach` for a socket whose `AUTH` failed after it.
    pub fn unbind(&mut self, conn: ConnId) {
        if let Some(user) = self.by_conn.remove(&conn)
            && let Some(s) = self.sessions.get_mut(&user)
            && s.conn == Some(conn)
        {
            s.conn = None;
            self.forget_if_offline(user);
        }
    }

    /// `AUTH` on a cluster node: presence, a wait or a room move here.
    fn c_attach(
        &mut self,
        cluster: &Cluster,
        user: UserId,
        last_seq: u64,
        ctx: &Ctx<'_>,
    ) -> Result<Attached, Refusal> {
        let attached = cluster.auth(user, last_seq).map_err(refused)?;
        if let Some(prev) = &attached.previous
            && let Err(e) = cluster.bus.publish(&format!("ch:{prev}"), format!("supersede {user}").as_bytes())
        {
            log::warn!("cluster: could not tell {prev} its socket for a user was superseded: {e}");
        }
        let ticket = self.next_ticket();
        let (tier1, timeout) = (self.rules.tier1, self.rules.match_timeout);
        if let Some(s) = self.sessions.get_mut(&user) {
            if let Some(room) = &attached.room {
                s.place = Place::InRoom(room.id);
            } else if attached.waiting.is_some() {
                s.place = Place::queued(ticket, ctx.now);
                ctx.out.timer(ctx.now + tier1, AppTimer::TierUp { user, ticket });
                ctx.out.timer(ctx.now + timeout, AppTimer::MatchTimeout { user, ticket });
            }
        }
        if let Some(room) = &attached.room
            && let Some(partner) = room.partner
        {
            self.l_note(room.id, user, partner, room.first, room.last_seq);
            if let Some(at) = room.partner_away {
                // Both had dropped: nobody ran the partner's grace.
                if let Some(s) = self.sessions.get_mut(&user) {
                    s.side().told_away = Some(at);
                }
                let due = (at + cluster.grace).saturating_sub(ctx.wall);
                let timer = AppTimer::ClusterGrace { user, room: room.id, away: partner, at };
                ctx.out.timer(ctx.now + due, timer);
            }
        }
        Ok(attached)
    }

    /// `TYPING` on a cluster node: coalesced here, relayed by a script.
    pub(super) fn c_typing(
        &mut self,
        cluster: &Cluster,
        room: u64,
        user: UserId,
        step: impl FnOnce(&mut Typing, u64) -> Step,
        ctx: &Ctx<'_>,
    ) {
        let Some(s) = self.sessions.get_mut(&user) else { return };
        match step(&mut s.side().typing, ctx.now) {
            Step::Relay(is_typing) => {
                let rid = room_id_str(room);
                let frame = protocol::frame_json("TYPING", None, &TypingPush { room_id: &rid, is_typing });
                if self.l_typing(room, user, &frame, false, ctx) {
                    return;
                }
                // Not relayed while Redis is away (contract section 8),
                // unless the partner is here.
                if cluster.relay(&rid, user, &frame).is_err_and(|e| Cluster::is_unavailable(&e)) {
                    self.l_typing(room, user, &frame, true, ctx);
                }
            }
            Step::RetryAt(at) => ctx.out.timer(at, AppTimer::TypingRetry { user, room }),
            Step::Nothing => {}
        }
    }

    /// A script about to run will publish the answer to `user`'s message
    /// on this node's channel: direct answers wait behind it.
    pub fn c_expect_reply(&mut self, user: UserId, ctx: &Ctx<'_>) {
        if let Some(s) = self.sessions.get_mut(&user) {
            let side = s.side();
            if side.awaiting == 0 {
                side.awaiting_since = ctx.now;
            }
            side.awaiting += 1;
        }
    }

    /// The expected answer came, or will not (the script refused or
    /// failed): held direct answers go out once none is awaited.
    pub fn c_reply_done(&mut self, user: UserId, ctx: &Ctx<'_>) {
        let Some(s) = self.sessions.get_mut(&user) else { return };
        let side = s.side();
        side.awaiting = side.awaiting.saturating_sub(1);
        if side.awaiting == 0 {
            for (conn, frame) in std::mem::take(&mut side.held) {
                ctx.out.frame(conn, frame);
            }
        }
    }

    /// A direct answer to a message on `conn`: sent now, or held behind an
    /// answer the channel has yet to bring.
    pub fn c_reply(&mut self, conn: ConnId, frame: Vec<u8>, ctx: &Ctx<'_>) {
        let user = self.by_conn.get(&conn).copied();
        let side = user.and_then(|u| self.sessions.get_mut(&u)).and_then(|s| s.cluster.as_mut());
        let Some(side) = side else { return ctx.out.frame(conn, frame) };
        if side.awaiting > 0 && ctx.now.saturating_sub(side.awaiting_since) > HOLD_AT_MOST_MS {
            side.awaiting = 0;
            for (conn, frame) in std::mem::take(&mut side.held) {
                ctx.out.frame(conn, frame);
            }
        }
        if side.awaiting > 0 && side.held.len() < HELD_REPLIES {
            side.held.push((conn, frame));
        } else {
            ctx.out.frame(conn, frame);
        }
    }

    /// A direct answer to a message on `conn`: on a cluster node it keeps
    /// its place behind answers the node's channel has yet to bring.
    pub fn reply(&mut self, conn: ConnId, frame: Vec<u8>, ctx: &Ctx<'_>) {
        if self.cluster.is_some() {
            self.c_reply(conn, frame, ctx);
        } else {
            ctx.out.frame(conn, frame);
        }
    }

    /// A frame from the channel for one of this node's users, after its
    /// effect on the session. Returns the socket to send it to.
    pub fn c_conn(&self, user: UserId) -> Option<ConnId> {
        self.sessions.get(&user).and_then(|s| s.conn)
    }

    /// `MATCH_FOUND` arrived: the waiter is in the room now. False if the
    /// user is no longer waiting here (the caller ends the room).
    pub fn c_matched(
        &mut self,
        user: UserId,
        room: u64,
        partner: Option<(UserId, bool)>,
        ctx: &Ctx<'_>,
    ) -> bool {
        // Counted once per room in the cluster: by the node of its `a` side.
        let count = partner.is_none_or(|(_, user_is_a)| user_is_a);
        if !self.c_enter(user, room, count, ctx) {
            return false;
        }
        if let Some((partner, user_is_a)) = partner {
            self.l_note(room, user, partner, user_is_a, 0);
        }
        true
    }

    fn c_enter(&mut self, user: UserId, room: u64, count: bool, ctx: &Ctx<'_>) -> bool {
        let Some(s) = self.sessions.get_mut(&user) else { return false };
        let Place::Queued { since, .. } = s.place else { return false };
        ctx.metrics.match_wait.observe(super::waited_secs(since, ctx.now));
        s.place = Place::InRoom(room);
        s.side().pending = None;
        s.side().typing = Typing::default();
        if count {
            ctx.metrics.rooms_created.inc();
        }
        true
    }

    /// The room ended (`PARTNER_LEFT`, or the reply to the user's own
    /// leave): idle here. Returns the request to queue again with, for
    /// `NEXT`.
    pub fn c_room_ended(&mut self, user: UserId, room: u64) -> Option<QueueRequest> {
        self.l_forget(room);
        let s = self.sessions.get_mut(&user)?;
        if matches!(s.place, Place::InRoom(r) if r == room) {
            s.place = Place::Idle;
        }
        let request = s.request.clone().unwrap_or_else(|| QueueRequest::from_profile(&s.profile));
        self.forget_if_offline(user);
        Some(request)
    }

    /// A pairing was offered for `user`: Some(ticket) if it still waits
    /// here (it is marked pending), else None.
    pub fn c_offered(&mut self, user: UserId, pair: u64) -> Option<u64> {
        let s = self.sessions.get_mut(&user)?;
        let Place::Queued { ticket, .. } = s.place else { return None };
        if s.side().pending.is_some() {
            return None;
        }
        s.side().pending = Some(pair);
        Some(ticket)
    }

    /// Whether `user`'s pairing `pair` is still pending here.
    pub fn c_pending(&self, user: UserId, pair: u64) -> bool {
        self.sessions.get(&user).and_then(|s| s.cluster.as_ref()).and_then(|c| c.pending) == Some(pair)
    }

    /// A pairing was aborted and `user` waits again (the script put it back).
    pub fn c_requeued(&mut self, user: UserId) -> bool {
        let Some(s) = self.sessions.get_mut(&user) else { return false };
        s.side().pending = None;
        matches!(s.place, Place::Queued { .. })
    }

    /// Another node took `user`'s socket over: end this one without
    /// telling the partner (contract section 5: a supersede).
    pub fn c_superseded(&mut self, user: UserId, ctx: &Ctx<'_>) {
        if let Some(Place::InRoom(room)) = self.sessions.get(&user).map(|s| s.place) {
            self.l_left(room);
        }
        if let Some(s) = self.sessions.remove(&user)
            && let Some(conn) = s.conn
        {
            self.by_conn.remove(&conn);
            ctx.out.frame(conn, view::session_ended("superseded"));
            ctx.out.close(conn, 4409, "superseded");
        }
    }

    /// Shutdown of a cluster node (contract section 8): waiters get
    /// `MATCH_CANCELLED {reason:"shutdown"}`; rooms are not ended: each
    /// member here is marked away, so its partner gets `PARTNER_AWAY` and
    /// the member can resume on another node within the grace.
    pub(super) fn c_drain(&mut self, cluster: &Cluster, ctx: &Ctx<'_>) {
        let users: Vec<(UserId, Place)> = self.sessions.iter().map(|(u, s)| (*u, s.place)).collect();
        for (user, place) in users {
            match place {
                Place::Queued { .. } => self.c_cancel_wait(cluster, user, "shutdown", ctx),
                Place::InRoom(room) => {
                    if let Err(e) = cluster.away(&room_id_str(room), user, ctx.wall) {
                        log::warn!("cluster: a room could not be handed over at shutdown: {e}");
                    }
                    if let Some(s) = self.sessions.get_mut(&user) {
                        s.place = Place::Idle;
                    }
                }
                Place::Idle => {}
            }
        }
    }

    /// Redis came back empty (contract section 8): the rooms and waits it
    /// held are gone. Users in a room are told `PARTNER_LEFT {reason:
    /// "disconnected"}`, waiters `MATCH_CANCELLED {reason:"timeout"}` (they
    /// may join again); all are idle. Returns the users this node holds,
    /// whose presence must be written again.
    pub fn c_reset(&mut self, ctx: &Ctx<'_>) -> Vec<UserId> {
        let mut held = Vec::with_capacity(self.sessions.len());
        let carried: std::collections::HashSet<u64> =
            self.local.keys().copied().filter(|r| self.l_carried(*r)).collect();
        for (user, s) in self.sessions.iter_mut() {
            if let (Place::InRoom(room), Some(_)) = (s.place, s.conn)
                && carried.contains(&room)
            {
                // Both members are here: the room goes on (written back
                // below).
                held.push(*user);
                continue;
            }
            match (s.place, s.conn) {
                (Place::InRoom(room), Some(conn)) => {
                    let left =
                        crate::app::view::PartnerLeft { room_id: room_id_str(room), reason: "disconnected" };
                    ctx.out.frame(conn, protocol::frame("PARTNER_LEFT", None, &left));
                }
                (Place::Queued { .. }, Some(conn)) => {
                    ctx.out
                        .frame(conn, protocol::frame("MATCH_CANCELLED", None, &Reason { reason: "timeout" }));
                }
                _ => {}
            }
            s.place = Place::Idle;
            if let Some(side) = s.cluster.as_mut() {
                side.pending = None;
            }
            if s.conn.is_some() {
                held.push(*user);
            }
        }
        self.sessions.retain(|_, s| s.conn.is_some());
        self.local.retain(|r, _| carried.contains(r));
        if let Some(cluster) = self.cluster.clone() {
            self.l_restore(&cluster, true, ctx);
        }
        held
    }

    /// The partner of `user` is away since `at`: note it (the receiver
    /// delivers `PARTNER_AWAY` and starts the grace).
    pub fn c_told_away(&mut self, user: UserId, at: u64) {
        if let Some(s) = self.sessions.get_mut(&user) {
            s.side().told_away = Some(at);
        }
    }

    /// After this node's channel was (re)subscribed: what was published
    /// meanwhile is lost, so each room this node's users hold is compared
    /// with Redis. A room that is gone ends (`PARTNER_LEFT {reason:
    /// "disconnected"}`); a partner away that the user was not told of is
    /// told now (`PARTNER_AWAY`), with the grace counted from when it left.
    pub fn c_resync(&mut self, ctx: &Ctx<'_>) {
        let Some(cluster) = self.cluster.clone() else { return };
        // Answers awaited on the channel may have been lost with it.
        for s in self.sessions.values_mut() {
            if let Some(side) = s.cluster.as_mut() {
                side.awaiting = 0;
                for (conn, frame) in std::mem::take(&mut side.held) {
                    ctx.out.frame(conn, frame);
                }
            }
        }
        // Rooms that went on here while Redis was away are in it again
        // before they are compared with it.
        self.l_restore(&cluster, false, ctx);
        for (room, user) in self.c_rooms_held() {
            let state = match cluster.partner_state(room, user) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("cluster: a room could not be compared with Redis: {e}");
                    return;
                }
            };
            if state.is_none() && self.l_carried(room) {
                // Both members are here: Redis lost the room (its keys
                // expired during a long outage); it goes on.
                self.l_restore_room(&cluster, room, ctx);
                continue;
            }
            let Some(s) = self.sessions.get_mut(&user) else { continue };
            let conn = s.conn;
            let rid = room_id_str(room);
            match state {
                None => {
                    s.place = Place::Idle;
                    if let Some(conn) = conn {
                        let left = crate::app::view::PartnerLeft { room_id: rid, reason: "disconnected" };
                        ctx.out.frame(conn, protocol::frame("PARTNER_LEFT", None, &left));
                    }
                }
                Some((partner, Some(at))) if s.side().told_away != Some(at) => {
                    s.side().told_away = Some(at);
                    if let Some(conn) = conn {
                        let away = crate::app::view::RoomRef { room_id: &rid };
                        ctx.out.frame(conn, protocol::frame("PARTNER_AWAY", None, &away));
                    }
                    let due = (at + cluster.grace).saturating_sub(ctx.wall);
                    ctx.out.timer(ctx.now + due, AppTimer::ClusterGrace { user, room, away: partner, at });
                }
                _ => {}
            }
        }
    }

    /// The rooms this node's users hold, for the heartbeat to keep alive.
    pub fn c_rooms_held(&self) -> Vec<(u64, UserId)> {
        self.sessions
            .iter()
            .filter_map(|(u, s)| match s.place {
                Place::InRoom(r) => Some((r, *u)),
                _ => None,
            })
            .collect()
    }

    /// Redis answers again (with its data): rooms whose member dropped
    /// meanwhile are marked away now; if this node was taken for dead
    /// (`reattach`), its users' presence, waits and rooms are attached to
    /// it again (their partners, told `PARTNER_AWAY`, get `PARTNER_BACK`).
    pub fn c_recovered(&mut self, reattach: bool, ctx: &Ctx<'_>) {
        let Some(cluster) = self.cluster.clone() else { return };
        self.l_restore(&cluster, false, ctx);
        for (room, user) in std::mem::take(&mut self.pending_away) {
            if let Err(e) = cluster.away(&room_id_str(room), user, ctx.wall) {
                log::warn!(
                    "cluster: a room whose member dropped while Redis was away is still not released: {e}"
                );
            }
        }
        // The comparison the subscriber ran on resubscribing may have
        // failed (Redis not answering yet): run it again now that it does.
        self.c_resync(ctx);
        if !reattach {
            return;
        }
        let held: Vec<UserId> =
            self.sessions.iter().filter(|(_, s)| s.conn.is_some()).map(|(u, _)| *u).collect();
        log::warn!("cluster: this node had been taken for dead; attaching its {} users again", held.len());
        for user in held {
            if let Err(e) = cluster.auth(user, u64::MAX >> 12) {
                log::warn!("cluster: {user} could not be attached again: {e}");
            }
        }
    }

    /// A waiter put back in the queue looks for a partner again at once.
    pub fn tier_up_now(&mut self, user: UserId, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            self.c_retry(&cluster, user, ctx);
        }
    }

    fn next_ticket(&mut self) -> u64 {
        self.tickets += 1;
        self.tickets
    }
}
