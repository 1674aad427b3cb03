//! Hostile and broken clients, one at a time or a few: slowloris heads,
//! fuzzed handshakes, frames and envelopes, clients that vanish, and
//! half-closes. Each test checks the server keeps serving everyone else
//! afterwards. (Floods of sockets and of messages: `hostile_floods.rs`.)
//!
//! Everything is bounded: reads carry timeouts, loops carry counts or
//! deadlines, and nothing sleeps to synchronise (absence is asserted with
//! short read timeouts).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::opcode::*;
use common::raw::{MASK, Raw, masked, text_frame, upgrade_request};
use common::serving::*;
use common::*;
use serde_json::{Value, json};

// ------------------------------------------------------------- helpers

/// xorshift64: a tiny seeded PRNG so a fuzz run can be replayed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of `n` characters mixing ASCII, controls and non-ASCII.
    fn string(&mut self, n: usize) -> String {
        const ODD: [char; 8] = ['\u{0}', '\u{7}', '\u{202e}', '\u{fffd}', 'é', '😀', '\u{10ffff}', '"'];
        (0..n)
            .map(|_| match self.below(10) {
                0 => *self.pick(&ODD),
                _ => (b' ' + (self.byte() % 95)) as char,
            })
            .collect()
    }
}

/// Resident set size of this process (the server runs in it), KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

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

// ---------------------------------------------------------------- fuzz

/// Fuzz workers running at once, and operations (writes) each does.
const FUZZ_SOCKETS: usize = 50;
const FUZZ_OPS_EACH: usize = 40;
const FUZZ_SEED: u64 = 0x5eed_d00e_7a11_0001;

/// Reads and discards what the server sends for a short while.
fn drain_briefly(s: &mut TcpStream, d: Duration) {
    let _ = s.set_read_timeout(Some(d));
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..64 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn base_requests(addr: SocketAddr, token: &str) -> Vec<String> {
    let body = r#"{"nickname":"Fuzzy","mood":"fire","interests":["a","b"]}"#;
    vec![
        format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!(
            "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        format!(
            "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        format!("GET /api/users/me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"),
        format!("GET /api/admin/stats HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"),
        format!("GET /api/admin/reports?limit=3 HTTP/1.1\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"),
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        "GET / HTTP/1.0\r\n\r\n".to_string(),
        upgrade_request(addr, ""),
    ]
}

fn mutate_request(rng: &mut Rng, req: &str) -> Vec<u8> {
    let mut b = req.as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(7) {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                let keep = rng.below(b.len());
                b.truncate(keep);
            }
            2 => {
                // Duplicate a header line (or the request line).
                let text = String::from_utf8_lossy(&b).to_string();
                let lines: Vec<&str> = text.split("\r\n").collect();
                let i = rng.below(lines.len().saturating_sub(2).max(1));
                let mut out = lines[..=i].join("\r\n");
                for _ in 0..1 + rng.below(60) {
                    out.push_str("\r\n");
                    out.push_str(lines[i]);
                }
                out.push_str("\r\n");
                out.push_str(&lines[i + 1..].join("\r\n"));
                b = out.into_bytes();
            }
            3 => {
                let at = rng.below(b.len() + 1);
                let n = 1 + rng.below(64);
                let junk = rng.bytes(n);
                b.splice(at..at, junk);
            }
            4 => {
                let v = *rng.pick(&["-1", "99999999999999999999", "17000", "abc", "0", " 5", "1,1"]);
                let h = format!("Content-Length: {v}\r\n");
                if let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
                    b.splice(i + 2..i + 2, h.into_bytes());
                }
            }
            5 => {
                let h = match rng.below(4) {
                    0 => "Transfer-Encoding: chunked\r\n".to_string(),
                    1 => format!("X-Big: {}\r\n", "x".repeat(9000)),
                    2 => "Connection: upgrade\r\nUpgrade: websocket\r\n".to_string(),
                    _ => format!("Authorization: Bearer {}\r\n", rng.string(40)),
                };
                if let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
                    b.splice(i + 2..i + 2, h.into_bytes());
                }
            }
            _ => {
                // Pipeline a second copy.
                let again = b.clone();
                b.extend_from_slice(&again);
            }
        }
        if b.is_empty() {
            b.push(b'G');
        }
    }
    b
}

