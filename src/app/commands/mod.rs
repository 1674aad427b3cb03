//! Client messages: one file per type, one enum to dispatch them.
//!
//! Order of checks for every message: the type must be known
//! (`BAD_REQUEST`), then the socket must be authenticated unless the type is
//! `AUTH` or `PING` (`UNAUTHENTICATED`), then the payload must parse
//! (`BAD_REQUEST`), then the handler's own rules apply. Each handler sends
//! its success reply itself (so it can order it with the pushes it causes);
//! a returned `Refusal` becomes the `ERROR` reply.

mod auth;
mod chat;
mod join_queue;
mod leave_queue;
mod leave_room;
mod next;
mod ping;
mod report;
mod typing;

use serde_json::value::RawValue;

use super::App;
use super::hub::Hub;
use super::protocol::{Refusal, parse_payload};
use crate::base::addr::ClientAddr;
use crate::base::id::ConnId;
use crate::store::UserId;

/// The message types a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Auth,
    JoinQueue,
    LeaveQueue,
    Chat,
    Typing,
    LeaveRoom,
    Next,
    Ping,
    Report,
}

impl Kind {
    pub fn parse(ty: &str) -> Option<Kind> {
        Some(match ty {
            "AUTH" => Kind::Auth,
            "JOIN_QUEUE" => Kind::JoinQueue,
            "LEAVE_QUEUE" => Kind::LeaveQueue,
            "CHAT" => Kind::Chat,
            "TYPING" => Kind::Typing,
            "LEAVE_ROOM" => Kind::LeaveRoom,
            "NEXT" => Kind::Next,
            "PING" => Kind::Ping,
            "REPORT" => Kind::Report,
            _ => return None,
        })
    }

    fn needs_auth(self) -> bool {
        !matches!(self, Kind::Auth | Kind::Ping)
    }
}

/// Who sent a message and how to answer it.
pub struct Request<'a> {
    /// The socket it came on: where the reply goes.
    pub conn: ConnId,
    /// The id to echo in the one direct reply.
    pub id: Option<&'a str>,
    /// This worker saw an `AUTH` succeed on the socket: kinds that need a
    /// user get past the first check. The user itself is read under the
    /// handler's one hub lock (`user_in`), which also catches a socket
    /// superseded or evicted since.
    pub authed: bool,
    /// The address the socket speaks for (contract section 7).
    pub client: ClientAddr,
}

/// How a handled message ended, when it was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its reply is sent.
    Replied,
    /// `AUTH` succeeded: the socket speaks for a user from now on.
    Authenticated,
    /// The socket is being closed (a failed `AUTH`): nothing more it sent
    /// is handled.
    Closing,
    /// Handed to a database thread (`app::offload`), which answers it; the
    /// socket is busy until `Command::Settled` comes back.
    Deferred,
}

impl Request<'_> {
    /// The user this socket speaks for, read from the locked hub.
    fn user_in(&self, hub: &Hub) -> Result<UserId, Refusal> {
        hub.user_of(self.conn).ok_or_else(unauthenticated)
    }
}

fn unauthenticated() -> Refusal {
    Refusal::new("UNAUTHENTICATED", "send AUTH first")
}

/// Test-only faults: `FAULT_PANIC` panics outside any lock (one panic
/// costs one reply); `FAULT_PANIC_IN_ROOM` panics halfway through ending
/// the sender's room, with the hub locked (the hub must be repaired).
#[cfg(feature = "fault-injection")]
fn inject_fault(app: &App, req: &Request<'_>, ty: &str) {
    match ty {
        "FAULT_PANIC" => panic!("injected fault"),
        "FAULT_PANIC_IN_ROOM" => {
            let mut hub = app.hub();
            if let Some(user) = hub.user_of(req.conn) {
                hub.break_place_for_fault(user);
            }
            panic!("injected fault inside a transition");
        }
        _ => {}
    }
}

/// Runs one client message.
pub fn dispatch(
    app: &App,
    req: &Request<'_>,
    ty: &str,
    payload: Option<&RawValue>,
) -> Result<Outcome, Refusal> {
    #[cfg(feature = "fault-injection")]
    inject_fault(app, req, ty);
    let kind = Kind::parse(ty).ok_or_else(|| Refusal::bad_request(format!("unknown message type {ty:?}")))?;
    if kind.needs_auth() && !req.authed {
        return Err(unauthenticated());
    }
    let bad = Refusal::bad_request;
    let replied = match kind {
        Kind::Auth => return auth::run(app, req, parse_payload(payload).map_err(bad)?),
        Kind::JoinQueue => join_queue::run(app, req, parse_payload(payload).map_err(bad)?),
        Kind::LeaveQueue => leave_queue::run(app, req),
        Kind::Chat => chat::run(app, req, parse_payload(payload).map_err(bad)?),
        Kind::Typing => typing::run(app, req, parse_payload(payload).map_err(bad)?),
        Kind::LeaveRoom => leave_room::run(app, req, parse_payload(payload).map_err(bad)?),
        Kind::Next => next::run(app, req),
        Kind::Ping => ping::run(app, req),
        Kind::Report => return report::run(app, req, parse_payload(payload).map_err(bad)?),
    };
    replied.map(|()| Outcome::Replied)
}
