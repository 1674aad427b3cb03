//! `queue`: many users register with a mood (round-robin over --moods) and
//! 0–5 interests drawn from a vocabulary, authenticate and join their
//! queue at the ramp's pace; time from JOIN_QUEUE to MATCH_FOUND goes into
//! a histogram, MATCH_CANCELLED counts as a timeout. Matched users stay in
//! their room until the run ends (when everyone is resolved).

use std::io::Write;

use crate::cli::QueueArgs;
use crate::client::conn::{Conn, Note};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};

use super::ns;

const QUEUED: u8 = 1;
const MATCHED: u8 = 2;
const CANCELLED: u8 = 3;
const GONE: u8 = 4;

pub struct Queue {
    moods: Vec<String>,
    vocab: u64,
    lo: u32,
    hi: u32,
    end: u64,
    users: usize,
    resolved: usize,
    join_payloads: Vec<String>,
}

impl Queue {
    pub fn new(a: &QueueArgs, t0: u64, users: usize) -> Self {
        let c = &a.common;
        let join_payloads = a.moods.iter().map(|m| format!("{{\"mood\":\"{m}\"}}")).collect();
        Queue {
            moods: a.moods.clone(),
            vocab: u64::from(a.interests_vocab),
            lo: a.interests_per_user.0,
            hi: a.interests_per_user.1,
            end: t0 + ns(c.ramp_secs) + ns(c.handshake_timeout_secs) + ns(a.max_wait_secs),
            users,
            resolved: 0,
            join_payloads,
        }
    }

    fn mood_of(&self, c: &Conn) -> usize {
        (c.user % self.moods.len() as u64) as usize
    }

    fn resolve(&mut self, c: &mut Conn, state: u8) {
        if c.state < MATCHED {
            self.resolved += 1;
        }
        c.state = state;
    }
}

/// FNV-1a of a room id (see `Outcome::rooms_xor`).
fn room_hash(room: &str) -> u64 {
    room.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

impl Behavior for Queue {
    fn register_body(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        let mood = &self.moods[self.mood_of(c)];
        let span = u64::from(self.hi - self.lo) + 1;
        let want = (u64::from(self.lo) + ctx.rng.below(span)).min(self.vocab) as usize;
        let mut picked = [u64::MAX; 5];
        let mut n = 0;
        while n < want {
            let t = ctx.rng.below(self.vocab);
            if !picked[..n].contains(&t) {
                picked[n] = t;
                n += 1;
            }
        }
        let _ = write!(ctx.json, "{{\"mood\":\"{mood}\",\"interests\":[");
        for (i, t) in picked[..n].iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(ctx.json, "{sep}\"tag{t}\"");
        }
        ctx.json.extend_from_slice(b"]}");
    }

    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note) {
        match note {
            Note::Authed => {
                let m = self.mood_of(c);
                c.join(ctx, &self.join_payloads[m]);
                c.t_mark = ctx.now;
                c.state = QUEUED;
                let first = &mut ctx.out.first_join_ns;
                if *first == 0 || ctx.now < *first {
                    *first = ctx.now;
                }
            }
            Note::Matched if c.state == MATCHED => {
                ctx.out.counters.protocol_errors += 1;
                ctx.sample(format_args!("a second MATCH_FOUND (room {}) for a matched user", c.room));
            }
            Note::Matched if c.state == QUEUED => {
                ctx.out.rooms_xor ^= room_hash(&c.room);
                ctx.out.match_wait_us.record_ns(ctx.now - c.t_mark);
                ctx.out.last_match_ns = ctx.out.last_match_ns.max(ctx.now);
                self.resolve(c, MATCHED);
            }
            Note::Cancelled if c.state == QUEUED => self.resolve(c, CANCELLED),
            Note::Gone { .. } => self.resolve(c, GONE),
            // Once matched a user only waits for the run to end; partners
            // in other processes may close first.
            _ => {}
        }
    }

    fn tick(&mut self, _conns: &mut [Conn], ctx: &mut Ctx, _ready: bool) -> Flow {
        if self.resolved >= self.users || ctx.now >= self.end { Flow::Finish } else { Flow::Continue }
    }

    fn finish(&mut self, conns: &mut [Conn], ctx: &mut Ctx) {
        let waiting = conns.iter().filter(|c| c.state == QUEUED).count() as u64;
        ctx.out.counters.unmatched += waiting;
        if waiting > 0 {
            ctx.sample(format_args!(
                "{waiting} users still waiting when the run stopped (raise --max-wait-secs?)"
            ));
        }
    }
}