/// A frame that may be valid, odd or broken.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 126 + rng.below(300),
        1 => 65_530 + rng.below(12),
        _ => rng.below(126),
    };
    let payload = if rng.chance(50) { rng.string(len).into_bytes() } else { rng.bytes(len) };
    match rng.below(9) {
        0 => masked(true, TEXT, &payload),
        1 => {
            let first = (rng.byte() & 0x80) | (rng.byte() & 0x0f);
            client_frame(first, &payload, Some(MASK))
        }
        2 => client_frame(0x80 | (rng.byte() & 0x70) | TEXT, &payload, Some(MASK)),
        3 => client_frame(0x80 | TEXT, &payload, None),
        4 => {
            // A header claiming a huge length, then only a few bytes.
            let mut f = vec![0x80 | *rng.pick(&[TEXT, BINARY, CONT, PING]), 0x80 | 127];
            f.extend_from_slice(&(rng.next() | 1 << 40).to_be_bytes());
            f.extend_from_slice(&MASK);
            let n = rng.below(32);
            f.extend_from_slice(&rng.bytes(n));
            f
        }
        5 => {
            // Control frames: too long, fragmented, or odd payloads.
            let op = *rng.pick(&[PING, PONG, CLOSE]);
            let fin = rng.chance(70);
            let n = if rng.chance(50) { 126 + rng.below(100) } else { rng.below(126) };
            masked(fin, op, &rng.bytes(n))
        }
        6 => {
            let mut p = (rng.next() as u16).to_be_bytes().to_vec();
            let n = rng.below(4);
            p.extend_from_slice(&rng.bytes(n));
            if rng.chance(20) {
                p.truncate(1);
            }
            masked(true, CLOSE, &p)
        }
        7 => {
            // A fragmented message, possibly interleaved with junk.
            let mut f = masked(false, TEXT, &payload[..len / 2]);
            if rng.chance(30) {
                f.extend(masked(true, PING, b"p"));
            }
            if rng.chance(30) {
                f.extend(masked(false, TEXT, b"x"));
            }
            f.extend(masked(rng.chance(80), CONT, &payload[len / 2..]));
            f
        }
        _ => {
            let f = masked(true, TEXT, &payload);
            let keep = rng.below(f.len());
            f[..keep].to_vec()
        }
    }
}

const TYPES: [&str; 13] = [
    "AUTH",
    "JOIN_QUEUE",
    "LEAVE_QUEUE",
    "CHAT",
    "TYPING",
    "LEAVE_ROOM",
    "NEXT",
    "REPORT",
    "PING",
    "HELLO",
    "",
    "ping",
    "AUTH_OK",
];

