//! One room: its two members, its `seq` counter and the messages it keeps.
//!
//! A room lives in the hub, behind the hub's lock, for as long as both
//! members hold it. Invariants kept here: `seq` only grows, by one per
//! message, so the kept messages are in `seq` order; at most
//! [`KEPT_MESSAGES`] are kept (the oldest go first); the members never
//! change. Who the members are placed as (in this room, idle, ...) is the
//! hub's business, not the room's.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};

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

/// One kept message, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptMessage<'a> {
    /// Its place in the room's order.
    pub seq: u64,
    /// Index in the room's members of the sender.
    pub from: u8,
    /// Wall clock (epoch ms) when it was sent, as the clients saw it.
    pub sent_at: u64,
    /// What was said (borrowed unless it wraps around the ring's end).
    pub text: Cow<'a, str>,
}

/// What is known of a kept message besides its text: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct KeptMeta {
    seq: u64,
    sent_at: u64,
    /// Bytes of its text in the ring.
    len: u32,
    from: u8,
}

/// The last [`KEPT_MESSAGES`] messages of a room: their texts back to back
/// in one byte ring, so keeping a message costs no allocation once the
/// ring has grown to the room's usual size (and the text is copied once).
#[derive(Debug, Default)]
struct Kept {
    /// Oldest first.
    meta: VecDeque<KeptMeta>,
    /// The texts, in the order of `meta`.
    bytes: VecDeque<u8>,
}

impl Kept {
    fn push(&mut self, seq: u64, from: u8, sent_at: u64, text: &str) {
        if self.meta.len() == KEPT_MESSAGES
            && let Some(old) = self.meta.pop_front()
        {
            self.bytes.drain(..old.len as usize);
        }
        self.meta.push_back(KeptMeta { seq, sent_at, len: text.len() as u32, from });
        self.bytes.extend(text.as_bytes());
    }

    fn iter(&self) -> impl Iterator<Item = KeptMessage<'_>> {
        let (head, tail) = self.bytes.as_slices();
        let mut at = 0usize;
        self.meta.iter().map(move |m| {
            let (start, end) = (at, at + m.len as usize);
            at = end;
            let text = if end <= head.len() {
                Cow::Borrowed(std::str::from_utf8(&head[start..end]).unwrap_or_default())
            } else if start >= head.len() {
                let t = &tail[start - head.len()..end - head.len()];
                Cow::Borrowed(std::str::from_utf8(t).unwrap_or_default())
            } else {
                let mut joined = head[start..].to_vec();
                joined.extend_from_slice(&tail[..end - head.len()]);
                Cow::Owned(String::from_utf8(joined).unwrap_or_default())
            };
            KeptMessage { seq: m.seq, from: m.from, sent_at: m.sent_at, text }
        })
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
    recent: Kept,
    /// Held by whoever pushes frames about this room, from before the hub
    /// lets go until its frames are queued: a `CHAT` is serialized after
    /// the hub is unlocked, so this is what keeps both members' view of the
    /// room in `seq` order (see `hub::rooms`). Never taken while waiting
    /// for the hub, so it cannot deadlock with it.
    gate: Arc<Mutex<()>>,
}

/// Proof that frames about a room may be pushed now, in room order.
pub type RoomGate = ArcMutexGuard<RawMutex, ()>;

impl Room {
    /// A room just opened at `started_at` (epoch ms): no message yet.
    pub fn new(mood: Mood, members: [Member; 2], shared: Box<[Box<str>]>, started_at: u64) -> Room {
        Room { mood, members, seq: 0, shared, started_at, recent: Kept::default(), gate: Arc::default() }
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
        let from = self.sides(user).0 as u8;
        self.recent.push(self.seq, from, sent_at, text);
        self.seq
    }

    /// Waits for whoever is pushing frames about this room, then holds
    /// the gate until the returned guard is dropped.
    pub fn gate(&self) -> RoomGate {
        self.gate.lock_arc()
    }

    /// The kept messages `user`'s partner sent after `last_seq`, in order:
    /// what `user` missed.
    pub fn missed_by(&self, user: UserId, last_seq: u64) -> impl Iterator<Item = KeptMessage<'_>> {
        let (me, _) = self.sides(user);
        self.recent.iter().filter(move |m| m.seq > last_seq && m.from as usize != me)
    }

    /// The last `lines` kept messages, as `reporter` reports them.
    pub fn transcript(&self, reporter: UserId, lines: usize) -> Vec<TranscriptLine> {
        let (me, _) = self.sides(reporter);
        let skip = self.recent.meta.len().saturating_sub(lines);
        self.recent
            .iter()
            .skip(skip)
            .map(|m| TranscriptLine {
                from: if m.from as usize == me { "reporter" } else { "reported" },
                text: m.text.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_messages_read_back_whole_across_the_rings_end() {
        let mut k = Kept::default();
        let texts: Vec<String> = (0..250).map(|i| format!("message {i} {}", "é".repeat(i % 7))).collect();
        for (i, t) in texts.iter().enumerate() {
            k.push(i as u64 + 1, (i % 2) as u8, 1000 + i as u64, t);
        }
        let back: Vec<_> = k.iter().collect();
        assert_eq!(back.len(), KEPT_MESSAGES);
        for (m, (i, t)) in back.iter().zip(texts.iter().enumerate().skip(150)) {
            assert_eq!(
                (m.seq, m.from, m.sent_at, &*m.text),
                (i as u64 + 1, (i % 2) as u8, 1000 + i as u64, t.as_str())
            );
        }
    }
}
