//! Floods: thousands of sockets opened and dropped at once, and thousands
//! of WebSocket messages pipelined in one write. Each test checks the
//! server answers everything it should and keeps serving everyone else.
//! (Single hostile clients: `hostile.rs`.)
//!
//! Everything is bounded: reads carry timeouts, loops carry counts or
//! deadlines, and nothing sleeps to synchronise (absence is asserted with
//! short read timeouts).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::raw::{Raw, text_frame};
use common::serving::*;
use common::*;
use serde_json::json;

/// Raises this process's open-files soft limit to its hard limit.
fn raise_nofile() -> libc::rlim_t {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0, "getrlimit");
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0, "setrlimit");
        lim.rlim_cur
    }
}

// ------------------------------------------------------ connection flood

const FLOOD: usize = 5000;
const FLOOD_THREADS: usize = 4;
/// A connect whose SYN was dropped (the listen backlog overflowed while
/// the reactor caught up) is retried by the kernel after 1 s, then 3 s.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

#[test]
fn five_thousand_sockets_opened_and_dropped_at_once_leave_the_server_serving() {
    let limit = raise_nofile();
    assert!(limit as usize >= 2 * FLOOD + 200, "open-files limit {limit} is too low for this test");
    // Opening 5,000 sockets can take several seconds here (debug build, two
    // cores, listen-backlog overflows retried by the kernel after 1 s), so
    // the request deadline is raised lest it close the first sockets before
    // the last are open; this test is about the flood, not the deadline.
    let srv = start_with(|c| {
        c.admin_token = Some(ADMIN.into());
        c.auth_timeout_secs = Duration::from_secs(60);
    });
    let addr = srv.addr;

    let start = Instant::now();
    let handles: Vec<_> = (0..FLOOD_THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut socks = Vec::with_capacity(FLOOD / FLOOD_THREADS);
                for i in 0..FLOOD / FLOOD_THREADS {
                    let mut s = TcpStream::connect_timeout(&addr, CONNECT_WAIT).expect("connect during the flood");
                    if (i + t) % 2 == 0 {
                        let partial: &[u8] = if i % 4 < 2 {
                            b"POST /api/users/registerOrUpdate HTTP/1.1\r\nContent-Length: 40\r\n"
                        } else {
                            b"GET /ws/chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSoc"
                        };
                        s.write_all(partial).expect("partial request");
                    }
                    socks.push(s);
                }
                socks
            })
        })
        .collect();
    let socks: Vec<TcpStream> = handles.into_iter().flat_map(|h| h.join().expect("flood thread")).collect();
    let opened_in = start.elapsed();
    assert_eq!(socks.len(), FLOOD);
    let (n, ok) = poll_connections(addr, Duration::from_secs(10), |n| n as usize >= FLOOD);
    assert!(ok, "the server holds only {n} of {FLOOD} connections");

    let dropped_at = Instant::now();
    drop(socks);

    assert_normal_chat(addr);
    assert_health_ok(addr);
    let (n, ok) = poll_connections(addr, Duration::from_secs(5), |n| n <= 4);
    assert!(ok, "connections still counted {:?} after dropping {FLOOD}: {n}", dropped_at.elapsed());
    eprintln!("flood: {FLOOD} opened in {opened_in:?}; back to {n} within {:?}", dropped_at.elapsed());
}

// ------------------------------------------------------ pipelined flood

const FLOOD_PINGS: usize = 5000;

#[test]
fn pipelining_a_flood_of_ws_messages_is_answered_in_order_without_loss() {
    let srv = start_with(|_| {});
    let addr = srv.addr;
    let user = register(addr, json!({}));
    let mut c = Raw::connect(addr);
    c.auth(&user);
    let mut all = Vec::new();
    for i in 0..FLOOD_PINGS {
        all.extend(text_frame(&json!({"type":"PING","id": i.to_string(),"payload":{}})));
    }
    // One write of every frame, from another thread while this one reads:
    // the replies (~330 KB) exceed what the kernel buffers for a client
    // that does not read, and the server rightly bounds unsent output.
    let mut w = c.s.try_clone().expect("clone socket");
    let start = Instant::now();
    let writer = thread::spawn(move || w.write_all(&all).map(|_| all.len()));
    c.s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 0..FLOOD_PINGS {
        let v = c.json();
        assert_eq!(v["type"], "PONG", "reply {i}: {v}");
        assert_eq!(v["id"], i.to_string(), "reply {i} out of order: {v}");
    }
    let took = start.elapsed();
    let sent = writer.join().expect("writer").expect("the whole flood was written");
    // And nothing more.
    c.expect_silence(Duration::from_millis(200));
    eprintln!("{FLOOD_PINGS} PINGs ({sent} bytes) answered in order in {took:?}");
}
