//! WebSocket authentication and the envelope rules (contract section 3):
//! `AUTH`/`AUTH_OK`/`AUTH_ERROR`, the auth timeout, what an unauthenticated
//! socket may do, `id` echo rules, and superseding a session.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tungstenite::Message;

/// Sends one AUTH with this payload and asserts AUTH_ERROR INVALID_TOKEN
/// (echoing the id) followed by close 4401.
#[track_caller]
fn assert_auth_rejected(addr: std::net::SocketAddr, payload: Value) {
    let mut c = Client::connect(addr);
    c.send(json!({"type": "AUTH", "id": "a1", "payload": payload}));
    let (code, before) = c.expect_close();
    assert_eq!(before.len(), 1, "exactly one AUTH_ERROR before the close: {before:?}");
    let e = &before[0];
    assert_eq!(e["type"], "AUTH_ERROR", "{e}");
    assert_eq!(e["id"], "a1", "AUTH_ERROR is the reply to AUTH and echoes its id: {e}");
    assert_eq!(e["payload"]["code"], "INVALID_TOKEN", "{e}");
    assert!(e["payload"]["message"].is_string(), "{e}");
    assert_eq!(code, 4401, "a bad AUTH closes with 4401");
}

/// Whether `needle` occurs anywhere in `v` (keys or string values).
fn json_contains(v: &Value, needle: &str) -> bool {
    v.to_string().contains(needle)
}

#[test]
fn auth_ok_carries_user_id_and_profile_with_status_and_no_room() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Ann", "mood": "shy", "interests": ["cats"]}));
    let mut c = Client::connect(srv.addr);
    let ok = c.request("AUTH", "hello-1", json!({"token": u.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    let p = &ok["payload"];
    assert_eq!(p["userId"], u.id.as_str());
    assert_eq!(p["profile"]["userId"], u.id.as_str());
    assert_eq!(p["profile"]["nickname"], "Ann");
    assert_eq!(p["profile"]["mood"], "shy");
    assert_eq!(p["profile"]["interests"], json!(["cats"]));
    assert!(p["profile"]["avatar"].is_string(), "{ok}");
    assert!(p["profile"]["createdAt"].is_u64(), "{ok}");
    assert!(p["profile"]["lastSeenAt"].is_u64(), "{ok}");
    let status = p["profile"]["status"].as_str().expect("profile.status is a string");
    assert!(["offline", "idle", "in_queue", "in_room"].contains(&status), "status {status:?}");
    assert_eq!(status, "idle", "a freshly authenticated user is idle");
    assert!(p.get("room").is_none_or(Value::is_null), "no room when not resuming: {ok}");
    // The socket is usable afterwards.
    assert_eq!(c.request("PING", "p", json!({}))["type"], "PONG");
}

#[test]
fn auth_reply_without_id_has_no_id() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::connect(srv.addr);
    c.send(json!({"type": "AUTH", "payload": {"token": u.token}}));
    let ok = c.recv_type("AUTH_OK");
    assert!(ok.get("id").is_none(), "no id sent, none echoed: {ok}");
}

#[test]
fn auth_with_unknown_token_gets_auth_error_invalid_token_and_close_4401() {
    let srv = start();
    assert_auth_rejected(srv.addr, json!({"token": "not-a-real-token-AAAAAAAAAAAAAAAAAAAA"}));
}

#[test]
fn auth_without_token_is_answered_like_a_bad_token() {
    let srv = start();
    assert_auth_rejected(srv.addr, json!({}));
}

#[test]
fn auth_with_empty_token_is_answered_like_a_bad_token() {
    let srv = start();
    assert_auth_rejected(srv.addr, json!({"token": ""}));
}

#[test]
fn auth_with_non_string_token_is_answered_like_a_bad_token() {
    let srv = start();
    assert_auth_rejected(srv.addr, json!({"token": 12345}));
    assert_auth_rejected(srv.addr, json!({"token": null}));
    assert_auth_rejected(srv.addr, json!({"token": ["x"]}));
}

#[test]
fn socket_that_never_authenticates_is_closed_4401_after_auth_timeout() {
    let srv = start_with(|c| c.auth_timeout_secs = Duration::from_millis(300));
    let mut c = Client::connect(srv.addr);
    let (code, _before) = c.expect_close();
    assert_eq!(code, 4401, "auth timeout closes with 4401");
}

#[test]
fn ping_does_not_count_as_auth_for_the_auth_timeout() {
    let srv = start_with(|c| c.auth_timeout_secs = Duration::from_millis(300));
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.request("PING", "p", json!({}))["type"], "PONG");
    let (code, before) = c.expect_close();
    assert_eq!(code, 4401, "still closed for not authenticating; before: {before:?}");
}

