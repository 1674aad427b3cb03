//! Rooms and chat (contract sections 3 and 5): `CHAT`/`CHAT_ACK` and `seq`,
//! text rules, `TYPING`, `LEAVE_ROOM`, `NEXT`, a dropped partner, and room
//! order under concurrent writers.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tungstenite::Message;

/// Sends a CHAT that must be acked; returns the ack's seq.
#[track_caller]
fn chat_ok(c: &mut Client, room: &str, text: &str) -> u64 {
    let ack = c.request("CHAT", "m", json!({"roomId": room, "text": text}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    ack["payload"]["seq"].as_u64().expect("seq")
}

#[test]
fn chat_ack_and_chat_push_have_contract_shape_and_seq_starts_at_1() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let before = now_ms();
    let ack = a.request("CHAT", "m1", json!({"roomId": room, "text": "hello"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    assert_eq!(ack["id"], "m1");
    let p = &ack["payload"];
    assert_eq!(p.as_object().unwrap().len(), 3, "exactly roomId, seq, sentAt: {ack}");
    assert_eq!(p["roomId"], room.as_str());
    assert_eq!(p["seq"], 1);
    let sent_at = p["sentAt"].as_u64().expect("sentAt in ms");
    assert!(
        sent_at + 60_000 > before && sent_at < now_ms() + 60_000,
        "sentAt is ms since the epoch: {sent_at}"
    );

    let got = b.recv_type("CHAT");
    assert!(got.get("id").is_none(), "a push carries no id: {got}");
    let q = &got["payload"];
    assert_eq!(q.as_object().unwrap().len(), 4, "exactly roomId, seq, text, sentAt: {got}");
    assert_eq!(q["roomId"], room.as_str());
    assert_eq!(q["seq"], 1);
    assert_eq!(q["text"], "hello");
    assert_eq!(q["sentAt"], sent_at, "the same message has one sentAt");
}

#[test]
fn seq_orders_messages_from_both_senders() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    assert_eq!(chat_ok(&mut a, &room, "1"), 1);
    assert_eq!(b.recv_type("CHAT")["payload"]["seq"], 1);
    assert_eq!(chat_ok(&mut b, &room, "2"), 2);
    assert_eq!(a.recv_type("CHAT")["payload"]["seq"], 2);
    assert_eq!(chat_ok(&mut b, &room, "3"), 3);
    // a has CHAT 3 pending; its own message 4 is acked after it (room order).
    a.send(json!({"type": "CHAT", "id": "m4", "payload": {"roomId": room, "text": "4"}}));
    let m = a.recv_type("CHAT");
    assert_eq!((m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()), (Some(3), Some("3")));
    let ack = a.recv_type("CHAT_ACK");
    assert_eq!(ack["id"], "m4");
    assert_eq!(ack["payload"]["seq"], 4);
    let m = b.recv_type("CHAT");
    assert_eq!((m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()), (Some(4), Some("4")));
}

#[test]
fn sender_never_gets_its_own_chat_back() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..3 {
        chat_ok(&mut a, &room, &format!("msg {i}"));
    }
    for _ in 0..3 {
        b.recv_type("CHAT");
    }
    a.expect_silence(Duration::from_millis(250));
}

#[test]
fn chat_text_is_trimmed() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    chat_ok(&mut a, &room, " \t\n  hello there \r\n ");
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "hello there");
    chat_ok(&mut a, &room, "\u{3000}wide\u{00a0}space\u{3000}");
    assert_eq!(
        b.recv_type("CHAT")["payload"]["text"],
        "wide\u{00a0}space",
        "Unicode whitespace at the ends is trimmed, inner kept"
    );
}

#[test]
fn whitespace_only_chat_is_empty_message() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for (i, text) in ["", "   ", "\n\t \r\n"].into_iter().enumerate() {
        let r = a.request("CHAT", &format!("e{i}"), json!({"roomId": room, "text": text}));
        assert_error(&r, "EMPTY_MESSAGE");
    }
    b.expect_silence(Duration::from_millis(200));
}

