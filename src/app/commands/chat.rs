//! `CHAT {roomId, text}` → `CHAT_ACK {roomId, seq, sentAt}` to the sender
//! and `CHAT {roomId, seq, text, sentAt}` to the partner.
//!
//! One hub lock per message: it checks the user, the rate and the room,
//! keeps the text and reserves the `seq`; the frames are serialized and
//! queued after the hub is unlocked, under the room's gate (taken inside
//! the lock), which keeps both members' view in `seq` order. The payload
//! is parsed borrowing from the message, and the text is copied once into
//! the room's kept ring: a `CHAT` costs two allocations in the worker, its
//! two frames (one more with `--store-messages`, the stored text; and one
//! for a text or room id that needs JSON unescaping).

use std::borrow::Cow;

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::hub::Limit;
use crate::app::protocol::{self, Refusal};
use crate::app::validate;
use crate::app::view::{ChatAck, ChatPush};
use crate::link::outbox::Delivery;
use crate::store::{Event, MessageRow};

#[derive(Deserialize)]
pub struct Chat<'a> {
    /// Must name the sender's room.
    #[serde(rename = "roomId", borrow)]
    room_id: Cow<'a, str>,
    /// Checked against the text rules before the hub is locked.
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// JSON beside the payload strings of a `CHAT` or `CHAT_ACK`: the envelope,
/// field names, two numbers of at most 20 digits.
const FRAME_OVERHEAD: usize = 128;

pub fn run(app: &App, req: &Request<'_>, p: Chat<'_>) -> Result<(), Refusal> {
    // Text rules cost nothing under the lock: checked first, reported
    // after the rate limit and the room, which a client must fix first.
    // Controls are checked on the text as sent: trimming strips U+000B,
    // U+000C and U+0085, which must be refused, not dropped (regression:
    // "hi\u{b}" was acknowledged).
    let text = match validate::free_text_ok(&p.text) {
        true => validate::chat_text(&p.text, app.cfg.max_message_chars)
            .map_err(|e| Refusal::new(e.code(), e.message())),
        false => Err(Refusal::bad_request("text must not contain control characters but tab and newlines")),
    }
    .and_then(|t| match app.blocklist.hits(t) {
        true => Err(Refusal::new("CONTENT_REJECTED", "the message contains a blocked word")),
        false => Ok(t),
    });
    let sent_at = crate::app::wall_ms();
    let now = app.clock.now();
    let (user, id, posted) = {
        let mut hub = app.hub();
        let user = req.user_in(&hub)?;
        hub.take(user, Limit::Chat, now)?;
        let id = hub.own_room(user, &p.room_id)?;
        let text = text.as_ref().map_err(Clone::clone)?;
        if let Some(cluster) = hub.cluster().cloned() {
            let ctx = app.ctx();
            // A room whose members are both here goes on while Redis is
            // away (`hub::local_rooms`).
            if let Some(seq) = hub.l_chat(id, user, req.conn, text, sent_at, req.id, false, &ctx) {
                drop(hub);
                recorded(app, id, user, seq, text, sent_at);
                return Ok(());
            }
            // CHAT_ACK comes through the channel: answers after it wait.
            hub.c_expect_reply(user, &ctx);
            drop(hub);
            let done = cluster_chat(app, req, &cluster, user, id, text, sent_at);
            let Err(refusal) = &done else { return done };
            let mut hub = app.hub();
            hub.c_reply_done(user, &ctx);
            if refusal.error.code == "UNAVAILABLE"
                && let Some(seq) = hub.l_chat(id, user, req.conn, text, sent_at, req.id, true, &ctx)
            {
                drop(hub);
                recorded(app, id, user, seq, text, sent_at);
                return Ok(());
            }
            if refusal.error.code == "NOT_IN_ROOM" && hub.l_lost(id, &ctx) {
                // Written back: once more, through Redis.
                hub.c_expect_reply(user, &ctx);
                drop(hub);
                let again = cluster_chat(app, req, &cluster, user, id, text, sent_at);
                if again.is_err() {
                    app.hub().c_reply_done(user, &ctx);
                }
                return again;
            }
            return done;
        }
        (user, id, hub.post(id, user, text, sent_at)?)
    };
    let text = text?;
    let seq = posted.seq;
    record(app, id, user, seq, text, sent_at);
    let room_id = &*p.room_id;
    if let Some(partner) = posted.partner {
        let push = ChatPush { room_id, seq, text, sent_at };
        let size = FRAME_OVERHEAD + room_id.len() + escaped_len(text);
        app.out.frame(partner, protocol::frame_sized("CHAT", None, &push, size));
    }
    let ack = ChatAck { room_id, seq, sent_at };
    let size = FRAME_OVERHEAD + room_id.len() + req.id.map_or(0, escaped_len);
    app.out.frame(req.conn, protocol::frame_sized("CHAT_ACK", req.id, &ack, size));
    drop(posted.gate);
    app.metrics.messages.inc();
    Ok(())
}

/// On a cluster node the room is in Redis: the `chat` script takes the
/// seq, keeps the message and publishes both frames (so the partner's
/// node and this one see them in room order). Refused with `UNAVAILABLE`
/// while Redis is away (no seq is taken).
fn cluster_chat(
    app: &App,
    req: &Request<'_>,
    cluster: &crate::app::cluster::Cluster,
    user: crate::base::id::UserId,
    id: u64,
    text: &str,
    sent_at: u64,
) -> Result<(), Refusal> {
    let text_json = serde_json::to_string(text).unwrap_or_default();
    let id_json = req.id.map(|i| serde_json::to_string(i).unwrap_or_default()).unwrap_or_default();
    let room = crate::app::room::room_id_str(id);
    let seq = match cluster.chat(&room, user, &text_json, sent_at, &id_json) {
        Ok(Some(seq)) => seq,
        Ok(None) => return Err(Refusal::not_in_room()),
        // A superseded socket: another node speaks for the user now.
        Err(crate::bus::BusError::Refused(m)) if m == "moved" => {
            return Err(Refusal::new("UNAUTHENTICATED", "this socket was superseded"));
        }
        Err(e) if crate::app::cluster::Cluster::is_unavailable(&e) => {
            return Err(crate::app::hub::unavailable());
        }
        Err(e) => return Err(Refusal::new("INTERNAL", e.to_string())),
    };
    recorded(app, id, user, seq, text, sent_at);
    Ok(())
}

/// A message taken: the store hears of it (the text only with
/// `--store-messages`).
fn record(app: &App, room: u64, sender: crate::base::id::UserId, seq: u64, text: &str, sent_at: u64) {
    let stored = app.cfg.store_messages.then(|| text.into());
    let length = text.chars().count() as u32;
    app.store.record(Event::Message(MessageRow { room, seq, sender, sent_at, length, text: stored }));
}

/// A cluster message taken: recorded and counted.
fn recorded(app: &App, room: u64, sender: crate::base::id::UserId, seq: u64, text: &str, sent_at: u64) {
    record(app, room, sender, seq, text, sent_at);
    app.metrics.messages.inc();
}

/// The length of `s` as a JSON string body, for the texts duet accepts
/// (controls but tab, LF, CR are refused): each of `"` `\` and those
/// three takes two bytes.
fn escaped_len(s: &str) -> usize {
    s.len() + s.bytes().filter(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r' | b'\t')).count()
}
