//! Live state: who is online on which socket, who waits, who talks to whom.
//!
//! One `Hub` sits behind one lock in `App`. Every transition between idle,
//! queued and in-room happens inside it, so a user is always in exactly one
//! of those places and both members of a room agree on it. Frames about a
//! room are pushed holding the room's gate, taken inside the lock (see
//! `rooms.rs`): that is what keeps each client's view of a room in `seq`
//! order, also for a `CHAT` whose frames are serialized after the lock.
//! On a cluster node (`cluster.rs`) the queues and rooms are in Redis.
//!
//! Its state is private: handlers call its methods, and the invariants
//! (listed in `repair`, which restores them after a panic) are kept here.
//! This file holds the state, the sockets' comings and goings and what is
//! read about a user; `queue.rs` the waits, `rooms.rs` the rooms,
//! `repair.rs` the repair.
//!
//! Bounds: a session exists while its user has a socket or a room; rooms
//! exist while both members are attached; cooldown entries expire after
//! `rematch-cooldown-secs`, at most `--max-cooldown-pairs` of them.

mod cluster;
mod local_rooms;
mod queue;
mod repair;
mod rooms;

use std::collections::HashMap;
use std::sync::Arc;

use super::limits::{Bucket, Rate};
use super::matcher::{Matcher, QueueKey};
use super::pairs::PairRules;
use super::protocol::{self, Refusal};
use super::room::{Member, Room, parse_room_id, room_id_str};
use super::view::{ChatPush, PartnerView, RoomView};
use crate::base::clock::Millis;
use crate::base::id::{ConnId, UserId};
use crate::link::command::AppTimer;
use crate::link::outbox::{Delivery, Outbox};
use crate::metrics::Metrics;
use crate::store::{Profile, Store};

pub use cluster::unavailable;
pub use queue::QueueRequest;

/// Timing rules the hub applies, in milliseconds.
#[derive(Debug, Clone)]
pub struct Rules {
    /// How long a dropped user's room waits; 0 ends it at once.
    pub resume_grace: Millis,
    /// How long a waiter is matched on tier-1 rules (shared interests).
    pub tier1: Millis,
    /// How long a wait may last before `MATCH_CANCELLED {reason:"timeout"}`.
    pub match_timeout: Millis,
    /// `CHAT` bucket per user.
    pub chat: Rate,
    /// Bucket shared by `JOIN_QUEUE`, `LEAVE_QUEUE`, `NEXT`.
    pub queue: Rate,
    /// How long two users who just parted are not matched again; 0 = never.
    pub cooldown: Millis,
    /// Most rematch-cooldown pairs kept (`--max-cooldown-pairs`).
    pub max_cooldowns: usize,
}

/// Where a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Idle,
    /// In the matcher; the ticket tells this wait from an earlier one,
    /// `since` is when it began (for the match-wait histogram), in server
    /// ms wrapping at 32 bits: a wait is far shorter than the 49 days a
    /// wrap takes, and the 4 bytes saved keep `Place` at 16 and a
    /// session's map entry at 112 bytes instead of 128 (idle memory).
    Queued {
        ticket: u64,
        since: u32,
    },
    InRoom(u64),
}

impl Place {
    fn queued(ticket: u64, now: Millis) -> Place {
        Place::Queued { ticket, since: now as u32 }
    }
}

/// Seconds a wait that began at `since` (`Place::Queued`) has lasted.
fn waited_secs(since: u32, now: Millis) -> f64 {
    f64::from((now as u32).wrapping_sub(since)) / 1000.0
}

/// An online (or room-holding) user.
#[derive(Debug)]
struct Session {
    /// The socket speaking for the user now.
    conn: Option<ConnId>,
    /// Shared with the store: one copy per user.
    profile: Arc<Profile>,
    /// Idle, waiting or in a room: exactly one of them.
    place: Place,
    /// The last queue request, for `NEXT` and for what the partner sees.
    request: Option<QueueRequest>,
    /// `CHAT` rate limit.
    chat_bucket: Bucket,
    /// `JOIN_QUEUE` / `LEAVE_QUEUE` / `NEXT` rate limit.
    queue_bucket: Bucket,
    /// The socket whose drop started the current resume grace, if any.
    dropped: Option<ConnId>,
    /// Cluster nodes only: a pending pairing, the typing relay state.
    cluster: Option<Box<cluster::ClusterSide>>,
}

