//! Moderation (contract sections 2–5): `REPORT`, the never-again pair rule,
//! report transcripts, auto-bans, `DELETE /api/users/me`, and the
//! WebSocket `Origin` allow-list.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use serde_json::json;

const ADMIN: &str = "moderation-admin-token";
const SILENCE: Duration = Duration::from_millis(300);

/// Sends a valid report and checks the `REPORTED` reply; returns the report id.
#[track_caller]
fn report(c: &mut Client, room: &str, reason: &str) -> String {
    let r = c.request("REPORT", "rep", json!({"roomId": room, "reason": reason, "details": "test"}));
    assert_eq!(r["type"], "REPORTED", "{r}");
    r["payload"]["reportId"].as_str().expect("reportId is a string").to_string()
}

#[track_caller]
fn expect_partner_left(c: &mut Client, room: &str) {
    let left = c.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["roomId"], room, "{left}");
    assert_eq!(left["payload"]["reason"], "left", "a report reads as left: {left}");
    assert!(left.get("id").is_none(), "a push carries no id: {left}");
}

// ---------------------------------------------------------------- REPORT

#[test]
fn report_is_answered_reported_with_a_report_id_echoing_the_id() {
    let srv = start();
    let (mut a, _b, room) = pair(srv.addr);
    let r = a.request(
        "REPORT",
        "my-report-1",
        json!({"roomId": room, "reason": "spam", "details": "sells things"}),
    );
    assert_eq!(r["type"], "REPORTED", "{r}");
    assert_eq!(r["id"], "my-report-1");
    let id = r["payload"]["reportId"].as_str().expect("reportId is a string");
    assert!(!id.is_empty(), "reportId is not empty: {r}");
}

#[test]
fn report_ends_the_room_and_the_partner_gets_partner_left_left() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    report(&mut a, &room, "abuse");
    expect_partner_left(&mut b, &room);
    // The room is gone for both.
    let r = b.request("CHAT", "c", json!({"roomId": room, "text": "still there?"}));
    assert_error(&r, "NOT_IN_ROOM");
    let r = a.request("CHAT", "c", json!({"roomId": room, "text": "bye"}));
    assert_error(&r, "NOT_IN_ROOM");
    a.expect_silence(SILENCE);
}

#[test]
fn reporter_is_idle_after_the_report_and_can_join_the_queue() {
    let srv = start();
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    report(&mut a, &room, "other");
    expect_partner_left(&mut b, &room);
    for u in [&ua, &ub] {
        let me = http(srv.addr, "GET", "/api/users/me", Some(&u.token), None).json();
        assert_eq!(me["profile"]["status"], "idle", "{me}");
    }
    let w = join(&mut a, in_mood("chill"));
    assert_eq!(w["waiting"], 1, "{w}");
    // The reported user is idle too.
    let w = b.request("JOIN_QUEUE", "jb", json!({"mood": "fire", "interests": []}));
    assert_eq!(w["type"], "QUEUE_WAITING", "{w}");
}

#[test]
fn report_with_an_unknown_reason_is_bad_request() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for (i, reason) in [json!("rude"), json!(""), json!("SPAM"), json!(3)].into_iter().enumerate() {
        let r = a.request("REPORT", &format!("bad{i}"), json!({"roomId": room, "reason": reason}));
        assert_error(&r, "BAD_REQUEST");
    }
    // A refused report does not end the room.
    b.expect_silence(SILENCE);
    let ack = a.request("CHAT", "c", json!({"roomId": room, "text": "still here"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "still here");
}

#[test]
fn report_with_a_wrong_room_id_is_not_in_room() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let (_c, _d, other_room) = pair(srv.addr);
    for (i, wrong) in ["0000000000000000", "nope", other_room.as_str()].into_iter().enumerate() {
        let r = a.request("REPORT", &format!("w{i}"), json!({"roomId": wrong, "reason": "spam"}));
        assert_error(&r, "NOT_IN_ROOM");
    }
    b.expect_silence(SILENCE);
    // An idle user has no room to report either.
    let idle = register(srv.addr, json!({}));
    let mut i = Client::authed(srv.addr, &idle);
    let r = i.request("REPORT", "idle", json!({"roomId": room, "reason": "spam"}));
    assert_error(&r, "NOT_IN_ROOM");
}

