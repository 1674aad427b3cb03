//! Contract section 7, the HTTP rules, over real sockets (issue 11, rows 1,
//! 5 and 11): one request at a time per connection with bounded output, the
//! no-progress deadline, the keep-alive lifetime, digits-only
//! `Content-Length`, and `Cache-Control: no-store` on token responses.
//! (Client addresses, trusted proxies and the per-address connection cap:
//! `hardening_proxy.rs`.)
//!
//! Everything is bounded: reads carry timeouts, loops carry deadlines, and
//! nothing sleeps to synchronise. The only pauses are a client's own pace
//! (a slow reader, a client asking every 300 ms) and the short pause
//! between polls of the admin stats.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::serving::*;
use common::*;
use serde_json::json;

const REGISTER: &str = "/api/users/registerOrUpdate";
/// The largest bundled asset (about 14 KiB): a response worth flooding.
const STYLE: &str = "/assets/style.css";
/// How much a hostile client may make the process grow, KiB. The server
/// holds at most ~64 KiB per connection for a client that never reads;
/// the rest is slack for the allocator (the test runs alone, see `MEMORY`).
const RSS_SLACK_KIB: u64 = 8 * 1024;

// ------------------------------------------------------------- helpers

/// The RSS test runs alone (write lock); the others share (read lock), so
/// their allocations do not count against it.
static MEMORY: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    MEMORY.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    MEMORY.write().unwrap_or_else(|e| e.into_inner())
}

/// A server whose admin stats `serving` can poll, tweaked further.
#[track_caller]
fn server(tweak: impl FnOnce(&mut duet::Config)) -> TestServer {
    start_with(|c| {
        c.admin_token = Some(ADMIN.into());
        tweak(c);
    })
}

/// `n` pipelined `GET /assets/style.css`, as compact as HTTP/1.1 allows.
fn style_flood(n: usize) -> Vec<u8> {
    get_request(STYLE, "").repeat(n)
}

/// How many pipelined style.css GETs answer with well over what socket
/// buffers can hold for a never-reading `small_window(addr, 64 * 1024)`: twice the
/// kernel's largest send buffer (`tcp_wmem`), at least 1,000 (~14 MiB).
fn gets_to_fill_buffers() -> usize {
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(4 << 20);
    (2 * (wmem_max + (256 << 10)) / 14_000).max(1_000)
}

fn post_with_length(path: &str, length_header: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: duet\r\nContent-Type: application/json\r\n{length_header}\r\n{body}"
    )
    .into_bytes()
}