/// Which per-user bucket a command draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Chat,
    Queue,
}

pub struct Hub {
    /// Every online or room-holding user.
    sessions: HashMap<UserId, Session>,
    /// Authenticated sockets; a socket not here has not sent a good AUTH.
    by_conn: HashMap<ConnId, UserId>,
    /// The waiters, per queue, with their interests.
    matcher: Matcher<UserId>,
    /// Open rooms by id.
    rooms: HashMap<u64, Room>,
    /// Pairs that must not be matched now (cooldown) or ever (report).
    pairs: PairRules,
    /// The timing rules, fixed at start.
    rules: Rules,
    /// Set on a cluster node: waits and rooms are in Redis.
    cluster: Option<Arc<crate::app::cluster::Cluster>>,
    /// Waits on a cluster node, numbered (the matcher numbers its own).
    tickets: u64,
    /// Cluster node: rooms whose member dropped while Redis was away, to
    /// be marked away once it answers (so the partner learns it).
    pending_away: Vec<(u64, UserId)>,
    /// Cluster node: rooms whose members are both here, which go on while
    /// Redis is away (`local_rooms`).
    local: local_rooms::LocalRooms,
}

/// What handlers need besides the hub: where frames go and the time.
pub struct Ctx<'a> {
    /// Where frames, closes and timers go.
    pub out: &'a Outbox,
    /// Match waits, rooms created, cooldowns cut.
    pub metrics: &'a Metrics,
    /// Told about rooms as they open and end (`Store::record`, no waiting).
    pub store: &'a dyn Store,
    /// Reactor clock, for timers.
    pub now: Millis,
    /// Wall clock, ms since the Unix epoch, for `sentAt` and friends.
    pub wall: u64,
}

impl Hub {
    pub fn new(rules: Rules, cluster: Option<Arc<crate::app::cluster::Cluster>>) -> Hub {
        Hub {
            cluster,
            tickets: 0,
            pending_away: Vec::new(),
            local: HashMap::new(),
            sessions: HashMap::new(),
            by_conn: HashMap::new(),
            matcher: Matcher::new(rules.tier1),
            rooms: HashMap::new(),
            pairs: PairRules::new(rules.max_cooldowns),
            rules,
        }
    }

    pub fn user_of(&self, conn: ConnId) -> Option<UserId> {
        self.by_conn.get(&conn).copied()
    }

    /// Authenticated sockets now.
    pub fn online(&self) -> usize {
        self.by_conn.len()
    }

    /// Open rooms now.
    /// On a cluster node (whose rooms are in Redis): the rooms with a
    /// member on this node, counted by a scan of the sessions (for
    /// `/metrics`; the cluster's figure is in `/api/admin/stats`).
    pub fn room_count(&self) -> usize {
        if self.cluster.is_none() {
            return self.rooms.len();
        }
        let mut rooms: Vec<u64> = self
            .sessions
            .values()
            .filter_map(|s| match s.place {
                Place::InRoom(r) => Some(r),
                _ => None,
            })
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        rooms.len()
    }

    /// Waiters in queue `q` now; on a cluster node, this node's waiters.
    pub fn queue_len(&self, q: QueueKey) -> usize {
        if self.cluster.is_none() {
            return self.matcher.len(q);
        }
        let waits = |s: &&Session| {
            matches!(s.place, Place::Queued { .. })
                && s.request.as_ref().map_or(QueueKey::Chill, QueueRequest::key) == q
        };
        self.sessions.values().filter(waits).count()
    }

    /// The profile of an online (or room-holding) user.
    pub fn profile(&self, user: UserId) -> Option<&Arc<Profile>> {
        self.sessions.get(&user).map(|s| &s.profile)
    }

    /// An online user changed their profile: what partners see from now on.
    pub fn set_profile(&mut self, user: UserId, profile: Arc<Profile>) {
        if let Some(session) = self.sessions.get_mut(&user) {
            session.profile = profile;
        }
    }

