//! Helpers for integration tests: a server on an ephemeral port, a raw
//! HTTP client, and a WebSocket client that speaks duet's JSON. `raw` is a
//! WebSocket client that can send anything; `serving` checks that a server
//! still serves everyone after a test has been rough with it.
//!
//! Every wait is bounded by `WAIT` so a broken server fails a test instead
//! of hanging it; nothing sleeps to synchronise.
#![allow(dead_code)]

pub mod raw;
pub mod serving;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// Longest a test waits for any one thing.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub server: duet::Server,
    pub addr: SocketAddr,
}

/// A server with contract defaults on 127.0.0.1:0.
pub fn start() -> TestServer {
    start_with(|_| {})
}

#[track_caller]
pub fn start_with(tweak: impl FnOnce(&mut duet::Config)) -> TestServer {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut cfg = duet::Config::for_tests();
    tweak(&mut cfg);
    let server = duet::Server::start(cfg).expect("server starts");
    let addr = server.local_addr();
    TestServer { server, addr }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Reads one response (Content-Length framed) from a stream.
#[track_caller]
pub fn read_response(s: &mut TcpStream) -> HttpResponse {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("response bytes");
        assert!(n > 0, "connection closed before a full response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head[9..12].parse().expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).expect("body bytes");
        assert!(n > 0, "connection closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    HttpResponse { status, head, body: buf[head_end..head_end + len].to_vec() }
}

/// A TCP connection to `addr` from the loopback address `local`.
#[track_caller]
pub fn tcp_from(addr: SocketAddr, local: std::net::Ipv4Addr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(local.into(), 0).into()).expect("bind a loopback source address");
    sock.connect(&addr.into()).expect("connect");
    sock.into()
}

/// Sends raw bytes on a fresh connection and reads one response.
#[track_caller]
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(request).expect("send request");
    read_response(&mut s)
}

/// One request with an optional bearer token and JSON body.
#[track_caller]
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> HttpResponse {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw_http(addr, req.as_bytes())
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
    pub profile: Value,
}

#[track_caller]
pub fn register(addr: SocketAddr, body: Value) -> User {
    let r = http(addr, "POST", "/api/users/registerOrUpdate", None, Some(&body));
    assert_eq!(r.status, 200, "register: {}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    User {
        id: v["userId"].as_str().unwrap().into(),
        token: v["authToken"].as_str().unwrap().into(),
        profile: v["profile"].clone(),
    }
}

/// A WebSocket client speaking duet's envelope.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, resp) = tungstenite::client(format!("ws://{addr}/ws/chat"), stream).expect("upgrade");
        assert_eq!(resp.status(), 101);
        Client { ws }
    }

    /// Connects from another loopback source address (127.0.0.N): to the
    /// server, another client address (contract section 7).
    #[track_caller]
    pub fn connect_from(addr: SocketAddr, local: std::net::Ipv4Addr) -> Client {
        let stream = tcp_from(addr, local);
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, resp) = tungstenite::client(format!("ws://{addr}/ws/chat"), stream).expect("upgrade");
        assert_eq!(resp.status(), 101);
        Client { ws }
    }

    /// `connect_from`, then `AUTH`; returns after `AUTH_OK`.
    #[track_caller]
    pub fn authed_from(addr: SocketAddr, user: &User, local: std::net::Ipv4Addr) -> Client {
        let mut c = Client::connect_from(addr, local);
        c.send(json!({"type":"AUTH","id":"auth","payload":{"token": user.token}}));
        assert_eq!(c.recv_type("AUTH_OK")["id"], "auth");
        c
    }

    /// Connects and authenticates; returns after `AUTH_OK`.
    #[track_caller]
    pub fn authed(addr: SocketAddr, user: &User) -> Client {
        let mut c = Client::connect(addr);
        c.send(json!({"type":"AUTH","id":"auth","payload":{"token": user.token}}));
        let ok = c.recv_type("AUTH_OK");
        assert_eq!(ok["id"], "auth");
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

    /// Asserts nothing but pings arrives for `d`.
    #[track_caller]
    pub fn expect_silence(&mut self, d: Duration) {
        self.ws.get_mut().set_read_timeout(Some(d)).unwrap();
        match self.ws.read() {
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Ok(Message::Ping(_)) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        self.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
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
    let payload = json!({"mood": "chill", "interests": []});
    assert_eq!(ca.request("JOIN_QUEUE", "q", payload.clone())["type"], "QUEUE_WAITING");
    assert_eq!(cb.request("JOIN_QUEUE", "q", payload)["type"], "QUEUE_WAITING");
    let fa = ca.recv_type("MATCH_FOUND");
    let fb = cb.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"]);
    let room = fa["payload"]["roomId"].as_str().unwrap().to_string();
    (ca, cb, room)
}

/// A client frame: `first` is FIN|RSV|opcode; the payload is masked with
/// `mask` when given (a server must refuse unmasked client frames).
pub fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// WebSocket opcodes, for tests that write raw frames.
pub mod opcode {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Owned copy of a `WsEvent`, to compare decoded streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(u16),
}

pub fn own(e: duet::net::frame::WsEvent<'_>) -> Ev {
    use duet::net::frame::WsEvent;
    match e {
        WsEvent::Text(t) => Ev::Text(t.to_owned()),
        WsEvent::Binary(b) => Ev::Binary(b.to_vec()),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong => Ev::Pong,
        WsEvent::Close(c) => Ev::Close(c),
    }
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