/// Writes as much of `bytes` as the peer takes within `patience` per write;
/// returns how many bytes went out. A server that stops reading a client
/// that never reads is what this allows for.
fn write_what_fits(s: &mut TcpStream, bytes: &[u8], patience: Duration) -> usize {
    s.set_write_timeout(Some(patience)).unwrap();
    let mut sent = 0;
    while sent < bytes.len() {
        let end = (sent + 16 * 1024).min(bytes.len());
        match s.write(&bytes[sent..end]) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent
}

/// Waits (bounded) until the server counts no connection but the stats
/// request's own: the hostile socket is gone.
#[track_caller]
fn assert_all_closed_within(addr: SocketAddr, within: Duration, what: &str) {
    let (n, ok) = poll_connections(addr, within, |n| n <= 1);
    assert!(ok, "{what}: still {n} connections open after {within:?}");
}

// ------------------------------------------- one request at a time

/// Issue 11 row 1; section 7 "a client that stops reading holds at most
/// 64 KiB of server output": 20,000 pipelined `GET /assets/style.css` on one
/// socket that never reads cost the process almost nothing (it grew by
/// ~290 MiB before), the server keeps serving everyone else meanwhile, and
/// the socket is closed once it makes no progress.
#[test]
fn twenty_thousand_pipelined_gets_on_a_never_read_socket_cost_almost_no_memory() {
    let _alone = alone();
    let srv = server(|c| c.auth_timeout_secs = Duration::from_secs(1));
    let addr = srv.addr;
    let flood = style_flood(20_000);
    // Warm up what a first request allocates, then take the baseline.
    assert_eq!(http(addr, "GET", STYLE, None, None).status, 200);
    assert_health_ok(addr);
    let before = rss_kib();

    let mut hostile = TcpStream::connect(addr).unwrap();
    let sent = write_what_fits(&mut hostile, &flood, Duration::from_millis(500));
    let start = Instant::now();

    // Everyone else is still served while the hostile socket sits there.
    assert_health_ok(addr);
    assert_normal_chat(addr);

    // Watch the process until the hostile socket is closed (no progress
    // for `auth_timeout_secs`), failing as soon as it has grown too much.
    let deadline = start + Duration::from_secs(8);
    let mut peak = before;
    loop {
        peak = peak.max(rss_kib());
        let grew = peak.saturating_sub(before);
        assert!(
            grew < RSS_SLACK_KIB,
            "RSS grew by {grew} KiB ({before} -> {peak} KiB) after {:?} from one socket that sent \
             {sent} bytes of pipelined GETs and never read",
            start.elapsed()
        );
        if stats_connections(addr) <= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the never-read socket was not closed within 8 s (auth_timeout_secs = 1 s)"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_health_ok(addr);
    eprintln!(
        "flood: sent {sent} bytes; RSS {before} -> peak {peak} KiB; closed after {:?}",
        start.elapsed()
    );
}

/// Section 7 "a pipelined request is not parsed until the response before
/// it is written": behind 1,000+ pipelined GETs (14+ MiB of answers, far more
/// than socket buffers hold) on a socket that never reads, a pipelined
/// `DELETE /api/users/me` is never handled: the identity survives, also
/// after the server has closed that socket for making no progress.
#[test]
fn pipelined_request_behind_unread_responses_is_not_handled() {
    let _shared = shared();
    let srv = server(|c| c.auth_timeout_secs = Duration::from_millis(500));
    let addr = srv.addr;
    let user = register(addr, json!({"nickname": "Survivor"}));
    let mut batch = style_flood(gets_to_fill_buffers());
    batch.extend(
        format!("DELETE /api/users/me HTTP/1.1\r\nAuthorization: Bearer {}\r\n\r\n", user.token).bytes(),
    );

    let mut hostile = small_window(addr, 64 * 1024);
    let sent = write_what_fits(&mut hostile, &batch, Duration::from_secs(2));
    assert_eq!(sent, batch.len(), "the whole batch (with the DELETE at its end) must reach the server");

    let start = Instant::now();
    loop {
        let me = http(addr, "GET", "/api/users/me", Some(&user.token), None);
        assert_eq!(
            me.status,
            200,
            "the pipelined DELETE was handled {:?} after it was sent, while 14+ MiB of responses \
             before it were unread: {}",
            start.elapsed(),
            String::from_utf8_lossy(&me.body)
        );
        if stats_connections(addr) <= 1 {
            break; // closed for making no progress, the DELETE unparsed
        }
        assert!(start.elapsed() < Duration::from_secs(8), "the never-read socket was not closed within 8 s");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(addr, "GET", "/api/users/me", Some(&user.token), None).status, 200);
}

/// Section 7 "one request at a time": 150 pipelined requests mixing ones
/// the reactor answers itself (health) with ones a worker answers (profile,
/// 404) are answered in the order sent. (Holds today; guards the change.)
#[test]
fn mixed_pipelined_requests_are_answered_in_order() {
    let _shared = shared();
    let srv = server(|_| {});
    let users =
        [register(srv.addr, json!({"nickname": "Ann"})), register(srv.addr, json!({"nickname": "Bob"}))];
    let mut batch = Vec::new();
    for i in 0..150 {
        match i % 3 {
            0 => batch.extend(get_request("/api/health", "")),
            1 => batch.extend(get_request(
                "/api/users/me",
                &format!("Authorization: Bearer {}\r\n", users[i % 2].token),
            )),
            _ => batch.extend(get_request(&format!("/nowhere/{i}"), "")),
        }
    }
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(&batch).unwrap();
    let mut rd = Responses::new(s);
    for i in 0..150 {
        let r = rd.next();
        match i % 3 {
            0 => assert_eq!(r.json()["status"], "ok", "response {i}: {}", String::from_utf8_lossy(&r.body)),
            1 => {
                let want = if i % 2 == 0 { "Ann" } else { "Bob" };
                assert_eq!(r.json()["profile"]["nickname"], want, "response {i}");
            }
            _ => assert_eq!(r.status, 404, "response {i}"),
        }
    }
}

// ----------------------------------------------------------- progress

/// Issue 11 row 1 ("held as long as the client trickles a request");
/// section 7 "one that makes no progress for auth-timeout-secs is closed":
/// a client that stops reading (its answers fill every buffer) but keeps
/// sending a complete request every 100 ms is closed about
/// `auth_timeout_secs` (0.5 s) after it stopped reading.
#[test]
fn client_that_stops_reading_is_closed_even_while_it_keeps_sending() {
    let _shared = shared();
    let srv = server(|c| c.auth_timeout_secs = Duration::from_millis(500));
    let addr = srv.addr;
    let mut hostile = small_window(addr, 64 * 1024);
    let sent = write_what_fits(&mut hostile, &style_flood(gets_to_fill_buffers()), Duration::from_secs(2));
    assert!(sent > 0, "nothing could be sent");
    let start = Instant::now();
    let health = get_request("/api/health", "");
    loop {
        // The client's own pace: a complete request every 100 ms.
        if hostile.write_all(&health).is_err() {
            break; // the server closed it
        }
        if stats_connections(addr) <= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a socket that has not read 14+ MiB of answers is still open after 5 s because it sends a \
             request every 100 ms (auth_timeout_secs = 0.5 s; closing may linger 2 s)"
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_all_closed_within(addr, WAIT, "the stalled socket");
    assert_health_ok(addr);
}

/// Section 7 (the no-progress rule cuts only what makes no progress): a
/// client that reads its pipelined answers slowly but steadily, pausing
/// 200 ms (under `auth_timeout_secs` = 0.5 s) after every MiB, gets all
/// 1,000 of them (~14 MiB: far more than socket buffers hold, so the server
/// must wait for it along the way). Guards the no-progress rule against cutting
/// a client that does make progress (today's request deadline cuts it).
#[test]
fn slow_but_steady_reader_gets_every_pipelined_response() {
    let _shared = shared();
    let srv = server(|c| c.auth_timeout_secs = Duration::from_millis(500));
    const N: usize = 1_000;
    let expect_len = http(srv.addr, "GET", STYLE, None, None).body.len();
    // The kernel cannot take the answers in for the client: the server has
    // to wait for its reads.
    let mut s = small_window(srv.addr, 64 * 1024);
    let sent = write_what_fits(&mut s, &style_flood(N), Duration::from_secs(2));
    assert_eq!(sent, N * get_request(STYLE, "").len(), "the requests must all reach the server");

    let mut rd = Responses::new(s);
    let mut since_pause = 0;
    let start = Instant::now();
    for i in 0..N {
        let r = rd
            .try_next()
            .unwrap_or_else(|e| panic!("a steadily reading client was cut off after {i} responses: {e}"));
        assert_eq!((r.status, r.body.len()), (200, expect_len), "response {i}");
        since_pause += r.head.len() + r.body.len();
        if since_pause >= 1024 * 1024 {
            since_pause = 0;
            thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("slow reader: {N} responses in {:?}", start.elapsed());
}

// ---------------------------------------------------------- keep-alive

/// One response, or `None` when the server closed the connection instead.
#[track_caller]
fn response_or_eof(s: &mut TcpStream) -> Option<HttpResponse> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    match s.peek(&mut [0u8; 1]) {
        Ok(0) => None,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
        Ok(_) => Some(read_response(s)),
        Err(e) => panic!("no response within {WAIT:?}: {e}"),
    }
}

/// Issue 11 row 5 ("a health request every 8 s keeps a keep-alive socket
/// forever"); section 7 "a keep-alive connection lives at most 120 s"
/// (`http_keepalive_secs` = 1 s here): a client asking every 300 ms has its
/// socket closed once the lifetime is over: the first response after it
/// carries `Connection: close` and the socket closes, or (the lifetime ran
/// out between requests) the idle socket is closed. Nothing of that before
/// the lifetime.
#[test]
fn busy_keep_alive_connection_is_closed_after_its_lifetime() {
    let _shared = shared();
    let srv = server(|c| c.http_keepalive_secs = Duration::from_secs(1));
    let start = Instant::now();
    let after_lifetime = |how: &str| {
        let at = start.elapsed();
        assert!(at >= Duration::from_millis(950), "{how} after {at:?}, before the 1 s lifetime");
    };
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let mut asked = 0;
    loop {
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(3),
            "{asked} requests over {elapsed:?} on one keep-alive connection (lifetime 1 s): no response \
             with Connection: close, and the socket is still open"
        );
        if s.write_all(&get_request("/api/health", "")).is_err() {
            return after_lifetime("closed");
        }
        asked += 1;
        let Some(r) = response_or_eof(&mut s) else {
            return after_lifetime("closed instead of answering");
        };
        assert_eq!(r.status, 200);
        if r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            after_lifetime("Connection: close");
            return assert_eof(&mut s, WAIT);
        }
        // The client's pace, which also checks nothing arrives unasked.
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        match s.read(&mut [0u8; 64]) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => return after_lifetime("closed while idle"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return after_lifetime("reset while idle"),
            other => panic!("expected nothing between requests, got {other:?}"),
        }
    }
}

/// Section 7 "a keep-alive connection lives at most 120 s" (here 1 s) and
/// rule 3 "an idle one past its lifetime is closed", with the no-progress
/// deadline (`auth_timeout_secs`) far away at 30 s.
#[test]
fn idle_keep_alive_connection_is_closed_at_its_lifetime() {
    let _shared = shared();
    let srv = server(|c| {
        c.http_keepalive_secs = Duration::from_secs(1);
        c.auth_timeout_secs = Duration::from_secs(30);
    });
    let start = Instant::now();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(&get_request("/api/health", "")).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200);
    assert_ne!(r.header("connection").as_deref(), Some("close"), "closed at once: {}", r.head);
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!(
                "an idle keep-alive connection is still open {:?} after it began (lifetime 1 s)",
                start.elapsed()
            )
        }
        other => panic!("expected the connection closed, got {other:?}"),
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(950), "closed after {elapsed:?}, before its 1 s lifetime");
}

