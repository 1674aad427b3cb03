//! Cluster node: rooms whose two members sit on this node, known here as
//! well as in Redis, so that they go on while Redis is away (contract
//! section 8: "rooms whose users share a node go on").
//!
//! While Redis answers, such a room lives in Redis like any other (a
//! member may resume it on another node); this node only follows how far
//! its seq went (the channel's `CHAT` and `CHAT_ACK` carry it). When a
//! `CHAT` or `TYPING` cannot reach Redis, this node takes it itself: the
//! next seq, `CHAT` to the partner and `CHAT_ACK` to the sender, the
//! message kept for the write-back. Once Redis answers again the room is
//! written back (`lua/restore.lua`: the seq raised, the messages appended
//! to the kept ones, or the whole room again if Redis came back empty);
//! until then its `CHAT`s stay here, or Redis would hand out the same
//! seqs a second time.
//!
//! Invariants: an entry exists only for a room both of whose members were
//! attached here when it was noted; it is used only while both still are
//! (checked at each use); `taken` holds at most `KEPT` messages, as
//! Redis keeps at most that many; an entry goes when its room ends here,
//! when a member leaves with nothing to write back, or after the
//! write-back once its members are no longer both here.

use std::collections::HashMap;

use super::{Ctx, Hub, Place, QueueRequest, Session};
use crate::app::cluster::{Cluster, Restore};
use crate::app::protocol;
use crate::app::room::room_id_str;
use crate::app::view::{self, ChatAck, ChatPush, PartnerView};
use crate::base::id::{ConnId, UserId};
use crate::link::outbox::Delivery;
use crate::store::Profile;

/// Messages a room keeps for a resume (as `lua/chat.lua` trims them).
const KEPT: usize = 100;

#[derive(Debug)]
pub(super) struct LocalRoom {
    /// The room's members in Redis's order (kept messages say "a"/"b").
    a: UserId,
    b: UserId,
    /// The last seq taken in the room, as far as this node knows.
    seq: u64,
    /// Kept-message JSON of the messages taken here while Redis was away,
    /// not written back yet (at most `KEPT`, the newest).
    taken: Vec<String>,
    /// Messages were taken here that Redis does not have: the room's
    /// `CHAT`s stay here until the write-back.
    unsynced: bool,
}

pub(super) type LocalRooms = HashMap<u64, LocalRoom>;

/// How `user` is shown to a partner (`MATCH_FOUND`'s `partner`), JSON.
pub(super) fn partner_view(profile: &Profile, request: &QueueRequest) -> String {
    view::json(&PartnerView {
        nickname: profile.nickname.clone(),
        mood: request.mood,
        avatar: profile.avatar.clone(),
        interests: request.interests.clone(),
    })
}

fn request_of(s: &Session) -> QueueRequest {
    s.request.clone().unwrap_or_else(|| QueueRequest::from_profile(&s.profile))
}

impl Hub {
    /// `user` entered `room` (a match or a resume) with `partner`: if the
    /// partner is in it here too, the room is one this node can carry.
    pub(super) fn l_note(&mut self, room: u64, user: UserId, partner: UserId, user_is_a: bool, seq: u64) {
        let (a, b) = if user_is_a { (user, partner) } else { (partner, user) };
        if self.l_members(room, a, b).is_none() {
            return;
        }
        let entry =
            self.local.entry(room).or_insert(LocalRoom { a, b, seq, taken: Vec::new(), unsynced: false });
        entry.seq = entry.seq.max(seq);
    }

    /// A `CHAT` or `CHAT_ACK` for `room` came through the channel.
    pub fn l_seen(&mut self, room: u64, seq: u64) {
        if let Some(l) = self.local.get_mut(&room) {
            l.seq = l.seq.max(seq);
        }
    }

    /// `room` ended here.
    pub(super) fn l_forget(&mut self, room: u64) {
        self.local.remove(&room);
    }

    /// A member of `room` left this node: nothing to carry any more,
    /// unless messages wait for the write-back.
    pub(super) fn l_left(&mut self, room: u64) {
        if self.local.get(&room).is_some_and(|l| !l.unsynced) {
            self.local.remove(&room);
        }
    }

    /// Both members' sockets, if both are in `room` on this node now.
    fn l_members(&self, room: u64, a: UserId, b: UserId) -> Option<(ConnId, ConnId)> {
        let here = |u: UserId| {
            let s = self.sessions.get(&u)?;
            if s.place == Place::InRoom(room) { s.conn } else { None }
        };
        Some((here(a)?, here(b)?))
    }

    /// Whether `room`'s messages are taken here now rather than in Redis:
    /// Redis is away (or just refused as unreachable: `redis_failed`), or
    /// the room took messages here that are not written back yet.
    fn l_here(&self, room: u64, redis_failed: bool) -> bool {
        let Some(l) = self.local.get(&room) else { return false };
        let redis_up = self.cluster.as_ref().is_some_and(|c| c.bus.is_up());
        l.unsynced || redis_failed || !redis_up
    }

