//! The HTTP API (contract section 2) over real sockets: identities,
//! validation, errors, health, limits and HTTP/1.1 connection handling.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const REGISTER: &str = "/api/users/registerOrUpdate";

#[track_caller]
fn post_register(addr: SocketAddr, token: Option<&str>, body: &Value) -> HttpResponse {
    http(addr, "POST", REGISTER, token, Some(body))
}

#[track_caller]
fn me(addr: SocketAddr, token: Option<&str>) -> HttpResponse {
    http(addr, "GET", "/api/users/me", token, None)
}

#[track_caller]
fn profile_of(addr: SocketAddr, token: &str) -> Value {
    let r = me(addr, Some(token));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["profile"].clone()
}

#[track_caller]
fn assert_bad_request(addr: SocketAddr, token: Option<&str>, body: Value) {
    let r = post_register(addr, token, &body);
    assert_http_error_ctx(&r, 400, "BAD_REQUEST", &format!("body {body}"));
}

/// Sends raw bytes, then reads one response, on an existing connection.
#[track_caller]
fn exchange(s: &mut TcpStream, bytes: &[u8]) -> HttpResponse {
    s.write_all(bytes).unwrap();
    read_response(s)
}

fn post_bytes(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: duet\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

// ------------------------------------------------------------ register

#[test]
fn register_without_authorization_creates_an_identity_with_defaults() {
    let srv = start();
    let before = now_ms();
    let r = post_register(srv.addr, None, &json!({}));
    let after = now_ms();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    let v = r.json();
    let user_id = v["userId"].as_str().expect("userId string");
    assert!(!user_id.is_empty());
    assert!(v["authToken"].is_string());
    let p = &v["profile"];
    assert_eq!(p["userId"], user_id);
    let nick = p["nickname"].as_str().expect("generated nickname");
    assert!((1..=32).contains(&nick.chars().count()), "{nick:?}");
    assert_eq!(nick.trim(), nick);
    let avatar = p["avatar"].as_str().expect("generated avatar");
    assert!((1..=16).contains(&avatar.chars().count()), "{avatar:?}");
    assert_eq!(p["mood"], "random");
    assert_eq!(p["interests"], json!([]));
    assert_eq!(p["status"], "offline");
    for field in ["createdAt", "lastSeenAt"] {
        let t = p[field].as_u64().unwrap_or_else(|| panic!("{field} is a number: {p}"));
        assert!(
            t + 1000 >= before && t <= after + 1000,
            "{field} {t} is milliseconds since the epoch (now {before}..{after})"
        );
    }
}

#[test]
fn empty_request_body_creates_an_identity_too() {
    let srv = start();
    let r = raw_http(srv.addr, &post_bytes(REGISTER, ""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["profile"]["mood"], "random");
}

#[test]
fn auth_token_has_at_least_128_bits_and_is_url_safe() {
    let srv = start();
    let a = register(srv.addr, json!({}));
    let b = register(srv.addr, json!({}));
    assert_ne!(a.token, b.token, "tokens are random");
    assert_ne!(a.id, b.id);
    for t in [&a.token, &b.token] {
        assert!(
            t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "token {t:?} must be URL-safe"
        );
        let bits_per_char = if t.bytes().all(|c| c.is_ascii_hexdigit()) { 4 } else { 6 };
        assert!(t.len() * bits_per_char >= 128, "token {t:?} too short");
    }
}

#[test]
fn register_with_fields_normalises_them() {
    let srv = start();
    let r = post_register(
        srv.addr,
        None,
        &json!({
            "nickname": "  Ana Lyst  ",
            "mood": "chill",
            "avatar": "🦊",
            "interests": [" Music ", "music", "Board-Games", "sci fi 2", "MUSIC"],
        }),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let p = &r.json()["profile"];
    assert_eq!(p["nickname"], "Ana Lyst");
    assert_eq!(p["mood"], "chill");
    assert_eq!(p["avatar"], "🦊");
    assert_eq!(p["interests"], json!(["music", "board-games", "sci fi 2"]));
}

#[test]
fn every_mood_of_the_contract_is_accepted() {
    let srv = start();
    for mood in ["chill", "fire", "silly", "shy", "random"] {
        let u = register(srv.addr, json!({"mood": mood}));
        assert_eq!(u.profile["mood"], mood);
    }
}

#[test]
fn nickname_length_is_counted_in_scalar_values() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "é".repeat(32)}));
    assert_eq!(u.profile["nickname"], "é".repeat(32));
    let u = register(srv.addr, json!({"nickname": "🦦".repeat(32)}));
    assert_eq!(u.profile["nickname"], "🦦".repeat(32));
    let u = register(srv.addr, json!({"nickname": format!("  {}  ", "x".repeat(32))}));
    assert_eq!(u.profile["nickname"], "x".repeat(32), "trimmed before counting");
    assert_bad_request(srv.addr, None, json!({"nickname": "é".repeat(33)}));
}

