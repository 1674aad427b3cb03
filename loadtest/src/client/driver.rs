//! The event loop: one mio `Poll` over every connection of this process.
//! Each turn it lets the scenario tick, opens connections at the ramp's
//! pace (capped handshakes in flight), fires due timers, writes each dirty
//! connection's batched frames once, reports progress, then waits for
//! readiness and handles it. It ends when the scenario says so or at the
//! hard deadline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, Note, Phase};
use super::ctx::{Ctx, KIND_DEADLINE, KIND_TIMER};
use crate::result::{Line, Outcome, Progress};
use crate::sys::mono_ns;

/// What a scenario decides; the driver does the I/O.
pub trait Behavior {
    /// Writes the register body for the connection's user into `ctx.json`.
    /// Called as the connection opens; may also set its clocks.
    fn register_body(&mut self, c: &mut Conn, ctx: &mut Ctx);
    /// Reacts to something that happened on a connection.
    fn on_note(&mut self, c: &mut Conn, ctx: &mut Ctx, note: Note);
    /// The connection's timer (set with `ctx.schedule`) is due.
    fn on_timer(&mut self, _c: &mut Conn, _ctx: &mut Ctx) {}
    /// Called every turn; `ready` = every initial connection has opened and
    /// finished its handshake (or failed).
    fn tick(&mut self, conns: &mut [Conn], ctx: &mut Ctx, ready: bool) -> Flow;
    /// Last accounting before the result is returned.
    fn finish(&mut self, _conns: &mut [Conn], _ctx: &mut Ctx) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Finish,
}

/// How the driver opens and paces connections.
#[derive(Debug, Clone)]
pub struct DriverCfg {
    pub target: SocketAddr,
    /// Every node (the target first); user u connects to
    /// `split.node_of(nodes, u)`.
    pub nodes: Vec<SocketAddr>,
    pub split: crate::cli::Split,
    /// Spread sources over 127.0.0.1..=127.0.0.N (0 = let the kernel pick).
    pub source_ips: u8,
    /// Connection slots in this process.
    pub slots: usize,
    /// Global number of this process's first user.
    pub first_user: u64,
    /// Initial connections are spread evenly over this.
    pub ramp_ns: u64,
    pub max_handshakes: usize,
    pub handshake_timeout_ns: u64,
    pub hard_deadline: u64,
    pub progress_every_ns: u64,
}

const READ_SCRATCH: usize = 64 * 1024;
/// Longest sleep in poll, so ticks and progress keep coming.
const MAX_WAIT_NS: u64 = 20_000_000;

struct Driver<'s, B: Behavior> {
    cfg: DriverCfg,
    poll: Poll,
    conns: Vec<Conn>,
    scratch: Vec<u8>,
    ctx: Ctx,
    behavior: B,
    /// Initial slots opened so far (they open in slot order).
    initial_opened: usize,
    /// Slots to open again, as soon as the handshake cap allows.
    reopen: Vec<u32>,
    handshaking: usize,
    dirty: Vec<u32>,
    sink: &'s mut dyn FnMut(Line),
    start: u64,
}

/// Runs a scenario to its end; returns what this process measured.
pub fn run<B: Behavior>(
    cfg: DriverCfg,
    ctx: Ctx,
    behavior: B,
    sink: &mut dyn FnMut(Line),
) -> io::Result<Outcome> {
    let conns = (0..cfg.slots)
        .map(|i| {
            let mut c = Conn::new(i as u32);
            c.user = cfg.first_user + i as u64;
            c
        })
        .collect();
    let mut d = Driver {
        poll: Poll::new()?,
        conns,
        scratch: vec![0; READ_SCRATCH],
        ctx,
        behavior,
        initial_opened: 0,
        reopen: Vec::new(),
        handshaking: 0,
        dirty: Vec::new(),
        sink,
        start: mono_ns(),
        cfg,
    };
    d.run_loop()?;
    Ok(d.ctx.out)
}

