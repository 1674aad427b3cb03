//! Who may not be paired with whom: rematch cooldowns and reported pairs.
//!
//! Bounds: at most `max_cooldowns` cooldown pairs (`--max-cooldown-pairs`);
//! past it the oldest cooldown ends early and the caller counts it. Every
//! cooldown lasts the same, so start order is expiry order: expired pairs
//! are dropped from the front as new ones arrive, with no scan. Reported
//! pairs (`never`) grow with reports, each of which needs a room.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::base::clock::Millis;
use crate::store::UserId;

fn pair_key(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b { (a, b) } else { (b, a) }
}

/// The pair rules the matcher consults.
#[derive(Debug)]
pub struct PairRules {
    /// Pair (smaller id first) → end of its rematch cooldown.
    cooldowns: HashMap<(UserId, UserId), Millis>,
    /// The same pairs, oldest first, with the end they were given; an
    /// entry whose end no longer matches the map's is stale and skipped.
    order: VecDeque<((UserId, UserId), Millis)>,
    /// Most cooldowns kept at once.
    max_cooldowns: usize,
    /// Pairs where one reported the other: never again. Grows with
    /// reports, which need a room each.
    never: HashSet<(UserId, UserId)>,
}

impl PairRules {
    pub fn new(max_cooldowns: usize) -> PairRules {
        PairRules {
            cooldowns: HashMap::new(),
            order: VecDeque::new(),
            max_cooldowns: max_cooldowns.max(1),
            never: HashSet::new(),
        }
    }

    pub fn excluded(&self, a: UserId, b: UserId, now: Millis) -> bool {
        let key = pair_key(a, b);
        self.never.contains(&key) || self.cooldowns.get(&key).is_some_and(|&t| t > now)
    }

    /// Starts a cooldown; returns how many live cooldowns the bound ended
    /// early to make room.
    pub fn cool_down(&mut self, a: UserId, b: UserId, until: Millis, now: Millis) -> u64 {
        let key = pair_key(a, b);
        self.cooldowns.insert(key, until);
        self.order.push_back((key, until));
        let mut cut = 0;
        while let Some(&(key, end)) = self.order.front() {
            let over = self.cooldowns.len() > self.max_cooldowns;
            if end > now && !over {
                break;
            }
            self.order.pop_front();
            if self.cooldowns.get(&key) == Some(&end) {
                self.cooldowns.remove(&key);
                cut += u64::from(end > now);
            }
        }
        cut
    }

    /// Cooldown pairs held now (expired ones linger until the next start).
    pub fn cooldowns(&self) -> usize {
        self.cooldowns.len()
    }

    pub fn forbid(&mut self, a: UserId, b: UserId) {
        self.never.insert(pair_key(a, b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: UserId = UserId(1);
    const B: UserId = UserId(2);

    #[test]
    fn a_cooldown_holds_until_its_end_in_either_order() {
        let mut p = PairRules::new(10);
        assert_eq!(p.cool_down(A, B, 100, 0), 0);
        assert!(p.excluded(B, A, 99));
        assert!(!p.excluded(A, B, 100));
    }

    #[test]
    fn expired_cooldowns_are_dropped_as_new_ones_start() {
        let mut p = PairRules::new(1_000);
        for i in 0..500u128 {
            // Each lasts 10 ms and one starts every ms: about 10 are live.
            let now = i as Millis;
            assert_eq!(p.cool_down(UserId(i), UserId(i + 10_000), now + 10, now), 0);
            assert!(p.cooldowns() <= 11, "expired pairs linger: {}", p.cooldowns());
        }
    }

    #[test]
    fn past_the_bound_the_oldest_cooldown_ends_early_and_is_counted() {
        let mut p = PairRules::new(2);
        p.cool_down(A, B, 1_000, 0);
        p.cool_down(A, UserId(3), 1_000, 1);
        assert_eq!(p.cool_down(A, UserId(4), 1_000, 2), 1);
        assert_eq!(p.cooldowns(), 2);
        assert!(!p.excluded(A, B, 3), "the oldest went");
        assert!(p.excluded(A, UserId(3), 3) && p.excluded(A, UserId(4), 3));
    }

    #[test]
    fn reported_pairs_are_never_paired_again() {
        let mut p = PairRules::new(1);
        p.forbid(B, A);
        assert!(p.excluded(A, B, u64::MAX));
    }
}
