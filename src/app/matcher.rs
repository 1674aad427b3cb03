//! Matchmaking queues.
//!
//! Pure data structure: no I/O, no clocks (time arrives as `now_ms`), no locks
//! (the caller serialises access). Pairing rules, from the wire contract:
//!
//! * a user waits in at most one of five queues (four moods + the `random`
//!   pool, which the caller uses for cross-mood pairing);
//! * tier 1 (waited < `tier1_ms`): partner only with an equal interest set
//!   (two empty sets are equal);
//! * tier 2: at least one shared interest, or anyone when either side has none;
//! * a pair is judged by the tier of whichever of the two waited longer;
//! * among eligible partners: most shared interests, then longest wait;
//! * pairs the caller's `excluded` predicate rejects are never made.
//!
//! Invariants:
//! * every waiter is in exactly one queue: in its `order`, and in `bare` xor
//!   (`by_set` and the `by_tag` entry of each of its interests);
//! * tickets grow with join order and join times never decrease (the clock is
//!   clamped), so tier-2 waiters are exactly the tickets below one boundary,
//!   i.e. a prefix of every ticket-ordered index. A join therefore never scans
//!   the queue: it costs O(|interests| log n) plus the tier-2 waiters sharing
//!   an interest, plus one `excluded` call per candidate rejected.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// Which queue a waiter is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKey {
    Chill,
    Fire,
    Silly,
    Shy,
    Random,
}

impl QueueKey {
    pub const ALL: [QueueKey; 5] =
        [QueueKey::Chill, QueueKey::Fire, QueueKey::Silly, QueueKey::Shy, QueueKey::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueKey::Chill => "chill",
            QueueKey::Fire => "fire",
            QueueKey::Silly => "silly",
            QueueKey::Shy => "shy",
            QueueKey::Random => "random",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A match made by `join` or `retry`; both users are already dequeued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair<K> {
    /// Where they met, for the room and the reply.
    pub queue: QueueKey,
    /// The user whose join or retry produced the match.
    pub joiner: K,
    /// The waiter chosen for them.
    pub partner: K,
    /// As they queued (sorted), for the room view.
    pub joiner_interests: Vec<String>,
    /// As they queued (sorted), for the room view.
    pub partner_interests: Vec<String>,
    /// Interests both have, sorted, for the match announcement.
    pub shared: Vec<String>,
}

/// What `join` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined<K> {
    /// Names this wait, so the caller can tell its timers from stale ones.
    pub ticket: u64,
    /// Queue length right after insertion, joiner included.
    pub waiting: usize,
    /// Set if the join matched at once.
    pub pair: Option<Pair<K>>,
}

/// Interest strings as small ids, so waiters and indexes hold `u32`s rather
/// than strings. Reference-counted so user-chosen tags cannot grow it forever.
#[derive(Default)]
struct Interner {
    /// Lookup on join.
    ids: HashMap<Box<str>, u32>,
    /// Id -> (name for building a `Pair`, waiters holding it); "" when free.
    names: Vec<(Box<str>, u32)>,
    /// Freed ids to reuse, keeping `names` dense.
    free: Vec<u32>,
}

impl Interner {
    fn intern(&mut self, s: String) -> u32 {
        if let Some(&id) = self.ids.get(s.as_str()) {
            self.names[id as usize].1 += 1;
            return id;
        }
        let name = s.into_boxed_str();
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.names.push(Default::default());
                u32::try_from(self.names.len() - 1).expect("fewer than 2^32 distinct tags")
            }
        };
        self.names[id as usize] = (name.clone(), 1);
        self.ids.insert(name, id);
        id
    }

    fn release(&mut self, id: u32) {
        let slot = &mut self.names[id as usize];
        slot.1 -= 1;
        if slot.1 == 0 {
            self.ids.remove(&std::mem::take(&mut slot.0));
            self.free.push(id);
        }
    }

    /// Sorted names of `ids`.
    fn names(&self, ids: &[u32]) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().map(|&t| self.names[t as usize].0.to_string()).collect();
        v.sort_unstable();
        v
    }
}

