//! The worker's side of a deferred message: holding the connection's later
//! messages while its socket is busy, and `Command::Settled`.
//!
//! Invariant: a socket holds messages only while it is busy, in arrival
//! order, at most [`MAX_HELD`]; one more closes it with 1008 (a client
//! that pipelines that much behind one `AUTH` or `REPORT` is not waiting
//! for answers). Settling replays the held messages in order until one of
//! them makes the socket busy again.
//!
//! A connection closed meanwhile has no entry any more (`Closed` removed
//! it; a reused slot has another generation): its completion is dropped,
//! and an `AUTH` that bound the dead socket to a user is undone (the
//! database thread attached it after `Closed` detached it).

use crate::app::App;
use crate::app::sockets::{Socket, Sockets};
use crate::base::id::ConnId;
use crate::link::command::Settled;
use crate::link::outbox::Delivery;

/// Messages held per busy socket, at most.
pub const MAX_HELD: usize = 32;

/// Keeps `text` until the socket is settled; one too many closes it.
pub fn hold(app: &App, conn: ConnId, text: &str, socket: &mut Socket) {
    if socket.held.len() >= MAX_HELD {
        app.out.close(conn, 1008, "too many messages while waiting for the database");
        socket.done = true;
        socket.held.clear();
        return;
    }
    socket.held.push_back(text.into());
}

/// A deferred message of `conn` was answered on a database thread.
pub fn settle(app: &App, conn: ConnId, how: Settled, sockets: &mut Sockets) {
    let Some(socket) = sockets.get(conn) else {
        if how == Settled::Authenticated {
            let ctx = app.ctx();
            app.hub().detach(conn, &ctx);
        }
        return;
    };
    socket.busy = false;
    match how {
        Settled::Replied => socket.refused = 0,
        Settled::Authenticated => {
            socket.refused = 0;
            socket.authed = true;
        }
        Settled::Closing => socket.done = true,
        Settled::Refused { counted } => app.tally_refusal(conn, counted, socket),
    }
    while !socket.busy && !socket.done {
        let Some(text) = socket.held.pop_front() else { break };
        app.on_text(conn, &text, socket);
    }
    if socket.done {
        socket.held.clear();
    }
}
