//! `TYPING {roomId, isTyping}` → `TYPING_ACK {}`; the partner gets `TYPING`.

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::outbox::Delivery;
use crate::app::protocol::{self, Empty, Refusal};
use crate::app::view::TypingPush;

#[derive(Deserialize)]
pub struct Typing {
    #[serde(rename = "roomId")]
    room_id: String,
    #[serde(rename = "isTyping")]
    is_typing: bool,
}

pub fn run(app: &App, req: &Request<'_>, p: Typing) -> Result<(), Refusal> {
    let user = req.user()?;
    let hub = app.hub.lock();
    let id = hub.own_room(user, &p.room_id)?;
    let room = hub.rooms.get(&id).ok_or_else(Refusal::not_in_room)?;
    if let Some(partner) = hub.partner_conn(room, user) {
        let push = TypingPush { room_id: &p.room_id, is_typing: p.is_typing };
        app.out.frame(partner, protocol::frame("TYPING", None, &push));
    }
    app.out.frame(req.conn, protocol::frame("TYPING_ACK", req.id, &Empty {}));
    Ok(())
}
