//! `CHAT {roomId, text}` → `CHAT_ACK {roomId, seq, sentAt}` to the sender
//! and `CHAT {roomId, seq, text, sentAt}` to the partner.
//!
//! The text is checked before the lock is taken; the `seq` is assigned and
//! both frames are queued under it, so both sides see room order.

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
pub struct Chat {
    /// Must name the sender's room.
    #[serde(rename = "roomId")]
    room_id: String,
    /// Checked against the text rules before the hub is locked.
    text: String,
}

pub fn run(app: &App, req: &Request<'_>, p: Chat) -> Result<(), Refusal> {
    let user = req.user()?;
    // Text rules cost nothing under the lock: checked first, reported
    // after the rate limit and the room, which a client must fix first.
    let text = validate::chat_text(&p.text, app.cfg.max_message_chars)
        .map_err(|e| Refusal::new(e.code(), e.message()))
        .and_then(|t| match validate::free_text_ok(t) {
            true => Ok(t),
            false => {
                Err(Refusal::bad_request("text must not contain control characters but tab and newlines"))
            }
        })
        .and_then(|t| match app.blocklist.hits(t) {
            true => Err(Refusal::new("CONTENT_REJECTED", "the message contains a blocked word")),
            false => Ok(t),
        });
    let sent_at = crate::app::wall_ms();
    let now = app.clock.now();
    let mut hub = app.hub();
    hub.take(user, Limit::Chat, now)?;
    let id = hub.own_room(user, &p.room_id)?;
    let text = text?;
    let (seq, partner) = hub.post(id, user, text, sent_at)?;
    let stored = app.cfg.store_messages.then(|| text.into());
    let length = text.chars().count() as u32;
    let row = MessageRow { room: id, seq, sender: user, sent_at, length, text: stored };
    app.store.record(Event::Message(row));
    let room_id = p.room_id.as_str();
    if let Some(partner) = partner {
        let push = ChatPush { room_id, seq, text, sent_at };
        app.out.frame(partner, protocol::frame("CHAT", None, &push));
    }
    let ack = ChatAck { room_id, seq, sent_at };
    app.out.frame(req.conn, protocol::frame("CHAT_ACK", req.id, &ack));
    app.metrics.messages.inc();
    Ok(())
}
