//! The reactor: one thread, one `mio::Poll`, every socket.
//!
//! It accepts, reads into one scratch buffer, decodes HTTP and WebSocket
//! frames, answers what needs no shared state (health, ping, close), hands
//! everything else to the workers as commands, and writes what the workers
//! queue for each socket. It never blocks and never runs business logic.
//!
//! Invariants:
//! - a connection's commands go to one worker, in the order they arrived;
//! - a worker never has more than `WORKER_QUEUE` messages in flight: before
//!   a message is consumed from the input the reactor checks there is room,
//!   else it stops reading that socket (`paused`) and retries each tick, so
//!   memory stays bounded; a tick's commands go to each worker as one batch;
//! - `Closed` reaches the workers exactly once per upgraded connection;
//! - anything addressed to a `ConnId` whose generation no longer matches
//!   its slot is dropped.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use log::{debug, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::Health;
use super::conn::{Connection, Flush, Phase};
use super::log_limit::LogLimit;
use super::timer::Timers;
use crate::base::addr::{ClientAddr, TrustedProxies};
use crate::base::clock::{Clock, Millis};
use crate::base::id::ConnId;
use crate::link::command::{AppTimer, Command};
use crate::link::lifecycle::Lifecycle;
use crate::link::outbox::{Inbox, Out};
use crate::link::queue::WorkerLink;
use crate::link::worker_for;
use crate::metrics::Metrics;

pub const LISTENER: Token = Token(usize::MAX - 1);
pub const WAKER: Token = Token(usize::MAX - 2);
pub const SIGNALS: Token = Token(usize::MAX - 3);
/// One read's worth; also the most a single read adds to a connection.
const SCRATCH: usize = 64 * 1024;
/// Kept HTTP input past which nothing more is read until requests are
/// answered: one whole request at most (head and body).
const HTTP_READ_AHEAD: usize = crate::net::http::MAX_HEAD + crate::net::http::MAX_BODY;
/// Reads per readiness event before other sockets get their turn.
const READS_PER_TURN: usize = 8;
/// Worker replies applied per tick before sockets are polled again.
const OUT_PER_TICK: usize = 32 * 1024;
/// How long to wait before accepting again after running out of descriptors.
const ACCEPT_RETRY_MS: Millis = 100;
/// Lines a minute about closes imposed on clients (protocol violations,
/// slow readers); past it they are only counted.
const CLOSE_LOG_PER_MINUTE: u32 = 10;

/// Reactor settings, resolved to milliseconds.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// HTTP: a request must arrive completely within it; WebSocket: `AUTH` must succeed within it (4401).
    pub auth_timeout: Millis,
    /// Silence after which the server pings.
    pub ping_interval: Millis,
    /// Silence after which the server says goodbye and closes (4408).
    pub idle_timeout: Millis,
    /// Bound on waiting for the peer after our final bytes.
    pub linger: Millis,
    /// `Origin`s an upgrade may come from; empty = any.
    pub allowed_origins: Vec<String>,
    /// Open connections at most (below the descriptor limit).
    pub max_conns: usize,
    /// Install SIGINT/SIGTERM handling (process-wide: the binary only).
    pub handle_signals: bool,
    /// Test-only echo mode (`--echo`): `/ws/chat` echoes frames, no auth.
    pub echo: bool,
    /// Largest WebSocket message (64 KiB; larger in echo mode).
    pub max_message: usize,
    /// Unsent output per connection before it is closed with 1008.
    pub max_pending_out: usize,
    /// Open sockets per client address; 0 = no cap (contract section 7).
    pub max_per_ip: usize,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted: TrustedProxies,
    /// Longest life of an HTTP keep-alive connection.
    pub keepalive: Millis,
    /// The complete text frame sent before closing a connection that went
    /// silent (4408). Made by the application: what it says is not the
    /// reactor's business.
    pub idle_goodbye: Vec<u8>,
    /// The complete text frame sent to every WebSocket before close 1001
    /// at shutdown; made by the application likewise.
    pub shutdown_goodbye: Vec<u8>,
}

