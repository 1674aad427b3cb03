//! Live state: who is online on which socket, who waits, who talks to whom.
//!
//! One `Hub` sits behind one lock in `App`. Every transition between idle,
//! queued and in-room happens inside it, so a user is always in exactly one
//! of those places and both members of a room agree on it. Frames are
//! pushed to the outbox while the lock is held: that, and nothing else, is
//! what keeps each client's view of a room in `seq` order.
//!
//! Bounds: a session exists while its user has a socket or a room; rooms
//! exist while both members are attached; cooldown entries expire after
//! `rematch-cooldown-secs`, at most `--max-cooldown-pairs` of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::limits::{Bucket, Rate};
use super::matcher::{Matcher, Pair, QueueKey};
use super::pairs::PairRules;
use super::protocol::{self, Refusal};
use super::typing::{Step, Typing};
use super::view::{
    self, ChatPush, MatchFound, PartnerLeft, PartnerView, QueueWaiting, Reason, RoomRef, RoomView, TypingPush,
};
use crate::base::clock::Millis;
use crate::base::id::ConnId;
use crate::link::command::AppTimer;
use crate::link::outbox::{Delivery, Outbox};
use crate::metrics::Metrics;
use crate::store::{Event, Mood, Profile, RoomRow, Store, UserId};

/// Timing rules the hub applies, in milliseconds.
#[derive(Debug, Clone)]
pub struct Rules {
    /// How long a dropped user's room waits; 0 ends it at once.
    pub resume_grace: Millis,
    pub tier1: Millis,
    pub match_timeout: Millis,
    /// `CHAT` bucket per user.
    pub chat: Rate,
    /// Bucket shared by `JOIN_QUEUE`, `LEAVE_QUEUE`, `NEXT`.
    pub queue: Rate,
    pub cooldown: Millis,
    /// Most rematch-cooldown pairs kept (`--max-cooldown-pairs`).
    pub max_cooldowns: usize,
}

/// What a user asked for when queueing; reused by `NEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRequest {
    pub mood: Mood,
    /// `mode:"random"`: the cross-mood pool regardless of mood.
    pub random_mode: bool,
    pub interests: Box<[Box<str>]>,
}

impl QueueRequest {
    pub fn key(&self) -> QueueKey {
        match self.mood {
            _ if self.random_mode => QueueKey::Random,
            Mood::Chill => QueueKey::Chill,
            Mood::Fire => QueueKey::Fire,
            Mood::Silly => QueueKey::Silly,
            Mood::Shy => QueueKey::Shy,
            Mood::Random => QueueKey::Random,
        }
    }

    pub fn mode(&self) -> &'static str {
        if self.random_mode { "random" } else { "same_mood" }
    }

    pub fn from_profile(p: &Profile) -> QueueRequest {
        QueueRequest { mood: p.mood, random_mode: false, interests: p.interests.clone() }
    }
}

/// Where a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Idle,
    /// In the matcher; the ticket tells this wait from an earlier one,
    /// `since` is when it began (for the match-wait histogram).
    Queued {
        ticket: u64,
        since: Millis,
    },
    InRoom(u64),
}

/// An online (or room-holding) user.
#[derive(Debug)]
pub struct Session {
    /// The socket speaking for the user now.
    pub conn: Option<ConnId>,
    /// Shared with the store: one copy per user.
    pub profile: Arc<Profile>,
    pub place: Place,
    /// The last queue request, for `NEXT` and for what the partner sees.
    pub request: Option<QueueRequest>,
    pub chat_bucket: Bucket,
    pub queue_bucket: Bucket,
    /// The socket whose drop started the current resume grace, if any.
    pub dropped: Option<ConnId>,
}

/// Which per-user bucket a command draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Chat,
    Queue,
}

/// One side of a room, as the other side is shown it.
#[derive(Debug)]
pub struct Member {
    pub user: UserId,
    /// Mood and interests as they queued (contract: `MATCH_FOUND`).
    pub mood: Mood,
    pub interests: Box<[Box<str>]>,
    /// What the partner was shown of this member's typing (section 7).
    pub typing: Typing,
}

