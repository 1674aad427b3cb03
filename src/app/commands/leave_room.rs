//! `LEAVE_ROOM {roomId}` → `ROOM_LEFT {roomId}`; the partner gets
//! `PARTNER_LEFT {reason:"left"}`.

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::protocol::{self, Refusal};
use crate::app::view::RoomRef;
use crate::link::outbox::Delivery;

#[derive(Deserialize)]
pub struct LeaveRoom {
    /// Must name the sender's room.
    #[serde(rename = "roomId")]
    room_id: String,
}

pub fn run(app: &App, req: &Request<'_>, p: LeaveRoom) -> Result<(), Refusal> {
    let user = req.user()?;
    let ctx = app.ctx();
    let mut hub = app.hub();
    let id = hub.own_room(user, &p.room_id)?;
    app.out.frame(req.conn, protocol::frame("ROOM_LEFT", req.id, &RoomRef { room_id: &p.room_id }));
    hub.end_room(id, user, "left", &ctx);
    Ok(())
}