/// What the reactor shares with the rest of the server.
pub struct Shared {
    /// Stop, drain-requested and draining flags.
    pub life: Arc<Lifecycle>,
    /// The server clock; the workers hold copies of the same one.
    pub clock: Clock,
    /// Connection and close counters.
    pub metrics: Arc<Metrics>,
    /// Asked by `GET /api/health`, on this thread: it must not block.
    pub health: Arc<dyn Health>,
}

/// Reactor timers; each is checked for staleness when it fires.
#[derive(Debug)]
pub enum Timer {
    /// Request deadline (HTTP) or ping/idle check (WebSocket); `ws` says
    /// which phase scheduled it, so the HTTP chain dies at the upgrade.
    Heartbeat {
        conn: ConnId,
        ws: bool,
    },
    Auth(ConnId),
    Linger(ConnId),
    /// Key of the timer in `Reactor::app_timers` (kept out of the heap so
    /// every entry stays 32 bytes: most are one per idle connection).
    App(u32),
    ResumeAccept,
}

pub struct Reactor {
    /// Every socket, the listener, the waker and the signals.
    pub(super) poll: Poll,
    /// Deregistered when a drain begins: no more accepts.
    pub(super) listener: TcpListener,
    /// The connections, by slot (= mio token).
    pub(super) conns: Slab<Connection>,
    /// Bumped per accept; the generation of the next connection.
    pub(super) next_generation: u32,
    /// Every reactor deadline: heartbeats, auth, linger, app timers.
    pub(super) timers: Timers<Timer>,
    /// Payloads of the application timers in `timers`.
    pub(super) app_timers: Slab<AppTimer>,
    /// The server clock (shared with the workers).
    pub(super) clock: Clock,
    /// Timeouts and bounds, fixed at start.
    pub(super) cfg: NetConfig,
    /// One link per worker: this tick's batch and the in-flight bound.
    pub(super) workers: Vec<WorkerLink>,
    /// What the workers send back: frames, closes, answers, timers.
    pub(super) inbox: Inbox,
    /// The one read buffer; taken out while a read is processed.
    pub(super) scratch: Vec<u8>,
    /// Slots with output to flush this tick.
    pub(super) dirty: Vec<usize>,
    /// Connections to process again: paused ones, or ones whose read turn
    /// ended with data possibly left in the socket.
    pub(super) again: Vec<ConnId>,
    /// Out of descriptors: accepting resumes at a `ResumeAccept` timer.
    pub(super) accept_paused: bool,
    /// Lifecycle flags, metrics and health, shared with the other threads.
    pub(super) shared: Shared,
    /// SIGINT/SIGTERM as a poll source (the binary only: tests run many
    /// servers in one process and stop them through `Lifecycle`).
    pub(super) signals: Option<signal_hook_mio::v1_0::Signals>,
    /// Set once a graceful shutdown began.
    pub(super) drain: Option<super::drain::Drain>,
    /// Open connections per client address, for `max_per_ip`; an entry
    /// exists only while its count is above zero, so it holds at most one
    /// entry per open connection.
    pub(super) per_ip: HashMap<ClientAddr, u32>,
    /// Closes the server imposes on misbehaving clients are logged, but a
    /// flood of them must not become a flood of log lines.
    pub(super) close_log: LogLimit,
}