#[derive(Debug)]
pub struct Room {
    pub mood: Mood,
    pub members: [Member; 2],
    /// The last `seq` given out; the next `CHAT` gets `seq + 1`.
    pub seq: u64,
    /// Interests both queued with, sorted.
    pub shared: Box<[Box<str>]>,
    /// Wall clock (epoch ms) when it opened, for its stored row.
    pub started_at: u64,
    /// The last [`KEPT_MESSAGES`] messages: replayed on resume (those after
    /// the client's `lastSeq`) and a report's transcript (the last 20).
    pub recent: VecDeque<Kept>,
}

/// Messages a room keeps for resume and reports.
pub const KEPT_MESSAGES: usize = 100;

/// One kept message.
#[derive(Debug, Clone)]
pub struct Kept {
    pub seq: u64,
    /// Index in `members` of the sender.
    pub from: u8,
    pub text: Box<str>,
    pub sent_at: u64,
}

impl Room {
    /// Its stored row; `ended` = when and why, for a room that ends.
    pub fn row(&self, id: u64, ended: Option<(u64, &'static str)>) -> RoomRow {
        let users = [self.members[0].user, self.members[1].user];
        RoomRow { id, users, mood: self.mood, started_at: self.started_at, ended }
    }

    /// Index of `user` in `members` and of the partner.
    pub fn sides(&self, user: UserId) -> (usize, usize) {
        if self.members[0].user == user { (0, 1) } else { (1, 0) }
    }
}

pub fn room_id_str(id: u64) -> String {
    format!("{id:016x}")
}

/// Accepts exactly the server's own spelling (16 lowercase hex digits), so
/// the id a partner sees is always the one `MATCH_FOUND` gave them.
pub fn parse_room_id(s: &str) -> Option<u64> {
    let canonical = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if canonical { u64::from_str_radix(s, 16).ok() } else { None }
}

pub struct Hub {
    pub sessions: HashMap<UserId, Session>,
    /// Authenticated sockets; a socket not here has not sent a good AUTH.
    pub by_conn: HashMap<ConnId, UserId>,
    pub matcher: Matcher<UserId>,
    pub rooms: HashMap<u64, Room>,
    /// Pairs that must not be matched now (cooldown) or ever (report).
    pub pairs: PairRules,
    pub rules: Rules,
}

/// What handlers need besides the hub: where frames go and the time.
pub struct Ctx<'a> {
    pub out: &'a Outbox,
    pub metrics: &'a Metrics,
    /// Told about rooms as they open and end (`Store::record`, no waiting).
    pub store: &'a dyn Store,
    /// Reactor clock, for timers.
    pub now: Millis,
    /// Wall clock, ms since the Unix epoch, for `sentAt` and friends.
    pub wall: u64,
}

