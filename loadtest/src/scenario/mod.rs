//! What the scenarios share: each process's share of the users, the run's
//! timeline (all on the shared monotonic clock from t0, so every child and
//! the parent agree on when sending starts and stops), and the entry that
//! builds a driver for a scenario.

pub mod chat;
pub mod churn;
pub mod idle;
pub mod queue;

use std::io;

use crate::cli::{Cmd, Common};
use crate::client::ctx::Ctx;
use crate::client::driver::{self, DriverCfg};
use crate::result::{Line, Outcome};

/// Seconds → nanoseconds.
pub fn ns(secs: f64) -> u64 {
    (secs * 1e9) as u64
}

/// One process's part of the run: global numbers `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub first: u64,
    pub count: usize,
}

/// Splits `total` as evenly as possible over `k` processes.
pub fn share(total: usize, k: usize, i: usize) -> Share {
    let k = k.max(1);
    let base = total / k;
    let extra = total % k;
    let count = base + usize::from(i < extra);
    let first = i * base + i.min(extra);
    Share { first: first as u64, count }
}

/// The absolute times of a run.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Every process stops by then, whatever happens.
    pub hard: u64,
    /// The measured window, for CPU figures (chat: sending + drain;
    /// churn: t0 to the end of the duration).
    pub window: Option<(u64, u64)>,
}

pub fn timeline(cmd: &Cmd, t0: u64) -> Timeline {
    let c = cmd.common();
    let ramp = ns(c.ramp_secs);
    let hs = ns(c.handshake_timeout_secs);
    let margin = 5_000_000_000;
    let (end, window) = match cmd {
        Cmd::Idle(a) if a.chat_pairs > 0 => {
            // When the chat starts depends on when every process is ready:
            // allow the connect phase 4 x the ramp + 120 s.
            let connect = 4 * ramp + hs + 120_000_000_000 + ns(a.settle_secs);
            let chat = ns(a.hold_secs) + ns(a.chat_match_secs) + ns(a.chat_secs) + ns(a.chat_drain_secs);
            (t0 + connect + chat, None)
        }
        Cmd::Idle(a) => (t0 + ramp + hs + ns(a.hold_secs) + ns(a.settle_secs), None),
        Cmd::Chat(a) => {
            let w = chat::Window::new(a, t0);
            (w.drain_end, Some((w.send_start, w.drain_end)))
        }
        Cmd::Churn(a) => {
            let end = t0 + ramp + ns(a.duration_secs);
            (end + ns(a.drain_secs), Some((t0, end)))
        }
        Cmd::Queue(a) => (t0 + ramp + hs + ns(a.max_wait_secs), None),
    };
    let hard = match c.deadline_secs {
        Some(d) => t0 + ns(d),
        None => end + margin,
    };
    Timeline { hard, window }
}

fn driver_cfg(c: &Common, s: Share, tl: &Timeline) -> DriverCfg {
    DriverCfg {
        target: c.target,
        nodes: c.nodes(),
        split: c.split,
        source_ips: c.source_ips,
        slots: s.count,
        first_user: s.first,
        ramp_ns: ns(c.ramp_secs),
        max_handshakes: c.max_handshakes as usize,
        handshake_timeout_ns: ns(c.handshake_timeout_secs),
        hard_deadline: tl.hard,
        progress_every_ns: 500_000_000,
    }
}

fn new_ctx(c: &Common, index: usize, pad: usize) -> Ctx {
    let seed = c.seed.unwrap_or_else(|| crate::sys::mono_ns() ^ (u64::from(std::process::id()) << 32));
    let seed = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Ctx::new(seed, c.target.to_string(), !c.no_pipeline, pad)
}

/// Runs this process's share of the scenario (process `index` of
/// `--procs`), starting at the shared `t0`.
pub fn run_worker(cmd: &Cmd, index: usize, t0: u64, sink: &mut dyn FnMut(Line)) -> io::Result<Outcome> {
    let c = cmd.common();
    let s = share(cmd.total(), usize::from(c.procs), index);
    let tl = timeline(cmd, t0);
    // Wait for the shared start so all processes ramp together.
    let now = crate::sys::mono_ns();
    if t0 > now {
        std::thread::sleep(std::time::Duration::from_nanos(t0 - now));
    }
    let cfg = driver_cfg(c, s, &tl);
    let mut out = match cmd {
        Cmd::Idle(a) => {
            let ctx = new_ctx(c, index, 0);
            driver::run(cfg, ctx, idle::Idle::new(a, s.count, c.go_file.clone()), sink)?
        }
        Cmd::Chat(a) => {
            let ctx = new_ctx(c, index, a.pad_bytes);
            driver::run(cfg, ctx, chat::Chat::new(a, t0, s.count), sink)?
        }
        Cmd::Churn(a) => driver::run(cfg, new_ctx(c, index, 0), churn::Churn::new(a, t0), sink)?,
        Cmd::Queue(a) => {
            let ctx = new_ctx(c, index, 0);
            driver::run(cfg, ctx, queue::Queue::new(a, t0, s.count), sink)?
        }
    };
    out.users = s.count as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_everything_once() {
        for (total, k) in [(19_000, 2), (7, 3), (2, 4), (1000, 1)] {
            let mut next = 0u64;
            let mut sum = 0;
            for i in 0..k {
                let s = share(total, k, i);
                assert_eq!(s.first, next);
                next += s.count as u64;
                sum += s.count;
            }
            assert_eq!(sum, total);
        }
        assert_eq!(share(7, 3, 0), Share { first: 0, count: 3 });
        assert_eq!(share(7, 3, 2), Share { first: 5, count: 2 });
    }
}
