//! Graceful shutdown (contract section 6): spawn the binary, put users in
//! every state, send SIGTERM, check each socket's last frames, the exit
//! code and the time taken.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::spawn_server;
use common::*;
use serde_json::json;

#[test]
fn sigterm_cancels_waits_ends_sessions_with_1001_and_exits_zero() {
    let mut srv = spawn_server(&[]).expect("duet starts");
    let addr = srv.addr;
    let (mut a, mut b, _room) = pair(addr);
    let waiter = register(addr, json!({"mood": "shy"}));
    let mut w = Client::authed(addr, &waiter);
    assert_eq!(w.request("JOIN_QUEUE", "j", json!({}))["type"], "QUEUE_WAITING");
    let idle = register(addr, json!({}));
    let mut i = Client::authed(addr, &idle);
    let mut unauthenticated = Client::connect(addr);

    let started = Instant::now();
    srv.sigterm();

    let (code, before) = w.expect_close();
    assert_eq!(code, 1001);
    let types: Vec<&str> = before.iter().map(|v| v["type"].as_str().unwrap_or("")).collect();
    assert_eq!(types, ["MATCH_CANCELLED", "SESSION_ENDED"], "{before:?}");
    assert_eq!(before[0]["payload"]["reason"], "shutdown");
    assert_eq!(before[1]["payload"]["reason"], "shutdown");
    for client in [&mut a, &mut b, &mut i, &mut unauthenticated] {
        let (code, before) = client.expect_close();
        assert_eq!(code, 1001);
        let last = before.last().expect("SESSION_ENDED before the close");
        assert_eq!(
            (last["type"].as_str(), last["payload"]["reason"].as_str()),
            (Some("SESSION_ENDED"), Some("shutdown"))
        );
    }
    let status = srv.exit_within(started, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn drain_stops_accepting_new_connections() {
    let srv = start();
    srv.server.drain();
    let deadline = Instant::now() + WAIT;
    while !srv.server.state().draining.load(std::sync::atomic::Ordering::Acquire) {
        assert!(Instant::now() < deadline, "drain never started");
        std::thread::yield_now();
    }
    assert!(unanswered(srv.addr), "a draining server must not serve new connections");
}

/// True when a request on a new connection gets no answer.
fn unanswered(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return true;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
    let _ = s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}
