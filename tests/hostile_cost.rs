//! What ONE hostile client can cost the server (issue 11, "Done when": the
//! worst case one client can cost is written down and measured; contract
//! section 7). One test per attack shape, each against a fresh in-process
//! server, each from one client address (127.0.0.1; helpers and the
//! observer use 127.0.0.2 and up so they never count against its cap).
//!
//! How memory is measured: the server runs in this process, so its memory
//! is this process's. Each test warms up, resets the peak-RSS mark
//! (`5 > /proc/self/clear_refs`), takes VmRSS as the baseline, runs the
//! attack, and reads VmHWM (the peak since the reset): growth = peak −
//! baseline. The client side of each test keeps no per-socket buffers, so
//! what grows is the server's. Kernel socket buffers are not in RSS; each
//! test also prints a `KERNEL` line with the bytes queued in the kernel for
//! the server's port (`/proc/net/tcp`, both ends), for the record.
//!
//! Each test prints one line
//! `COST <shape>: <sockets> sockets, <KiB> KiB RSS, <B> B/socket, bound <KiB> KiB`
//! and asserts the growth is within the bound computed from the code's
//! constants (stated next to each). Tests run one at a time (`serial`).
//! Every wait is bounded by a deadline; polls check, then wait a few ms.
//!
//! Shapes 1–5 are the brief's; 1b, 5b, 6a/6b and 7 reach what their
//! bounds allow or probe a bound. Two bounds did not hold when these
//! tests were written, and their tests failed until the code changed:
//! - 6b: an output `Vec` kept the bytes already written while anything was
//!   pending (net/conn.rs, now compacted past 64 KiB), so a socket that
//!   read just enough to keep its output pending grew without limit under
//!   the 256 KiB "unsent" limit;
//! - 7: an HTTP socket was read while its kept input still held complete
//!   requests (net/reactor.rs `read_turn`, now not read then), so a
//!   keep-alive socket that read its answers and pipelined faster grew its
//!   kept input.
//!
//! The two shapes that push megabytes through every socket (3 and 4) run
//! with 16 sockets in a debug build (the figures that count come from
//! `cargo test --release --test hostile_cost -- --nocapture --test-threads=1`).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use common::opcode::*;
use common::raw::{Raw, masked};
use common::*;
use duet::link::outbox::OUT_QUEUE;
use duet::link::queue::WORKER_BYTES;
use duet::net::conn::{Connection, MAX_PENDING_OUT};
use duet::net::frame::{MAX_MESSAGE, PRE_AUTH_MESSAGE};
use duet::net::http::{MAX_BODY, MAX_HEAD};
use serde_json::json;
use socket2::{Domain, Socket, Type};

// ------------------------------------------------------------ constants

/// One read's worth (`SCRATCH` in net/reactor.rs, private there): the most
/// one read adds to a connection's kept input.
const SCRATCH: usize = 64 * 1024;
/// The longest client frame header: 2 + 8 (64-bit length) + 4 (mask).
const FRAME_HEAD: usize = 14;
/// A close frame the server sends: 2 + 2 (code) + a reason ≤ 123 bytes.
const CLOSE_FRAME: usize = 127;
/// What every open socket costs besides its buffers, allowed per socket:
/// its `Connection` in the slab (`size_of::<Connection>()`, added on top),
/// two 32-byte timer-heap entries, its per-address count, the worker's
/// `Socket` entry and, once authenticated, the hub's `Session` and the
/// store's last-seen touch, with malloc's per-allocation overhead. An
/// allowance, not a constant of the code (the code promises no figure for
/// it; docs/architecture.md says "about 130 bytes" for the slab entry).
const BOOKKEEPING: usize = 2 * 1024;
/// Per test: allocator arenas, page granularity, the observer and the
/// test's own small client-side buffers.
const SLACK: usize = 4 << 20;
/// The attacker's address.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The observer's address (a well-behaved client, used to synchronise).
const OBSERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where identities and warm-up sockets come from.
const HELPER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// Sockets for the shapes that move megabytes per socket: the full 256 in
/// a release build, 16 in a debug build (which is ~10× slower).
fn heavy_sockets() -> usize {
    if cfg!(debug_assertions) { 16 } else { default_per_ip() }
}

/// The contract default of `--max-connections-per-ip` (section 7: 256).
fn default_per_ip() -> usize {
    duet::Config::parse_from(["duet"]).max_connections_per_ip
}

// ------------------------------------------------------------- helpers

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time in this binary: RSS is this process's.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} line in /proc/self/status"))
}

/// Peak-RSS meter: resets VmHWM to the current RSS and remembers it.
struct Meter {
    before_kib: u64,
    kernel_before: u64,
    port: u16,
}

impl Meter {
    fn start(srv: &TestServer) -> Meter {
        std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS mark");
        let before_kib = status_kib("VmRSS:");
        Meter { before_kib, kernel_before: kernel_bytes(srv.addr.port()), port: srv.addr.port() }
    }

    /// Peak growth since `start`, KiB.
    fn grew_kib(&self) -> u64 {
        status_kib("VmHWM:").saturating_sub(self.before_kib)
    }

    /// Bytes the kernel queues now for the server's port, beyond the start.
    fn kernel_now(&self) -> u64 {
        kernel_bytes(self.port).saturating_sub(self.kernel_before)
    }
}

