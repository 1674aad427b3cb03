//! What crosses from the workers back to the reactor, and the delivery seam.
//!
//! Workers never touch sockets: they push ready-to-send frames onto one
//! bounded queue and wake the reactor, which appends them to the socket's
//! pending output in queue order. Pushing while holding the room's gate
//! (`app::room`) is what keeps every client's view of a room in `seq`
//! order. The queue bound makes workers wait (never the reactor) when
//! output outruns the sockets. A wake is one `eventfd` write, and only
//! while the reactor is about to sleep: it sets `armed` when it starts
//! draining (busy: pushes need no wake) and clears it just before it polls
//! (then checks the queue once more), so a push wakes it at most once per
//! sleep instead of once per frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;

use super::command::AppTimer;
use crate::base::clock::Millis;
use crate::base::id::ConnId;

/// Frames in flight from workers to the reactor, at most.
pub const OUT_QUEUE: usize = 64 * 1024;

/// One instruction for the reactor.
#[derive(Debug)]
pub enum Out {
    /// A complete WebSocket frame for the connection.
    Frame { conn: ConnId, bytes: Vec<u8> },
    /// Send a close frame after what is pending, then close.
    Close { conn: ConnId, code: u16, reason: &'static str },
    /// A complete HTTP response; `close` ends the connection after it.
    Http { conn: ConnId, bytes: Vec<u8>, close: bool },
    /// `AUTH` succeeded on the connection: it may send full-size messages.
    Authed { conn: ConnId },
    /// Schedule an application timer.
    Timer { at: Millis, timer: AppTimer },
    /// Shutdown: waits are cancelled and rooms ended; close every socket.
    DrainReady,
}

/// Where handlers send what a connection must receive. Local delivery is
/// the reactor's queue; a multi-node back end would route a frame for a
/// connection held elsewhere through this same seam.
pub trait Delivery: Send + Sync {
    fn frame(&self, conn: ConnId, bytes: Vec<u8>);
    fn close(&self, conn: ConnId, code: u16, reason: &'static str);
}

/// The sending half of the reactor's queue.
#[derive(Clone)]
pub struct Outbox {
    /// The bounded queue; a full one makes the pushing worker wait.
    tx: Sender<Out>,
    /// Wakes the reactor out of `epoll_wait`.
    waker: Arc<Waker>,
    /// True while no wake is needed (the reactor is busy, or a push has
    /// already woken it); a push that finds it false wakes the reactor.
    armed: Arc<AtomicBool>,
}

/// The reactor's half.
pub struct Inbox {
    /// Drained by the reactor, a bounded number per tick.
    pub rx: Receiver<Out>,
    /// Set by the reactor when it starts draining, cleared just before it
    /// polls, so a push wakes it only when it is about to sleep.
    pub armed: Arc<AtomicBool>,
}

pub fn channel(waker: Arc<Waker>) -> (Outbox, Inbox) {
    let (tx, rx) = crossbeam_channel::bounded(OUT_QUEUE);
    let armed = Arc::new(AtomicBool::new(false));
    (Outbox { tx, waker, armed: armed.clone() }, Inbox { rx, armed })
}

impl Outbox {
    pub fn push(&self, out: Out) {
        // A send fails only once the reactor is gone (shutdown): nothing to do.
        // The fence pairs with the reactor's after it disarms: either the
        // reactor's check sees this push, or this sees it disarmed.
        if self.tx.send(out).is_ok() && {
            std::sync::atomic::fence(Ordering::SeqCst);
            !self.armed.swap(true, Ordering::SeqCst)
        } {
            let _ = self.waker.wake();
        }
    }

    pub fn http(&self, conn: ConnId, bytes: Vec<u8>, close: bool) {
        self.push(Out::Http { conn, bytes, close });
    }

    pub fn timer(&self, at: Millis, timer: AppTimer) {
        self.push(Out::Timer { at, timer });
    }
}

impl Delivery for Outbox {
    fn frame(&self, conn: ConnId, bytes: Vec<u8>) {
        self.push(Out::Frame { conn, bytes });
    }

    fn close(&self, conn: ConnId, code: u16, reason: &'static str) {
        self.push(Out::Close { conn, code, reason });
    }
}
