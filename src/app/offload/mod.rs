//! The database threads: where the request path's database calls run, so
//! no worker ever waits on the database (issue 14).
//!
//! Only a store that is [`blocking`](crate::store::Store::blocking) (the
//! PostgreSQL one) gets them; with the memory or Redis store `App::offload`
//! is None and everything runs on the workers as before.
//!
//! A worker hands a [`Job`] over without waiting (`submit`); the job runs
//! on one of `--db-threads` threads and its reply leaves through the
//! outbox like any other. Bound: at most `--db-max-in-flight` jobs are
//! queued or running; past it `submit` refuses at once and the client is
//! told to come back (HTTP 503 + `Retry-After`, WebSocket `ERROR
//! UNAVAILABLE` + `retryAfterMs`) — never an unbounded queue.
//!
//! Order: HTTP needs nothing more (the reactor serves one request at a
//! time per connection). A WebSocket message handed over (`AUTH` on a
//! token-cache miss, `REPORT`) marks its socket busy: the worker holds the
//! connection's later messages (`settle.rs`) until the thread sends
//! `Command::Settled` back into that worker's queue.

mod jobs;
mod register;
pub mod settle;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::{Receiver, Sender};

use super::App;
use super::commands::{Outcome, Request};
use super::http_api::NewUser;
use super::protocol::Refusal;
use crate::base::addr::ClientAddr;
use crate::base::http::{Request as HttpRequest, Response};
use crate::base::id::ConnId;
use crate::link::queue::Injector;

/// What a client is told to wait before trying again when the database
/// threads are full, in ms (WebSocket `retryAfterMs`; HTTP `Retry-After`
/// in whole seconds, rounded up).
pub const RETRY_AFTER_MS: u64 = 1000;

/// The rest of a WebSocket message's handling, run on a database thread
/// with the same `Request` the worker had; its `Outcome` or `Refusal` is
/// answered there, and becomes the `Command::Settled` sent back.
pub type WsTask = Box<dyn FnOnce(&App, &Request<'_>) -> Result<Outcome, Refusal> + Send>;

/// One unit of work for a database thread.
pub enum Job {
    /// A whole HTTP route (`http_api::route`); `close` ends the connection
    /// after the answer.
    Http { conn: ConnId, close: bool, client: ClientAddr, req: Box<HttpRequest> },
    /// A new identity, checked and made on the worker, to be inserted
    /// (grouped with others waiting: `register.rs`) and answered.
    Register { conn: ConnId, close: bool, new: Box<NewUser> },
    /// The rest of a WebSocket message (its socket is busy until settled).
    Ws { conn: ConnId, id: Option<String>, client: ClientAddr, authed: bool, task: WsTask },
}

/// The database threads' queue and its bound.
pub struct Offload {
    /// Bounded by `max` (the counter below refuses first).
    tx: Sender<Job>,
    /// Cloned into each thread by `start`.
    rx: Receiver<Job>,
    /// Jobs queued or running, at most `max`.
    in_flight: Arc<AtomicUsize>,
    /// `--db-max-in-flight`.
    max: usize,
    /// `--db-threads`.
    threads: usize,
}

impl Offload {
    pub fn new(threads: usize, max_in_flight: usize) -> Offload {
        let max = max_in_flight.max(1);
        let (tx, rx) = crossbeam_channel::bounded(max);
        Offload { tx, rx, in_flight: Arc::new(AtomicUsize::new(0)), max, threads: threads.max(1) }
    }

    /// Starts the threads. They hold `app` weakly, so they end once the
    /// app (and with it the queue's sending end) is gone; `workers` are
    /// the workers' queues, indexed as `link::worker_for` indexes them.
    pub fn start(&self, app: Weak<App>, workers: Vec<Injector>) -> io::Result<()> {
        let workers: Arc<[Injector]> = workers.into();
        for i in 0..self.threads {
            let thread = jobs::Thread {
                app: app.clone(),
                rx: self.rx.clone(),
                in_flight: self.in_flight.clone(),
                workers: workers.clone(),
            };
            std::thread::Builder::new().name(format!("duet-db-{i}")).spawn(move || thread.run())?;
        }
        Ok(())
    }

    /// Hands `job` over, or gives it back if `--db-max-in-flight` jobs are
    /// already in flight.
    pub fn submit(&self, app: &App, job: Job) -> Result<(), Box<Job>> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            app.metrics.db_refused.inc();
            return Err(Box::new(job));
        }
        app.metrics.db_in_flight.inc();
        self.tx.try_send(job).map_err(|e| {
            // Cannot happen while the counter holds (capacity = max), but
            // a full channel must refuse, never wait.
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            app.metrics.db_in_flight.dec();
            Box::new(e.into_inner())
        })
    }

    /// Hands the rest of a WebSocket message over: `Deferred` (the socket
    /// is busy until settled), or `UNAVAILABLE` past the bound.
    pub fn defer(&self, app: &App, req: &Request<'_>, task: WsTask) -> Result<Outcome, Refusal> {
        let job = Job::Ws {
            conn: req.conn,
            id: req.id.map(str::to_owned),
            client: req.client,
            authed: req.authed,
            task,
        };
        match self.submit(app, job) {
            Ok(()) => Ok(Outcome::Deferred),
            Err(_) => Err(busy_refusal()),
        }
    }
}

/// `ERROR UNAVAILABLE` for a WebSocket message refused by the bound.
pub fn busy_refusal() -> Refusal {
    let mut r = Refusal::new("UNAVAILABLE", "the database is busy; try again");
    r.error.retry_after_ms = Some(RETRY_AFTER_MS);
    r
}

/// 503 for an HTTP request refused by the bound.
pub fn busy_response() -> Response {
    Response::error(503, "UNAVAILABLE", "the database is busy, try again shortly")
        .header(format!("Retry-After: {}", RETRY_AFTER_MS.div_ceil(1000)))
}
