//! The HTTP side of a session: the register request, the WebSocket upgrade
//! request (both on one keep-alive socket, optionally pipelined), and the
//! parsing of their responses with httparse.

use std::io::Write;

use serde::Deserialize;

/// Largest response head + body accepted before calling it an error.
pub const MAX_RESPONSE: usize = 64 * 1024;

/// Appends `POST /api/users/registerOrUpdate` with a JSON body.
pub fn write_register(out: &mut Vec<u8>, host: &str, body: &[u8]) {
    let _ = write!(
        out,
        "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// Appends the `GET /ws/chat` upgrade request.
pub fn write_upgrade(out: &mut Vec<u8>, host: &str, key: &[u8; 24]) {
    let _ = write!(
        out,
        "GET /ws/chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
    );
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n\r\n");
}

/// One parsed response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// `Sec-WebSocket-Accept`, when present.
    pub accept: Option<&'a [u8]>,
    /// `Upgrade: websocket` and `Connection: upgrade` both present.
    pub upgrade: bool,
    /// Bytes of `buf` this response used (head and body).
    pub used: usize,
}

/// Parses the response at the start of `buf`; `Ok(None)` = incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<Response<'_>>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_RESPONSE { Err("response head too large".into()) } else { Ok(None) };
        }
        Err(e) => return Err(format!("bad HTTP response: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length = 0usize;
    let mut accept = None;
    let (mut up, mut conn_up) = (false, false);
    for h in resp.headers.iter() {
        let v = h.value;
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or("bad Content-Length")?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked responses are not expected".into());
        } else if h.name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(v);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            up = v.eq_ignore_ascii_case(b"websocket");
        } else if h.name.eq_ignore_ascii_case("connection") {
            conn_up = v.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        }
    }
    if status == 101 {
        content_length = 0;
    }
    if content_length > MAX_RESPONSE {
        return Err(format!("response body of {content_length} bytes"));
    }
    if buf.len() < head_len + content_length {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        body: &buf[head_len..head_len + content_length],
        accept,
        upgrade: up && conn_up,
        used: head_len + content_length,
    }))
}

/// The fields of `{userId, authToken, profile}` the harness keeps.
#[derive(Debug, Deserialize)]
pub struct Registered {
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "authToken")]
    pub auth_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pipelined_responses_in_pieces() {
        let body = r#"{"userId":"u1","authToken":"tok-1","profile":{}}"#;
        let a = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let a = a.as_bytes();
        let b = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n";
        let mut all = a.to_vec();
        all.extend_from_slice(b);
        for cut in 0..a.len() {
            assert_eq!(parse_response(&all[..cut]), Ok(None), "cut {cut}");
        }
        let r = parse_response(&all).unwrap().unwrap();
        assert_eq!((r.status, r.used), (200, a.len()));
        let reg: Registered = serde_json::from_slice(r.body).unwrap();
        assert_eq!((reg.user_id.as_str(), reg.auth_token.as_str()), ("u1", "tok-1"));
        let r2 = parse_response(&all[a.len()..]).unwrap().unwrap();
        assert_eq!((r2.status, r2.upgrade, r2.accept), (101, true, Some(&b"abc="[..])));
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn writes_requests() {
        let mut out = Vec::new();
        write_register(&mut out, "127.0.0.1:1", b"{}");
        write_upgrade(&mut out, "127.0.0.1:1", b"dGhlIHNhbXBsZSBub25jZQ==");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST /api/users/registerOrUpdate HTTP/1.1\r\n"));
        assert!(s.contains("Content-Length: 2\r\n\r\n{}GET /ws/chat HTTP/1.1\r\n"));
        assert!(s.ends_with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
    }
}
