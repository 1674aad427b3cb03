//! The hub's waits: joining and leaving a queue, the tier-2 retry, the
//! match timeout, and cancelling a wait.
//!
//! Invariant: a session is `Queued` exactly when the matcher holds it, with
//! the same ticket; every timer a wait schedules carries that ticket, so a
//! timer of an earlier wait is recognised as stale when it fires.

use super::{Ctx, Hub, Place};
use crate::app::matcher::QueueKey;
use crate::app::protocol::{self, Refusal};
use crate::app::view::{QueueWaiting, Reason};
use crate::base::id::UserId;
use crate::link::command::AppTimer;
use crate::link::outbox::Delivery;
use crate::store::{Mood, Profile};

/// What a user asked for when queueing; reused by `NEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRequest {
    /// The mood whose queue they wait in (unless `random_mode`).
    pub mood: Mood,
    /// `mode:"random"`: the cross-mood pool regardless of mood.
    pub random_mode: bool,
    /// Normalised interests, matched on in tier 1.
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

impl Hub {
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
        if let Some(cluster) = self.cluster.clone() {
            return self.c_join(&cluster, user, request, reply_id, ctx);
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
        session.place = Place::queued(joined.ticket, now);
        session.request = Some(request);
        let ticket = joined.ticket;
        ctx.out.timer(now + self.rules.tier1, AppTimer::TierUp { user, ticket });
        ctx.out.timer(now + self.rules.match_timeout, AppTimer::MatchTimeout { user, ticket });
        if let Some(pair) = joined.pair {
            self.open_room(pair, ctx);
        }
        Ok(())
    }

    /// For `NEXT`: the room `user` is in and the request to queue them
    /// again with (their last one, else their profile's).
    pub fn room_and_request(&self, user: UserId) -> Option<(u64, QueueRequest)> {
        let session = self.sessions.get(&user)?;
        let Place::InRoom(id) = session.place else {
            return None;
        };
        let request = session.request.clone().unwrap_or_else(|| QueueRequest::from_profile(&session.profile));
        Some((id, request))
    }

    pub fn leave_queue(&mut self, user: UserId) -> Result<(), Refusal> {
        let session =
            self.sessions.get_mut(&user).ok_or_else(|| Refusal::new("NOT_IN_QUEUE", "not waiting"))?;
        if !matches!(session.place, Place::Queued { .. }) {
            return Err(Refusal::new("NOT_IN_QUEUE", "you are not waiting"));
        }
        if let Some(cluster) = self.cluster.clone() {
            return self.c_leave_wait(&cluster, user);
        }
        self.matcher.leave(user);
        session.place = Place::Idle;
        Ok(())
    }

    /// Whether `user` waits here with this ticket (a timer's staleness check).
    fn waits_with(&self, user: UserId, ticket: u64) -> bool {
        self.sessions
            .get(&user)
            .is_some_and(|s| matches!(s.place, Place::Queued { ticket: t, .. } if t == ticket))
    }

    /// The waiter crossed tier 1: look again with tier-2 rules.
    pub fn tier_up(&mut self, user: UserId, ticket: u64, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            if self.waits_with(user, ticket) {
                self.c_retry(&cluster, user, ctx);
            }
            return;
        }
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
        if let Some(cluster) = self.cluster.clone() {
            // A pairing in progress decides; its abort puts the user back.
            let pending = self
                .sessions
                .get(&user)
                .and_then(|s| s.cluster.as_ref())
                .is_some_and(|c| c.pending.is_some());
            if self.waits_with(user, ticket) {
                if pending {
                    // Asked again once the pairing is decided: committed,
                    // the user is in a room; aborted, it waits again and
                    // its time is up.
                    let again = ctx.now + crate::app::cluster::COMMIT_WITHIN_MS;
                    ctx.out.timer(again, AppTimer::MatchTimeout { user, ticket });
                } else {
                    self.c_cancel_wait(&cluster, user, "timeout", ctx);
                }
            }
            return;
        }
        if self.matcher.ticket_of(user) != Some(ticket) {
            return;
        }
        self.cancel_wait(user, "timeout", ctx);
    }

    /// Takes a waiter out of the queue and tells them why.
    pub fn cancel_wait(&mut self, user: UserId, reason: &str, ctx: &Ctx<'_>) {
        if let Some(cluster) = self.cluster.clone() {
            return self.c_cancel_wait(&cluster, user, reason, ctx);
        }
        self.matcher.leave(user);
        if let Some(session) = self.sessions.get_mut(&user) {
            session.place = Place::Idle;
            if let Some(conn) = session.conn {
                ctx.out.frame(conn, protocol::frame("MATCH_CANCELLED", None, &Reason { reason }));
            }
        }
    }
}
