//! Group commit of registrations on a database thread: take every
//! registration waiting (at most [`MAX_BATCH`], for at most [`GATHER`]),
//! insert them with one statement (`Store::insert_users`), answer each.
//!
//! Waiting a little only while the queue is empty costs a lone
//! registration at most `GATHER`; under load the queue is never empty and
//! the batch fills without waiting.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::Job;
use super::jobs::panicked_http;
use crate::app::App;
use crate::app::http_api::{self, NewUser};
use crate::base::id::ConnId;
use crate::store::StoreError;

/// Registrations in one statement, at most.
pub const MAX_BATCH: usize = 256;
/// Longest a thread waits for more registrations once it has one.
pub const GATHER: Duration = Duration::from_millis(2);
/// Other jobs set aside while gathering, at most (they run right after).
const MAX_SET_ASIDE: usize = 64;

/// One registration: where to answer, and the identity to insert.
pub type Pending = (ConnId, bool, Box<NewUser>);

/// `first` and the registrations that arrive within `GATHER` (up to
/// `MAX_BATCH`); other jobs taken meanwhile go to `later`.
pub fn gather(rx: &Receiver<Job>, first: Pending, later: &mut Vec<Job>) -> Vec<Pending> {
    let mut batch = vec![first];
    let deadline = Instant::now() + GATHER;
    while batch.len() < MAX_BATCH && later.len() < MAX_SET_ASIDE {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => match rx.recv_deadline(deadline) {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        match job {
            Job::Register { conn, close, new } => batch.push((conn, close, new)),
            other => later.push(other),
        }
    }
    batch
}

/// One HTTP answer, sent once the job's in-flight slot is given back.
pub type Answer = (ConnId, Vec<u8>, bool);

/// Inserts `batch` and returns the answer to every registration in it.
pub fn commit(app: &App, batch: Vec<Pending>) -> Vec<Answer> {
    let rows: Vec<_> = batch.iter().map(|(_, _, new)| (new.record.clone(), Some(new.from))).collect();
    let results = catch_unwind(AssertUnwindSafe(|| app.store.insert_users(&rows)));
    let mut answers = Vec::with_capacity(batch.len());
    match results {
        Ok(results) => {
            let mut results = results.into_iter();
            for (conn, close, new) in batch {
                // A store that answered fewer entries than asked: the rest
                // are refused, never left without an answer.
                let missing = || Err(StoreError::Unavailable("the store gave no answer".into()));
                let resp = match results.next().unwrap_or_else(missing) {
                    Ok(()) => http_api::registered(app, &new),
                    Err(e) => http_api::store_failure(e),
                };
                answers.push((conn, resp.to_bytes(close), close));
            }
        }
        Err(_) => {
            for (conn, close, _) in batch {
                let resp = panicked_http(app, conn);
                answers.push((conn, resp.to_bytes(close), close));
            }
        }
    }
    answers
}