#[test]
fn auth_timeout_does_not_close_an_authenticated_socket() {
    let srv = start_with(|c| c.auth_timeout_secs = Duration::from_millis(150));
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    c.expect_silence(Duration::from_millis(300));
    assert_eq!(c.request("PING", "p", json!({}))["type"], "PONG");
}

#[test]
fn every_type_but_auth_and_ping_is_unauthenticated_before_auth() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    let cases = [
        ("JOIN_QUEUE", json!({"mood": "chill"})),
        ("LEAVE_QUEUE", json!({})),
        ("CHAT", json!({"roomId": "r", "text": "hi"})),
        ("TYPING", json!({"roomId": "r", "isTyping": true})),
        ("LEAVE_ROOM", json!({"roomId": "r"})),
        ("NEXT", json!({})),
    ];
    for (i, (ty, payload)) in cases.into_iter().enumerate() {
        let id = format!("u{i}");
        let r = c.request(ty, &id, payload);
        assert_error(&r, "UNAUTHENTICATED");
    }
    // The socket stays open and can still authenticate.
    let u = register(srv.addr, json!({}));
    let ok = c.request("AUTH", "a", json!({"token": u.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
}

#[test]
fn ping_before_auth_gets_pong_with_server_time() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let r = c.request("PING", "p1", json!({}));
    assert_eq!(r["type"], "PONG", "{r}");
    let t = r["payload"]["serverTime"].as_u64().expect("serverTime is a number of ms");
    assert!(t.abs_diff(now) < 60_000, "serverTime {t} should be ms since the epoch (now ≈ {now})");
}

#[test]
fn ping_without_payload_gets_pong() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    c.send(json!({"type": "PING", "id": "p"}));
    let r = c.recv_type("PONG");
    assert_eq!(r["id"], "p");
    assert!(r["payload"].is_object(), "server messages always carry a payload object: {r}");
}

#[test]
fn second_auth_on_authenticated_socket_is_bad_request() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    let r = c.request("AUTH", "again", json!({"token": u.token}));
    assert_error(&r, "BAD_REQUEST");
    // Still authenticated and usable.
    let r = c.request("LEAVE_QUEUE", "lq", json!({}));
    assert_error(&r, "NOT_IN_QUEUE");
}

#[test]
fn malformed_json_is_bad_request_without_id() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    c.send_msg(Message::text(r#"{"type":"PING","id":"x1","payload":{"#));
    let r = c.recv();
    assert_error(&r, "BAD_REQUEST");
    assert!(r.get("id").is_none(), "no id can be echoed from malformed JSON: {r}");
    assert!(r["payload"].is_object());
    c.send_msg(Message::text("not json at all"));
    let r = c.recv();
    assert_error(&r, "BAD_REQUEST");
    assert!(r.get("id").is_none(), "{r}");
    // The socket stays usable.
    assert_eq!(c.request("PING", "p", json!({}))["type"], "PONG");
}

#[test]
fn malformed_json_before_auth_is_bad_request_without_id() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    c.send_msg(Message::text("{{{"));
    let r = c.recv();
    assert_error(&r, "BAD_REQUEST");
    assert!(r.get("id").is_none(), "{r}");
}