/// One queue's indexes. They hold tickets, so each iterates in join (= time)
/// order, at 8 bytes an entry whatever the size of `K`.
#[derive(Default)]
struct Queue {
    /// Every waiter: `len`, and the oldest-first walk for no-interest joiners.
    order: BTreeSet<u64>,
    /// Waiters without interests: eligible for anyone in tier 2, and for each
    /// other in tier 1.
    bare: BTreeSet<u64>,
    /// Exact (sorted) interest set -> waiters: the tier-1 lookup.
    by_set: HashMap<Arc<[u32]>, Group>,
    /// Interest -> waiters having it: the tier-2 lookup.
    by_tag: HashMap<u32, BTreeSet<u64>>,
}

/// Waiters sharing one exact interest set, in ticket order. Nearly always a
/// single waiter (equal sets pair at once; only exclusions make more), so that
/// case is stored inline: no allocation per join.
enum Group {
    One(u64),
    /// Two or more.
    Many(Vec<u64>),
}

impl Group {
    fn as_slice(&self) -> &[u64] {
        match self {
            Group::One(t) => std::slice::from_ref(t),
            Group::Many(v) => v,
        }
    }

    fn push(&mut self, ticket: u64) {
        match self {
            Group::One(t) => *self = Group::Many(vec![*t, ticket]),
            Group::Many(v) => v.push(ticket),
        }
    }

    /// Remove `ticket`; true if the group is now empty.
    fn remove(&mut self, ticket: u64) -> bool {
        match self {
            Group::One(t) => *t == ticket,
            Group::Many(v) => {
                v.retain(|&t| t != ticket);
                if let [t] = v[..] {
                    *self = Group::One(t);
                }
                false
            }
        }
    }
}

/// Per-waiter state, kept small: when, where, and interest ids.
struct Waiter {
    /// Position in the ordered indexes; also handed to the caller.
    ticket: u64,
    /// Finds the indexes to clean up on leave.
    queue: QueueKey,
    /// Sorted, deduplicated interest ids; shared with the `by_set` key.
    tags: Arc<[u32]>,
}

/// The five matchmaking queues.
pub struct Matcher<K> {
    /// Wait after which a waiter is judged by tier-2 rules.
    tier1_ms: u64,
    /// Latest `now_ms` seen; clamping to it keeps join times monotonic in
    /// ticket order even if a caller's clock steps back.
    clock: u64,
    /// Next ticket to hand out; starts at 1 so callers may use 0 as "none".
    next_ticket: u64,
    /// (join time, first ticket issued at it) for joins still in tier 1: turns
    /// "is this waiter tier 2" into a ticket comparison.
    epochs: VecDeque<(u64, u64)>,
    /// Indexed by `QueueKey::index`.
    queues: [Queue; 5],
    /// Everyone queued, for `leave`/`retry` by user.
    waiters: HashMap<K, Waiter>,
    /// Ticket -> user, to name the candidates the indexes yield. A B-tree:
    /// tickets arrive in order, so a join appends at its (cached) right edge.
    owners: BTreeMap<u64, K>,
    /// Interest strings shared by all queues.
    interner: Interner,
}

impl<K: Copy + Eq + Hash + Ord + Debug> Matcher<K> {
    pub fn new(tier1_ms: u64) -> Self {
        Matcher {
            tier1_ms,
            clock: 0,
            next_ticket: 1,
            epochs: VecDeque::new(),
            queues: Default::default(),
            waiters: HashMap::new(),
            owners: BTreeMap::new(),
            interner: Interner::default(),
        }
    }

