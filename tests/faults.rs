//! Faults: a panicking command, descriptor exhaustion, and shutdown while
//! messages are in flight. The binary is spawned where a process-wide
//! setting (open-files limit, signals) is involved.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::process::{Spawned, command, spawn};
use common::*;
use serde_json::json;

#[test]
fn a_panicking_command_gets_internal_and_the_server_keeps_serving() {
    let srv = start_with(|c| c.admin_token = Some("t".into()));
    let (mut a, mut b, room) = pair(srv.addr);
    let r = a.request("FAULT_PANIC", "boom", json!({}));
    assert_error(&r, "INTERNAL");
    // The same socket, its partner and the worker all go on.
    assert_eq!(a.request("PING", "p", json!({}))["type"], "PONG");
    assert_eq!(a.request("CHAT", "c", json!({"roomId": room, "text": "still here"}))["type"], "CHAT_ACK");
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "still here");
    let metrics = metrics_text(srv.addr);
    assert!(metrics.lines().any(|l| l.starts_with("duet_command_panics_total 1")), "{metrics}");
}

/// Spawns the binary with extra environment and, when given, an
/// open-files limit.
fn spawn_limited(env: &[(&str, &str)], nofile: Option<u64>) -> Spawned {
    let mut cmd = command(&[], env);
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; it only lowers the child's limit.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    spawn(cmd).unwrap_or_else(|log| panic!("duet did not start: {log}"))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Sends a health request and waits up to `wait` for an answer.
fn health_within(addr: SocketAddr, wait: Duration) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    let mut buf = [0u8; 12];
    match s.read(&mut buf) {
        Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200") => Some(s),
        _ => None,
    }
}

#[test]
fn exhausted_descriptors_pause_accepting_without_spinning_and_recover() {
    let srv = spawn_limited(&[("DUET_MAX_CONNECTIONS", "1000"), ("DUET_AUTH_TIMEOUT_SECS", "30")], Some(40));
    let addr = srv.addr;
    assert!(health_within(addr, WAIT).is_some(), "serves before exhaustion");
    let hogs: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    // Past ~30 accepted sockets accept fails with EMFILE; the rest wait in
    // the backlog, and so does this probe.
    let ticks = cpu_ticks(srv.child.id());
    let started = Instant::now();
    assert!(
        health_within(addr, Duration::from_millis(600)).is_none(),
        "a request got through while exhausted"
    );
    let spent = cpu_ticks(srv.child.id()) - ticks;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let share = spent as f64 / hz / started.elapsed().as_secs_f64();
    assert!(share < 0.3, "the server spins while it cannot accept: {:.0}% of a core", share * 100.0);
    drop(hogs);
    let deadline = Instant::now() + WAIT;
    while health_within(addr, Duration::from_millis(300)).is_none() {
        assert!(Instant::now() < deadline, "no recovery after descriptors were freed");
    }
}

#[test]
fn shutdown_under_load_delivers_every_acknowledged_message_or_ends_the_room() {
    let mut srv = spawn_limited(&[("DUET_CHAT_RATE", "100000"), ("DUET_CHAT_BURST", "100000")], None);
    let addr = srv.addr;
    let (tx, rx) = mpsc::channel();
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut threads = Vec::new();
    for n in 0..8 {
        let (mut a, mut b, room) = pair(addr);
        let (tx_a, tx_b) = (tx.clone(), tx.clone());
        let acks = acks.clone();
        threads.push(std::thread::spawn(move || {
            // The sender: one CHAT at a time, recording what was acknowledged.
            let mut acked = Vec::new();
            for i in 0.. {
                a.send(json!({"type":"CHAT","id": i.to_string(),"payload":{"roomId": room,"text": format!("m{i}")}}));
                match a.ws.read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                        if v["type"] != "CHAT_ACK" {
                            break;
                        }
                        acked.push(v["payload"]["seq"].as_u64().unwrap());
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            tx_a.send((n, true, acked)).unwrap();
        }));
        threads.push(std::thread::spawn(move || {
            // The receiver: every CHAT until the session ends.
            let mut got = Vec::new();
            let mut told = false;
            while let Ok(m) = b.ws.read() {
                if let tungstenite::Message::Text(t) = m {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("CHAT") => got.push(v["payload"]["seq"].as_u64().unwrap()),
                        Some("SESSION_ENDED" | "PARTNER_LEFT") => told = true,
                        _ => {}
                    }
                }
            }
            got.push(if told { u64::MAX } else { 0 });
            tx_b.send((n, false, got)).unwrap();
        }));
    }
    drop(tx);
    // Signal only once traffic flows: some hundreds of acknowledged messages.
    let deadline = Instant::now() + WAIT;
    while acks.load(std::sync::atomic::Ordering::Relaxed) < 400 {
        assert!(Instant::now() < deadline, "no traffic");
        std::thread::yield_now();
    }
    let signalled = Instant::now();
    srv.sigterm();
    let status = srv.exit_within(signalled, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    for t in threads {
        t.join().unwrap();
    }
    let mut results: Vec<(usize, bool, Vec<u64>)> = rx.iter().collect();
    results.sort_by_key(|r| (r.0, !r.1));
    let mut total = 0;
    for pair in results.chunks(2) {
        let (acked, got) = (&pair[0].2, &pair[1].2);
        assert!(pair[0].1 && !pair[1].1 && pair[0].0 == pair[1].0, "one sender and one receiver per pair");
        let told = got.last() == Some(&u64::MAX);
        for seq in acked {
            assert!(got.contains(seq) || told, "acknowledged seq {seq} neither delivered nor the room ended");
        }
        assert!(told, "the receiver was not told the session ended");
        total += acked.len();
    }
    assert!(total > 0, "no traffic before the signal");
}
