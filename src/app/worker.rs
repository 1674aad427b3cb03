//! The fixed worker pool: one thread per worker, each running commands
//! from its own queue (`link::queue`) through [`App::handle`].
//!
//! The reactor shards by connection, so one client's commands are handled
//! in order by one thread, and the per-connection state a worker keeps
//! ([`Sockets`]) needs no lock. A worker ends once the reactor's end of its
//! queue is dropped and nothing is left in it.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::App;
use super::sockets::Sockets;
use crate::link::command::Command;
use crate::link::queue::{self, WorkerLink, WorkerQueue};

pub fn spawn(app: Arc<App>, count: usize) -> (Vec<WorkerLink>, Vec<JoinHandle<()>>) {
    let mut links = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let (link, queue) = queue::channel();
        let app = app.clone();
        let handle = thread::Builder::new()
            .name(format!("duet-worker-{i}"))
            .spawn(move || run(&app, &queue))
            .expect("spawning a worker thread at start-up");
        links.push(link);
        handles.push(handle);
    }
    (links, handles)
}

fn run(app: &App, queue: &WorkerQueue) {
    let mut work: Vec<Command> = Vec::new();
    // This worker's connections: only it ever sees their commands.
    let mut sockets = Sockets::default();
    while queue.take(&mut work) {
        for cmd in work.drain(..) {
            let weight = cmd.weight();
            app.handle(cmd, &mut sockets);
            queue.handled(weight);
        }
    }
}