#[test]
fn report_before_auth_is_unauthenticated() {
    let srv = start();
    let (_a, mut b, room) = pair(srv.addr);
    let mut c = Client::connect(srv.addr);
    let r = c.request("REPORT", "early", json!({"roomId": room, "reason": "spam"}));
    assert_error(&r, "UNAUTHENTICATED");
    b.expect_silence(SILENCE);
}

// ------------------------------------------------------- never re-paired

#[test]
fn reported_pair_is_never_matched_again_even_with_zero_cooldown() {
    let srv = start_with(|c| c.rematch_cooldown_secs = Duration::ZERO);
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    report(&mut a, &room, "spam");
    expect_partner_left(&mut b, &room);

    // Both rejoin alone: they wait side by side and are not paired.
    assert_eq!(join(&mut a, in_mood("chill"))["waiting"], 1);
    assert_eq!(join(&mut b, in_mood("chill"))["waiting"], 2, "both wait in the same queue");
    a.expect_silence(SILENCE);
    b.expect_silence(SILENCE);

    // A third user pairs with the longer waiter (a), a fourth with b.
    let mut c = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut c, in_mood("chill"));
    let fc = c.recv_type("MATCH_FOUND");
    let fa = a.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fc["payload"]["roomId"]);
    b.expect_silence(SILENCE);
    let mut d = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut d, in_mood("chill"));
    let fd = d.recv_type("MATCH_FOUND");
    let fb = b.recv_type("MATCH_FOUND");
    assert_eq!(fb["payload"]["roomId"], fd["payload"]["roomId"]);
    assert_ne!(fb["payload"]["roomId"], fa["payload"]["roomId"]);
}

#[test]
fn unreported_pair_with_zero_cooldown_is_paired_again() {
    let srv = start_with(|c| c.rematch_cooldown_secs = Duration::ZERO);
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    let r = a.request("LEAVE_ROOM", "l", json!({"roomId": room}));
    assert_eq!(r["type"], "ROOM_LEFT", "{r}");
    assert_eq!(b.recv_type("PARTNER_LEFT")["payload"]["reason"], "left");
    join(&mut a, in_mood("chill"));
    join(&mut b, in_mood("chill"));
    let fa = a.recv_type("MATCH_FOUND");
    let fb = b.recv_type("MATCH_FOUND");
    assert_eq!(fa["payload"]["roomId"], fb["payload"]["roomId"]);
    assert_ne!(fa["payload"]["roomId"], room.as_str(), "a new room");
}

// ------------------------------------------------------------ transcript

#[test]
fn report_transcript_keeps_the_last_20_messages_in_room_order() {
    let srv = start_with(|c| c.admin_token = Some(ADMIN.into()));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    // 25 messages, both directions, irregular turns; `sent[i]` = (from a?, text).
    let mut sent = Vec::new();
    for i in 0..25u64 {
        let from_a = i % 3 != 0;
        let text = format!("message {i} from {}", if from_a { "a" } else { "b" });
        let (tx, rx) = if from_a { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let ack = tx.request("CHAT", &format!("m{i}"), json!({"roomId": room, "text": text}));
        assert_eq!(ack["payload"]["seq"], i + 1, "{ack}");
        assert_eq!(rx.recv_type("CHAT")["payload"]["text"], text.as_str());
        sent.push((from_a, text));
    }
    let before = now_ms();
    let report_id = report(&mut a, &room, "inappropriate");
    expect_partner_left(&mut b, &room);

    let list = http(srv.addr, "GET", "/api/admin/reports", Some(ADMIN), None);
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let reports = list.json()["reports"].as_array().expect("reports array").clone();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["reportId"], report_id.as_str());
    assert_eq!(r["roomId"], room.as_str());
    assert_eq!(r["reporterId"], ua.id.as_str());
    assert_eq!(r["reportedId"], ub.id.as_str());
    assert_eq!(r["reason"], "inappropriate");
    let transcript = r["transcript"].as_array().expect("transcript array");
    assert_eq!(transcript.len(), 20, "the last 20 messages: {transcript:?}");
    let mut last_at = 0;
    for (line, (from_a, text)) in transcript.iter().zip(&sent[5..]) {
        assert_eq!(line["text"], text.as_str(), "room order, oldest first: {transcript:?}");
        let from = if *from_a { "reporter" } else { "reported" };
        assert_eq!(line["from"], from, "{line}");
        let at = line["sentAt"].as_u64().expect("sentAt ms");
        assert!(at >= last_at && at <= before + 1000, "sentAt in order and in the past: {line}");
        last_at = at;
    }
}

