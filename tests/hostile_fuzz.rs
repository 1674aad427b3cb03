//! The seeded live fuzz: many sockets at once send fuzzed handshakes,
//! HTTP requests, frames and envelopes, and the shapes of issue 11
//! (oversized and duplicate `interests`, control and bidi characters in
//! text fields, `TYPING` floods at a partner who does not read, pipelined
//! bad `AUTH`s, big messages before `AUTH`); then the server must still
//! serve everyone, hold no fuzz socket, and not have grown grossly.
//! A failing seed replays: the PRNG is seeded per worker from `FUZZ_SEED`.
//!
//! Everything is bounded: reads carry timeouts, loops carry counts or
//! deadlines, and nothing sleeps to synchronise.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::frames::padded_ping;
use common::opcode::*;
use common::raw::{MASK, masked, text_frame, upgrade_request};
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
        // Controls (C0, C1, DEL), bidi and zero-width characters, separators,
        // emoji joiners and tags, and characters that need JSON escapes.
        const ODD: [char; 22] = [
            '\u{0}',
            '\u{7}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\t',
            '\n',
            '\r',
            '\u{202e}',
            '\u{2066}',
            '\u{200b}',
            '\u{feff}',
            '\u{2028}',
            '\u{2029}',
            '\u{200d}',
            '\u{e0067}',
            '\u{fffd}',
            'é',
            '😀',
            '\u{10ffff}',
            '"',
        ];
        (0..n)
            .map(|_| match self.below(10) {
                0 => *self.pick(&ODD),
                _ => (b' ' + (self.byte() % 95)) as char,
            })
            .collect()
    }
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
    // Bidi override and separator in the nickname, a ZWJ avatar, six duplicates.
    let odd = r#"{"nickname":"Eve\u202egnp\u2028","avatar":"\ud83d\udc68\u200d\ud83d\udc69","interests":["a","a","a","a","a","a"]}"#;
    vec![
        format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!(
            "POST /api/users/registerOrUpdate HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{odd}",
            odd.len()
        ),
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

/// Sends the upgrade request and reads the 101 response.
#[track_caller]
fn upgrade(s: &mut TcpStream, addr: SocketAddr) {
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
}

/// `interests` of issue 11's shapes: oversized (up to ~9,900 distinct
/// tags, sometimes past 64 KiB), one tag repeated, or odd characters.
fn hostile_interests(rng: &mut Rng) -> Value {
    let n = match rng.below(10) {
        0 => 9_000 + rng.below(900),
        1..=3 => 100 + rng.below(1_900),
        _ => 6 + rng.below(94),
    };
    match rng.below(3) {
        0 => json!((0..n).map(|i| format!("{i:x}")).collect::<Vec<_>>()),
        1 => {
            let len = 1 + rng.below(4);
            json!(vec![rng.string(len); n])
        }
        _ => json!(
            (0..1 + rng.below(8))
                .map(|_| {
                    let len = 20 + rng.below(10);
                    rng.string(len)
                })
                .collect::<Vec<_>>()
        ),
    }
}

/// Issue 11's shapes on an upgraded socket; returns the writes made.
fn issue_11_shapes(addr: SocketAddr, s: &mut TcpStream, rng: &mut Rng, tokens: &[String]) -> usize {
    let bytes = match rng.below(6) {
        0 => {
            // A message over 4 KiB before AUTH: whole, in two fragments,
            // or announced and left unfinished.
            let n = 4_000 + if rng.chance(20) { rng.below(62_000) } else { rng.below(1_000) };
            let p = padded_ping(None, n);
            match rng.below(3) {
                0 => masked(true, TEXT, &p),
                1 => {
                    let cut = rng.below(n);
                    [masked(false, TEXT, &p[..cut]), masked(true, CONT, &p[cut..])].concat()
                }
                _ => {
                    let mut f = masked(true, TEXT, &p);
                    f.truncate(8 + rng.below(n));
                    f
                }
            }
        }
        1 => {
            // Pipelined AUTHs with bad tokens, PINGs among them, sometimes
            // a good one last.
            let mut b = Vec::new();
            for i in 0..10 + rng.below(1_000) {
                let token = if rng.chance(90) {
                    let len = 1 + rng.below(80);
                    json!(rng.string(len))
                } else {
                    garbage_value(rng, 1)
                };
                b.extend(text_frame(&json!({"type":"AUTH","id": i.to_string(),"payload":{"token": token}})));
                if rng.chance(5) {
                    b.extend(text_frame(&json!({"type":"PING","payload":{}})));
                }
            }
            if rng.chance(30) {
                b.extend(text_frame(&json!({"type":"AUTH","payload":{"token": rng.pick(tokens)}})));
            }
            b
        }
        2 | 3 => {
            // Authenticated: hostile interests and texts, sometimes a run of
            // refusals long enough for 4429.
            let mut b = text_frame(&json!({"type":"AUTH","payload":{"token": rng.pick(tokens)}}));
            let most = if rng.chance(10) { 60 } else { 4 };
            for _ in 0..1 + rng.below(most) {
                let len = rng.below(300);
                let payload = match rng.below(5) {
                    0 | 1 => {
                        json!({"type":"JOIN_QUEUE","payload":{"mood":"shy","interests": hostile_interests(rng)}})
                    }
                    2 => json!({"type":"CHAT","payload":{"roomId": rng.string(16),"text": rng.string(len)}}),
                    3 => {
                        json!({"type":"REPORT","payload":{"roomId":"r","reason":"spam","details": rng.string(len)}})
                    }
                    _ => json!({"type":"NOPE","payload":{}}),
                };
                b.extend(text_frame(&payload));
            }
            b
        }
        _ => return typing_flood_at_a_partner_who_does_not_read(addr, s, rng),
    };
    let _ = s.write_all(&bytes);
    1
}

/// Two fresh users paired with each other (a tag no one else uses): one
/// floods `TYPING` (and chat with odd characters) while the other does
/// not read; then both read briefly. Returns the writes made.
fn typing_flood_at_a_partner_who_does_not_read(addr: SocketAddr, s: &mut TcpStream, rng: &mut Rng) -> usize {
    let mut b = TcpStream::connect(addr).expect("the server accepts connections during the fuzz run");
    b.set_read_timeout(Some(WAIT)).unwrap();
    b.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    upgrade(&mut b, addr);
    let tag = format!("fz{:x}", rng.next() & 0xffff_ffff);
    let mut rooms = Vec::new();
    for sock in [&mut *s, &mut b] {
        let mut raw = common::raw::Raw::new(sock.try_clone().unwrap());
        raw.auth(&register(addr, json!({})));
        raw.send_json(json!({"type":"JOIN_QUEUE","payload":{"mood":"shy","interests":[tag]}}));
        assert_eq!(raw.json()["type"], "QUEUE_WAITING", "the fuzz pair is queued");
        rooms.push(raw);
    }
    let found = rooms[0].json();
    assert_eq!(found["type"], "MATCH_FOUND", "the fuzz pair is matched: {found}");
    let room = found["payload"]["roomId"].clone();
    let mut flood = Vec::new();
    for i in 0..100 + rng.below(3_000) {
        flood.extend(text_frame(
            &json!({"type":"TYPING","payload":{"roomId": room,"isTyping": i.is_multiple_of(2)}}),
        ));
        if rng.chance(1) {
            let len = 1 + rng.below(100);
            flood.extend(text_frame(
                &json!({"type":"CHAT","payload":{"roomId": room,"text": rng.string(len)}}),
            ));
        }
    }
    let _ = s.write_all(&flood);
    drain_briefly(s, Duration::from_millis(30));
    drain_briefly(&mut b, Duration::from_millis(30));
    3
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
        match rng.below(5) {
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
            4 => {
                ops += 1;
                upgrade(&mut s, addr);
                ops += issue_11_shapes(addr, &mut s, &mut rng, &tokens);
            }
            kind => {
                ops += 1;
                upgrade(&mut s, addr);
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