#[test]
fn chat_over_max_chars_is_message_too_long_counting_scalar_values() {
    let srv = start_with(|c| c.max_message_chars = 5);
    let (mut a, mut b, room) = pair(srv.addr);
    // 5 scalar values, 10 bytes: accepted.
    assert_eq!(chat_ok(&mut a, &room, "ééééé"), 1);
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "ééééé");
    // 6 scalar values: refused.
    let r = a.request("CHAT", "long", json!({"roomId": room, "text": "éééééé"}));
    assert_error(&r, "MESSAGE_TOO_LONG");
    let r = a.request("CHAT", "long2", json!({"roomId": room, "text": "abcdef"}));
    assert_error(&r, "MESSAGE_TOO_LONG");
    // Four-byte scalars count once each.
    assert_eq!(chat_ok(&mut a, &room, "😀😀😀😀😀"), 2);
    let r = a.request("CHAT", "long3", json!({"roomId": room, "text": "😀😀😀😀😀😀"}));
    assert_error(&r, "MESSAGE_TOO_LONG");
    // Measured after trimming.
    assert_eq!(chat_ok(&mut a, &room, "   abcde   "), 3);
    assert_eq!(b.recv_type("CHAT")["payload"]["seq"], 2);
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "abcde");
    b.expect_silence(Duration::from_millis(150));
}

#[test]
fn refused_chat_takes_no_seq() {
    let srv = start_with(|c| c.max_message_chars = 10);
    let (mut a, mut b, room) = pair(srv.addr);
    assert_eq!(chat_ok(&mut a, &room, "one"), 1);
    assert_eq!(b.recv_type("CHAT")["payload"]["seq"], 1);
    assert_error(&a.request("CHAT", "x", json!({"roomId": room, "text": "  "})), "EMPTY_MESSAGE");
    assert_error(
        &a.request("CHAT", "y", json!({"roomId": room, "text": "x".repeat(11)})),
        "MESSAGE_TOO_LONG",
    );
    assert_error(&b.request("CHAT", "z", json!({"roomId": "0000000000000000", "text": "hi"})), "NOT_IN_ROOM");
    assert_error(&b.request("CHAT", "w", json!({"roomId": room, "text": "\n\t"})), "EMPTY_MESSAGE");
    assert_eq!(chat_ok(&mut b, &room, "two"), 2);
    let m = a.recv_type("CHAT");
    assert_eq!((m["payload"]["seq"].as_u64(), m["payload"]["text"].as_str()), (Some(2), Some("two")));
    assert_eq!(chat_ok(&mut a, &room, "three"), 3);
    assert_eq!(b.recv_type("CHAT")["payload"]["seq"], 3);
}

#[test]
fn chat_with_wrong_room_id_is_not_in_room() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for (i, wrong) in ["nope", "", "0000000000000000", "ffffffffffffffff"].into_iter().enumerate() {
        if wrong == room {
            continue;
        }
        let r = a.request("CHAT", &format!("w{i}"), json!({"roomId": wrong, "text": "hi"}));
        assert_error(&r, "NOT_IN_ROOM");
    }
    b.expect_silence(Duration::from_millis(200));
    // The real room still works.
    assert_eq!(chat_ok(&mut a, &room, "ok"), 1);
}

#[test]
fn room_id_must_match_exactly_not_just_parse_to_the_same_room() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let mut variants = Vec::new();
    if room.chars().any(|c| c.is_ascii_lowercase()) {
        variants.push(room.to_uppercase());
    }
    if room.chars().any(|c| c.is_ascii_uppercase()) {
        variants.push(room.to_lowercase());
    }
    if let Some(rest) = room.strip_prefix('0') {
        variants.push(format!("+{rest}"));
    }
    variants.push(format!(" {room}"));
    variants.push(format!("{room} "));
    let mut wrong = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(v, &room);
        let r = a.request("CHAT", &format!("v{i}"), json!({"roomId": v, "text": "hi"}));
        if r["payload"]["code"] != "NOT_IN_ROOM" {
            let pushed = b.recv();
            wrong.push(format!("roomId {v:?} (room is {room:?}) -> sender got {r}, partner got {pushed}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "a roomId other than the room's own must be NOT_IN_ROOM:\n{}",
        wrong.join("\n")
    );
    b.expect_silence(Duration::from_millis(200));
}

#[test]
fn chat_with_another_pairs_room_id_is_not_in_room() {
    let srv = start();
    let (mut a1, _b1, _room1) = pair(srv.addr);
    let (mut a2, mut b2, room2) = pair(srv.addr);
    let r = a1.request("CHAT", "x", json!({"roomId": room2, "text": "intrude"}));
    assert_error(&r, "NOT_IN_ROOM");
    let r = a1.request("TYPING", "t", json!({"roomId": room2, "isTyping": true}));
    assert_error(&r, "NOT_IN_ROOM");
    let r = a1.request("LEAVE_ROOM", "l", json!({"roomId": room2}));
    assert_error(&r, "NOT_IN_ROOM");
    a2.expect_silence(Duration::from_millis(150));
    b2.expect_silence(Duration::from_millis(100));
}

#[test]
fn chat_when_not_in_a_room_is_not_in_room() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    let r = c.request("CHAT", "c", json!({"roomId": "0000000000000001", "text": "hi"}));
    assert_error(&r, "NOT_IN_ROOM");
    // Also while waiting in a queue.
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({"mood": "chill"}))["type"], "QUEUE_WAITING");
    let r = c.request("CHAT", "c2", json!({"roomId": "0000000000000001", "text": "hi"}));
    assert_error(&r, "NOT_IN_ROOM");
}

