//! A raw HTTP/1.1 client: requests written as bytes, responses read
//! (Content-Length framed) one at a time or in a pipelined stream, and
//! registering an identity.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::WAIT;

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

/// The head at the start of `buf`, once it is all there: (its length with
/// the blank line, the head as text, the status, the Content-Length).
#[track_caller]
fn split_head(buf: &[u8]) -> Option<(usize, String, u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status =
        head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status code in {head:?}"));
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("a length"))
        })
        .unwrap_or(0);
    Some((end, head, status, len))
}

/// The response at the start of `buf`, once it is all there, and how many
/// bytes of `buf` it took.
#[track_caller]
fn split_response(buf: &[u8]) -> Option<(HttpResponse, usize)> {
    let (end, head, status, len) = split_head(buf)?;
    let body = buf.get(end..end + len)?.to_vec();
    Some((HttpResponse { status, head, body }, end + len))
}

/// Reads one response from a stream (bytes after it are dropped: use
/// `Responses` for a pipelined stream).
#[track_caller]
pub fn read_response(s: &mut TcpStream) -> HttpResponse {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((r, _)) = split_response(&buf) {
            return r;
        }
        let n = s.read(&mut chunk).expect("response bytes");
        assert!(n > 0, "connection closed before a full response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads consecutive responses from one connection, keeping the bytes of
/// the next response that arrive with the current one.
pub struct Responses {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Responses {
    /// Reads `s` with `WAIT` as its read timeout.
    pub fn new(s: TcpStream) -> Responses {
        s.set_read_timeout(Some(WAIT)).unwrap();
        Responses { s, buf: Vec::new() }
    }

    /// Reads more bytes; Err (saying what is buffered) on EOF, reset or
    /// timeout.
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 64 * 1024];
        match self.s.read(&mut chunk) {
            Ok(n) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            other => {
                Err(format!("{other:?} with {} bytes unparsed: {:?}", self.buf.len(), self.head_of_buf()))
            }
        }
    }

    fn head_of_buf(&self) -> String {
        String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)]).to_string()
    }

    /// The next response, or Err saying why none came in full.
    #[track_caller]
    pub fn try_next(&mut self) -> Result<HttpResponse, String> {
        loop {
            if let Some((r, used)) = split_response(&self.buf) {
                self.buf.drain(..used);
                return Ok(r);
            }
            self.fill()?;
        }
    }

    #[track_caller]
    pub fn next(&mut self) -> HttpResponse {
        self.try_next().unwrap_or_else(|e| panic!("no complete response: {e}"))
    }

    /// A response to HEAD: the head only, whatever Content-Length says.
    #[track_caller]
    pub fn head_only(&mut self) -> HttpResponse {
        loop {
            if let Some((end, head, status, _)) = split_head(&self.buf) {
                self.buf.drain(..end);
                return HttpResponse { status, head, body: Vec::new() };
            }
            if let Err(e) = self.fill() {
                panic!("no complete head: {e}");
            }
        }
    }
}

/// Asserts the server ends the connection (FIN or reset) within `within`,
/// sending nothing more.
#[track_caller]
pub fn assert_eof(s: &mut TcpStream, within: Duration) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("expected the connection closed, got {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => panic!("expected the connection closed within {within:?}, got {e}"),
    }
}

/// A `GET` request for `path`; `extra` is more header lines, each ending
/// in CRLF.
pub fn get_request(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: duet\r\n{extra}\r\n").into_bytes()
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

/// The text of `GET /metrics`, which must answer 200.
#[track_caller]
pub fn metrics_text(addr: SocketAddr) -> String {
    let r = http(addr, "GET", "/metrics", None, None);
    assert_eq!(r.status, 200, "GET /metrics: {}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body).expect("/metrics is UTF-8")
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
