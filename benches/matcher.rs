//! A matcher join with 1k / 10k / 100k users waiting. The contract wants
//! the cost of a join to grow with the joiner's interests and the
//! candidates sharing them, not with queue length.
//!
//! Setup: waiters hold 4-5 distinct interests from a 200-tag vocabulary
//! and all joined "now" (tier 1); equal sets among them are kept apart by
//! the exclusion predicate during setup. The measured join uses 1-3 tags,
//! so it can find no exact-set partner and stays queued; it is then
//! removed again so the queue length is the same for every iteration.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use duet::app::matcher::{Matcher, QueueKey};

const VOCAB: usize = 200;

/// A small deterministic generator, so every run builds the same queues.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }

    /// `count` distinct tags.
    fn tags(&mut self, count: usize) -> Vec<String> {
        let mut v: Vec<String> = Vec::with_capacity(count);
        while v.len() < count {
            let t = format!("tag{}", self.next(VOCAB));
            if !v.contains(&t) {
                v.push(t);
            }
        }
        v.sort();
        v
    }
}

fn join(c: &mut Criterion) {
    let mut g = c.benchmark_group("matcher_join");
    let never = |_: u64, _: u64| false;
    let keep_apart = |_: u64, _: u64| true;
    for waiting in [1_000u64, 10_000, 100_000] {
        let mut rng = Lcg(7);
        let mut m: Matcher<u64> = Matcher::new(10_000);
        for user in 0..waiting {
            let n = 4 + rng.next(2);
            let tags = rng.tags(n);
            m.join(user, QueueKey::Chill, tags, 0, &keep_apart);
        }
        assert_eq!(m.total() as u64, waiting, "setup must not pair anyone");
        let probes: Vec<Vec<String>> = (0..256).map(|i| rng.tags(1 + i % 3)).collect();
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(waiting), &waiting, |b, _| {
            b.iter(|| {
                i = (i + 1) % probes.len();
                let joined = m.join(u64::MAX, QueueKey::Chill, probes[i].clone(), 1, &never);
                assert!(joined.pair.is_none());
                black_box(m.leave(u64::MAX))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, join);
criterion_main!(benches);