/// Prints the figures and asserts the peak growth is within `bound` bytes.
#[track_caller]
fn report(shape: &str, sockets: usize, meter: &Meter, kernel: u64, bound: usize) {
    let grew = meter.grew_kib();
    let per_socket = grew * 1024 / sockets as u64;
    println!(
        "COST {shape}: {sockets} sockets, {grew} KiB RSS, {per_socket} B/socket, bound {} KiB",
        bound / 1024
    );
    println!(
        "KERNEL {shape}: {} KiB queued in socket buffers for the server's port ({} B/socket), not in RSS",
        kernel / 1024,
        kernel / sockets as u64
    );
    assert!(
        grew as usize * 1024 <= bound,
        "{shape}: RSS grew by {grew} KiB ({per_socket} B/socket), over the bound of {} KiB",
        bound / 1024
    );
}

/// One row of `/proc/net/tcp`.
#[derive(Debug, Clone, Copy)]
struct TcpRow {
    local_port: u16,
    remote_port: u16,
    listening: bool,
    tx: u64,
    rx: u64,
}

fn tcp_rows() -> Vec<TcpRow> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (tx, rx) = f.get(4)?.split_once(':')?;
            Some(TcpRow {
                local_port: port(f.get(1)?)?,
                remote_port: port(f.get(2)?)?,
                listening: *f.get(3)? == "0A",
                tx: u64::from_str_radix(tx, 16).ok()?,
                rx: u64::from_str_radix(rx, 16).ok()?,
            })
        })
        .collect()
}

/// Bytes queued in the kernel (send and receive queues, both ends) on the
/// connections of the server listening on `port`.
fn kernel_bytes(port: u16) -> u64 {
    tcp_rows()
        .iter()
        .filter(|r| !r.listening && (r.local_port == port || r.remote_port == port))
        .map(|r| r.tx + r.rx)
        .sum()
}

/// Open connections as the server counts them.
fn connections(srv: &TestServer) -> i64 {
    srv.server.app.metrics.connections.get()
}

/// WebSockets the server closed with `code`.
fn closes(srv: &TestServer, code: u16) -> u64 {
    srv.server.app.metrics.ws_closes.get_or_create(&vec![("code", code)]).get()
}

/// Polls (bounded) until the server counts `n` open connections.
#[track_caller]
fn wait_connections(srv: &TestServer, n: i64, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while connections(srv) != n {
        assert!(Instant::now() < deadline, "{what}: {} connections open, expected {n}", connections(srv));
        thread::sleep(Duration::from_millis(5));
    }
}

/// A new identity, registered from `local` (not the attacker's address).
#[track_caller]
fn register_from(addr: SocketAddr, local: Ipv4Addr) -> User {
    let mut s = tcp_from(addr, local);
    let req = "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: duet\r\nContent-Type: application/json\r\n\
               Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    s.write_all(req.as_bytes()).expect("send register");
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "register: {}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    User {
        id: v["userId"].as_str().unwrap().into(),
        token: v["authToken"].as_str().unwrap().into(),
        profile: v["profile"].clone(),
    }
}

/// The observer: a well-behaved authenticated client on its own address.
/// A `PING` round trip on it means the reactor has processed every byte
/// the attacker wrote before it (they were in the kernel first).
fn observer(addr: SocketAddr) -> Client {
    let user = register_from(addr, OBSERVER);
    Client::authed_from(addr, &user, OBSERVER)
}

#[track_caller]
fn round_trip(c: &mut Client, id: &str) -> Duration {
    let t = Instant::now();
    assert_eq!(c.request("PING", id, json!({}))["type"], "PONG");
    t.elapsed()
}

/// A raw WebSocket from `local`, with the given kernel buffer sizes
/// (set before connecting, so the window stays that small).
#[track_caller]
fn raw_from(addr: SocketAddr, local: Ipv4Addr, rcvbuf: Option<usize>, sndbuf: Option<usize>) -> Raw {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    if let Some(n) = sndbuf {
        s.set_send_buffer_size(n).expect("SO_SNDBUF");
    }
    s.bind(&SocketAddr::new(local.into(), 0).into()).expect("bind");
    s.connect(&addr.into()).expect("connect");
    Raw::upgrade(s.into(), addr, false)
}

/// A `PING` envelope padded with JSON whitespace to exactly `len` bytes.
fn ping_of_len(id: &str, len: usize) -> Vec<u8> {
    let mut b = json!({"type":"PING","id": id,"payload":{}}).to_string().into_bytes();
    assert!(b.len() <= len, "{len} is too short for a PING");
    b.resize(len, b' ');
    b
}

/// Reads frames until a WebSocket pong arrives (the server has processed
/// everything sent before the ping that asked for it).
#[track_caller]
fn until_pong(raw: &mut Raw) {
    loop {
        let f = raw.frame();
        match f.opcode {
            PONG => return,
            CLOSE => panic!("closed with {} while waiting for a pong", f.close_code()),
            _ => {}
        }
    }
}

/// `AUTH`, then a `PING` round trip through the worker. `AUTH_OK` alone
/// does not mean the reactor takes full-size messages yet: auth.rs pushes
/// the `AUTH_OK` frame before `Out::Authed`, so the reactor can flush
/// `AUTH_OK` and read the next message under the 4 KiB limit (1009) before
/// it applies `Authed`. The `PONG` comes after `Authed` in the outbox.
#[track_caller]
fn auth_settled(raw: &mut Raw, user: &User) {
    raw.auth(user);
    raw.send_json(json!({"type":"PING","id":"settled","payload":{}}));
    let pong = raw.json();
    assert_eq!((pong["type"].as_str(), pong["id"].as_str()), (Some("PONG"), Some("settled")), "{pong}");
}

