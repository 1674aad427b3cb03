//! Hardening of text fields and bounded validation (contract section 7,
//! issue 11 row 10): what `nickname`, `interests`, `avatar`, chat `text`
//! and report `details` refuse; `interests` bounded before any work, even
//! for a rate-limited user; and the 4429 rule counting every refused
//! message. (The 4 KiB limit before `AUTH`, failed `AUTH`s, oversized
//! `interests` floods and `TYPING`: `hardening_ws.rs`.)

mod common;

use common::*;
use serde_json::{Value, json};

const PROFILE: &str = "/api/users/registerOrUpdate";

/// Creates a user with `body`; asserts 400 `BAD_REQUEST`.
#[track_caller]
fn assert_create_refused(addr: std::net::SocketAddr, body: Value) {
    let r = http(addr, "POST", PROFILE, None, Some(&body));
    assert_http_error_ctx(&r, 400, "BAD_REQUEST", &format!("create {body}"));
}

/// Updates `user` with `body`; asserts 400 `BAD_REQUEST` and that the
/// profile is unchanged.
#[track_caller]
fn assert_update_refused(addr: std::net::SocketAddr, user: &User, body: Value) {
    let r = http(addr, "POST", PROFILE, Some(&user.token), Some(&body));
    assert_http_error_ctx(&r, 400, "BAD_REQUEST", &format!("update {body}"));
    let me = http(addr, "GET", "/api/users/me", Some(&user.token), None).json();
    for field in ["nickname", "avatar", "interests"] {
        assert_eq!(me["profile"][field], user.profile[field], "a refused update changed {field}");
    }
}

// ------------------------------------------------------------- profile

/// Issue 11 row 10 and section 7 rule 9: a `nickname` with a bidi
/// override, a line or paragraph separator, a BOM or only zero-width or
/// space characters is refused with 400, on create and on update; plain
/// letters, emoji and non-Latin scripts are kept.
#[test]
fn nicknames_with_bidi_zero_width_or_separator_characters_are_refused() {
    let srv = start();
    let bad = [
        "Eve\u{202e}gnp.exe",
        "\u{200b}",
        "\u{200b}\u{200c}\u{2060}",
        "two\u{2028}lines",
        "para\u{2029}graph",
        "\u{feff}Bom",
        "iso\u{2066}late",
        "ltr\u{200e}mark",
        "   ",
        "bell\u{7}",
        // Controls `trim` would strip (regression: "\u{85}Ana" became "Ana").
        "\u{85}Ana",
        "Ana\u{b}",
        "\tAna",
    ];
    for nick in bad {
        assert_create_refused(srv.addr, json!({"nickname": nick}));
    }
    let user = register(srv.addr, json!({"nickname":"Plain"}));
    for nick in ["Eve\u{202e}gnp", "\u{200b}", "a\u{2028}b", "\u{feff}x"] {
        assert_update_refused(srv.addr, &user, json!({"nickname": nick}));
    }
    for good in ["Zoë 🦊", "李雷", "O'Brien-2", "Ünïcödé"] {
        let u = register(srv.addr, json!({"nickname": good}));
        assert_eq!(u.profile["nickname"], good);
    }
}

/// Section 7 rule 9: `interests` refuse format characters (Cf) and
/// separators, over HTTP (400) and in `JOIN_QUEUE` (`BAD_REQUEST`).
#[test]
fn interests_with_format_or_separator_characters_are_refused() {
    let srv = start();
    let bad = ["mu\u{200b}sic", "\u{202e}art", "chess\u{feff}", "go\u{2028}fish", "a\u{ad}b"];
    for tag in bad {
        assert_create_refused(srv.addr, json!({"interests": ["music", tag]}));
    }
    let user = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &user);
    for (i, tag) in bad.iter().enumerate() {
        let r = c.request("JOIN_QUEUE", &i.to_string(), json!({"mood":"chill","interests": [tag]}));
        assert_error_ctx(&r, "BAD_REQUEST", &format!("JOIN_QUEUE interest {tag:?}"));
    }
}