    /// The room `user` is in, if any.
    pub fn room_of(&self, user: UserId) -> Option<u64> {
        match self.sessions.get(&user)?.place {
            Place::InRoom(id) => Some(id),
            _ => None,
        }
    }

    /// An open room, to read.
    pub fn room(&self, id: u64) -> Option<&Room> {
        self.rooms.get(&id)
    }

    /// The room `user` is in, if `room_id` names it.
    pub fn own_room(&self, user: UserId, room_id: &str) -> Result<u64, Refusal> {
        let id = parse_room_id(room_id).ok_or_else(Refusal::not_in_room)?;
        match self.sessions.get(&user).map(|s| s.place) {
            Some(Place::InRoom(r)) if r == id => Ok(id),
            _ => Err(Refusal::not_in_room()),
        }
    }

    /// Draws one token from `user`'s bucket; the refusal carries
    /// `retryAfterMs` (the worker counts refusals toward 4429).
    pub fn take(&mut self, user: UserId, limit: Limit, now: Millis) -> Result<(), Refusal> {
        let Some(s) = self.sessions.get_mut(&user) else { return Ok(()) };
        let (bucket, rate) = match limit {
            Limit::Chat => (&mut s.chat_bucket, self.rules.chat),
            Limit::Queue => (&mut s.queue_bucket, self.rules.queue),
        };
        bucket.take(rate, now).map_err(Refusal::rate_limited)
    }

