//! Hostile and broken clients, one at a time or a few: slowloris heads,
//! clients that vanish, and half-closes. Each test checks the server keeps
//! serving everyone else afterwards. (Floods of sockets and of messages:
//! `hostile_floods.rs`; the seeded live fuzz: `hostile_fuzz.rs`.)
//!
//! Everything is bounded: reads carry timeouts, loops carry counts or
//! deadlines, and nothing sleeps to synchronise (absence is asserted with
//! short read timeouts).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::*;
use serde_json::json;

// ----------------------------------------------------------- slowloris

#[test]
fn slowloris_headers_a_byte_at_a_time_are_cut_at_the_request_deadline() {
    let srv = start_with(|c| c.auth_timeout_secs = Duration::from_millis(500));
    let addr = srv.addr;
    let user = register(addr, json!({}));

    // The slow client: one byte per 100 ms (paced by a 100 ms read timeout,
    // which is also how it notices the close). 60 bytes would take 6 s.
    let slow = thread::spawn(move || -> Result<Duration, String> {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let start = Instant::now();
        let head = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}\r\n\r\n", "z".repeat(30));
        let mut sent = 0;
        for b in head.bytes() {
            if s.write_all(&[b]).is_err() {
                return Ok(start.elapsed());
            }
            sent += 1;
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(0) => return Ok(start.elapsed()),
                Ok(n) => {
                    return Err(format!(
                        "after {sent} bytes the server answered {:?}",
                        String::from_utf8_lossy(&buf[..n])
                    ));
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Ok(start.elapsed()),
            }
        }
        Err(format!("the whole head ({sent} bytes) went through in {:?} without a close", start.elapsed()))
    });

    // Meanwhile a normal client is served promptly, again and again.
    let mut served = 0;
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(8);
    while !slow.is_finished() && Instant::now() < deadline {
        let t = Instant::now();
        let r = http(addr, "GET", "/api/health", None, None);
        assert_eq!(r.status, 200);
        let r = http(addr, "GET", "/api/users/me", Some(&user.token), None);
        assert_eq!(r.status, 200);
        let took = t.elapsed() / 2;
        slowest = slowest.max(took);
        assert!(took < Duration::from_millis(200), "a normal request took {took:?} during the slowloris");
        served += 2;
    }
    let cut_after = slow.join().expect("slow client thread").expect("slow client is cut");
    assert!(served >= 2, "normal requests were served meanwhile ({served})");
    assert!(cut_after <= Duration::from_millis(1200), "slowloris cut only after {cut_after:?}");
    eprintln!("slowloris cut after {cut_after:?}; {served} normal requests, slowest {slowest:?}");
}

// ------------------------------------------------------- vanishing peer

/// A raw client upgrades, authenticates, is paired, then goes silent and
/// never closes: the idle timeout closes it, and the partner is told.
fn vanishing_client_case(grace: Duration, partner_sees: &str) {
    let srv = start_with(|c| {
        c.ping_interval_secs = Duration::from_millis(200);
        c.idle_timeout_secs = Duration::from_millis(600);
        c.resume_grace_secs = grace;
    });
    let addr = srv.addr;
    let (ua, ub) = (register(addr, json!({})), register(addr, json!({})));
    let mut a = Raw::connect(addr);
    a.auth(&ua);
    let join = json!({"type":"JOIN_QUEUE","id":"q","payload":{"mood":"chill","interests":[]}});
    a.send_json(join.clone());
    assert_eq!(a.json()["type"], "QUEUE_WAITING");
    let mut b = Client::authed(addr, &ub);
    assert_eq!(b.request("JOIN_QUEUE", "q", json!({"mood":"chill","interests":[]}))["type"], "QUEUE_WAITING");
    let room = b.recv_type("MATCH_FOUND")["payload"]["roomId"].clone();
    let found = a.json();
    assert_eq!(found["type"], "MATCH_FOUND", "{found}");
    // From here on `a` writes nothing and reads nothing until its partner
    // has heard; it never closes either.
    let silent_since = Instant::now();

    let told = b.recv();
    let heard_after = silent_since.elapsed();
    assert_eq!(told["type"], partner_sees, "{told}");
    assert_eq!(told["payload"]["roomId"], room);
    if partner_sees == "PARTNER_LEFT" {
        assert_eq!(told["payload"]["reason"], "disconnected", "{told}");
    }
    assert!(heard_after < Duration::from_millis(1500), "partner told after {heard_after:?}");

    // What the silent client had been sent: pings, SESSION_ENDED idle, the
    // close frame, then the server's FIN, all within ~1.5 s.
    let deadline = silent_since + Duration::from_millis(1500);
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    a.s.set_read_timeout(Some(left)).unwrap();
    let (code, _pings, texts) = a.pings_and_texts_to_close();
    assert_eq!(code, 4408, "idle close code (texts before: {texts:?})");
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["payload"]["reason"], "idle");
    // Then the server's FIN, still within the 1.5 s.
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    a.s.set_read_timeout(Some(left)).unwrap();
    a.expect_eof();
    eprintln!(
        "grace {grace:?}: partner saw {partner_sees} after {heard_after:?}; closed by {:?}",
        silent_since.elapsed()
    );
}

#[test]
fn a_client_that_vanishes_without_fin_is_closed_by_the_idle_timeout() {
    vanishing_client_case(Duration::ZERO, "PARTNER_LEFT");
    vanishing_client_case(Duration::from_secs(5), "PARTNER_AWAY");
}

// ------------------------------------------------------------ half-open

#[test]
fn half_open_http_client_gets_its_response() {
    let srv = start_with(|_| {});
    let addr = srv.addr;
    let body = r#"{"nickname":"Half Open"}"#;
    let requests = [
        format!(
            "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    ];
    for req in &requests {
        for _ in 0..5 {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(req.as_bytes()).expect("send request");
            s.shutdown(Shutdown::Write).expect("half-close");
            let r = read_response(&mut s);
            assert_eq!(r.status, 200, "{req:?}: {}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            if req.starts_with("POST") {
                assert_eq!(v["profile"]["nickname"], "Half Open", "{v}");
                assert!(v["authToken"].is_string(), "{v}");
            } else {
                assert_eq!(v["status"], "ok", "{v}");
            }
            // Nothing follows the response (whether the server closes now
            // or at the request deadline is not this test's business).
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            let mut rest = [0u8; 256];
            match s.read(&mut rest) {
                Ok(n) => assert_eq!(n, 0, "bytes after the response: {:?}", &rest[..n]),
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionReset
                    ),
                    "{e}"
                ),
            }
        }
    }
}
