//! Contract section 7, the client address, over real sockets (issue 11,
//! rows 4 and 5): `X-Forwarded-For` believed only from a trusted proxy and
//! only its last entry, IPv6 counted by /64, and the per-address
//! connection cap, for direct peers and behind a proxy.
//!
//! Distinct client addresses come from binding the client socket to
//! 127.0.0.N before connecting (all of 127/8 is loopback), or from
//! `X-Forwarded-For` sent by a trusted 127.0.0.1. (The other HTTP rules:
//! `hardening_http.rs`.)
//!
//! Everything is bounded: reads carry timeouts, loops carry deadlines, and
//! nothing sleeps to synchronise.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::serving::ADMIN;
use common::*;
use serde_json::{Value, json};

const REGISTER: &str = "/api/users/registerOrUpdate";
/// Where the admin stats are asked from in the cap tests: an address of
/// its own, so the asking takes no place from the addresses under test.
const OBSERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 99);

// ------------------------------------------------------------- helpers

fn lo(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// `X-Forwarded-For` header lines, one per entry of `xff` (empty: none).
fn xff_lines(xff: &[&str]) -> String {
    xff.iter().map(|v| format!("X-Forwarded-For: {v}\r\n")).collect()
}

fn register_request(xff: &[&str]) -> Vec<u8> {
    format!(
        "POST {REGISTER} HTTP/1.1\r\nHost: duet\r\n{}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}",
        xff_lines(xff)
    )
    .into_bytes()
}

fn health_request(xff: &[&str]) -> Vec<u8> {
    format!("GET /api/health HTTP/1.1\r\nHost: duet\r\n{}\r\n", xff_lines(xff)).into_bytes()
}

/// A registration from `from` carrying the given `X-Forwarded-For` lines.
#[track_caller]
fn register_via(addr: SocketAddr, from: Ipv4Addr, xff: &[&str]) -> HttpResponse {
    let mut s = tcp_from(addr, from);
    s.write_all(&register_request(xff)).unwrap();
    read_response(&mut s)
}

#[track_caller]
fn assert_registers(addr: SocketAddr, from: Ipv4Addr, xff: &[&str], why: &str) {
    let r = register_via(addr, from, xff);
    assert_eq!(
        r.status,
        200,
        "{why}: from {from} with X-Forwarded-For {xff:?}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

#[track_caller]
fn assert_limited(addr: SocketAddr, from: Ipv4Addr, xff: &[&str], why: &str) {
    let r = register_via(addr, from, xff);
    assert_http_error_ctx(
        &r,
        429,
        "RATE_LIMITED",
        &format!("{why}: from {from} with X-Forwarded-For {xff:?}"),
    );
}

/// A server with two registrations per client address a minute, trusting
/// `proxies` (empty: none).
#[track_caller]
fn registration_server(proxies: &[&str]) -> TestServer {
    let proxies: Vec<_> = proxies.iter().map(|p| p.parse().expect("CIDR")).collect();
    start_with(move |c| {
        c.register_per_minute = 2;
        c.trusted_proxies = proxies;
    })
}

/// A cap server: at most `cap` sockets per client address.
#[track_caller]
fn cap_server(cap: usize, proxies: &[&str]) -> TestServer {
    let proxies: Vec<_> = proxies.iter().map(|p| p.parse().expect("CIDR")).collect();
    start_with(move |c| {
        c.max_connections_per_ip = cap;
        c.trusted_proxies = proxies;
        c.admin_token = Some(ADMIN.into());
    })
}

/// A keep-alive socket from `from` that has been answered once (so the
/// server has surely accepted it and counts it).
#[track_caller]
fn held_socket(addr: SocketAddr, from: Ipv4Addr, xff: &[&str]) -> TcpStream {
    let mut s = tcp_from(addr, from);
    s.write_all(&health_request(xff)).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "a socket within the cap, from {from} {xff:?}: {}", r.head);
    assert_ne!(r.header("connection").as_deref(), Some("close"), "must stay open: {}", r.head);
    s
}

/// The N+1th socket must get the contract's refusal (429 RATE_LIMITED,
/// `Retry-After: 1`, `retryAfterMs` 1000, `Connection: close`) and then
/// EOF. A direct peer is refused at accept: its refusal is awaited (for at
/// most 500 ms) before anything is sent, so no request of ours is left
/// unread behind it. Otherwise (behind a proxy, or the server did not
/// answer first) a health request is sent and its answer must be the 429.
#[track_caller]
fn assert_refused(mut s: TcpStream, xff: &[&str], what: &str) {
    let direct = xff.is_empty();
    let answered_first = direct && {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut b = [0u8; 1];
        matches!(s.peek(&mut b), Ok(n) if n > 0)
    };
    if !answered_first {
        s.write_all(&health_request(xff)).unwrap();
    }
    let r = read_response(&mut s);
    assert_http_error_ctx(&r, 429, "RATE_LIMITED", &format!("{what}: past the cap, {}", r.head));
    assert_eq!(r.header("retry-after").as_deref(), Some("1"), "{what}: {}", r.head);
    assert_eq!(r.header("connection").as_deref(), Some("close"), "{what}: {}", r.head);
    let v: Value = r.json();
    assert_eq!(v["error"]["retryAfterMs"], 1000, "{what}: {v}");
    assert_eof(&mut s, WAIT);
}

/// Open connections, asked from `OBSERVER`.
#[track_caller]
fn connections(addr: SocketAddr) -> u64 {
    let mut s = tcp_from(addr, OBSERVER);
    let req = format!(
        "GET /api/admin/stats HTTP/1.1\r\nHost: duet\r\nAuthorization: Bearer {ADMIN}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["connections"].as_u64().expect("connections is a number")
}

/// Waits (bounded) until the server counts at most `n` connections, the
/// stats request's own included.
#[track_caller]
fn wait_connections_at_most(addr: SocketAddr, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = connections(addr);
        if now <= n {
            return;
        }
        assert!(Instant::now() < deadline, "still {now} connections after {WAIT:?}; expected at most {n}");
        thread::sleep(Duration::from_millis(20));
    }
}

// -------------------------------------------------- X-Forwarded-For

/// Issue 11 row 4 ("X-Forwarded-For spoofing ignored (good)"); section 7:
/// from a peer that is not a trusted proxy the header is ignored, so the
/// registration limit still applies to the TCP peer whatever it claims.
/// (Holds today; guards the change.)
#[test]
fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let srv = registration_server(&["127.0.0.1"]);
    let (addr, peer) = (srv.addr, lo(2));
    assert_registers(addr, peer, &["203.0.113.1"], "first of two");
    assert_registers(addr, peer, &["203.0.113.2"], "second of two");
    assert_limited(addr, peer, &["203.0.113.3"], "a claimed address from an untrusted peer");
    assert_limited(addr, peer, &[], "the same peer without the header");
    // Another peer has its own bucket.
    assert_registers(addr, lo(3), &[], "another TCP peer");

    // With no trusted proxy at all, 127.0.0.1 is a client like any other.
    let srv = registration_server(&[]);
    assert_registers(srv.addr, lo(1), &["203.0.113.1"], "first of two");
    assert_registers(srv.addr, lo(1), &["203.0.113.2"], "second of two");
    assert_limited(srv.addr, lo(1), &["203.0.113.3"], "a claimed address, no proxy trusted");
}

/// Issue 11 row 4 ("behind the documented reverse proxy every client
/// shares the proxy's address, so one client exhausts the registration
/// limit for everyone"): behind a trusted proxy each forwarded client has
/// its own bucket.
#[test]
fn each_client_behind_a_trusted_proxy_has_its_own_registration_bucket() {
    let srv = registration_server(&["127.0.0.1"]);
    let (addr, proxy) = (srv.addr, lo(1));
    assert_registers(addr, proxy, &["203.0.113.1"], "client A, first");
    assert_registers(addr, proxy, &["203.0.113.1"], "client A, second");
    assert_limited(addr, proxy, &["203.0.113.1"], "client A past its limit");
    assert_registers(addr, proxy, &["203.0.113.2"], "client B, after A exhausted its own limit");
    assert_registers(addr, proxy, &["203.0.113.2"], "client B, second");
    assert_limited(addr, proxy, &["203.0.113.2"], "client B past its limit");
}

/// Issue 11 row 4; section 7 "the last `X-Forwarded-For` entry": the proxy
/// appends the address it saw, entries before it are the client's claim.
/// A spoofed first entry gives no fresh bucket; a fresh last entry is a
/// fresh client. The last entry also wins across several header lines
/// (HAProxy's `option forwardfor` adds its own line after the client's).
#[test]
fn only_the_last_forwarded_for_entry_names_the_client() {
    let srv = registration_server(&["127.0.0.1"]);
    let (addr, proxy) = (srv.addr, lo(1));
    assert_registers(addr, proxy, &["203.0.113.1"], "client A, first");
    assert_registers(addr, proxy, &["203.0.113.1"], "client A, second");
    assert_limited(addr, proxy, &["198.51.100.9, 203.0.113.1"], "A behind a spoofed first entry");
    assert_limited(addr, proxy, &["198.51.100.9", "203.0.113.1"], "A behind a spoofed first header line");
    assert_registers(addr, proxy, &["203.0.113.1, 203.0.113.7"], "last entry 203.0.113.7, a fresh client");
    assert_registers(addr, proxy, &["203.0.113.1", "203.0.113.8"], "last line 203.0.113.8, a fresh client");
}

/// Issue 11 row 4 ("an IPv6 client gets a fresh bucket per address");
/// section 7 "an IPv6 address counts as its /64": forwarded IPv6 clients in
/// one /64 share a bucket, another /64 has its own.
#[test]
fn ipv6_clients_share_a_registration_bucket_per_slash_64() {
    let srv = registration_server(&["127.0.0.1"]);
    let (addr, proxy) = (srv.addr, lo(1));
    assert_registers(addr, proxy, &["2001:db8:1:2::1"], "first in 2001:db8:1:2::/64");
    assert_registers(addr, proxy, &["2001:db8:1:2:aaaa::2"], "second in 2001:db8:1:2::/64");
    assert_limited(addr, proxy, &["2001:db8:1:2:ffff:ffff:ffff:ffff"], "a third address in the same /64");
    assert_registers(addr, proxy, &["2001:db8:1:3::1"], "another /64");
    assert_registers(addr, proxy, &["[2001:db8:1:4::1]:443"], "a third /64, written [addr]:port");
}

// ------------------------------------------------- the connection cap

/// Issue 11 row 5 ("with no per-address cap, one client can take every
/// slot"); section 7 rule 2: with `max_connections_per_ip` = 3 the 4th
/// socket from one address gets 429 RATE_LIMITED with `Retry-After` and is
/// closed; another address is still served; closing a socket frees a place.
#[test]
fn socket_past_the_per_address_cap_gets_429_and_is_closed() {
    let srv = cap_server(3, &[]);
    let addr = srv.addr;
    let mut held: Vec<_> = (0..3).map(|_| held_socket(addr, lo(1), &[])).collect();
    assert_refused(tcp_from(addr, lo(1)), &[], "4th socket from 127.0.0.1");
    let other = held_socket(addr, lo(2), &[]);

    // One of the three goes: its place frees once the server has seen it
    // close (3 left: two held from .1, one from .2, plus the asking one).
    drop(held.remove(0));
    wait_connections_at_most(addr, 4);
    let again = held_socket(addr, lo(1), &[]);
    assert_refused(tcp_from(addr, lo(1)), &[], "4th socket from 127.0.0.1 again");
    drop((other, again, held));
}

/// Section 7 rule 2 "WebSocket sockets count as well as HTTP ones": two
/// upgraded sockets fill a cap of 2 for their address.
#[test]
fn websocket_sockets_count_toward_the_per_address_cap() {
    let srv = cap_server(2, &[]);
    let addr = srv.addr;
    // Registered from another address, so that socket takes no place here.
    let r = register_via(addr, lo(2), &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["authToken"].as_str().expect("authToken").to_string();
    let user = User { id: r.json()["userId"].as_str().unwrap().into(), token, profile: Value::Null };
    wait_connections_at_most(addr, 1);
    let mut a = Client::authed(addr, &user);
    let b = Client::connect(addr);
    assert_refused(tcp_from(addr, lo(1)), &[], "an HTTP socket after two WebSockets");
    // The WebSockets within the cap still work.
    assert_eq!(a.request("PING", "p", json!({}))["type"], "PONG");
    drop(b);
    wait_connections_at_most(addr, 2);
    held_socket(addr, lo(1), &[]);
}

/// Section 7 rule 2 "behind a trusted proxy it is decided per request, by
/// the forwarded address": with a cap of 2, a third socket for one
/// forwarded client is refused while another forwarded client is served,
/// though the proxy itself then holds more sockets than the cap.
#[test]
fn connection_cap_behind_a_trusted_proxy_is_by_forwarded_address() {
    let srv = cap_server(2, &["127.0.0.1"]);
    let (addr, proxy) = (srv.addr, lo(1));
    let a1 = held_socket(addr, proxy, &["203.0.113.5"]);
    let a2 = held_socket(addr, proxy, &["203.0.113.5"]);
    assert_refused(tcp_from(addr, proxy), &["203.0.113.5"], "3rd socket of 203.0.113.5 via the proxy");
    let b1 = held_socket(addr, proxy, &["203.0.113.6"]);
    let b2 = held_socket(addr, proxy, &["198.51.100.1, 203.0.113.6"]);
    assert_refused(tcp_from(addr, proxy), &["203.0.113.6"], "3rd socket of 203.0.113.6 via the proxy");
    drop((a1, a2, b1, b2));
}

/// Section 7 ("an IPv6 address counts as its /64"), for the connection
/// cap: behind a trusted proxy, two forwarded IPv6 clients in one /64
/// share the cap, one in the next /64 does not.
#[test]
fn connection_cap_counts_an_ipv6_client_as_its_slash_64() {
    let srv = cap_server(2, &["127.0.0.1"]);
    let (addr, proxy) = (srv.addr, lo(1));
    let a1 = held_socket(addr, proxy, &["2001:db8:0:1::5"]);
    let a2 = held_socket(addr, proxy, &["2001:db8:0:1:ffff:1:2:3"]);
    assert_refused(tcp_from(addr, proxy), &["2001:db8:0:1::9"], "3rd socket of 2001:db8:0:1::/64");
    let b1 = held_socket(addr, proxy, &["2001:db8:0:2::5"]);
    drop((a1, a2, b1));
}
