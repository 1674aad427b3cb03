//! The reactor's WebSocket phase: frames in, commands out, control frames
//! answered on the spot, output bounded, heartbeats and closes.

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::conn::Phase;
use super::frame::{self, Stop, WsEvent};
use super::log_limit::Verdict;
use super::reactor::{Reactor, Timer};
use crate::base::clock::Millis;
use crate::base::id::ConnId;
use crate::link::command::Command;
use crate::link::worker_for;

impl Reactor {
    /// Called when the 101 response is queued.
    pub(super) fn enter_ws(&mut self, slot: usize) {
        let now = self.clock.now();
        let conn = &mut self.conns[slot];
        conn.phase = Phase::Ws;
        conn.upgraded = true;
        conn.since = now;
        let id = ConnId::new(slot as u32, conn.generation);
        if !self.cfg.echo {
            self.timers.schedule(now + self.cfg.auth_timeout, Timer::Auth(id));
        }
        let first = self.cfg.ping_interval.min(self.cfg.idle_timeout);
        self.timers.schedule(now + first, Timer::Heartbeat { conn: id, ws: true });
        self.shared.metrics.websockets.inc();
        let client = conn.client;
        self.send_reliably(worker_for(id, self.workers.len()), Command::Opened { conn: id, client });
    }

    /// Decodes frames; returns (bytes used, whether the caller may go on).
    pub(super) fn on_ws_bytes(&mut self, slot: usize, buf: &mut [u8]) -> (usize, bool) {
        let id = self.id_of(slot);
        let worker = worker_for(id, self.workers.len());
        let budget = self.budget(worker);
        let Reactor { conns, workers, cfg, .. } = self;
        let echo = cfg.echo;
        let conn = &mut conns[slot];
        // Until a worker says AUTH succeeded, a message is at most 4 KiB
        // (contract section 7): an unauthenticated socket holds little.
        let limit =
            if conn.authed || echo { cfg.max_message } else { cfg.max_message.min(frame::PRE_AUTH_MESSAGE) };
        let mut replies: Vec<u8> = Vec::new();
        let mut refuse: Option<(u16, &'static str)> = None;
        let mut echo_close: Option<u16> = None;
        let decoded = conn.ws.decode_limited(buf, budget, limit, &mut |event| match event {
            WsEvent::Text(text) if echo => {
                frame::encode(&mut replies, OpCode::Data(Data::Text), text.as_bytes());
                true
            }
            WsEvent::Binary(bytes) if echo => {
                frame::encode(&mut replies, OpCode::Data(Data::Binary), bytes);
                true
            }
            WsEvent::Text(text) => {
                // The budget guarantees room: only the reactor sends here.
                let cmd = Command::Text { conn: id, text: text.into() };
                workers[worker].push(cmd);
                true
            }
            WsEvent::Binary(_) => {
                refuse = Some((1003, "binary frames are not accepted"));
                false
            }
            WsEvent::Ping(payload) => {
                frame::encode(&mut replies, OpCode::Control(Control::Pong), payload);
                true
            }
            WsEvent::Pong => true,
            WsEvent::Close(code) => {
                echo_close = Some(code);
                false
            }
        });
        if !replies.is_empty() {
            conn.queue_slice(&replies);
            if conn.pending_out() > self.cfg.max_pending_out {
                self.close_ws(slot, 1008, "output limit exceeded");
                return (buf.len(), false);
            }
            self.mark_dirty(slot);
        }
        match decoded {
            Ok((used, Stop::Incomplete)) => (used, false),
            Ok((used, Stop::Budget)) => {
                self.conns[slot].paused = true;
                self.again.push(id);
                (used, false)
            }
            Ok((_, Stop::Closed)) => {
                if let Some(code) = echo_close {
                    self.conns[slot].peer_closed = true;
                    self.notify_closed_with(slot, Some(code));
                }
                (buf.len(), false)
            }
            Ok((used, Stop::Halted)) => {
                if let Some((code, reason)) = refuse {
                    self.close_ws(slot, code, reason);
                }
                (used, true)
            }
            Err(e) => {
                self.close_ws(slot, e.close_code(), "invalid frame");
                (buf.len(), false)
            }
        }
    }

    /// After our close: discard input, but notice the peer's close frame.
    pub(super) fn on_closing_bytes(&mut self, slot: usize, buf: &mut [u8]) -> (usize, bool) {
        let conn = &mut self.conns[slot];
        if conn.upgraded && !conn.peer_closed {
            let mut saw_close = false;
            let decoded = conn.ws.decode(buf, usize::MAX, &mut |event| {
                saw_close |= matches!(event, WsEvent::Close(_));
                true
            });
            match decoded {
                Ok((used, Stop::Incomplete)) if !saw_close => return (used, false),
                _ => conn.peer_closed = true,
            }
        }
        if conn.peer_closed && conn.write_shut {
            self.remove(slot);
        }
        (buf.len(), false)
    }

    /// Queues a close frame after pending output and starts closing.
    pub(super) fn close_ws(&mut self, slot: usize, code: u16, reason: &str) {
        let conn = &mut self.conns[slot];
        if conn.phase != Phase::Ws {
            return;
        }
        // Closes the server imposes on a misbehaving or slow client are
        // counted, and worth a line to an operator, a few a minute at most;
        // normal ones are not.
        if matches!(code, 1002 | 1003 | 1007 | 1008 | 1009 | 1011 | 4401 | 4408 | 4429) {
            self.shared.metrics.ws_closes.get_or_create(&vec![("code", code)]).inc();
            let id = ConnId::new(slot as u32, conn.generation);
            match self.close_log.check(self.clock.now()) {
                Verdict::Log { suppressed_before } => {
                    if suppressed_before > 0 {
                        log::info!("{suppressed_before} more closes of misbehaving clients were not logged");
                    }
                    log::info!("closing {id:?} from {} with {code}: {reason}", conn.client);
                }
                Verdict::Quiet => {}
            }
        }
        conn.queue(frame::close_frame(code, reason));
        self.start_closing(slot);
    }

    /// A worker's frame for a connection: append it, within the bound.
    pub(super) fn queue_frame(&mut self, id: ConnId, bytes: Vec<u8>) {
        let Some(conn) = self.live(id) else { return };
        if conn.phase != Phase::Ws {
            return;
        }
        conn.queue(bytes);
        let slot = id.slot as usize;
        if self.conns[slot].pending_out() > self.cfg.max_pending_out {
            self.close_ws(slot, 1008, "output limit exceeded");
        } else {
            self.mark_dirty(slot);
        }
    }

    /// Request deadline (HTTP) or ping / idle check (WebSocket).
    pub(super) fn heartbeat(&mut self, id: ConnId, ws: bool, now: Millis) {
        let cfg = &self.cfg;
        let (auth, ping, idle, keepalive) =
            (cfg.auth_timeout, cfg.ping_interval, cfg.idle_timeout, cfg.keepalive);
        let Some(conn) = self.live(id) else { return };
        let slot = id.slot as usize;
        let next = match (conn.phase, ws) {
            (Phase::Http, false) => {
                // No progress (a request too slow to arrive, a response
                // nobody reads, an idle keep-alive), or idle past its life.
                let idle_now = conn.pending_out() == 0 && conn.inbuf.is_empty();
                let expired = now >= conn.born + keepalive;
                if now >= conn.since + auth || (idle_now && expired) {
                    self.remove(slot);
                    return;
                }
                let next = conn.since + auth;
                if expired { next } else { next.min(conn.born + keepalive) }
            }
            (Phase::HttpAwaiting, false) => conn.since.max(now) + auth,
            (Phase::Ws, true) => {
                let silent = now.saturating_sub(conn.since);
                if silent >= idle {
                    // The application's goodbye (contract section 3), then 4408.
                    self.conns[slot].queue_slice(&self.cfg.idle_goodbye);
                    self.close_ws(slot, 4408, "idle timeout");
                    return;
                }
                if silent >= ping {
                    let mut bytes = Vec::new();
                    frame::encode(&mut bytes, OpCode::Control(Control::Ping), b"");
                    conn.queue(bytes);
                    let next = (conn.since + idle).min(now + ping);
                    self.mark_dirty(slot);
                    next
                } else {
                    (conn.since + idle).min(conn.since + ping)
                }
            }
            _ => return,
        };
        self.timers.schedule(next, Timer::Heartbeat { conn: id, ws });
    }
}
