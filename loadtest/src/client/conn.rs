//! One client connection as a state machine: TCP connect → register (HTTP)
//! → upgrade (101, accept key checked) → AUTH → ready, then the requests a
//! scenario makes. It reads and decodes every server frame (answering
//! pings, handling close); text messages go to `inbox.rs`. Outgoing frames
//! are appended to one buffer that is written once per turn.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::mem;

use mio::net::TcpStream;

use super::ctx::Ctx;
use super::frame::{self, Header};
use super::http::{self, Registered};
use super::msg;
use super::wskey;

/// Largest server frame accepted (the server's own limit is 64 KiB).
pub const MAX_FRAME: usize = 1 << 20;
/// Largest unparsed input kept for one connection.
const MAX_PENDING: usize = 2 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No socket.
    Free,
    Connecting,
    /// Waiting for the register response, then the 101.
    Http,
    /// WebSocket open, AUTH sent.
    Upgraded,
    Ready,
    /// Close frame sent; waiting for the server's.
    Closing,
    /// Finished (cleanly or not); the driver drops the socket.
    Done,
}

/// A client request awaiting its one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Auth,
    Join,
    Chat,
    Leave,
}

/// What happened on a connection, for the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    Authed,
    Queued,
    Matched,
    Cancelled,
    Acked,
    Received,
    RoomLeft,
    PartnerLeft,
    /// The partner's connection dropped; the room waits for it.
    PartnerAway,
    PartnerBack,
    /// An ERROR reply to this request.
    Refused(Req),
    /// The socket is gone (after Done); `clean` = closed as asked.
    Gone {
        clean: bool,
    },
}

pub struct Conn {
    /// Slot index (the mio token).
    pub idx: u32,
    /// Bumped per socket, so stale timers are ignored.
    pub generation: u32,
    /// Global user number (for profiles); set by the driver.
    pub user: u64,
    pub phase: Phase,
    pub sock: Option<TcpStream>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    frag: Vec<u8>,
    in_frag: bool,
    key: [u8; 24],
    got_register: bool,
    pub token: String,
    pub room: String,
    pub in_room: bool,
    next_id: u32,
    pub(super) expect: VecDeque<(u32, Req)>,
    /// Chats sent in the current room (the per-sender counter `n`).
    pub tx_n: u64,
    pub acks_in_room: u64,
    pub rx_in_room: u64,
    /// Highest seq acknowledged to this user in the current room.
    pub last_own_seq: u64,
    pub(super) last_seq: u64,
    pub(super) rx_max_n: u64,
    pub(super) rx_seen: u128,
    /// Scenario clocks and state.
    pub t_mark: u64,
    pub t_next: u64,
    pub state: u8,
    pub timer_at: u64,
    pub deadline_at: u64,
    pub deadline_what: &'static str,
    pub dirty: bool,
    pub in_handshake: bool,
    /// The last close ended as asked.
    pub clean: bool,
    /// Handshakes of this slot that failed and were tried again
    /// (`idle --handshake-retries`); kept across sockets.
    pub retries: u8,
    /// This socket reached AUTH_OK.
    pub authed: bool,
}

impl Conn {
    pub fn new(idx: u32) -> Self {
        Conn {
            idx,
            generation: 0,
            user: 0,
            phase: Phase::Free,
            sock: None,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            frag: Vec::new(),
            in_frag: false,
            key: [0; 24],
            got_register: false,
            token: String::new(),
            room: String::new(),
            in_room: false,
            next_id: 0,
            expect: VecDeque::new(),
            tx_n: 0,
            acks_in_room: 0,
            rx_in_room: 0,
            last_own_seq: 0,
            last_seq: 0,
            rx_max_n: 0,
            rx_seen: 1,
            t_mark: 0,
            t_next: 0,
            state: 0,
            timer_at: 0,
            deadline_at: 0,
            deadline_what: "",
            dirty: false,
            in_handshake: false,
            clean: false,
            retries: 0,
            authed: false,
        }
    }