/// Issue 11 row 10 and section 7 rule 9: an `avatar` keeps emoji ZWJ
/// sequences and tag sequences (flags), and refuses bidi controls, line
/// separators and control characters.
#[test]
fn avatars_keep_emoji_sequences_and_refuse_bidi_controls_and_separators() {
    let srv = start();
    let family = "👨\u{200d}👩\u{200d}👧";
    let england = "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}";
    let u = register(srv.addr, json!({"avatar": family}));
    assert_eq!(u.profile["avatar"], family);
    let r = http(srv.addr, "POST", PROFILE, Some(&u.token), Some(&json!({"avatar": england})));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["profile"]["avatar"], england);
    let u = register(srv.addr, json!({"avatar": "🦊"}));

    for bad in [
        "🦊\u{202e}",
        "\u{202a}🦊",
        "🦊\u{2069}",
        "\u{200e}🦊",
        "\u{200f}",
        "a\u{2028}b",
        "🦊\u{2029}🦊",
        "\u{7}",
    ] {
        assert_create_refused(srv.addr, json!({"avatar": bad}));
        assert_update_refused(srv.addr, &u, json!({"avatar": bad}));
    }
}

// ---------------------------------------------------------- chat, report

/// Issue 11 row 10 and section 7 rule 9: chat text with a C0 or C1 control
/// character (U+0000, U+0007, ESC, DEL, U+0085, U+009B, ...) is refused
/// with `BAD_REQUEST` and takes no `seq`; tab, LF and CR are kept.
#[test]
fn chat_text_with_control_characters_is_refused_and_takes_no_seq() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    let bad = [
        "nul\u{0}here",
        "bell\u{7}",
        "csi\u{9b}31m",
        "esc\u{1b}[2J",
        "del\u{7f}x",
        "a\u{80}b",
        "next\u{85}line",
        "a\u{9f}b",
        "unit\u{1f}sep",
        "\u{0}",
        // Controls that `trim` would strip at either end (regression:
        // "hi\u{b}" was acknowledged as "hi").
        "hi\u{b}",
        "\u{c}hi",
        "\u{85}",
        "hi\u{85}",
    ];
    for (i, text) in bad.iter().enumerate() {
        let r = a.request("CHAT", &format!("bad{i}"), json!({"roomId": room, "text": text}));
        assert_error_ctx(&r, "BAD_REQUEST", &format!("CHAT {text:?}"));
    }
    let good = ["col1\tcol2", "line one\nline two", "dos\r\nline"];
    for (i, text) in good.iter().enumerate() {
        let ack = a.request("CHAT", &format!("ok{i}"), json!({"roomId": room, "text": text}));
        assert_eq!(ack["type"], "CHAT_ACK", "CHAT {text:?}: {ack}");
        assert_eq!(ack["payload"]["seq"], i as u64 + 1, "refused messages take no seq: {ack}");
        let got = b.recv();
        assert_eq!(got["type"], "CHAT", "{got}");
        assert_eq!(got["payload"]["seq"], i as u64 + 1, "{got}");
        assert_eq!(got["payload"]["text"], *text, "{got}");
    }
}

/// Issue 11 row 10 (and row 3's cause) and section 7 rule 9: report
/// `details` with U+0000 is refused with `BAD_REQUEST` and the room stays
/// open; details with a tab and a newline are reported.
#[test]
fn report_details_with_nul_are_refused_and_the_room_stays_open() {
    let srv = start();
    let (mut a, mut b, room) = pair(srv.addr);
    for (i, details) in ["he said \u{0} then", "esc \u{1b}[0m"].iter().enumerate() {
        let r = a.request(
            "REPORT",
            &format!("r{i}"),
            json!({"roomId": room, "reason":"abuse", "details": details}),
        );
        assert_error_ctx(&r, "BAD_REQUEST", &format!("REPORT details {details:?}"));
    }
    let ack = a.request("CHAT", "c", json!({"roomId": room, "text": "still open?"}));
    assert_eq!(ack["type"], "CHAT_ACK", "{ack}");
    assert_eq!(b.recv_type("CHAT")["payload"]["text"], "still open?");
    let r = a.request(
        "REPORT",
        "ok",
        json!({"roomId": room, "reason":"abuse", "details":"line\twith tab\nand more"}),
    );
    assert_eq!(r["type"], "REPORTED", "{r}");
    let left = b.recv_type("PARTNER_LEFT");
    assert_eq!(left["payload"]["reason"], "left", "{left}");
}