// --------------------------------------------------------------- auto-ban

/// A server whose auto-ban needs two reporters and counts identities of
/// any age (the distinct-address and age rules: `hardening_moderation.rs`).
fn auto_ban_server() -> TestServer {
    start_with(|c| {
        c.auto_ban_reports = 2;
        c.auto_ban_min_age_secs = Duration::ZERO;
    })
}

/// x is reported by r1 in one room, then by r2 in another, each from an
/// address of its own. Returns x's user and socket; r2's `REPORTED` has
/// been read, nothing of x's.
fn reported_by_two(srv: &TestServer) -> (User, Client, String) {
    let addr = srv.addr;
    let (x, r1, r2) = (register(addr, json!({})), register(addr, json!({})), register(addr, json!({})));
    let mut c1 = Client::authed_from(addr, &r1, Ipv4Addr::new(127, 0, 0, 2));
    let mut cx = Client::authed(addr, &x);
    join(&mut c1, in_mood("chill"));
    join(&mut cx, in_mood("chill"));
    let room1 = cx.recv_type("MATCH_FOUND")["payload"]["roomId"].as_str().unwrap().to_string();
    assert_eq!(c1.recv_type("MATCH_FOUND")["payload"]["roomId"], room1.as_str());
    report(&mut c1, &room1, "abuse");
    expect_partner_left(&mut cx, &room1);
    // One reporter is not enough: x goes on.
    join(&mut cx, in_mood("chill"));
    let mut c2 = Client::authed_from(addr, &r2, Ipv4Addr::new(127, 0, 0, 3));
    join(&mut c2, in_mood("chill"));
    let room2 = cx.recv_type("MATCH_FOUND")["payload"]["roomId"].as_str().unwrap().to_string();
    assert_eq!(c2.recv_type("MATCH_FOUND")["payload"]["roomId"], room2.as_str());
    report(&mut c2, &room2, "spam");
    (x, cx, room2)
}

#[test]
fn auto_ban_after_reports_from_distinct_users_ends_the_session_with_4403() {
    let srv = auto_ban_server();
    let (_x, mut cx, room2) = reported_by_two(&srv);
    let (code, before) = cx.expect_close();
    assert_eq!(code, 4403, "banned close code; before: {before:?}");
    let types: Vec<&str> = before.iter().map(|m| m["type"].as_str().unwrap_or("?")).collect();
    assert_eq!(types, ["PARTNER_LEFT", "SESSION_ENDED"], "{before:?}");
    assert_eq!(before[0]["payload"]["roomId"], room2.as_str());
    assert_eq!(before[0]["payload"]["reason"], "left");
    assert_eq!(before[1]["payload"]["reason"], "banned");
}

#[test]
fn auto_banned_user_auth_gets_auth_error_banned_with_until_and_4403() {
    let srv = auto_ban_server();
    let (x, mut cx, _) = reported_by_two(&srv);
    assert_eq!(cx.expect_close().0, 4403);
    let mut again = Client::connect(srv.addr);
    again.send(json!({"type": "AUTH", "id": "a", "payload": {"token": x.token}}));
    let err = again.recv_type("AUTH_ERROR");
    assert_eq!(err["id"], "a");
    assert_eq!(err["payload"]["code"], "BANNED", "{err}");
    let until = err["payload"]["until"].as_u64().expect("until is a number of ms");
    let now = now_ms();
    assert!(until > now, "until is in the future: {until} vs {now}");
    assert!(until <= now + 24 * 3600 * 1000 + 60_000, "an auto-ban lasts 24 h: {until}");
    assert_eq!(again.expect_close().0, 4403);
}