fn garbage_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth >= 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => match rng.below(5) {
            0 => json!(u64::MAX),
            1 => json!(i64::MIN),
            2 => json!(1e308),
            3 => json!(-0.0),
            _ => json!(rng.next() as i64),
        },
        3 => {
            let n = rng.below(20);
            json!(rng.string(n))
        }
        4 => {
            let n = rng.below(3000);
            json!(rng.string(n))
        }
        5 => json!(""),
        6 => Value::Array((0..rng.below(6)).map(|_| garbage_value(rng, depth + 1)).collect()),
        _ => {
            let keys = ["roomId", "text", "token", "mood", "interests", "mode", "isTyping", "reason", "x"];
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let k = if rng.chance(70) { rng.pick(&keys).to_string() } else { rng.string(8) };
                m.insert(k, garbage_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A payload for `ty` that is plausible but broken in some field.
fn broken_payload(rng: &mut Rng, ty: &str, tokens: &[String]) -> Value {
    let g = |rng: &mut Rng| garbage_value(rng, 1);
    match ty {
        "AUTH" => match rng.below(4) {
            0 => json!({"token": rng.pick(tokens), "lastSeq": g(rng)}),
            1 => json!({"token": g(rng)}),
            2 => json!({"token": rng.string(200)}),
            _ => json!({}),
        },
        "JOIN_QUEUE" => json!({
            "mood": if rng.chance(50) { json!(rng.pick(&["chill", "fire", "silly", "shy", "random"])) } else { g(rng) },
            "interests": if rng.chance(30) { json!((0..rng.below(200)).map(|_| rng.string(30)).collect::<Vec<_>>()) } else { g(rng) },
            "mode": if rng.chance(50) { json!(rng.pick(&["same_mood", "random"])) } else { g(rng) },
        }),
        "CHAT" => json!({
            "roomId": if rng.chance(50) { json!(rng.string(16)) } else { g(rng) },
            "text": if rng.chance(50) { let n = rng.below(2500); json!(rng.string(n)) } else { g(rng) },
        }),
        "TYPING" => json!({"roomId": g(rng), "isTyping": g(rng)}),
        "LEAVE_ROOM" => json!({"roomId": g(rng)}),
        "REPORT" => json!({"roomId": g(rng), "reason": g(rng), "details": g(rng)}),
        _ => g(rng),
    }
}

/// One envelope's JSON text: structured garbage or raw broken text.
fn random_envelope(rng: &mut Rng, tokens: &[String]) -> String {
    match rng.below(10) {
        0 => {
            let deep = 1 + rng.below(5000);
            if rng.chance(50) {
                format!("{}{}", "[".repeat(deep), "]".repeat(deep))
            } else {
                "{\"payload\":".repeat(deep) + "{}" + &"}".repeat(deep)
            }
        }
        1 => {
            let huge = ["1e999", "123456789012345678901234567890", "-0", "18446744073709551616", "{}", "[1]"];
            format!(r#"{{"type":"PING","id":{},"payload":{{}}}}"#, rng.pick(&huge))
        }
        2 => {
            let texts =
                ["", " ", "null", "[]", "7", "\"PING\"", r#"{"type":"PING","type":"CHAT"}"#, "{", "}{"];
            rng.pick(&texts).to_string()
        }
        3 => {
            // A valid envelope, truncated at a character boundary.
            let full =
                json!({"type": rng.pick(&TYPES), "id": "t", "payload": {"roomId": "r", "text": "hello"}})
                    .to_string();
            let mut cut = rng.below(full.len());
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            full[..cut].to_string()
        }
        4 => {
            // ASCII bit flips in a valid envelope (kept valid UTF-8).
            let mut b = json!({"type": rng.pick(&TYPES), "id": "m", "payload": {}}).to_string().into_bytes();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(7);
            }
            String::from_utf8(b).unwrap_or_default()
        }
        _ => {
            let ty = rng.pick(&TYPES).to_string();
            let mut m = serde_json::Map::new();
            match rng.below(10) {
                0 => {}
                1 => {
                    m.insert("type".into(), garbage_value(rng, 1));
                }
                _ => {
                    m.insert("type".into(), json!(ty));
                }
            }
            match rng.below(6) {
                0 => {}
                1 => {
                    m.insert("id".into(), json!("i".repeat(60 + rng.below(10))));
                }
                2 => {
                    m.insert("id".into(), garbage_value(rng, 1));
                }
                _ => {
                    let n = rng.below(64);
                    m.insert("id".into(), json!(rng.string(n)));
                }
            }
            if rng.below(8) != 0 {
                m.insert("payload".into(), broken_payload(rng, &ty, tokens));
            }
            if rng.chance(20) {
                m.insert(rng.string(5), garbage_value(rng, 1));
            }
            Value::Object(m).to_string()
        }
    }
}

/// One fuzz worker: sessions of one kind each until its operations are
/// used up. An operation is one write.
fn fuzz_worker(addr: SocketAddr, seed: u64, tokens: Arc<Vec<String>>) -> usize {
    let mut rng = Rng::new(seed);
    let mut ops = 0;
    let mut sessions = 0;
    while ops < FUZZ_OPS_EACH {
        sessions += 1;
        let mut s = TcpStream::connect(addr).expect("the server accepts connections during the fuzz run");
        s.set_nodelay(true).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let writes = 1 + rng.below(8);
        match rng.below(4) {
            0 => {
                for _ in 0..writes {
                    ops += 1;
                    let max = if rng.chance(10) { 20_000 } else { 600 };
                    let n = 1 + rng.below(max);
                    let mut b = rng.bytes(n);
                    if rng.chance(30) {
                        b.splice(0..0, b"GET /ws/chat HTTP/1.1\r\n".iter().copied());
                    }
                    if s.write_all(&b).is_err() {
                        break;
                    }
                }
            }
            1 => {
                let token = rng.pick(tokens.as_slice()).clone();
                let bases = base_requests(addr, &token);
                for _ in 0..writes.min(3) {
                    ops += 1;
                    let base = rng.pick(&bases).clone();
                    let req = mutate_request(&mut rng, &base);
                    if s.write_all(&req).is_err() {
                        break;
                    }
                    drain_briefly(&mut s, Duration::from_millis(20));
                }
            }
            kind => {
                ops += 1;
                s.write_all(upgrade_request(addr, "").as_bytes()).expect("send upgrade");
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        other => panic!("no upgrade response during the fuzz run: {other:?} after {head:?}"),
                    }
                }
                assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
                if kind == 3 && rng.chance(60) {
                    ops += 1;
                    let auth = json!({"type":"AUTH","payload":{"token": rng.pick(&tokens[..])}});
                    let _ = s.write_all(&text_frame(&auth));
                }
                let mut batch = Vec::new();
                for _ in 0..writes {
                    ops += 1;
                    let frame = if kind == 2 {
                        random_frame(&mut rng)
                    } else {
                        masked(true, TEXT, random_envelope(&mut rng, &tokens).as_bytes())
                    };
                    // Sometimes several frames per write.
                    batch.extend(frame);
                    if rng.chance(60) && s.write_all(&std::mem::take(&mut batch)).is_err() {
                        break;
                    }
                }
                let _ = s.write_all(&batch);
            }
        }
        drain_briefly(&mut s, Duration::from_millis(30));
        if rng.chance(30) {
            let _ = s.shutdown(Shutdown::Write);
            drain_briefly(&mut s, Duration::from_millis(10));
        }
    }
    sessions
}

#[test]
fn fuzzed_handshakes_frames_and_json_from_many_sockets_leave_the_server_serving() {
    let srv = start_with(|c| c.admin_token = Some(ADMIN.into()));
    let addr = srv.addr;
    let tokens: Vec<String> = (0..8).map(|_| register(addr, json!({})).token).collect();
    let tokens = Arc::new(tokens);
    assert_health_ok(addr);
    let rss_before = rss_kib();

    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(FUZZ_SOCKETS));
    let handles: Vec<_> = (0..FUZZ_SOCKETS)
        .map(|i| {
            let (tokens, barrier) = (tokens.clone(), barrier.clone());
            let seed = FUZZ_SEED ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            thread::spawn(move || {
                barrier.wait();
                fuzz_worker(addr, seed, tokens)
            })
        })
        .collect();
    let sessions: usize = handles.into_iter().map(|h| h.join().expect("fuzz worker")).sum();
    let fuzz_took = start.elapsed();
    assert!(fuzz_took < Duration::from_secs(30), "fuzz run took {fuzz_took:?}");

    // Still serving: health, a fresh connection, a whole chat.
    assert_health_ok(addr);
    assert_normal_chat(addr);
    let mut c = Client::connect(addr);
    let pong = c.request("PING", "p", json!({}));
    assert_eq!(pong["type"], "PONG", "{pong}");
    drop(c);
    // Every fuzz socket is gone (the chat's clients may still be closing).
    let (n, ok) = poll_connections(addr, Duration::from_secs(5), |n| n <= 4);
    assert!(ok, "connections still open after the fuzz run: {n}");

    // glibc keeps freed memory in its arenas (50 threads' worth here), and
    // other tests run in this process too, so only a gross leak fails this.
    let rss_after = rss_kib();
    let grew = rss_after.saturating_sub(rss_before);
    assert!(grew < 32 * 1024, "RSS grew by {grew} KiB ({rss_before} -> {rss_after} KiB)");
    eprintln!(
        "fuzz: {} ops in {sessions} sessions in {fuzz_took:?}; RSS {rss_before} -> {rss_after} KiB",
        FUZZ_SOCKETS * FUZZ_OPS_EACH
    );
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