// -------------------------------------------------- bounded validation

/// Section 7 rule 7: more than five `interests` counted before
/// de-duplication are refused (`["a"; 6]`, and six spellings of one tag);
/// five duplicates are fine and kept once.
#[test]
fn six_duplicate_interests_are_refused_before_de_duplication() {
    let srv = start();
    let six_a = json!(["a", "a", "a", "a", "a", "a"]);
    let six_music = json!(["Music", "music ", "MUSIC", " music", "muSic", "music"]);
    for interests in [&six_a, &six_music] {
        assert_create_refused(srv.addr, json!({"interests": interests}));
    }
    let five = register(srv.addr, json!({"interests": ["a", "a", "A", " a", "a "]}));
    assert_eq!(five.profile["interests"], json!(["a"]));

    let user = register(srv.addr, json!({}));
    assert_update_refused(srv.addr, &user, json!({"interests": six_a}));
    let mut c = Client::authed(srv.addr, &user);
    for (i, interests) in [&six_a, &six_music].into_iter().enumerate() {
        let r = c.request("JOIN_QUEUE", &i.to_string(), json!({"mood":"chill","interests": interests}));
        assert_error_ctx(&r, "BAD_REQUEST", &format!("JOIN_QUEUE interests {interests}"));
    }
    let r = c.request("JOIN_QUEUE", "five", json!({"mood":"chill","interests": ["a","a","a","a","a"]}));
    assert_eq!(r["type"], "QUEUE_WAITING", "{r}");
    assert_eq!(r["payload"]["interests"], json!(["a"]), "{r}");
}

/// Section 7 rule 7: an interest over 24 scalar values after trimming is
/// refused; 24 (with spaces around, or two-byte characters) is fine.
#[test]
fn an_interest_over_24_scalar_values_after_trimming_is_refused() {
    let srv = start();
    let user = register(srv.addr, json!({}));
    let mut c = Client::authed(srv.addr, &user);
    for (i, tag) in ["x".repeat(25), "é".repeat(25)].iter().enumerate() {
        assert_create_refused(srv.addr, json!({"interests": [tag]}));
        let r = c.request("JOIN_QUEUE", &format!("long{i}"), json!({"mood":"chill","interests": [tag]}));
        assert_error_ctx(&r, "BAD_REQUEST", &format!("a {}-character interest", tag.chars().count()));
    }
    let padded = format!("  {}  ", "x".repeat(24));
    let u = register(srv.addr, json!({"interests": [padded, "é".repeat(24)]}));
    assert_eq!(u.profile["interests"], json!(["x".repeat(24), "é".repeat(24)]));
    let r = c.request("JOIN_QUEUE", "ok", json!({"mood":"chill","interests": [padded]}));
    assert_eq!(r["type"], "QUEUE_WAITING", "{r}");
}

/// Section 7 rule 7: a rate-limited user still gets `BAD_REQUEST` (not
/// `RATE_LIMITED`) for oversized or over-long `interests`: validation
/// comes before the rate limit.
#[test]
fn bad_interests_get_bad_request_even_while_rate_limited() {
    let (_srv, mut c) = queue_limited(1);
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({"mood":"chill"}))["type"], "QUEUE_WAITING");
    let r = c.request("LEAVE_QUEUE", "l", json!({}));
    assert_error_ctx(&r, "RATE_LIMITED", "LEAVE_QUEUE past the burst");
    let seven: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    for (i, interests) in
        [json!(["a", "a", "a", "a", "a", "a"]), json!(seven), json!(["y".repeat(25)])].iter().enumerate()
    {
        let r = c.request("JOIN_QUEUE", &i.to_string(), json!({"mood":"chill","interests": interests}));
        assert_error_ctx(&r, "BAD_REQUEST", &format!("rate-limited JOIN_QUEUE with interests {interests}"));
    }
    let r = c.request("LEAVE_QUEUE", "still", json!({}));
    assert_error_ctx(&r, "RATE_LIMITED", "LEAVE_QUEUE after the refused JOIN_QUEUEs");
}