#[test]
fn chat_with_missing_or_mistyped_fields_is_bad_request() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let bad = [
        json!({"roomId": room}),
        json!({"text": "hi"}),
        json!({"roomId": room, "text": 5}),
        json!({"roomId": 1, "text": "hi"}),
    ];
    for (i, p) in bad.into_iter().enumerate() {
        let r = a.request("CHAT", &format!("b{i}"), p);
        assert_error(&r, "BAD_REQUEST");
    }
    b.expect_silence(Duration::from_millis(150));
    assert_eq!(chat_ok(&mut a, &room, "fine"), 1, "bad requests take no seq");
}

#[test]
fn typing_is_acked_and_pushed_to_the_partner() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let r = a.request("TYPING", "t1", json!({"roomId": room, "isTyping": true}));
    assert_eq!(r["type"], "TYPING_ACK", "{r}");
    assert_eq!(r["payload"], json!({}));
    let t = b.recv_type("TYPING");
    assert!(t.get("id").is_none(), "{t}");
    assert_eq!(t["payload"], json!({"roomId": room, "isTyping": true}));
    let r = a.request("TYPING", "t2", json!({"roomId": room, "isTyping": false}));
    assert_eq!(r["type"], "TYPING_ACK", "{r}");
    assert_eq!(b.recv_type("TYPING")["payload"], json!({"roomId": room, "isTyping": false}));
    a.expect_silence(Duration::from_millis(150));
}

#[test]
fn typing_with_wrong_room_or_bad_flag_is_refused() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    assert_error(&a.request("TYPING", "t", json!({"roomId": "nope", "isTyping": true})), "NOT_IN_ROOM");
    assert_error(&a.request("TYPING", "t", json!({"roomId": room, "isTyping": "yes"})), "BAD_REQUEST");
    b.expect_silence(Duration::from_millis(200));
}

#[test]
fn typing_when_not_in_a_room_is_not_in_room() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    assert_error(
        &c.request("TYPING", "t", json!({"roomId": "0000000000000001", "isTyping": true})),
        "NOT_IN_ROOM",
    );
}

#[test]
fn leave_room_replies_room_left_and_partner_gets_partner_left_left() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let r = a.request("LEAVE_ROOM", "lr", json!({"roomId": room}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    assert_eq!(r["payload"], json!({"roomId": room}));
    let pl = b.recv_type("PARTNER_LEFT");
    assert!(pl.get("id").is_none(), "{pl}");
    assert_eq!(pl["payload"], json!({"roomId": room, "reason": "left"}));
    // The room is over for both.
    assert_error(&b.request("CHAT", "c", json!({"roomId": room, "text": "hello?"})), "NOT_IN_ROOM");
    assert_error(&a.request("CHAT", "c", json!({"roomId": room, "text": "bye"})), "NOT_IN_ROOM");
    assert_error(&a.request("LEAVE_ROOM", "lr2", json!({"roomId": room})), "NOT_IN_ROOM");
    // Both are idle and neither was re-queued.
    assert_error(&a.request("LEAVE_QUEUE", "lq", json!({})), "NOT_IN_QUEUE");
    assert_error(&b.request("LEAVE_QUEUE", "lq", json!({})), "NOT_IN_QUEUE");
    assert_eq!(a.request("JOIN_QUEUE", "j", json!({"mood": "fire"}))["type"], "QUEUE_WAITING");
    assert_eq!(b.request("JOIN_QUEUE", "j", json!({"mood": "shy"}))["type"], "QUEUE_WAITING");
}

#[test]
fn leave_room_with_wrong_room_id_is_not_in_room_and_keeps_the_room() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    assert_error(&a.request("LEAVE_ROOM", "lr", json!({"roomId": "nope"})), "NOT_IN_ROOM");
    b.expect_silence(Duration::from_millis(150));
    assert_eq!(chat_ok(&mut a, &room, "still here"), 1);
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "still here");
}

