//! `TYPING {roomId, isTyping}` → `TYPING_ACK {}`; the partner gets
//! `TYPING` when the state changed, at most twice a second (`app::typing`).

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::protocol::{self, Empty, Refusal};

#[derive(Deserialize)]
pub struct Typing {
    /// Must name the sender's room.
    #[serde(rename = "roomId")]
    room_id: String,
    /// The sender's state now; the partner hears only changes.
    #[serde(rename = "isTyping")]
    is_typing: bool,
}

pub fn run(app: &App, req: &Request<'_>, p: Typing) -> Result<(), Refusal> {
    let ctx = app.ctx();
    let mut hub = app.hub();
    let user = req.user_in(&hub)?;
    let id = hub.own_room(user, &p.room_id)?;
    hub.typing(id, user, p.is_typing, &ctx);
    hub.reply(req.conn, protocol::frame("TYPING_ACK", req.id, &Empty {}), &ctx);
    Ok(())
}