// ------------------------------------------------------------ 4429 rule

/// One refused message of kind `i % 3`: `RATE_LIMITED` (queue bucket
/// empty), or `BAD_REQUEST` (unknown type, bad payload).
#[track_caller]
fn refused(c: &mut Client, i: usize, what: &str) {
    let (msg, code) = match i % 3 {
        0 => (json!({"type":"LEAVE_QUEUE","id": i.to_string(),"payload":{}}), "RATE_LIMITED"),
        1 => (json!({"type":"NOPE","id": i.to_string(),"payload":{}}), "BAD_REQUEST"),
        _ => (json!({"type":"CHAT","id": i.to_string(),"payload":{"roomId": 5}}), "BAD_REQUEST"),
    };
    c.send(msg);
    c.expect_error(code, &format!("{what}, refusal {i}"));
}

/// Section 7 rule 8: `BAD_REQUEST` counts toward 4429 as `RATE_LIMITED`
/// does; 50 refused in a row then any other reply (a `PONG`, a
/// `NOT_IN_ROOM`) do not close; the 51st in a row gets its `ERROR` and
/// then close 4429.
#[test]
fn refused_messages_of_both_kinds_count_toward_4429_and_any_other_reply_ends_the_run() {
    let (_srv, mut c) = queue_limited(1);
    assert_eq!(c.request("JOIN_QUEUE", "j", json!({}))["type"], "QUEUE_WAITING");

    for i in 0..50 {
        refused(&mut c, i, "first run");
    }
    c.send(json!({"type":"PING","id":"p","payload":{}}));
    assert_eq!(c.next_msg().map(|v| v["type"].clone()), Ok(json!("PONG")), "a PING after 50 refusals");
    for i in 0..50 {
        refused(&mut c, i, "second run");
    }
    c.send(json!({"type":"LEAVE_ROOM","id":"l","payload":{"roomId":"nope"}}));
    c.expect_error("NOT_IN_ROOM", "LEAVE_ROOM outside a room after 50 refusals");
    for i in 0..50 {
        refused(&mut c, i + 1, "third run");
    }
    // The 51st in a row: its ERROR, then 4429 (a PING behind it is not answered).
    c.send(json!({"type":"NOPE","id":"last","payload":{}}));
    c.send(json!({"type":"PING","id":"after","payload":{}}));
    c.expect_error("BAD_REQUEST", "the 51st refusal in a row");
    c.expect_close_next(4429, "after the 51st refusal in a row");
}

/// Section 7 rule 8: `BAD_REQUEST` before `AUTH` counts too (per socket);
/// `UNAUTHENTICATED` is another error code and ends the run.
#[test]
fn bad_requests_before_auth_count_toward_4429() {
    let srv = start();
    let mut c = Client::connect(srv.addr);
    let nope = |i: usize| json!({"type":"NOPE","id": i.to_string(),"payload":{}});
    for i in 0..50 {
        c.send(nope(i));
        c.expect_error("BAD_REQUEST", &format!("first run, refusal {i}"));
    }
    c.send(json!({"type":"PING","id":"p","payload":{}}));
    assert_eq!(c.next_msg().map(|v| v["type"].clone()), Ok(json!("PONG")), "a PING after 50 refusals");
    for i in 0..50 {
        c.send(nope(i));
        c.expect_error("BAD_REQUEST", &format!("second run, refusal {i}"));
    }
    c.send(json!({"type":"JOIN_QUEUE","id":"j","payload":{}}));
    c.expect_error("UNAUTHENTICATED", "JOIN_QUEUE before AUTH");
    for i in 0..50 {
        c.send(nope(i));
        c.expect_error("BAD_REQUEST", &format!("third run, refusal {i}"));
    }
    c.send(nope(50));
    c.send(json!({"type":"PING","id":"after","payload":{}}));
    c.expect_error("BAD_REQUEST", "the 51st refusal in a row before AUTH");
    c.expect_close_next(4429, "after the 51st BAD_REQUEST in a row before AUTH");
}