#[test]
fn unknown_type_is_bad_request_echoing_id() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    let r = c.request("DANCE", "d1", json!({}));
    assert_error(&r, "BAD_REQUEST");
    let r = c.request("ping", "d2", json!({}));
    assert_error(&r, "BAD_REQUEST");
}

#[test]
fn non_string_id_is_bad_request_without_id() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    for id in [json!(7), json!(true), json!({"a": 1}), json!(["x"])] {
        c.send(json!({"type": "PING", "id": id, "payload": {}}));
        let r = c.recv();
        assert_error(&r, "BAD_REQUEST");
        assert!(r.get("id").is_none(), "a non-string id is not echoed: {r}");
    }
}

#[test]
fn id_longer_than_64_chars_is_bad_request_without_id() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    let long = "x".repeat(65);
    c.send(json!({"type": "PING", "id": long, "payload": {}}));
    let r = c.recv();
    assert_error(&r, "BAD_REQUEST");
    assert!(r.get("id").is_none(), "an over-long id is not echoed: {r}");
}

#[test]
fn id_of_exactly_64_chars_is_echoed_counting_characters_not_bytes() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    let ascii = "y".repeat(64);
    assert_eq!(c.request("PING", &ascii, json!({}))["type"], "PONG");
    // 64 characters, 128 bytes.
    let wide = "é".repeat(64);
    assert_eq!(c.request("PING", &wide, json!({}))["type"], "PONG");
}

