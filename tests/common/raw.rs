//! A WebSocket client on a raw TCP socket, for tests that must send what a
//! well-behaved client library never would: it writes any bytes it is
//! given, malformed or not, never answers pings on its own, and parses the
//! server's frames itself (checking they are unmasked and carry no RSV
//! bits). Every read is bounded by the socket's read timeout (`WAIT`
//! unless a test sets another), so a silent server fails a test instead of
//! hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use super::opcode::*;
use super::{Replies, User, WAIT, client_frame};

/// The `Sec-WebSocket-Key` every upgrade request here sends, and the
/// `Sec-WebSocket-Accept` the server must answer it with (RFC 6455 1.3).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The masking key of every masked client frame built here.
pub const MASK: [u8; 4] = [0xa1, 0x5e, 0x07, 0xc3];

/// An upgrade request for `/ws/chat`; `extra` is more header lines, each
/// ending in CRLF.
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A client frame masked with `MASK`.
pub fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(if fin { 0x80 } else { 0 } | opcode, payload, Some(MASK))
}

/// A masked text frame carrying `v` as JSON.
pub fn text_frame(v: &Value) -> Vec<u8> {
    masked(true, TEXT, v.to_string().as_bytes())
}

/// One frame as the server sent it.
#[derive(Debug)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    #[track_caller]
    pub fn json(&self) -> Value {
        assert_eq!(self.opcode, TEXT, "expected a text frame, got {self:?}");
        serde_json::from_slice(&self.payload).expect("JSON text frame")
    }

    #[track_caller]
    pub fn close_code(&self) -> u16 {
        assert_eq!(self.opcode, CLOSE, "expected a close frame, got {self:?}");
        assert!(self.payload.len() >= 2, "close frame without a code");
        u16::from_be_bytes([self.payload[0], self.payload[1]])
    }
}

/// The raw client. `s` is open to tests (read timeouts, a second writer,
/// reads past the close frame); `buf` holds bytes read but not yet parsed.
pub struct Raw {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    /// Connects and upgrades, sending the request in one write.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::upgrade(TcpStream::connect(addr).expect("connect"), addr, false)
    }

    /// Upgrades a connected stream, optionally writing the request one
    /// byte at a time; panics unless the server answers a correct 101.
    #[track_caller]
    pub fn upgrade(s: TcpStream, addr: SocketAddr, byte_by_byte: bool) -> Raw {
        let mut raw = Raw::new(s);
        let req = upgrade_request(addr, "");
        if byte_by_byte {
            for b in req.bytes() {
                raw.s.write_all(&[b]).expect("send upgrade");
            }
        } else {
            raw.s.write_all(req.as_bytes()).expect("send upgrade");
        }
        raw.expect_101();
        raw
    }

    /// Wraps a connected stream as it is (no upgrade sent), with `WAIT` as
    /// its read and write timeouts.
    pub fn new(s: TcpStream) -> Raw {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        Raw { s, buf: Vec::new() }
    }

    /// Reads the upgrade response: 101 with the right accept key.
    #[track_caller]
    pub fn expect_101(&mut self) {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if let Err(e) = self.fill() {
                panic!("no upgrade response: {e}; bytes so far {:?}", String::from_utf8_lossy(&self.buf));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        self.buf.drain(..end);
        assert!(head.starts_with("HTTP/1.1 101 "), "expected 101, got {head:?}");
        let accept = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case("sec-websocket-accept").then(|| v.trim().to_string())
        });
        assert_eq!(accept.as_deref(), Some(ACCEPT), "{head}");
    }

    /// Reads more bytes; Err on EOF, reset or timeout.
    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        match self.s.read(&mut chunk) {
            Ok(0) => Err(std::io::Error::new(ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends bytes; errors are ignored (the server may already have
    /// closed on an earlier frame, which the test checks by reading).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
    }

    /// Sends an envelope, which must be written in full.
    #[track_caller]
    pub fn send_json(&mut self, v: Value) {
        self.s.write_all(&text_frame(&v)).expect("send");
    }

    /// The next server frame.
    #[track_caller]
    pub fn frame(&mut self) -> Frame {
        loop {
            if self.buf.len() >= 2 {
                let (b0, b1) = (self.buf[0], self.buf[1]);
                assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
                assert_eq!(b0 & 0x70, 0, "server frames carry no RSV bits");
                let (len, head) = match b1 & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if head > 0 && self.buf.len() >= head + len {
                    let payload = self.buf[head..head + len].to_vec();
                    self.buf.drain(..head + len);
                    return Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0f, payload };
                }
            }
            if let Err(e) = self.fill() {
                panic!("no complete frame: {e}; unparsed bytes {:?}", self.buf);
            }
        }
    }

    /// The next text message as JSON, skipping control frames.
    #[track_caller]
    pub fn json(&mut self) -> Value {
        loop {
            let f = self.frame();
            match f.opcode {
                PING | PONG => continue,
                _ => return f.json(),
            }
        }
    }

    /// Authenticates as `user`; returns after `AUTH_OK`.
    #[track_caller]
    pub fn auth(&mut self, user: &User) {
        self.send_json(json!({"type":"AUTH","id":"a","payload":{"token": user.token}}));
        let ok = self.json();
        assert_eq!(ok["type"], "AUTH_OK", "{ok}");
        assert_eq!(ok["id"], "a");
    }

    /// Reads until the server's close frame; returns its code and the text
    /// messages that came before it (other frames are skipped).
    #[track_caller]
    pub fn expect_close(&mut self) -> (u16, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let f = self.frame();
            match f.opcode {
                CLOSE => return (f.close_code(), before),
                TEXT => before.push(f.json()),
                _ => {}
            }
        }
    }

    /// Reads until the server's close frame, allowing only pings and text
    /// before it; returns the close code, the pings and the texts.
    #[track_caller]
    pub fn pings_and_texts_to_close(&mut self) -> (u16, usize, Vec<Value>) {
        let (mut pings, mut texts) = (0, Vec::new());
        loop {
            let f = self.frame();
            match f.opcode {
                PING => pings += 1,
                TEXT => texts.push(f.json()),
                CLOSE => return (f.close_code(), pings, texts),
                other => panic!("unexpected opcode {other}"),
            }
        }
    }

    /// After the close frame: nothing else was sent and the server ends
    /// the TCP connection (FIN or reset) within the read timeout.
    #[track_caller]
    pub fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "bytes after the close frame: {:?}", self.buf);
        let mut b = [0u8; 64];
        match self.s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!(
                "expected the connection to end within {:?}, got {other:?}",
                self.s.read_timeout().ok().flatten()
            ),
        }
    }

    /// Asserts not one more byte arrives for the whole of `d`: one read
    /// that must time out. Unlike `Client::expect_silence`, a ping fails
    /// it too (this client sees every frame).
    #[track_caller]
    pub fn expect_silence(&mut self, d: Duration) {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", self.buf);
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut extra = [0u8; 256];
        match self.s.read(&mut extra) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence for {d:?}, got {other:?}"),
        }
        self.s.set_read_timeout(Some(WAIT)).unwrap();
    }
}

impl Replies for Raw {
    #[track_caller]
    fn next_msg(&mut self) -> Result<Value, u16> {
        loop {
            let f = self.frame();
            match f.opcode {
                TEXT => return Ok(f.json()),
                CLOSE => return Err(f.close_code()),
                PING | PONG => {}
                _ => panic!("expected a text message or the close, got {f:?}"),
            }
        }
    }
}