// ------------------------------------------------------ Content-Length

/// Issue 11 row 11; section 7 "`Content-Length` is ASCII digits only
/// (anything else: 400)": `+2` (which Rust's integer parser accepts), and
/// the other non-digit forms, are 400 BAD_REQUEST, never a registration.
#[test]
fn content_length_that_is_not_ascii_digits_is_400() {
    let _shared = shared();
    let srv = server(|_| {});
    let mut wrong = Vec::new();
    for value in ["+2", "+0", "-1", "0x2", "2,2", "1e3", "", "2 2", "\u{ff12}", "2.0"] {
        let req = post_with_length(REGISTER, &format!("Content-Length: {value}\r\n"), "{}");
        let r = raw_http(srv.addr, &req);
        let code = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        if r.status != 400 || code.as_deref() != Some("BAD_REQUEST") {
            let got = code.unwrap_or_else(|| "a profile".into());
            wrong.push(format!("Content-Length: {value:?} -> {} {got}", r.status));
        }
    }
    assert!(wrong.is_empty(), "these must be 400 BAD_REQUEST:\n{}", wrong.join("\n"));
}

/// Section 7 rule 4, the other side: digits with optional whitespace
/// around them (trimmed by the header parser) or leading zeros are a
/// length; two different lengths are 400. (Holds today.)
#[test]
fn content_length_of_digits_is_accepted_and_conflicting_lengths_refused() {
    let _shared = shared();
    let srv = server(|_| {});
    for header in ["Content-Length: 2\r\n", "Content-Length:   2  \r\n", "Content-Length: 002\r\n"] {
        let r = raw_http(srv.addr, &post_with_length(REGISTER, header, "{}"));
        assert_eq!(r.status, 200, "{header:?}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.json()["authToken"].is_string());
    }
    let r =
        raw_http(srv.addr, &post_with_length(REGISTER, "Content-Length: 2\r\nContent-Length: 3\r\n", "{} "));
    assert_http_error(&r, 400, "BAD_REQUEST");
}

// ------------------------------------------------------- Cache-Control

#[track_caller]
fn assert_no_store(r: &HttpResponse, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["authToken"].is_string(), "{what} carries a token");
    let cc = r.header("cache-control").unwrap_or_else(|| panic!("{what}: no Cache-Control in\n{}", r.head));
    assert!(
        cc.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store")),
        "{what}: Cache-Control: {cc} (no-store required)"
    );
}

/// Section 7 "responses that carry an `authToken` have `Cache-Control:
/// no-store`": registerOrUpdate, both when it creates an identity and when
/// it updates one.
#[test]
fn token_responses_are_marked_no_store() {
    let _shared = shared();
    let srv = server(|_| {});
    let created = http(srv.addr, "POST", REGISTER, None, Some(&json!({"nickname": "Cachey"})));
    assert_no_store(&created, "create");
    let token = created.json()["authToken"].as_str().unwrap().to_string();
    let updated = http(srv.addr, "POST", REGISTER, Some(&token), Some(&json!({"nickname": "Cached"})));
    assert_no_store(&updated, "update");
    assert_eq!(updated.json()["profile"]["nickname"], "Cached");
}
