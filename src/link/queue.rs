//! The worker queues: the reactor's end ([`WorkerLink`]) and the worker's
//! end ([`WorkerQueue`]) of one queue per worker.
//!
//! The reactor does not send command by command: it collects a tick's
//! commands per worker and hands them over as one batch, so a busy tick
//! costs one lock and at most one wake-up per worker instead of one per
//! message.
//!
//! Bound: a worker has at most [`WORKER_QUEUE`] text and HTTP commands in
//! flight (sent or batched, not yet handled), counted in `inflight`, and
//! at most [`WORKER_BYTES`] of their text and bodies (plus what one decode
//! call emits after the check, at most one read turn: 512 KiB); past either
//! the reactor stops reading those sockets ([`WorkerLink::budget`]).
//! Commands that must not be lost (closes, timeouts, timers, drain) are
//! always accepted; they number at most a few per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Condvar, Mutex};

use super::command::Command;

/// Commands in flight per worker, at most, before the reactor stops reading.
pub const WORKER_QUEUE: usize = 4096;
/// Bytes of messages and request bodies in flight per worker, at most,
/// before the reactor stops reading: 4096 messages of 64 KiB would be
/// 256 MiB, which one client could fill (regression: 259 MiB from one
/// socket pipelining 64 KiB PINGs).
pub const WORKER_BYTES: usize = 4 * 1024 * 1024;

/// One worker's queue. A plain mutex and condvar: the worker parks at once
/// when it runs dry (crossbeam's blocking receive spins and yields first,
/// which cost a syscall and a context switch per message here), and the
/// reactor signals only a worker that is actually asleep.
struct Queue {
    /// What is waiting and whether anyone sleeps on it.
    state: Mutex<QueueState>,
    /// Signalled by the reactor when it hands a sleeping worker commands,
    /// and when it goes away.
    wake: Condvar,
}

#[derive(Default)]
struct QueueState {
    /// Commands not yet taken by the worker, in order.
    pending: Vec<Command>,
    /// The worker is waiting on `wake`.
    sleeping: bool,
    /// The reactor is gone: finish what is pending, then stop.
    closed: bool,
}

/// The reactor's end of one worker's queue.
pub struct WorkerLink {
    /// Shared with the worker's [`WorkerQueue`].
    queue: Arc<Queue>,
    /// Commands sent to the worker and not yet handled.
    inflight: Arc<AtomicUsize>,
    /// Their bytes (`Command::weight`).
    inflight_bytes: Arc<AtomicUsize>,
    /// This tick's commands, sent by `flush`.
    batch: Vec<Command>,
    /// Their bytes.
    batch_bytes: usize,
}

/// Another way into one worker's queue, for threads other than the
/// reactor: the database threads hand a deferred message's completion
/// (`Command::Settled`) back to the connection's worker through it. Each
/// push is counted in the reactor's bound like any command; there is at
/// most one per message deferred, and those are bounded by the database
/// threads' in-flight bound (`app::offload`).
#[derive(Clone)]
pub struct Injector {
    /// Shared with the worker's [`WorkerQueue`].
    queue: Arc<Queue>,
    /// The same count the reactor's [`WorkerLink`] keeps.
    inflight: Arc<AtomicUsize>,
    /// And the same bytes (`Command::weight`).
    inflight_bytes: Arc<AtomicUsize>,
}

impl Injector {
    /// Queues `cmd` after what is pending and wakes the worker if it sleeps.
    pub fn push(&self, cmd: Command) {
        // Counted before it is visible, so `handled` never goes below zero.
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.inflight_bytes.fetch_add(cmd.weight(), Ordering::AcqRel);
        let wake = {
            let mut q = self.queue.state.lock();
            q.pending.push(cmd);
            q.sleeping
        };
        if wake {
            self.queue.wake.notify_one();
        }
    }
}

/// The worker's end of its queue.
pub struct WorkerQueue {
    /// Shared with the reactor's [`WorkerLink`].
    queue: Arc<Queue>,
    /// Lowered by one as each command is handled (the reactor's bound).
    inflight: Arc<AtomicUsize>,
    /// Lowered by each handled command's weight.
    inflight_bytes: Arc<AtomicUsize>,
}

/// A new queue: the reactor's end and the worker's.
pub fn channel() -> (WorkerLink, WorkerQueue) {
    let queue = Arc::new(Queue { state: Mutex::new(QueueState::default()), wake: Condvar::new() });
    let inflight = Arc::new(AtomicUsize::new(0));
    let inflight_bytes = Arc::new(AtomicUsize::new(0));
    let link = WorkerLink {
        queue: queue.clone(),
        inflight: inflight.clone(),
        inflight_bytes: inflight_bytes.clone(),
        batch: Vec::new(),
        batch_bytes: 0,
    };
    (link, WorkerQueue { queue, inflight, inflight_bytes })
}

impl WorkerLink {
    /// How many more messages may be taken from sockets for this worker.
    pub fn budget(&self) -> usize {
        if self.inflight_bytes.load(Ordering::Acquire) + self.batch_bytes >= WORKER_BYTES {
            return 0;
        }
        WORKER_QUEUE.saturating_sub(self.inflight.load(Ordering::Acquire) + self.batch.len())
    }

    /// A handle other threads push commands for this worker through.
    pub fn injector(&self) -> Injector {
        Injector {
            queue: self.queue.clone(),
            inflight: self.inflight.clone(),
            inflight_bytes: self.inflight_bytes.clone(),
        }
    }

    pub fn push(&mut self, cmd: Command) {
        self.batch_bytes += cmd.weight();
        self.batch.push(cmd);
    }

    /// Hands this tick's commands to the worker in one lock.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.inflight.fetch_add(self.batch.len(), Ordering::AcqRel);
        self.inflight_bytes.fetch_add(std::mem::take(&mut self.batch_bytes), Ordering::AcqRel);
        let wake = {
            let mut q = self.queue.state.lock();
            if q.pending.is_empty() {
                std::mem::swap(&mut q.pending, &mut self.batch);
            } else {
                q.pending.append(&mut self.batch);
            }
            q.sleeping
        };
        if wake {
            self.queue.wake.notify_one();
        }
    }
}

impl Drop for WorkerLink {
    fn drop(&mut self) {
        self.flush();
        self.queue.state.lock().closed = true;
        self.queue.wake.notify_one();
    }
}

impl WorkerQueue {
    /// Waits (parked) until commands are pending and moves them all into
    /// `work`, which must be empty; false once the reactor is gone and
    /// nothing is left.
    pub fn take(&self, work: &mut Vec<Command>) -> bool {
        let mut q = self.queue.state.lock();
        while q.pending.is_empty() && !q.closed {
            q.sleeping = true;
            self.queue.wake.wait(&mut q);
            q.sleeping = false;
        }
        if q.pending.is_empty() {
            return false;
        }
        std::mem::swap(&mut q.pending, work);
        true
    }

    /// One taken command, of this `Command::weight`, was handled: room
    /// for one more in the bound.
    pub fn handled(&self, weight: usize) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
        self.inflight_bytes.fetch_sub(weight, Ordering::AcqRel);
    }
}
