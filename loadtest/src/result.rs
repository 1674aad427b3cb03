//! What one process measured (counters, histograms, CPU) and how results of
//! several processes merge: counters add, histograms add bucket by bucket
//! (they travel as raw `[value, count]` buckets), time marks take min/max.

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// Event counts of a run; all merge by addition.
        #[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            pub fn add(&mut self, o: &Counters) {
                $(self.$name += o.$name;)*
            }
        }
    };
}

counters! {
    /// Sockets the harness started to open.
    opened,
    /// TCP connects that completed.
    connected,
    /// Register answered 200 with a token.
    registered,
    /// Upgrade answered 101 with the right accept key.
    upgraded,
    /// AUTH answered AUTH_OK.
    authed,
    /// JOIN_QUEUE answered QUEUE_WAITING.
    queued,
    /// MATCH_FOUND pushes.
    matched,
    /// MATCH_CANCELLED pushes.
    cancelled,
    /// CHAT messages sent.
    sent,
    /// CHAT_ACK replies.
    acked,
    /// Partner CHATs received (first copies only).
    received,
    /// Rooms left (ROOM_LEFT or PARTNER_LEFT).
    left,
    /// Complete churn sessions (one per user).
    sessions,
    /// Of those, the ones that ended before the duration was over.
    window_sessions,
    /// Server pings answered.
    pings,
    /// Clean client-initiated closes.
    closed,
    /// Failed connects (refused, reset, no address).
    connect_errors,
    /// ERROR / AUTH_ERROR replies, and non-2xx HTTP answers.
    error_replies,
    /// Malformed or unexpected frames, JSON, types, ids or fields.
    protocol_errors,
    /// Connections the server closed or reset when the harness did not ask.
    dropped,
    /// Steps that did not finish in time (handshake, session, close).
    timeouts,
    /// Partner CHATs received twice.
    dup,
    /// Partner CHATs that arrived after a later one (per-sender counter).
    reordered,
    /// `seq` that did not follow the previous one seen on the socket by exactly 1.
    seq_errors,
    /// CHATs sent but never acknowledged by the end of the drain.
    unacked,
    /// Users still waiting for a partner when the run ended.
    unmatched,
    /// Worker processes (or the worker thread) that ended without a result.
    workers_failed,
    /// Failed handshakes tried again (`idle --handshake-retries`): each
    /// also counted one error above, which `errors()` takes back.
    handshake_retries,
}

impl Counters {
    /// Everything that makes a run fail (lost messages are added by the report).
    pub fn errors(&self) -> u64 {
        (self.connect_errors
            + self.error_replies
            + self.protocol_errors
            + self.dropped
            + self.timeouts
            + self.dup
            + self.reordered
            + self.seq_errors
            + self.unacked
            + self.workers_failed)
            .saturating_sub(self.handshake_retries)
    }

    /// Messages acknowledged to a sender but never received by its partner.
    /// Exact when `unacked` and `dup` are 0 (every receipt was then acked).
    pub fn lost(&self) -> u64 {
        self.acked.saturating_sub(self.received)
    }
}

/// A histogram of microseconds (1 µs .. 1 h, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Hist(pub Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"))
    }
}

impl PartialEq for Hist {
    fn eq(&self, o: &Self) -> bool {
        self.0.len() == o.0.len()
            && self.0.iter_recorded().zip(o.0.iter_recorded()).all(|(a, b)| {
                (a.value_iterated_to(), a.count_at_value()) == (b.value_iterated_to(), b.count_at_value())
            })
    }
}

impl Hist {
    /// Records a duration in nanoseconds as microseconds (at least 1).
    pub fn record_ns(&mut self, ns: u64) {
        self.0.saturating_record((ns / 1000).max(1));
    }

