//! `churn` (queue mood "fire", so it can run beside `chat`, which uses
//! "chill"): each of --concurrency slots runs whole sessions back to back:
//! connect → register → upgrade → AUTH → JOIN_QUEUE → MATCH_FOUND → --msgs
//! chats → once both sides' messages are in, the user whose message took
//! the room's last seq sends LEAVE_ROOM (the other gets PARTNER_LEFT, so
//! nobody races a leave) → close. New sessions start until the duration is
//! over; sessions in flight then get --drain-secs to finish. The rate is
//! taken over t0 → end of the duration (the ramp included, as sessions
//! already run during it), counting the sessions that ended by then.

use crate::cli::ChurnArgs;
use crate::client::conn::{Conn, Note, Phase};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};

use super::ns;

/// Conn::state values.
const STARTING: u8 = 0;
const QUEUED: u8 = 1;
const CHATTING: u8 = 2;
const LEAVING: u8 = 3;
const CLOSING: u8 = 4;

const CLOSE_WAIT_NS: u64 = 2_000_000_000;

pub struct Churn {
    msgs: u64,
    session_ns: u64,
    end: u64,
    drain_end: u64,
    /// Slots with a socket.
    live: usize,
    /// Of those, users waiting in the queue.
    waiting: usize,
}

impl Churn {
    pub fn new(a: &ChurnArgs, t0: u64) -> Self {
        let end = t0 + ns(a.common.ramp_secs) + ns(a.duration_secs);
        Churn {
            msgs: a.msgs,
            session_ns: ns(a.session_timeout_secs),
            end,
            drain_end: end + ns(a.drain_secs),
            live: 0,
            waiting: 0,
        }
    }

    fn set_state(&mut self, c: &mut Conn, s: u8) {
        if c.state == QUEUED {
            self.waiting -= 1;
        }
        if s == QUEUED {
            self.waiting += 1;
        }
        c.state = s;
    }

    /// Both sides' messages are in: the owner of the last seq leaves.
    fn maybe_leave(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        if c.state == CHATTING && c.acks_in_room == self.msgs && c.rx_in_room == self.msgs {
            self.set_state(c, LEAVING);
            if c.last_own_seq == 2 * self.msgs {
                c.leave(ctx);
            }
        }
    }

    fn end_session(&mut self, c: &mut Conn, ctx: &mut Ctx, complete: bool) {
        if complete {
            ctx.out.counters.sessions += 1;
            if ctx.now < self.end {
                ctx.out.counters.window_sessions += 1;
            }
        }
        self.set_state(c, CLOSING);
        c.close(ctx);
        let at = ctx.now + CLOSE_WAIT_NS;
        ctx.set_deadline(c, at, "close reply");
    }
}

impl Behavior for Churn {
    fn register_body(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        self.live += 1;
        c.state = STARTING;
        ctx.json.extend_from_slice(br#"{"mood":"fire","interests":[]}"#);
    }

    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note) {
        match note {
            Note::Authed => {
                c.join(ctx, r#"{"mood":"fire"}"#);
                self.set_state(c, QUEUED);
                let at = c.t_mark + self.session_ns;
                ctx.set_deadline(c, at, "churn session");
            }
            Note::Matched => {
                self.set_state(c, CHATTING);
                for _ in 0..self.msgs {
                    c.chat(ctx);
                }
            }
            Note::Acked | Note::Received => self.maybe_leave(c, ctx),
            Note::RoomLeft => self.end_session(c, ctx, true),
            Note::PartnerLeft => {
                let complete = c.state == LEAVING;
                if !complete {
                    ctx.out.counters.protocol_errors += 1;
                    ctx.sample(format_args!(
                        "partner left after {}/{} acks and {}/{} messages",
                        c.acks_in_room, self.msgs, c.rx_in_room, self.msgs
                    ));
                }
                self.end_session(c, ctx, complete);
            }
            Note::Cancelled => {
                ctx.out.counters.timeouts += 1;
                ctx.sample(format_args!("churn: MATCH_CANCELLED while queued"));
                self.end_session(c, ctx, false);
            }
            Note::Refused(_) => self.end_session(c, ctx, false),
            Note::Gone { .. } => {
                self.set_state(c, STARTING);
                self.live -= 1;
                if ctx.now < self.end {
                    ctx.reopen.push(c.idx);
                }
            }
            Note::PartnerAway | Note::PartnerBack => {
                if ctx.now < self.drain_end {
                    ctx.out.counters.protocol_errors += 1;
                    ctx.sample(format_args!("{note:?} in a churn session"));
                }
            }
            Note::Queued => {}
        }
    }

    fn tick(&mut self, conns: &mut [Conn], ctx: &mut Ctx, _ready: bool) -> Flow {
        if ctx.now < self.end {
            return Flow::Continue;
        }
        // Past the end nobody new arrives: users still queued cannot be
        // matched, so they do not hold the run.
        if self.live == self.waiting || ctx.now >= self.drain_end {
            let mut unfinished = 0;
            for c in conns.iter() {
                if c.phase != Phase::Free && c.state != QUEUED && c.state != CLOSING {
                    unfinished += 1;
                }
            }
            ctx.out.counters.unmatched += self.waiting as u64;
            if unfinished > 0 {
                ctx.out.counters.timeouts += unfinished;
                ctx.sample(format_args!("{unfinished} sessions unfinished at the drain end"));
            }
            return Flow::Finish;
        }
        Flow::Continue
    }
}
