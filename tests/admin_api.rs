//! The admin API (`/api/admin/*`, contract section 2) and `GET /metrics`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const ADMIN: &str = "admin-secret-token";
const SILENCE: Duration = Duration::from_millis(300);
const MOODS: [&str; 5] = ["chill", "fire", "silly", "shy", "random"];

fn start_admin() -> TestServer {
    start_with(|c| c.admin_token = Some(ADMIN.into()))
}

fn body_text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).to_string()
}

#[track_caller]
fn admin(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
    http(addr, method, path, Some(ADMIN), body)
}

#[track_caller]
fn stats(addr: SocketAddr) -> Value {
    let r = admin(addr, "GET", "/api/admin/stats", None);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    r.json()
}

#[track_caller]
fn ban(addr: SocketAddr, user: &User, minutes: u64) -> Value {
    let body = json!({"userId": user.id, "minutes": minutes, "reason": "test ban"});
    let r = admin(addr, "POST", "/api/admin/bans", Some(&body));
    assert_eq!(r.status, 200, "{}", body_text(&r));
    r.json()
}

/// Reads the close and checks it is `SESSION_ENDED {reason:"banned"}` + 4403;
/// returns what came before.
#[track_caller]
fn expect_banned_close(c: &mut Client) -> Vec<Value> {
    let (code, before) = c.expect_close();
    assert_eq!(code, 4403, "before: {before:?}");
    let last = before.last().expect("SESSION_ENDED before the close");
    assert_eq!(last["type"], "SESSION_ENDED", "{before:?}");
    assert_eq!(last["payload"]["reason"], "banned", "{before:?}");
    before
}

// ------------------------------------------------------------ access rules

const ADMIN_REQUESTS: [(&str, &str); 6] = [
    ("GET", "/api/admin/stats"),
    ("GET", "/api/admin/reports"),
    ("GET", "/api/admin/reports?limit=5"),
    ("POST", "/api/admin/bans"),
    ("DELETE", "/api/admin/bans/00000000-0000-4000-8000-000000000000"),
    ("GET", "/api/admin/whatever"),
];

#[test]
fn admin_api_answers_404_without_an_admin_token_configured() {
    let srv = start();
    let body = json!({"userId": "00000000-0000-4000-8000-000000000000", "minutes": 5, "reason": "x"});
    for (method, path) in ADMIN_REQUESTS {
        for token in [None, Some("anything"), Some(ADMIN), Some("")] {
            let r = http(srv.addr, method, path, token, (method == "POST").then_some(&body));
            assert_eq!(r.status, 404, "{method} {path} with {token:?}: {}", body_text(&r));
        }
    }
}

#[test]
fn admin_api_without_a_token_is_401_unauthenticated() {
    let srv = start_admin();
    for (method, path) in ADMIN_REQUESTS {
        let r = http(srv.addr, method, path, None, Some(&json!({})));
        assert_http_error(&r, 401, "UNAUTHENTICATED");
    }
}

#[test]
fn admin_api_with_a_wrong_token_is_401_invalid_token() {
    let srv = start_admin();
    let user = register(srv.addr, json!({}));
    for token in ["wrong", "admin-secret-token-", "admin-secret-toke", user.token.as_str()] {
        for (method, path) in ADMIN_REQUESTS {
            let r = http(srv.addr, method, path, Some(token), Some(&json!({})));
            assert_http_error(&r, 401, "INVALID_TOKEN");
        }
    }
}

#[test]
fn admin_api_with_a_wrong_method_is_405() {
    let srv = start_admin();
    let user = register(srv.addr, json!({}));
    let ban_path = format!("/api/admin/bans/{}", user.id);
    for (method, path) in [
        ("POST", "/api/admin/stats"),
        ("DELETE", "/api/admin/stats"),
        ("PUT", "/api/admin/reports"),
        ("POST", "/api/admin/reports"),
        ("GET", "/api/admin/bans"),
        ("DELETE", "/api/admin/bans"),
        ("GET", ban_path.as_str()),
        ("POST", ban_path.as_str()),
    ] {
        let r = admin(srv.addr, method, path, Some(&json!({})));
        assert_eq!(r.status, 405, "{method} {path}: {}", body_text(&r));
        assert!(r.header("Allow").is_some(), "405 names the allowed method: {}", r.head);
    }
    // None of these did anything: the user is not banned.
    let mut c = Client::authed(srv.addr, &user);
    c.expect_silence(Duration::from_millis(100));
}

