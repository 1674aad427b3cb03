//! The fixed worker pool.
//!
//! Each worker owns one bounded command queue (the reactor shards by
//! connection, so one client's commands are handled in order by one
//! thread). Workers run until their queue's sender is dropped.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};

use super::App;
use super::command::Command;

/// Commands waiting per worker, at most; past it the reactor stops reading.
pub const WORKER_QUEUE: usize = 4096;

pub fn spawn(app: Arc<App>, count: usize) -> (Vec<Sender<Command>>, Vec<JoinHandle<()>>) {
    let mut senders = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let (tx, rx) = crossbeam_channel::bounded(WORKER_QUEUE);
        let app = app.clone();
        let handle = thread::Builder::new()
            .name(format!("duet-worker-{i}"))
            .spawn(move || run(&app, &rx))
            .expect("spawning a worker thread at start-up");
        senders.push(tx);
        handles.push(handle);
    }
    (senders, handles)
}

fn run(app: &App, rx: &Receiver<Command>) {
    while let Ok(cmd) = rx.recv() {
        app.handle(cmd);
    }
}
