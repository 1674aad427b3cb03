//! Helpers for integration tests: a server on an ephemeral port, a
//! WebSocket client that speaks duet's JSON (`Client`), and what many
//! test files share. The submodules:
//!
//! - `http_client`: a raw HTTP/1.1 client (re-exported here);
//! - `asserts`: the `ERROR` and HTTP error shapes, `Replies` (re-exported);
//! - `frames`: WebSocket frames as bytes (its opcodes, `client_frame`,
//!   `Ev` and `own` re-exported);
//! - `raw`: a WebSocket client that can send anything;
//! - `serving`: checks that a server still serves everyone after a test
//!   has been rough with it;
//! - `store`: a memory store with hooks, and a server over any store;
//! - `process`: the `duet` binary as a child process;
//! - `props`: shared pieces of the proptest suites;
//! - `counting`: a counting allocator, for the files that register it.
//!
//! Every wait is bounded by `WAIT` so a broken server fails a test instead
//! of hanging it; nothing sleeps to synchronise.
#![allow(dead_code)]

pub mod asserts;
pub mod browser;
pub mod cluster;
pub mod counting;
pub mod frames;
pub mod haproxy;
pub mod http_client;
pub mod nodes;
pub mod process;
pub mod props;
pub mod raw;
pub mod serving;
pub mod store;

// Not every test file uses every re-export.
#[allow(unused_imports)]
pub use asserts::*;
#[allow(unused_imports)]
pub use frames::{Ev, client_frame, opcode, own};
#[allow(unused_imports)]
pub use http_client::*;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// Longest a test waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub server: duet::Server,
    pub addr: SocketAddr,
}

impl TestServer {
    /// Wraps a started server with the address it listens on.
    pub fn of(server: duet::Server) -> TestServer {
        let addr = server.local_addr();
        TestServer { server, addr }
    }
}

/// A server with the test defaults (`Config::for_tests`: the contract's,
/// but two workers and rate limits out of the way) on 127.0.0.1:0.
pub fn start() -> TestServer {
    start_with(|_| {})
}

/// A server with the test defaults, `tweak`ed.
#[track_caller]
pub fn start_with(tweak: impl FnOnce(&mut duet::Config)) -> TestServer {
    TestServer::of(duet::Server::start(test_config(tweak)).expect("server starts"))
}

/// `Config::for_tests`, `tweak`ed (and test logging set up).
pub fn test_config(tweak: impl FnOnce(&mut duet::Config)) -> duet::Config {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut cfg = duet::Config::for_tests();
    tweak(&mut cfg);
    cfg
}

/// Now, in milliseconds since the Unix epoch (the unit of `sentAt`,
/// `createdAt`, ban ends).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Resident set size of this process (a server started here runs in
/// it), KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// A TCP connection to `addr` from the loopback address `local`, with
/// `WAIT` as its read timeout.
#[track_caller]
pub fn tcp_from(addr: SocketAddr, local: Ipv4Addr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(local.into(), 0).into()).unwrap_or_else(|e| panic!("bind {local}: {e}"));
    sock.connect(&addr.into()).unwrap_or_else(|e| panic!("connect from {local}: {e}"));
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// A TCP connection to `addr` whose receive buffer is `rcvbuf` bytes, set
/// before connecting so the advertised window stays small (no
/// autotuning): a client that does not read soon backs up into the
/// server. No read timeout is set.
#[track_caller]
pub fn small_window(addr: SocketAddr, rcvbuf: usize) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
    sock.connect(&addr.into()).expect("connect");
    sock.into()
}

/// A server whose per-user queue-command bucket (`JOIN_QUEUE`,
/// `LEAVE_QUEUE`, `NEXT`) holds `burst` tokens and all but never refills
/// (0.001 a second), and a fresh user's client authenticated on it.
#[track_caller]
pub fn queue_limited(burst: u32) -> (TestServer, Client) {
    let srv = start_with(|c| {
        c.queue_rate = 0.001;
        c.queue_burst = burst;
    });
    let c = Client::authed(srv.addr, &register(srv.addr, json!({})));
    (srv, c)
}

/// The `JOIN_QUEUE` payload for `mood` with no interests.
pub fn in_mood(mood: &str) -> Value {
    json!({"mood": mood, "interests": []})
}

/// `JOIN_QUEUE` with `payload`, which must be answered `QUEUE_WAITING`
/// (echoing the id); returns that reply's payload.
#[track_caller]
pub fn join(c: &mut Client, payload: Value) -> Value {
    let r = c.request("JOIN_QUEUE", "join", payload);
    assert_eq!(r["type"], "QUEUE_WAITING", "{r}");
    r["payload"].clone()
}

