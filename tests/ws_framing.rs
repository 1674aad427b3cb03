//! WebSocket framing over real sockets (contract section 3, RFC 6455):
//! handshake, close codes for bad frames, fragmentation, control frames,
//! heartbeats and the output bound.
//!
//! Most tests drive the raw client (`common::raw`) so they can send what a
//! well-behaved client library never would.

mod common;

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::opcode::*;
use common::raw::{KEY, MASK, Raw, masked, upgrade_request};
use common::*;
use serde_json::json;
use tungstenite::Message;

#[track_caller]
fn assert_closed_with(raw: &mut Raw, code: u16) {
    let (got, before) = raw.expect_close();
    assert_eq!(got, code, "close code (messages before: {before:?})");
}

/// Sends raw bytes on a fresh connection and reads one HTTP response.
#[track_caller]
fn upgrade_attempt(addr: SocketAddr, req: &str) -> HttpResponse {
    raw_http(addr, req.as_bytes())
}

// ------------------------------------------------------------ handshake

#[test]
fn handshake_sent_one_byte_at_a_time_then_auth_works() {
    let srv = start();
    let user = register(srv.addr, json!({}));
    let mut raw = Raw::upgrade(TcpStream::connect(srv.addr).unwrap(), srv.addr, true);
    // The AUTH frame itself, one byte at a time as well.
    let auth = json!({"type":"AUTH","id":"a","payload":{"token": user.token}}).to_string();
    for b in masked(true, TEXT, auth.as_bytes()) {
        raw.send(&[b]);
    }
    let ok = raw.json();
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    assert_eq!(ok["payload"]["userId"], user.id.as_str());
}

#[test]
fn frames_sent_with_the_upgrade_request_are_processed() {
    let srv = start();
    let user = register(srv.addr, json!({}));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let mut bytes = upgrade_request(srv.addr, "").into_bytes();
    let auth = json!({"type":"AUTH","id":"a","payload":{"token": user.token}}).to_string();
    bytes.extend(masked(true, TEXT, auth.as_bytes()));
    s.write_all(&bytes).unwrap();
    let mut raw = Raw::new(s);
    raw.expect_101();
    assert_eq!(raw.json()["type"], "AUTH_OK");
}

#[test]
fn upgrade_without_sec_websocket_key_is_400() {
    let srv = start();
    let req = format!(
        "GET /ws/chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.addr
    );
    let r = upgrade_attempt(srv.addr, &req);
    assert_http_error(&r, 400, "BAD_REQUEST");
}

#[test]
fn plain_get_of_the_websocket_endpoint_is_400() {
    let srv = start();
    let r = http(srv.addr, "GET", "/ws/chat", None, None);
    assert_eq!(r.status, 400);
}

#[test]
fn upgrade_with_wrong_version_is_426_naming_version_13() {
    let srv = start();
    let req = format!(
        "GET /ws/chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n",
        srv.addr
    );
    let r = upgrade_attempt(srv.addr, &req);
    assert_eq!(r.status, 426);
    assert_eq!(r.header("sec-websocket-version").as_deref(), Some("13"));
}

#[test]
fn upgrade_with_post_is_405() {
    let srv = start();
    let req = upgrade_request(srv.addr, "").replacen("GET", "POST", 1);
    let r = upgrade_attempt(srv.addr, &req);
    assert_eq!(r.status, 405);
}

// --------------------------------------------------- bad frames, codes

#[test]
fn binary_frame_closes_with_1003() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    raw.send(&masked(true, BINARY, &[1, 2, 3]));
    assert_closed_with(&mut raw, 1003);
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    raw.send(&masked(true, TEXT, b"{\"type\":\"PING\xff\"}"));
    assert_closed_with(&mut raw, 1007);
}

#[test]
fn invalid_utf8_across_fragments_closes_with_1007() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    raw.send(&masked(false, TEXT, b"{\"a\":\"\xe2\x82"));
    raw.send(&masked(true, CONT, b"x\"}"));
    assert_closed_with(&mut raw, 1007);
}

#[test]
fn message_of_exactly_64_kib_is_accepted() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    // The 64 KiB bound holds once authenticated (4 KiB before: section 7).
    raw.auth(&register(srv.addr, json!({})));
    let mut text = json!({"type":"PING","id":"big","payload":{}}).to_string().into_bytes();
    text.resize(64 * 1024, b' ');
    raw.send(&masked(true, TEXT, &text));
    let pong = raw.json();
    assert_eq!(pong["type"], "PONG", "{pong}");
    assert_eq!(pong["id"], "big");
}