#[test]
fn auto_banned_user_register_or_update_is_403() {
    let srv = auto_ban_server();
    let (x, mut cx, _) = reported_by_two(&srv);
    assert_eq!(cx.expect_close().0, 4403);
    let body = json!({"nickname": "Back Again"});
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&x.token), Some(&body));
    assert_http_error(&r, 403, "BANNED");
}

#[test]
fn reports_by_the_same_user_do_not_auto_ban() {
    let srv = start_with(|c| {
        c.auto_ban_reports = 2;
        c.rematch_cooldown_secs = Duration::ZERO;
    });
    let (x, r1) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut c1, mut cx, room) = pair_users(srv.addr, &r1, &x);
    // The same reporter reports twice back to back: the room ended with
    // the first, so the second cannot count.
    c1.send(json!({"type": "REPORT", "id": "r1", "payload": {"roomId": room, "reason": "spam"}}));
    c1.send(json!({"type": "REPORT", "id": "r2", "payload": {"roomId": room, "reason": "abuse"}}));
    let first = c1.recv();
    assert_eq!((first["type"].as_str(), first["id"].as_str()), (Some("REPORTED"), Some("r1")), "{first}");
    let second = c1.recv();
    assert_eq!(second["id"], "r2");
    assert_error(&second, "NOT_IN_ROOM");
    expect_partner_left(&mut cx, &room);
    // The pair is never matched again, so r1 cannot report x a second time
    // in another room either.
    join(&mut c1, in_mood("chill"));
    join(&mut cx, in_mood("chill"));
    cx.expect_silence(SILENCE);
    // x is not banned: the socket lives and x can sign in and update.
    assert_eq!(cx.request("PING", "p", json!({}))["type"], "PONG");
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&x.token), Some(&json!({})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut fresh = Client::connect(srv.addr);
    fresh.send(json!({"type": "AUTH", "id": "a", "payload": {"token": x.token}}));
    assert_eq!(fresh.recv_type("AUTH_OK")["id"], "a");
}

#[test]
fn auto_ban_reports_zero_disables_auto_bans() {
    let srv = start_with(|c| c.auto_ban_reports = 0);
    let (x, mut cx, room2) = reported_by_two(&srv);
    expect_partner_left(&mut cx, &room2);
    cx.expect_silence(SILENCE);
    assert_eq!(cx.request("PING", "p", json!({}))["type"], "PONG");
    let r = http(srv.addr, "GET", "/api/users/me", Some(&x.token), None);
    assert_eq!(r.status, 200);
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&x.token), Some(&json!({})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // x can still be matched.
    join(&mut cx, in_mood("chill"));
    let mut other = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut other, in_mood("chill"));
    cx.recv_type("MATCH_FOUND");
    other.recv_type("MATCH_FOUND");
}

// ------------------------------------------------------ DELETE /users/me

#[test]
fn delete_me_is_204_and_the_token_stops_working() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Soon Gone"}));
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&u.token), None);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty(), "204 has no body");
    let r = http(srv.addr, "GET", "/api/users/me", Some(&u.token), None);
    assert_http_error(&r, 401, "INVALID_TOKEN");
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&json!({})));
    assert_http_error(&r, 401, "INVALID_TOKEN");
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&u.token), None);
    assert_eq!(r.status, 401, "a second delete: the token is unknown");
    let mut c = Client::connect(srv.addr);
    c.send(json!({"type": "AUTH", "id": "a", "payload": {"token": u.token}}));
    assert_eq!(c.recv_type("AUTH_ERROR")["payload"]["code"], "INVALID_TOKEN");
    assert_eq!(c.expect_close().0, 4401);
}

#[test]
fn delete_me_ends_an_open_socket_with_session_ended_deleted_and_1000() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&u.token), None);
    assert_eq!(r.status, 204);
    let (code, before) = c.expect_close();
    assert_eq!(code, 1000, "before: {before:?}");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "SESSION_ENDED");
    assert_eq!(before[0]["payload"]["reason"], "deleted");
}