    /// Insert `user` into `queue` (interests lower-case; sorted and
    /// deduplicated here), then try to pair them.
    pub fn join(
        &mut self,
        user: K,
        queue: QueueKey,
        mut interests: Vec<String>,
        now_ms: u64,
        excluded: &dyn Fn(K, K) -> bool,
    ) -> Joined<K> {
        debug_assert!(!self.waiters.contains_key(&user), "{user:?} already queued");
        // Release builds recover from that caller bug by re-queueing.
        self.leave(user);
        self.clock = self.clock.max(now_ms);
        interests.sort_unstable();
        interests.dedup();
        let mut ids = Vec::with_capacity(interests.len());
        for s in interests {
            ids.push(self.interner.intern(s));
        }
        ids.sort_unstable();
        let tags: Arc<[u32]> = ids.into();

        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if self.epochs.back().is_none_or(|&(ms, _)| ms < self.clock) {
            self.epochs.push_back((self.clock, ticket));
        }
        let q = &mut self.queues[queue.index()];
        q.order.insert(ticket);
        if tags.is_empty() {
            q.bare.insert(ticket);
        } else {
            for &tag in tags.iter() {
                q.by_tag.entry(tag).or_default().insert(ticket);
            }
            q.by_set.entry(Arc::clone(&tags)).and_modify(|g| g.push(ticket)).or_insert(Group::One(ticket));
        }
        let waiting = q.order.len();
        self.waiters.insert(user, Waiter { ticket, queue, tags });
        self.owners.insert(ticket, user);

        let pair = self.find(user, excluded).map(|p| self.pair(user, p));
        Joined { ticket, waiting, pair }
    }

    /// Re-run pairing for a waiter (e.g. when it crosses the tier-1 boundary).
    pub fn retry(&mut self, user: K, now_ms: u64, excluded: &dyn Fn(K, K) -> bool) -> Option<Pair<K>> {
        self.clock = self.clock.max(now_ms);
        let partner = self.find(user, excluded)?;
        Some(self.pair(user, partner))
    }

    /// Remove a waiter; returns where it was and its ticket.
    pub fn leave(&mut self, user: K) -> Option<(QueueKey, u64)> {
        let w = self.detach(user)?;
        for &t in w.tags.iter() {
            self.interner.release(t);
        }
        Some((w.queue, w.ticket))
    }

    pub fn ticket_of(&self, user: K) -> Option<u64> {
        self.waiters.get(&user).map(|w| w.ticket)
    }

    pub fn queue_of(&self, user: K) -> Option<QueueKey> {
        self.waiters.get(&user).map(|w| w.queue)
    }

    pub fn len(&self, queue: QueueKey) -> usize {
        self.queues[queue.index()].order.len()
    }

    pub fn total(&self) -> usize {
        self.waiters.len()
    }

