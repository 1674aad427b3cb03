//! HTTP request and response types: what the reactor's parser
//! (`net::http`) produces and what the workers answer with.
//!
//! Only data and its serialization live here; parsing, its bounds and the
//! upgrade answer stay with the reactor. A `Response` serializes to one
//! complete HTTP/1.1 response with `Content-Length` (never chunked).

use std::fmt::Write as _;

/// The request methods duet routes on; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
    Head,
    Options,
    Put,
    Patch,
    Other,
}

/// One parsed request, owning only what routing and handlers need.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The method; `None` only in a `Request::default()` (read as `Other`).
    pub method: Option<Method>,
    /// Path without the query string.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Authorization: Bearer` token, if any.
    pub bearer: Option<String>,
    /// `Origin`, if any (checked on upgrades).
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key`, present on an upgrade.
    pub ws_key: Option<String>,
    /// `Upgrade: websocket` and `Connection: upgrade` were both sent.
    pub wants_upgrade: bool,
    /// `Sec-WebSocket-Version` value.
    pub ws_version: Option<String>,
    /// `X-Forwarded-For`, the last such header (its last entry is the one
    /// a trusted proxy appended); believed only from a trusted peer.
    pub forwarded_for: Option<String>,
    /// The client asked to close after this request (or spoke HTTP/1.0).
    pub close: bool,
    /// The body, exactly `Content-Length` bytes (at most 16 KiB).
    pub body: Vec<u8>,
}

impl Request {
    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Other)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// A response ready for the socket.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code; its reason phrase is looked up when serialized.
    pub status: u16,
    /// Extra header lines, each `Name: value` without CRLF.
    pub headers: Vec<String>,
    /// `Content-Type`, charset included; empty sends no such header.
    pub content_type: &'static str,
    /// The body; `Content-Length` is its length.
    pub body: Vec<u8>,
    /// Answering HEAD: headers as for GET, no body.
    pub head_only: bool,
}

impl Response {
    /// A body of the given media type (charset included where it applies).
    pub fn with_type(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, headers: Vec::new(), content_type, body, head_only: false }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response::with_type(status, "application/json", body)
    }

    /// The contract's error shape: `{"error":{"code":..,"message":..}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        Response::json(status, body.to_string().into_bytes())
    }

    /// 405 naming the allowed methods in `Allow`.
    pub fn method_not_allowed(allow: &str) -> Response {
        Response::error(405, "METHOD_NOT_ALLOWED", &format!("use {allow}")).header(format!("Allow: {allow}"))
    }

    pub fn no_content() -> Response {
        Response::with_type(204, "", Vec::new())
    }

    pub fn header(mut self, line: String) -> Response {
        self.headers.push(line);
        self
    }

    /// Serializes the response; `close` adds `Connection: close`.
    pub fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if !self.content_type.is_empty() {
            let _ = write!(head, "Content-Type: {}\r\n", self.content_type);
        }
        if self.status != 204 {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        for h in &self.headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str(if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" });
        let mut out = head.into_bytes();
        if !self.head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}
