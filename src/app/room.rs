//! One room: its two members, its `seq` counter and the messages it keeps.
//!
//! A room lives in the hub, behind the hub's lock, for as long as both
//! members hold it. Invariants kept here: `seq` only grows, by one per
//! message, so the kept messages are in `seq` order; at most
//! [`KEPT_MESSAGES`] are kept (the oldest go first); the members never
//! change. Who the members are placed as (in this room, idle, ...) is the
//! hub's business, not the room's.

use std::collections::VecDeque;

use super::typing::Typing;
use crate::base::id::UserId;
use crate::store::{Mood, RoomRow, TranscriptLine};

/// Messages a room keeps for resume and reports.
pub const KEPT_MESSAGES: usize = 100;

/// One side of a room, as the other side is shown it.
#[derive(Debug)]
pub struct Member {
    /// Who it is; never shown to the partner.
    user: UserId,
    /// Mood and interests as they queued (contract: `MATCH_FOUND`).
    mood: Mood,
    /// As they queued, normalised; shown to the partner on a resume too.
    interests: Box<[Box<str>]>,
    /// What the partner was shown of this member's typing (section 7).
    typing: Typing,
}

impl Member {
    /// A member who queued with `mood` and `interests`, not typing.
    pub fn new(user: UserId, mood: Mood, interests: Box<[Box<str>]>) -> Member {
        Member { user, mood, interests, typing: Typing::default() }
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn mood(&self) -> Mood {
        self.mood
    }

    pub fn interests(&self) -> &[Box<str>] {
        &self.interests
    }
}

/// One kept message.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Its place in the room's order.
    seq: u64,
    /// Index in the room's members of the sender (a byte, not a user id:
    /// a hundred of these are kept per room).
    from: u8,
    /// What was said, for a replay or a report's transcript.
    text: Box<str>,
    /// Wall clock (epoch ms) when it was sent, as the clients saw it.
    sent_at: u64,
}

impl Kept {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn sent_at(&self) -> u64 {
        self.sent_at
    }
}

/// Two members talking.
#[derive(Debug)]
pub struct Room {
    /// The room's mood: the queue's, or `random` for the cross-mood pool.
    mood: Mood,
    /// The two sides; their order is fixed for the room's life.
    members: [Member; 2],
    /// The last `seq` given out; the next `CHAT` gets `seq + 1`.
    seq: u64,
    /// Interests both queued with, sorted.
    shared: Box<[Box<str>]>,
    /// Wall clock (epoch ms) when it opened, for its stored row.
    started_at: u64,
    /// The last [`KEPT_MESSAGES`] messages: replayed on resume (those after
    /// the client's `lastSeq`) and a report's transcript (the last 20).
    recent: VecDeque<Kept>,
}

impl Room {
    /// A room just opened at `started_at` (epoch ms): no message yet.
    pub fn new(mood: Mood, members: [Member; 2], shared: Box<[Box<str>]>, started_at: u64) -> Room {
        Room { mood, members, seq: 0, shared, started_at, recent: VecDeque::new() }
    }

    pub fn mood(&self) -> Mood {
        self.mood
    }

    pub fn members(&self) -> &[Member; 2] {
        &self.members
    }

    /// The `seq` of the last message (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Interests both members queued with, sorted.
    pub fn shared(&self) -> &[Box<str>] {
        &self.shared
    }

    /// Its stored row; `ended` = when and why, for a room that ends.
    pub fn row(&self, id: u64, ended: Option<(u64, &'static str)>) -> RoomRow {
        let users = [self.members[0].user, self.members[1].user];
        RoomRow { id, users, mood: self.mood, started_at: self.started_at, ended }
    }

    /// Index of `user` in `members` and of the partner.
    pub fn sides(&self, user: UserId) -> (usize, usize) {
        if self.members[0].user == user { (0, 1) } else { (1, 0) }
    }

    /// The other side from `user`.
    pub fn partner_of(&self, user: UserId) -> &Member {
        &self.members[self.sides(user).1]
    }

    /// Whether `user` is one of the two.
    pub fn has_member(&self, user: UserId) -> bool {
        self.members.iter().any(|m| m.user == user)
    }

    /// What `user`'s partner was shown of `user`'s typing.
    pub fn typing_of(&mut self, user: UserId) -> &mut Typing {
        let (me, _) = self.sides(user);
        &mut self.members[me].typing
    }

    /// Keeps a message `user` sent and gives it the next `seq`, returned.
    pub fn post(&mut self, user: UserId, text: &str, sent_at: u64) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        let from = self.sides(user).0 as u8;
        if self.recent.len() == KEPT_MESSAGES {
            self.recent.pop_front();
        }
        self.recent.push_back(Kept { seq, from, text: text.into(), sent_at });
        seq
    }

    /// The kept messages `user`'s partner sent after `last_seq`, in order:
    /// what `user` missed.
    pub fn missed_by(&self, user: UserId, last_seq: u64) -> impl Iterator<Item = &Kept> {
        let (me, _) = self.sides(user);
        self.recent.iter().filter(move |m| m.seq > last_seq && m.from as usize != me)
    }

    /// The last `lines` kept messages, as `reporter` reports them.
    pub fn transcript(&self, reporter: UserId, lines: usize) -> Vec<TranscriptLine> {
        let (me, _) = self.sides(reporter);
        let skip = self.recent.len().saturating_sub(lines);
        self.recent
            .iter()
            .skip(skip)
            .map(|m| TranscriptLine {
                from: if m.from as usize == me { "reporter" } else { "reported" },
                text: m.text.clone(),
                sent_at: m.sent_at,
            })
            .collect()
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