    /// Takes a fresh socket: resets the state and queues the register
    /// request (body = `ctx.json`) and, when pipelining, the upgrade.
    pub fn begin(&mut self, sock: TcpStream, ctx: &mut Ctx) {
        self.generation = self.generation.wrapping_add(1);
        self.sock = Some(sock);
        self.phase = Phase::Connecting;
        self.inbuf.clear();
        self.out.clear();
        self.out_pos = 0;
        self.frag.clear();
        self.in_frag = false;
        self.got_register = false;
        self.token.clear();
        self.room.clear();
        self.in_room = false;
        self.next_id = 0;
        self.expect.clear();
        self.reset_room();
        self.timer_at = 0;
        self.deadline_at = 0;
        self.in_handshake = true;
        self.clean = false;
        self.authed = false;
        self.key = wskey::new_key(&mut ctx.rng);
        http::write_register(&mut self.out, &ctx.host, &ctx.json);
        ctx.json.clear();
        if ctx.pipeline {
            http::write_upgrade(&mut self.out, &ctx.host, &self.key);
        }
        ctx.out.counters.opened += 1;
    }

    pub(super) fn reset_room(&mut self) {
        self.tx_n = 0;
        self.acks_in_room = 0;
        self.rx_in_room = 0;
        self.last_own_seq = 0;
        self.last_seq = 0;
        self.rx_max_n = 0;
        self.rx_seen = 1;
    }

    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Chats still waiting for their CHAT_ACK.
    pub fn chats_unacked(&self) -> u64 {
        self.expect.iter().filter(|(_, r)| *r == Req::Chat).count() as u64
    }

    /// Ends the connection as failed (the driver drops the socket).
    pub(super) fn fail(&mut self) {
        self.phase = Phase::Done;
        self.clean = false;
    }

    pub(super) fn protocol_error(&mut self, ctx: &mut Ctx, what: std::fmt::Arguments<'_>, fatal: bool) {
        ctx.out.counters.protocol_errors += 1;
        ctx.sample(format_args!("protocol: {what}"));
        if fatal {
            self.fail();
        }
    }

    fn io_error(&mut self, ctx: &mut Ctx, e: &io::Error) {
        if self.phase == Phase::Closing {
            // Reset after our close: the server is done with us.
            self.clean = true;
            ctx.out.counters.closed += 1;
        } else {
            ctx.out.counters.dropped += 1;
            ctx.sample(format_args!("socket error in {:?}: {e}", self.phase));
            self.clean = false;
        }
        self.phase = Phase::Done;
    }

