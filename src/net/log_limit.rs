//! A bound on log lines of one kind: at most `per_minute` lines in any
//! minute-long window; the rest are counted and reported in one line when
//! the next window opens. A hostile client can cause events without end,
//! but not log lines without end.

use crate::base::clock::Millis;

const WINDOW_MS: Millis = 60_000;

#[derive(Debug)]
pub struct LogLimit {
    /// Lines allowed per window.
    per_minute: u32,
    /// Start of the current window.
    window: Millis,
    /// Lines logged in it.
    logged: u32,
    /// Events not logged in it.
    suppressed: u64,
}

/// What the caller should do with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; first say how many went unlogged in the last window, if any.
    Log { suppressed_before: u64 },
    /// Only count it.
    Quiet,
}

impl LogLimit {
    pub fn per_minute(per_minute: u32) -> LogLimit {
        LogLimit { per_minute, window: 0, logged: 0, suppressed: 0 }
    }

    pub fn check(&mut self, now: Millis) -> Verdict {
        let mut suppressed_before = 0;
        if now >= self.window + WINDOW_MS {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.window = now;
            self.logged = 0;
        }
        if self.logged < self.per_minute {
            self.logged += 1;
            Verdict::Log { suppressed_before }
        } else {
            self.suppressed += 1;
            Verdict::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_a_minute_then_the_count_of_the_rest() {
        let mut l = LogLimit::per_minute(2);
        assert_eq!(l.check(0), Verdict::Log { suppressed_before: 0 });
        assert_eq!(l.check(1), Verdict::Log { suppressed_before: 0 });
        assert!((0..100).all(|i| l.check(2 + i) == Verdict::Quiet));
        assert_eq!(l.check(59_999), Verdict::Quiet);
        assert_eq!(l.check(60_000), Verdict::Log { suppressed_before: 101 });
    }
}