#[test]
fn single_frame_over_64_kib_closes_with_1009() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    // The 64 KiB bound holds once authenticated (4 KiB before: section 7).
    raw.auth(&register(srv.addr, json!({})));
    let mut text = json!({"type":"PING","id":"big","payload":{}}).to_string().into_bytes();
    text.resize(64 * 1024 + 1, b' ');
    raw.send(&masked(true, TEXT, &text));
    let (code, before) = raw.expect_close();
    assert_eq!(code, 1009);
    assert!(before.is_empty(), "the message must not be handled: {before:?}");
}

#[test]
fn oversized_frame_is_refused_from_its_header() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    // Only the header of a 1 MiB frame: the server must not wait for it.
    let mut head = vec![0x80 | TEXT, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 20).to_be_bytes());
    head.extend_from_slice(&MASK);
    raw.send(&head);
    assert_closed_with(&mut raw, 1009);
}

#[test]
fn fragments_adding_up_past_64_kib_close_with_1009() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    // The 64 KiB bound holds once authenticated (4 KiB before: section 7).
    raw.auth(&register(srv.addr, json!({})));
    let part = vec![b' '; 30 * 1024];
    raw.send(&masked(false, TEXT, b"{\"type\":\"PING\",\"payload\":{}}"));
    raw.send(&masked(false, CONT, &part));
    raw.send(&masked(false, CONT, &part));
    raw.send(&masked(true, CONT, &part));
    let (code, before) = raw.expect_close();
    assert_eq!(code, 1009);
    assert!(before.is_empty(), "{before:?}");
}

#[test]
fn unmasked_client_frame_closes_with_1002() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    let text = json!({"type":"PING","payload":{}}).to_string();
    raw.send(&client_frame(0x80 | TEXT, text.as_bytes(), None));
    let (code, before) = raw.expect_close();
    assert_eq!(code, 1002);
    assert!(before.is_empty(), "an unmasked frame must not be handled: {before:?}");
}

#[test]
fn rsv_bits_close_with_1002() {
    for rsv in [0x40u8, 0x20, 0x10] {
        let srv = start();
        let mut raw = Raw::connect(srv.addr);
        let text = json!({"type":"PING","payload":{}}).to_string();
        raw.send(&client_frame(0x80 | rsv | TEXT, text.as_bytes(), Some(MASK)));
        let (code, before) = raw.expect_close();
        assert_eq!(code, 1002, "rsv {rsv:#x}");
        assert!(before.is_empty(), "rsv {rsv:#x}: {before:?}");
    }
}

#[test]
fn other_protocol_violations_close_with_1002() {
    let srv = start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reserved data opcode", masked(true, 0x3, b"x")),
        ("reserved control opcode", masked(true, 0xB, b"x")),
        ("continuation without a start", masked(true, CONT, b"x")),
        ("fragmented ping", masked(false, PING, b"x")),
        ("ping over 125 bytes", masked(true, PING, &[7; 126])),
        (
            "new message inside a fragmented one",
            [masked(false, TEXT, b"{"), masked(true, TEXT, b"{}")].concat(),
        ),
        ("close code 1005", masked(true, CLOSE, &1005u16.to_be_bytes())),
        ("one-byte close payload", masked(true, CLOSE, &[3])),
    ];
    for (what, bytes) in cases {
        let mut raw = Raw::connect(srv.addr);
        raw.send(&bytes);
        let (code, _) = raw.expect_close();
        assert_eq!(code, 1002, "{what}");
    }
}

// ------------------------------------------------ fragments and control

#[test]
fn fragmented_text_message_with_interleaved_ping_is_one_message() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    let text = json!({"type":"PING","id":"frag","payload":{}}).to_string();
    let b = text.as_bytes();
    let (p1, rest) = b.split_at(5);
    let (p2, p3) = rest.split_at(10);
    raw.send(&masked(false, TEXT, p1));
    raw.send(&masked(true, PING, b"between"));
    raw.send(&masked(false, CONT, p2));
    raw.send(&masked(true, CONT, p3));
    // The ping is answered at once, the message once it is complete.
    let pong = raw.frame();
    assert_eq!(pong.opcode, PONG, "{pong:?}");
    assert_eq!(pong.payload, b"between");
    let reply = raw.frame().json();
    assert_eq!(reply["type"], "PONG", "{reply}");
    assert_eq!(reply["id"], "frag");
    // Exactly one reply: the fragments were not handled separately.
    raw.send_json(json!({"type":"PING","id":"after","payload":{}}));
    assert_eq!(raw.json()["id"], "after");
}

