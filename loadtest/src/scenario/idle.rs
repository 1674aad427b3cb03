//! `idle`: register and authenticate every connection, then hold them
//! (the connection answers the server's pings by itself) for --hold-secs
//! after the last one is ready. Memory figures are read by the parent.
//!
//! With `--chat-pairs P` the parent decides when the hold ends: once every
//! process is ready it writes the join time (`--hold-secs` after that
//! moment, on the shared monotonic clock) into the go file, which each
//! process reads about once a second. Then P pairs of the *held*
//! connections (no new sockets) join the queue with an interest of their
//! own and chat as the `chat` scenario does, over a window every process
//! agrees on; lost, duplicated and reordered messages and latency are
//! counted as there.

use std::path::PathBuf;

use crate::cli::IdleArgs;
use crate::client::conn::{Conn, Note, Phase, Req};
use crate::client::ctx::Ctx;
use crate::client::driver::{Behavior, Flow};

use super::chat::{Chat, QUEUED, Window};
use super::ns;

pub struct Idle {
    hold_ns: u64,
    retries: u8,
    /// Slots to open again and when (a failed handshake's backoff).
    retry_at: Vec<(u64, u32)>,
    ready_at: u64,
    chat: Option<ChatPhase>,
}

/// The chat among held connections.
struct ChatPhase {
    /// Built when the join time is known.
    chat: Option<Chat>,
    /// When the pairs join (0 = not known yet).
    join_at: u64,
    joined: bool,
    go_file: Option<PathBuf>,
    next_look: u64,
    match_ns: u64,
    send_ns: u64,
    drain_ns: u64,
    rate: f64,
    users: usize,
    pick: Pick,
}

impl ChatPhase {
    /// The join time from the go file, once the parent has written it.
    fn read_go(&mut self, now: u64) -> Option<u64> {
        if now < self.next_look {
            return None;
        }
        self.next_look = now + GO_LOOK_NS;
        let path = self.go_file.as_ref()?;
        // Written whole (a rename), so a partial read cannot happen; an
        // unreadable or absent file just means "not yet".
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

/// Conn::state of a chosen user waiting for its moment to join (the chat
/// scenario's states are 1 to 3).
const JOIN_PENDING: u8 = 9;

/// The first retry's backoff; each next one doubles it.
const RETRY_BASE_NS: u64 = 1_000_000_000;

/// How often a process looks at the go file.
const GO_LOOK_NS: u64 = 500_000_000;

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
            && ((u128::from(self.a) * u128::from(k) + u128::from(self.b)) % u128::from(self.n))
                < u128::from(self.chosen)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Idle {
    /// `users` = this process's share; `go_file` = where the parent writes
    /// the join time (with --chat-pairs).
    pub fn new(a: &IdleArgs, users: usize, go_file: Option<PathBuf>) -> Self {
        let chat = (a.chat_pairs > 0).then(|| ChatPhase {
            chat: None,
            join_at: 0,
            joined: false,
            go_file,
            next_look: 0,
            match_ns: ns(a.chat_match_secs),
            send_ns: ns(a.chat_secs),
            drain_ns: ns(a.chat_drain_secs),
            rate: a.chat_rate,
            users,
            pick: Pick::new(a.conns, a.chat_pairs),
        });
        Idle {
            hold_ns: ns(a.hold_secs),
            retries: a.handshake_retries,
            retry_at: Vec::new(),
            ready_at: 0,
            chat,
        }
    }
}

impl Behavior for Idle {
    fn register_body(&mut self, _c: &mut Conn, ctx: &mut Ctx) {
        ctx.json.extend_from_slice(br#"{"mood":"chill"}"#);
    }

    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note) {
        if note == Note::Refused(Req::Auth) && c.retries < self.retries && self.ready_at == 0 {
            // AUTH answered ERROR (UNAVAILABLE while a node finds Redis
            // away): the socket would wait for its handshake deadline;
            // end it now so the slot is tried again (below).
            c.phase = Phase::Done;
            c.clean = false;
            return;
        }
        if note == (Note::Gone { clean: false })
            && !c.authed
            && c.retries < self.retries
            && self.ready_at == 0
        {
            // A failed handshake (a connection storm, a Redis stall):
            // the driver opens the slot again.
            // Back off 1, 2, 4, ... s (+ up to 1 s of jitter), so that a
            // stall of a few seconds does not use up every retry.
            c.retries += 1;
            ctx.out.counters.handshake_retries += 1;
            let backoff = RETRY_BASE_NS << (c.retries - 1).min(6);
            self.retry_at.push((ctx.now + backoff + ctx.rng.below(RETRY_BASE_NS), c.idx));
            ctx.reopen_later = self.retry_at.len();
            return;
        }
        if let Some(chat) = self.chat.as_mut().and_then(|p| p.chat.as_mut())
            && note != Note::Authed
        {
            chat.on_note(c, ctx, note);
        }
    }

    fn on_timer(&mut self, c: &mut Conn, ctx: &mut Ctx) {
        if c.state == JOIN_PENDING {
            let join = format!(r#"{{"mood":"chill","interests":["pair{}"]}}"#, c.user / 2);
            c.join(ctx, &join);
            c.state = QUEUED;
            return;
        }
        if let Some(chat) = self.chat.as_mut().and_then(|p| p.chat.as_mut()) {
            chat.on_timer(c, ctx);
        }
    }

    fn tick(&mut self, conns: &mut [Conn], ctx: &mut Ctx, ready: bool) -> Flow {
        if !self.retry_at.is_empty() {
            let now = ctx.now;
            self.retry_at.retain(|&(at, idx)| {
                if at <= now {
                    ctx.reopen.push(idx);
                }
                at > now
            });
            ctx.reopen_later = self.retry_at.len();
        }
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
        if p.chat.is_none() {
            let Some(join_at) = p.read_go(ctx.now) else {
                return Flow::Continue;
            };
            let send_start = join_at + p.match_ns;
            let send_end = send_start + p.send_ns;
            let w = Window { send_start, send_end, drain_end: send_end + p.drain_ns };
            p.chat = Some(Chat::over(w, p.rate, 1.0, p.users, true));
            p.join_at = join_at;
        }
        if !p.joined && ctx.now >= p.join_at {
            // Join time: each chosen user joins at a random moment of the
            // first half of the matching time, not all in one turn (10,000
            // join scripts at once stall Redis past the nodes' 500 ms call
            // timeout on a saturated machine).
            p.joined = true;
            let spread = (p.match_ns / 2).max(1);
            for c in conns.iter_mut() {
                if c.phase == Phase::Ready && p.pick.chats(c.user) {
                    c.state = JOIN_PENDING;
                    let at = ctx.now + ctx.rng.below(spread);
                    ctx.schedule(c, at);
                }
            }
        }
        match &mut p.chat {
            Some(chat) => chat.tick(conns, ctx, ready),
            None => Flow::Continue,
        }
    }

    fn finish(&mut self, conns: &mut [Conn], ctx: &mut Ctx) {
        if let Some(p) = &mut self.chat {
            match p.chat.as_mut() {
                Some(chat) => chat.finish(conns, ctx),
                None => {
                    ctx.out.counters.timeouts += 1;
                    ctx.sample(format_args!("the chat phase never started (no go from the parent)"));
                }
            }
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