    /// The contract's `status` of a user.
    pub fn status(&self, user: UserId) -> &'static str {
        match self.sessions.get(&user) {
            Some(s) if s.conn.is_some() => match s.place {
                Place::Idle => "idle",
                Place::Queued { .. } => "in_queue",
                Place::InRoom(_) => "in_room",
            },
            _ => "offline",
        }
    }

    /// Binds `conn` to `user`; returns the socket it replaces, if any.
    /// A session that exists without a socket is one waiting for a resume.
    pub fn attach(
        &mut self,
        conn: ConnId,
        user: UserId,
        profile: Arc<Profile>,
        now: Millis,
    ) -> Option<ConnId> {
        self.by_conn.insert(conn, user);
        let (chat, queue) = (self.rules.chat, self.rules.queue);
        let session = self.sessions.entry(user).or_insert_with(|| Session {
            conn: None,
            profile: profile.clone(),
            place: Place::Idle,
            request: None,
            chat_bucket: Bucket::full(chat, now),
            queue_bucket: Bucket::full(queue, now),
            dropped: None,
            cluster: None,
        });
        session.profile = profile;
        let old = session.conn.replace(conn);
        if let Some(old) = old {
            self.by_conn.remove(&old);
        }
        old
    }

    /// A socket is gone: it leaves its queue at once and ends its room.
    pub fn detach(&mut self, conn: ConnId, ctx: &Ctx<'_>) {
        let Some(user) = self.by_conn.remove(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&user) else {
            return;
        };
        if session.conn != Some(conn) {
            return;
        }
        session.conn = None;
        session.dropped = Some(conn);
        if let Some(cluster) = self.cluster.clone() {
            return self.c_detach(&cluster, user, ctx);
        }
        match session.place {
            Place::Idle => {}
            Place::Queued { .. } => {
                self.matcher.leave(user);
                session.place = Place::Idle;
            }
            Place::InRoom(room) if self.rules.resume_grace > 0 => {
                self.partner_push(room, user, "PARTNER_AWAY", ctx);
                let at = ctx.now + self.rules.resume_grace;
                ctx.out.timer(at, AppTimer::ResumeExpired { user, room, conn });
            }
            Place::InRoom(room) => self.end_room(room, user, "disconnected", ctx),
        }
        self.forget_if_offline(user);
    }

    /// The grace after a drop ran out: end the room unless they came back.
    pub fn resume_expired(&mut self, user: UserId, room: u64, conn: ConnId, ctx: &Ctx<'_>) {
        let away = self
            .sessions
            .get(&user)
            .is_some_and(|s| s.conn.is_none() && s.place == Place::InRoom(room) && s.dropped == Some(conn));
        if away {
            self.end_room(room, user, "disconnected", ctx);
            self.forget_if_offline(user);
        }
    }

    /// After `AUTH_OK` on a socket that took over a room: the partner's
    /// kept messages after `last_seq`, in order, then (for a resume after
    /// a drop, not a supersede) `PARTNER_BACK` to the partner.
    /// Then the partner's typing state, if they are typing: the new
    /// socket starts from "not typing" (contract section 7: the partner
    /// always ends up seeing the latest state).
    pub fn replay(&mut self, user: UserId, conn: ConnId, last_seq: u64, resumed: bool, ctx: &Ctx<'_>) {
        let Some(Place::InRoom(id)) = self.sessions.get(&user).map(|s| s.place) else {
            return;
        };
        let Some(room) = self.rooms.get(&id) else {
            return;
        };
        let partner = room.partner_of(user).user();
        let rid = room_id_str(id);
        let order = room.gate();
        for m in room.missed_by(user, last_seq) {
            let push = ChatPush { room_id: &rid, seq: m.seq, text: &m.text, sent_at: m.sent_at };
            ctx.out.frame(conn, protocol::frame("CHAT", None, &push));
        }
        drop(order);
        if resumed {
            self.partner_push(id, user, "PARTNER_BACK", ctx);
        }
        self.typing_step(id, partner, ctx, |t, now| t.partner_reset(now));
    }

    fn forget_if_offline(&mut self, user: UserId) {
        if self.sessions.get(&user).is_some_and(|s| s.conn.is_none() && s.place == Place::Idle) {
            self.sessions.remove(&user);
        }
    }

    /// The room view for `AUTH_OK` of a user who holds a room.
    pub fn room_view(&self, user: UserId) -> Option<RoomView> {
        let Place::InRoom(id) = self.sessions.get(&user)?.place else {
            return None;
        };
        let room = self.rooms.get(&id)?;
        Some(RoomView {
            room_id: room_id_str(id),
            partner: self.partner_view(room.partner_of(user)),
            mood: room.mood(),
            last_seq: room.last_seq(),
        })
    }

    fn partner_view(&self, m: &Member) -> PartnerView {
        let profile = self.sessions.get(&m.user()).map(|s| s.profile.clone());
        PartnerView {
            nickname: profile.as_ref().map_or_else(|| "stranger".into(), |p| p.nickname.clone()),
            mood: m.mood(),
            avatar: profile.as_ref().map_or_else(|| "👤".into(), |p| p.avatar.clone()),
            interests: m.interests().into(),
        }
    }

    /// The partner's socket in a room, if they are attached.
    fn partner_conn(&self, room: &Room, user: UserId) -> Option<ConnId> {
        self.sessions.get(&room.partner_of(user).user()).and_then(|s| s.conn)
    }

    /// Test-only fault (`FAULT_PANIC_IN_ROOM`): marks `user` idle while
    /// their room still lists them, the half-done transition a panic would
    /// leave; only `repair` mends it.
    #[cfg(feature = "fault-injection")]
    pub fn break_place_for_fault(&mut self, user: UserId) {
        if let Some(s) = self.sessions.get_mut(&user) {
            s.place = Place::Idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every online user has a session entry (a 16-byte-aligned `UserId`
    /// and a `Session`): 8 bytes more per session round the entry up by 16
    /// (regression: a `Millis` in `Place::Queued` made it 128 bytes).
    #[test]
    fn a_session_entry_stays_at_112_bytes() {
        assert!(std::mem::size_of::<Place>() <= 16, "{}", std::mem::size_of::<Place>());
        assert!(
            std::mem::size_of::<(UserId, Session)>() <= 112,
            "{}",
            std::mem::size_of::<(UserId, Session)>()
        );
    }

    #[test]
    fn a_wait_is_measured_across_the_32_bit_wrap() {
        let began = u64::from(u32::MAX) - 500;
        let Place::Queued { since, .. } = Place::queued(7, began) else { unreachable!() };
        assert_eq!(waited_secs(since, began + 1500), 1.5);
    }
}
