//! The worker's side of a deferred message: holding the connection's later
//! messages while its socket is busy, and `Command::Settled`.
//!
//! Invariant: a socket holds messages only while it is busy, in arrival
//! order, at most [`MAX_HELD`]. Past that, later messages are not kept and
//! the socket is marked `overflowed`; what happens is decided when the
//! busy message settles, because its answer comes first: after a failed
//! `AUTH` the client gets `AUTH_ERROR` and 4401 as the contract says (and
//! nothing after it would have been handled anyway); otherwise the held
//! messages are not replayed and the socket is closed with 1008 (a client
//! that pipelines that much behind one `AUTH` or `REPORT` is not waiting
//! for answers). Regression: the 33rd pipelined message behind a bad
//! `AUTH` closed the socket with 1008 at once, and the `AUTH_ERROR` and
//! 4401 were never sent. Settling replays the held messages in order
//! until one of them makes the socket busy again.
//!
//! A connection closed meanwhile has no entry any more (`Closed` removed
//! it; a reused slot has another generation): its completion is dropped,
//! and an `AUTH` that bound the dead socket to a user is undone (the
//! database thread attached it after `Closed` detached it).

use crate::app::App;
use crate::app::sockets::Sockets;
use crate::base::id::ConnId;
use crate::link::command::Settled;
use crate::link::outbox::Delivery;

/// Messages held per busy socket, at most.
pub const MAX_HELD: usize = 32;

/// Keeps `text` of busy `conn` until it is settled; past [`MAX_HELD`]
/// marks it `overflowed` instead (settled below).
pub fn hold(sockets: &mut Sockets, conn: ConnId, text: Box<str>) {
    let held = sockets.held(conn);
    if held.texts.len() >= MAX_HELD {
        held.overflowed = true;
        return;
    }
    held.texts.push_back(text);
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
    let mut held = sockets.take_held(conn);
    let Some(socket) = sockets.get(conn) else { return };
    if held.overflowed && !socket.done {
        app.out.close(conn, 1008, "too many messages while waiting for the database");
        socket.done = true;
    }
    while !socket.busy && !socket.done {
        let Some(text) = held.texts.pop_front() else { break };
        app.on_text(conn, &text, socket);
    }
    // Busy again: the rest waits for the next settling, ahead of anything
    // that arrives meanwhile (this worker handles `conn` in order).
    if socket.busy && !socket.done && !held.texts.is_empty() {
        sockets.held(conn).texts = held.texts;
    }
}