#[test]
fn broken_nickname_is_bad_request() {
    let srv = start();
    for nick in ["", "   ", "\t\n", "a\u{7}b", "line\nbreak", "nul\u{0}", "del\u{7f}", "c1\u{85}x"] {
        assert_bad_request(srv.addr, None, json!({"nickname": nick}));
    }
    assert_bad_request(srv.addr, None, json!({"nickname": 42}));
}

#[test]
fn unknown_mood_is_bad_request() {
    let srv = start();
    for mood in ["angry", "", " chill"] {
        assert_bad_request(srv.addr, None, json!({"mood": mood}));
    }
    assert_bad_request(srv.addr, None, json!({"mood": 1}));
}

#[test]
fn avatar_must_be_1_to_16_scalar_values() {
    let srv = start();
    let u = register(srv.addr, json!({"avatar": "🐼".repeat(16)}));
    assert_eq!(u.profile["avatar"], "🐼".repeat(16));
    let u = register(srv.addr, json!({"avatar": "hedgehog"}));
    assert_eq!(u.profile["avatar"], "hedgehog");
    assert_bad_request(srv.addr, None, json!({"avatar": ""}));
    assert_bad_request(srv.addr, None, json!({"avatar": "a".repeat(17)}));
    assert_bad_request(srv.addr, None, json!({"avatar": "🐼".repeat(17)}));
}

#[test]
fn interests_up_to_five_of_up_to_24_chars_are_accepted() {
    let srv = start();
    let five = json!(["a", "b", "c", "d", &"x".repeat(24)]);
    let u = register(srv.addr, json!({"interests": five}));
    assert_eq!(u.profile["interests"], five);
    let u = register(srv.addr, json!({"interests": ["Café", "ÉTÉ 2024"]}));
    assert_eq!(u.profile["interests"], json!(["café", "été 2024"]), "unicode letters, lower-cased");
    let u = register(srv.addr, json!({"interests": []}));
    assert_eq!(u.profile["interests"], json!([]));
}

#[test]
fn broken_interests_are_bad_request() {
    let srv = start();
    let cases = [
        json!(["a", "b", "c", "d", "e", "f"]),
        json!([""]),
        json!(["   "]),
        json!(["x".repeat(25)]),
        json!(["c++"]),
        json!(["snake_case"]),
        json!(["a!"]),
        json!(["tab\there"]),
        json!(["emoji🎵"]),
        json!("music"),
        json!([1]),
    ];
    for interests in cases {
        assert_bad_request(srv.addr, None, json!({"interests": interests}));
    }
}

#[test]
fn malformed_json_body_is_bad_request() {
    let srv = start();
    for body in ["{", "nope", "[1,2]", "\"str\"", "{\"nickname\":}"] {
        let r = raw_http(srv.addr, &post_bytes(REGISTER, body));
        assert_http_error_ctx(&r, 400, "BAD_REQUEST", &format!("body {body}"));
    }
}

