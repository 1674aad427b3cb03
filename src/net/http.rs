//! HTTP/1.1 request parsing, on the reactor's buffers (the request and
//! response types themselves are in `base::http`).
//!
//! Requests are parsed with httparse from the connection's bytes; nothing is
//! copied until a request is complete. Bounds: the request line and headers
//! at most [`MAX_HEAD`] bytes (else 431), a body at most [`MAX_BODY`] bytes
//! (else 413), and bodies only by `Content-Length` (chunked is refused with
//! 400, which no client of this API needs).

/// The request and response types are the shared vocabulary's (`base`):
/// what this parser produces and the workers answer with.
pub use crate::base::http::{Method, Request, Response};

/// Request line + headers, bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Request body, bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// Headers per request; more is treated like oversized headers.
const MAX_HEADERS: usize = 48;

/// A request that cannot be served; each names its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("malformed request: {0}")]
    Bad(&'static str),
    #[error("request headers exceed 8 KiB")]
    HeadersTooLarge,
    #[error("request body exceeds 16 KiB")]
    BodyTooLarge,
}

impl HttpError {
    pub fn status(self) -> u16 {
        match self {
            HttpError::Bad(_) => 400,
            HttpError::HeadersTooLarge => 431,
            HttpError::BodyTooLarge => 413,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            HttpError::Bad(_) => "BAD_REQUEST",
            HttpError::HeadersTooLarge => "HEADERS_TOO_LARGE",
            HttpError::BodyTooLarge => "PAYLOAD_TOO_LARGE",
        }
    }
}

/// Outcome of parsing the start of a buffer.
#[derive(Debug)]
pub enum Parsed {
    /// Need more bytes.
    Incomplete,
    /// A whole request and how many bytes it used.
    Complete(Box<Request>, usize),
}

fn method_of(m: &str) -> Method {
    match m {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        _ => Method::Other,
    }
}

fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A `Content-Length` value: ASCII digits only (contract section 7).
/// `usize::from_str` would also take `+2`, which a front proxy may read
/// differently (request smuggling); too many digits is refused likewise.
fn content_length_of(value: &str) -> Result<usize, HttpError> {
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::Bad("bad Content-Length: ASCII digits only"));
    }
    v.parse().map_err(|_| HttpError::Bad("bad Content-Length"))
}

/// Parses one request from the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(HttpError::HeadersTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Incomplete),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(_) => return Err(HttpError::Bad("unparsable request")),
    };
    if head_len > MAX_HEAD {
        return Err(HttpError::HeadersTooLarge);
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out = Request {
        method: Some(method_of(req.method.unwrap_or(""))),
        path: path.to_owned(),
        query: query.to_owned(),
        close: req.version == Some(0),
        ..Request::default()
    };
    let mut content_length: Option<usize> = None;
    let (mut upgrade, mut connection_upgrade) = (false, false);
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| HttpError::Bad("non-UTF-8 header"))?;
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = content_length_of(value)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(HttpError::Bad("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Bad("Transfer-Encoding is not supported; send Content-Length"));
        } else if name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= has_token(value, "upgrade");
            if has_token(value, "close") {
                out.close = true;
            } else if has_token(value, "keep-alive") {
                out.close = false;
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(value, "websocket");
        } else if name.eq_ignore_ascii_case("authorization") {
            // Any other scheme (or an empty token) reads as an empty token:
            // refused as invalid, never mistaken for "no credentials".
            let v = value.trim();
            let token = v.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map(|_| v[7..].trim());
            out.bearer = Some(token.unwrap_or("").to_owned());
        } else if name.eq_ignore_ascii_case("origin") {
            out.origin = Some(value.trim().to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            out.ws_key = Some(value.trim().to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            out.ws_version = Some(value.trim().to_owned());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            out.forwarded_for = Some(value.trim().to_owned());
        }
    }
    out.wants_upgrade = upgrade && connection_upgrade;
    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_BODY {
        return Err(HttpError::BodyTooLarge);
    }
    if buf.len() - head_len < body_len {
        return Ok(Parsed::Incomplete);
    }
    out.body = buf[head_len..head_len + body_len].to_vec();
    Ok(Parsed::Complete(Box::new(out), head_len + body_len))
}

/// The 101 answer to a valid upgrade request.
pub fn switching_protocols(ws_key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(ws_key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}
