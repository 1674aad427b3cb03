//! `LEAVE_ROOM {roomId}` → `ROOM_LEFT {roomId}`; the partner gets
//! `PARTNER_LEFT {reason:"left"}`.

use std::borrow::Cow;

use serde::Deserialize;

use super::Request;
use crate::app::App;
use crate::app::protocol::{self, Refusal};
use crate::app::view::RoomRef;
use crate::link::outbox::Delivery;

#[derive(Deserialize)]
pub struct LeaveRoom<'a> {
    /// Must name the sender's room.
    #[serde(rename = "roomId", borrow)]
    room_id: Cow<'a, str>,
}

pub fn run(app: &App, req: &Request<'_>, p: LeaveRoom<'_>) -> Result<(), Refusal> {
    let ctx = app.ctx();
    let mut hub = app.hub();
    let user = req.user_in(&hub)?;
    let id = hub.own_room(user, &p.room_id)?;
    let reply = protocol::frame_json("ROOM_LEFT", req.id, &RoomRef { room_id: &p.room_id });
    if let Some(done) = hub.cluster_end_room(id, user, "left", &reply, "idle", false, &ctx) {
        return done;
    }
    // After the room's last frames (end_room waits for them).
    hub.end_room(id, user, "left", &ctx);
    app.out.frame(req.conn, protocol::frame("ROOM_LEFT", req.id, &RoomRef { room_id: &p.room_id }));
    Ok(())
}