#[test]
fn next_replies_room_left_then_requeues_and_partner_gets_partner_left_next() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let r = a.request("NEXT", "n1", json!({}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    assert_eq!(r["payload"], json!({"roomId": room}));
    let w = a.recv_type("QUEUE_WAITING");
    assert!(w.get("id").is_none(), "the re-queue is not the reply to NEXT: {w}");
    assert_eq!(w["payload"]["mood"], "chill", "the last queue request: {w}");
    assert_eq!(w["payload"]["mode"], "same_mood");
    assert_eq!(w["payload"]["interests"], json!([]));
    assert_eq!(w["payload"]["waiting"], 1, "b is not queued again: {w}");
    let pl = b.recv_type("PARTNER_LEFT");
    assert!(pl.get("id").is_none(), "{pl}");
    assert_eq!(pl["payload"], json!({"roomId": room, "reason": "next"}));
    // a is queued, b is idle.
    assert_error(&a.request("JOIN_QUEUE", "j", json!({})), "ALREADY_IN_QUEUE");
    assert_error(&b.request("LEAVE_QUEUE", "lq", json!({})), "NOT_IN_QUEUE");
    assert_error(&b.request("CHAT", "c", json!({"roomId": room, "text": "hi"})), "NOT_IN_ROOM");
}

#[test]
fn next_requeues_with_the_last_queue_request_not_the_profile() {
    let srv = start();
    let ua = register(srv.addr, json!({"mood": "shy", "interests": ["golf"]}));
    let ub = register(srv.addr, json!({}));
    let uc = register(srv.addr, json!({}));
    let mut a = Client::authed(srv.addr, &ua);
    let mut b = Client::authed(srv.addr, &ub);
    let req = json!({"mood": "fire", "mode": "random", "interests": ["cats"]});
    assert_eq!(a.request("JOIN_QUEUE", "j", req.clone())["type"], "QUEUE_WAITING");
    assert_eq!(b.request("JOIN_QUEUE", "j", req.clone())["type"], "QUEUE_WAITING");
    a.recv_type("MATCH_FOUND");
    b.recv_type("MATCH_FOUND");
    assert_eq!(a.request("NEXT", "n", json!({}))["type"], "ROOM_LEFT");
    let w = a.recv_type("QUEUE_WAITING");
    assert_eq!(w["payload"], json!({"mood": "fire", "mode": "random", "interests": ["cats"], "waiting": 1}));
    // a really waits in that pool: a newcomer there gets paired with a.
    let mut c = Client::authed(srv.addr, &uc);
    assert_eq!(
        c.request("JOIN_QUEUE", "j", json!({"mood": "silly", "mode": "random", "interests": ["cats"]}))["type"],
        "QUEUE_WAITING"
    );
    let fa = a.recv_type("MATCH_FOUND");
    let fc = c.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fc["payload"]["roomId"]);
    assert_eq!(fc["payload"]["partner"]["mood"], "fire");
    assert_eq!(fc["payload"]["partner"]["interests"], json!(["cats"]));
}

#[test]
fn next_outside_a_room_is_not_in_room() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    assert_error(&c.request("NEXT", "n", json!({})), "NOT_IN_ROOM");
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({"mood": "chill"}))["type"], "QUEUE_WAITING");
    assert_error(&c.request("NEXT", "n2", json!({})), "NOT_IN_ROOM");
    // Still waiting, exactly once.
    assert_eq!(c.request("LEAVE_QUEUE", "l", json!({}))["type"], "QUEUE_LEFT");
}

#[test]
fn leave_room_outside_a_room_is_not_in_room() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    assert_error(&c.request("LEAVE_ROOM", "l", json!({"roomId": "0000000000000001"})), "NOT_IN_ROOM");
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({"mood": "chill"}))["type"], "QUEUE_WAITING");
    assert_error(&c.request("LEAVE_ROOM", "l2", json!({"roomId": "0000000000000001"})), "NOT_IN_ROOM");
}

#[test]
fn partner_dropping_connection_ends_room_with_partner_left_disconnected() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::ZERO);
    let (mut a, b, room) = pair(srv.addr);
    drop(b); // abrupt: no close frame
    let pl = a.recv_type("PARTNER_LEFT");
    assert!(pl.get("id").is_none(), "{pl}");
    assert_eq!(pl["payload"], json!({"roomId": room, "reason": "disconnected"}));
    assert_error(&a.request("CHAT", "c", json!({"roomId": room, "text": "hello?"})), "NOT_IN_ROOM");
    assert_eq!(a.request("JOIN_QUEUE", "j", json!({"mood": "chill"}))["type"], "QUEUE_WAITING");
}

