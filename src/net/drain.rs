//! Graceful shutdown, the reactor's half (contract section 6).
//!
//! On the first SIGINT/SIGTERM (or `Server::drain`): stop accepting, let
//! health answer 503, and send the workers `Command::Drain` (they end what
//! the application holds and say so to its clients); when the worker's
//! `DrainReady` comes back through the outbox (so it is behind those
//! frames), send every WebSocket the application's goodbye frame
//! (`NetConfig::shutdown_goodbye`) and close 1001. The reactor leaves its
//! loop when every socket is gone or at the drain deadline, well inside the
//! contract's 10 s. A second signal exits the process at once.

use std::sync::atomic::Ordering;

use log::{info, warn};

use super::conn::Phase;
use super::reactor::Reactor;
use crate::base::clock::Millis;
use crate::link::command::Command;

/// From the signal to the forced end of the reactor loop.
const DRAIN_DEADLINE_MS: Millis = 8_000;

/// Progress of a drain.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// When the reactor leaves its loop whatever is still open.
    pub deadline: Millis,
    /// The workers answered the drain: the application has let go.
    pub ready: bool,
}

impl Reactor {
    /// Signals arrived: start draining, or exit at once on the second.
    pub(super) fn on_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let count = signals.pending().count();
        if count == 0 {
            return;
        }
        if self.drain.is_some() || count > 1 {
            warn!("second signal: exiting now");
            std::process::exit(1);
        }
        self.begin_drain();
    }

    pub(super) fn begin_drain(&mut self) {
        if self.drain.is_some() {
            return;
        }
        info!("draining: {} connections open", self.conns.len());
        self.shared.life.draining.store(true, Ordering::Release);
        let _ = self.poll.registry().deregister(&mut self.listener);
        self.drain = Some(Drain { deadline: self.clock.now() + DRAIN_DEADLINE_MS, ready: false });
        self.send_reliably(0, Command::Drain);
    }

    /// The workers are done: end every socket.
    pub(super) fn drain_ready(&mut self) {
        if let Some(d) = self.drain.as_mut() {
            d.ready = true;
        }
        let slots: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            match self.conns[slot].phase {
                Phase::Ws => {
                    self.conns[slot].queue_slice(&self.cfg.shutdown_goodbye);
                    self.close_ws(slot, 1001, "server shutting down");
                }
                Phase::Http => self.remove(slot),
                Phase::HttpAwaiting | Phase::Closing => {}
            }
        }
    }

    /// True when the loop should end.
    pub(super) fn drained(&self) -> bool {
        match self.drain {
            Some(d) => (d.ready && self.conns.is_empty()) || self.clock.now() >= d.deadline,
            None => false,
        }
    }
}