// ------------------------------------------------------------------ stats

#[test]
fn stats_have_the_contract_shape_and_reflect_live_state() {
    let srv = start_admin();
    let s = stats(srv.addr);
    let obj = s.as_object().expect("an object");
    for key in [
        "onlineUsers",
        "connections",
        "queueSizes",
        "activeRooms",
        "roomsCreated",
        "messagesRelayed",
        "uptimeSeconds",
    ] {
        assert!(obj.contains_key(key), "missing {key}: {s}");
    }
    for mood in MOODS {
        assert_eq!(s["queueSizes"][mood], 0, "{s}");
    }
    assert_eq!((s["onlineUsers"].as_u64(), s["activeRooms"].as_u64()), (Some(0), Some(0)), "{s}");
    assert_eq!((s["roomsCreated"].as_u64(), s["messagesRelayed"].as_u64()), (Some(0), Some(0)), "{s}");
    assert!(s["uptimeSeconds"].as_u64().is_some(), "{s}");

    // Two users in a room who exchange three messages, one waiting in shy,
    // and one socket that never authenticates.
    let (mut a, mut b, room) = pair(srv.addr);
    for i in 0..3 {
        let (tx, rx) = if i % 2 == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
        let ack = tx.request("CHAT", &format!("c{i}"), json!({"roomId": room, "text": "hello"}));
        assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
        rx.recv_type("CHAT");
    }
    let refused = a.request("CHAT", "empty", json!({"roomId": room, "text": "  "}));
    assert_eq!(refused["payload"]["code"], "EMPTY_MESSAGE", "a refused CHAT is not relayed");
    let mut shy = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut shy, in_mood("shy"));
    let mut anon = Client::connect(srv.addr);
    assert_eq!(anon.request("PING", "p", json!({}))["type"], "PONG");

    let s = stats(srv.addr);
    assert_eq!(s["onlineUsers"], 3, "{s}");
    assert_eq!(s["activeRooms"], 1, "{s}");
    assert_eq!(s["roomsCreated"], 1, "{s}");
    assert_eq!(s["messagesRelayed"], 3, "{s}");
    for mood in MOODS {
        assert_eq!(s["queueSizes"][mood], u64::from(mood == "shy"), "{mood}: {s}");
    }
    let conns = s["connections"].as_u64().expect("connections");
    assert!(conns >= 4, "3 authenticated sockets and 1 anonymous one are open: {s}");

    // The room ends: it stays counted as created, no longer active.
    assert_eq!(a.request("LEAVE_ROOM", "l", json!({"roomId": room}))["type"], "ROOM_LEFT");
    b.recv_type("PARTNER_LEFT");
    let s = stats(srv.addr);
    assert_eq!((s["activeRooms"].as_u64(), s["roomsCreated"].as_u64()), (Some(0), Some(1)), "{s}");
}

// ---------------------------------------------------------------- reports

/// Makes a pair and has the first report the second; returns
/// (reporter, reported, roomId, reportId).
fn make_report(addr: SocketAddr, reason: &str, details: &str) -> (User, User, String, String) {
    let (ua, ub) = (register(addr, json!({})), register(addr, json!({})));
    let (mut a, mut b, room) = pair_users(addr, &ua, &ub);
    let r = a.request("REPORT", "r", json!({"roomId": room, "reason": reason, "details": details}));
    assert_eq!(r["type"], "REPORTED", "{r}");
    b.recv_type("PARTNER_LEFT");
    (ua, ub, room, r["payload"]["reportId"].as_str().unwrap().to_string())
}

