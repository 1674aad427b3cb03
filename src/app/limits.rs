//! Token buckets: per user (chat; queue commands) and per client address
//! (registrations; an IPv6 client counts as its /64, contract section 7).
//!
//! A bucket is 8 bytes (tokens as f32, last refill as u32 milliseconds of
//! the server clock, which wraps after 49 days: a wrapped reading only
//! refills a bucket early). Per-user buckets live in the user's session;
//! the per-IP map is pruned of full buckets whenever it doubles, so it
//! holds at most the IPs active within one refill period, twice over.

use std::collections::HashMap;

use crate::base::addr::ClientAddr;

use crate::base::clock::Millis;

/// Refill rate (tokens per second) and capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Capacity: what a full bucket allows at once.
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Tokens left; f32 is exact enough for a burst of thousands.
    tokens: f32,
    /// Server time (ms, wrapping) of the last refill.
    at: u32,
}

impl Bucket {
    pub fn full(rate: Rate, now: Millis) -> Bucket {
        Bucket { tokens: rate.burst as f32, at: now as u32 }
    }

    fn refill(&mut self, rate: Rate, now: Millis) {
        let elapsed = (now as u32).wrapping_sub(self.at) as f64 / 1000.0;
        self.tokens = (self.tokens as f64 + elapsed * rate.per_sec).min(rate.burst as f64) as f32;
        self.at = now as u32;
    }

    /// Takes one token, or says in how many milliseconds one will be there.
    pub fn take(&mut self, rate: Rate, now: Millis) -> Result<(), u64> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate.per_sec <= 0.0 {
            Err(u64::MAX / 2)
        } else {
            Err(((1.0 - self.tokens as f64) / rate.per_sec * 1000.0).ceil().max(1.0) as u64)
        }
    }

    fn is_full(&mut self, rate: Rate, now: Millis) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst as f32
    }
}

/// Registrations per client address.
pub struct IpLimiter {
    /// The same rate for every address.
    rate: Rate,
    /// One bucket per client address seen lately.
    buckets: HashMap<ClientAddr, Bucket>,
    /// Map size after the last prune.
    pruned_at: usize,
}

impl IpLimiter {
    pub fn per_minute(n: u32) -> IpLimiter {
        IpLimiter { rate: Rate { per_sec: n as f64 / 60.0, burst: n }, buckets: HashMap::new(), pruned_at: 0 }
    }

    pub fn take(&mut self, ip: ClientAddr, now: Millis) -> Result<(), u64> {
        let rate = self.rate;
        if self.buckets.len() > 2 * self.pruned_at.max(1024) {
            self.buckets.retain(|_, b| !b.is_full(rate, now));
            self.pruned_at = self.buckets.len();
        }
        self.buckets.entry(ip).or_insert_with(|| Bucket::full(rate, now)).take(rate, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_rate() {
        let rate = Rate { per_sec: 10.0, burst: 3 };
        let mut b = Bucket::full(rate, 0);
        assert!((0..3).all(|_| b.take(rate, 0).is_ok()));
        assert_eq!(b.take(rate, 0), Err(100));
        assert_eq!(b.take(rate, 50), Err(50));
        assert!(b.take(rate, 100).is_ok());
        assert!(b.take(rate, 100).is_err());
    }

    #[test]
    fn ip_limiter_is_per_ip() {
        let mut l = IpLimiter::per_minute(2);
        let a = ClientAddr::of("127.0.0.1".parse().unwrap());
        let b = ClientAddr::of("127.0.0.2".parse().unwrap());
        assert!(l.take(a, 0).is_ok() && l.take(a, 0).is_ok());
        assert_eq!(l.take(a, 0), Err(30_000));
        assert!(l.take(b, 0).is_ok());
    }
}
