//! `LEAVE_QUEUE {}` → `QUEUE_LEFT {}`, or `NOT_IN_QUEUE`.

use super::Request;
use crate::app::App;
use crate::app::hub::Limit;
use crate::app::protocol::{self, Empty, Refusal};

pub fn run(app: &App, req: &Request<'_>) -> Result<(), Refusal> {
    let mut hub = app.hub();
    let user = req.user_in(&hub)?;
    hub.take(user, Limit::Queue, app.clock.now())?;
    hub.leave_queue(user)?;
    hub.reply(req.conn, protocol::frame("QUEUE_LEFT", req.id, &Empty {}), &app.ctx());
    Ok(())
}