impl Reactor {
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        cfg: NetConfig,
        workers: Vec<WorkerLink>,
        inbox: Inbox,
        shared: Shared,
    ) -> io::Result<Reactor> {
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let signals = if cfg.handle_signals {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let mut s = signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM])?;
            poll.registry().register(&mut s, SIGNALS, Interest::READABLE)?;
            Some(s)
        } else {
            None
        };
        Ok(Reactor {
            poll,
            listener,
            conns: Slab::new(),
            next_generation: 0,
            timers: Timers::new(),
            app_timers: Slab::new(),
            clock: shared.clock,
            cfg,
            workers,
            inbox,
            scratch: vec![0; SCRATCH],
            dirty: Vec::new(),
            again: Vec::new(),
            accept_paused: false,
            shared,
            signals,
            drain: None,
            per_ip: HashMap::new(),
            close_log: LogLimit::per_minute(CLOSE_LOG_PER_MINUTE),
        })
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut backlog = false;
        while !self.shared.life.stopping.load(Ordering::Acquire) {
            // Workers wake the reactor only once it is about to sleep: a
            // push while it is still busy is picked up by the check below,
            // without an eventfd write.
            self.inbox.armed.store(false, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            let replies = !self.inbox.rx.is_empty();
            let timeout = if backlog || replies || !self.again.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .next_deadline()
                    .map(|at| Duration::from_millis(at.saturating_sub(self.clock.now())))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                warn!("poll failed, reactor stops: {e}");
                break;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    SIGNALS => self.on_signals(),
                    Token(slot) => {
                        if event.is_writable() {
                            self.writable(slot);
                        }
                        if (event.is_read_closed() || event.is_error())
                            && let Some(conn) = self.conns.get_mut(slot)
                        {
                            conn.read_closed = true;
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_turn(slot);
                        }
                    }
                }
            }
            if self.shared.life.drain_requested.load(Ordering::Acquire) {
                self.begin_drain();
            }
            backlog = self.drain_outgoing();
            self.run_again();
            self.fire_timers();
            for link in &mut self.workers {
                link.flush();
            }
            self.flush_dirty();
            if self.drained() {
                break;
            }
        }
        debug!("reactor stopped with {} connections", self.conns.len());
    }

    /// The live connection behind `id`, if its generation still matches.
    pub(super) fn live(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.conns.get_mut(id.slot as usize).filter(|c| c.generation == id.generation)
    }

    pub(super) fn id_of(&self, slot: usize) -> ConnId {
        ConnId::new(slot as u32, self.conns[slot].generation)
    }

    fn accept(&mut self) {
        while !self.accept_paused {
            match self.listener.accept() {
                Ok((mut sock, addr)) => {
                    if self.conns.len() >= self.cfg.max_conns {
                        debug!("connection limit reached; refusing {addr}");
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    let proxied = self.cfg.trusted.trusts(addr.ip());
                    let client = ClientAddr::of(addr.ip());
                    let entry = self.conns.vacant_entry();
                    let slot = entry.key();
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = self.poll.registry().register(&mut sock, Token(slot), interest) {
                        warn!("register failed: {e}");
                        continue;
                    }
                    self.next_generation = self.next_generation.wrapping_add(1);
                    let now = self.clock.now();
                    entry.insert(Connection::new(sock, self.next_generation, client, proxied, now));
                    let conn = ConnId::new(slot as u32, self.next_generation);
                    let first = self.cfg.auth_timeout.min(self.cfg.keepalive);
                    self.timers.schedule(now + first, Timer::Heartbeat { conn, ws: false });
                    self.shared.metrics.connections.inc();
                    // Behind a trusted proxy the client is known only once
                    // a request names it; a direct peer is judged now.
                    if !proxied && !self.admit(slot, client) {
                        self.refuse_over_cap(slot);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    // EMFILE and friends: the pending connection stays in the
                    // backlog; try again shortly instead of spinning on it.
                    warn!("accept failed ({e}); pausing accepts for {ACCEPT_RETRY_MS} ms");
                    self.accept_paused = true;
                    let at = self.clock.now() + ACCEPT_RETRY_MS;
                    self.timers.schedule(at, Timer::ResumeAccept);
                }
            }
        }
    }

    fn writable(&mut self, slot: usize) {
        if self.conns.get(slot).is_some_and(|c| c.pending_out() > 0) {
            self.flush(slot);
        }
    }

    /// Reads until the socket is drained, the turn ends, or the connection
    /// may not take more input now.
    pub(super) fn read_turn(&mut self, slot: usize) {
        for _ in 0..READS_PER_TURN {
            let mut scratch = mem::take(&mut self.scratch);
            let Some(conn) = self.conns.get_mut(slot) else {
                self.scratch = scratch;
                return;
            };
            // A WebSocket whose peer closed waits for the worker's echo.
            let awaiting_echo = conn.phase == Phase::Ws && conn.peer_closed;
            // HTTP is one request at a time: nothing more is read while a
            // response is being written, or while what was read already
            // holds a request's worth (the socket's buffers push back).
            let answering =
                conn.phase == Phase::Http && (conn.pending_out() > 0 || conn.inbuf.len() >= HTTP_READ_AHEAD);
            if conn.paused || conn.phase == Phase::HttpAwaiting || awaiting_echo || answering {
                self.scratch = scratch;
                return;
            }
            let result = conn.read(&mut scratch);
            match result {
                Ok(0) => {
                    self.scratch = scratch;
                    self.peer_eof(slot);
                    return;
                }
                Ok(n) => {
                    // A short read is taken to mean the socket is empty, and
                    // the read that would only say WouldBlock is skipped: a
                    // syscall saved per message. mio does not promise this:
                    // its `Poll` documentation ("Draining readiness") says an
                    // operation must be repeated until it returns WouldBlock,
                    // else no further event is guaranteed, even for new data.
                    //
                    // It holds on Linux (and Android), where mio is epoll
                    // with EPOLLET: a TCP read that returns fewer bytes than
                    // asked took everything queued on the socket at that
                    // moment, and epoll reports a new edge each time new
                    // data is queued (the socket's data-ready callback puts
                    // it back on the ready list, even while we read), so
                    // data arriving after this read brings its own event.
                    // It is not valid on Windows, where mio re-arms a
                    // socket's readiness only after an operation returned
                    // WouldBlock: there the connection would stall. kqueue
                    // (macOS, BSD; EV_CLEAR) should behave like epoll but
                    // was never tested. On another platform, drain until
                    // WouldBlock (drop `drained` below).
                    //
                    // After a half-close no edge comes for the rest, so then
                    // read on to the EOF.
                    let drained = n < scratch.len() && !conn.read_closed;
                    self.consume(slot, &mut scratch[..n]);
                    self.scratch = scratch;
                    if drained {
                        return;
                    }
                }
                Err(e) => {
                    self.scratch = scratch;
                    if e.kind() != io::ErrorKind::WouldBlock {
                        self.remove(slot);
                    }
                    return;
                }
            }
        }
        if self.conns.contains(slot) {
            let id = self.id_of(slot);
            self.again.push(id);
        }
    }

    /// Feeds freshly read bytes through the connection's phase handlers,
    /// keeping only an unconsumed tail.
    fn consume(&mut self, slot: usize, fresh: &mut [u8]) {
        let generation = self.conns[slot].generation;
        if self.conns[slot].phase == Phase::Ws {
            self.conns[slot].since = self.clock.now();
        }
        if self.conns[slot].inbuf.is_empty() {
            let used = self.process(slot, fresh);
            if let Some(conn) = self.conns.get_mut(slot).filter(|c| c.generation == generation)
                && used < fresh.len()
            {
                conn.inbuf.extend_from_slice(&fresh[used..]);
            }
        } else {
            self.conns[slot].inbuf.extend_from_slice(fresh);
            self.process_inbuf(slot);
        }
    }

    /// Processes the bytes a connection kept, e.g. after a pause.
    pub(super) fn process_inbuf(&mut self, slot: usize) {
        let generation = self.conns[slot].generation;
        let mut buf = mem::take(&mut self.conns[slot].inbuf);
        let used = self.process(slot, &mut buf);
        if let Some(conn) = self.conns.get_mut(slot).filter(|c| c.generation == generation)
            && used < buf.len()
        {
            buf.drain(..used);
            // A buffer that once took several reads keeps no more than twice
            // what it holds now (a pre-AUTH socket stays small).
            if buf.capacity() > 2 * buf.len().max(4096) {
                buf.shrink_to(buf.len().max(4096));
            }
            conn.inbuf = buf;
        }
    }

    /// Runs the phase handlers over `buf` until it is used up or a phase
    /// cannot go on; returns the bytes consumed.
    fn process(&mut self, slot: usize, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        while pos < buf.len() {
            let Some(conn) = self.conns.get(slot) else {
                return buf.len();
            };
            let (used, more) = match conn.phase {
                Phase::Http => self.on_http_bytes(slot, &mut buf[pos..]),
                Phase::Ws => self.on_ws_bytes(slot, &mut buf[pos..]),
                Phase::Closing => self.on_closing_bytes(slot, &mut buf[pos..]),
                Phase::HttpAwaiting => (0, false),
            };
            pos += used;
            if !more {
                break;
            }
        }
        pos
    }

    fn peer_eof(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        match conn.phase {
            Phase::HttpAwaiting | Phase::Closing => {
                conn.peer_closed = true;
                self.finish_close(slot);
            }
            // A half-closed HTTP client still reads: send what is queued first.
            Phase::Http if conn.pending_out() > 0 => {
                conn.peer_closed = true;
                self.start_closing(slot);
            }
            Phase::Http | Phase::Ws => self.remove(slot),
        }
    }

    /// Room left in a worker's queue: the message budget for one read.
    pub(super) fn budget(&self, worker: usize) -> usize {
        self.workers[worker].budget()
    }

    /// Queues a command that must arrive (it is never refused for room).
    pub(super) fn send_reliably(&mut self, worker: usize, cmd: Command) {
        self.workers[worker].push(cmd);
    }

    /// Applies worker output; true when more is waiting.
    fn drain_outgoing(&mut self) -> bool {
        // Busy from here until the next poll: pushes need not wake us.
        self.inbox.armed.store(true, Ordering::SeqCst);
        for _ in 0..OUT_PER_TICK {
            match self.inbox.rx.try_recv() {
                Ok(out) => self.apply(out),
                Err(_) => return false,
            }
        }
        true
    }

    fn apply(&mut self, out: Out) {
        match out {
            Out::Frame { conn, bytes } => self.queue_frame(conn, bytes),
            Out::Close { conn, code, reason } => {
                if self.live(conn).is_some_and(|c| c.phase == Phase::Ws) {
                    self.close_ws(conn.slot as usize, code, reason);
                }
            }
            Out::Http { conn, bytes, close } => self.http_reply(conn, bytes, close),
            Out::Authed { conn } => {
                if let Some(c) = self.live(conn) {
                    c.authed = true;
                }
            }
            Out::Timer { at, timer } => {
                let key = self.app_timers.insert(timer) as u32;
                self.timers.schedule(at, Timer::App(key));
            }
            Out::DrainReady => self.drain_ready(),
        }
    }

    fn run_again(&mut self) {
        for id in mem::take(&mut self.again) {
            let slot = id.slot as usize;
            let Some(paused) = self.live(id).map(|c| c.paused) else {
                continue;
            };
            if paused {
                let worker = worker_for(id, self.workers.len());
                if self.budget(worker) == 0 {
                    self.again.push(id);
                    continue;
                }
                self.conns[slot].paused = false;
            }
            if !self.conns[slot].inbuf.is_empty() {
                self.process_inbuf(slot);
            }
            if self.live(id).is_some_and(|c| !c.paused) {
                self.read_turn(slot);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.clock.now();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Heartbeat { conn, ws } => self.heartbeat(conn, ws, now),
                Timer::Auth(conn) => {
                    if self.live(conn).is_some_and(|c| c.phase == Phase::Ws) {
                        let worker = worker_for(conn, self.workers.len());
                        self.send_reliably(worker, Command::AuthTimeout { conn });
                    }
                }
                Timer::Linger(conn) => {
                    if self.live(conn).is_some() {
                        self.remove(conn.slot as usize);
                    }
                }
                Timer::App(key) => {
                    let Some(timer) = self.app_timers.try_remove(key as usize) else { continue };
                    let worker = (timer.shard_key() % self.workers.len() as u64) as usize;
                    self.send_reliably(worker, Command::Timer(timer));
                }
                Timer::ResumeAccept => {
                    self.accept_paused = false;
                    self.accept();
                }
            }
        }
    }

    pub(super) fn mark_dirty(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    fn flush_dirty(&mut self) {
        for slot in mem::take(&mut self.dirty) {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.dirty = false;
                self.flush(slot);
            }
        }
    }

    /// Writes pending output; finishes a close once everything is out.
    /// An HTTP connection's written bytes count as progress, and once its
    /// response is out the next pipelined request may be read.
    pub(super) fn flush(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let before = conn.pending_out();
        let result = conn.flush();
        if conn.phase == Phase::Http && conn.pending_out() < before {
            conn.since = self.clock.now();
        }
        match result {
            Flush::Done => match self.conns[slot].phase {
                Phase::Closing => self.finish_close(slot),
                Phase::Http if before > 0 => {
                    // The next kept request is parsed now, before more is
                    // read (a pipelining client must not outrun its answers).
                    if !self.conns[slot].inbuf.is_empty() {
                        self.process_inbuf(slot);
                    }
                    if let Some(id) = self.conns.get(slot).map(|c| c.generation) {
                        self.again.push(ConnId::new(slot as u32, id));
                    }
                }
                _ => {}
            },
            Flush::WouldBlock => {}
            Flush::Failed => self.remove(slot),
        }
    }

    /// Starts closing: the final bytes are already queued.
    pub(super) fn start_closing(&mut self, slot: usize) {
        self.notify_closed(slot);
        let conn = &mut self.conns[slot];
        conn.phase = Phase::Closing;
        conn.paused = false;
        let id = ConnId::new(slot as u32, conn.generation);
        self.timers.schedule(self.clock.now() + self.cfg.linger, Timer::Linger(id));
        self.mark_dirty(slot);
    }

    /// Once output is flushed: half-close, and drop when the peer is done.
    fn finish_close(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.pending_out() > 0 || conn.phase != Phase::Closing {
            return;
        }
        if !conn.write_shut {
            conn.write_shut = true;
            let _ = conn.sock.shutdown(std::net::Shutdown::Write);
        }
        if conn.peer_closed {
            self.remove(slot);
        }
    }

    /// Tells the workers an upgraded connection is gone, once.
    fn notify_closed(&mut self, slot: usize) {
        self.notify_closed_with(slot, None);
    }

    /// As `notify_closed`; with `echo`, the worker answers with the close
    /// frame to send back, so the client sees its close answered only once
    /// the application has let go of what it held for the connection.
    pub(super) fn notify_closed_with(&mut self, slot: usize, echo: Option<u16>) {
        let conn = &mut self.conns[slot];
        if conn.upgraded && !conn.notified {
            conn.notified = true;
            let id = ConnId::new(slot as u32, conn.generation);
            self.send_reliably(worker_for(id, self.workers.len()), Command::Closed { conn: id, echo });
        }
    }

    pub(super) fn remove(&mut self, slot: usize) {
        if !self.conns.contains(slot) {
            return;
        }
        self.notify_closed(slot);
        let mut conn = self.conns.remove(slot);
        let _ = self.poll.registry().deregister(&mut conn.sock);
        if conn.counted {
            self.uncount(conn.client);
        }
        self.shared.metrics.connections.dec();
    }
}
