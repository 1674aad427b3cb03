//! `idle`: register and authenticate every connection, then hold them
//! (the connection answers the server's pings by itself) for --hold-secs
//! after the last one is ready. Memory figures are read by the parent.
//!
//! With `--chat-pairs P` the hold ends at `--chat-at-secs` on the shared
//! clock instead, and then P pairs of the *held* connections (no new
//! sockets) join the queue with an interest of their own and chat as the
//! `chat` scenario does, over a window every process agrees on; lost,
//! duplicated and reordered messages and latency are counted as there.

use crate::cli::IdleArgs;
use crate::client::conn::{Conn, Note, Phase};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};

use super::chat::{Chat, QUEUED, Window};
use super::ns;

pub struct Idle {
    hold_ns: u64,
    ready_at: u64,
    chat: Option<ChatPhase>,
}

/// The chat among held connections.
struct ChatPhase {
    chat: Chat,
    join_at: u64,
    joined: bool,
    pick: Pick,
}

/// Which pairs chat: pair k chats when `(a·k + b) mod n < chosen`, an
/// affine permutation of the n pairs (a coprime to n), so exactly `chosen`
/// pairs, spread over the whole range, and every process agrees.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    n: u64,
    a: u64,
    b: u64,
    chosen: u64,
}

impl Pick {
    pub fn new(users: usize, pairs: usize) -> Self {
        let n = (users / 2).max(1) as u64;
        let mut a = 0x9E37_79B9_7F4A_7C15 % n;
        while gcd(a.max(1), n) != 1 {
            a += 1;
        }
        Pick { n, a: a.max(1), b: 0x2545_F491 % n, chosen: (pairs as u64).min(n) }
    }

    /// Whether user `u`'s pair chats.
    pub fn chats(&self, u: u64) -> bool {
        let k = u / 2;
        k < self.n
            && ((u128::from(self.a) * u128::from(k) + u128::from(self.b)) % u128::from(self.n)) < u128::from(self.chosen)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Idle {
    /// `users` = this process's share; `total` = the whole run's users.
    pub fn new(a: &IdleArgs, t0: u64, users: usize) -> Self {
        let chat = (a.chat_pairs > 0).then(|| {
            let join_at = t0 + ns(a.chat_at_secs);
            let send_start = join_at + ns(a.chat_match_secs);
            let send_end = send_start + ns(a.chat_secs);
            let w = Window { send_start, send_end, drain_end: send_end + ns(a.chat_drain_secs) };
            ChatPhase {
                chat: Chat::over(w, a.chat_rate, 1.0, users, true),
                join_at,
                joined: false,
                pick: Pick::new(a.conns, a.chat_pairs),
            }
        });
        Idle { hold_ns: ns(a.hold_secs), ready_at: 0, chat }
    }
}

impl Behavior for Idle {
    fn register_body(&mut self, _c: &mut Conn, ctx: &mut Ctx) {
        ctx.json.extend_from_slice(br#"{"mood":"chill"}"#);
    }

    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note) {
        if let Some(p) = &mut self.chat
            && p.joined
            && note != Note::Authed
        {
            p.chat.on_note(c, ctx, note);
        }
    }

    fn on_timer(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        if let Some(p) = &mut self.chat {
            p.chat.on_timer(c, ctx);
        }
    }

    fn tick(&mut self, conns: &mut [Conn], ctx: &mut Ctx, ready: bool) -> Flow {
        if ready && self.ready_at == 0 {
            self.ready_at = ctx.now;
        }
        let Some(p) = &mut self.chat else {
            return if self.ready_at != 0 && ctx.now >= self.ready_at + self.hold_ns {
                Flow::Finish
            } else {
                Flow::Continue
            };
        };
        if !p.joined && ctx.now >= p.join_at {
            p.joined = true;
            let mut joined = 0;
            for c in conns.iter_mut() {
                if c.phase == Phase::Ready && p.pick.chats(c.user) {
                    let join = format!(r#"{{"mood":"chill","interests":["pair{}"]}}"#, c.user / 2);
                    c.join(ctx, &join);
                    c.state = QUEUED;
                    joined += 1;
                }
            }
            // The joins sit in each connection's buffer: flush them all.
            ctx.touched_all = joined > 0;
        }
        p.chat.tick(conns, ctx, ready)
    }

    fn finish(&mut self, conns: &mut [Conn], ctx: &mut Ctx) {
        if let Some(p) = &mut self.chat {
            p.chat.finish(conns, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_chooses_exactly_that_many_whole_pairs() {
        for (users, pairs) in [(15_000, 5_000), (1_000_000, 5_000), (7, 2), (10, 5), (10, 0)] {
            let p = Pick::new(users, pairs);
            let chosen: Vec<u64> = (0..users as u64).filter(|&u| p.chats(u)).collect();
            assert_eq!(chosen.len(), 2 * pairs.min(users / 2), "{users} {pairs}");
            assert!(chosen.chunks(2).all(|w| w[0] % 2 == 0 && w[1] == w[0] + 1));
        }
        // Spread out, not the first pairs.
        let p = Pick::new(1_000_000, 5_000);
        assert!((0..10_000u64).filter(|&u| p.chats(u)).count() < 1_000);
    }
}