#[test]
fn superseding_socket_ends_old_one_with_session_ended_and_close_4409() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut old = Client::authed(srv.addr, &u);
    let mut new = Client::connect(srv.addr);
    let ok = new.request("AUTH", "a2", json!({"token": u.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    assert_eq!(ok["payload"]["userId"], u.id.as_str());
    let (code, before) = old.expect_close();
    assert_eq!(before.len(), 1, "only SESSION_ENDED before the close: {before:?}");
    assert_eq!(before[0]["type"], "SESSION_ENDED", "{before:?}");
    assert_eq!(before[0]["payload"]["reason"], "superseded");
    assert!(before[0].get("id").is_none(), "a push carries no id: {before:?}");
    assert_eq!(code, 4409);
    // The new socket keeps working.
    assert_eq!(new.request("PING", "p", json!({}))["type"], "PONG");
}

#[test]
fn superseding_socket_takes_over_the_queue_place() {
    let srv = start();
    let a = register(srv.addr, json!({}));
    let b = register(srv.addr, json!({}));
    let mut old = Client::authed(srv.addr, &a);
    let w = old.request("JOIN_QUEUE", "q", json!({"mood": "fire", "interests": []}));
    assert_eq!(w["type"], "QUEUE_WAITING", "{w}");

    let mut new = Client::connect(srv.addr);
    let ok = new.request("AUTH", "a2", json!({"token": a.token}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    assert_eq!(ok["payload"]["profile"]["status"], "in_queue", "the queue place was kept: {ok}");
    let (code, before) = old.expect_close();
    assert_eq!(code, 4409, "{before:?}");
    assert_eq!(before[0]["payload"]["reason"], "superseded", "{before:?}");

    // Still in the queue: a second JOIN_QUEUE is refused.
    let r = new.request("JOIN_QUEUE", "q2", json!({"mood": "fire", "interests": []}));
    assert_error(&r, "ALREADY_IN_QUEUE");

    let mut cb = Client::authed(srv.addr, &b);
    let w = cb.request("JOIN_QUEUE", "q", json!({"mood": "fire", "interests": []}));
    assert_eq!(w["type"], "QUEUE_WAITING", "{w}");
    let fa = new.recv_type("MATCH_FOUND");
    let fb = cb.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"]);
    let room = fa["payload"]["roomId"].as_str().unwrap().to_string();
    // And the room works on the new socket.
    assert_eq!(new.request("CHAT", "c", json!({"roomId": room, "text": "hey"}))["type"], "CHAT_ACK");
    assert_eq!(cb.recv_type("CHAT")["payload"]["text"], "hey");
}

#[test]
fn superseding_socket_takes_over_the_room_and_partner_is_not_told() {
    let srv = start();
    let a = register(srv.addr, json!({"nickname": "Ann"}));
    let b = register(srv.addr, json!({"nickname": "Bob", "avatar": "otter", "interests": ["chess"]}));
    let mut ca = Client::authed(srv.addr, &a);
    let mut cb = Client::authed(srv.addr, &b);
    let payload = json!({"mood": "silly", "interests": []});
    assert_eq!(ca.request("JOIN_QUEUE", "q", payload.clone())["type"], "QUEUE_WAITING");
    assert_eq!(cb.request("JOIN_QUEUE", "q", payload)["type"], "QUEUE_WAITING");
    let found = ca.recv_type("MATCH_FOUND");
    cb.recv_type("MATCH_FOUND");
    let room = found["payload"]["roomId"].as_str().unwrap().to_string();

    // One message so the room has a seq to report.
    let ack = cb.request("CHAT", "c1", json!({"roomId": room, "text": "first"}));
    assert_eq!(ack["payload"]["seq"], 1, "{ack}");
    assert_eq!(ca.recv_type("CHAT")["payload"]["seq"], 1);

    // lastSeq 1: seq 1 was already seen, so nothing is replayed.
    let mut new = Client::connect(srv.addr);
    let ok = new.request("AUTH", "a2", json!({"token": a.token, "lastSeq": 1}));
    assert_eq!(ok["type"], "AUTH_OK", "{ok}");
    let r = &ok["payload"]["room"];
    assert_eq!(r["roomId"], room.as_str(), "AUTH_OK carries the room: {ok}");
    assert_eq!(r["mood"], "silly", "{ok}");
    assert_eq!(r["lastSeq"], 1, "{ok}");
    assert_eq!(r["partner"], found["payload"]["partner"], "partner as in MATCH_FOUND: {ok}");
    assert_eq!(r["partner"]["nickname"], "Bob");
    assert_eq!(r["partner"]["avatar"], "otter");
    assert_eq!(r["partner"]["mood"], "silly");
    assert_eq!(r["partner"]["interests"], json!([]), "interests as queued");
    assert!(!json_contains(&ok, &b.id), "the partner's user id is never sent: {ok}");
    assert_eq!(ok["payload"]["profile"]["status"], "in_room", "{ok}");

    let (code, before) = ca.expect_close();
    assert_eq!(code, 4409, "{before:?}");
    assert_eq!(before.last().unwrap()["type"], "SESSION_ENDED", "{before:?}");

    // CHAT works from the new socket, both ways, and seq continues.
    let ack = new.request("CHAT", "c2", json!({"roomId": room, "text": "still here"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    assert_eq!(ack["payload"]["seq"], 2);
    // The partner's next message is that CHAT: no PARTNER_AWAY/BACK/LEFT.
    let got = cb.recv_type("CHAT");
    assert_eq!(got["payload"]["text"], "still here");
    assert_eq!(got["payload"]["seq"], 2);
    let ack = cb.request("CHAT", "c3", json!({"roomId": room, "text": "hi again"}));
    assert_eq!(ack["payload"]["seq"], 3);
    assert_eq!(new.recv_type("CHAT")["payload"]["text"], "hi again");
    cb.expect_silence(Duration::from_millis(250));
}

#[test]
fn superseded_room_partner_gets_nothing_at_all() {
    let srv = start();
    let a = register(srv.addr, json!({}));
    let b = register(srv.addr, json!({}));
    let (ca, mut cb, _room) = pair_users(srv.addr, &a, &b);
    let mut new = Client::connect(srv.addr);
    assert_eq!(new.request("AUTH", "a2", json!({"token": a.token}))["type"], "AUTH_OK");
    drop(ca);
    cb.expect_silence(Duration::from_millis(300));
}