impl Hub {
    pub fn new(rules: Rules) -> Hub {
        Hub {
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

    /// `TYPING {isTyping}` from `user` in `room` (already checked as
    /// theirs): relayed to the partner under the section 7 rules.
    pub fn typing(&mut self, room: u64, user: UserId, is_typing: bool, ctx: &Ctx<'_>) {
        self.typing_step(room, user, ctx, |t, now| t.set(is_typing, now));
    }

    /// A held-back typing change may be relayed now.
    pub fn typing_retry(&mut self, room: u64, user: UserId, ctx: &Ctx<'_>) {
        self.typing_step(room, user, ctx, |t, now| t.retry(now));
    }

    fn typing_step(
        &mut self,
        id: u64,
        user: UserId,
        ctx: &Ctx<'_>,
        f: impl FnOnce(&mut Typing, Millis) -> Step,
    ) {
        let Some(room) = self.rooms.get_mut(&id) else { return };
        let (me, _) = room.sides(user);
        match f(&mut room.members[me].typing, ctx.now) {
            Step::Relay(is_typing) => {
                let Some(room) = self.rooms.get(&id) else { return };
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

    /// Sends `{roomId}` under `ty` to `user`'s partner in `room`, if attached.
    fn partner_push(&self, room: u64, user: UserId, ty: &str, ctx: &Ctx<'_>) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        if let Some(conn) = self.partner_conn(r, user) {
            let rid = room_id_str(room);
            ctx.out.frame(conn, protocol::frame(ty, None, &RoomRef { room_id: &rid }));
        }
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
    pub fn replay(&self, user: UserId, conn: ConnId, last_seq: u64, resumed: bool, ctx: &Ctx<'_>) {
        let Some(Place::InRoom(id)) = self.sessions.get(&user).map(|s| s.place) else {
            return;
        };
        let Some(room) = self.rooms.get(&id) else {
            return;
        };
        let (me, _) = room.sides(user);
        let rid = room_id_str(id);
        for m in room.recent.iter().filter(|m| m.seq > last_seq && m.from as usize != me) {
            let push = ChatPush { room_id: &rid, seq: m.seq, text: &m.text, sent_at: m.sent_at };
            ctx.out.frame(conn, protocol::frame("CHAT", None, &push));
        }
        if resumed {
            self.partner_push(id, user, "PARTNER_BACK", ctx);
        }
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
        let (_, other) = room.sides(user);
        Some(RoomView {
            room_id: room_id_str(id),
            partner: self.partner_view(&room.members[other]),
            mood: room.mood,
            last_seq: room.seq,
        })
    }

    fn partner_view(&self, m: &Member) -> PartnerView {
        let profile = self.sessions.get(&m.user).map(|s| s.profile.clone());
        PartnerView {
            nickname: profile.as_ref().map_or_else(|| "stranger".into(), |p| p.nickname.clone()),
            mood: m.mood,
            avatar: profile.as_ref().map_or_else(|| "👤".into(), |p| p.avatar.clone()),
            interests: m.interests.clone(),
        }
    }

    /// Queues a user (replying `QUEUE_WAITING` with `reply_id`), then pairs
    /// them if a partner is there.
    pub fn join(
        &mut self,
        user: UserId,
        request: QueueRequest,
        reply_id: Option<&str>,
        ctx: &Ctx<'_>,
    ) -> Result<(), Refusal> {
        let session =
            self.sessions.get_mut(&user).ok_or_else(|| Refusal::new("UNAUTHENTICATED", "not signed in"))?;
        match session.place {
            Place::InRoom(_) => {
                return Err(Refusal::new("ALREADY_IN_ROOM", "leave your room first"));
            }
            Place::Queued { .. } => {
                return Err(Refusal::new("ALREADY_IN_QUEUE", "you are already waiting"));
            }
            Place::Idle => {}
        }
        let interests: Vec<String> = request.interests.iter().map(|s| s.to_string()).collect();
        let key = request.key();
        let Hub { matcher, pairs, .. } = self;
        let now = ctx.now;
        let excluded = |a: UserId, b: UserId| pairs.excluded(a, b, now);
        let joined = matcher.join(user, key, interests, now, &excluded);
        if let Some(conn) = session.conn {
            let reply = QueueWaiting {
                mood: request.mood,
                mode: request.mode(),
                interests: &request.interests,
                waiting: joined.waiting,
            };
            ctx.out.frame(conn, protocol::frame("QUEUE_WAITING", reply_id, &reply));
        }
        session.place = Place::Queued { ticket: joined.ticket, since: now };
        session.request = Some(request);
        let ticket = joined.ticket;
        ctx.out.timer(now + self.rules.tier1, AppTimer::TierUp { user, ticket });
        ctx.out.timer(now + self.rules.match_timeout, AppTimer::MatchTimeout { user, ticket });
        if let Some(pair) = joined.pair {
            self.open_room(pair, ctx);
        }
        Ok(())
    }

    pub fn leave_queue(&mut self, user: UserId) -> Result<(), Refusal> {
        let session =
            self.sessions.get_mut(&user).ok_or_else(|| Refusal::new("NOT_IN_QUEUE", "not waiting"))?;
        if !matches!(session.place, Place::Queued { .. }) {
            return Err(Refusal::new("NOT_IN_QUEUE", "you are not waiting"));
        }
        self.matcher.leave(user);
        session.place = Place::Idle;
        Ok(())
    }

    /// The waiter crossed tier 1: look again with tier-2 rules.
    pub fn tier_up(&mut self, user: UserId, ticket: u64, ctx: &Ctx<'_>) {
        if self.matcher.ticket_of(user) != Some(ticket) {
            return;
        }
        let Hub { matcher, pairs, .. } = self;
        let now = ctx.now;
        let excluded = |a: UserId, b: UserId| pairs.excluded(a, b, now);
        if let Some(pair) = matcher.retry(user, now, &excluded) {
            self.open_room(pair, ctx);
        }
    }

    /// The wait ran out: `MATCH_CANCELLED {reason:"timeout"}`.
    pub fn match_timeout(&mut self, user: UserId, ticket: u64, ctx: &Ctx<'_>) {
        if self.matcher.ticket_of(user) != Some(ticket) {
            return;
        }
        self.cancel_wait(user, "timeout", ctx);
    }

    /// Shutdown: every waiter gets `MATCH_CANCELLED {reason:"shutdown"}`,
    /// every room ends (its members' sockets are about to be closed).
    pub fn drain(&mut self, ctx: &Ctx<'_>) {
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

    /// Takes a waiter out of the queue and tells them why.
    pub fn cancel_wait(&mut self, user: UserId, reason: &str, ctx: &Ctx<'_>) {
        self.matcher.leave(user);
        if let Some(session) = self.sessions.get_mut(&user) {
            session.place = Place::Idle;
            if let Some(conn) = session.conn {
                ctx.out.frame(conn, protocol::frame("MATCH_CANCELLED", None, &Reason { reason }));
            }
        }
    }

    fn open_room(&mut self, pair: Pair<UserId>, ctx: &Ctx<'_>) {
        let mut id: u64 = rand::random();
        while self.rooms.contains_key(&id) {
            id = rand::random();
        }
        let member = |hub: &Hub, user: UserId, interests: &[String]| {
            let mood =
                hub.sessions.get(&user).and_then(|s| s.request.as_ref()).map_or(Mood::Random, |r| r.mood);
            let interests = interests.iter().map(|s| s.as_str().into()).collect();
            Member { user, mood, interests, typing: Typing::default() }
        };
        let a = member(self, pair.joiner, &pair.joiner_interests);
        let b = member(self, pair.partner, &pair.partner_interests);
        let mood = match pair.queue {
            QueueKey::Random => Mood::Random,
            _ => a.mood,
        };
        let shared: Box<[Box<str>]> = pair.shared.iter().map(|s| s.as_str().into()).collect();
        let room =
            Room { mood, members: [a, b], seq: 0, shared, started_at: ctx.wall, recent: VecDeque::new() };
        for (me, other) in [(0, 1), (1, 0)] {
            let user = room.members[me].user;
            let Some(session) = self.sessions.get_mut(&user) else {
                continue;
            };
            if let Place::Queued { since, .. } = session.place {
                ctx.metrics.match_wait.observe(ctx.now.saturating_sub(since) as f64 / 1000.0);
            }
            session.place = Place::InRoom(id);
            if let Some(conn) = session.conn {
                let found = MatchFound {
                    room_id: room_id_str(id),
                    mood,
                    partner: self.partner_view(&room.members[other]),
                    shared_interests: &room.shared,
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
        ctx.store.record(Event::Room(room.row(room_id, Some((ctx.wall, reason)))));
        let (me, other) = room.sides(leaver);
        let partner = room.members[other].user;
        if let Some(session) = self.sessions.get_mut(&partner) {
            session.place = Place::Idle;
            if let Some(conn) = session.conn {
                let left = PartnerLeft { room_id: room_id_str(room_id), reason };
                ctx.out.frame(conn, protocol::frame("PARTNER_LEFT", None, &left));
            }
        }
        if let Some(session) = self.sessions.get_mut(&room.members[me].user) {
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

    /// The room `user` is in, if `room_id` names it.
    pub fn own_room(&self, user: UserId, room_id: &str) -> Result<u64, Refusal> {
        let id = parse_room_id(room_id).ok_or_else(Refusal::not_in_room)?;
        match self.sessions.get(&user).map(|s| s.place) {
            Some(Place::InRoom(r)) if r == id => Ok(id),
            _ => Err(Refusal::not_in_room()),
        }
    }

    /// The partner's socket in a room, if they are attached.
    pub fn partner_conn(&self, room: &Room, user: UserId) -> Option<ConnId> {
        let (_, other) = room.sides(user);
        self.sessions.get(&room.members[other].user).and_then(|s| s.conn)
    }
}