#[test]
fn reports_are_listed_newest_first_with_the_limit_respected() {
    let srv = start_admin();
    let before = now_ms();
    let made: Vec<_> = [("spam", "first"), ("abuse", "second"), ("underage", "third")]
        .into_iter()
        .map(|(reason, details)| (reason, details, make_report(srv.addr, reason, details)))
        .collect();
    let after = now_ms();

    let r = admin(srv.addr, "GET", "/api/admin/reports", None);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    let all = r.json()["reports"].as_array().expect("reports").clone();
    assert_eq!(all.len(), 3);
    for (got, (reason, details, (reporter, reported, room, id))) in all.iter().zip(made.iter().rev()) {
        let keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
        for key in
            ["reportId", "roomId", "reporterId", "reportedId", "reason", "details", "createdAt", "transcript"]
        {
            assert!(keys.contains(&key), "missing {key}: {got}");
        }
        assert_eq!(got["reportId"], id.as_str(), "newest first: {all:?}");
        assert_eq!(got["roomId"], room.as_str());
        assert_eq!(got["reporterId"], reporter.id.as_str());
        assert_eq!(got["reportedId"], reported.id.as_str());
        assert_eq!(got["reason"], *reason);
        assert_eq!(got["details"], *details);
        let at = got["createdAt"].as_u64().expect("createdAt ms");
        assert!((before.saturating_sub(1000)..=after + 1000).contains(&at), "createdAt {at}");
        assert_eq!(got["transcript"], json!([]), "no messages were sent");
    }
    let times: Vec<u64> = all.iter().map(|r| r["createdAt"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    for n in [1usize, 2, 3, 10] {
        let r = admin(srv.addr, "GET", &format!("/api/admin/reports?limit={n}"), None);
        assert_eq!(r.status, 200, "{}", body_text(&r));
        let page = r.json()["reports"].as_array().unwrap().clone();
        assert_eq!(page.len(), n.min(3), "limit={n}");
        assert_eq!(page[..], all[..n.min(3)], "limit={n} is the newest {n}");
    }
}

#[test]
fn reports_with_a_bad_limit_are_400() {
    let srv = start_admin();
    make_report(srv.addr, "spam", "");
    for q in ["limit=0", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=99999999999999999999999"] {
        let r = admin(srv.addr, "GET", &format!("/api/admin/reports?{q}"), None);
        assert_http_error(&r, 400, "BAD_REQUEST");
    }
}

// ------------------------------------------------------------------- bans

#[test]
fn ban_returns_the_user_and_until_about_now_plus_minutes() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    let before = now_ms();
    let r = ban(srv.addr, &u, 90);
    let after = now_ms();
    assert_eq!(r["userId"], u.id.as_str(), "{r}");
    let until = r["until"].as_u64().expect("until ms");
    let span = 90 * 60_000;
    assert!(
        (before + span - 2000..=after + span + 2000).contains(&until),
        "until {until} ≈ now + 90 min ({before}..{after})"
    );
    // The ban is in force: HTTP updates are 403, AUTH is refused.
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&json!({})));
    assert_eq!(r.status, 403, "{}", body_text(&r));
    let mut c = Client::connect(srv.addr);
    c.send(json!({"type": "AUTH", "id": "a", "payload": {"token": u.token}}));
    let err = c.recv_type("AUTH_ERROR");
    assert_eq!(err["payload"]["code"], "BANNED", "{err}");
    assert_eq!(err["payload"]["until"], until, "{err}");
    assert_eq!(c.expect_close().0, 4403);
}

#[test]
fn ban_of_an_idle_online_user_ends_the_session_with_4403() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    ban(srv.addr, &u, 5);
    let before = expect_banned_close(&mut c);
    assert_eq!(before.len(), 1, "{before:?}");
}

#[test]
fn ban_of_a_waiting_user_sends_match_cancelled_banned_then_session_ended() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &u);
    join(&mut c, in_mood("silly"));
    ban(srv.addr, &u, 5);
    let before = expect_banned_close(&mut c);
    let types: Vec<&str> = before.iter().map(|m| m["type"].as_str().unwrap_or("?")).collect();
    assert_eq!(types, ["MATCH_CANCELLED", "SESSION_ENDED"], "{before:?}");
    assert_eq!(before[0]["payload"]["reason"], "banned");
    // Out of the queue: the next silly joiner waits alone.
    let mut other = Client::authed(srv.addr, &register(srv.addr, json!({})));
    assert_eq!(join(&mut other, in_mood("silly"))["waiting"], 1);
    other.expect_silence(SILENCE);
    assert_eq!(stats(srv.addr)["queueSizes"]["silly"], 1);
}

#[test]
fn ban_of_a_user_in_a_room_ends_it_for_the_partner_with_partner_left_left() {
    let srv = start_admin();
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (mut a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    ban(srv.addr, &ua, 5);
    let left = b.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["roomId"], room.as_str(), "{left}");
    assert_eq!(left["payload"]["reason"], "left", "{left}");
    let before = expect_banned_close(&mut a);
    assert_eq!(before.len(), 1, "only SESSION_ENDED: {before:?}");
    // The partner is idle and may chat no more in that room.
    let r = b.request("CHAT", "c", json!({"roomId": room, "text": "hello?"}));
    assert_eq!(r["payload"]["code"], "NOT_IN_ROOM", "{r}");
    assert_eq!(stats(srv.addr)["activeRooms"], 0);
}

