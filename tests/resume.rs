//! Resume after a drop (contract section 5): the room waits
//! `resume-grace-secs`, keeps the partner's messages, and a new `AUTH`
//! with `lastSeq` gets exactly the missed `CHAT`s, in order.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn dropped_user_resumes_and_gets_missed_messages_exactly_once_in_order() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::from_secs(5));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    a.request("CHAT", "1", json!({"roomId": room, "text": "seen"}));
    assert_eq!(b.recv_type("CHAT")["payload"]["seq"], 1);
    drop(b);
    assert_eq!(a.recv_type("PARTNER_AWAY")["payload"]["roomId"], room);
    for (i, text) in ["missed one", "missed two"].iter().enumerate() {
        let ack = a.request("CHAT", &format!("m{i}"), json!({"roomId": room, "text": text}));
        assert_eq!(ack["payload"]["seq"], i as u64 + 2);
    }
    let mut b = Client::connect(srv.addr);
    b.send(json!({"type":"AUTH","id":"r","payload":{"token": ub.token, "lastSeq": 1}}));
    let ok = b.recv_type("AUTH_OK");
    assert_eq!(ok["payload"]["room"]["roomId"], room);
    assert_eq!(ok["payload"]["room"]["lastSeq"], 3);
    assert!(ok["payload"]["room"]["partner"].get("userId").is_none());
    let first = b.recv_type("CHAT");
    let second = b.recv_type("CHAT");
    assert_eq!(
        (first["payload"]["seq"].as_u64(), first["payload"]["text"].as_str()),
        (Some(2), Some("missed one"))
    );
    assert_eq!(
        (second["payload"]["seq"].as_u64(), second["payload"]["text"].as_str()),
        (Some(3), Some("missed two"))
    );
    assert_eq!(a.recv_type("PARTNER_BACK")["payload"]["roomId"], room);
    b.expect_silence(Duration::from_millis(200));
    // The room goes on after the resume.
    assert_eq!(b.request("CHAT", "x", json!({"roomId": room, "text": "back"}))["payload"]["seq"], 4);
    assert_eq!(a.recv_type("CHAT")["payload"]["text"], "back");
}

#[test]
fn grace_expiry_ends_the_room_with_partner_left_disconnected() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::from_millis(300));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, b, room) = pair_users(srv.addr, &ua, &ub);
    drop(b);
    assert_eq!(a.recv_type("PARTNER_AWAY")["payload"]["roomId"], room);
    let left = a.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["reason"], "disconnected");
    // Too late: the returning user gets no room.
    let mut b = Client::authed(srv.addr, &ub);
    b.expect_silence(Duration::from_millis(100));
    let me = http(srv.addr, "GET", "/api/users/me", Some(&ub.token), None).json();
    assert_eq!(me["profile"]["status"], "idle");
    assert_eq!(
        a.request("CHAT", "c", json!({"roomId": room, "text": "x"}))["payload"]["code"],
        "NOT_IN_ROOM"
    );
}

#[test]
fn zero_grace_ends_the_room_at_once() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::ZERO);
    let (mut a, b, room) = pair(srv.addr);
    drop(b);
    let left = a.recv_type("PARTNER_LEFT");
    assert_eq!(
        (left["payload"]["roomId"].as_str(), left["payload"]["reason"].as_str()),
        (Some(room.as_str()), Some("disconnected"))
    );
}

#[test]
fn a_second_drop_gets_a_full_grace_of_its_own() {
    let grace = Duration::from_millis(600);
    let srv = start_with(|c| c.resume_grace_secs = grace);
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, b, room) = pair_users(srv.addr, &ua, &ub);
    drop(b);
    a.recv_type("PARTNER_AWAY");
    let b = Client::authed(srv.addr, &ub);
    a.recv_type("PARTNER_BACK");
    // Half the grace passes, then the second drop.
    a.expect_silence(grace / 2);
    drop(b);
    a.recv_type("PARTNER_AWAY");
    // The first drop's grace ends inside this window; it must not end the room.
    a.expect_silence(grace / 2 + Duration::from_millis(100));
    assert_eq!(a.recv_type("PARTNER_LEFT")["payload"]["reason"], "disconnected");
    let _ = room;
}

/// Section 7 "the partner always ends up seeing the latest state": a user
/// who resumes while the partner is typing is told so after the replay
/// (the new socket starts from "not typing"). It used to count the state
/// as shown on the socket that dropped, so the returning user never saw it.
#[test]
fn a_user_who_resumes_sees_that_the_partner_is_typing() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::from_secs(5));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    assert_eq!(a.request("TYPING", "t", json!({"roomId": room, "isTyping": true}))["type"], "TYPING_ACK");
    assert_eq!(b.recv_type("TYPING")["payload"]["isTyping"], true);
    drop(b);
    assert_eq!(a.recv_type("PARTNER_AWAY")["payload"]["roomId"], room);
    let mut b = Client::authed(srv.addr, &ub);
    let typing = b.recv_type("TYPING");
    assert_eq!(
        (typing["payload"]["roomId"].as_str(), typing["payload"]["isTyping"].as_bool()),
        (Some(room.as_str()), Some(true))
    );
    b.expect_silence(Duration::from_millis(100));
}
