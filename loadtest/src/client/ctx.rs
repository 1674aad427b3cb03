//! What every connection of one driver shares: the clock reading of the
//! current turn, the result being built, reusable scratch buffers, the PRNG
//! and the timer heap. Passed by `&mut` next to the connection being worked
//! on, so neither needs to own the other.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use super::conn::{Conn, Note};
use crate::result::{MAX_SAMPLES, Outcome};
use crate::rng::Rng;

/// Timer kinds in the heap.
pub const KIND_DEADLINE: u8 = 0;
pub const KIND_TIMER: u8 = 1;

/// (due ns, slot, generation, kind), earliest first.
type Entry = Reverse<(u64, u32, u32, u8)>;

pub struct Ctx {
    /// Monotonic ns of the current turn (refreshed per event batch).
    pub now: u64,
    pub out: Outcome,
    /// Notes the connection being worked on raised for the scenario.
    pub notes: Vec<Note>,
    /// Scratch for one JSON message or request body.
    pub json: Vec<u8>,
    pub rng: Rng,
    /// `Host` header value.
    pub host: String,
    /// Send the upgrade right behind the register request.
    pub pipeline: bool,
    /// Extra text bytes per chat message.
    pub pad: usize,
    /// Slots the scenario wants opened again (churn).
    pub reopen: Vec<u32>,
    /// Slots a scenario will hand to `reopen` later (a retry's backoff):
    /// the process is not ready while any wait.
    pub reopen_later: usize,
    /// Set by a scenario tick that queued output on arbitrary connections.
    pub touched_all: bool,
    timers: BinaryHeap<Entry>,
}

impl Ctx {
    pub fn new(seed: u64, host: String, pipeline: bool, pad: usize) -> Self {
        Ctx {
            now: crate::sys::mono_ns(),
            out: Outcome::default(),
            notes: Vec::with_capacity(16),
            json: Vec::with_capacity(4096),
            rng: Rng::new(seed),
            host,
            pipeline,
            pad,
            reopen: Vec::new(),
            reopen_later: 0,
            touched_all: false,
            timers: BinaryHeap::new(),
        }
    }

    /// Keeps the first few error descriptions (formatting only happens
    /// while there is room, so a flood of errors costs nothing extra).
    pub fn sample(&mut self, what: fmt::Arguments<'_>) {
        if self.out.samples.len() < MAX_SAMPLES {
            self.out.samples.push(what.to_string());
        }
    }

    /// Sets the connection's scenario timer (replacing an earlier one).
    pub fn schedule(&mut self, c: &mut Conn, at: u64) {
        c.timer_at = at.max(1);
        self.timers.push(Reverse((c.timer_at, c.idx, c.generation, KIND_TIMER)));
    }

    /// Sets the connection's deadline: if it is still there at `at`, the
    /// connection is dropped and counted as a timeout of `what`.
    pub fn set_deadline(&mut self, c: &mut Conn, at: u64, what: &'static str) {
        c.deadline_at = at.max(1);
        c.deadline_what = what;
        self.timers.push(Reverse((c.deadline_at, c.idx, c.generation, KIND_DEADLINE)));
    }

    /// Earliest pending timer, if any (stale ones included).
    pub fn next_due(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse(e)| e.0)
    }

    /// Pops one timer due at `now`: (due, slot, generation, kind).
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, u32, u32, u8)> {
        match self.timers.peek() {
            Some(Reverse(e)) if e.0 <= now => self.timers.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