#[test]
fn ban_of_a_user_away_in_resume_grace_ends_the_room_for_the_partner() {
    let srv = start_with(|c| {
        c.admin_token = Some(ADMIN.into());
        c.resume_grace_secs = Duration::from_secs(30);
    });
    let (ua, ub) = (register(srv.addr, json!({})), register(srv.addr, json!({})));
    let (a, mut b, room) = pair_users(srv.addr, &ua, &ub);
    drop(a);
    assert_eq!(b.recv_type("PARTNER_AWAY")["payload"]["roomId"], room.as_str());
    ban(srv.addr, &ua, 5);
    let left = b.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["roomId"], room.as_str(), "{left}");
    assert_eq!(left["payload"]["reason"], "left", "{left}");
    // The banned user cannot come back to the room.
    let mut again = Client::connect(srv.addr);
    again.send(json!({"type": "AUTH", "id": "a", "payload": {"token": ua.token}}));
    assert_eq!(again.recv_type("AUTH_ERROR")["payload"]["code"], "BANNED");
    assert_eq!(again.expect_close().0, 4403);
    b.expect_silence(SILENCE);
}

#[test]
fn ban_of_an_unknown_user_is_404() {
    let srv = start_admin();
    let body = json!({"userId": "00000000-0000-4000-8000-000000000000", "minutes": 5, "reason": "who"});
    let r = admin(srv.addr, "POST", "/api/admin/bans", Some(&body));
    assert_eq!(r.status, 404, "{}", body_text(&r));
    // A deleted user is unknown too.
    let u = register(srv.addr, json!({}));
    assert_eq!(http(srv.addr, "DELETE", "/api/users/me", Some(&u.token), None).status, 204);
    let body = json!({"userId": u.id, "minutes": 5, "reason": "gone"});
    let r = admin(srv.addr, "POST", "/api/admin/bans", Some(&body));
    assert_eq!(r.status, 404, "{}", body_text(&r));
}

#[test]
fn ban_with_a_bad_body_is_400() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    let id = u.id.as_str();
    for body in [
        json!({}),
        json!({"userId": id}),
        json!({"minutes": 5, "reason": "x"}),
        json!({"userId": id, "minutes": "five", "reason": "x"}),
        json!({"userId": id, "minutes": -5, "reason": "x"}),
        json!({"userId": id, "minutes": 0, "reason": "x"}),
        json!({"userId": 42, "minutes": 5, "reason": "x"}),
        json!("ban"),
        json!(null),
    ] {
        let r = admin(srv.addr, "POST", "/api/admin/bans", Some(&body));
        assert_http_error(&r, 400, "BAD_REQUEST");
    }
    let raw = format!(
        "POST /api/admin/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{{\"userId\""
    );
    assert_http_error(&raw_http(srv.addr, raw.as_bytes()), 400, "BAD_REQUEST");
    // None of them banned anyone.
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&json!({})));
    assert_eq!(r.status, 200, "{}", body_text(&r));
}

#[test]
fn ban_with_an_array_body_is_400() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    // The body must be the object {userId, minutes, reason}.
    let r = admin(srv.addr, "POST", "/api/admin/bans", Some(&json!([u.id, 5, "x"])));
    assert_http_error(&r, 400, "BAD_REQUEST");
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&json!({})));
    assert_eq!(r.status, 200, "nobody was banned: {}", body_text(&r));
}

#[test]
fn unban_is_204_and_the_user_can_auth_again() {
    let srv = start_admin();
    let u = register(srv.addr, json!({}));
    ban(srv.addr, &u, 60);
    let mut c = Client::connect(srv.addr);
    c.send(json!({"type": "AUTH", "id": "a", "payload": {"token": u.token}}));
    assert_eq!(c.recv_type("AUTH_ERROR")["payload"]["code"], "BANNED");
    assert_eq!(c.expect_close().0, 4403);

    let r = admin(srv.addr, "DELETE", &format!("/api/admin/bans/{}", u.id), None);
    assert_eq!(r.status, 204, "{}", body_text(&r));
    assert!(r.body.is_empty());
    let mut c = Client::authed(srv.addr, &u);
    join(&mut c, in_mood("chill"));
    let r = http(srv.addr, "POST", "/api/users/registerOrUpdate", Some(&u.token), Some(&json!({})));
    assert_eq!(r.status, 200, "{}", body_text(&r));
}

// ---------------------------------------------------------------- metrics