#[test]
fn client_ping_gets_a_pong_with_the_same_payload() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    for payload in [&b""[..], b"hello", &[0xfe; 125]] {
        raw.send(&masked(true, PING, payload));
        let f = raw.frame();
        assert_eq!(f.opcode, PONG, "{f:?}");
        assert!(f.fin);
        assert_eq!(f.payload, payload);
    }
}

#[test]
fn unsolicited_pong_is_ignored() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    raw.send(&masked(true, PONG, b"nobody asked"));
    raw.send_json(json!({"type":"PING","id":"p","payload":{}}));
    let f = raw.frame();
    assert_eq!(f.json()["id"], "p");
}

#[test]
fn client_close_gets_a_close_echo_then_the_connection_ends() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    raw.send(&masked(true, CLOSE, &payload));
    assert_closed_with(&mut raw, 1000);
    raw.expect_eof();
}

#[test]
fn client_close_code_is_echoed() {
    let srv = start();
    let mut raw = Raw::connect(srv.addr);
    raw.send(&masked(true, CLOSE, &4000u16.to_be_bytes()));
    assert_closed_with(&mut raw, 4000);
}

#[test]
fn client_close_of_an_authenticated_session_is_echoed() {
    let srv = start();
    let user = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &user);
    c.ws.close(None).unwrap();
    // tungstenite reports the echo as the end of the connection.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no close echo");
        match c.ws.read() {
            Ok(Message::Close(_)) | Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("expected a clean close, got {e}"),
        }
    }
}

// ---------------------------------------------------------- heartbeats

fn short_heartbeat(c: &mut duet::Config) {
    c.ping_interval_secs = Duration::from_millis(200);
    c.idle_timeout_secs = Duration::from_millis(600);
}

#[test]
fn silent_client_gets_pinged_then_session_ended_idle_and_close_4408() {
    let srv = start_with(short_heartbeat);
    let user = register(srv.addr, json!({}));
    let mut raw = Raw::connect(srv.addr);
    raw.auth(&user);
    let start = Instant::now();
    let (code, pings, texts) = raw.pings_and_texts_to_close();
    let waited = start.elapsed();
    assert!(pings >= 1, "the server pings a silent client");
    assert_eq!(code, 4408);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["type"], "SESSION_ENDED");
    assert_eq!(texts[0]["payload"]["reason"], "idle");
    assert!(waited >= Duration::from_millis(400), "closed too early: {waited:?}");
    raw.expect_eof();
}

#[test]
fn client_that_answers_pings_is_not_closed() {
    let srv = start_with(short_heartbeat);
    let user = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &user);
    c.ws.get_mut().set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let until = Instant::now() + Duration::from_millis(1500);
    let mut pings = 0;
    while Instant::now() < until {
        match c.ws.read() {
            Ok(Message::Ping(_)) => {
                pings += 1;
                // tungstenite queued the pong; send it now.
                c.ws.flush().unwrap();
            }
            Ok(other) => panic!("unexpected message {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("connection failed: {e}"),
        }
    }
    assert!(pings >= 2, "expected pings every 200 ms, got {pings}");
    c.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    let pong = c.request("PING", "alive", json!({}));
    assert_eq!(pong["type"], "PONG");
}

#[test]
fn raw_client_answering_pings_with_pongs_is_not_closed() {
    let srv = start_with(short_heartbeat);
    let user = register(srv.addr, json!({}));
    let mut raw = Raw::connect(srv.addr);
    raw.auth(&user);
    let until = Instant::now() + Duration::from_millis(1500);
    let mut pings = 0;
    while Instant::now() < until {
        let f = raw.frame();
        assert_eq!(f.opcode, PING, "only pings expected, got {f:?}");
        pings += 1;
        raw.send(&masked(true, PONG, &f.payload));
    }
    assert!(pings >= 2);
    raw.send_json(json!({"type":"PING","id":"still","payload":{}}));
    assert_eq!(raw.json()["id"], "still");
}

/// The test client's `expect_silence` reads for its whole window: the
/// heartbeat pings inside it are skipped (the first one used to end the
/// wait early, so what came after it went unseen), and a message that
/// arrives after pings still fails it.
#[test]
fn expect_silence_reads_past_heartbeat_pings_to_the_end_of_its_window() {
    let srv = start_with(|c| {
        c.ping_interval_secs = Duration::from_millis(100);
        c.idle_timeout_secs = Duration::from_secs(30);
    });
    let (mut a, mut b, room) = pair(srv.addr);
    let window = Duration::from_millis(450);
    let start = Instant::now();
    a.expect_silence(window);
    assert!(start.elapsed() >= window, "returned after {:?}, inside its {window:?}", start.elapsed());
    // a stays silent, so pings queue up for it (one every 100 ms); then a
    // CHAT comes after them.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.request("CHAT", "c", json!({"roomId": room, "text": "after the pings"}))["type"],
        "CHAT_ACK"
    );
    let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.expect_silence(Duration::from_millis(300));
    }));
    assert!(heard.is_err(), "a CHAT behind pings passed for silence");
}

