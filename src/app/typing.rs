//! `TYPING` coalescing (contract section 7), one user's side of a room.
//!
//! A typing indicator is state, not a stream: the partner needs the latest
//! value, not every toggle. A change is relayed only when it differs from
//! what was last relayed (initially "not typing"), and at most
//! [`PER_WINDOW`] times in any [`WINDOW_MS`]; a change held back by that
//! bound is relayed by a timer as soon as the bound allows, so the partner
//! always ends up seeing the latest state. One hostile client can no longer
//! fill its partner's socket with indicators.

use crate::base::clock::Millis;

/// The sliding window of the relay bound.
pub const WINDOW_MS: Millis = 1000;
/// Relays per window at most (the two slots of `Typing::until`).
pub const PER_WINDOW: usize = 2;

/// 26 bytes per room member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Typing {
    /// The state the partner was last shown.
    relayed: bool,
    /// The state the user last sent.
    wanted: bool,
    /// A timer will call [`Typing::retry`]; no second one is scheduled.
    pending: bool,
    /// When each of the last two relays stops counting against the bound,
    /// oldest first (0: a slot never used).
    until: [Millis; PER_WINDOW],
}

/// What the caller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Relay this state to the partner now.
    Relay(bool),
    /// Call [`Typing::retry`] at this time.
    RetryAt(Millis),
    /// Nothing to relay (no change, or a retry is already scheduled).
    Nothing,
}

impl Typing {
    /// The user sent `TYPING {isTyping}`.
    pub fn set(&mut self, is_typing: bool, now: Millis) -> Step {
        self.wanted = is_typing;
        self.step(now)
    }

    /// The partner's client starts over (a resume or a new socket): it
    /// shows "not typing", whatever was relayed to the socket before, so
    /// the latest state is relayed again if it is "typing".
    pub fn partner_reset(&mut self, now: Millis) -> Step {
        self.relayed = false;
        self.step(now)
    }

    /// The scheduled retry came due.
    pub fn retry(&mut self, now: Millis) -> Step {
        self.pending = false;
        self.step(now)
    }

    fn step(&mut self, now: Millis) -> Step {
        if self.wanted == self.relayed {
            return Step::Nothing;
        }
        if now >= self.until[0] {
            self.relayed = self.wanted;
            self.until = [self.until[1], now + WINDOW_MS];
            return Step::Relay(self.relayed);
        }
        if self.pending {
            return Step::Nothing;
        }
        self.pending = true;
        Step::RetryAt(self.until[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_false_is_not_relayed_and_repeats_are_not_either() {
        let mut t = Typing::default();
        assert_eq!(t.set(false, 5), Step::Nothing);
        assert_eq!(t.set(true, 5), Step::Relay(true));
        assert_eq!(t.set(true, 6), Step::Nothing);
    }

    #[test]
    fn at_most_two_relays_a_second_then_the_latest_state_when_allowed() {
        let mut t = Typing::default();
        assert_eq!(t.set(true, 100), Step::Relay(true));
        assert_eq!(t.set(false, 150), Step::Relay(false));
        assert_eq!(t.set(true, 200), Step::RetryAt(1100));
        assert_eq!(t.set(false, 250), Step::Nothing, "no change from what was relayed; timer pending");
        assert_eq!(t.set(true, 300), Step::Nothing, "a retry is already scheduled");
        assert_eq!(t.retry(1100), Step::Relay(true), "the latest state, as soon as the bound allows");
        assert_eq!(t.set(false, 1120), Step::RetryAt(1150));
        assert_eq!(t.retry(1150), Step::Relay(false));
    }

    #[test]
    fn a_partner_that_starts_over_is_shown_typing_again() {
        let mut t = Typing::default();
        assert_eq!(t.set(true, 0), Step::Relay(true));
        assert_eq!(t.partner_reset(5000), Step::Relay(true));
        let mut idle = Typing::default();
        assert_eq!(idle.partner_reset(0), Step::Nothing);
    }

    #[test]
    fn a_retry_that_finds_no_change_relays_nothing() {
        let mut t = Typing::default();
        t.set(true, 0);
        t.set(false, 1);
        assert_eq!(t.set(true, 2), Step::RetryAt(1000));
        t.set(false, 3);
        assert_eq!(t.retry(1000), Step::Nothing);
    }
}
