//! Checks that a server still serves everyone after a test has been rough
//! with it (floods, fuzz, vanishing clients): health, a whole chat, and
//! the admin connection count falling back.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{http, pair};

/// The admin token of servers these checks poll (`c.admin_token`).
pub const ADMIN: &str = "t";

/// Open connections, from the admin stats.
#[track_caller]
pub fn stats_connections(addr: SocketAddr) -> u64 {
    let r = http(addr, "GET", "/api/admin/stats", Some(ADMIN), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["connections"].as_u64().expect("connections is a number")
}

/// Polls the admin stats until `ok(connections)`, for at most `within`;
/// returns the last value seen and whether it was reached. Each poll is a
/// request; the short pause between polls only keeps the loop light.
pub fn poll_connections(addr: SocketAddr, within: Duration, ok: impl Fn(u64) -> bool) -> (u64, bool) {
    let deadline = Instant::now() + within;
    loop {
        let n = stats_connections(addr);
        if ok(n) {
            return (n, true);
        }
        if Instant::now() >= deadline {
            return (n, false);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A normal chat still works: two fresh users pair and talk both ways.
#[track_caller]
pub fn assert_normal_chat(addr: SocketAddr) {
    let (mut a, mut b, room) = pair(addr);
    let ack = a.request("CHAT", "c1", json!({"roomId": room, "text": "hello from a"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    let got = b.recv_type("CHAT");
    assert_eq!(got["payload"]["text"], "hello from a");
    let ack = b.request("CHAT", "c2", json!({"roomId": room, "text": "hello from b"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    let got = a.recv_type("CHAT");
    assert_eq!(got["payload"]["text"], "hello from b");
}

#[track_caller]
pub fn assert_health_ok(addr: SocketAddr) {
    let r = http(addr, "GET", "/api/health", None, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "ok");
}