    /// `CHAT` in a room carried here (see the module's doc): the seq it
    /// took, or None if the room is not carried here now. The sender's
    /// `CHAT_ACK` keeps its place among its answers (`c_reply`).
    #[allow(clippy::too_many_arguments)]
    pub fn l_chat(
        &mut self,
        room: u64,
        user: UserId,
        conn: ConnId,
        text: &str,
        sent_at: u64,
        id: Option<&str>,
        redis_failed: bool,
        ctx: &Ctx<'_>,
    ) -> Option<u64> {
        if !self.l_here(room, redis_failed) {
            return None;
        }
        let l = self.local.get(&room)?;
        let (conn_a, conn_b) = self.l_members(room, l.a, l.b)?;
        let (side, partner_conn) = if user == l.a { ("a", conn_b) } else { ("b", conn_a) };
        let l = self.local.get_mut(&room)?;
        l.seq += 1;
        l.unsynced = true;
        let seq = l.seq;
        let text_json = serde_json::to_string(text).unwrap_or_default();
        if l.taken.len() == KEPT {
            l.taken.remove(0);
        }
        l.taken.push(format!(r#"{{"seq":{seq},"from":"{side}","text":{text_json},"sentAt":{sent_at}}}"#));
        let rid = room_id_str(room);
        ctx.out.frame(
            partner_conn,
            protocol::frame("CHAT", None, &ChatPush { room_id: &rid, seq, text, sent_at }),
        );
        self.c_reply(conn, protocol::frame("CHAT_ACK", id, &ChatAck { room_id: &rid, seq, sent_at }), ctx);
        Some(seq)
    }

    /// `TYPING` relayed to the partner here (the frame's JSON), if the room
    /// is carried here now.
    pub(super) fn l_typing(
        &mut self,
        room: u64,
        user: UserId,
        frame_json: &str,
        redis_failed: bool,
        ctx: &Ctx<'_>,
    ) -> bool {
        if !self.l_here(room, redis_failed) {
            return false;
        }
        let Some(l) = self.local.get(&room) else { return false };
        let partner = if user == l.a { l.b } else { l.a };
        let Some(_) = self.l_members(room, l.a, l.b) else { return false };
        if let Some(conn) = self.sessions.get(&partner).and_then(|s| s.conn) {
            ctx.out.frame(conn, protocol::json_frame(frame_json));
        }
        true
    }

    /// Redis answers again: rooms that took messages here are written
    /// back, or, with `all` (Redis came back empty), every room carried
    /// here. Entries whose members are no longer both here go once
    /// written. Returns the rooms written back.
    pub(super) fn l_restore(&mut self, cluster: &Cluster, all: bool, ctx: &Ctx<'_>) -> Vec<u64> {
        let rooms: Vec<u64> =
            self.local.iter().filter(|(_, l)| all || l.unsynced).map(|(id, _)| *id).collect();
        self.l_write_back(cluster, rooms, ctx)
    }

    /// One room carried here written back (Redis lost it); whether it was.
    pub(super) fn l_restore_room(&mut self, cluster: &Cluster, room: u64, ctx: &Ctx<'_>) -> bool {
        !self.l_write_back(cluster, vec![room], ctx).is_empty()
    }

    /// Redis said `room` does not exist: if both its members are here, it
    /// is written back (Redis lost it during an outage longer than its
    /// keys' life, and this node has not compared yet). Whether it was.
    pub fn l_lost(&mut self, room: u64, ctx: &Ctx<'_>) -> bool {
        let Some(cluster) = self.cluster.clone() else { return false };
        self.l_carried(room) && self.l_restore_room(&cluster, room, ctx)
    }

    fn l_write_back(&mut self, cluster: &Cluster, rooms: Vec<u64>, ctx: &Ctx<'_>) -> Vec<u64> {
        let mut written = Vec::with_capacity(rooms.len());
        for id in rooms {
            let Some(l) = self.local.get(&id) else { continue };
            // A member gone from here (dropped meanwhile) leaves no view
            // to write the room again with: only its seq and messages go
            // back, if Redis still has it.
            let (mut a_view, mut b_view, mut mood, mut shared) =
                (String::new(), String::new(), "", String::new());
            if let (Some(sa), Some(sb)) = (self.sessions.get(&l.a), self.sessions.get(&l.b)) {
                let (ra, rb) = (request_of(sa), request_of(sb));
                (a_view, b_view) = (partner_view(&sa.profile, &ra), partner_view(&sb.profile, &rb));
                mood = if ra.random_mode { "random" } else { ra.mood.as_str() };
                let both: Vec<&str> =
                    ra.interests.iter().filter(|t| rb.interests.contains(t)).map(|t| &**t).collect();
                shared = serde_json::to_string(&both).unwrap_or_else(|_| "[]".into());
            }
            let restore = Restore {
                a: l.a,
                b: l.b,
                a_view: &a_view,
                b_view: &b_view,
                mood,
                shared: &shared,
                seq: l.seq,
                taken: &l.taken,
            };
            match cluster.restore(id, &restore, ctx.wall) {
                Ok(_) => {
                    written.push(id);
                    let (a, b) = (l.a, l.b);
                    if self.l_members(id, a, b).is_some() {
                        if let Some(l) = self.local.get_mut(&id) {
                            l.taken.clear();
                            l.unsynced = false;
                        }
                    } else {
                        self.local.remove(&id);
                    }
                }
                Err(e) => {
                    log::warn!(
                        "cluster: a room carried here while Redis was away is not written back yet: {e}"
                    );
                    break;
                }
            }
        }
        written
    }

    /// Whether `room` is one this node carries with both members here now
    /// (Redis coming back empty does not end it).
    pub(super) fn l_carried(&self, room: u64) -> bool {
        self.local.get(&room).is_some_and(|l| self.l_members(room, l.a, l.b).is_some())
    }
}