    pub fn merge(&mut self, o: &Hist) {
        // Same bounds on both sides, so adding cannot fail; saturate if it would.
        if self.0.add(&o.0).is_err() {
            for v in o.0.iter_recorded() {
                self.0.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let buckets: Vec<[u64; 2]> =
            self.0.iter_recorded().map(|v| [v.value_iterated_to(), v.count_at_value()]).collect();
        buckets.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let buckets = Vec::<[u64; 2]>::deserialize(d)?;
        let mut h = Hist::default();
        for [value, count] in buckets {
            h.0.saturating_record_n(value, count);
        }
        Ok(h)
    }
}

/// Most error descriptions kept per run.
pub const MAX_SAMPLES: usize = 12;

/// One process's result (and, after merging, the run's).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    /// Users (or churn slots) this process was given.
    pub users: u64,
    pub counters: Counters,
    /// Chat delivery latency, µs.
    pub latency_us: Hist,
    /// JOIN_QUEUE sent → MATCH_FOUND, µs.
    pub match_wait_us: Hist,
    /// Harness CPU over the measured window, in clock ticks.
    pub cpu_ticks: u64,
    /// First JOIN_QUEUE sent (monotonic ns, 0 = none).
    pub first_join_ns: u64,
    /// Last MATCH_FOUND received (monotonic ns, 0 = none).
    pub last_match_ns: u64,
    /// When every user of the process had authenticated (0 = never).
    pub ready_ns: u64,
    /// XOR of a hash of every room id a user was matched into: each room
    /// has exactly two members, so over the whole run it is 0 unless some
    /// room was announced to one user or to three (a ghost or double
    /// match).
    pub rooms_xor: u64,
    /// First few error descriptions.
    pub samples: Vec<String>,
}

impl Outcome {
    pub fn merge(&mut self, o: &Outcome) {
        self.users += o.users;
        self.counters.add(&o.counters);
        self.latency_us.merge(&o.latency_us);
        self.match_wait_us.merge(&o.match_wait_us);
        self.cpu_ticks += o.cpu_ticks;
        self.rooms_xor ^= o.rooms_xor;
        self.first_join_ns = min_nonzero(self.first_join_ns, o.first_join_ns);
        self.last_match_ns = self.last_match_ns.max(o.last_match_ns);
        self.ready_ns = if self.ready_ns == 0 || o.ready_ns == 0 { 0 } else { self.ready_ns.max(o.ready_ns) };
        for s in &o.samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(s.clone());
            }
        }
    }

    /// Merges a list of per-process outcomes (an empty list gives the default).
    pub fn merge_all(parts: &[Outcome]) -> Outcome {
        let mut it = parts.iter();
        let mut acc = it.next().cloned().unwrap_or_default();
        for p in it {
            acc.merge(p);
        }
        acc
    }
}

fn min_nonzero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (x, y) => x.min(y),
    }
}

/// Live figures a process reports while it runs.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    pub counters: Counters,
    /// Every user of the process is authenticated (or failed for good).
    pub ready: bool,
}

/// One line a worker (child process or thread) sends to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Line {
    Progress(Box<Progress>),
    Outcome(Box<Outcome>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(seed: u64, n: u64) -> Outcome {
        let mut o = Outcome { users: n, ..Default::default() };
        o.counters.sent = seed;
        o.counters.acked = seed * 2;
        o.counters.dup = 1;
        o.cpu_ticks = 5;
        o.first_join_ns = 100 + seed;
        o.last_match_ns = 1000 + seed;
        o.ready_ns = 50 + seed;
        for i in 0..n {
            o.latency_us.record_ns((i * 7919 + seed) * 1000);
            o.match_wait_us.record_ns(i * 1_000_000);
        }
        o.samples.push(format!("e{seed}"));
        o
    }

    #[test]
    fn merge_sums_counters_and_histograms() {
        let a = outcome(1, 500);
        let b = outcome(2, 700);
        let m = Outcome::merge_all(&[a.clone(), b.clone()]);
        assert_eq!(m.users, 1200);
        assert_eq!((m.counters.sent, m.counters.acked, m.counters.dup), (3, 6, 2));
        assert_eq!(m.cpu_ticks, 10);
        assert_eq!((m.first_join_ns, m.last_match_ns, m.ready_ns), (101, 1002, 52));
        assert_eq!(m.samples, vec!["e1".to_string(), "e2".to_string()]);
        let mut direct = Hist::default();
        for (seed, n) in [(1u64, 500u64), (2, 700)] {
            for i in 0..n {
                direct.record_ns((i * 7919 + seed) * 1000);
            }
        }
        assert_eq!(m.latency_us, direct);
        assert_eq!(m.latency_us.0.len(), 1200);
        assert_eq!(m.latency_us.0.max(), direct.0.max());
        assert_eq!(m.latency_us.0.value_at_quantile(0.99), direct.0.value_at_quantile(0.99));
    }

    #[test]
    fn outcome_survives_a_json_line() {
        let a = outcome(3, 300);
        let line = serde_json::to_string(&Line::Outcome(Box::new(a.clone()))).unwrap();
        assert!(!line.contains('\n'));
        match serde_json::from_str::<Line>(&line).unwrap() {
            Line::Outcome(b) => {
                assert_eq!(*b, a);
                let mut merged = Outcome::default();
                merged.merge(&b);
                merged.merge(&a);
                assert_eq!(merged.latency_us.0.len(), 600);
                assert_eq!(merged.latency_us.0.max(), a.latency_us.0.max());
            }
            Line::Progress(_) => panic!("wrong line"),
        }
    }

    #[test]
    fn ready_only_when_all_ready_and_lost_counts() {
        let mut a = outcome(1, 1);
        a.merge(&Outcome::default());
        assert_eq!(a.ready_ns, 0);
        let c = Counters { acked: 10, received: 7, ..Default::default() };
        assert_eq!(c.lost(), 3);
        assert_eq!(Counters::default().errors(), 0);
    }
}