/// `GET /metrics` as a map from series (name plus labels) to value.
#[track_caller]
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let r = http(addr, "GET", "/metrics", None, None);
    assert_eq!(r.status, 200, "{}", body_text(&r));
    let ct = r.header("Content-Type").expect("Content-Type");
    assert!(ct.starts_with("text/plain"), "Prometheus text exposition: {ct}");
    let text = body_text(&r);
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("sample line: {l:?}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("sample value: {l:?}")),
            };
            (series.to_string(), value)
        })
        .collect()
}

#[track_caller]
fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series).unwrap_or_else(|| panic!("no {series} in /metrics: {:?}", m.keys()))
}

#[test]
fn metrics_expose_the_contract_series_without_auth() {
    let srv = start_admin();
    let m = scrape(srv.addr);
    for series in ["duet_connections", "duet_online_users", "duet_rooms_active"] {
        value(&m, series);
    }
    for series in ["duet_rooms_created_total", "duet_messages_total", "duet_match_wait_seconds_count"] {
        assert_eq!(value(&m, series), 0.0, "{series}");
    }
    value(&m, "duet_match_wait_seconds_sum");
    assert!(
        m.keys().any(|k| k.starts_with("duet_match_wait_seconds_bucket{") && k.contains("le=\"+Inf\"")),
        "histogram buckets: {:?}",
        m.keys()
    );
    for mood in MOODS {
        assert_eq!(value(&m, &format!("duet_queue_size{{mood=\"{mood}\"}}")), 0.0);
    }
    // Bearer tokens are not needed, and a wrong one does not matter either.
    let r = http(srv.addr, "GET", "/metrics", Some("whatever"), None);
    assert_eq!(r.status, 200);
    // Metrics are also there with no admin token configured.
    let plain = start();
    value(&scrape(plain.addr), "duet_online_users");
}

#[test]
fn metrics_values_follow_a_pairing_and_a_chat() {
    let srv = start();
    let before = scrape(srv.addr);
    let inf = "duet_match_wait_seconds_bucket{le=\"+Inf\"}";

    let (mut a, mut b, room) = pair(srv.addr);
    let mut waiter = Client::authed(srv.addr, &register(srv.addr, json!({})));
    join(&mut waiter, in_mood("fire"));
    let m = scrape(srv.addr);
    assert_eq!(value(&m, "duet_online_users"), 3.0);
    assert!(value(&m, "duet_connections") >= 3.0, "three sockets are open");
    assert_eq!(value(&m, "duet_rooms_active"), 1.0);
    assert_eq!(value(&m, "duet_rooms_created_total") - value(&before, "duet_rooms_created_total"), 1.0);
    assert_eq!(value(&m, "duet_messages_total"), value(&before, "duet_messages_total"));
    for mood in MOODS {
        let want = if mood == "fire" { 1.0 } else { 0.0 };
        assert_eq!(value(&m, &format!("duet_queue_size{{mood=\"{mood}\"}}")), want, "{mood}");
    }
    let waits = value(&m, "duet_match_wait_seconds_count") - value(&before, "duet_match_wait_seconds_count");
    assert!(waits == 1.0 || waits == 2.0, "one pairing observed (per room or per user): {waits}");
    assert_eq!(value(&m, inf), value(&m, "duet_match_wait_seconds_count"), "+Inf bucket = count");

    let ack = a.request("CHAT", "c", json!({"roomId": room, "text": "hi"}));
    assert_eq!(ack["type"], "CHAT_ACK");
    b.recv_type("CHAT");
    let m2 = scrape(srv.addr);
    assert_eq!(value(&m2, "duet_messages_total") - value(&m, "duet_messages_total"), 1.0);
    assert_eq!(value(&m2, "duet_rooms_created_total"), value(&m, "duet_rooms_created_total"));

    // The room ends and the waiter leaves: the gauges go back down.
    assert_eq!(b.request("LEAVE_ROOM", "l", json!({"roomId": room}))["type"], "ROOM_LEFT");
    a.recv_type("PARTNER_LEFT");
    assert_eq!(waiter.request("LEAVE_QUEUE", "lq", json!({}))["type"], "QUEUE_LEFT");
    let m3 = scrape(srv.addr);
    assert_eq!(value(&m3, "duet_rooms_active"), 0.0);
    assert_eq!(value(&m3, "duet_queue_size{mood=\"fire\"}"), 0.0);
    assert_eq!(value(&m3, "duet_rooms_created_total"), value(&m, "duet_rooms_created_total"));
}