#[test]
fn unknown_fields_in_the_body_are_ignored() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Zed", "favouriteColour": "red", "extra": {"deep": [1]}}));
    assert_eq!(u.profile["nickname"], "Zed");
    assert!(u.profile.get("favouriteColour").is_none());
}

#[test]
fn broken_field_creates_no_identity() {
    let srv = start();
    // A valid field next to a broken one: the whole request is refused.
    let r = post_register(srv.addr, None, &json!({"nickname": "Ok", "mood": "grumpy"}));
    assert_http_error(&r, 400, "BAD_REQUEST");
    assert!(r.json().get("authToken").is_none());
}

// -------------------------------------------------------------- update

#[test]
fn update_with_bearer_keeps_unspecified_fields_and_the_token() {
    let srv = start();
    let u = register(
        srv.addr,
        json!({"nickname": "Before", "mood": "shy", "avatar": "🐢", "interests": ["chess"]}),
    );
    let r = post_register(srv.addr, Some(&u.token), &json!({"nickname": " After "}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["authToken"], u.token.as_str(), "same token");
    assert_eq!(v["userId"], u.id.as_str(), "same user");
    let p = &v["profile"];
    assert_eq!(p["nickname"], "After");
    assert_eq!(p["mood"], "shy");
    assert_eq!(p["avatar"], "🐢");
    assert_eq!(p["interests"], json!(["chess"]));
    assert_eq!(p["createdAt"], u.profile["createdAt"]);
    // The change is stored, not just echoed.
    let stored = profile_of(srv.addr, &u.token);
    assert_eq!(stored["nickname"], "After");
    assert_eq!(stored["mood"], "shy");
    // Every field can change; an empty list clears interests.
    let r =
        post_register(srv.addr, Some(&u.token), &json!({"mood": "fire", "avatar": "owl", "interests": []}));
    let p = &r.json()["profile"];
    assert_eq!(p["nickname"], "After");
    assert_eq!(p["mood"], "fire");
    assert_eq!(p["avatar"], "owl");
    assert_eq!(p["interests"], json!([]));
}

#[test]
fn update_with_empty_body_changes_nothing() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Same", "interests": ["go"]}));
    let r = post_register(srv.addr, Some(&u.token), &json!({}));
    assert_eq!(r.status, 200);
    let p = &r.json()["profile"];
    for f in ["userId", "nickname", "mood", "avatar", "interests", "createdAt"] {
        assert_eq!(p[f], u.profile[f], "{f}");
    }
}

#[test]
fn update_with_broken_field_is_bad_request_and_keeps_the_profile() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Keep"}));
    assert_bad_request(srv.addr, Some(&u.token), json!({"nickname": "x".repeat(40)}));
    assert_bad_request(srv.addr, Some(&u.token), json!({"nickname": "New", "interests": ["bad!"]}));
    assert_eq!(profile_of(srv.addr, &u.token)["nickname"], "Keep");
}

#[test]
fn register_with_non_bearer_authorization_is_refused_not_a_new_identity() {
    let srv = start();
    for auth in ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"] {
        let req = format!(
            "POST {REGISTER} HTTP/1.1\r\nHost: duet\r\nAuthorization: {auth}\r\nContent-Length: 2\r\n\r\n{{}}"
        );
        let r = raw_http(srv.addr, req.as_bytes());
        assert_http_error_ctx(&r, 401, "INVALID_TOKEN", auth);
        assert!(r.json().get("authToken").is_none(), "{auth}: no identity created");
    }
}

#[test]
fn update_with_unknown_token_is_invalid_token() {
    let srv = start();
    let r = post_register(srv.addr, Some("not-a-real-token"), &json!({"nickname": "X"}));
    assert_http_error(&r, 401, "INVALID_TOKEN");
}

// ------------------------------------------------------------------ me

