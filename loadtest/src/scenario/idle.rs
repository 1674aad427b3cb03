//! `idle`: register and authenticate every connection, then hold them
//! (the connection answers the server's pings by itself) for --hold-secs
//! after the last one is ready. Memory figures are read by the parent.

use crate::cli::IdleArgs;
use crate::client::conn::{Conn, Note};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};

use super::ns;

pub struct Idle {
    hold_ns: u64,
    ready_at: u64,
}

impl Idle {
    pub fn new(a: &IdleArgs) -> Self {
        Idle { hold_ns: ns(a.hold_secs), ready_at: 0 }
    }
}

impl Behavior for Idle {
    fn register_body(&mut self, _c: &mut Conn, ctx: &mut Ctx) {
        ctx.json.extend_from_slice(br#"{"mood":"chill"}"#);
    }

    fn on_note(&mut self, _c: &mut Conn, _ctx: &mut Ctx, _note: Note) {}

    fn tick(&mut self, _conns: &mut [Conn], ctx: &mut Ctx, ready: bool) -> Flow {
        if ready && self.ready_at == 0 {
            self.ready_at = ctx.now;
        }
        if self.ready_at != 0 && ctx.now >= self.ready_at + self.hold_ns {
            Flow::Finish
        } else {
            Flow::Continue
        }
    }
}
