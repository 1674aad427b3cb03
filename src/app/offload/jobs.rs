//! One database thread: takes jobs, runs them, answers, and (for a
//! WebSocket message) tells the connection's worker it is settled.
//!
//! A panic in a job is caught here as `App::handle` catches one on a
//! worker: counted, logged, answered (HTTP 500, WebSocket `ERROR
//! INTERNAL`, and close 1011 if the hub had to be repaired). Every job
//! taken lowers the in-flight count exactly once, whatever happened.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::Receiver;
use log::error;

use super::{Job, WsTask, register};
use crate::app::commands::{Outcome, Request};
use crate::app::guard::take_repaired;
use crate::app::protocol::{self, Refusal};
use crate::app::{App, http_api};
use crate::base::addr::ClientAddr;
use crate::base::http::Response;
use crate::base::id::ConnId;
use crate::link::command::{Command, Settled};
use crate::link::outbox::Delivery;
use crate::link::queue::Injector;
use crate::link::worker_for;

pub(super) struct Thread {
    /// Weak: the app owns the queue's sending end; once it is gone the
    /// queue closes and this thread ends.
    pub app: Weak<App>,
    /// Shared by all database threads.
    pub rx: Receiver<Job>,
    /// Lowered once per job taken.
    pub in_flight: Arc<AtomicUsize>,
    /// Where `Command::Settled` goes (`worker_for` the connection).
    pub workers: Arc<[Injector]>,
}

impl Thread {
    pub fn run(self) {
        let mut later = Vec::new();
        while let Ok(job) = self.rx.recv() {
            let Some(app) = self.app.upgrade() else { return };
            match job {
                Job::Register { conn, close, new } => {
                    // Registrations waiting now go in the same statement;
                    // other jobs met while gathering run right after.
                    let batch = register::gather(&self.rx, (conn, close, new), &mut later);
                    self.register(&app, batch);
                }
                job => later.push(job),
            }
            for job in later.drain(..) {
                self.run_one(&app, job);
            }
        }
    }

    fn done(&self, app: &App, jobs: usize) {
        self.in_flight.fetch_sub(jobs, Ordering::AcqRel);
        app.metrics.db_in_flight.dec_by(jobs as i64);
    }

    /// Commits `batch`, gives its slots back, then sends the answers (in
    /// that order, as for an HTTP job below).
    fn register(&self, app: &App, batch: Vec<register::Pending>) {
        let n = batch.len();
        let answers = register::commit(app, batch);
        self.done(app, n);
        for (conn, bytes, close) in answers {
            app.out.http(conn, bytes, close);
        }
    }

    /// Runs `job` and gives its slot back. An HTTP answer leaves only
    /// after that, so a client that has its answer finds the slot free
    /// (a retry at once is not refused by its own finished request). A
    /// WebSocket task answers from inside, so there the slot is given back
    /// just after, but before `Settled`: the socket's next message waits
    /// for `Settled` on its worker, so it too finds the slot free.
    fn run_one(&self, app: &App, job: Job) {
        match job {
            Job::Http { conn, close, client, req } => {
                let resp = catch_unwind(AssertUnwindSafe(|| http_api::route(app, client, &req)))
                    .unwrap_or_else(|_| panicked_http(app, conn));
                self.done(app, 1);
                app.out.http(conn, resp.to_bytes(close), close);
            }
            Job::Register { conn, close, new } => self.register(app, vec![(conn, close, new)]),
            Job::Ws { conn, id, client, authed, task } => {
                let how = run_ws(app, conn, id.as_deref(), client, authed, task);
                self.done(app, 1);
                let worker = worker_for(conn, self.workers.len());
                if let Some(link) = self.workers.get(worker) {
                    link.push(Command::Settled { conn, how });
                }
            }
        }
    }
}

/// A route that panicked: 500, as on a worker.
pub(super) fn panicked_http(app: &App, conn: ConnId) -> Response {
    app.metrics.panics.inc();
    take_repaired();
    error!("panic while serving {conn:?} on a database thread");
    Response::error(500, "INTERNAL", "internal error")
}

/// Runs the task and answers a refusal or a panic as `App::on_text` would.
fn run_ws(
    app: &App,
    conn: ConnId,
    id: Option<&str>,
    client: ClientAddr,
    authed: bool,
    task: WsTask,
) -> Settled {
    let req = Request { conn, id, authed, client };
    match catch_unwind(AssertUnwindSafe(|| task(app, &req))) {
        Ok(Ok(Outcome::Authenticated)) => Settled::Authenticated,
        Ok(Ok(Outcome::Closing)) => Settled::Closing,
        Ok(Ok(Outcome::Replied | Outcome::Deferred)) => Settled::Replied,
        Ok(Err(refusal)) => refused(app, conn, id, &refusal),
        Err(_) => {
            app.metrics.panics.inc();
            error!("panic while handling a message from {conn:?} on a database thread");
            let settled = refused(app, conn, id, &Refusal::new("INTERNAL", "internal error"));
            if take_repaired() {
                app.out.close(conn, 1011, "internal error");
                return Settled::Closing;
            }
            settled
        }
    }
}

fn refused(app: &App, conn: ConnId, id: Option<&str>, refusal: &Refusal) -> Settled {
    app.reply(conn, protocol::frame("ERROR", id, &refusal.error));
    Settled::Refused { counted: matches!(refusal.error.code, "RATE_LIMITED" | "BAD_REQUEST") }
}