#[test]
fn delete_me_in_a_room_ends_it_for_the_partner_with_partner_left_left() {
    let srv = start();
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&ua.token), None);
    assert_eq!(r.status, 204);
    expect_partner_left(&mut b, &room);
    let (code, before) = a.expect_close();
    assert_eq!(code, 1000);
    assert_eq!(before.last().expect("SESSION_ENDED")["payload"]["reason"], "deleted", "{before:?}");
    assert!(before.iter().all(|m| m["type"] != "PARTNER_LEFT"), "the leaver is not told: {before:?}");
    // The partner is idle and can queue again.
    join(&mut b, in_mood("chill"));
}

#[test]
fn delete_me_while_away_in_resume_grace_ends_the_room_for_the_partner() {
    let srv = start_with(|c| c.resume_grace_secs = Duration::from_secs(30));
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    drop(a);
    assert_eq!(b.recv_type("PARTNER_AWAY")["payload"]["roomId"], room.as_str());
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&ua.token), None);
    assert_eq!(r.status, 204);
    expect_partner_left(&mut b, &room);
    b.expect_silence(SILENCE);
    join(&mut b, in_mood("chill"));
}

#[test]
fn delete_me_while_waiting_takes_the_user_out_of_the_queue() {
    let srv = start();
    let ua = register(srv.addr, json!({}));
    let mut a = Client::authed(srv.addr, &ua);
    join(&mut a, in_mood("chill"));
    let r = http(srv.addr, "DELETE", "/api/users/me", Some(&ua.token), None);
    assert_eq!(r.status, 204);
    let (code, before) = a.expect_close();
    assert_eq!(code, 1000);
    assert_eq!(before.last().expect("SESSION_ENDED")["type"], "SESSION_ENDED", "{before:?}");
    assert_eq!(before.last().unwrap()["payload"]["reason"], "deleted");
    assert!(before.iter().all(|m| m["type"] != "MATCH_FOUND"), "{before:?}");
    let mut b = Client::authed(srv.addr, &register(srv.addr, json!({})));
    let w = join(&mut b, in_mood("chill"));
    assert_eq!(w["waiting"], 1, "the deleted user no longer waits: {w}");
    b.expect_silence(SILENCE);
}

#[test]
fn delete_me_without_a_token_is_401() {
    let srv = start();
    let r = http(srv.addr, "DELETE", "/api/users/me", None, None);
    assert_http_error(&r, 401, "UNAUTHENTICATED");
    let r = http(srv.addr, "DELETE", "/api/users/me", Some("not-a-real-token"), None);
    assert_http_error(&r, 401, "INVALID_TOKEN");
}

// ----------------------------------------------------------------- Origin

fn upgrade(addr: std::net::SocketAddr, origin: Option<&str>) -> HttpResponse {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    raw_http(addr, raw::upgrade_request(addr, &origin).as_bytes())
}

fn with_allowed_origin() -> TestServer {
    start_with(|c| c.allowed_origins = vec!["https://ok.example".into()])
}

#[test]
fn upgrade_with_a_disallowed_origin_is_403() {
    let srv = with_allowed_origin();
    let r = upgrade(srv.addr, Some("https://evil.example"));
    assert_eq!(r.status, 403, "{}", r.head);
    let r = upgrade(srv.addr, Some("https://ok.example.evil.example"));
    assert_eq!(r.status, 403, "exact match only: {}", r.head);
}

#[test]
fn upgrade_with_the_allowed_origin_is_101() {
    let srv = with_allowed_origin();
    let r = upgrade(srv.addr, Some("https://ok.example"));
    assert_eq!(r.status, 101, "{}", r.head);
    assert_eq!(r.header("Sec-WebSocket-Accept").as_deref(), Some(raw::ACCEPT));
}

#[test]
fn upgrade_without_an_origin_is_101() {
    let srv = with_allowed_origin();
    let r = upgrade(srv.addr, None);
    assert_eq!(r.status, 101, "{}", r.head);
}
