//! `chat`: every user joins mood "chill" with no interests (so pairs form
//! in tier 1), and once matched sends at --rate msgs/s from the shared
//! send start to the send end; then a drain period collects the last acks
//! and deliveries. Each text carries its send time and the sender's
//! counter; the connection measures latency and checks order on receipt.

use crate::cli::ChatArgs;
use crate::client::conn::{Conn, Note};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};
use crate::sys;

use super::ns;

/// Conn::state values.
pub const QUEUED: u8 = 1;
const MATCHED: u8 = 2;
const ENDED: u8 = 3;

/// Most messages one user sends in one turn when it has fallen behind.
const MAX_BURST: u32 = 64;

/// The chat phases on the shared clock.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub send_start: u64,
    pub send_end: u64,
    pub drain_end: u64,
}

impl Window {
    pub fn new(a: &ChatArgs, t0: u64) -> Self {
        let c = &a.common;
        let send_start = t0 + ns(c.ramp_secs) + ns(a.settle_secs);
        let send_end = send_start + ns(a.duration_secs);
        Window { send_start, send_end, drain_end: send_end + ns(a.drain_secs) }
    }
}

pub struct Chat {
    w: Window,
    interval_ns: u64,
    tick_ns: u64,
    cpu_start: Option<u64>,
    users: usize,
    /// `--pair-interests`.
    pair_interests: bool,
}

impl Chat {
    pub fn new(a: &ChatArgs, t0: u64, users: usize) -> Self {
        Chat::over(Window::new(a, t0), a.rate, a.tick_ms, users, a.pair_interests)
    }

    /// A chat over the window `w` at `rate` msgs/s per user (also used by
    /// `idle --chat-pairs`, whose users join when it says, not on AUTH_OK).
    pub fn over(w: Window, rate: f64, tick_ms: f64, users: usize, pair_interests: bool) -> Self {
        Chat {
            w,
            interval_ns: ((1e9 / rate) as u64).max(1),
            tick_ns: ns(tick_ms / 1000.0).max(1),
            cpu_start: None,
            users,
            pair_interests,
        }
    }

    /// Rounds up to the tick grid so many users' sends share one turn.
    fn on_grid(&self, t: u64) -> u64 {
        t.div_ceil(self.tick_ns) * self.tick_ns
    }
}

impl Behavior for Chat {
    fn register_body(&mut self, _c: &mut Conn, ctx: &mut Ctx) {
        ctx.json.extend_from_slice(br#"{"mood":"chill","interests":[]}"#);
    }

    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note) {
        match note {
            Note::Authed if self.pair_interests => {
                let join = format!(r#"{{"mood":"chill","interests":["pair{}"]}}"#, c.user / 2);
                c.join(ctx, &join);
                c.state = QUEUED;
            }
            Note::Authed => {
                c.join(ctx, r#"{"mood":"chill"}"#);
                c.state = QUEUED;
            }
            Note::Matched => {
                c.state = MATCHED;
                let first = ctx.now.max(self.w.send_start) + ctx.rng.below(self.interval_ns);
                c.t_next = first;
                if first < self.w.send_end {
                    let at = self.on_grid(first);
                    ctx.schedule(c, at);
                }
            }
            Note::PartnerLeft | Note::RoomLeft => c.state = ENDED,
            // Processes end a few ms apart at the drain end; before it, a
            // partner going away is a failure on the partner's side.
            Note::PartnerAway | Note::PartnerBack if ctx.now < self.w.drain_end => {
                ctx.out.counters.protocol_errors += 1;
                ctx.sample(format_args!("{note:?} in room {} during the run", c.room));
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        if c.state != MATCHED || !c.in_room {
            return;
        }
        let mut burst = 0;
        while c.t_next <= ctx.now && c.t_next < self.w.send_end && burst < MAX_BURST {
            c.chat(ctx);
            c.t_next += self.interval_ns;
            burst += 1;
        }
        if burst == MAX_BURST && c.t_next <= ctx.now {
            // Far behind: give up the missed slots rather than flood.
            c.t_next = ctx.now + self.interval_ns;
        }
        if c.t_next < self.w.send_end {
            let at = self.on_grid(c.t_next);
            ctx.schedule(c, at);
        }
    }

    fn tick(&mut self, _conns: &mut [Conn], ctx: &mut Ctx, _ready: bool) -> Flow {
        if self.cpu_start.is_none() && ctx.now >= self.w.send_start {
            self.cpu_start = Some(sys::cpu_ticks("self").unwrap_or(0));
        }
        if ctx.now >= self.w.drain_end { Flow::Finish } else { Flow::Continue }
    }

    fn finish(&mut self, conns: &mut [Conn], ctx: &mut Ctx) {
        let end = sys::cpu_ticks("self").unwrap_or(0);
        ctx.out.cpu_ticks = end.saturating_sub(self.cpu_start.unwrap_or(end));
        let mut unacked = 0;
        let mut unmatched = 0;
        for c in conns.iter() {
            unacked += c.chats_unacked();
            if c.state == QUEUED {
                unmatched += 1;
            }
        }
        ctx.out.counters.unacked += unacked;
        ctx.out.counters.unmatched += unmatched;
        if unacked > 0 {
            ctx.sample(format_args!("{unacked} chats never acknowledged"));
        }
        if unmatched > 0 {
            ctx.sample(format_args!(
                "{unmatched} of {} users still waiting for a partner at the end",
                self.users
            ));
        }
    }
}