#[test]
fn get_me_with_token_returns_the_profile() {
    let srv = start();
    let u = register(srv.addr, json!({"nickname": "Mia", "interests": ["Art"]}));
    let r = me(srv.addr, Some(&u.token));
    assert_eq!(r.status, 200);
    let v = r.json();
    let p = &v["profile"];
    for f in ["userId", "nickname", "mood", "avatar", "interests", "createdAt"] {
        assert_eq!(p[f], u.profile[f], "{f}");
    }
    assert!(p["lastSeenAt"].is_u64());
    assert_eq!(p["status"], "offline");
    assert_eq!(p["userId"], u.id.as_str());
}

#[test]
fn get_me_without_token_is_unauthenticated() {
    let srv = start();
    assert_http_error(&me(srv.addr, None), 401, "UNAUTHENTICATED");
}

#[test]
fn get_me_with_unknown_token_is_invalid_token() {
    let srv = start();
    let u = register(srv.addr, json!({}));
    let mut wrong = u.token.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    assert_http_error(&me(srv.addr, Some(&wrong)), 401, "INVALID_TOKEN");
    assert_http_error(&me(srv.addr, Some("x")), 401, "INVALID_TOKEN");
}

#[test]
fn status_follows_the_websocket_session() {
    let srv = start();
    let a = register(srv.addr, json!({}));
    let b = register(srv.addr, json!({}));
    assert_eq!(profile_of(srv.addr, &a.token)["status"], "offline");
    let mut ca = Client::authed(srv.addr, &a);
    assert_eq!(profile_of(srv.addr, &a.token)["status"], "idle");
    // An update while connected reports the live status too.
    let r = post_register(srv.addr, Some(&a.token), &json!({"mood": "chill"}));
    assert_eq!(r.json()["profile"]["status"], "idle");
    let w = ca.request("JOIN_QUEUE", "q", json!({"mood": "chill", "interests": []}));
    assert_eq!(w["type"], "QUEUE_WAITING");
    assert_eq!(profile_of(srv.addr, &a.token)["status"], "in_queue");
    let left = ca.request("LEAVE_QUEUE", "l", json!({}));
    assert_eq!(left["type"], "QUEUE_LEFT");
    assert_eq!(profile_of(srv.addr, &a.token)["status"], "idle");
    let mut cb = Client::authed(srv.addr, &b);
    for c in [&mut ca, &mut cb] {
        let w = c.request("JOIN_QUEUE", "q2", json!({"mood": "chill", "interests": []}));
        assert_eq!(w["type"], "QUEUE_WAITING");
    }
    ca.recv_type("MATCH_FOUND");
    cb.recv_type("MATCH_FOUND");
    assert_eq!(profile_of(srv.addr, &a.token)["status"], "in_room");
    assert_eq!(profile_of(srv.addr, &b.token)["status"], "in_room");
}

// -------------------------------------------------------------- health

#[test]
fn health_reports_ok_version_and_uptime() {
    let srv = start();
    let r = http(srv.addr, "GET", "/api/health", None, None);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    let version = v["version"].as_str().expect("version string");
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(parts.len(), 3, "x.y.z: {version}");
    assert!(parts.iter().all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())), "{version}");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(v["uptimeSeconds"].is_u64(), "uptimeSeconds is a whole number: {v}");
    assert!(v["uptimeSeconds"].as_u64().unwrap() < 60);
}

// ------------------------------------------------------ errors, limits

#[test]
fn unknown_path_is_404_with_error_shape() {
    let srv = start();
    for path in ["/api/nope", "/api/users", "/api/users/me/extra", "/nothing/here"] {
        let r = http(srv.addr, "GET", path, None, None);
        assert_http_error_ctx(&r, 404, "NOT_FOUND", path);
    }
}

#[test]
fn wrong_method_is_405_with_allow() {
    let srv = start();
    for (method, path) in
        [("GET", REGISTER), ("PUT", REGISTER), ("POST", "/api/health"), ("PATCH", "/api/users/me")]
    {
        let r = http(srv.addr, method, path, None, None);
        assert_http_error_ctx(&r, 405, "METHOD_NOT_ALLOWED", &format!("{method} {path}"));
        assert!(r.header("allow").is_some(), "{method} {path}: 405 must carry Allow");
    }
}

