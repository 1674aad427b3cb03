//! The one timer structure: a min-heap of deadlines owned by the reactor.
//!
//! Every timeout in the server (auth, ping, idle, close linger, match tiers
//! and timeout, resume grace) is an entry here; there is no thread per timer.
//! Entries are never cancelled: each carries enough to recognise itself as
//! stale when it fires (a connection generation, a queue ticket), which keeps
//! insertion O(log n) and removal free. The number of live entries is bounded
//! by a small constant per connection plus what rate-limited commands can
//! create within one timeout period.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::base::clock::Millis;

/// A heap entry; ordering uses only (deadline, seq) so `T` needs no `Ord`.
struct Entry<T> {
    /// When it is due (already one millisecond late, see `schedule`).
    at: Millis,
    /// Insertion order, so equal deadlines fire first-in first-out.
    seq: u64,
    /// What fires.
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Deadlines in firing order.
pub struct Timers<T> {
    /// Min-heap by (deadline, insertion order).
    heap: BinaryHeap<Reverse<Entry<T>>>,
    /// The last insertion number given out.
    seq: u64,
}

impl<T> Timers<T> {
    pub fn new() -> Timers<T> {
        Timers { heap: BinaryHeap::new(), seq: 0 }
    }

    /// Fires `item` once the clock has passed `at`. Deadlines are computed
    /// from a clock truncated to whole milliseconds, so one computed as
    /// `now + d` could come due up to 1 ms before `d` really elapsed; the
    /// extra millisecond makes a timer never fire early.
    pub fn schedule(&mut self, at: Millis, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { at: at + 1, seq: self.seq, item }));
    }

    /// The earliest deadline, if any: how long the reactor may sleep.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// Removes and returns one entry due at or before `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<T> {
        if self.heap.peek()?.0.at <= now { self.heap.pop().map(|e| e.0.item) } else { None }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_then_insertion_order() {
        let mut t = Timers::new();
        t.schedule(30, "c");
        t.schedule(10, "a");
        t.schedule(10, "b");
        assert_eq!(t.next_deadline(), Some(11));
        assert_eq!(t.pop_due(10), None, "never before the deadline has passed");
        assert_eq!(t.pop_due(11), Some("a"));
        assert_eq!(t.pop_due(11), Some("b"));
        assert_eq!(t.pop_due(30), None);
        assert_eq!(t.pop_due(100), Some("c"));
        assert!(t.is_empty());
    }
}
