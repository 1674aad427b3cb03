//! The fixed worker pool and the reactor's links to it.
//!
//! Each worker has one queue; the reactor shards by connection, so one
//! client's commands are handled in order by one thread. The reactor does
//! not send command by command: it collects a tick's commands per worker
//! and sends them as one batch, so a busy tick costs one channel operation
//! and at most one wake-up per worker instead of one per message.
//!
//! Bound: a worker has at most [`WORKER_QUEUE`] text and HTTP commands in
//! flight (sent or batched, not yet handled), counted in `inflight`; past
//! it the reactor stops reading those sockets. Commands that must not be
//! lost (closes, timeouts, timers, drain) are always accepted; they number
//! at most a few per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

use parking_lot::{Condvar, Mutex};

use super::App;
use super::command::Command;
use super::sockets::Sockets;

/// Commands in flight per worker, at most, before the reactor stops reading.
pub const WORKER_QUEUE: usize = 4096;

/// One worker's queue. A plain mutex and condvar: the worker parks at once
/// when it runs dry (crossbeam's blocking receive spins and yields first,
/// which cost a syscall and a context switch per message here), and the
/// reactor signals only a worker that is actually asleep.
struct Queue {
    state: Mutex<QueueState>,
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
    queue: Arc<Queue>,
    /// Commands sent to the worker and not yet handled.
    inflight: Arc<AtomicUsize>,
    /// This tick's commands, sent by `flush`.
    batch: Vec<Command>,
}

impl WorkerLink {
    /// How many more messages may be taken from sockets for this worker.
    pub fn budget(&self) -> usize {
        WORKER_QUEUE.saturating_sub(self.inflight.load(Ordering::Acquire) + self.batch.len())
    }

    pub fn push(&mut self, cmd: Command) {
        self.batch.push(cmd);
    }

    /// Hands this tick's commands to the worker in one lock.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.inflight.fetch_add(self.batch.len(), Ordering::AcqRel);
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

pub fn spawn(app: Arc<App>, count: usize) -> (Vec<WorkerLink>, Vec<JoinHandle<()>>) {
    let mut links = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let queue = Arc::new(Queue { state: Mutex::new(QueueState::default()), wake: Condvar::new() });
        let inflight = Arc::new(AtomicUsize::new(0));
        let (app, q, counter) = (app.clone(), queue.clone(), inflight.clone());
        let handle = thread::Builder::new()
            .name(format!("duet-worker-{i}"))
            .spawn(move || run(&app, &q, &counter))
            .expect("spawning a worker thread at start-up");
        links.push(WorkerLink { queue, inflight, batch: Vec::new() });
        handles.push(handle);
    }
    (links, handles)
}

fn run(app: &App, queue: &Queue, inflight: &AtomicUsize) {
    let mut work: Vec<Command> = Vec::new();
    // This worker's connections: only it ever sees their commands.
    let mut sockets = Sockets::default();
    loop {
        {
            let mut q = queue.state.lock();
            while q.pending.is_empty() && !q.closed {
                q.sleeping = true;
                queue.wake.wait(&mut q);
                q.sleeping = false;
            }
            if q.pending.is_empty() {
                return;
            }
            std::mem::swap(&mut q.pending, &mut work);
        }
        for cmd in work.drain(..) {
            app.handle(cmd, &mut sockets);
            inflight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
