//! What arrives on a node's channel: text, a header line of words and,
//! for a frame, the frame's JSON on the next line. Scripts write these
//! (`lua/*.lua`); this reads them. Text, not JSON, so a frame travels
//! as it will be sent, never escaped into another document.
//!
//! - `frame <user> <effect> <room|-> [<who> <at>]\n<json>`, or `reply ...`
//!   for the answer to the user's own message (its node holds the other
//!   answers it would send directly until this one arrived): send `json`
//!   to the user's socket; `effect` changes the user's session first:
//!   `-` nothing, `in_room` (a match; `<who>` is the partner and `<at>`
//!   `a` or `b`, the user's side of the room), `idle` (the room ended),
//!   `next` (the room ended: queue again), `away` (`<who>`, the partner, is
//!   away since `<at>`: run the grace), `back`. A `CHAT` or `CHAT_ACK`
//!   carries the message's seq after the room (`- <room> <seq>`), so a
//!   node knows how far each of its rooms went.
//! - `offer <user> <pair>`: take the pairing for the user, if still there.
//! - `requeued <user>`: a pairing was aborted; the user waits again.
//! - `supersede <user>`: another node took the user's socket over.
//! - `evict <user> <reason> <code>`: a ban or an erasure ends the session.
//! - `changed <user>` (on the control channel, to every node): the user's
//!   identity changed on a node: drop cached copies, reload the profile.
//! - `tick`: the heartbeat's echo (ignored).

use crate::base::id::UserId;

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The partner and whether the user is the room's `a` side (scripts
    /// that predate them may leave them out).
    InRoom {
        partner: Option<(UserId, bool)>,
    },
    Idle,
    Next,
    /// The partner (`who`) is away since `at` (epoch ms).
    Away {
        who: UserId,
        at: u64,
    },
    Back,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NodeMsg<'a> {
    /// `reply`: the frame answers a message of the user's, published by
    /// the script its node ran (`reply ...` on the wire).
    Frame {
        user: UserId,
        effect: Effect,
        room: Option<u64>,
        json: &'a str,
        reply: bool,
        /// The seq of the message a `CHAT` or `CHAT_ACK` is about.
        seq: Option<u64>,
    },
    Offer {
        user: UserId,
        pair: &'a str,
    },
    Requeued {
        user: UserId,
    },
    Supersede {
        user: UserId,
    },
    Evict {
        user: UserId,
        reason: &'static str,
        code: u16,
    },
    /// Another node changed the user's identity (profile, ban, erasure).
    Changed {
        user: UserId,
    },
    Tick,
}

impl<'a> NodeMsg<'a> {
    /// None for anything malformed (logged by the caller, never trusted).
    pub fn parse(text: &'a str) -> Option<NodeMsg<'a>> {
        let (head, body) = text.split_once('\n').unwrap_or((text, ""));
        let mut w = head.split(' ');
        let kind = w.next()?;
        if kind == "tick" || kind.starts_with('{') {
            return Some(NodeMsg::Tick);
        }
        let user = UserId::parse(w.next()?)?;
        Some(match kind {
            "frame" | "reply" => {
                let effect = w.next()?;
                let room = w.next().and_then(|r| u64::from_str_radix(r, 16).ok());
                let effect = match effect {
                    "-" => Effect::None,
                    "in_room" => Effect::InRoom {
                        partner: w.next().and_then(UserId::parse).zip(w.next().map(|s| s == "a")),
                    },
                    "idle" => Effect::Idle,
                    "next" => Effect::Next,
                    "back" => Effect::Back,
                    "away" => Effect::Away { who: UserId::parse(w.next()?)?, at: w.next()?.parse().ok()? },
                    _ => return None,
                };
                let seq = if effect == Effect::None { w.next().and_then(|s| s.parse().ok()) } else { None };
                NodeMsg::Frame { user, effect, room, json: body, reply: kind == "reply", seq }
            }
            "offer" => NodeMsg::Offer { user, pair: w.next()? },
            "requeued" => NodeMsg::Requeued { user },
            "supersede" => NodeMsg::Supersede { user },
            "changed" => NodeMsg::Changed { user },
            "evict" => {
                let reason = match w.next()? {
                    "banned" => "banned",
                    "deleted" => "deleted",
                    _ => return None,
                };
                NodeMsg::Evict { user, reason, code: w.next()?.parse().ok()? }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0a6f3c8e-4b1d-4e2a-9f00-1234567890ab";

    #[test]
    fn parses_what_the_scripts_write() {
        let f = format!("frame {U} in_room 00000000000000ff {U} b\n{{\"type\":\"MATCH_FOUND\"}}");
        let user = UserId::parse(U).unwrap();
        assert_eq!(
            NodeMsg::parse(&f),
            Some(NodeMsg::Frame {
                user,
                effect: Effect::InRoom { partner: Some((user, false)) },
                room: Some(255),
                json: "{\"type\":\"MATCH_FOUND\"}",
                reply: false,
                seq: None,
            })
        );
        let c = format!("reply {U} - 00000000000000ff 42\n{{}}");
        assert!(matches!(NodeMsg::parse(&c), Some(NodeMsg::Frame { reply: true, seq: Some(42), .. })));
        let a = format!("frame {U} away 00000000000000ff {U} 1700\n{{}}");
        assert!(matches!(
            NodeMsg::parse(&a),
            Some(NodeMsg::Frame { effect: Effect::Away { at: 1700, .. }, .. })
        ));
        assert_eq!(
            NodeMsg::parse(&format!("offer {U} 00000000000000ff")),
            Some(NodeMsg::Offer { user, pair: "00000000000000ff" })
        );
        assert_eq!(NodeMsg::parse("tick"), Some(NodeMsg::Tick));
        assert_eq!(NodeMsg::parse("frame nobody - -\n{}"), None);
        assert_eq!(
            NodeMsg::parse(&format!("evict {U} banned 4403")),
            Some(NodeMsg::Evict { user, reason: "banned", code: 4403 })
        );
    }
}