    /// Called on the first readiness while connecting: has the connect
    /// finished, and how?
    pub fn check_connected(&mut self, ctx: &mut Ctx) {
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        match sock.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                ctx.out.counters.connect_errors += 1;
                ctx.sample(format_args!("connect: {e}"));
                self.fail();
                return;
            }
        }
        match sock.peer_addr() {
            Ok(_) => {
                let _ = sock.set_nodelay(true);
                ctx.out.counters.connected += 1;
                self.phase = Phase::Http;
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => {
                ctx.out.counters.connect_errors += 1;
                ctx.sample(format_args!("connect: {e}"));
                self.fail();
            }
        }
    }

    /// Writes what is queued until done or the socket is full.
    pub fn flush(&mut self, ctx: &mut Ctx) {
        if matches!(self.phase, Phase::Connecting | Phase::Free) {
            return;
        }
        let Some(sock) = self.sock.as_mut() else {
            return;
        };
        while self.out_pos < self.out.len() {
            match sock.write(&self.out[self.out_pos..]) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "write returned 0");
                    self.io_error(ctx, &e);
                    return;
                }
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if self.phase != Phase::Done {
                        self.io_error(ctx, &e);
                    }
                    return;
                }
            }
        }
        self.out.clear();
        self.out_pos = 0;
    }

    /// Reads until the socket is drained, handling every complete
    /// response or frame. `scratch` is the driver's shared read buffer.
    /// A short read means the receive queue was emptied, so unless the
    /// peer also shut its side (`read_closed`) the next edge will come
    /// with new data: that saves one `read` per event.
    pub fn on_readable(&mut self, scratch: &mut [u8], read_closed: bool, ctx: &mut Ctx) {
        loop {
            if matches!(self.phase, Phase::Done | Phase::Free | Phase::Connecting) {
                return;
            }
            let Some(sock) = self.sock.as_mut() else {
                return;
            };
            let n = match sock.read(scratch) {
                Ok(0) => {
                    self.on_eof(ctx);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_error(ctx, &e);
                    return;
                }
            };
            if self.inbuf.is_empty() {
                let used = self.process(&scratch[..n], ctx);
                if used < n && self.phase != Phase::Done {
                    self.inbuf.extend_from_slice(&scratch[used..n]);
                }
            } else {
                self.inbuf.extend_from_slice(&scratch[..n]);
                let mut buf = mem::take(&mut self.inbuf);
                let used = self.process(&buf, ctx);
                buf.drain(..used);
                self.inbuf = buf;
            }
            if self.inbuf.len() > MAX_PENDING {
                self.protocol_error(ctx, format_args!("over 2 MiB of unparsed input"), true);
            }
            if n < scratch.len() && !read_closed {
                return;
            }
        }
    }

    fn on_eof(&mut self, ctx: &mut Ctx) {
        if self.phase == Phase::Closing {
            ctx.out.counters.closed += 1;
            self.clean = true;
        } else {
            ctx.out.counters.dropped += 1;
            ctx.sample(format_args!("server closed the TCP connection during {:?}", self.phase));
            self.clean = false;
        }
        self.phase = Phase::Done;
    }

    /// Handles complete responses/frames at the start of `data`; returns
    /// the bytes used.
    fn process(&mut self, data: &[u8], ctx: &mut Ctx) -> usize {
        let mut pos = 0;
        loop {
            match self.phase {
                Phase::Http => match http::parse_response(&data[pos..]) {
                    Ok(None) => return pos,
                    Ok(Some(r)) => {
                        pos += r.used;
                        self.on_response(r, ctx);
                    }
                    Err(e) => {
                        self.protocol_error(ctx, format_args!("{e}"), true);
                        return data.len();
                    }
                },
                Phase::Upgraded | Phase::Ready | Phase::Closing => {
                    match frame::parse(&data[pos..], MAX_FRAME) {
                        Ok(None) => return pos,
                        Ok(Some(h)) => {
                            let payload = &data[pos + h.header_len..pos + h.total_len()];
                            pos += h.total_len();
                            self.on_frame(h, payload, ctx);
                        }
                        Err(e) => {
                            self.protocol_error(ctx, format_args!("{e}"), true);
                            return data.len();
                        }
                    }
                }
                Phase::Free | Phase::Connecting | Phase::Done => return data.len(),
            }
        }
    }

    fn on_response(&mut self, r: http::Response<'_>, ctx: &mut Ctx) {
        if !self.got_register {
            self.got_register = true;
            if r.status != 200 {
                ctx.out.counters.error_replies += 1;
                ctx.sample(format_args!(
                    "register: HTTP {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                ));
                self.fail();
                return;
            }
            match serde_json::from_slice::<Registered>(r.body) {
                Ok(reg) if !reg.auth_token.is_empty() && !reg.user_id.is_empty() => {
                    self.token = reg.auth_token;
                    ctx.out.counters.registered += 1;
                    if !ctx.pipeline {
                        http::write_upgrade(&mut self.out, &ctx.host, &self.key);
                    }
                }
                Ok(_) => self.protocol_error(ctx, format_args!("register: empty token"), true),
                Err(e) => self.protocol_error(ctx, format_args!("register body: {e}"), true),
            }
            return;
        }
        if r.status != 101 {
            ctx.out.counters.error_replies += 1;
            ctx.sample(format_args!("upgrade: HTTP {}", r.status));
            self.fail();
            return;
        }
        if !r.upgrade {
            self.protocol_error(ctx, format_args!("101 without Upgrade/Connection"), true);
            return;
        }
        if r.accept != Some(&wskey::accept_for(&self.key)[..]) {
            self.protocol_error(ctx, format_args!("wrong Sec-WebSocket-Accept"), true);
            return;
        }
        ctx.out.counters.upgraded += 1;
        self.phase = Phase::Upgraded;
        let id = self.push_req(Req::Auth);
        msg::write_auth(&mut ctx.json, id, &self.token);
        self.send_json(ctx);
    }

    fn on_frame(&mut self, h: Header, payload: &[u8], ctx: &mut Ctx) {
        if h.mask.is_some() {
            self.protocol_error(ctx, format_args!("masked frame from the server"), true);
            return;
        }
        match h.opcode {
            frame::OP_TEXT if self.in_frag => {
                self.protocol_error(ctx, format_args!("text frame inside a fragmented one"), true)
            }
            frame::OP_TEXT if h.fin => self.on_text(payload, ctx),
            frame::OP_TEXT => {
                self.frag.clear();
                self.frag.extend_from_slice(payload);
                self.in_frag = true;
            }
            frame::OP_CONT if !self.in_frag => {
                self.protocol_error(ctx, format_args!("continuation without a start"), true)
            }
            frame::OP_CONT => {
                self.frag.extend_from_slice(payload);
                if self.frag.len() > MAX_FRAME {
                    self.protocol_error(ctx, format_args!("fragmented message too big"), true);
                } else if h.fin {
                    self.in_frag = false;
                    let whole = mem::take(&mut self.frag);
                    self.on_text(&whole, ctx);
                    self.frag = whole;
                }
            }
            frame::OP_PING => {
                ctx.out.counters.pings += 1;
                let mask = ctx.rng.mask();
                frame::encode(&mut self.out, frame::OP_PONG, payload, mask);
            }
            frame::OP_PONG => {}
            frame::OP_CLOSE => self.on_close(payload, ctx),
            _ => self.protocol_error(ctx, format_args!("binary frame"), true),
        }
    }

    fn on_close(&mut self, payload: &[u8], ctx: &mut Ctx) {
        if self.phase == Phase::Closing {
            ctx.out.counters.closed += 1;
            self.clean = true;
            self.phase = Phase::Done;
            return;
        }
        let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
        ctx.out.counters.dropped += 1;
        ctx.sample(format_args!(
            "server closed the WebSocket with {code} {:?} during {:?}",
            String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])),
            self.phase
        ));
        let mask = ctx.rng.mask();
        frame::encode_close(&mut self.out, code.clamp(1000, 4999), mask);
        self.fail();
    }

    fn push_req(&mut self, req: Req) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.expect.push_back((self.next_id, req));
        self.next_id
    }

    /// Frames `ctx.json` as one masked text frame into the output buffer.
    fn send_json(&mut self, ctx: &mut Ctx) {
        let mask = ctx.rng.mask();
        frame::encode(&mut self.out, frame::OP_TEXT, &ctx.json, mask);
        ctx.json.clear();
    }

    /// JOIN_QUEUE with a complete JSON payload object.
    pub fn join(&mut self, ctx: &mut Ctx, payload: &str) {
        let id = self.push_req(Req::Join);
        msg::write_join(&mut ctx.json, id, payload);
        self.send_json(ctx);
    }

    /// One CHAT to the current room, stamped with `ctx.now`.
    pub fn chat(&mut self, ctx: &mut Ctx) {
        self.tx_n += 1;
        let id = self.push_req(Req::Chat);
        msg::write_chat(&mut ctx.json, id, &self.room, ctx.now, self.tx_n, ctx.pad);
        self.send_json(ctx);
        ctx.out.counters.sent += 1;
    }

    pub fn leave(&mut self, ctx: &mut Ctx) {
        let id = self.push_req(Req::Leave);
        msg::write_leave_room(&mut ctx.json, id, &self.room);
        self.send_json(ctx);
    }

    /// Starts the closing handshake (1000).
    pub fn close(&mut self, ctx: &mut Ctx) {
        match self.phase {
            Phase::Upgraded | Phase::Ready => {}
            Phase::Connecting | Phase::Http => {
                // No WebSocket yet: just drop the socket.
                self.phase = Phase::Done;
                self.clean = true;
                return;
            }
            Phase::Done | Phase::Free | Phase::Closing => return,
        }
        let mask = ctx.rng.mask();
        frame::encode_close(&mut self.out, 1000, mask);
        self.phase = Phase::Closing;
    }
}