    /// Every waiter and its ticket (for the hub's consistency repair).
    pub fn waiting(&self) -> impl Iterator<Item = (K, u64)> + '_ {
        self.waiters.iter().map(|(u, w)| (*u, w.ticket))
    }

    /// Tickets below the result have waited at least `tier1_ms` (tier 2).
    fn tier2_below(&mut self) -> u64 {
        while let Some(&(ms, _)) = self.epochs.front() {
            if self.clock - ms < self.tier1_ms {
                break;
            }
            self.epochs.pop_front();
        }
        self.epochs.front().map_or(self.next_ticket, |&(_, t)| t)
    }

    /// Best partner for `user`, or None. Candidates are visited in preference
    /// order and `excluded` is asked about each in turn.
    fn find(&mut self, user: K, excluded: &dyn Fn(K, K) -> bool) -> Option<K> {
        let tier2_below = self.tier2_below();
        let w = self.waiters.get(&user)?;
        let q = &self.queues[w.queue.index()];
        // Candidates below `cut` are judged by tier 2: the pair takes the
        // older waiter's tier, so if I am tier 2, everyone is. With no tier-2
        // waiter in the queue (the common case) `cut` is 0, which spares every
        // index a walk down its cold oldest edge.
        let mut cut = if w.ticket < tier2_below { u64::MAX } else { tier2_below };
        if q.order.first().is_none_or(|&t| t >= cut) {
            cut = 0;
        }
        let owner = |t: u64| *self.owners.get(&t).expect("indexed ticket has an owner");
        let ok = |t: &u64| *t != w.ticket && !excluded(user, owner(*t));
        let found = if w.tags.is_empty() {
            // Everyone shares 0, so oldest eligible wins: tier-2 waiters of
            // any kind, then younger empty sets.
            below(&q.order, cut).chain(q.bare.range(cut..).copied()).find(ok)
        } else {
            // Shared-interest counts over tier-2-judged waiters sharing a tag.
            let mut counts: HashMap<u64, u32> = HashMap::new();
            for set in w.tags.iter().filter_map(|tag| q.by_tag.get(tag)) {
                for t in below(set, cut) {
                    *counts.entry(t).or_default() += 1;
                }
            }
            let mut ranked: Vec<(u32, u64)> = counts.into_iter().map(|(t, c)| (c, t)).collect();
            ranked.sort_unstable_by_key(|&(c, t)| (Reverse(c), t));
            let full = u32::try_from(w.tags.len()).expect("tag count fits u32");
            let (top, rest) = ranked.split_at(ranked.partition_point(|&(c, _)| c == full));
            // Tier-1 equal sets share everything too, and are younger than
            // any tier-2 waiter, so they rank right after the full overlaps.
            let group = q.by_set.get(&w.tags).map_or(&[][..], Group::as_slice);
            let exact = &group[group.partition_point(|&t| t < cut)..];
            (top.iter().map(|r| r.1).chain(exact.iter().copied()))
                .chain(rest.iter().map(|r| r.1))
                .chain(below(&q.bare, cut))
                .find(ok)
        };
        found.map(owner)
    }

    /// Dequeue both and describe the match.
    fn pair(&mut self, joiner: K, partner: K) -> Pair<K> {
        let a = self.detach(joiner).expect("joiner is queued");
        let b = self.detach(partner).expect("partner came from an index");
        let mut shared = a.tags.to_vec();
        shared.retain(|t| b.tags.binary_search(t).is_ok());
        let pair = Pair {
            queue: a.queue,
            joiner,
            partner,
            joiner_interests: self.interner.names(&a.tags),
            partner_interests: self.interner.names(&b.tags),
            shared: self.interner.names(&shared),
        };
        for &t in a.tags.iter().chain(b.tags.iter()) {
            self.interner.release(t);
        }
        pair
    }

    /// Remove a waiter from every index; the caller releases its tags.
    fn detach(&mut self, user: K) -> Option<Waiter> {
        let w = self.waiters.remove(&user)?;
        self.owners.remove(&w.ticket);
        let q = &mut self.queues[w.queue.index()];
        q.order.remove(&w.ticket);
        if w.tags.is_empty() {
            q.bare.remove(&w.ticket);
            return Some(w);
        }
        // Empty entries are dropped so departed tags and sets leave no residue.
        for tag in w.tags.iter() {
            if let Some(set) = q.by_tag.get_mut(tag) {
                set.remove(&w.ticket);
                if set.is_empty() {
                    q.by_tag.remove(tag);
                }
            }
        }
        if q.by_set.get_mut(&w.tags).is_some_and(|g| g.remove(w.ticket)) {
            q.by_set.remove(&w.tags);
        }
        Some(w)
    }
}