// ---------------------------------------------------------- slow reader

#[test]
fn socket_that_never_reads_is_closed_with_1008_while_its_partner_keeps_working() {
    let srv = start_with(|c| {
        c.max_message_chars = 60_000;
        c.chat_rate = 1e9;
        c.chat_burst = 1_000_000;
    });
    let slow_user = register(srv.addr, json!({}));
    let fast_user = register(srv.addr, json!({}));
    let mut slow = Raw::upgrade(small_window(srv.addr, 4096), srv.addr, false);
    slow.auth(&slow_user);
    let mut fast = Client::authed(srv.addr, &fast_user);
    let queue = json!({"mood": "chill", "interests": []});
    slow.send_json(json!({"type":"JOIN_QUEUE","id":"q","payload": queue}));
    assert_eq!(slow.json()["type"], "QUEUE_WAITING");
    assert_eq!(fast.request("JOIN_QUEUE", "q", queue)["type"], "QUEUE_WAITING");
    let found = fast.recv_type("MATCH_FOUND");
    assert_eq!(slow.json()["type"], "MATCH_FOUND");
    let room = found["payload"]["roomId"].as_str().unwrap().to_string();

    // The server's kernel send buffer may grow to tcp_wmem's maximum on
    // its own, so send that much plus 2 MB: far past the 256 KiB the server
    // may keep for a socket.
    let kernel_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse::<u64>().ok())
        .unwrap_or(4 << 20);
    let text = "x".repeat(50_000);
    let sent: u64 = (kernel_max + (2 << 20)) / 50_000 + 1;
    for i in 0..sent {
        let m = json!({"type":"CHAT","id": i.to_string(),"payload":{"roomId": room,"text": text}});
        fast.ws.write(Message::text(m.to_string())).unwrap();
    }
    fast.ws.flush().unwrap();
    let mut acks = 0;
    while acks < sent {
        let v = fast.recv();
        match v["type"].as_str() {
            Some("CHAT_ACK") => {
                assert_eq!(v["id"], acks.to_string());
                acks += 1;
            }
            Some("PARTNER_AWAY") | Some("PARTNER_LEFT") => {}
            _ => panic!("unexpected message for the sender: {v}"),
        }
    }
    // The partner's own connection is unaffected.
    assert_eq!(fast.request("PING", "p", json!({}))["type"], "PONG");

    // Now the slow socket reads: what the server kept for it, then 1008.
    let mut chats = 0;
    let code = loop {
        let f = slow.frame();
        match f.opcode {
            TEXT => {
                assert_eq!(f.json()["type"], "CHAT");
                chats += 1;
            }
            CLOSE => break f.close_code(),
            PING | PONG => {}
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert_eq!(code, 1008);
    assert!(chats < sent, "the server buffered everything ({chats} messages) instead of closing");
}

#[cfg(feature = "echo")]
#[test]
fn echo_mode_refuses_a_non_loopback_address() {
    let mut cfg = duet::Config::for_tests();
    cfg.echo = true;
    cfg.listen = "0.0.0.0:0".parse().unwrap();
    let err = duet::Server::start(cfg).err().expect("echo mode must refuse 0.0.0.0");
    assert!(err.to_string().contains("loopback"), "{err}");
}

/// Row 9 of the hardening issue: a default build has no echo mode at all,
/// not even through the library (it used to start one on loopback).
#[cfg(not(feature = "echo"))]
#[test]
fn a_build_without_the_echo_feature_refuses_echo_mode() {
    let mut cfg = duet::Config::for_tests();
    cfg.echo = true;
    let err = duet::Server::start(cfg).err().expect("a default build must refuse echo mode");
    assert!(err.to_string().contains("feature `echo`"), "{err}");
}

#[cfg(feature = "echo")]
#[test]
fn echo_mode_echoes_text_and_binary_without_auth() {
    let srv = start_with(|c| c.echo = true);
    let mut c = Client::connect(srv.addr);
    c.send_msg(tungstenite::Message::text("not even json"));
    assert_eq!(c.ws.read().unwrap(), tungstenite::Message::text("not even json"));
    c.send_msg(tungstenite::Message::binary(vec![0u8, 1, 2, 255]));
    assert_eq!(c.ws.read().unwrap(), tungstenite::Message::binary(vec![0u8, 1, 2, 255]));
}
