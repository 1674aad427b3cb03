//! `PING` → `PONG {serverTime}`; allowed before `AUTH`, touches no state.

use serde::Serialize;

use super::Request;
use crate::app::App;
use crate::app::protocol::{self, Refusal};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pong {
    /// Wall clock (epoch ms), so a client can estimate its offset.
    server_time: u64,
}

pub fn run(app: &App, req: &Request<'_>) -> Result<(), Refusal> {
    let pong = Pong { server_time: crate::app::wall_ms() };
    app.reply(req.conn, protocol::frame("PONG", req.id, &pong));
    Ok(())
}