/// A WebSocket client speaking duet's envelope.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(TcpStream::connect(addr).expect("connect"), addr, &[])
    }

    /// Connects from another loopback source address (127.0.0.N): to the
    /// server, another client address (contract section 7).
    #[track_caller]
    pub fn connect_from(addr: SocketAddr, local: Ipv4Addr) -> Client {
        Client::over(tcp_from(addr, local), addr, &[])
    }

    /// Upgrades a connected stream to `/ws/chat`, with `headers` added to
    /// the request, and sets `WAIT` as its read timeout; panics unless the
    /// server answers 101.
    #[track_caller]
    pub fn over(stream: TcpStream, addr: SocketAddr, headers: &[(&str, &str)]) -> Client {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = format!("ws://{addr}/ws/chat").into_client_request().unwrap();
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            req.headers_mut().append(name, value.parse().expect("a header value"));
        }
        let (ws, resp) = tungstenite::client(req, stream).expect("upgrade");
        assert_eq!(resp.status(), 101);
        Client { ws }
    }

    /// Sends `AUTH` with `user`'s token; returns after `AUTH_OK`, which
    /// must echo the id.
    #[track_caller]
    pub fn auth(&mut self, user: &User) {
        self.send(json!({"type":"AUTH","id":"auth","payload":{"token": user.token}}));
        assert_eq!(self.recv_type("AUTH_OK")["id"], "auth");
    }

    /// `connect_from`, then `auth`.
    #[track_caller]
    pub fn authed_from(addr: SocketAddr, user: &User, local: Ipv4Addr) -> Client {
        let mut c = Client::connect_from(addr, local);
        c.auth(user);
        c
    }

    /// `connect`, then `auth`.
    #[track_caller]
    pub fn authed(addr: SocketAddr, user: &User) -> Client {
        let mut c = Client::connect(addr);
        c.auth(user);
        c
    }

    #[track_caller]
    pub fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    #[track_caller]
    pub fn send_msg(&mut self, m: Message) {
        self.ws.send(m).expect("send");
    }

    /// The next JSON message (pings/pongs skipped).
    #[track_caller]
    pub fn recv(&mut self) -> Value {
        loop {
            match self.ws.read().expect("a message") {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON text frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next message, which must have this type.
    #[track_caller]
    pub fn recv_type(&mut self, ty: &str) -> Value {
        let v = self.recv();
        assert_eq!(v["type"], ty, "unexpected message: {v}");
        v
    }

    /// Sends a request with id and returns its reply (which must echo it).
    #[track_caller]
    pub fn request(&mut self, ty: &str, id: &str, payload: Value) -> Value {
        self.send(json!({"type": ty, "id": id, "payload": payload}));
        let v = self.recv();
        assert_eq!(v["id"], id, "reply must echo id: {v}");
        v
    }

    /// The server's close code, reading (and returning) what came before.
    #[track_caller]
    pub fn expect_close(&mut self) -> (u16, Vec<Value>) {
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f: CloseFrame| u16::from(f.code)).unwrap_or(1005);
                    return (code, before);
                }
                Ok(Message::Text(t)) => before.push(serde_json::from_str(&t).unwrap_or(Value::Null)),
                Ok(_) => {}
                Err(e) => panic!("connection ended without a close frame: {e}; before: {before:?}"),
            }
        }
        panic!("no close frame within {WAIT:?}");
    }

    /// Asserts no message arrives for the whole of `d`: pings and pongs
    /// are skipped (and reading goes on until `d` is over); anything else
    /// fails the test.
    #[track_caller]
    pub fn expect_silence(&mut self, d: Duration) {
        let started = Instant::now();
        let deadline = started + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.ws.get_mut().set_read_timeout(Some(left)).unwrap();
            match self.ws.read() {
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected silence for {d:?}, got {other:?} after {:?}", started.elapsed()),
            }
        }
        self.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    }
}

impl Replies for Client {
    #[track_caller]
    fn next_msg(&mut self) -> Result<Value, u16> {
        loop {
            match self.ws.read().expect("a message or the close frame") {
                Message::Text(t) => return Ok(serde_json::from_str(&t).expect("JSON text frame")),
                Message::Close(f) => return Err(f.map_or(1005, |f| u16::from(f.code))),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message or the close, got {other:?}"),
            }
        }
    }
}

/// Two authenticated clients paired in one room; returns the room id.
#[track_caller]
pub fn pair(addr: SocketAddr) -> (Client, Client, String) {
    let (a, b) = (register(addr, json!({})), register(addr, json!({})));
    pair_users(addr, &a, &b)
}

#[track_caller]
pub fn pair_users(addr: SocketAddr, a: &User, b: &User) -> (Client, Client, String) {
    let mut ca = Client::authed(addr, a);
    let mut cb = Client::authed(addr, b);
    join(&mut ca, in_mood("chill"));
    join(&mut cb, in_mood("chill"));
    let fa = ca.recv_type("MATCH_FOUND");
    let fb = cb.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"]);
    let room = fa["payload"]["roomId"].as_str().unwrap().to_string();
    (ca, cb, room)
}

/// Whether this runs under CI (`CI=true`), where tests that need a tool
/// or a service must fail instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A loopback port nothing listens on now (the kernel picks it), for a
/// server that must be started again on the same port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}
