//! The reactor's HTTP phase: parse a request, answer health and upgrades
//! itself, pass the rest to a worker and wait for its answer.

use std::sync::atomic::Ordering;

use super::conn::Phase;
use super::http::{self, HttpError, Parsed};
use super::reactor::Reactor;
use crate::base::http::{Method, Request, Response};
use crate::base::id::ConnId;
use crate::link::command::Command;
use crate::link::worker_for;

/// The path of the WebSocket endpoint.
pub const WS_PATH: &str = "/ws/chat";

impl Reactor {
    /// Parses one request; returns (bytes used, whether to go on).
    /// One request at a time (contract section 7): while a response is
    /// being written, the next pipelined request stays unparsed.
    pub(super) fn on_http_bytes(&mut self, slot: usize, buf: &mut [u8]) -> (usize, bool) {
        if self.conns[slot].pending_out() > 0 {
            return (0, false);
        }
        let id = self.id_of(slot);
        let worker = worker_for(id, self.workers.len());
        match http::parse(buf) {
            Ok(Parsed::Incomplete) => (0, false),
            Err(e) => {
                self.reply_error(slot, e);
                (buf.len(), false)
            }
            Ok(Parsed::Complete(mut req, used)) => {
                if self.conns[slot].proxied && !self.admit_forwarded(slot, &req) {
                    self.refuse_over_cap(slot);
                    return (buf.len(), false);
                }
                // Past its life a keep-alive connection ends with this answer.
                if self.clock.now() >= self.conns[slot].born + self.cfg.keepalive {
                    req.close = true;
                }
                if req.path == WS_PATH {
                    self.upgrade(slot, &req);
                    return (used, true);
                }
                if req.path == "/api/health" {
                    let resp = match req.method() {
                        Method::Get => self.health(),
                        Method::Head => {
                            let mut r = self.health();
                            r.head_only = true;
                            r
                        }
                        _ => Response::method_not_allowed("GET"),
                    };
                    self.respond(slot, &resp, req.close);
                    return (used, true);
                }
                if self.budget(worker) == 0 {
                    // Leave the request unconsumed and retry when there is room.
                    self.conns[slot].paused = true;
                    self.again.push(id);
                    return (0, false);
                }
                let client = self.conns[slot].client;
                self.workers[worker].push(Command::Http { conn: id, client, req });
                self.conns[slot].phase = Phase::HttpAwaiting;
                (used, false)
            }
        }
    }

    /// A request from a trusted proxy names its client: count the
    /// connection under that address; false when it is over its cap.
    fn admit_forwarded(&mut self, slot: usize, req: &Request) -> bool {
        let client = match self.conns[slot].sock.peer_addr() {
            Ok(peer) => self.cfg.trusted.client(peer.ip(), req.forwarded_for.as_deref()),
            Err(_) => self.conns[slot].client,
        };
        self.admit(slot, client)
    }

    /// `draining` (503) during shutdown; `degraded` (200: the service still
    /// works) with the reason [`Health`](super::Health) gives (the database
    /// is away); else `ok`.
    fn health(&self) -> Response {
        let draining = self.shared.life.draining.load(Ordering::Acquire);
        let degraded = self.shared.health.degraded();
        let status = match (draining, &degraded) {
            (true, _) => "draining",
            (false, Some(_)) => "degraded",
            (false, None) => "ok",
        };
        let mut body = serde_json::json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": self.clock.now() / 1000,
        });
        if let Some(reason) = degraded {
            body["reason"] = reason.into();
        }
        for (name, value) in self.shared.health.facts() {
            body[name] = value;
        }
        Response::json(if draining { 503 } else { 200 }, body.to_string().into_bytes())
    }

    fn reply_error(&mut self, slot: usize, e: HttpError) {
        let resp = Response::error(e.status(), e.code(), &e.to_string());
        self.respond(slot, &resp, true);
    }

    /// Queues a response the reactor made itself.
    fn respond(&mut self, slot: usize, resp: &Response, close: bool) {
        let conn = &mut self.conns[slot];
        conn.queue(resp.to_bytes(close));
        conn.since = self.clock.now();
        if close {
            self.start_closing(slot);
        } else {
            self.mark_dirty(slot);
        }
    }

    /// Validates an upgrade request and answers 101 or an error.
    fn upgrade(&mut self, slot: usize, req: &Request) {
        let refusal = if req.method() != Method::Get {
            Some(Response::method_not_allowed("GET"))
        } else if !req.wants_upgrade || req.ws_key.is_none() {
            Some(Response::error(400, "BAD_REQUEST", "expected a WebSocket upgrade request"))
        } else if req.ws_version.as_deref() != Some("13") {
            Some(
                Response::error(426, "BAD_REQUEST", "unsupported WebSocket version")
                    .header("Sec-WebSocket-Version: 13".into()),
            )
        } else if let Some(origin) = &req.origin
            && !self.cfg.allowed_origins.is_empty()
            && !self.cfg.allowed_origins.iter().any(|o| o == origin)
        {
            Some(Response::error(403, "FORBIDDEN", "origin not allowed"))
        } else {
            None
        };
        match (refusal, req.ws_key.as_deref()) {
            (None, Some(key)) => {
                self.conns[slot].queue(http::switching_protocols(key));
                self.mark_dirty(slot);
                self.enter_ws(slot);
            }
            (refusal, _) => {
                let resp = refusal.unwrap_or_else(|| Response::error(400, "BAD_REQUEST", "bad upgrade"));
                self.respond(slot, &resp, req.close);
            }
        }
    }

    /// A worker's answer to the request this connection is waiting on.
    pub(super) fn http_reply(&mut self, id: ConnId, bytes: Vec<u8>, close: bool) {
        let now = self.clock.now();
        let draining = self.drain.is_some();
        let Some(conn) = self.live(id) else { return };
        if conn.phase != Phase::HttpAwaiting {
            return;
        }
        conn.queue(bytes);
        let slot = id.slot as usize;
        // A peer that half-closed sends nothing more: answer, then close.
        if close || conn.peer_closed || conn.read_closed || draining {
            self.start_closing(slot);
        } else {
            conn.phase = Phase::Http;
            conn.since = now;
            self.mark_dirty(slot);
            // Pipelined bytes may be waiting in `inbuf` or in the socket.
            self.again.push(id);
        }
    }
}
