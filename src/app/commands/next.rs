//! `NEXT {}` → `ROOM_LEFT {roomId}`; the partner gets
//! `PARTNER_LEFT {reason:"next"}`; then the user is queued again with their
//! last queue request (`QUEUE_WAITING` without `id`).

use super::Request;
use crate::app::App;
use crate::app::hub::Limit;
use crate::app::protocol::{self, Refusal};
use crate::app::room::room_id_str;
use crate::app::view::RoomRef;
use crate::link::outbox::Delivery;

pub fn run(app: &App, req: &Request<'_>) -> Result<(), Refusal> {
    let ctx = app.ctx();
    let mut hub = app.hub();
    let user = req.user_in(&hub)?;
    hub.take(user, Limit::Queue, app.clock.now())?;
    let (id, request) = hub.room_and_request(user).ok_or_else(Refusal::not_in_room)?;
    let room_id = room_id_str(id);
    let reply = protocol::frame_json("ROOM_LEFT", req.id, &RoomRef { room_id: &room_id });
    // A cluster node queues the user again when the reply comes back
    // through its channel, after the room's last frames.
    if let Some(done) = hub.cluster_end_room(id, user, "next", &reply, "next", false, &ctx) {
        return done;
    }
    // After the room's last frames (end_room waits for them).
    hub.end_room(id, user, "next", &ctx);
    app.out.frame(req.conn, protocol::frame("ROOM_LEFT", req.id, &RoomRef { room_id: &room_id }));
    // Cannot be refused: the user was just made idle.
    let _ = hub.join(user, request, None, &ctx);
    Ok(())
}