#[test]
fn body_of_exactly_16_kib_is_accepted() {
    let srv = start();
    let prefix = r#"{"nickname":"Big","pad":""#;
    let pad = 16 * 1024 - prefix.len() - 2;
    let body = format!("{prefix}{}\"}}", "p".repeat(pad));
    assert_eq!(body.len(), 16 * 1024);
    let r = raw_http(srv.addr, &post_bytes(REGISTER, &body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["profile"]["nickname"], "Big");
}

#[test]
fn body_over_16_kib_is_413() {
    let srv = start();
    let prefix = r#"{"nickname":"Big","pad":""#;
    let pad = 16 * 1024 - prefix.len() - 1;
    let body = format!("{prefix}{}\"}}", "p".repeat(pad));
    assert_eq!(body.len(), 16 * 1024 + 1);
    let r = raw_http(srv.addr, &post_bytes(REGISTER, &body));
    assert_http_error(&r, 413, "PAYLOAD_TOO_LARGE");
}

#[test]
fn headers_over_8_kib_are_431() {
    let srv = start();
    let req = get_request("/api/health", &format!("X-Pad: {}\r\n", "a".repeat(9000)));
    let r = raw_http(srv.addr, &req);
    assert_http_error(&r, 431, "HEADERS_TOO_LARGE");
    // Many small headers adding up past 8 KiB, too.
    let many: String = (0..40).map(|i| format!("X-Pad-{i}: {}\r\n", "b".repeat(220))).collect();
    let r = raw_http(srv.addr, &get_request("/api/health", &many));
    assert_http_error(&r, 431, "HEADERS_TOO_LARGE");
}

#[test]
fn headers_just_under_8_kib_are_accepted() {
    let srv = start();
    let req = get_request("/api/health", &format!("X-Pad: {}\r\n", "a".repeat(7 * 1024)));
    let r = raw_http(srv.addr, &req);
    assert_eq!(r.status, 200);
}

#[test]
fn malformed_request_line_is_400() {
    let srv = start();
    for bad in [
        &b"THIS IS NOT HTTP\r\n\r\n"[..],
        b"GET /api/health HTTP/7.3\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        let r = exchange(&mut s, bad);
        assert_http_error_ctx(&r, 400, "BAD_REQUEST", &bad.escape_ascii().to_string());
        assert_eof(&mut s, WAIT);
    }
}

// ---------------------------------------------------------- keep-alive

#[test]
fn two_requests_on_one_connection_are_both_answered() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let r1 = exchange(&mut s, &post_bytes(REGISTER, r#"{"nickname":"Kay"}"#));
    assert_eq!(r1.status, 200);
    assert_ne!(r1.header("connection").as_deref(), Some("close"));
    let token = r1.json()["authToken"].as_str().unwrap().to_string();
    let r2 = exchange(&mut s, &get_request("/api/users/me", &format!("Authorization: Bearer {token}\r\n")));
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json()["profile"]["nickname"], "Kay");
    let r3 = exchange(&mut s, &get_request("/api/health", ""));
    assert_eq!(r3.status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let mut batch = post_bytes(REGISTER, r#"{"nickname":"First"}"#);
    batch.extend(get_request("/api/health", ""));
    batch.extend(get_request("/api/users/me", "Authorization: Bearer nobody\r\n"));
    batch.extend(post_bytes(REGISTER, r#"{"nickname":"Fourth"}"#));
    batch.extend(get_request("/nowhere", ""));
    s.write_all(&batch).unwrap();
    // The answers may arrive in one segment: read them with a reader that
    // keeps what follows each response.
    let mut rd = Responses::new(s);
    let r1 = rd.next();
    assert_eq!(r1.status, 200);
    assert_eq!(r1.json()["profile"]["nickname"], "First");
    let r2 = rd.next();
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json()["status"], "ok", "second response: {}", String::from_utf8_lossy(&r2.body));
    let r3 = rd.next();
    assert_http_error(&r3, 401, "INVALID_TOKEN");
    let r4 = rd.next();
    assert_eq!(r4.status, 200);
    assert_eq!(r4.json()["profile"]["nickname"], "Fourth");
    let r5 = rd.next();
    assert_http_error(&r5, 404, "NOT_FOUND");
}

#[test]
fn connection_close_closes_after_the_response() {
    let srv = start();
    for (path, method_line) in
        [("/api/health", "GET /api/health HTTP/1.1"), ("/api/users/me", "GET /api/users/me HTTP/1.1")]
    {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        let req = format!("{method_line}\r\nHost: duet\r\nConnection: close\r\n\r\n");
        let r = exchange(&mut s, req.as_bytes());
        assert!(r.status == 200 || r.status == 401, "{path}: {}", r.status);
        assert_eq!(r.header("connection").as_deref(), Some("close"), "{path}");
        assert_eof(&mut s, WAIT);
    }
}

#[test]
fn head_of_health_has_no_body_and_keeps_the_connection_usable() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let mut batch = b"HEAD /api/health HTTP/1.1\r\nHost: duet\r\n\r\n".to_vec();
    batch.extend(get_request("/api/health", ""));
    s.write_all(&batch).unwrap();
    let mut rd = Responses::new(s);
    let head = rd.head_only();
    assert_eq!(head.status, 200);
    // A body after the HEAD answer would be read as the next response.
    let r = rd.next();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

// ------------------------------------------------------ the web client

#[test]
fn web_client_page_and_assets_are_served_with_safe_headers() {
    let srv = start_with(|c| c.max_message_chars = 321);
    let assets = duet::app::web::ASSETS.iter().map(|&(path, ty, _)| (path, ty));
    for (path, ty) in std::iter::once(("/", "text/html; charset=utf-8")).chain(assets) {
        let r = http(srv.addr, "GET", path, None, None);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type").as_deref(), Some(ty), "{path}");
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
        let csp = r.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!r.body.is_empty());
    }
    let page = String::from_utf8(http(srv.addr, "GET", "/", None, None).body).unwrap();
    assert!(page.contains(r#"<meta name="duet-config" content="{"#), "settings are rendered in");
    assert!(page.contains("&quot;maxMessageChars&quot;:321"));
    assert!(page.contains(r#"<script type="module" src="/assets/main.js">"#));
    assert!(page.contains(r#"href="/assets/style.css""#));
}

#[test]
fn web_client_answers_head_and_refuses_other_methods() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let mut batch = b"HEAD / HTTP/1.1\r\nHost: duet\r\n\r\n".to_vec();
    batch.extend(get_request("/assets/style.css", ""));
    s.write_all(&batch).unwrap();
    let mut rd = Responses::new(s);
    assert_eq!(rd.head_only().status, 200);
    assert_eq!(rd.next().status, 200, "no stray body after the HEAD answer");
    let r = http(srv.addr, "POST", "/", None, None);
    assert_http_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_http_error(&http(srv.addr, "GET", "/assets/nope.js", None, None), 404, "NOT_FOUND");
}

#[test]
fn http_1_0_request_is_answered_then_closed() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let r = exchange(&mut s, b"GET /api/health HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eof(&mut s, WAIT);
}

#[test]
fn request_sent_one_byte_at_a_time_is_answered() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_nodelay(true).unwrap();
    for b in post_bytes(REGISTER, r#"{"nickname":"Slow Poke","interests":["snails"]}"#) {
        s.write_all(&[b]).unwrap();
    }
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["profile"]["nickname"], "Slow Poke");
    // The connection is still usable afterwards.
    for b in get_request("/api/health", "") {
        s.write_all(&[b]).unwrap();
    }
    assert_eq!(read_response(&mut s).status, 200);
}

#[test]
fn idle_keep_alive_connection_gets_nothing_unasked() {
    let srv = start();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    assert_eq!(exchange(&mut s, &get_request("/api/health", "")).status, 200);
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("expected nothing on an idle keep-alive connection, got {other:?}"),
    }
}