#[test]
fn partner_closing_socket_ends_room_with_partner_left_disconnected() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::ZERO);
    let (mut a, mut b, room) = pair(srv.addr);
    b.ws.close(None).unwrap();
    let pl = a.recv_type("PARTNER_LEFT");
    assert_eq!(pl["payload"], json!({"roomId": room, "reason": "disconnected"}));
}

#[test]
fn unicode_text_round_trips_exactly() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let texts = [
        "héllo wörld",
        "👋🏽 family: 👨‍👩‍👧‍👦 flag: 🇯🇵",
        "مرحبا بالعالم",
        "שלום עולם",
        "\u{202E}reversed\u{202C} and \u{200F}rtl mark",
        "e\u{301}\u{302}\u{323} a\u{30a} Z\u{351}\u{34b}\u{35b}",
        "日本語のテキスト、中文文本",
        "quotes \" backslash \\ slash / <tag> & amp",
        "zero\u{200B}width\u{FEFF}joiner",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
        "line one\nline two\ttabbed",
    ];
    for t in texts {
        chat_ok(&mut a, &room, t);
        let got = b.recv_type("CHAT");
        assert_eq!(got["payload"]["text"].as_str(), Some(t), "text must round-trip exactly");
    }
    // And the other way.
    for t in texts {
        chat_ok(&mut b, &room, t);
        assert_eq!(a.recv_type("CHAT")["payload"]["text"].as_str(), Some(t));
    }
}

#[test]
fn unicode_text_in_escaped_json_round_trips() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    // Surrogate-pair escapes as a client may send them.
    let raw = format!(
        r#"{{"type":"CHAT","id":"u","payload":{{"roomId":"{room}","text":"\ud83d\ude00 \u00e9\u0301"}}}}"#
    );
    a.send_msg(Message::text(raw));
    assert_eq!(a.recv_type("CHAT_ACK")["id"], "u");
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "😀 é\u{301}");
}

#[test]
fn concurrent_chat_from_both_sides_arrives_in_room_order() {
    const N: usize = 300;
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..N {
        for (c, who) in [(&mut a, "a"), (&mut b, "b")] {
            let m = json!({"type": "CHAT", "id": format!("{who}{i}"), "payload": {"roomId": room, "text": format!("{who}-{i}")}});
            c.ws.write(Message::text(m.to_string())).unwrap();
        }
        if i % 25 == 0 {
            a.ws.flush().unwrap();
            b.ws.flush().unwrap();
        }
    }
    a.ws.flush().unwrap();
    b.ws.flush().unwrap();

    let mut all_seqs = Vec::new();
    for (c, me, other) in [(&mut a, "a", "b"), (&mut b, "b", "a")] {
        let (mut acks, mut chats) = (0, 0);
        let mut last_seq = 0u64;
        let mut next_own = 0usize;
        let mut next_other = 0usize;
        while acks < N || chats < N {
            let m = c.recv();
            let seq = m["payload"]["seq"].as_u64().unwrap_or_else(|| panic!("{me}: unexpected {m}"));
            assert!(seq > last_seq, "{me}: seq {seq} arrived after {last_seq}: room order broken ({m})");
            last_seq = seq;
            all_seqs.push(seq);
            match m["type"].as_str() {
                Some("CHAT_ACK") => {
                    assert_eq!(m["id"], format!("{me}{next_own}"), "{me}: acks in send order");
                    next_own += 1;
                    acks += 1;
                }
                Some("CHAT") => {
                    assert_eq!(
                        m["payload"]["text"],
                        format!("{other}-{next_other}"),
                        "{me}: only the partner's messages, in order"
                    );
                    next_other += 1;
                    chats += 1;
                }
                _ => panic!("{me}: unexpected {m}"),
            }
            assert!(acks <= N && chats <= N, "{me}: too many messages");
        }
        c.expect_silence(Duration::from_millis(100));
    }
    // Each seq 1..=2N was seen exactly once per side (as an ack on one
    // side and as a CHAT on the other).
    all_seqs.sort_unstable();
    let expected: Vec<u64> = (1..=2 * N as u64).flat_map(|s| [s, s]).collect();
    assert_eq!(all_seqs, expected);
}