/// True while nothing arrived on the socket and it is not closed
/// (checked without waiting).
fn quiet_and_open(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let open = matches!(s.peek(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

/// The bytes of a frame announcing `len` payload bytes, of which all but
/// the last `missing` are included (masked with common::raw::MASK).
fn unfinished(first: u8, payload: &[u8], missing: usize) -> Vec<u8> {
    let mut f = masked(first & 0x80 != 0, first & 0x0f, payload);
    f.truncate(f.len() - missing);
    f
}

// ---------------------------------------------------------------- shape 1

/// Shape 1: the per-address cap's worth of sockets (256), each upgraded
/// but never authenticated, each holding an unfinished frame that
/// announces 4096 bytes (the largest pre-`AUTH` message that is not
/// refused) with 4095 of them sent; then 50 more sockets from the same
/// address, each answered 429.
///
/// Bound per socket: the kept input is one incomplete frame plus at most
/// one read, `PRE_AUTH_MESSAGE` (4 KiB, net/frame.rs) + `FRAME_HEAD` (14) +
/// `SCRATCH` (64 KiB, net/reactor.rs), and a `Vec` grown by doubling may
/// reserve up to twice what it holds: 2 × (4096 + 14 + 65536) = 136 KiB,
/// plus bookkeeping. The 429'd sockets are never counted or kept.
#[test]
fn cost_1_unauthenticated_sockets_holding_an_unfinished_4_kib_frame() {
    let _s = serial();
    let per_ip = default_per_ip();
    let srv = start_with(|c| c.max_connections_per_ip = per_ip);
    let addr = srv.addr;
    let mut obs = observer(addr);
    let frame = unfinished(0x80 | TEXT, &ping_of_len("held", PRE_AUTH_MESSAGE), 1);
    // Warm up what the first such sockets allocate, from another address.
    let warm: Vec<Raw> = (0..8)
        .map(|_| {
            let mut r = raw_from(addr, HELPER, None, None);
            r.send(&frame);
            r
        })
        .collect();
    round_trip(&mut obs, "w");
    drop(warm);
    wait_connections(&srv, 1, WAIT, "warm-up sockets closed");

    let meter = Meter::start(&srv);
    let held: Vec<Raw> = (0..per_ip)
        .map(|_| {
            let mut r = Raw::connect(addr);
            r.send(&frame);
            r
        })
        .collect();
    for i in 0..50 {
        let mut s = TcpStream::connect(addr).expect("connect");
        let r = read_response(&mut s);
        assert_eq!(r.status, 429, "attempt {i} past the cap: {}", String::from_utf8_lossy(&r.body));
    }
    round_trip(&mut obs, "sync");
    let kernel = meter.kernel_now();
    assert_eq!(srv.server.app.metrics.refused_over_cap.get(), 50, "sockets refused over the cap");
    for (i, r) in held.iter().enumerate() {
        assert!(quiet_and_open(&r.s), "held socket {i} was answered or closed");
    }
    let bound = per_ip
        * (2 * (PRE_AUTH_MESSAGE + FRAME_HEAD + SCRATCH) + size_of::<Connection>() + BOOKKEEPING)
        + SLACK;
    report("1 unauthenticated + unfinished 4 KiB frame", per_ip, &meter, kernel, bound);
    drop(held);
    wait_connections(&srv, 1, WAIT, "attack sockets closed");
}

/// Shape 1b (what shape 1's bound allows, reached): the same unauthenticated
/// sockets, but each first sends one full read (64 KiB: an unfinished
/// frame's first byte, then a read's worth of empty pong frames and the
/// unfinished 4 KiB frame), twice. The kept input keeps the capacity the
/// read needed (`Vec::drain` does not shrink), so each socket holds about
/// one read, not 4 KiB: the 4 KiB limit bounds the message, not the memory.
/// Same bound as shape 1.
#[test]
fn cost_1b_unauthenticated_sockets_whose_kept_input_grew_by_full_reads() {
    let _s = serial();
    let per_ip = default_per_ip();
    let srv = start_with(|c| c.max_connections_per_ip = per_ip);
    let addr = srv.addr;
    let mut obs = observer(addr);
    // Round n sends the end of the frame left unfinished before it, empty
    // pongs, and a new unfinished 4096-byte PING: 64 KiB in one write.
    let held_frame = |id: &str| unfinished(0x80 | TEXT, &ping_of_len(id, PRE_AUTH_MESSAGE), 1);
    let pong = masked(true, PONG, b"");
    let fill = |head: &[u8], tail: &[u8]| {
        let mut b = head.to_vec();
        while b.len() + pong.len() + tail.len() <= SCRATCH {
            b.extend_from_slice(&pong);
        }
        b.extend_from_slice(tail);
        b
    };
    let first_pong = masked(true, PONG, b"");
    // Round 1: the socket keeps the first byte of a pong frame (sent with a
    // ping, so the pong answering it says the byte was read).
    let mut opener = masked(true, PING, b"o");
    opener.push(first_pong[0]);
    let round1 = fill(&first_pong[1..], &held_frame("one"));
    let last = *masked(true, TEXT, &ping_of_len("one", PRE_AUTH_MESSAGE)).last().unwrap();
    let round2 = fill(&[last], &held_frame("two"));
    let attack = |from: Ipv4Addr, n: usize, obs: &mut Client| -> Vec<Raw> {
        let mut socks: Vec<Raw> = (0..n)
            .map(|_| {
                let mut r = raw_from(addr, from, None, None);
                r.send(&opener);
                until_pong(&mut r);
                r
            })
            .collect();
        for round in [&round1, &round2] {
            for r in &mut socks {
                r.send(round);
            }
            round_trip(obs, "round");
        }
        socks
    };
    drop(attack(HELPER, 8, &mut obs));
    wait_connections(&srv, 1, WAIT, "warm-up sockets closed");

    let meter = Meter::start(&srv);
    let held = attack(ATTACKER, per_ip, &mut obs);
    let kernel = meter.kernel_now();
    // Their PINGs were answered, so the check is the server's own count.
    assert_eq!(connections(&srv), per_ip as i64 + 1, "every held socket is still open");
    assert_eq!(closes(&srv, 1009), 0, "no held socket was closed 1009");
    let bound = per_ip
        * (2 * (PRE_AUTH_MESSAGE + FRAME_HEAD + SCRATCH) + size_of::<Connection>() + BOOKKEEPING)
        + SLACK;
    report("1b unauthenticated + kept input grown by full reads", per_ip, &meter, kernel, bound);
    drop(held);
    wait_connections(&srv, 1, WAIT, "attack sockets closed");
}

// ---------------------------------------------------------------- shape 2

/// Shape 2: 256 authenticated sockets, each holding an unfinished
/// fragmented text message of 64 KiB − 1 (two fragments, 32,768 + 32,767
/// bytes; the final fragment never comes).
///
/// Bound per socket: the assembled message reserves at most the message
/// limit, `MAX_MESSAGE` (64 KiB, net/frame.rs; `data_frame` caps the
/// reservation), plus its box; the kept input is empty (every frame sent
/// is complete): 64 KiB + bookkeeping.
#[test]
fn cost_2_authenticated_sockets_holding_an_unfinished_fragmented_message() {
    let _s = serial();
    let per_ip = default_per_ip();
    let srv = start_with(|c| c.max_connections_per_ip = per_ip);
    let addr = srv.addr;
    let mut obs = observer(addr);
    let users: Vec<User> = (0..per_ip + 8).map(|_| register_from(addr, HELPER)).collect();
    let half = MAX_MESSAGE / 2;
    let mut hold = masked(false, TEXT, &vec![b' '; half]);
    hold.extend(masked(false, CONT, &vec![b' '; MAX_MESSAGE - 1 - half]));
    hold.extend(masked(true, PING, b"held"));
    let attack = |from: Ipv4Addr, users: &[User]| -> Vec<Raw> {
        users
            .iter()
            .map(|u| {
                let mut r = raw_from(addr, from, None, None);
                auth_settled(&mut r, u);
                r.send(&hold);
                until_pong(&mut r);
                r
            })
            .collect()
    };
    drop(attack(HELPER, &users[per_ip..]));
    wait_connections(&srv, 1, WAIT, "warm-up sockets closed");

    let meter = Meter::start(&srv);
    let held = attack(ATTACKER, &users[..per_ip]);
    round_trip(&mut obs, "sync");
    let kernel = meter.kernel_now();
    for (i, r) in held.iter().enumerate() {
        assert!(quiet_and_open(&r.s), "held socket {i} was answered or closed");
    }
    let bound = per_ip * (MAX_MESSAGE + size_of::<Connection>() + BOOKKEEPING) + SLACK;
    report("2 authenticated + unfinished fragmented 64 KiB - 1", per_ip, &meter, kernel, bound);
    drop(held);
    wait_connections(&srv, 1, WAIT, "attack sockets closed");
}

// ---------------------------------------------------------------- shape 3

/// Shape 3: authenticated sockets that never read (receive buffer 4 KiB),
/// each flooding WebSocket pings (125-byte payloads; the reactor answers
/// each with a 127-byte pong) until the server closes it with 1008. The
/// server keeps a closed socket's output for the 2 s linger, so the
/// sockets are flooded round-robin to fill up together.
///
/// Bound per socket: unsent output is at most `MAX_PENDING_OUT` (256 KiB,
/// net/conn.rs) plus the pongs for one read (≤ `SCRATCH`) plus the close
/// frame, doubled for `Vec` growth; the output `Vec` also keeps the bytes
/// already written to the kernel since it last emptied, which are at most
/// what the kernel holds for that socket (measured: the `KERNEL` figure):
/// 2 × (256 KiB + 64 KiB + 127) + kernel bytes + bookkeeping.
#[test]
fn cost_3_authenticated_sockets_that_never_read_flooding_pings_until_1008() {
    let _s = serial();
    let per_ip = default_per_ip();
    let n = heavy_sockets();
    let srv = start_with(|c| c.max_connections_per_ip = per_ip);
    let addr = srv.addr;
    let mut obs = observer(addr);
    let users: Vec<User> = (0..n + 1).map(|_| register_from(addr, HELPER)).collect();
    // 128 pings a write, paced (below): the kernel fills first, then the
    // server's 256 KiB. (Unpaced, a read turn of up to 8 reads queues
    // their pongs before the turn's flush, and a socket is closed 1008
    // before its kernel buffer is full: same RSS, less kernel memory.)
    let batch: Vec<u8> = masked(true, PING, &[b'p'; 125]).repeat(128);
    // Warm up: one socket floods a little and reads its pongs.
    let mut warm = raw_from(addr, HELPER, None, None);
    warm.auth(&users[n]);
    warm.send(&batch);
    for _ in 0..128 {
        assert_eq!(warm.frame().opcode, PONG);
    }
    drop(warm);
    wait_connections(&srv, 1, WAIT, "warm-up socket closed");

    let meter = Meter::start(&srv);
    let mut socks: Vec<(Raw, usize)> = users[..n]
        .iter()
        .map(|u| {
            let mut r = raw_from(addr, ATTACKER, Some(4096), Some(64 * 1024));
            auth_settled(&mut r, u);
            r.s.set_nonblocking(true).unwrap();
            (r, 0)
        })
        .collect();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let (mut kernel, mut sampled) = (0, Instant::now());
    while closes(&srv, 1008) < n as u64 {
        assert!(Instant::now() < deadline, "only {} of {n} sockets closed 1008 in 20 s", closes(&srv, 1008));
        let mut wrote = false;
        for (r, off) in &mut socks {
            if let Ok(k) = r.s.write(&batch[*off..]) {
                *off = (*off + k) % batch.len();
                wrote = true;
            }
        }
        // Reading /proc/net/tcp takes milliseconds: now and then only.
        if sampled.elapsed() > Duration::from_millis(100) {
            (kernel, sampled) = (kernel.max(meter.kernel_now()), Instant::now());
        }
        // Paced (not synchronising): each round's pings are answered and
        // flushed before the next, so each socket's kernel buffer fills
        // before its server-side output does — the costlier order.
        thread::sleep(Duration::from_millis(if wrote { 5 } else { 1 }));
    }
    let took = start.elapsed();
    kernel = kernel.max(meter.kernel_now());
    // Sockets closed but still held (their output kept for the linger):
    // the peak counts those that held their output at the same time.
    let still_held = connections(&srv) - 1;
    println!("shape 3: {n} sockets closed 1008 after {took:?}; {still_held} still held when the last closed");
    let bound = n * (2 * (MAX_PENDING_OUT + SCRATCH + CLOSE_FRAME) + size_of::<Connection>() + BOOKKEEPING)
        + kernel as usize
        + SLACK;
    report("3 authenticated never-read ping flood to 1008", n, &meter, kernel, bound);
    assert_eq!(closes(&srv, 1008), n as u64, "closes with 1008");
    // The server lets go of them (linger 2 s) without the client's help.
    wait_connections(&srv, 1, Duration::from_secs(5), "sockets closed 1008 are dropped after the linger");
    drop(socks);
    round_trip(&mut obs, "after");
}

// ---------------------------------------------------------------- shape 4

/// Shape 4: HTTP keep-alive sockets, each pipelining `GET
/// /assets/style.css` and never reading, until the kernel holds all it
/// will of their answers and the server holds one response per socket.
///
/// Bound per socket: one response, the stylesheet plus a head under
/// 1 KiB (HTTP is one request at a time, net/http_phase.rs); the kept input,
/// at most one read plus an incomplete request (`SCRATCH` + `MAX_HEAD` +
/// `MAX_BODY`, net/http.rs), doubled for `Vec` growth; one parsed request
/// in a worker's queue (a head's worth): style.css + 1 KiB + 2 × (64 KiB +
/// 8 KiB + 16 KiB) + 8 KiB + bookkeeping.
#[test]
fn cost_4_keep_alive_sockets_pipelining_gets_never_reading() {
    let _s = serial();
    let per_ip = default_per_ip();
    let n = heavy_sockets();
    let srv = start_with(|c| c.max_connections_per_ip = per_ip);
    let addr = srv.addr;
    let mut obs = observer(addr);
    let css = duet::app::web::ASSETS.iter().find(|a| a.0 == "/assets/style.css").expect("style.css").2.len();
    let get = b"GET /assets/style.css HTTP/1.1\r\nHost: duet\r\n\r\n";
    let batch = get.repeat(SCRATCH / get.len());
    // Warm up: one keep-alive socket, a few requests, one at a time.
    let mut warm = tcp_from(addr, HELPER);
    for _ in 0..4 {
        warm.write_all(get).unwrap();
        assert_eq!(read_response(&mut warm).status, 200);
    }
    drop(warm);
    wait_connections(&srv, 1, WAIT, "warm-up socket closed");

    let meter = Meter::start(&srv);
    let mut socks: Vec<(TcpStream, usize)> = (0..n)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            s.set_send_buffer_size(64 * 1024).expect("SO_SNDBUF");
            s.connect(&addr.into()).expect("connect");
            let s: TcpStream = s.into();
            s.set_nonblocking(true).unwrap();
            (s, 0)
        })
        .collect();
    // Write until the kernel's queues for the server's port stop growing
    // for 300 ms: every socket has as much answered as the kernel takes.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let (mut kernel, mut since) = (0, Instant::now());
    loop {
        assert!(Instant::now() < deadline, "the kernel's queues still grew after 20 s");
        for (s, off) in &mut socks {
            if let Ok(k) = s.write(&batch[*off..]) {
                *off = (*off + k) % batch.len();
            }
        }
        let now = meter.kernel_now();
        if now > kernel + 64 * 1024 {
            (kernel, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_millis(300) {
            kernel = kernel.max(now);
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    println!("shape 4: the kernel's queues settled after {:?}", start.elapsed());
    assert_eq!(connections(&srv), n as i64 + 1, "every pipelining socket is still open");
    round_trip(&mut obs, "during");
    let per_socket =
        css + 1024 + 2 * (SCRATCH + MAX_HEAD + MAX_BODY) + MAX_HEAD + size_of::<Connection>() + BOOKKEEPING;
    let bound = n * per_socket + SLACK;
    report("4 keep-alive pipelined GET style.css, never read", n, &meter, kernel, bound);
    drop(socks);
    wait_connections(&srv, 1, WAIT, "attack sockets closed");
}

// ---------------------------------------------------------------- shape 5

/// Shape 5: one authenticated socket pipelining 64 KiB `PING` messages
/// (JSON padded with whitespace to `MAX_MESSAGE`) as fast as the kernel
/// takes them, never reading, for 2 s.
///
/// Bound: a worker has at most `WORKER_BYTES` (4 MiB, link/queue.rs) of
/// messages in flight, plus what one decode call emits past the check (a
/// read turn, 8 × `SCRATCH`); the
/// socket's kept input, 2 × (64 KiB + 14 + 64 KiB); its unsent output
/// 2 × (256 KiB + 64 KiB) plus what the kernel took; the outbox at most
/// `OUT_QUEUE` (65,536, app/outbox.rs) pongs of ≤ 160 bytes.
#[test]
fn cost_5_one_socket_pipelining_64_kib_pings_without_reading() {
    let _s = serial();
    let srv = start_with(|c| c.max_connections_per_ip = default_per_ip());
    let addr = srv.addr;
    let mut obs = observer(addr);
    let user = register_from(addr, HELPER);
    let warm_user = register_from(addr, HELPER);
    let msg = masked(true, TEXT, &ping_of_len("big", MAX_MESSAGE));
    let burst = msg.repeat(16);
    let mut warm = raw_from(addr, HELPER, None, None);
    auth_settled(&mut warm, &warm_user);
    warm.send(&burst);
    for _ in 0..16 {
        assert_eq!(warm.json()["type"], "PONG");
    }
    drop(warm);
    wait_connections(&srv, 1, WAIT, "warm-up socket closed");

    let meter = Meter::start(&srv);
    let mut raw = raw_from(addr, ATTACKER, None, None);
    auth_settled(&mut raw, &user);
    raw.s.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
    let start = Instant::now();
    let (mut sent, mut off) = (0usize, 0usize);
    while start.elapsed() < Duration::from_secs(2) {
        match raw.s.write(&burst[off..]) {
            Ok(k) => {
                sent += k;
                off = (off + k) % burst.len();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("the server dropped the flooding socket after {sent} bytes: {e}"),
        }
    }
    let kernel = meter.kernel_now();
    // The observer may share the flooded worker: allow for its backlog.
    obs.ws.get_mut().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let rtt = round_trip(&mut obs, "during");
    let messages = sent / msg.len();
    println!(
        "shape 5: {messages} messages of 64 KiB sent in 2 s ({} MiB); an observer's PING then took {rtt:?}",
        sent >> 20
    );
    let bound = (WORKER_BYTES + 8 * SCRATCH)
        + 2 * (MAX_MESSAGE + FRAME_HEAD + SCRATCH)
        + 2 * (MAX_PENDING_OUT + SCRATCH + CLOSE_FRAME)
        + kernel as usize
        + OUT_QUEUE * 160
        + size_of::<Connection>()
        + BOOKKEEPING
        + SLACK;
    report("5 one socket pipelining 64 KiB PINGs, never read", 1, &meter, kernel, bound);
    drop(raw);
    wait_connections(&srv, 1, Duration::from_secs(10), "the flooding socket closed");
    round_trip(&mut obs, "after");
}

/// Shape 5b: as shape 5, from four sockets at once, so that every worker
/// (two here, `Config::for_tests`; by default one per CPU) has one: the
/// bound of shape 5 holds per worker, so one client that spreads a few
/// sockets over the workers can fill them all.
///
/// Bound: workers × (`WORKER_BYTES` + 8 × `SCRATCH`), plus shape 5's
/// per-socket terms for each socket.
#[test]
fn cost_5b_sockets_on_every_worker_pipelining_64_kib_pings() {
    let _s = serial();
    const SOCKETS: usize = 4;
    let workers = duet::Config::for_tests().worker_count();
    let srv = start_with(|c| c.max_connections_per_ip = default_per_ip());
    let addr = srv.addr;
    let mut obs = observer(addr);
    let users: Vec<User> = (0..SOCKETS).map(|_| register_from(addr, HELPER)).collect();
    let msg = masked(true, TEXT, &ping_of_len("big", MAX_MESSAGE));
    let burst = std::sync::Arc::new(msg.repeat(16));

    let meter = Meter::start(&srv);
    // Consecutive sockets take consecutive slots: both parities, so both
    // workers (`worker_for` is slot modulo workers).
    let socks: Vec<Raw> = users
        .iter()
        .map(|u| {
            let mut r = raw_from(addr, ATTACKER, None, None);
            auth_settled(&mut r, u);
            r.s.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
            r
        })
        .collect();
    let start = Instant::now();
    let writers: Vec<_> = socks
        .iter()
        .map(|r| {
            let mut s = r.s.try_clone().unwrap();
            let burst = burst.clone();
            thread::spawn(move || {
                let (mut sent, mut off) = (0usize, 0usize);
                while start.elapsed() < Duration::from_secs(2) {
                    match s.write(&burst[off..]) {
                        Ok(k) => {
                            sent += k;
                            off = (off + k) % burst.len();
                        }
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(e) => panic!("the server dropped a flooding socket after {sent} bytes: {e}"),
                    }
                }
                sent
            })
        })
        .collect();
    let sent: usize = writers.into_iter().map(|w| w.join().expect("writer")).sum();
    let kernel = meter.kernel_now();
    println!("shape 5b: {} messages of 64 KiB sent in 2 s over {SOCKETS} sockets", sent / msg.len());
    let per_socket = 2 * (MAX_MESSAGE + FRAME_HEAD + SCRATCH)
        + 2 * (MAX_PENDING_OUT + SCRATCH + CLOSE_FRAME)
        + size_of::<Connection>()
        + BOOKKEEPING;
    let bound = workers * (WORKER_BYTES + 8 * SCRATCH)
        + SOCKETS * per_socket
        + kernel as usize
        + OUT_QUEUE * 160
        + SLACK;
    report("5b sockets on every worker pipelining 64 KiB PINGs", SOCKETS, &meter, kernel, bound);
    drop(socks);
    wait_connections(&srv, 1, Duration::from_secs(20), "the flooding sockets closed");
    round_trip(&mut obs, "after");
}

// ---------------------------------------------------------------- shape 6

/// The local or peer port of socket `fd` (IPv4), if it is one.
fn port_of(fd: i32, peer: bool) -> Option<u16> {
    // SAFETY: sockaddr_in is plain data; the calls write at most `len` bytes.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let p = &mut sa as *mut libc::sockaddr_in as *mut libc::sockaddr;
    // SAFETY: `p` and `len` describe a valid, writable sockaddr_in.
    let rc =
        unsafe { if peer { libc::getpeername(fd, p, &mut len) } else { libc::getsockname(fd, p, &mut len) } };
    (rc == 0 && sa.sin_family as i32 == libc::AF_INET).then(|| u16::from_be(sa.sin_port))
}

/// The server's descriptor for its connection from client port `cport`:
/// the server runs in this process, so its sockets are ours to inspect.
fn server_fd(sport: u16, cport: u16) -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|&fd| port_of(fd, false) == Some(sport) && port_of(fd, true) == Some(cport))
        .expect("the server's end of the connection")
}

/// (send queue, receive queue) of a TCP socket, bytes: `SIOCOUTQ` (not
/// yet acknowledged by the peer) and `SIOCINQ` (not yet read).
fn queues(fd: i32) -> (u64, u64) {
    let (mut out, mut inq): (libc::c_int, libc::c_int) = (0, 0);
    // SAFETY: both ioctls write one int through the pointer given.
    unsafe {
        libc::ioctl(fd, libc::TIOCOUTQ, &mut out);
        libc::ioctl(fd, libc::FIONREAD, &mut inq);
    }
    (out.max(0) as u64, inq.max(0) as u64)
}

/// Shape 6 (beyond the brief's five; probes net/conn.rs): one
/// authenticated socket that keeps the server's unsent output above zero
/// and under the 256 KiB limit, by reading about as fast as it asks for
/// pongs. `Connection::flush` advances `out_pos` and frees the `Vec` only
/// once everything is written, and `queue` appends while anything is
/// pending, so the `Vec` keeps every byte already written since it last
/// emptied: nothing bounds it while the output never empties.
///
/// The client steers by both ends' kernel queues (ioctl on its socket and
/// on the server's, which lives in this process): the server's unsent
/// output is the pongs for the pings it has read, less what the client
/// read and what both kernels hold; it keeps that between 128 and 200 KiB.
/// It stops after 3 s or once the process grew by 64 MiB.
///
/// Whether the output ever empties depends on the server's send buffer:
/// epoll reports a socket writable once about half of it is free, and the
/// flush then writes that much. On loopback the buffer starts at ~3.9 MB
/// (MSS 65,483), so every flush empties the output (6a). On a link with a
/// 1500-byte MTU, TCP starts it at about 87 KB (2 × 10 segments × ~4.4 KB
/// of memory each) and grows it only with the congestion window, which a
/// slow reader keeps small: 6b sets the server socket's `SO_SNDBUF` to
/// 44,000 (the kernel doubles it: 88,000) to stand for that.
///
/// Bound (what net/conn.rs promises, as for shape 3): 2 × (256 KiB + 64 KiB
/// + 127) + kernel bytes + bookkeeping.
fn slow_reader(shape: &str, server_sndbuf: Option<libc::c_int>) {
    let _s = serial();
    let srv = start_with(|c| c.max_connections_per_ip = default_per_ip());
    let addr = srv.addr;
    let mut obs = observer(addr);
    let user = register_from(addr, HELPER);
    let ping = masked(true, PING, &[b'p'; 125]);
    const PONG_LEN: u64 = 127;
    let batch = ping.repeat(256);

    let meter = Meter::start(&srv);
    let mut raw = raw_from(addr, ATTACKER, Some(16 * 1024), None);
    auth_settled(&mut raw, &user);
    assert!(raw.buf.is_empty(), "nothing but AUTH_OK and PONG before the flood");
    let cfd = std::os::fd::AsRawFd::as_raw_fd(&raw.s);
    let sfd = server_fd(addr.port(), raw.s.local_addr().unwrap().port());
    if let Some(v) = server_sndbuf {
        // SAFETY: one int option on a socket of this process.
        let rc = unsafe {
            libc::setsockopt(sfd, libc::SOL_SOCKET, libc::SO_SNDBUF, (&v as *const libc::c_int).cast(), 4)
        };
        assert_eq!(rc, 0, "SO_SNDBUF on the server's socket");
    }
    raw.s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let (mut sent, mut off, mut read, mut peak_pending, mut kernel) = (0u64, 0usize, 0u64, 0i64, 0u64);
    let mut buf = vec![0u8; 4 * 1024];
    while start.elapsed() < Duration::from_secs(3) && meter.grew_kib() < 64 * 1024 {
        let ((stx, srx), (ctx, crx)) = (queues(sfd), queues(cfd));
        kernel = kernel.max(stx + srx + ctx + crx);
        let handled = sent.saturating_sub(ctx + srx) / ping.len() as u64;
        let pending = (handled * PONG_LEN) as i64 - (read + stx + crx) as i64;
        peak_pending = peak_pending.max(pending);
        // Pings still on their way will add their pongs: count them too.
        let coming = ((ctx + srx) / ping.len() as u64 * PONG_LEN) as i64;
        if pending + coming < 200 * 1024 {
            match raw.s.write(&batch[off..]) {
                Ok(k) => {
                    sent += k as u64;
                    off = (off + k) % batch.len();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        // Read only while the server holds output, a little at a time: the
        // kernel stays full and the server's output never empties.
        if pending > 128 * 1024 {
            match raw.s.read(&mut buf) {
                Ok(0) => panic!("the server closed the socket after {read} bytes read"),
                Ok(k) => read += k as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    let took = start.elapsed();
    println!(
        "shape {shape}: in {took:?} the client read {} KiB of pongs; estimated unsent output peaked at {} KiB; \
         closes 1008: {}",
        read / 1024,
        peak_pending / 1024,
        closes(&srv, 1008)
    );
    let bound = 2 * (MAX_PENDING_OUT + SCRATCH + CLOSE_FRAME)
        + kernel as usize
        + size_of::<Connection>()
        + BOOKKEEPING
        + SLACK;
    let open = connections(&srv);
    drop(raw);
    round_trip(&mut obs, "after");
    assert_eq!(open, 2, "the steering socket was open throughout");
    report(shape, 1, &meter, kernel, bound);
}

#[test]
fn cost_6a_one_socket_keeping_output_pending_loopback_buffers() {
    slow_reader("6a one socket keeping output pending, loopback send buffer", None);
}

#[test]
fn cost_6b_one_socket_keeping_output_pending_real_link_send_buffer() {
    slow_reader("6b one socket keeping output pending, 88 KB send buffer", Some(44_000));
}

// ---------------------------------------------------------------- shape 7

/// Shape 7 (beyond the brief's five; probes net/reactor.rs): HTTP
/// keep-alive sockets that read every answer and keep pipelining `GET
/// /assets/style.css` faster than they are answered, for 3 s.
///
/// One request at a time means the reactor parses the next kept request
/// only from `run_again`, after the response before it is flushed; but
/// `read_turn` reads an HTTP socket whenever no response is pending, even
/// while its kept input still holds complete requests. A readable event
/// that lands between the flush and `run_again` appends another read to
/// the kept input, which then holds more than "one incomplete request +
/// one read". The 120 s keep-alive lifetime is then the only limit.
///
/// Bound (docs/architecture.md "kept input per connection", as shape 4):
/// style.css + 1 KiB + 2 × (64 KiB + 8 KiB + 16 KiB) + 8 KiB + bookkeeping.
#[test]
fn cost_7_keep_alive_sockets_reading_answers_while_pipelining_faster() {
    let _s = serial();
    let n = 32;
    let srv = start_with(|c| c.max_connections_per_ip = default_per_ip());
    let addr = srv.addr;
    let mut obs = observer(addr);
    let css = duet::app::web::ASSETS.iter().find(|a| a.0 == "/assets/style.css").expect("style.css").2.len();
    let get = b"GET /assets/style.css HTTP/1.1\r\nHost: duet\r\n\r\n";
    let chunk = get.repeat(8);
    let mut buf = vec![0u8; 256 * 1024];

    let meter = Meter::start(&srv);
    let mut socks: Vec<(TcpStream, usize)> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).unwrap();
            (s, 0)
        })
        .collect();
    let start = Instant::now();
    let (mut sent, mut got) = (0usize, 0usize);
    while start.elapsed() < Duration::from_secs(3) {
        for (s, off) in &mut socks {
            for _ in 0..4 {
                match s.write(&chunk[*off..]) {
                    Ok(k) => {
                        sent += k;
                        *off = (*off + k) % chunk.len();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("write: {e}"),
                }
            }
            match s.read(&mut buf) {
                Ok(0) => panic!("the server closed a keep-alive socket"),
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    let kernel = meter.kernel_now();
    println!(
        "shape 7: {n} sockets sent {} requests, read {} MiB of answers (~{} answers) in {:?}",
        sent / get.len(),
        got >> 20,
        got / (css + 200),
        start.elapsed()
    );
    assert_eq!(connections(&srv), n as i64 + 1, "every socket is still open");
    let per_socket =
        css + 1024 + 2 * (SCRATCH + MAX_HEAD + MAX_BODY) + MAX_HEAD + size_of::<Connection>() + BOOKKEEPING;
    let bound = n * per_socket + SLACK;
    drop(socks);
    wait_connections(&srv, 1, WAIT, "attack sockets closed");
    round_trip(&mut obs, "after");
    report("7 keep-alive reading answers, pipelining faster", n, &meter, kernel, bound);
}