/// The members of `set` below `cut`, without touching `set` when `cut` is 0.
fn below(set: &BTreeSet<u64>, cut: u64) -> impl Iterator<Item = u64> + '_ {
    (cut > 0).then(|| set.range(..cut)).into_iter().flatten().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: u64 = 30_000;

    fn never(_: u32, _: u32) -> bool {
        false
    }

    fn tags(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    /// Join Chill with nothing excluded.
    fn join_pair(m: &mut Matcher<u32>, u: u32, xs: &[&str], now: u64) -> Option<Pair<u32>> {
        m.join(u, QueueKey::Chill, tags(xs), now, &never).pair
    }

    fn join(m: &mut Matcher<u32>, u: u32, xs: &[&str], now: u64) -> Option<u32> {
        join_pair(m, u, xs, now).map(|p| p.partner)
    }

    fn retry(m: &mut Matcher<u32>, u: u32, now: u64) -> Option<u32> {
        m.retry(u, now, &never).map(|p| p.partner)
    }

    #[test]
    fn tier1_pairs_only_equal_interest_sets() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["music", "art"], 0), None);
        assert_eq!(join(&mut m, 2, &["music"], 10), None);
        assert_eq!(join(&mut m, 3, &["music", "art", "film"], 20), None);
        let p = join_pair(&mut m, 4, &["music", "art"], 30).expect("equal sets pair");
        assert_eq!((p.joiner, p.partner, p.queue), (4, 1, QueueKey::Chill));
        assert_eq!((&p.shared, &p.partner_interests), (&p.joiner_interests, &p.shared));
        assert_eq!(p.shared, tags(&["art", "music"]));
        assert_eq!(m.total(), 2);
    }

    #[test]
    fn tier1_two_empty_sets_pair_but_empty_does_not_pair_with_nonempty() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["music"], 0), None);
        assert_eq!(join(&mut m, 2, &[], 0), None);
        assert_eq!(join(&mut m, 3, &[], 1), Some(2));
    }

    #[test]
    fn tier2_retry_pairs_on_one_shared_interest() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["music", "art"], 0), None);
        assert_eq!(join(&mut m, 2, &["music", "film"], 0), None);
        assert_eq!(retry(&mut m, 1, T1 - 1), None);
        let p = m.retry(1, T1, &never).expect("one shared tag");
        assert_eq!((p.joiner, p.partner, p.shared), (1, 2, tags(&["music"])));
        assert_eq!(m.total(), 0);
    }

    #[test]
    fn tier2_empty_set_pairs_with_anyone_but_disjoint_sets_do_not() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["music"], 0), None);
        assert_eq!(join(&mut m, 2, &["art"], 0), None);
        assert_eq!(retry(&mut m, 1, T1), None);
        assert_eq!(join(&mut m, 3, &[], T1), Some(1));
    }

    #[test]
    fn pair_is_judged_by_the_longer_waiter() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["music", "art"], 0), None);
        assert_eq!(join(&mut m, 2, &["film"], T1), None);
        assert_eq!(join(&mut m, 3, &["music"], T1), Some(1));
        // A fresh empty-set joiner takes a tier-2 waiter too.
        assert_eq!(join(&mut m, 4, &[], 2 * T1), Some(2));
    }

    #[test]
    fn prefers_most_shared_then_longest_wait() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["x", "p"], 0), None);
        assert_eq!(join(&mut m, 2, &["x", "y", "q"], 1), None);
        assert_eq!(join(&mut m, 3, &["x", "y", "r"], 2), None);
        assert_eq!(join(&mut m, 4, &["x", "y", "s"], 3), None);
        assert_eq!(join(&mut m, 5, &[], 4), None);
        assert_eq!(join(&mut m, 10, &["x", "y", "z"], T1 + 5), Some(2));
        assert_eq!(join(&mut m, 11, &["y", "x"], T1 + 5), Some(3));
        assert_eq!(join(&mut m, 12, &["x"], T1 + 5), Some(1));
        assert_eq!(join(&mut m, 13, &["y"], T1 + 5), Some(4));
        // Nobody shares "w": fall back to the no-interest waiter.
        assert_eq!(join(&mut m, 14, &["w"], T1 + 5), Some(5));
    }

    #[test]
    fn equal_sets_rank_with_tier2_overlaps_by_shared_count_then_wait() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &["x", "y"], 0), None);
        assert_eq!(join(&mut m, 2, &["x"], 1), None);
        // 1 (tier 2 superset) shares as much as 2 (tier 1, equal) and is older.
        assert_eq!(join(&mut m, 3, &["x"], T1), Some(1));
        assert_eq!(join(&mut m, 4, &["x"], T1), Some(2));
        // An equal tier-1 set shares more than an older tier-2 partial overlap.
        assert_eq!(join(&mut m, 5, &["x", "z"], T1), None);
        assert_eq!(join(&mut m, 6, &["x", "y"], T1 + 1), None);
        assert_eq!(join(&mut m, 7, &["y", "x"], 2 * T1), Some(6));
    }

    #[test]
    fn excluded_candidate_is_skipped_for_the_next() {
        let mut m = Matcher::new(T1);
        let not = |x: u32, y: u32| move |a: u32, b: u32| (a.min(b), a.max(b)) == (x, y);
        let mut join = |u, ex: &dyn Fn(u32, u32) -> bool| m.join(u, QueueKey::Shy, tags(&["x"]), 0, ex).pair;
        assert_eq!(join(1, &not(1, 2)), None);
        assert_eq!(join(2, &not(1, 2)), None);
        assert_eq!(join(3, &not(1, 3)).map(|p| p.partner), Some(2));
        assert_eq!(m.queue_of(1), Some(QueueKey::Shy));
    }

    #[test]
    fn queues_are_separate_and_random_pool_pairs_across_moods() {
        let mut m = Matcher::new(T1);
        let mut join = |u, q, now| m.join(u, q, vec![], now, &never).pair.map(|p| (p.queue, p.partner));
        assert_eq!(join(1, QueueKey::Chill, 0), None);
        assert_eq!(join(2, QueueKey::Fire, 0), None);
        assert_eq!(join(3, QueueKey::Fire, 5 * T1), Some((QueueKey::Fire, 2)));
        // Callers put users of any mood who asked for random into the pool.
        assert_eq!(join(4, QueueKey::Random, 5 * T1), None);
        assert_eq!(join(5, QueueKey::Random, 5 * T1), Some((QueueKey::Random, 4)));
        assert_eq!(retry(&mut m, 1, 9 * T1), None);
        assert_eq!((m.len(QueueKey::Chill), m.total()), (1, 1));
    }

    #[test]
    fn waiting_counts_the_queue_after_insertion() {
        let mut m = Matcher::new(T1);
        let counts: Vec<usize> = [(1, "a"), (2, "b"), (3, "a")]
            .into_iter()
            .map(|(u, t)| m.join(u, QueueKey::Silly, tags(&[t]), 0, &never).waiting)
            .collect();
        assert_eq!(counts, vec![1, 2, 3]);
        assert_eq!((m.len(QueueKey::Silly), m.total()), (1, 1));
    }

    #[test]
    fn leave_removes_from_every_index() {
        let mut m = Matcher::new(T1);
        let t = m.join(1, QueueKey::Chill, tags(&["x"]), 0, &never).ticket;
        assert_eq!(join(&mut m, 2, &[], 0), None);
        assert_eq!(m.leave(1), Some((QueueKey::Chill, t)));
        assert_eq!(m.leave(2).map(|l| l.0), Some(QueueKey::Chill));
        assert_eq!((m.leave(1), m.ticket_of(1)), (None, None));
        // Had 1 or 2 lingered in any index (both tier 2 now), these would pair.
        assert_eq!(join(&mut m, 3, &["x"], T1), None);
        assert_eq!(join(&mut m, 4, &[], T1), None);
        assert_eq!(retry(&mut m, 4, 9 * T1), Some(3));
        assert_eq!((m.total(), m.interner.ids.len()), (0, 0));
    }

    #[test]
    fn tickets_increase() {
        let mut m = Matcher::new(T1);
        let a = m.join(1, QueueKey::Chill, tags(&["a"]), 0, &never).ticket;
        let b = m.join(2, QueueKey::Fire, tags(&["a"]), 0, &never).ticket;
        m.leave(1);
        let c = m.join(1, QueueKey::Chill, tags(&["a"]), 0, &never).ticket;
        assert!(0 < a && a < b && b < c);
        assert_eq!(m.ticket_of(1), Some(c));
    }

    #[test]
    fn never_pairs_a_user_with_themself() {
        let mut m = Matcher::new(T1);
        assert_eq!(join(&mut m, 1, &[], 0), None);
        assert_eq!(retry(&mut m, 1, 10 * T1), None);
        assert_eq!(retry(&mut m, 9, 10 * T1), None);
        assert_eq!(m.queue_of(1), Some(QueueKey::Chill));
    }

    /// A queued user as the stress test's model sees it.
    #[derive(Clone)]
    struct Model {
        /// Which queue it waits in.
        queue: QueueKey,
        /// Its interests.
        tags: Vec<String>,
        /// When it joined.
        since: u64,
        /// Its wait's ticket.
        ticket: u64,
    }

    /// Brute-force oracle for the rules: `b`'s rank as a partner for `a`
    /// (higher is better), or None if not eligible.
    fn rank(a: &Model, b: &Model, now: u64) -> Option<(usize, Reverse<u64>)> {
        let shared = a.tags.iter().filter(|t| b.tags.contains(t)).count();
        let tier2 = now - a.since.min(b.since) >= T1;
        let any = shared > 0 || a.tags.is_empty() || b.tags.is_empty();
        let ok = if tier2 { any } else { a.tags == b.tags };
        (ok && a.queue == b.queue && a.ticket != b.ticket).then_some((shared, Reverse(b.ticket)))
    }

    #[test]
    fn stress_random_joins_and_leaves_keep_invariants_and_rules() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let excluded = |a: u32, b: u32| (a + b).is_multiple_of(7);
        let mut m = Matcher::new(T1);
        let mut model: HashMap<u32, Model> = HashMap::new();
        let (mut now, mut pairs) = (0, 0);
        for _ in 0..10_000 {
            now += rnd(200);
            let user = rnd(1000) as u32;
            let pair = match model.get(&user) {
                Some(me) if rnd(3) > 0 => {
                    assert_eq!(m.leave(user), Some((me.queue, me.ticket)));
                    model.remove(&user);
                    None
                }
                Some(_) => m.retry(user, now, &excluded),
                None => {
                    let queue = QueueKey::ALL[rnd(5) as usize];
                    let mut tags: Vec<_> = (0..rnd(4)).map(|_| format!("t{}", rnd(12))).collect();
                    tags.sort();
                    tags.dedup();
                    let j = m.join(user, queue, tags.clone(), now, &excluded);
                    assert_eq!(j.waiting, m.len(queue) + 2 * usize::from(j.pair.is_some()));
                    let (since, ticket) = (now, j.ticket);
                    model.insert(user, Model { queue, tags, since, ticket });
                    j.pair
                }
            };
            if let Some(me) = model.get(&user).cloned() {
                // Whatever happened, no better partner may have been passed over.
                let best = |c: &u32| rank(&me, &model[c], now).filter(|_| !excluded(user, *c));
                let want = model.keys().filter_map(|c| Some((best(c)?, *c))).max();
                assert_eq!(want.map(|w| w.1), pair.as_ref().map(|p| p.partner), "{user}");
                if let Some(p) = pair {
                    let other = model.remove(&p.partner).expect("partner was queued");
                    let mut shared = me.tags.clone();
                    shared.retain(|t| other.tags.contains(t));
                    assert_eq!((p.joiner, p.queue, p.shared), (user, me.queue, shared));
                    assert_eq!((p.joiner_interests, p.partner_interests), (me.tags, other.tags));
                    model.remove(&user);
                    pairs += 1;
                }
            }
            let lens: usize = QueueKey::ALL.iter().map(|&q| m.len(q)).sum();
            assert_eq!((m.total(), lens), (model.len(), model.len()));
        }
        for (&u, e) in &model {
            assert_eq!((m.queue_of(u), m.ticket_of(u)), (Some(e.queue), Some(e.ticket)));
        }
        assert!(pairs > 1000, "too few pairs to mean much: {pairs}");
    }
}