impl<B: Behavior> Driver<'_, B> {
    fn run_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(4096);
        let mut next_progress = self.start + self.cfg.progress_every_ns;
        loop {
            let now = mono_ns();
            self.ctx.now = now;
            if now >= self.cfg.hard_deadline {
                self.ctx.out.counters.timeouts += 1;
                self.ctx.sample(format_args!("hard deadline reached; stopping"));
                break;
            }
            let ready = self.is_ready();
            if ready && self.ctx.out.ready_ns == 0 {
                self.ctx.out.ready_ns = now;
            }
            if self.behavior.tick(&mut self.conns, &mut self.ctx, ready) == Flow::Finish {
                break;
            }
            self.mark_all_dirty_after_tick();
            self.reopen.append(&mut self.ctx.reopen);
            self.open_some(now);
            let now = mono_ns();
            self.ctx.now = now;
            self.fire_timers(now);
            self.flush_dirty();
            if now >= next_progress {
                next_progress = now + self.cfg.progress_every_ns;
                let p = Progress { counters: self.ctx.out.counters.clone(), ready };
                (self.sink)(Line::Progress(Box::new(p)));
            }
            let wait = self.wait_ns(mono_ns());
            match self.poll.poll(&mut events, Some(Duration::from_nanos(wait))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.ctx.now = mono_ns();
            for ev in events.iter() {
                let idx = ev.token().0;
                let Some(c) = self.conns.get_mut(idx) else {
                    continue;
                };
                if c.sock.is_none() {
                    continue;
                }
                if c.phase == Phase::Connecting {
                    c.check_connected(&mut self.ctx);
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    let closed = ev.is_read_closed() || ev.is_error();
                    c.on_readable(&mut self.scratch, closed, &mut self.ctx);
                }
                self.after(idx, true);
            }
        }
        self.ctx.now = mono_ns();
        self.behavior.finish(&mut self.conns, &mut self.ctx);
        // Say goodbye without waiting for answers; the process ends next.
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            c.close(&mut self.ctx);
            c.flush(&mut self.ctx);
            if let Some(mut s) = c.sock.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
        Ok(())
    }

    fn is_ready(&self) -> bool {
        self.initial_opened == self.conns.len()
            && self.handshaking == 0
            && self.reopen.is_empty()
            && self.ctx.reopen.is_empty()
            && self.ctx.reopen_later == 0
    }

    /// How long poll may sleep.
    fn wait_ns(&self, now: u64) -> u64 {
        let mut until = now + MAX_WAIT_NS;
        if self.initial_opened < self.conns.len() || !self.reopen.is_empty() {
            until = until.min(now + 1_000_000);
        }
        if let Some(due) = self.ctx.next_due() {
            until = until.min(due);
        }
        until.saturating_sub(now)
    }

    /// A scenario tick that set `ctx.touched_all` may have queued frames
    /// (e.g. closes) on any connection; only then are all of them scanned.
    fn mark_all_dirty_after_tick(&mut self) {
        self.ctx.notes.clear();
        if !std::mem::take(&mut self.ctx.touched_all) {
            return;
        }
        for c in &mut self.conns {
            if !c.dirty && c.has_output() && c.sock.is_some() {
                c.dirty = true;
                self.dirty.push(c.idx);
            }
            if c.phase == Phase::Done && c.sock.is_some() && !c.dirty {
                c.dirty = true;
                self.dirty.push(c.idx);
            }
        }
    }

    fn open_some(&mut self, now: u64) {
        let n = self.conns.len();
        while self.handshaking < self.cfg.max_handshakes {
            if let Some(idx) = self.reopen.pop() {
                self.open(idx as usize);
                continue;
            }
            if self.initial_opened >= n {
                break;
            }
            let allowed = if self.cfg.ramp_ns == 0 {
                n
            } else {
                let elapsed = u128::from(now.saturating_sub(self.start));
                ((elapsed * n as u128 / u128::from(self.cfg.ramp_ns)) as usize + 1).min(n)
            };
            if self.initial_opened >= allowed {
                break;
            }
            let idx = self.initial_opened;
            self.initial_opened += 1;
            self.open(idx);
        }
    }

    fn source_ip(&self, idx: usize) -> Option<IpAddr> {
        match (self.cfg.source_ips, self.cfg.target) {
            (0, _) | (_, SocketAddr::V6(_)) => None,
            (k, _) => {
                let i = (self.cfg.first_user as usize + idx) % usize::from(k);
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)))
            }
        }
    }

    fn open(&mut self, idx: usize) {
        let src = self.source_ip(idx);
        let target = self.cfg.split.node_of(&self.cfg.nodes, self.cfg.first_user + idx as u64);
        let sock = connect(target, src).and_then(|mut s| {
            self.poll.registry().register(&mut s, Token(idx), Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        let c = &mut self.conns[idx];
        c.t_mark = self.ctx.now;
        c.t_next = 0;
        c.state = 0;
        self.behavior.register_body(c, &mut self.ctx);
        match sock {
            Ok(s) => {
                c.begin(s, &mut self.ctx);
                self.handshaking += 1;
                let at = self.ctx.now + self.cfg.handshake_timeout_ns;
                self.ctx.set_deadline(c, at, "handshake (connect, register, upgrade, AUTH)");
            }
            Err(e) => {
                self.ctx.json.clear();
                self.ctx.out.counters.opened += 1;
                self.ctx.out.counters.connect_errors += 1;
                self.ctx.sample(format_args!("connect from {src:?}: {e}"));
                c.phase = Phase::Done;
                c.clean = false;
                c.in_handshake = false;
                self.behavior.on_note(c, &mut self.ctx, Note::Gone { clean: false });
                c.phase = Phase::Free;
            }
        }
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some((due, idx, generation, kind)) = self.ctx.pop_due(now) {
            let Some(c) = self.conns.get_mut(idx as usize) else {
                continue;
            };
            if c.generation != generation || c.sock.is_none() {
                continue;
            }
            match kind {
                KIND_DEADLINE if c.deadline_at == due => {
                    c.deadline_at = 0;
                    self.ctx.out.counters.timeouts += 1;
                    self.ctx.sample(format_args!(
                        "timeout: {} not done in time (phase {:?})",
                        c.deadline_what, c.phase
                    ));
                    c.phase = Phase::Done;
                    c.clean = false;
                }
                KIND_TIMER if c.timer_at == due => {
                    c.timer_at = 0;
                    self.behavior.on_timer(c, &mut self.ctx);
                }
                _ => continue,
            }
            self.after(idx as usize, false);
        }
    }

    /// Bookkeeping after a connection was worked on: hand its notes to the
    /// scenario, track handshakes, write (now or with the turn's batch),
    /// and drop the socket once it is done.
    fn after(&mut self, idx: usize, write_now: bool) {
        let c = &mut self.conns[idx];
        let mut notes = std::mem::take(&mut self.ctx.notes);
        for note in notes.drain(..) {
            self.behavior.on_note(c, &mut self.ctx, note);
        }
        self.ctx.notes = notes;
        if c.in_handshake && !matches!(c.phase, Phase::Connecting | Phase::Http | Phase::Upgraded) {
            c.in_handshake = false;
            self.handshaking -= 1;
            if c.phase == Phase::Ready && c.deadline_what.starts_with("handshake") {
                c.deadline_at = 0;
            }
        }
        if c.phase == Phase::Done {
            self.drop_conn(idx);
        } else if c.has_output() {
            if write_now {
                c.flush(&mut self.ctx);
                if c.phase == Phase::Done {
                    self.after(idx, false);
                }
            } else if !c.dirty {
                c.dirty = true;
                self.dirty.push(idx as u32);
            }
        }
    }

    fn drop_conn(&mut self, idx: usize) {
        let c = &mut self.conns[idx];
        c.flush(&mut self.ctx); // best effort: a close echo
        if let Some(mut s) = c.sock.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        if c.in_handshake {
            c.in_handshake = false;
            self.handshaking -= 1;
        }
        c.deadline_at = 0;
        c.timer_at = 0;
        let clean = c.clean;
        self.behavior.on_note(c, &mut self.ctx, Note::Gone { clean });
        self.ctx.notes.clear();
        c.phase = Phase::Free;
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for idx in dirty.drain(..) {
            let c = &mut self.conns[idx as usize];
            c.dirty = false;
            if c.sock.is_none() {
                continue;
            }
            c.flush(&mut self.ctx);
            if c.phase == Phase::Done {
                self.drop_conn(idx as usize);
            }
        }
        self.dirty = dirty;
    }
}

/// A non-blocking connect, optionally from a chosen source address.
fn connect(target: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = src else {
        return TcpStream::connect(target);
    };
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let s = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    // Let connect() pick the port per destination instead of bind(), so
    // each source address offers its whole ephemeral range.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a valid int option.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    s.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    match s.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}
